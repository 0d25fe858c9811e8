// What the broker's metrics cost on its request path (BrokerMetrics, the
// per-request instruments server.cc updates) and a scrape of a broker-sized
// registry. Run: build/bench/metrics_bench; figures in docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <chrono>

#include "broker/server/broker_metrics.h"
#include "telemq/common/metrics.h"
#include "telemq/wire/protocol.h"

namespace telemq {
namespace {

// One observation of a latency histogram (16 buckets): the bucket scan and
// two relaxed atomic additions.
void BM_HistogramObserve(benchmark::State& state) {
  static metrics::Histogram h(metrics::LatencyBuckets());
  double v = 0.0001;
  for (auto _ : state) {
    h.Observe(v);
    v = v < 5 ? v * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->ThreadRange(1, 2);

// Everything a produce request costs in metrics: received (count, bytes),
// answered (latency histogram, response bytes, the error codes of a
// produce response of `partitions` partitions), plus the two clock reads.
void BM_ProduceRequestMetrics(benchmark::State& state) {
  static broker::BrokerMetrics m(256 << 20);
  const auto partitions = static_cast<int>(state.range(0));
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<wire::fb::ProducePartitionResult>> parts;
  for (int p = 0; p < partitions; ++p) {
    parts.push_back(wire::fb::CreateProducePartitionResult(b, p, wire::fb::ErrorCode::None));
  }
  std::vector<flatbuffers::Offset<wire::fb::ProduceTopicResult>> topics{
      wire::fb::CreateProduceTopicResultDirect(b, "t", &parts)};
  b.Finish(wire::fb::CreateProduceResponseDirect(b, &topics));
  broker::Response r;
  r.body = b.Release();
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    m.RequestReceived(wire::ApiKey::kProduce, 64 << 10);
    m.RequestAnswered(wire::ApiKey::kProduce, std::chrono::steady_clock::now() - start, r);
  }
}
BENCHMARK(BM_ProduceRequestMetrics)->Arg(1)->Arg(16)->ThreadRange(1, 2);

// A scrape without broker state: the request families of every API.
void BM_RenderRequestFamilies(benchmark::State& state) {
  broker::BrokerMetrics m(256 << 20);
  broker::Response r;
  for (uint16_t api = 0; api < wire::kApiKeyCount; ++api) {
    m.RequestReceived(static_cast<wire::ApiKey>(api), 100);
    m.RequestAnswered(static_cast<wire::ApiKey>(api), std::chrono::microseconds(300), r);
  }
  for (auto _ : state) benchmark::DoNotOptimize(m.Render());
}
BENCHMARK(BM_RenderRequestFamilies);

}  // namespace
}  // namespace telemq
