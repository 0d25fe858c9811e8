#include "broker/storage/partition_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

using testing::Headers;
using testing::MakeBatch;
using testing::ReadAll;

constexpr Term kTerm{3};

class PartitionLogTest : public ::testing::Test {
 protected:
  PartitionLogTest() {
    opts_.segment_bytes = 8 * 1024;
    opts_.index_interval_bytes = 512;
  }

  std::string dir() const { return tmp_.path() + "/t-0"; }

  void OpenLog() {
    auto log = PartitionLog::Open(fs_, dir(), opts_);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  AppendResult Append(int records, int64_t ts_ms, size_t value_bytes = 100, int64_t now_ms = 0) {
    auto batch = MakeBatch(records, ts_ms, value_bytes);
    auto r = log_->Append(batch, kTerm, now_ms);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(AppendResult{});
  }

  ReadResult Read(int64_t from, uint64_t max_bytes = UINT64_MAX, int64_t upper_bound = INT64_MAX) {
    auto r = log_->Read(Offset(from), max_bytes, Offset(upper_bound));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r.value_or(ReadResult{});
  }

  size_t FilesWithSuffix(const std::string& suffix) const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir())) n += e.path().string().ends_with(suffix);
    return n;
  }

  testing::TempDir tmp_;
  PosixFileSystem fs_;
  LogOptions opts_;
  std::unique_ptr<PartitionLog> log_;
};

TEST_F(PartitionLogTest, AppendAssignsConsecutiveOffsetsAndStampsTheBatch) {
  OpenLog();
  EXPECT_EQ(log_->log_start_offset(), Offset(0));
  EXPECT_EQ(log_->log_end_offset(), Offset(0));
  auto batch = MakeBatch(5, 1000);
  auto r = log_->Append(batch, kTerm, 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->base_offset, Offset(0));
  EXPECT_EQ(r->last_offset, Offset(4));
  auto second = Append(3, 2000);
  EXPECT_EQ(second.base_offset, Offset(5));
  EXPECT_EQ(second.last_offset, Offset(7));
  EXPECT_EQ(log_->log_end_offset(), Offset(8));

  auto headers = Headers(Read(0));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].base_offset, Offset(0));
  EXPECT_EQ(headers[0].leader_term, kTerm);
  EXPECT_EQ(headers[1].base_offset, Offset(5));
  EXPECT_EQ(headers[1].record_count, 3);
}

TEST_F(PartitionLogTest, RollsBySizeAndReadsAcrossSegments) {
  OpenLog();
  for (int i = 0; i < 40; ++i) Append(2, 1000 + i);  // ~40 * 300 bytes over 8 KiB segments
  EXPECT_GE(log_->segment_count(), 2u);
  EXPECT_EQ(FilesWithSuffix(".log"), log_->segment_count());
  auto result = Read(0);
  EXPECT_GE(result.ranges.size(), 2u);
  auto headers = Headers(result);
  ASSERT_EQ(headers.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(headers[i].base_offset, Offset(2 * i));
  EXPECT_EQ(result.next_offset, Offset(80));
  // No segment exceeds segment_bytes.
  for (const auto& e : std::filesystem::directory_iterator(dir())) {
    if (e.path().extension() == ".log") {
      EXPECT_LE(e.file_size(), opts_.segment_bytes);
    }
  }
}

TEST_F(PartitionLogTest, RollsByAgeOfTheSegmentsFirstAppend) {
  opts_.segment_ms = std::chrono::milliseconds(1000);
  OpenLog();
  Append(1, 0, 100, /*now_ms=*/10'000);
  Append(1, 0, 100, /*now_ms=*/10'999);
  EXPECT_EQ(log_->segment_count(), 1u);
  Append(1, 0, 100, /*now_ms=*/11'000);
  EXPECT_EQ(log_->segment_count(), 2u);
  Append(1, 0, 100, /*now_ms=*/11'500);
  EXPECT_EQ(log_->segment_count(), 2u);
  EXPECT_EQ(Headers(Read(0)).size(), 4u);
}

TEST_F(PartitionLogTest, ActiveSegmentIsPreallocatedAndClosedSegmentsAreTrimmed) {
  OpenLog();
  Append(1, 0);
  EXPECT_EQ(std::filesystem::file_size(dir() + "/00000000000000000000.log"), opts_.segment_bytes);
  while (log_->segment_count() < 2) Append(1, 0);
  EXPECT_LT(std::filesystem::file_size(dir() + "/00000000000000000000.log"), opts_.segment_bytes);
  EXPECT_EQ(FilesWithSuffix(".index"), 1u);
  EXPECT_EQ(FilesWithSuffix(".timeindex"), 1u);
}

TEST_F(PartitionLogTest, ReadNeverIncludesABatchAtOrAboveTheUpperBound) {
  OpenLog();
  for (int i = 0; i < 10; ++i) Append(2, i);  // batches [0,1] [2,3] ... [18,19]
  auto result = Read(0, UINT64_MAX, /*upper_bound=*/6);
  auto headers = Headers(result);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers.back().last_offset(), Offset(5));
  EXPECT_EQ(result.next_offset, Offset(6));
  // A bound inside a batch excludes that whole batch.
  EXPECT_EQ(Headers(Read(0, UINT64_MAX, 7)).size(), 3u);
  // Reading at the bound yields nothing.
  auto empty = Read(6, UINT64_MAX, 6);
  EXPECT_TRUE(empty.ranges.empty());
  EXPECT_EQ(empty.next_offset, Offset(6));
}

TEST_F(PartitionLogTest, ReadHonoursMaxBytesInWholeBatches) {
  OpenLog();
  for (int i = 0; i < 30; ++i) Append(1, i, 200);
  const uint64_t batch_bytes = Read(0, 1).total_bytes;
  auto result = Read(0, 3 * batch_bytes + batch_bytes / 2);
  EXPECT_EQ(result.total_bytes, 3 * batch_bytes);
  EXPECT_EQ(Headers(result).size(), 3u);
  EXPECT_EQ(result.next_offset, Offset(3));
  // A consumer pages through everything with small reads.
  int64_t at = 0;
  int batches = 0;
  while (at < 30) {
    auto page = Read(at, 2 * batch_bytes);
    auto headers = Headers(page);
    ASSERT_FALSE(headers.empty());
    EXPECT_EQ(headers.front().base_offset, Offset(at));
    batches += static_cast<int>(headers.size());
    at = page.next_offset.value();
  }
  EXPECT_EQ(batches, 30);
}

TEST_F(PartitionLogTest, FirstBatchLargerThanMaxBytesIsStillReturned) {
  OpenLog();
  Append(4, 0, 1000);
  Append(1, 0, 10);
  auto result = Read(0, 10);
  auto headers = Headers(result);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_GT(result.total_bytes, 10u);
  EXPECT_EQ(result.next_offset, Offset(4));
}

TEST_F(PartitionLogTest, ReadFromInsideABatchStartsWithThatBatch) {
  OpenLog();
  Append(5, 0);
  Append(5, 0);
  auto headers = Headers(Read(7));
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].base_offset, Offset(5));
}

TEST_F(PartitionLogTest, ReadAtLogEndIsEmptyAndOutsideTheLogIsOutOfRange) {
  OpenLog();
  Append(2, 0);
  auto at_end = Read(2);
  EXPECT_TRUE(at_end.ranges.empty());
  EXPECT_EQ(at_end.next_offset, Offset(2));
  auto past = log_->Read(Offset(3), 1000, Offset(100));
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code(), Errc::kOffsetOutOfRange);
  auto before = log_->Read(Offset(-1), 1000, Offset(100));
  ASSERT_FALSE(before.has_value());
  EXPECT_EQ(before.error().code(), Errc::kOffsetOutOfRange);
}

TEST_F(PartitionLogTest, EveryOffsetIsFoundThroughTheSparseIndex) {
  opts_.segment_bytes = 64 * 1024;
  opts_.index_interval_bytes = 1024;
  OpenLog();
  for (int i = 0; i < 300; ++i) Append(1 + i % 3, i, 50 + (i * 37) % 400);
  const int64_t end = log_->log_end_offset().value();
  for (int64_t o = 0; o < end; ++o) {
    auto headers = Headers(Read(o, 1));
    ASSERT_EQ(headers.size(), 1u) << o;
    EXPECT_LE(headers[0].base_offset, Offset(o));
    EXPECT_GT(headers[0].next_offset(), Offset(o));
  }
}

TEST_F(PartitionLogTest, OffsetForTimestampFindsTheFirstBatchAtOrAfterIt) {
  OpenLog();
  // Batch i (3 records) covers timestamps 1000+10i .. 1000+10i+2.
  for (int i = 0; i < 100; ++i) Append(3, 1000 + 10 * i);
  auto at = [&](int64_t ts) {
    auto r = log_->OffsetForTimestamp(ts);
    EXPECT_TRUE(r.has_value());
    return r.value_or(std::nullopt);
  };
  EXPECT_EQ(at(0), Offset(0));                  // before everything: the first batch
  EXPECT_EQ(at(1002), Offset(0));               // the first batch's max
  EXPECT_EQ(at(1003), Offset(3));               // just after it: the next batch
  EXPECT_EQ(at(1500), Offset(150));             // exact first timestamp of batch 50
  EXPECT_EQ(at(1505), Offset(153));             // between batches 50 and 51
  EXPECT_EQ(at(1000 + 990 + 2), Offset(297));   // the last batch's max
  EXPECT_EQ(at(1000 + 990 + 3), std::nullopt);  // after everything
  EXPECT_GE(log_->segment_count(), 2u);         // the answers crossed segments
}

TEST_F(PartitionLogTest, OffsetForTimestampHandlesTimestampsThatGoBackwards) {
  OpenLog();
  Append(1, 5000);
  Append(1, 1000);  // a producer with a slower clock
  Append(1, 6000);
  EXPECT_EQ(*log_->OffsetForTimestamp(2000), Offset(0));
  EXPECT_EQ(*log_->OffsetForTimestamp(5500), Offset(2));
}

TEST_F(PartitionLogTest, ScanHeadersVisitsEveryBatchFromTheOneContainingFrom) {
  OpenLog();
  for (int i = 0; i < 50; ++i) Append(2, i);
  std::vector<Offset> seen;
  ASSERT_TRUE(log_->ScanHeaders(Offset(41), [&](const wire::BatchHeader& h) { seen.push_back(h.base_offset); }));
  ASSERT_EQ(seen.size(), 30u);
  EXPECT_EQ(seen.front(), Offset(40));
  EXPECT_EQ(seen.back(), Offset(98));
}

TEST_F(PartitionLogTest, RetentionBySizeDeletesOldestClosedSegmentsButNeverTheActiveOne) {
  opts_.retention_bytes = 20 * 1024;
  OpenLog();
  for (int i = 0; i < 200; ++i) Append(1, i, 300);
  const size_t before = log_->segment_count();
  auto removed = log_->ApplyRetention(0);
  ASSERT_TRUE(removed.has_value());
  EXPECT_GT(*removed, 0);
  EXPECT_EQ(log_->segment_count(), before - static_cast<size_t>(*removed));
  EXPECT_LE(log_->size_bytes(), 20u * 1024);
  EXPECT_GT(log_->log_start_offset(), Offset(0));
  EXPECT_EQ(FilesWithSuffix(".log"), log_->segment_count());
  // What is left reads from the new start; the old start is out of range.
  EXPECT_EQ(Headers(Read(log_->log_start_offset().value())).back().last_offset(), Offset(199));
  EXPECT_FALSE(log_->Read(Offset(0), 100, Offset(1000)).has_value());

  opts_.retention_bytes = 0;  // even "keep nothing" keeps the active segment
  log_.reset();
  OpenLog();
  ASSERT_TRUE(log_->ApplyRetention(0).has_value());
  EXPECT_EQ(log_->segment_count(), 1u);
  EXPECT_EQ(log_->log_end_offset(), Offset(200));
}

TEST_F(PartitionLogTest, RetentionByAgeJudgesEachSegmentByItsNewestBatch) {
  opts_.retention_ms = std::chrono::milliseconds(1000);
  OpenLog();
  for (int i = 0; i < 100; ++i) Append(1, 10'000 + 100 * i, 300);  // timestamps 10000..19900
  ASSERT_GE(log_->segment_count(), 3u);
  EXPECT_EQ(*log_->ApplyRetention(/*now_ms=*/10'500), 0);
  const int removed = *log_->ApplyRetention(/*now_ms=*/16'000);
  EXPECT_GT(removed, 0);
  // Every remaining segment holds a batch newer than now - retention.
  auto first = Headers(Read(log_->log_start_offset().value()));
  int64_t newest_in_first = 0;
  for (const auto& h : first) {
    if (h.base_offset.value() < 100) newest_in_first = std::max(newest_in_first, h.max_timestamp_ms);
  }
  EXPECT_GE(newest_in_first, 15'000);
  EXPECT_EQ(*log_->ApplyRetention(/*now_ms=*/1'000'000), static_cast<int>(log_->segment_count()) - 1);
  EXPECT_EQ(log_->segment_count(), 1u);
}

TEST_F(PartitionLogTest, FileRangesStayReadableAfterRetentionDeletesTheSegment) {
  opts_.retention_bytes = 0;
  OpenLog();
  for (int i = 0; i < 60; ++i) Append(1, i, 300);
  auto result = Read(0, 1000);
  ASSERT_GT(*log_->ApplyRetention(0), 0);
  EXPECT_FALSE(std::filesystem::exists(dir() + "/00000000000000000000.log"));
  auto headers = Headers(result);
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(headers[0].base_offset, Offset(0));
}

TEST_F(PartitionLogTest, TruncateSuffixRemovesTheTailAcrossSegments) {
  OpenLog();
  for (int i = 0; i < 100; ++i) Append(2, i, 200);
  ASSERT_GE(log_->segment_count(), 3u);
  ASSERT_TRUE(log_->TruncateSuffix(Offset(40)));
  EXPECT_EQ(log_->log_end_offset(), Offset(40));
  EXPECT_EQ(log_->durable_offset(), Offset(40));
  EXPECT_EQ(FilesWithSuffix(".log"), log_->segment_count());
  EXPECT_EQ(Headers(Read(0)).back().last_offset(), Offset(39));
  EXPECT_EQ(Append(1, 0).base_offset, Offset(40));  // a new leader's entry
  auto inside = log_->TruncateSuffix(Offset(39));
  ASSERT_FALSE(inside.has_value());
  EXPECT_EQ(inside.error().code(), Errc::kInvalidArgument);
  // The truncated log survives a restart, clean or not.
  log_.reset();
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(41));
  EXPECT_EQ(Headers(Read(0)).size(), 21u);
}

TEST_F(PartitionLogTest, TruncateSuffixToTheStartEmptiesTheLog) {
  OpenLog();
  for (int i = 0; i < 5; ++i) Append(1, i);
  ASSERT_TRUE(log_->TruncateSuffix(Offset(0)));
  EXPECT_EQ(log_->log_end_offset(), Offset(0));
  EXPECT_TRUE(Read(0).ranges.empty());
  EXPECT_EQ(Append(1, 0).base_offset, Offset(0));
}

TEST_F(PartitionLogTest, SyncMakesEverythingAppendedDurable) {
  OpenLog();
  Append(3, 0);
  EXPECT_EQ(log_->durable_offset(), Offset(0));
  auto synced = log_->Sync();
  ASSERT_TRUE(synced.has_value());
  EXPECT_EQ(*synced, Offset(3));
  EXPECT_EQ(log_->durable_offset(), Offset(3));
}

TEST_F(PartitionLogTest, CleanCloseAndReopenKeepsEverything) {
  OpenLog();
  for (int i = 0; i < 60; ++i) Append(2, 1000 + i, 150);
  const Offset end = log_->log_end_offset();
  const size_t segments = log_->segment_count();
  ASSERT_TRUE(log_->Close());
  EXPECT_TRUE(std::filesystem::exists(dir() + "/clean_shutdown"));
  auto late = MakeBatch(1, 0);
  auto after_close = log_->Append(late, kTerm, 0);
  EXPECT_FALSE(after_close.has_value());
  log_.reset();
  OpenLog();
  EXPECT_FALSE(std::filesystem::exists(dir() + "/clean_shutdown"));  // a later crash must be noticed
  EXPECT_EQ(log_->log_end_offset(), end);
  EXPECT_EQ(log_->durable_offset(), end);
  EXPECT_EQ(log_->segment_count(), segments);
  EXPECT_EQ(Headers(Read(0)).size(), 60u);
  EXPECT_EQ(*log_->OffsetForTimestamp(1030), Offset(58));  // batch 29 spans ts 1029..1030
  EXPECT_EQ(Append(1, 0).base_offset, end);
}

TEST_F(PartitionLogTest, RejectsBadOptions) {
  opts_.segment_bytes = 10;
  auto log = PartitionLog::Open(fs_, dir(), opts_);
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace telemq::storage
