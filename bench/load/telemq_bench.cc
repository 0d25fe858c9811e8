// telemq-bench: load generator for a running cluster, in the spirit of
// Kafka's producer/consumer perf tools.
//
//   telemq-bench produce --topic perf --records 5000000 --record-size 100 --partitions 8
//   telemq-bench consume --topic perf --records 5000000
//   telemq-bench e2e     --topic lat --rate 50000 --duration-s 30 [--latency-from scheduled]
//
// Prints records/s, MB/s and latency percentiles. produce: send → ack;
// e2e: send → consumer receives (timestamp carried in the value), from the
// actual send or, with --latency-from scheduled, from the time the open-loop
// schedule made the record due (no coordinated omission). --json prints one
// LoadResult line instead (bench/load/load_result.h), as make compare's
// peer load generators do.

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <type_traits>

#include "bench/load/group_bench_modes.h"
#include "bench/load/histogram.h"
#include "bench/load/load_result.h"
#include "bench/load/telemetry_modes.h"
#include "telemq/admin.h"
#include "telemq/consumer.h"
#include "telemq/producer.h"

namespace {

using Clock = std::chrono::steady_clock;
using telemq::bench::Histogram;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

struct Common {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "perf";
  int32_t partitions = 1;
  int64_t records = 1'000'000;
  double duration_s = 0;
  size_t record_size = 100;
  std::string acks = "leader";
  std::string compression = "none";
  size_t batch_bytes = 256 * 1024;
  int linger_ms = 5;
  size_t buffer_bytes = 64 << 20;
  int key_count = 1000;
  int max_in_flight = telemq::ProducerOptions{}.max_in_flight_per_partition;
  bool json = false;
  std::string latency_from = "send";
};

int Fail(const std::string& what, const telemq::Error& e) {
  std::fprintf(stderr, "telemq-bench: %s: %s\n", what.c_str(), e.ToString().c_str());
  return 1;
}

telemq::Result<int32_t> EnsureTopic(const Common& c, const telemq::ClientOptions& client) {
  TELEMQ_ASSIGN_OR_RETURN(auto admin, telemq::Admin::Create(client));
  auto d = admin->DescribeTopic(c.topic, false);
  if (d) return static_cast<int32_t>(d->partitions.size());
  if (d.error().code() != telemq::Errc::kNotFound) return tl::unexpected(d.error());
  telemq::NewTopic spec;
  spec.partitions = c.partitions;
  TELEMQ_TRY(admin->CreateTopic(c.topic, spec));
  return c.partitions;
}

void PrintLatency(const char* what, const Histogram& h) {
  std::printf("%s latency us: p50 %llu  p99 %llu  p99.9 %llu  max %llu  (n=%llu)\n", what,
              static_cast<unsigned long long>(h.Percentile(0.50)), static_cast<unsigned long long>(h.Percentile(0.99)),
              static_cast<unsigned long long>(h.Percentile(0.999)), static_cast<unsigned long long>(h.max()),
              static_cast<unsigned long long>(h.count()));
}

telemq::ProducerOptions MakeProducerOptions(const Common& c, const telemq::ClientOptions& client) {
  telemq::ProducerOptions o;
  o.client = client;
  o.acks = c.acks == "all" ? telemq::Acks::kAll : telemq::Acks::kLeader;
  o.compression = c.compression == "lz4"    ? telemq::Compression::kLz4
                  : c.compression == "zstd" ? telemq::Compression::kZstd
                                            : telemq::Compression::kNone;
  o.batch_bytes = c.batch_bytes;
  o.linger = std::chrono::milliseconds(c.linger_ms);
  o.buffer_bytes = c.buffer_bytes;
  o.max_in_flight_per_partition = c.max_in_flight;
  return o;
}

// Random printable payload, fixed per run: the broker's work does not depend
// on the bytes, but compressors do, so the values are not all zeros.
std::string MakePayload(size_t size) {
  std::string s(size, ' ');
  std::mt19937 rng(7);
  for (auto& ch : s) ch = static_cast<char>('a' + rng() % 26);
  return s;
}

// Open-loop pacing: record i is due at start + i/rate, whatever happened
// before, so a slow broker shows up as latency rather than a lower offer.
void PaceTo(Clock::time_point start, int64_t i, double rate) {
  if (rate <= 0) return;
  const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / rate));
  // Sleep rather than spin: on a 2-core machine a spinning load generator
  // takes a core from the broker it measures. Records that fall due during
  // the sleep leave together, each timed from its actual send.
  while (Clock::now() < due) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

int RunProduce(const Common& c, const telemq::ClientOptions& client, double rate) {
  auto parts = EnsureTopic(c, client);
  if (!parts) return Fail("topic", parts.error());
  auto producer = telemq::Producer::Create(MakeProducerOptions(c, client));
  if (!producer) return Fail("producer", producer.error());
  const std::string payload = MakePayload(c.record_size);
  std::vector<std::string> keys;
  for (int i = 0; i < c.key_count; ++i) keys.push_back("gpu-" + std::to_string(i));
  // Touched by the producer's I/O thread (callbacks); read after Flush.
  struct Acks {
    Histogram hist;
    std::atomic<int64_t> acked{0}, failed{0};
  } acks;
  const auto start = Clock::now();
  const auto deadline =
      c.duration_s > 0 ? start + std::chrono::duration<double>(c.duration_s) : Clock::time_point::max();
  int64_t sent = 0;
  for (; c.duration_s > 0 || sent < c.records; ++sent) {
    PaceTo(start, sent, rate);
    // One clock read per record serves the deadline and the send stamp.
    const auto now = Clock::now();
    if (now >= deadline) break;
    const int64_t t0 = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    auto done = [a = &acks, t0](const telemq::Result<telemq::RecordMetadata>& m) {
      if (m) {
        // The producer's ack time for the record's batch: one clock read per
        // batch, not per record.
        a->hist.Record(
            std::chrono::duration_cast<std::chrono::microseconds>(m->acknowledged_at.time_since_epoch()).count() - t0);
        a->acked.fetch_add(1, std::memory_order_relaxed);
      } else {
        a->failed.fetch_add(1, std::memory_order_relaxed);
      }
    };
    // Two words, trivially copyable: std::function keeps it in its inline
    // storage (libstdc++: 16 bytes), so a record costs no allocation here.
    static_assert(sizeof(done) <= 2 * sizeof(void*) && std::is_trivially_copyable_v<decltype(done)>);
    auto r = (*producer)->Send(c.topic, keys[sent % keys.size()], payload, done);
    if (!r) return Fail("send", r.error());
  }
  Histogram& hist = acks.hist;
  std::atomic<int64_t>& acked = acks.acked;
  std::atomic<int64_t>& failed = acks.failed;
  if (auto r = (*producer)->Flush(); !r) return Fail("flush", r.error());
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (c.json) {
    telemq::bench::LoadResult out{.system = "telemq",
                                  .mode = "publish",
                                  .topic = c.topic,
                                  .partitions = *parts,
                                  .record_size = c.record_size,
                                  .records = acked.load(),
                                  .failed = failed.load(),
                                  .seconds = secs,
                                  .async = "Producer::Send, batch " + std::to_string(c.batch_bytes) + " B, linger " +
                                           std::to_string(c.linger_ms) + " ms, buffer " +
                                           std::to_string(c.buffer_bytes) + " B, acks=" + c.acks,
                                  .latency = &hist};
    std::printf("%s\n", out.ToJsonLine().c_str());
    return failed.load() > 0 ? 1 : 0;
  }
  const double mb = static_cast<double>(acked.load()) * static_cast<double>(c.record_size) / 1e6;
  std::printf(
      "produce: %lld records in %.2f s: %.0f records/s, %.1f MB/s (values), acks=%s, %d partition(s), failed=%lld\n",
      static_cast<long long>(acked.load()), secs, acked.load() / secs, mb / secs, c.acks.c_str(), *parts,
      static_cast<long long>(failed.load()));
  PrintLatency("produce→ack", hist);
  return failed.load() > 0 ? 1 : 0;
}

int RunConsume(const Common& c, const telemq::ClientOptions& client) {
  auto admin = telemq::Admin::Create(client);
  if (!admin) return Fail("admin", admin.error());
  auto d = (*admin)->DescribeTopic(c.topic, false);
  if (!d) return Fail("describe", d.error());
  telemq::ConsumerOptions o;
  o.client = client;
  auto consumer = telemq::Consumer::Create(o);
  if (!consumer) return Fail("consumer", consumer.error());
  std::vector<telemq::TopicPartition> tps;
  for (const auto& p : d->partitions) tps.push_back({c.topic, p.partition});
  if (auto r = (*consumer)->Assign(tps); !r) return Fail("assign", r.error());
  const auto start = Clock::now();
  int64_t n = 0, bytes = 0;
  auto last = start;
  while (n < c.records) {
    auto recs = (*consumer)->Poll(std::chrono::milliseconds(500));
    if (!recs) return Fail("poll", recs.error());
    if (recs->empty()) {
      if (Clock::now() - last > std::chrono::seconds(10)) {
        std::fprintf(stderr, "telemq-bench: no records for 10 s after %lld\n", static_cast<long long>(n));
        break;
      }
      continue;
    }
    last = Clock::now();
    for (const auto& r : *recs) bytes += static_cast<int64_t>(r.value ? r.value->size() : 0);
    n += static_cast<int64_t>(recs->size());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (c.json) {
    telemq::bench::LoadResult out{.system = "telemq",
                                  .mode = "consume",
                                  .topic = c.topic,
                                  .partitions = static_cast<int>(tps.size()),
                                  .record_size = c.record_size,
                                  .records = n,
                                  .seconds = secs,
                                  .async = "Consumer::Poll over all partitions"};
    std::printf("%s\n", out.ToJsonLine().c_str());
    return n >= c.records ? 0 : 1;
  }
  std::printf("consume: %lld records in %.2f s: %.0f records/s, %.1f MB/s (values)\n", static_cast<long long>(n), secs,
              n / secs, bytes / 1e6 / secs);
  return n >= c.records ? 0 : 1;
}

int RunEndToEnd(const Common& c, const telemq::ClientOptions& client, double rate) {
  auto parts = EnsureTopic(c, client);
  if (!parts) return Fail("topic", parts.error());
  telemq::ConsumerOptions co;
  co.client = client;
  co.fetch_max_wait = std::chrono::milliseconds(100);
  auto consumer = telemq::Consumer::Create(co);
  if (!consumer) return Fail("consumer", consumer.error());
  std::vector<telemq::TopicPartition> tps;
  for (int32_t p = 0; p < *parts; ++p) tps.push_back({c.topic, p});
  if (auto r = (*consumer)->Assign(tps); !r) return Fail("assign", r.error());
  if (auto r = (*consumer)->SeekToEnd(tps); !r) return Fail("seek", r.error());
  auto producer = telemq::Producer::Create(MakeProducerOptions(c, client));
  if (!producer) return Fail("producer", producer.error());

  const double duration = c.duration_s > 0 ? c.duration_s : 10.0;
  const int64_t total = static_cast<int64_t>(rate * duration);
  std::atomic<bool> producing_done{false};
  Histogram e2e;
  std::thread reader([&]() {
    int64_t seen = 0;
    auto idle_since = Clock::now();
    while (seen < total) {
      auto recs = (*consumer)->Poll(std::chrono::milliseconds(100));
      if (!recs) {
        std::fprintf(stderr, "telemq-bench: poll: %s\n", recs.error().ToString().c_str());
        return;
      }
      const int64_t now = NowMicros();
      for (const auto& r : *recs) {
        int64_t sent_us = 0;
        if (r.value && r.value->size() >= sizeof(sent_us)) std::memcpy(&sent_us, r.value->data(), sizeof(sent_us));
        e2e.Record(now - sent_us);
      }
      seen += static_cast<int64_t>(recs->size());
      if (!recs->empty()) idle_since = Clock::now();
      if (producing_done && Clock::now() - idle_since > std::chrono::seconds(5)) break;
    }
  });
  std::string payload = MakePayload(std::max<size_t>(c.record_size, 8));
  const auto start = Clock::now();
  const int64_t start_us = std::chrono::duration_cast<std::chrono::microseconds>(start.time_since_epoch()).count();
  const bool scheduled = c.latency_from == "scheduled";
  for (int64_t i = 0; i < total; ++i) {
    PaceTo(start, i, rate);
    // The due time of record i, or the actual send time.
    const int64_t now = scheduled ? start_us + static_cast<int64_t>(static_cast<double>(i) * 1e6 / rate) : NowMicros();
    std::memcpy(payload.data(), &now, sizeof(now));
    auto r = (*producer)->Send(c.topic, "gpu-" + std::to_string(i % c.key_count), payload);
    if (!r) return Fail("send", r.error());
  }
  if (auto r = (*producer)->Flush(); !r) return Fail("flush", r.error());
  producing_done = true;
  reader.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (c.json) {
    telemq::bench::LoadResult out{.system = "telemq",
                                  .mode = "e2e",
                                  .topic = c.topic,
                                  .partitions = *parts,
                                  .record_size = c.record_size,
                                  .records = static_cast<int64_t>(e2e.count()),
                                  .seconds = secs,
                                  .latency_from = c.latency_from,
                                  .async = "Producer::Send at a fixed rate, linger " + std::to_string(c.linger_ms) +
                                           " ms, acks=" + c.acks + "; Consumer::Poll",
                                  .latency = &e2e};
    std::printf("%s\n", out.ToJsonLine().c_str());
    return e2e.count() >= static_cast<uint64_t>(total) ? 0 : 1;
  }
  std::printf("e2e: %llu records received at target %.0f records/s over %.1f s\n",
              static_cast<unsigned long long>(e2e.count()), rate, secs);
  PrintLatency("produce→consume", e2e);
  return e2e.count() >= static_cast<uint64_t>(total) ? 0 : 1;
}

// The raw durability cost of this disk, for reading fsync=always figures
// against: 4 KiB overwrite + fdatasync on a preallocated file, as the
// broker's segments are (DESIGN.md §8).
int RunFsyncProbe(const std::string& dir, double seconds) {
  const std::string path = dir + "/telemq-fsync-probe.tmp";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("telemq-bench: fsync-probe open");
    return 1;
  }
  constexpr size_t kBlock = 4096, kFileBytes = 64 << 20;
  if (::posix_fallocate(fd, 0, kFileBytes) != 0) {
    std::fprintf(stderr, "telemq-bench: fsync-probe: fallocate failed\n");
  }
  std::string block(kBlock, 'x');
  Histogram h;
  const auto start = Clock::now();
  uint64_t n = 0;
  while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
    const int64_t t0 = NowMicros();
    if (::pwrite(fd, block.data(), kBlock, static_cast<off_t>((n * kBlock) % kFileBytes)) !=
            static_cast<ssize_t>(kBlock) ||
        ::fdatasync(fd) != 0) {
      std::perror("telemq-bench: fsync-probe write");
      break;
    }
    h.Record(NowMicros() - t0);
    ++n;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  ::unlink(path.c_str());
  std::printf("fsync-probe: %.0f fdatasyncs/s (4 KiB overwrite, preallocated) in %s\n", n / secs, dir.c_str());
  PrintLatency("pwrite+fdatasync", h);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"telemq-bench: producer, consumer and end-to-end load against a running broker"};
  app.require_subcommand(1);
  app.fallthrough();  // shared options may follow the subcommand
  Common c;
  app.add_option("-b,--bootstrap", c.bootstrap, "Broker host:port");
  app.add_option("-t,--topic", c.topic, "Topic (created if missing)");
  app.add_option("-p,--partitions", c.partitions, "Partitions when the topic is created (default 1)");
  app.add_option("-n,--records", c.records, "Records to send / receive (default 1000000)");
  app.add_option("-d,--duration-s", c.duration_s, "Run for this many seconds instead of a count");
  app.add_option("-s,--record-size", c.record_size, "Value bytes (default 100)");
  app.add_option("--acks", c.acks, "leader|all")->check(CLI::IsMember({"leader", "all"}));
  app.add_option("--compression", c.compression, "none|lz4|zstd")->check(CLI::IsMember({"none", "lz4", "zstd"}));
  app.add_option("--batch-bytes", c.batch_bytes, "Producer batch size (default 256 KiB)");
  app.add_option("--linger-ms", c.linger_ms, "Producer linger (default 5)");
  app.add_option("--buffer-bytes", c.buffer_bytes, "Producer buffer (default 64 MiB)");
  app.add_option("--keys", c.key_count, "Distinct keys cycled through (default 1000)");
  app.add_option("--max-in-flight", c.max_in_flight, "Producer requests in flight per partition, 1..8 (default 5)")
      ->check(CLI::Range(1, 8));
  app.add_flag("--json", c.json, "produce, consume, e2e: print one JSON result line (bench/load/load_result.h)");
  auto* produce = app.add_subcommand("produce", "Producer throughput and send→ack latency");
  double produce_rate = 0;
  produce->add_option("-r,--rate", produce_rate, "Target records/s (default 0: as fast as possible)");
  auto* probe = app.add_subcommand("fsync-probe", "Raw 4 KiB write+fdatasync rate of a directory's disk");
  std::string probe_dir = ".";
  double probe_seconds = 3;
  probe->add_option("--dir", probe_dir, "Directory on the disk to measure (default .)");
  probe->add_option("--seconds", probe_seconds, "How long (default 3)");
  auto* consume = app.add_subcommand("consume", "Consumer throughput from the earliest offset");
  auto* e2e = app.add_subcommand("e2e", "End-to-end latency at a fixed rate");
  double rate = 50'000;
  e2e->add_option("-r,--rate", rate, "Target records/s (default 50000)");
  e2e->add_option("--latency-from", c.latency_from,
                  "send (default): from the actual send; scheduled: from the time the record fell due")
      ->check(CLI::IsMember({"send", "scheduled"}));
  telemq::bench::GroupLoadMode group_load(app);
  telemq::bench::TelemetryHistoryMode telemetry_history(app);
  CLI11_PARSE(app, argc, argv);
  if (group_load.selected()) return group_load.Run(c.bootstrap);
  if (telemetry_history.selected()) return telemetry_history.Run(c.bootstrap);
  telemq::ClientOptions client;
  client.bootstrap_servers = {c.bootstrap};
  if (*produce) return RunProduce(c, client, produce_rate);
  if (*probe) return RunFsyncProbe(probe_dir, probe_seconds);
  if (*consume) return RunConsume(c, client);
  if (*e2e) return RunEndToEnd(c, client, rate);
  return 2;
}
