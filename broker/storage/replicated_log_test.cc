// PartitionLog as a Raft log: appends that keep the leader's offsets and
// terms, the term index and its file, resets, and retention bounded by what
// is committed (docs/log-format.md §5a, docs/replication.md).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/partition_log.h"
#include "broker/storage/storage_format.h"
#include "broker/storage/term_index.h"
#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

using testing::Headers;
using testing::MakeBatch;

class ReplicatedLogTest : public ::testing::Test {
 protected:
  ReplicatedLogTest() : fault_fs_(posix_) {
    opts_.segment_bytes = 2048;
    opts_.index_interval_bytes = 256;
  }
  std::string dir() const { return tmp_.path() + "/t-0"; }
  std::string term_file() const { return dir() + "/" + std::string(format::kTermFileName); }

  void OpenLog() {
    log_.reset();
    auto log = PartitionLog::Open(fault_fs_, dir(), opts_);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }
  // A batch of `records` records stamped as a leader of `term` would at `base`.
  static std::vector<std::byte> Stamped(int64_t term, int64_t base, int records = 1) {
    auto batch = MakeBatch(records, 1000 + base, 100);
    wire::StampBaseOffset(batch, Offset(base));
    wire::StampLeaderTerm(batch, Term(term));
    return batch;
  }
  void Replicate(int64_t term, int64_t base, int records = 1) {
    auto r = log_->AppendReplicated(Stamped(term, base, records), 0);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  // `n` one-record batches of `term` from the log end.
  void ReplicateRun(int64_t term, int n) {
    for (int i = 0; i < n; ++i) Replicate(term, log_->log_end_offset().value());
  }
  Term TermAt(int64_t offset) {
    auto t = log_->TermAt(Offset(offset));
    EXPECT_TRUE(t.has_value()) << t.error().ToString();
    return t.value_or(Term(-1));
  }
  BatchBounds BatchAt(int64_t offset) {
    auto b = log_->BatchAt(Offset(offset));
    EXPECT_TRUE(b.has_value()) << b.error().ToString();
    return b.value_or(BatchBounds{});
  }

  testing::TempDir tmp_;
  PosixFileSystem posix_;
  FaultInjectionFileSystem fault_fs_;
  LogOptions opts_;
  std::unique_ptr<PartitionLog> log_;
};

TEST_F(ReplicatedLogTest, AppendReplicatedKeepsTheLeadersOffsetAndTerm) {
  OpenLog();
  Replicate(3, 0, 4);
  Replicate(5, 4, 2);
  EXPECT_EQ(log_->log_end_offset(), Offset(6));
  auto headers = Headers(*log_->Read(Offset(0), UINT64_MAX, Offset(INT64_MAX)));
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].leader_term, Term(3));
  EXPECT_EQ(headers[1].base_offset, Offset(4));
  EXPECT_EQ(headers[1].leader_term, Term(5));
}

TEST_F(ReplicatedLogTest, AppendReplicatedRefusesABatchNotAtTheLogEnd) {
  OpenLog();
  Replicate(1, 0, 2);
  for (int64_t base : {0, 1, 3}) {
    auto r = log_->AppendReplicated(Stamped(1, base), 0);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument) << base;
  }
  auto batch = Stamped(1, 2);
  batch.push_back(std::byte{0});  // one byte more than its batch_length
  EXPECT_EQ(log_->AppendReplicated(batch, 0).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(log_->log_end_offset(), Offset(2));
}

TEST_F(ReplicatedLogTest, TermsNeverGoDown) {
  OpenLog();
  Replicate(4, 0);
  EXPECT_EQ(log_->AppendReplicated(Stamped(3, 1), 0).error().code(), Errc::kInvalidArgument);
  auto batch = MakeBatch(1, 0);
  EXPECT_EQ(log_->Append(batch, Term(2), 0).error().code(), Errc::kInvalidArgument);
  EXPECT_TRUE(log_->Append(batch, Term(4), 0).has_value());
}

TEST_F(ReplicatedLogTest, TermIndexAnswersFromMemoryAndSurvivesReopen) {
  OpenLog();
  ReplicateRun(1, 10);
  ReplicateRun(2, 10);
  ReplicateRun(5, 10);
  ASSERT_GE(log_->segment_count(), 3u);
  EXPECT_EQ(TermAt(-1), Term(0));
  EXPECT_EQ(TermAt(9), Term(1));
  EXPECT_EQ(TermAt(10), Term(2));
  EXPECT_EQ(TermAt(29), Term(5));
  EXPECT_EQ(log_->TermAt(Offset(30)).error().code(), Errc::kOffsetOutOfRange);
  EXPECT_EQ(log_->last_term(), Term(5));
  for (bool clean : {true, false}) {
    if (clean) {
      ASSERT_TRUE(log_->Close().has_value());
    } else {
      ASSERT_TRUE(log_->Sync().has_value());
    }
    OpenLog();
    EXPECT_EQ(TermAt(9), Term(1));
    EXPECT_EQ(TermAt(10), Term(2));
    EXPECT_EQ(TermAt(20), Term(5));
    EXPECT_EQ(log_->last_term(), Term(5));
  }
}

TEST_F(ReplicatedLogTest, BatchAtFindsRecentAndOldBatches) {
  OpenLog();
  // More batches than the in-memory window, over many segments.
  const int n = static_cast<int>(PartitionLog::kRecentBatches) + 200;
  for (int i = 0; i < n; ++i) Replicate(1 + i / 500, 2 * i, 2);
  for (int i : {0, 1, 199, 250, n - 1}) {
    const BatchBounds b = BatchAt(2 * i + 1);  // the batch's second offset
    EXPECT_EQ(b.base_offset, Offset(2 * i));
    EXPECT_EQ(b.last_offset, Offset(2 * i + 1));
    EXPECT_EQ(b.term, Term(1 + i / 500));
  }
  EXPECT_EQ(BatchAt(-1), (BatchBounds{Offset(-1), Offset(-1), Term(0)}));
  EXPECT_EQ(log_->BatchAt(Offset(2 * n)).error().code(), Errc::kOffsetOutOfRange);
  OpenLog();  // after recovery only the last batch is in memory
  EXPECT_EQ(BatchAt(2 * n - 1).base_offset, Offset(2 * n - 2));
  EXPECT_EQ(BatchAt(2 * n - 3).base_offset, Offset(2 * n - 4));
  EXPECT_EQ(BatchAt(3).term, Term(1));
}

TEST_F(ReplicatedLogTest, TruncateSuffixForgetsLaterTermsDurably) {
  OpenLog();
  ReplicateRun(1, 5);
  ReplicateRun(2, 5);
  ReplicateRun(3, 5);
  ASSERT_TRUE(log_->TruncateSuffix(Offset(7)).has_value());
  EXPECT_EQ(log_->last_term(), Term(2));
  EXPECT_EQ(BatchAt(6).term, Term(2));
  EXPECT_EQ(log_->BatchAt(Offset(7)).error().code(), Errc::kOffsetOutOfRange);
  ReplicateRun(2, 1);  // the same term may continue
  ReplicateRun(4, 1);
  ASSERT_TRUE(log_->Sync().has_value());
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(9));
  EXPECT_EQ(TermAt(7), Term(2));
  EXPECT_EQ(TermAt(8), Term(4));
}

TEST_F(ReplicatedLogTest, ResetToStartsEmptyAtTheOffsetAndRemembersThePreviousTerm) {
  OpenLog();
  ReplicateRun(1, 30);
  ASSERT_TRUE(log_->ResetTo(Offset(1000), Term(9)).has_value());
  EXPECT_EQ(log_->log_start_offset(), Offset(1000));
  EXPECT_EQ(log_->log_end_offset(), Offset(1000));
  EXPECT_EQ(log_->durable_offset(), Offset(1000));
  EXPECT_EQ(log_->segment_count(), 1u);
  EXPECT_EQ(log_->term_before_start(), Term(9));
  EXPECT_EQ(log_->last_term(), Term(9));
  EXPECT_EQ(log_->Read(Offset(0), 100, Offset(INT64_MAX)).error().code(), Errc::kOffsetOutOfRange);
  Replicate(10, 1000);
  ASSERT_TRUE(log_->Sync().has_value());
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_start_offset(), Offset(1000));
  EXPECT_EQ(log_->term_before_start(), Term(9));
  EXPECT_EQ(TermAt(1000), Term(10));
  EXPECT_FALSE(std::filesystem::exists(dir() + "/00000000000000000000.log"));
}

TEST_F(ReplicatedLogTest, ResetToAnOffsetInsideTheOldLogDropsItAll) {
  OpenLog();
  ReplicateRun(1, 30);
  ASSERT_TRUE(log_->ResetTo(Offset(10), Term(1)).has_value());
  EXPECT_EQ(log_->log_end_offset(), Offset(10));
  Replicate(2, 10);
  ASSERT_TRUE(log_->Close().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_start_offset(), Offset(10));
  EXPECT_EQ(log_->log_end_offset(), Offset(11));
  EXPECT_EQ(TermAt(9), Term(1));
}

TEST_F(ReplicatedLogTest, ResetToZeroReplacesTheFirstSegment) {
  OpenLog();
  ReplicateRun(3, 30);
  ASSERT_TRUE(log_->ResetTo(Offset(0), Term(0)).has_value());
  EXPECT_EQ(log_->log_end_offset(), Offset(0));
  Replicate(4, 0);
  ASSERT_TRUE(log_->Sync().has_value());
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(1));
  EXPECT_EQ(TermAt(0), Term(4));
  EXPECT_EQ(TermAt(-1), Term(0));
}

TEST_F(ReplicatedLogTest, RetentionStopsAtTheBoundAndKeepsThePreviousTerm) {
  opts_.retention_bytes = 0;
  OpenLog();
  ReplicateRun(1, 20);
  ReplicateRun(2, 40);
  ASSERT_GE(log_->segment_count(), 5u);
  auto removed = log_->ApplyRetention(0, Offset(25));
  ASSERT_TRUE(removed.has_value());
  ASSERT_GT(*removed, 0);
  const Offset start = log_->log_start_offset();
  EXPECT_GT(start, Offset(0));
  EXPECT_LE(start, Offset(25));  // the segment holding 25 stays
  const Term before = start <= Offset(20) ? Term(1) : Term(2);
  EXPECT_EQ(log_->term_before_start(), before);
  EXPECT_EQ(*log_->ApplyRetention(0, start), 0);
  ASSERT_TRUE(log_->Close().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_start_offset(), start);
  EXPECT_EQ(log_->term_before_start(), before);
  // Without a bound (single broker) everything but the active segment goes.
  ASSERT_TRUE(log_->ApplyRetention(0).has_value());
  EXPECT_EQ(log_->segment_count(), 1u);
  EXPECT_EQ(log_->term_before_start(), Term(2));
}

TEST_F(ReplicatedLogTest, MissingTermFileIsRebuiltFromTheBatches) {
  OpenLog();
  ReplicateRun(1, 5);
  ReplicateRun(3, 5);
  ASSERT_TRUE(log_->Close().has_value());
  log_.reset();
  std::filesystem::remove(term_file());
  OpenLog();
  EXPECT_EQ(TermAt(-1), Term(0));
  EXPECT_EQ(TermAt(4), Term(1));
  EXPECT_EQ(TermAt(5), Term(3));
  EXPECT_TRUE(std::filesystem::exists(term_file()));
}

TEST_F(ReplicatedLogTest, DamagedTermFileRefusesToOpen) {
  OpenLog();
  ReplicateRun(1, 5);
  ASSERT_TRUE(log_->Close().has_value());
  log_.reset();
  {
    std::fstream f(term_file(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(format::kTermHeaderSize + 1));
    f.put('\x7f');
  }
  auto log = PartitionLog::Open(fault_fs_, dir(), opts_);
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code(), Errc::kCorrupt);
  EXPECT_NE(log.error().message().find("term_index"), std::string::npos);
}

TEST_F(ReplicatedLogTest, TermFileThatDisagreesWithTheBatchesIsRebuilt) {
  OpenLog();
  ReplicateRun(2, 5);
  ASSERT_TRUE(log_->Close().has_value());
  log_.reset();
  const auto bytes = detail::EncodeTermFile(detail::TermFile{false, Offset(0), {{Term(0), Offset(-1)}}});
  std::ofstream(term_file(), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  OpenLog();
  EXPECT_EQ(TermAt(0), Term(2));
  EXPECT_EQ(TermAt(-1), Term(0));
}

TEST_F(ReplicatedLogTest, CrashBeforeANewTermsBatchIsSyncedDropsTheTerm) {
  OpenLog();
  ReplicateRun(1, 5);
  ASSERT_TRUE(log_->Sync().has_value());
  ReplicateRun(2, 3);  // the term file knows term 2; its batches are not synced
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(5));
  EXPECT_EQ(log_->last_term(), Term(1));
  ReplicateRun(2, 1);
  EXPECT_EQ(TermAt(5), Term(2));
  ASSERT_TRUE(log_->Close().has_value());
  OpenLog();
  EXPECT_EQ(TermAt(5), Term(2));
  EXPECT_EQ(TermAt(4), Term(1));
}

}  // namespace
}  // namespace telemq::storage
