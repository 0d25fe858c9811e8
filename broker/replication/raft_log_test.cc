// The raft::LogReader contract (broker/raft/log.h) checked against both
// implementations: raft::MemoryLog, the reference, and RaftLog over a real
// PartitionLog. Then what only the durable one has: crash recovery, resets,
// retention bounds, the no-op control batch and the entry cache.

#include "broker/replication/raft_log.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "broker/raft/log.h"
#include "broker/replication/hard_state_store.h"
#include "broker/replication/replication_format.h"
#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/storage_format.h"
#include "broker/storage/term_index.h"
#include "broker/storage/test_util.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"

namespace telemq::replication {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogPosition;

// A real record batch of `count` records stamped with (term, base), as the
// leader proposes it. Both logs get the same payloads.
Entry E(int64_t term, int64_t base, int32_t count, size_t value_bytes = 10) {
  auto batch = storage::testing::MakeBatch(count, 1000 + base, value_bytes);
  wire::StampBaseOffset(batch, Offset(base));
  wire::StampLeaderTerm(batch, Term(term));
  Entry e;
  e.term = Term(term);
  e.base_offset = Offset(base);
  e.record_count = count;
  e.payload = raft::Payload::Copy(std::string_view(reinterpret_cast<const char*>(batch.data()), batch.size()));
  return e;
}

Entry Noop(int64_t term, int64_t base) {
  Entry e;
  e.term = Term(term);
  e.base_offset = Offset(base);
  e.record_count = 1;
  e.type = EntryType::kNoop;
  return e;
}

// What the owner of a Raft node does with its log, for each implementation.
class MemoryHarness {
 public:
  raft::LogReader& log() { return log_; }
  void Append(const std::vector<Entry>& entries) { log_.Append(entries); }
  void Reset(LogPosition position) { log_.Reset(position); }
  void TruncatePrefix(Offset new_start) { log_.TruncatePrefix(new_start); }
  void Reopen() {}

 private:
  raft::MemoryLog log_;
};

// RaftLog over a real PartitionLog; with kCacheBytes = 0 every read and
// lookup goes to the segments.
template <size_t kCacheBytes>
class DurableHarness {
 public:
  DurableHarness() {
    // One batch per segment, so retention can remove any entry prefix.
    opts_.segment_bytes = 100;
    opts_.retention_bytes = 0;
    opts_.preallocate = false;
    Open();
  }
  raft::LogReader& log() { return *raft_log_; }
  void Append(const std::vector<Entry>& entries) {
    auto r = raft_log_->Persist(std::nullopt, entries, 0);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  void Reset(LogPosition position) {
    auto r = raft_log_->Persist(position, {}, 0);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  void TruncatePrefix(Offset new_start) {
    if (new_start == raft_log_->NextOffset()) {
      // Retention never deletes the active segment; all-gone is a reset to
      // the end with the last term.
      Reset(raft_log_->LastPosition());
      return;
    }
    auto r = raft_log_->ApplyRetention(INT64_MAX, new_start);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  // Closes cleanly and opens again: what was persisted must read back.
  void Reopen() {
    ASSERT_TRUE(raft_log_->partition_log().Close().has_value());
    Open();
  }

 private:
  void Open() {
    auto log = storage::PartitionLog::Open(fs_, tmp_.path() + "/t-0", opts_);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    raft_log_ = std::make_unique<RaftLog>(std::shared_ptr<storage::PartitionLog>(std::move(*log)),
                                          RaftLogOptions{.cache_bytes = kCacheBytes});
  }

  storage::testing::TempDir tmp_;
  storage::PosixFileSystem fs_;
  storage::LogOptions opts_;
  std::unique_ptr<RaftLog> raft_log_;
};

template <typename Harness>
class LogReaderTest : public ::testing::Test {
 protected:
  raft::LogReader& log() { return h_.log(); }
  std::vector<Entry> ReadAll(int64_t from, int64_t last, size_t max_bytes = SIZE_MAX) {
    std::vector<Entry> out;
    auto r = log().Read(Offset(from), Offset(last), max_bytes, &out);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return out;
  }
  Harness h_;
};

using CachedHarness = DurableHarness<RaftLogOptions{}.cache_bytes>;
using UncachedHarness = DurableHarness<0>;
using Harnesses = ::testing::Types<MemoryHarness, CachedHarness, UncachedHarness>;
class HarnessNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemoryHarness>) return "MemoryLog";
    return std::is_same_v<T, CachedHarness> ? "RaftLog" : "RaftLogUncached";
  }
};
TYPED_TEST_SUITE(LogReaderTest, Harnesses, HarnessNames);

TYPED_TEST(LogReaderTest, EmptyLogHasBoundaryBeforeStart) {
  EXPECT_EQ(this->log().StartOffset(), Offset(0));
  EXPECT_EQ(this->log().NextOffset(), Offset(0));
  auto meta = this->log().Lookup(Offset(-1));
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->term, Term(0));
  EXPECT_EQ(meta->base_offset, Offset(-1));
  EXPECT_EQ(this->log().Lookup(Offset(0)).error().code(), Errc::kOffsetOutOfRange);
}

TYPED_TEST(LogReaderTest, LookupFindsTheEntryCoveringAnOffset) {
  this->h_.Append({E(1, 0, 3), E(2, 3, 2)});
  EXPECT_EQ(this->log().NextOffset(), Offset(5));
  auto meta = this->log().Lookup(Offset(4));
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->base_offset, Offset(3));
  EXPECT_EQ(meta->last_offset, Offset(4));
  EXPECT_EQ(meta->term, Term(2));
  EXPECT_EQ(this->log().Lookup(Offset(1))->term, Term(1));
  EXPECT_EQ(this->log().Lookup(Offset(1))->base_offset, Offset(0));
  EXPECT_EQ(this->log().Lookup(Offset(5)).error().code(), Errc::kOffsetOutOfRange);
  EXPECT_EQ(this->log().Lookup(Offset(-2)).error().code(), Errc::kOffsetOutOfRange);
}

TYPED_TEST(LogReaderTest, AppendReplacesTheSuffixFromItsFirstOffset) {
  this->h_.Append({E(1, 0, 1), E(1, 1, 4)});
  this->h_.Append({E(2, 1, 1)});
  EXPECT_EQ(this->log().NextOffset(), Offset(2));
  EXPECT_EQ(this->log().Lookup(Offset(1))->term, Term(2));
  EXPECT_EQ(this->log().Lookup(Offset(1))->last_offset, Offset(1));
  this->h_.Append({E(2, 2, 2), E(3, 4, 1)});
  this->h_.Reopen();
  EXPECT_EQ(this->log().NextOffset(), Offset(5));
  EXPECT_EQ(this->log().Lookup(Offset(3))->term, Term(2));
  EXPECT_EQ(this->log().Lookup(Offset(4))->term, Term(3));
}

TYPED_TEST(LogReaderTest, RetentionKeepsTheTermBeforeTheNewStart) {
  this->h_.Append({E(1, 0, 2), E(3, 2, 2), E(4, 4, 1)});
  this->h_.TruncatePrefix(Offset(4));
  EXPECT_EQ(this->log().StartOffset(), Offset(4));
  EXPECT_EQ(this->log().Lookup(Offset(3))->term, Term(3));
  EXPECT_EQ(this->log().Lookup(Offset(3))->base_offset, Offset(3));
  EXPECT_FALSE(this->log().Lookup(Offset(2)).has_value());
  this->h_.Reopen();
  EXPECT_EQ(this->log().Lookup(Offset(3))->term, Term(3));
  this->h_.TruncatePrefix(Offset(5));
  EXPECT_EQ(this->log().StartOffset(), Offset(5));
  EXPECT_EQ(this->log().Lookup(Offset(4))->term, Term(4));
}

TYPED_TEST(LogReaderTest, ReadStopsAtTheByteBudgetButReturnsAtLeastOneEntry) {
  const Entry a = E(1, 0, 1), b = E(1, 1, 1), c = E(1, 2, 1);
  const size_t n = a.payload_bytes();
  this->h_.Append({a, b, c});
  EXPECT_EQ(this->ReadAll(0, 2, n + n / 2).size(), 1u);
  EXPECT_EQ(this->ReadAll(0, 2, 1).size(), 1u);
  EXPECT_EQ(this->ReadAll(1, 2, 2 * n).size(), 2u);
  EXPECT_EQ(this->ReadAll(0, 2, 3 * n).size(), 3u);
  EXPECT_EQ(this->ReadAll(0, 1).size(), 2u);  // up to the entry covering `last`
  std::vector<Entry> out;
  EXPECT_EQ(this->log().Read(Offset(5), Offset(6), 8, &out).error().code(), Errc::kOffsetOutOfRange);
}

TYPED_TEST(LogReaderTest, ReadReturnsWholeEntriesWithTheirPayloads) {
  const std::vector<Entry> in = {E(1, 0, 3, 50), E(2, 3, 1, 7), E(2, 4, 5, 300)};
  this->h_.Append(in);
  const auto out = this->ReadAll(0, 4);  // `last` inside the last entry
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].term, in[i].term);
    EXPECT_EQ(out[i].base_offset, in[i].base_offset);
    EXPECT_EQ(out[i].record_count, in[i].record_count);
    EXPECT_EQ(out[i].type, EntryType::kNormal);
    EXPECT_EQ(out[i].payload.view(), in[i].payload.view());
  }
  std::vector<Entry> inside;
  EXPECT_EQ(this->log().Read(Offset(1), Offset(4), SIZE_MAX, &inside).error().code(), Errc::kOffsetOutOfRange);
}

TYPED_TEST(LogReaderTest, NoopEntriesTakeOneOffsetAndReadBackAsNoops) {
  this->h_.Append({E(1, 0, 2), Noop(2, 2), E(2, 3, 1)});
  this->h_.Reopen();
  EXPECT_EQ(this->log().NextOffset(), Offset(4));
  const auto meta = this->log().Lookup(Offset(2));
  EXPECT_EQ(meta->base_offset, Offset(2));
  EXPECT_EQ(meta->last_offset, Offset(2));
  EXPECT_EQ(meta->term, Term(2));
  const auto out = this->ReadAll(2, 3);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, EntryType::kNoop);
  EXPECT_EQ(out[0].payload_bytes(), 0u);
  EXPECT_EQ(out[1].type, EntryType::kNormal);
}

TYPED_TEST(LogReaderTest, ResetStartsOverAtTheGivenPosition) {
  this->h_.Append({E(1, 0, 2)});
  this->h_.Reset(LogPosition{Offset(99), Term(7)});
  EXPECT_EQ(this->log().StartOffset(), Offset(100));
  EXPECT_EQ(this->log().NextOffset(), Offset(100));
  EXPECT_EQ(this->log().Lookup(Offset(99))->term, Term(7));
  EXPECT_FALSE(this->log().Lookup(Offset(0)).has_value());
  this->h_.Append({E(8, 100, 2)});
  this->h_.Reopen();
  EXPECT_EQ(this->log().StartOffset(), Offset(100));
  EXPECT_EQ(this->log().Lookup(Offset(99))->term, Term(7));
  EXPECT_EQ(this->log().Lookup(Offset(101))->term, Term(8));
}

// ---------------------------------------------------------------------------
// RaftLog only: storage behaviour.

class RaftLogTest : public ::testing::Test {
 protected:
  RaftLogTest() : fault_fs_(posix_) {
    opts_.segment_bytes = 4096;
    opts_.index_interval_bytes = 256;
  }
  std::string dir() const { return tmp_.path() + "/t-0"; }

  void Open(RaftLogOptions options = {}) {
    raft_log_.reset();
    auto log = storage::PartitionLog::Open(fault_fs_, dir(), opts_);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    raft_log_ = std::make_unique<RaftLog>(std::shared_ptr<storage::PartitionLog>(std::move(*log)), options);
  }
  void Persist(const std::vector<Entry>& entries, std::optional<LogPosition> reset = std::nullopt) {
    auto r = raft_log_->Persist(reset, entries, 0);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  void Sync() { ASSERT_TRUE(raft_log_->Sync().has_value()); }
  // The process dies and unsynced data is lost; then the log is reopened.
  void CrashAndReopen(RaftLogOptions options = {}) {
    raft_log_.reset();
    ASSERT_TRUE(fault_fs_.Crash().has_value());
    Open(options);
  }
  // Entries [first, first + n) of one record each in `term`.
  static std::vector<Entry> Run(int64_t term, int64_t first, int n, size_t value_bytes = 100) {
    std::vector<Entry> out;
    for (int i = 0; i < n; ++i) out.push_back(E(term, first + i, 1, value_bytes));
    return out;
  }
  std::vector<Entry> ReadAll() {
    std::vector<Entry> out;
    if (raft_log_->NextOffset() == raft_log_->StartOffset()) return out;
    auto r = raft_log_->Read(raft_log_->StartOffset(), raft_log_->NextOffset() - 1, SIZE_MAX, &out);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return out;
  }

  storage::testing::TempDir tmp_;
  storage::PosixFileSystem posix_;
  storage::FaultInjectionFileSystem fault_fs_;
  storage::LogOptions opts_;
  std::unique_ptr<RaftLog> raft_log_;
};

TEST_F(RaftLogTest, NoopBatchIsTheSameBytesEverywhereAndAValidControlBatch) {
  const auto a = BuildNoopBatch(Term(5), Offset(42));
  EXPECT_EQ(a, BuildNoopBatch(Term(5), Offset(42)));
  EXPECT_NE(a, BuildNoopBatch(Term(6), Offset(42)));
  EXPECT_EQ(a.size(), format::kNoopBatchSize);
  auto header = wire::ValidateBatch(a);
  ASSERT_TRUE(header.has_value()) << header.error().ToString();
  EXPECT_TRUE(header->is_control());
  EXPECT_EQ(header->base_offset, Offset(42));
  EXPECT_EQ(header->leader_term, Term(5));
  EXPECT_EQ(header->record_count, 1);
  EXPECT_EQ(header->producer_id, ProducerId(-1));
  // Consumers, the group replay and the collector see no record in it.
  int records = 0;
  wire::BatchReader reader;
  ASSERT_TRUE(reader.Decode(a, *header, [&](const wire::RecordView&) { ++records; }).has_value());
  EXPECT_EQ(records, 0);
}

TEST_F(RaftLogTest, PersistRejectsAPayloadWhoseHeaderDisagreesWithTheEntry) {
  Open();
  Entry wrong_term = E(1, 0, 1);
  wrong_term.term = Term(2);
  EXPECT_EQ(raft_log_->Persist(std::nullopt, {wrong_term}, 0).error().code(), Errc::kCorrupt);
  Entry wrong_count = E(1, 0, 2);
  wrong_count.record_count = 3;
  EXPECT_EQ(raft_log_->Persist(std::nullopt, {wrong_count}, 0).error().code(), Errc::kCorrupt);
  Entry control = E(1, 0, 1);
  control.payload = raft::Payload::Copy(
      std::string_view(reinterpret_cast<const char*>(BuildNoopBatch(Term(1), Offset(0)).data()), 76));
  EXPECT_EQ(raft_log_->Persist(std::nullopt, {control}, 0).error().code(), Errc::kCorrupt);
  EXPECT_EQ(raft_log_->Persist(std::nullopt, {E(1, 3, 1)}, 0).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(raft_log_->NextOffset(), Offset(0));
  Persist({E(1, 0, 1)});
  EXPECT_EQ(raft_log_->NextOffset(), Offset(1));
}

TEST_F(RaftLogTest, CacheMissesPreadIntoABufferThePayloadsOwn) {
  Open(RaftLogOptions{.cache_bytes = 0});
  Persist(Run(1, 0, 50));
  EXPECT_EQ(raft_log_->cached_entries(), 0u);
  std::vector<Entry> out;
  ASSERT_TRUE(raft_log_->Read(Offset(10), Offset(19), SIZE_MAX, &out).has_value());
  ASSERT_EQ(out.size(), 10u);
  const std::string before(out[5].payload.view());
  // The bytes stay valid when the log moves on under them.
  Persist({E(2, 12, 1)});
  EXPECT_EQ(out[5].payload.view(), before);
  auto h = wire::ValidateBatch(out[5].payload.bytes());
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->base_offset, Offset(15));
}

TEST_F(RaftLogTest, RecentEntriesComeFromTheBoundedCache) {
  const size_t entry_bytes = Run(1, 0, 1)[0].payload_bytes();
  Open(RaftLogOptions{.cache_bytes = 10 * entry_bytes});
  Persist(Run(1, 0, 30));
  EXPECT_EQ(raft_log_->cached_entries(), 10u);
  EXPECT_LE(raft_log_->cached_bytes(), 10 * entry_bytes);
  // A read that starts on disk and runs into the cache returns one run.
  std::vector<Entry> out;
  ASSERT_TRUE(raft_log_->Read(Offset(5), Offset(29), SIZE_MAX, &out).has_value());
  ASSERT_EQ(out.size(), 25u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].base_offset, Offset(5 + static_cast<int64_t>(i)));
  // Truncation drops cached entries too.
  Persist({E(2, 25, 1)});
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(25), Term(2)}));
  EXPECT_EQ(raft_log_->Lookup(Offset(25))->term, Term(2));
}

TEST_F(RaftLogTest, LostUnsyncedSuffixLeavesTermsConsistent) {
  Open();
  Persist(Run(1, 0, 5));
  Persist(Run(2, 5, 5));
  Sync();
  Persist({Noop(3, 10)});
  Persist(Run(3, 11, 4));  // term 3 reached the term file, its batches did not reach the disk
  CrashAndReopen();
  EXPECT_EQ(raft_log_->NextOffset(), Offset(10));
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(9), Term(2)}));
  EXPECT_EQ(raft_log_->partition_log().last_term(), Term(2));
  EXPECT_EQ(raft_log_->Lookup(Offset(4))->term, Term(1));
  EXPECT_EQ(raft_log_->Lookup(Offset(5))->term, Term(2));
  // The leader of term 4 overwrites from 8: terms stay ordered and durable.
  Persist(Run(4, 8, 3));
  Sync();
  CrashAndReopen();
  EXPECT_EQ(raft_log_->NextOffset(), Offset(11));
  EXPECT_EQ(raft_log_->Lookup(Offset(7))->term, Term(2));
  EXPECT_EQ(raft_log_->Lookup(Offset(8))->term, Term(4));
  EXPECT_EQ(ReadAll().size(), 11u);
}

TEST_F(RaftLogTest, TornTailIsDroppedAndTheTermIndexFollows) {
  opts_.preallocate = false;
  Open();
  Persist(Run(1, 0, 3));
  Persist(Run(2, 3, 3));
  Sync();
  raft_log_.reset();
  // The last batch, term 2, is half on disk.
  const uint64_t n = Run(1, 0, 1)[0].payload_bytes();
  const std::string log = dir() + "/00000000000000000000.log";
  ASSERT_EQ(std::filesystem::file_size(log), 6 * n);
  std::filesystem::resize_file(log, 5 * n + n / 2);
  Open();
  EXPECT_EQ(raft_log_->NextOffset(), Offset(5));
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(4), Term(2)}));
  // Now cut into the first term-2 batch: term 2 leaves the index.
  raft_log_.reset();
  std::filesystem::resize_file(log, 3 * n + 10);
  Open();
  EXPECT_EQ(raft_log_->NextOffset(), Offset(3));
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(2), Term(1)}));
  Persist(Run(3, 3, 1));  // term 2 never comes back as the term of offset 3
  EXPECT_EQ(raft_log_->Lookup(Offset(3))->term, Term(3));
}

TEST_F(RaftLogTest, ResetThenCrashComesBackEmptyAtTheNewStart) {
  Open();
  Persist(Run(1, 0, 40));
  Sync();
  Persist({}, LogPosition{Offset(999), Term(6)});
  CrashAndReopen();
  EXPECT_EQ(raft_log_->StartOffset(), Offset(1000));
  EXPECT_EQ(raft_log_->NextOffset(), Offset(1000));
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(999), Term(6)}));
  EXPECT_EQ(raft_log_->partition_log().segment_count(), 1u);
  Persist(Run(7, 1000, 2));
  Sync();
  CrashAndReopen();
  EXPECT_EQ(raft_log_->Lookup(Offset(999))->term, Term(6));
  EXPECT_EQ(raft_log_->Lookup(Offset(1001))->term, Term(7));
}

TEST_F(RaftLogTest, ResetInterruptedAfterItsCommitPointIsFinishedOnRecovery) {
  Open();
  Persist(Run(1, 0, 40));
  Sync();
  raft_log_.reset();
  // The term file says "reset to 500" but the old segments are still there:
  // the crash came right after the commit point.
  const auto bytes = storage::detail::EncodeTermFile(
      storage::detail::TermFile{true, Offset(500), {{Term(4), Offset(499)}}});
  std::ofstream(dir() + "/term_index", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  Open();
  EXPECT_EQ(raft_log_->StartOffset(), Offset(500));
  EXPECT_EQ(raft_log_->NextOffset(), Offset(500));
  EXPECT_EQ(raft_log_->Lookup(Offset(499))->term, Term(4));
  EXPECT_FALSE(std::filesystem::exists(dir() + "/00000000000000000000.log"));
}

TEST_F(RaftLogTest, RetentionNeverRemovesEntriesAtOrAboveTheBound) {
  opts_.retention_bytes = 0;  // size retention wants everything gone
  opts_.segment_bytes = 1024;
  Open();
  Persist(Run(1, 0, 30));
  Persist(Run(2, 30, 30));
  ASSERT_GE(raft_log_->partition_log().segment_count(), 4u);
  auto removed = raft_log_->ApplyRetention(0, Offset(35));
  ASSERT_TRUE(removed.has_value());
  EXPECT_GT(*removed, 0);
  const Offset start = raft_log_->StartOffset();
  EXPECT_LE(start, Offset(35));
  EXPECT_GT(start, Offset(0));
  // The entry before the start keeps its term, across a restart too.
  const Term before = start <= Offset(30) ? Term(1) : Term(2);
  EXPECT_EQ(raft_log_->Lookup(start - 1)->term, before);
  Sync();
  CrashAndReopen();
  EXPECT_EQ(raft_log_->StartOffset(), start);
  EXPECT_EQ(raft_log_->Lookup(start - 1)->term, before);
  EXPECT_EQ(raft_log_->NextOffset(), Offset(60));
  EXPECT_EQ(raft_log_->ApplyRetention(0, start).value(), 0);
}

TEST_F(RaftLogTest, OneReadyMayResetAndAppend) {
  Open();
  Persist(Run(1, 0, 5));
  Persist({Noop(4, 300), E(4, 301, 2)}, LogPosition{Offset(299), Term(3)});
  EXPECT_EQ(raft_log_->StartOffset(), Offset(300));
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(302), Term(4)}));
  EXPECT_EQ(raft_log_->Lookup(Offset(299))->term, Term(3));
  EXPECT_EQ(ReadAll().size(), 2u);
}

TEST_F(RaftLogTest, LostHardStateNextToASurvivingLogIsRefused) {
  Open();
  HardStateStore hard_state(fault_fs_, dir());
  // The owner's order for each Ready: hard state, then entries.
  ASSERT_TRUE(hard_state.Save(raft::HardState{Term(2), NodeId(1)}).has_value());
  Persist({Noop(2, 0), E(2, 1, 3)});
  Sync();
  CrashAndReopen();
  auto state = hard_state.Load();
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(HardStateStore::CheckAgainstLog(*state, raft_log_->LastPosition().term).has_value());
  std::filesystem::remove(hard_state.path());
  EXPECT_EQ(HardStateStore::CheckAgainstLog(*hard_state.Load(), raft_log_->LastPosition().term).error().code(),
            Errc::kCorrupt);
}

TEST_F(RaftLogTest, FailedAppendLeavesTheLogAndItsTermsAsBefore) {
  Open();
  Persist(Run(1, 0, 3));
  fault_fs_.FailNth(storage::FaultOp::kWrite, 2, ENOSPC);  // the term file is written, the batch is not
  auto r = raft_log_->Persist(std::nullopt, Run(2, 3, 1), 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(2), Term(1)}));
  Sync();
  CrashAndReopen();
  EXPECT_EQ(raft_log_->LastPosition(), (LogPosition{Offset(2), Term(1)}));
  Persist(Run(3, 3, 1));
  EXPECT_EQ(raft_log_->Lookup(Offset(3))->term, Term(3));
}

}  // namespace
}  // namespace telemq::replication
