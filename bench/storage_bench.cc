// Micro-benchmarks of the partition log (broker/storage): append with and
// without fdatasync, reads as the server does them (Read + pread of the
// ranges), and index lookups on a log with many segments. Files go to a
// temporary directory under $TMPDIR, removed afterwards.
//   build-storage/bench/storage_bench --benchmark_min_time=0.2s

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"
#include "broker/storage/partition_log.h"
#include "telemq/wire/record_batch.h"
#include "tests/support/temp_dir.h"

namespace telemq::storage {
namespace {

// A scratch directory for one benchmark (removed on destruction).
class BenchDir : public telemq::testing::TempDir {
 public:
  BenchDir() : telemq::testing::TempDir("telemq-bench") {}
};

// One batch of about `bytes` bytes made of 100-byte telemetry-sized records.
std::vector<std::byte> MakeBatch(size_t bytes, int64_t ts_ms) {
  wire::BatchBuilder builder(wire::Codec::kNone, bytes + 256);
  const std::string value(100, 'v');
  int64_t i = 0;
  while (builder.size_bytes() + 120 < bytes) builder.Add(ts_ms + i++ / 64, std::string_view("gpu-uuid"), value);
  if (builder.empty()) builder.Add(ts_ms, std::string_view("gpu-uuid"), value);
  return std::move(*builder.Finish());
}

std::unique_ptr<PartitionLog> OpenLog(const std::string& dir, LogOptions opts = {}) {
  auto log = PartitionLog::Open(PosixFileSystem::Default(), dir, opts);
  if (!log) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), log.error().ToString().c_str());
    std::abort();
  }
  return std::move(*log);
}

void SetCounters(benchmark::State& state, size_t batch_bytes, int records) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch_bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * records);
  state.counters["batches/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Append only (fsync=interval between syncs): one pwrite per batch.
void BM_Append(benchmark::State& state) {
  BenchDir dir;
  auto log = OpenLog(dir.path() + "/p-0");
  auto batch = MakeBatch(static_cast<size_t>(state.range(0)), 1000);
  const int records = wire::DecodeHeader(batch)->record_count;
  int64_t now = 0;
  for (auto _ : state) {
    auto r = log->Append(batch, Term(1), ++now);
    if (!r) state.SkipWithError(r.error().ToString().c_str());
  }
  SetCounters(state, batch.size(), records);
  IgnoreError(log->Close(), "benchmark teardown");
}
BENCHMARK(BM_Append)->RangeMultiplier(4)->Range(1 << 10, 64 << 10);

// Append + Sync per batch: the worst case of fsync=always (no group commit).
void BM_AppendSync(benchmark::State& state) {
  BenchDir dir;
  auto log = OpenLog(dir.path() + "/p-0");
  auto batch = MakeBatch(static_cast<size_t>(state.range(0)), 1000);
  const int records = wire::DecodeHeader(batch)->record_count;
  for (auto _ : state) {
    auto r = log->Append(batch, Term(1), 0);
    if (!r) state.SkipWithError(r.error().ToString().c_str());
    auto s = log->Sync();
    if (!s) state.SkipWithError(s.error().ToString().c_str());
  }
  SetCounters(state, batch.size(), records);
  IgnoreError(log->Close(), "benchmark teardown");
}
BENCHMARK(BM_AppendSync)->RangeMultiplier(4)->Range(1 << 10, 64 << 10)->UseRealTime();

// A consumer reading 1 MiB fetches from a 64 MiB log of `range(0)`-byte
// batches: Read (range lookup) plus one pread per range into a buffer.
void BM_ReadFetch(benchmark::State& state) {
  BenchDir dir;
  LogOptions opts;
  opts.segment_bytes = 16 << 20;
  auto log = OpenLog(dir.path() + "/p-0", opts);
  auto batch = MakeBatch(static_cast<size_t>(state.range(0)), 1000);
  while (log->size_bytes() < (64u << 20)) IgnoreError(log->Append(batch, Term(1), 0), "setup");
  const Offset end = log->log_end_offset();
  constexpr uint64_t kFetchBytes = 1 << 20;
  std::vector<std::byte> buffer(kFetchBytes + batch.size());
  Offset at(0);
  uint64_t bytes = 0;
  int64_t records = 0;
  for (auto _ : state) {
    auto r = log->Read(at, kFetchBytes, end);
    if (!r) state.SkipWithError(r.error().ToString().c_str());
    size_t filled = 0;
    for (const auto& range : r->ranges) {
      auto n = range.file->PRead(range.position, std::span<std::byte>(buffer).subspan(filled, range.size));
      filled += *n;
    }
    bytes += r->total_bytes;
    records += r->next_offset - at;
    at = r->next_offset >= end ? Offset(0) : r->next_offset;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(records);
}
BENCHMARK(BM_ReadFetch)->Arg(1 << 10)->Arg(16 << 10);

// Index lookups on a log of many small segments: Read of one batch at a
// random offset (offset index + header walk) and OffsetForTimestamp (segment
// max timestamps + time index + header walk).
class LookupFixture : public benchmark::Fixture {
 public:
  void SetUp(benchmark::State&) override {
    if (log_) return;
    dir_ = std::make_unique<BenchDir>();
    LogOptions opts;
    opts.segment_bytes = 1 << 20;
    log_ = OpenLog(dir_->path() + "/p-0", opts);
    for (int64_t i = 0; log_->size_bytes() < (64u << 20); ++i) {
      auto batch = MakeBatch(1024, 1'000'000 + i);
      IgnoreError(log_->Append(batch, Term(1), 0), "setup");
    }
  }
  void TearDown(benchmark::State&) override {}
  ~LookupFixture() override {
    log_.reset();
    dir_.reset();
  }

 protected:
  std::unique_ptr<BenchDir> dir_;
  std::unique_ptr<PartitionLog> log_;
};

BENCHMARK_F(LookupFixture, ReadPositionLookup)(benchmark::State& state) {
  const int64_t end = log_->log_end_offset().value();
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto r = log_->Read(Offset(static_cast<int64_t>(x % static_cast<uint64_t>(end))), 1, Offset(end));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["segments"] = static_cast<double>(log_->segment_count());
}

BENCHMARK_F(LookupFixture, OffsetForTimestamp)(benchmark::State& state) {
  uint64_t x = 88172645463325252ull;
  const int64_t batches = log_->log_end_offset().value() / 9;  // ~9 records per 1 KiB batch
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    auto r = log_->OffsetForTimestamp(1'000'000 + static_cast<int64_t>(x % static_cast<uint64_t>(batches)));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["segments"] = static_cast<double>(log_->segment_count());
}

}  // namespace
}  // namespace telemq::storage
