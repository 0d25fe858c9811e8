// Crash, corruption and disk-failure behaviour of PartitionLog (DESIGN §2.1:
// "truncate at the first bad byte ... a torn write must never be served").

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/partition_log.h"
#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

using testing::Headers;
using testing::MakeBatch;

constexpr Term kTerm{1};
const std::string kFirstLog = "/00000000000000000000.log";

class RecoveryTest : public ::testing::Test {
 protected:
  RecoveryTest() : fault_fs_(posix_) {
    opts_.segment_bytes = 16 * 1024;
    opts_.index_interval_bytes = 512;
  }

  std::string dir() const { return tmp_.path() + "/p-0"; }

  void OpenLog() {
    auto log = PartitionLog::Open(fault_fs_, dir(), opts_);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  // Appends `n` one-record batches; returns the byte position where each
  // batch started in the first segment.
  std::vector<uint64_t> AppendBatches(int n, size_t value_bytes = 200) {
    std::vector<uint64_t> positions;
    for (int i = 0; i < n; ++i) {
      positions.push_back(log_->size_bytes());
      auto batch = MakeBatch(1, 1000 + i, value_bytes);
      auto r = log_->Append(batch, kTerm, 0);
      EXPECT_TRUE(r.has_value()) << r.error().ToString();
    }
    return positions;
  }

  Result<AppendResult> TryAppend(size_t value_bytes = 200) {
    auto batch = MakeBatch(1, 5000, value_bytes);
    return log_->Append(batch, kTerm, 0);
  }

  // Everything readable, checksum-verified.
  std::vector<wire::BatchHeader> ReadEverything() {
    auto r = log_->Read(log_->log_start_offset(), UINT64_MAX, Offset(INT64_MAX));
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? Headers(*r) : std::vector<wire::BatchHeader>{};
  }

  // Drops the log as a crashed process would: no sync, no marker.
  void CrashProcess() { log_.reset(); }

  void Patch(const std::string& path, uint64_t position, const std::vector<char>& bytes) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(position));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  testing::TempDir tmp_;
  PosixFileSystem posix_;
  FaultInjectionFileSystem fault_fs_;
  LogOptions opts_;
  std::unique_ptr<PartitionLog> log_;
};

TEST_F(RecoveryTest, TornTailIsTruncatedOnRecovery) {
  OpenLog();
  auto positions = AppendBatches(10);
  const uint64_t end = log_->size_bytes();
  CrashProcess();
  // The last batch reached the disk only half way.
  std::filesystem::resize_file(dir() + kFirstLog, positions[9] + (end - positions[9]) / 2);
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(9));
  EXPECT_EQ(ReadEverything().size(), 9u);
  EXPECT_EQ(std::filesystem::file_size(dir() + kFirstLog), positions[9]);
  ASSERT_TRUE(TryAppend().has_value());
  EXPECT_EQ(ReadEverything().back().base_offset, Offset(9));
}

TEST_F(RecoveryTest, GarbageAfterTheLastBatchIsDropped) {
  opts_.preallocate = false;
  OpenLog();
  AppendBatches(5);
  const uint64_t end = log_->size_bytes();
  CrashProcess();
  std::ofstream(dir() + kFirstLog, std::ios::app | std::ios::binary) << std::string(300, '\x5a');
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(5));
  EXPECT_EQ(log_->size_bytes(), end);
  EXPECT_EQ(ReadEverything().size(), 5u);
}

TEST_F(RecoveryTest, OneFlippedBitInTheLastBatchDropsThatBatch) {
  OpenLog();
  auto positions = AppendBatches(6);
  CrashProcess();
  std::vector<char> byte(1);
  {
    std::ifstream in(dir() + kFirstLog, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(positions[5] + 100));
    in.read(byte.data(), 1);
  }
  byte[0] ^= 0x04;
  Patch(dir() + kFirstLog, positions[5] + 100, byte);
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(5));
  EXPECT_EQ(ReadEverything().size(), 5u);
}

TEST_F(RecoveryTest, ZeroedPreallocatedTailIsNotData) {
  OpenLog();
  AppendBatches(4);
  const uint64_t end = log_->size_bytes();
  CrashProcess();
  ASSERT_EQ(std::filesystem::file_size(dir() + kFirstLog), opts_.segment_bytes);  // zeros after `end`
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(4));
  EXPECT_EQ(log_->size_bytes(), end);
  EXPECT_EQ(ReadEverything().size(), 4u);
  ASSERT_TRUE(TryAppend().has_value());  // and appends go right after the data
  EXPECT_EQ(log_->log_end_offset(), Offset(5));
}

TEST_F(RecoveryTest, CorruptionInsideAClosedSegmentDropsEverythingAfterIt) {
  OpenLog();
  AppendBatches(200);
  ASSERT_GE(log_->segment_count(), 3u);
  CrashProcess();
  // Garbage at the end of the first (closed) segment: its last index entry
  // still checks out, the bytes after it do not.
  const uint64_t size = std::filesystem::file_size(dir() + kFirstLog);
  Patch(dir() + kFirstLog, size - 10, std::vector<char>(10, '\x7f'));
  OpenLog();
  EXPECT_EQ(log_->segment_count(), 1u);
  const auto headers = ReadEverything();
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(log_->log_end_offset(), headers.back().next_offset());
  EXPECT_LT(log_->log_end_offset(), Offset(200));
  ASSERT_TRUE(TryAppend().has_value());
}

TEST_F(RecoveryTest, MissingIndexFilesAreRebuilt) {
  OpenLog();
  AppendBatches(200);
  ASSERT_TRUE(log_->Close());
  std::filesystem::remove(dir() + "/00000000000000000000.index");
  std::filesystem::remove(dir() + "/00000000000000000000.timeindex");
  OpenLog();
  EXPECT_TRUE(std::filesystem::exists(dir() + "/00000000000000000000.index"));
  EXPECT_GT(std::filesystem::file_size(dir() + "/00000000000000000000.timeindex"), 0u);
  EXPECT_EQ(ReadEverything().size(), 200u);
  EXPECT_EQ(*log_->OffsetForTimestamp(1010), Offset(10));
  auto r = log_->Read(Offset(30), 1, Offset(INT64_MAX));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Headers(*r).at(0).base_offset, Offset(30));
}

TEST_F(RecoveryTest, CorruptIndexFilesAreRebuilt) {
  OpenLog();
  AppendBatches(200);
  ASSERT_TRUE(log_->Close());
  const std::string index = dir() + "/00000000000000000000.index";
  const std::string time_index = dir() + "/00000000000000000000.timeindex";
  // Non-monotonic entries and a position past the end of the segment.
  Patch(index, 0, std::vector<char>{'\x50', 0, 0, 0, '\xff', '\xff', 0, 0});
  std::filesystem::resize_file(time_index, std::filesystem::file_size(time_index) - 5);  // not whole entries
  OpenLog();
  EXPECT_EQ(ReadEverything().size(), 200u);
  for (int64_t o : {0, 1, 17, 33, 40}) {
    auto r = log_->Read(Offset(o), 1, Offset(INT64_MAX));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(Headers(*r).at(0).base_offset, Offset(o));
  }
  EXPECT_EQ(*log_->OffsetForTimestamp(1033), Offset(33));
  EXPECT_EQ(std::filesystem::file_size(time_index) % 12, 0u);
}

TEST_F(RecoveryTest, CorruptCleanShutdownMarkerFallsBackToScanning) {
  OpenLog();
  AppendBatches(20);
  ASSERT_TRUE(log_->Close());
  Patch(dir() + "/clean_shutdown", 20, std::vector<char>{'\x01'});
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(20));
  EXPECT_EQ(ReadEverything().size(), 20u);
}

TEST_F(RecoveryTest, CrashDropsUnsyncedDataAndRecoveryYieldsExactlyTheSyncedPrefix) {
  OpenLog();
  AppendBatches(7);
  auto synced = log_->Sync();
  ASSERT_TRUE(synced.has_value());
  ASSERT_EQ(*synced, Offset(7));
  AppendBatches(5);  // never synced
  CrashProcess();
  ASSERT_TRUE(fault_fs_.Crash());
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(7));
  const auto headers = ReadEverything();
  ASSERT_EQ(headers.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(headers[i].base_offset, Offset(i));
}

TEST_F(RecoveryTest, CrashAfterRollsKeepsEverySealedSegment) {
  OpenLog();
  AppendBatches(150);  // several rolls: each one syncs the segment it closes
  ASSERT_GE(log_->segment_count(), 3u);
  const size_t segments = log_->segment_count();
  CrashProcess();
  ASSERT_TRUE(fault_fs_.Crash());
  OpenLog();
  EXPECT_EQ(log_->segment_count(), segments);
  const auto headers = ReadEverything();
  ASSERT_FALSE(headers.empty());
  EXPECT_EQ(log_->log_end_offset(), headers.back().next_offset());
  EXPECT_LE(log_->log_end_offset(), Offset(150));
  EXPECT_GT(log_->log_end_offset(), Offset(100));
}

TEST_F(RecoveryTest, NoSpaceOnWriteLeavesTheLogUnchangedAndAppendsResumeLater) {
  OpenLog();
  AppendBatches(5);
  const uint64_t size = log_->size_bytes();
  fault_fs_.FailNth(FaultOp::kWrite, 1, ENOSPC);
  auto r = TryAppend();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(log_->log_end_offset(), Offset(5));
  EXPECT_EQ(log_->size_bytes(), size);
  EXPECT_EQ(ReadEverything().size(), 5u);
  auto again = TryAppend();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->base_offset, Offset(5));
}

TEST_F(RecoveryTest, DiskFullInTheMiddleOfABatchLeavesNoPartialBatch) {
  opts_.preallocate = false;
  OpenLog();
  AppendBatches(3);
  fault_fs_.SetSpaceBudget(100);  // the next batch fits only in part
  auto r = TryAppend(1000);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(std::filesystem::file_size(dir() + kFirstLog), log_->size_bytes());  // cut back
  EXPECT_EQ(ReadEverything().size(), 3u);
  fault_fs_.ClearFaults();
  ASSERT_TRUE(TryAppend(1000).has_value());
  ASSERT_TRUE(log_->Close());
  OpenLog();
  EXPECT_EQ(log_->log_end_offset(), Offset(4));
  EXPECT_EQ(ReadEverything().size(), 4u);
}

TEST_F(RecoveryTest, NoSpaceForANewSegmentKeepsTheActiveOne) {
  OpenLog();
  while (log_->segment_count() == 1) AppendBatches(1);
  const Offset end = log_->log_end_offset();
  const size_t segments = log_->segment_count();
  fault_fs_.SetSpaceBudget(0);  // the next roll's fallocate fails
  Result<AppendResult> r;
  do {
    r = TryAppend();
  } while (r.has_value() && log_->segment_count() == segments);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(log_->segment_count(), segments);
  const Offset before_failure = log_->log_end_offset();
  EXPECT_GE(before_failure, end);
  EXPECT_EQ(ReadEverything().size(), static_cast<size_t>(before_failure.value()));
  fault_fs_.ClearFaults();
  auto later = TryAppend();
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->base_offset, before_failure);
}

TEST_F(RecoveryTest, NoSpaceOnFallocateGivesNoSpace) {
  OpenLog();
  AppendBatches(1);
  fault_fs_.FailNth(FaultOp::kAllocate, 1, ENOSPC);
  // A batch bigger than the preallocated segment needs more space.
  auto r = TryAppend(opts_.segment_bytes + 100);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(log_->log_end_offset(), Offset(1));
  EXPECT_EQ(ReadEverything().size(), 1u);
}

TEST_F(RecoveryTest, ReadOnlyFileSystemGivesReadOnlyAndKeepsServingReads) {
  OpenLog();
  AppendBatches(3);
  fault_fs_.SetReadOnly(true);
  auto r = TryAppend();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kReadOnly);
  EXPECT_EQ(log_->log_end_offset(), Offset(3));
  EXPECT_EQ(ReadEverything().size(), 3u);
  fault_fs_.SetReadOnly(false);
  ASSERT_TRUE(TryAppend().has_value());
}

TEST_F(RecoveryTest, FailedFsyncIsFatal) {
  OpenLog();
  AppendBatches(1);
  fault_fs_.FailNth(FaultOp::kSync, 1, EIO);
  EXPECT_DEATH(IgnoreError(log_->Sync(), "dies first"), "fdatasync failed");
}

}  // namespace
}  // namespace telemq::storage
