// Writes a few GPU telemetry points to the telemetry topic, keyed by GPU
// UUID, and waits until the broker acknowledged every one of them.
//
//   telemetry_producer --bootstrap 127.0.0.1:9092 [--topic gpu.telemetry]
//                      [--points 24] [--hostname example-host]
//
// Creates the topic (4 partitions) when it does not exist. Exits 0 once all
// points are acknowledged, 1 on any failure.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "telemetry_point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"

namespace {

struct Args {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "gpu.telemetry";
  int points = 24;
  std::string hostname = "example-host";
};

bool Parse(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--bootstrap") {
      args.bootstrap = value;
    } else if (flag == "--topic") {
      args.topic = value;
    } else if (flag == "--points") {
      args.points = std::atoi(value);
    } else if (flag == "--hostname") {
      args.hostname = value;
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && args.points > 0;
}

// One of four GPUs of the host, three DCGM metrics each, round robin.
example::Point MakePoint(const std::string& hostname, int i) {
  static constexpr std::string_view kMetrics[] = {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP",
                                                  "DCGM_FI_DEV_POWER_USAGE"};
  const int gpu = i % 4;
  uint32_t host_hash = 2166136261u;  // FNV-1a: the same UUIDs on every run
  for (unsigned char ch : hostname) host_hash = (host_hash ^ ch) * 16777619u;
  char uuid[64];
  std::snprintf(uuid, sizeof uuid, "GPU-%08x-0000-4000-8000-%012d", host_hash, gpu);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {.gpu_uuid = uuid,
          .gpu_id = gpu,
          .device = "nvidia" + std::to_string(gpu),
          .model_name = "NVIDIA H100 80GB HBM3",
          .hostname = hostname,
          .metric_name = std::string(kMetrics[(i / 4) % 3]),
          .value = 40.0 + i,
          .timestamp_us = std::chrono::duration_cast<std::chrono::microseconds>(now).count()};
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, args)) {
    std::fprintf(stderr, "usage: %s [--bootstrap host:port] [--topic name] [--points n] [--hostname name]\n", argv[0]);
    return 2;
  }
  // Options are plain structs with documented defaults: set what differs.
  telemq::ClientOptions client;
  client.bootstrap_servers = {args.bootstrap};
  client.client_id = "example-producer";

  auto admin = telemq::Admin::Create(client);
  if (!admin) {
    std::fprintf(stderr, "admin: %s\n", admin.error().ToString().c_str());
    return 1;
  }
  telemq::NewTopic topic;
  topic.partitions = 4;
  if (auto created = (*admin)->CreateTopic(args.topic, topic);
      !created && created.error().code() != telemq::Errc::kAlreadyExists) {
    std::fprintf(stderr, "create topic %s: %s\n", args.topic.c_str(), created.error().ToString().c_str());
    return 1;
  }

  telemq::ProducerOptions options;
  options.client = client;
  options.linger = std::chrono::milliseconds(2);
  auto producer = telemq::Producer::Create(options);
  if (!producer) {
    std::fprintf(stderr, "producer: %s\n", producer.error().ToString().c_str());
    return 1;
  }
  std::atomic<int> acknowledged{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < args.points; ++i) {
    const example::Point point = MakePoint(args.hostname, i);
    const std::string value = example::EncodePoint(point);
    // The key picks the partition: all points of one GPU stay in order.
    auto sent =
        (*producer)->Send(args.topic, point.gpu_uuid, value, [&](const telemq::Result<telemq::RecordMetadata>& r) {
          if (r) {
            acknowledged.fetch_add(1);
          } else {
            failed.fetch_add(1);
            std::fprintf(stderr, "not delivered: %s\n", r.error().ToString().c_str());
          }
        });
    if (!sent) {
      std::fprintf(stderr, "send: %s\n", sent.error().ToString().c_str());
      return 1;
    }
  }
  if (auto flushed = (*producer)->Flush(std::chrono::seconds(30)); !flushed) {
    std::fprintf(stderr, "flush: %s\n", flushed.error().ToString().c_str());
    return 1;
  }
  (*producer)->Close();
  std::printf("produced %d points to %s, %d acknowledged\n", args.points, args.topic.c_str(), acknowledged.load());
  return failed.load() == 0 && acknowledged.load() == args.points ? 0 : 1;
}
