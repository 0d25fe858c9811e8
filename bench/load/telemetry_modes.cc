#include "bench/load/telemetry_modes.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "telemetry/generator.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"

namespace telemq::bench {

namespace {

std::string Rfc3339(int64_t us) {
  const std::time_t s = us / 1'000'000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(us % 1'000'000));
  return out;
}

}  // namespace

TelemetryHistoryMode::TelemetryHistoryMode(CLI::App& app) {
  cmd_ = app.add_subcommand("telemetry-history",
                            "Write a known telemetry history (synthetic GPUs, one snapshot per step over the past)");
  cmd_->add_option("--topic", topic_, "Telemetry topic (created if missing)");
  cmd_->add_option("--topic-partitions", partitions_, "Partitions when the topic is created (default 16)");
  cmd_->add_option("--hosts", hosts_, "Synthetic hosts (default 1)");
  cmd_->add_option("--gpus", gpus_, "GPUs per host (default 1)");
  cmd_->add_option("--seconds", seconds_, "History length, ending now (default 3600)");
  cmd_->add_option("--step-ms", step_ms_, "Time between snapshots of a GPU (default 1000)")->check(CLI::PositiveNumber);
  cmd_->add_option("--uuid-file", uuid_file_, "Write the GPU UUIDs here, one a line");
}

int TelemetryHistoryMode::Run(const std::string& bootstrap) {
  ClientOptions client;
  client.bootstrap_servers = {bootstrap};
  auto admin = Admin::Create(client);
  if (!admin) {
    std::fprintf(stderr, "admin: %s\n", admin.error().ToString().c_str());
    return 1;
  }
  if (auto d = (*admin)->DescribeTopic(topic_, false); !d) {
    NewTopic spec;
    spec.partitions = partitions_;
    if (auto r = (*admin)->CreateTopic(topic_, spec); !r) {
      std::fprintf(stderr, "create topic: %s\n", r.error().ToString().c_str());
      return 1;
    }
  }
  ProducerOptions po;
  po.client = client;
  po.compression = Compression::kLz4;
  po.linger = std::chrono::milliseconds(10);
  auto producer = Producer::Create(po);
  if (!producer) {
    std::fprintf(stderr, "producer: %s\n", producer.error().ToString().c_str());
    return 1;
  }
  const telemetry::SyntheticFleet fleet(hosts_, gpus_, /*seed=*/1);
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t step_us = int64_t{step_ms_} * 1000;
  const int64_t snapshots = int64_t{seconds_} * 1000 / step_ms_;
  const int64_t start_us = now_us - (snapshots - 1) * step_us;
  std::vector<telemetry::TelemetryPoint> points;
  uint64_t sent = 0;
  std::atomic<uint64_t> failed{0};
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < snapshots; ++i) {
    const int64_t ts = start_us + i * step_us;
    for (size_t g = 0; g < fleet.gpus().size(); ++g) {
      points.clear();
      fleet.SampleGpu(g, static_cast<double>(ts) / 1e6, &points);
      for (auto& p : points) {
        p.timestamp_us = ts;
        auto value = telemetry::EncodePoint(p);
        if (!value) {
          std::fprintf(stderr, "encode: %s\n", value.error().ToString().c_str());
          return 1;
        }
        auto r = (*producer)->Send(
            topic_, p.gpu_uuid, *value,
            [&failed](const Result<RecordMetadata>& m) {
              if (!m) failed.fetch_add(1);
            },
            ts / 1000);
        if (!r) {
          std::fprintf(stderr, "send: %s\n", r.error().ToString().c_str());
          return 1;
        }
        ++sent;
      }
    }
  }
  if (auto r = (*producer)->Flush(); !r) {
    std::fprintf(stderr, "flush: %s\n", r.error().ToString().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (failed.load() != 0) {
    std::fprintf(stderr, "%llu sends failed\n", static_cast<unsigned long long>(failed.load()));
    return 1;
  }
  std::printf("wrote %llu points (%zu GPUs x %lld snapshots x %zu fields) in %.1f s\n",
              static_cast<unsigned long long>(sent), fleet.gpus().size(), static_cast<long long>(snapshots),
              telemetry::kDcgmFieldCount, secs);
  std::printf("window start_time=%s end_time=%s\n", Rfc3339(start_us).c_str(),
              Rfc3339(start_us + (snapshots - 1) * step_us).c_str());
  std::ofstream uuids;
  if (!uuid_file_.empty()) uuids.open(uuid_file_);
  for (const auto& gpu : fleet.gpus()) {
    std::printf("gpu %s host %s\n", gpu.uuid.c_str(), gpu.hostname.c_str());
    if (uuids) uuids << gpu.uuid << '\n';
  }
  return 0;
}

}  // namespace telemq::bench
