// Micro-benchmarks of the collector's partition store (collector/):
//  * StoreApply: decode + write of poll-sized runs of encoded points of a
//    synthetic fleet (64 GPUs x 10 fields per second), memtable flushes and
//    compactions included; items/s = points applied per second.
//  * WindowQueryPage: one GPU's one-hour window at 1 s per field (36,000 points)
//    in a compacted store of 16 GPUs x 2 hours; a page of `limit` points
//    from a random position (cursor) of the window, through the API handler
//    (parameter parsing, scan, JSON) or the store alone; p50/p99 counters in
//    microseconds.
//  * CompactedBytesPerPoint: SST bytes per point after a full compaction.
// Stores go to a temporary directory under $TMPDIR, removed afterwards.
//   build-collector/bench/collector_bench --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "collector/http_api.h"
#include "collector/partition_store.h"
#include "telemetry/generator.h"
#include "telemetry/point.h"
#include "tests/support/temp_dir.h"

namespace telemq::collector {
namespace {

// A scratch directory for one benchmark (removed on destruction).
class BenchDir : public telemq::testing::TempDir {
 public:
  BenchDir() : telemq::testing::TempDir("telemq-collector") {}
};

// Encoded records of consecutive fleet snapshots, with consecutive offsets.
class RecordSource {
 public:
  RecordSource(int hosts, int gpus_per_host, int64_t start_s) : fleet_(hosts, gpus_per_host, 1), next_s_(start_s) {}

  // At least `n` records (whole snapshots) starting at the next offset.
  const std::vector<StoreRecord>& Next(size_t n) {
    keys_.clear();
    values_.clear();
    records_.clear();
    while (values_.size() < n) {
      for (const auto& p : fleet_.Sample(static_cast<double>(next_s_))) {
        keys_.push_back(p.gpu_uuid);
        values_.push_back(*telemetry::EncodePoint(p));
      }
      ++next_s_;
    }
    for (size_t i = 0; i < values_.size(); ++i) {
      records_.push_back({offset_, keys_[i], values_[i]});
      offset_ = offset_ + 1;
    }
    return records_;
  }

 private:
  telemetry::SyntheticFleet fleet_;
  int64_t next_s_;
  Offset offset_{0};
  std::vector<std::string> keys_, values_;
  std::vector<StoreRecord> records_;
};

std::unique_ptr<PartitionStore> Open(const BenchDir& dir) {
  auto s = PartitionStore::Open({dir.path() + "/partition-0", "gpu.telemetry", nullptr});
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.error().ToString().c_str());
    std::abort();
  }
  return std::move(*s);
}

void Load(PartitionStore& store, RecordSource& source, int64_t points) {
  for (int64_t done = 0; done < points;) {
    const auto& run = source.Next(5'000);
    if (!store.Apply(run)) std::abort();
    done += static_cast<int64_t>(run.size());
  }
}

// Runs of `range(0)` records, as one poll brings one partition's records.
void StoreApply(benchmark::State& state) {
  BenchDir dir;
  auto store = Open(dir);
  RecordSource source(8, 8, 1'752'800'000);
  int64_t points = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto& run = source.Next(static_cast<size_t>(state.range(0)));
    state.ResumeTiming();
    auto st = store->Apply(run);
    if (!st) {
      state.SkipWithError(st.error().ToString().c_str());
      break;
    }
    points += static_cast<int64_t>(st->points);
  }
  state.SetItemsProcessed(points);
}
BENCHMARK(StoreApply)->Arg(1'000)->Arg(5'000)->Arg(20'000)->MinTime(3)->Unit(benchmark::kMillisecond);

// A store of 16 GPUs x 2 hours at 1 s per field, compacted, shared by the
// query benchmarks.
struct QueryFixture {
  BenchDir dir;
  std::shared_ptr<PartitionStore> store;
  std::string uuid;
  int64_t first_us = 0;
  static constexpr int64_t kSeconds = 7'200;
  static constexpr int kGpus = 16;

  QueryFixture() {
    store = Open(dir);
    const int64_t start = 1'752'800'000;
    RecordSource source(2, 8, start);
    Load(*store, source, kSeconds * kGpus * static_cast<int64_t>(telemetry::kDcgmFieldCount));
    if (!store->CompactAll()) std::abort();
    uuid = telemetry::SyntheticFleet(2, 8, 1).gpus()[5].uuid;
    first_us = (start + 1'800) * 1'000'000;  // the window: [start + 30 min, start + 90 min)
  }
  static QueryFixture& Get() {
    static QueryFixture f;
    return f;
  }
};

class OneStore : public PartitionDirectory {
 public:
  explicit OneStore(std::shared_ptr<PartitionStore> s) : store_(std::move(s)) {}
  std::string MemberId() const override { return "bench"; }
  std::vector<PartitionHandle> Partitions() const override { return {{0, PartitionState::kServing, store_}}; }
  std::optional<PartitionHandle> Find(int32_t p) const override {
    if (p != 0) return std::nullopt;
    return PartitionHandle{0, PartitionState::kServing, store_};
  }

 private:
  std::shared_ptr<PartitionStore> store_;
};

void ReportPercentiles(benchmark::State& state, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

// range(0): page size; range(1): 1 = through the API handler (JSON), 0 = store only;
// range(2): 1 = with a metric filter.
void WindowQueryPage(benchmark::State& state) {
  auto& f = QueryFixture::Get();
  OneStore dir(f.store);
  const auto limit = state.range(0);
  const bool json = state.range(1) == 1;
  const bool filter = state.range(2) == 1;
  const int64_t last_us = f.first_us + 3'599'000'000;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> pick(f.first_us, last_us);
  std::vector<double> latencies;
  int64_t points = 0;
  for (auto _ : state) {
    // A page somewhere in the window: the cursor of an earlier page.
    const int64_t after = pick(rng) / 1'000'000 * 1'000'000;
    const auto t0 = std::chrono::steady_clock::now();
    if (json) {
      QueryParams params = {{"partition", "0"},
                            {"start_us", std::to_string(f.first_us)},
                            {"end_us", std::to_string(last_us)},
                            {"limit", std::to_string(limit)},
                            {"after_us", std::to_string(after)},
                            {"after_metric", "DCGM_FI_DEV_GPU_TEMP"}};
      if (filter) params.emplace("metric", "DCGM_FI_DEV_POWER_USAGE");
      auto r = HandleTelemetry(dir, f.uuid, params);
      if (r.status != 200) state.SkipWithError(r.body.c_str());
      benchmark::DoNotOptimize(r.body.data());
      points += limit;
    } else {
      WindowQuery q{.start_us = f.first_us,
                    .end_us = last_us,
                    .limit = static_cast<size_t>(limit),
                    .after_us = after,
                    .after_metric = "DCGM_FI_DEV_GPU_TEMP"};
      if (filter) q.metric = "DCGM_FI_DEV_POWER_USAGE";
      auto r = f.store->QueryWindow(f.uuid, q);
      if (!r) {
        state.SkipWithError(r.error().ToString().c_str());
        break;
      }
      points += static_cast<int64_t>(r->points.size());
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(points);
  ReportPercentiles(state, latencies);
}
BENCHMARK(WindowQueryPage)
    ->ArgNames({"limit", "json", "metric"})
    ->Args({1000, 1, 0})
    ->Args({1000, 0, 0})
    ->Args({1000, 1, 1})
    ->Args({10000, 1, 0})
    ->Unit(benchmark::kMicrosecond);

// The whole fleet's two hours, compacted: bytes of SST files per point.
void CompactedBytesPerPoint(benchmark::State& state) {
  auto& f = QueryFixture::Get();
  for (auto _ : state) {
    auto bytes = f.store->SstBytes();
    if (!bytes) {
      state.SkipWithError(bytes.error().ToString().c_str());
      break;
    }
    state.counters["points"] = static_cast<double>(f.store->Stats().points);
    state.counters["sst_bytes"] = static_cast<double>(*bytes);
    state.counters["bytes_per_point"] = static_cast<double>(*bytes) / static_cast<double>(f.store->Stats().points);
  }
}
BENCHMARK(CompactedBytesPerPoint)->Iterations(1);

}  // namespace
}  // namespace telemq::collector
