// Micro-benchmarks of the batch format: checksum, encode (BatchBuilder),
// validate and decode (BatchReader), per codec. Run: build/bench/wire_bench
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"

namespace telemq::wire {
namespace {

std::string Value(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, ' ');
  // Telemetry-like text: compressible, not constant.
  for (auto& c : s) c = "0123456789.,:{}\"abcdefgh"[rng() % 24];
  return s;
}

std::vector<std::byte> MakeBatch(Codec codec, int records, size_t value_bytes) {
  BatchBuilder b(codec);
  const std::string v = Value(value_bytes, 1);
  for (int i = 0; i < records; ++i) b.Add(1'700'000'000'000 + i, "GPU-" + std::to_string(i % 64), v);
  return *b.Finish(ProducerId(1), 0, 0);
}

void BM_Checksum(benchmark::State& state) {
  std::vector<std::byte> buf(static_cast<size_t>(state.range(0)), std::byte{7});
  for (auto _ : state) benchmark::DoNotOptimize(ComputeChecksum(buf));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(4 << 10)->Arg(256 << 10)->Arg(1 << 20);

void BM_Encode(benchmark::State& state) {
  const auto codec = static_cast<Codec>(state.range(0));
  const int records = 2000;
  const std::string v = Value(100, 2);
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back("GPU-" + std::to_string(i));
  BatchBuilder b(codec, 256 << 10);
  for (auto _ : state) {
    for (int i = 0; i < records; ++i) b.Add(1'700'000'000'000 + i, keys[i % 64], v);
    benchmark::DoNotOptimize(b.Finish(ProducerId(1), 0, 0));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * records);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * records * 100);
}
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->Arg(2)->ArgNames({"codec"});

void BM_Validate(benchmark::State& state) {
  const auto batch = MakeBatch(Codec::kNone, 2000, 100);
  for (auto _ : state) benchmark::DoNotOptimize(ValidateBatch(batch));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2000);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(BM_Validate);

void BM_Decode(benchmark::State& state) {
  const auto codec = static_cast<Codec>(state.range(0));
  const auto batch = MakeBatch(codec, 2000, 100);
  BatchReader reader;
  for (auto _ : state) {
    auto h = ValidateBatch(batch);
    int64_t sum = 0;
    auto r = reader.Decode(batch, *h, [&](const RecordView& v) { sum += static_cast<int64_t>(v.value->size()); });
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2000);
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->Arg(2)->ArgNames({"codec"});

}  // namespace
}  // namespace telemq::wire
