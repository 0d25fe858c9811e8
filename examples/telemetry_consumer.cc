// A member of a consumer group reading GPU telemetry points: prints each
// point, commits what it read, and leaves the group.
//
//   telemetry_consumer --bootstrap 127.0.0.1:9092 [--topic gpu.telemetry]
//                      [--group example-readers] --expect N [--timeout-s 30]
//
// The group's committed offsets say where it starts (the earliest offset
// the first time), so a second run reads only what was written since. Exits
// 0 after exactly N points (and none more within a second), 1 when a value
// is not a telemetry point, fewer arrived within the timeout, or more.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry_point.h"
#include "telemq/consumer.h"

namespace {

struct Args {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "gpu.telemetry";
  std::string group = "example-readers";
  int expect = 0;
  int timeout_s = 30;
};

bool Parse(int argc, char** argv, Args& args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--bootstrap") {
      args.bootstrap = value;
    } else if (flag == "--topic") {
      args.topic = value;
    } else if (flag == "--group") {
      args.group = value;
    } else if (flag == "--expect") {
      args.expect = std::atoi(value);
    } else if (flag == "--timeout-s") {
      args.timeout_s = std::atoi(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && args.expect > 0 && args.timeout_s > 0;
}

// Says which partitions the group gave this member.
class LogRebalance : public telemq::RebalanceListener {
 public:
  void OnPartitionsAssigned(const std::vector<telemq::TopicPartition>& partitions) override {
    for (const auto& tp : partitions) std::printf("assigned %s\n", telemq::ToString(tp).c_str());
  }
  void OnPartitionsRevoked(const std::vector<telemq::TopicPartition>& partitions) override {
    for (const auto& tp : partitions) std::printf("revoked %s\n", telemq::ToString(tp).c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, args)) {
    std::fprintf(stderr, "usage: %s --expect n [--bootstrap host:port] [--topic name] [--group id] [--timeout-s s]\n",
                 argv[0]);
    return 2;
  }
  telemq::ConsumerOptions options;
  options.client.bootstrap_servers = {args.bootstrap};
  options.client.client_id = "example-consumer";
  auto consumer = telemq::Consumer::Create(options);
  if (!consumer) {
    std::fprintf(stderr, "consumer: %s\n", consumer.error().ToString().c_str());
    return 1;
  }
  telemq::Consumer& c = **consumer;
  telemq::GroupOptions group;
  group.group_id = args.group;
  group.auto_commit = telemq::AutoCommit::kDisabled;  // commits are explicit here: after each poll's points
  if (auto subscribed = c.Subscribe({args.topic}, group, std::make_shared<LogRebalance>()); !subscribed) {
    std::fprintf(stderr, "subscribe: %s\n", subscribed.error().ToString().c_str());
    return 1;
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args.timeout_s);
  std::map<std::string, int> points_per_gpu;
  int read = 0;
  bool ok = true;
  // Until the expected points arrived, then one more second to see that no
  // further one does.
  auto linger_until = std::chrono::steady_clock::time_point::max();
  while (ok && std::chrono::steady_clock::now() < std::min(deadline, linger_until)) {
    auto records = c.Poll(std::chrono::milliseconds(200));
    if (!records) {
      std::fprintf(stderr, "poll: %s\n", records.error().ToString().c_str());
      ok = false;
      break;
    }
    for (const telemq::ConsumerRecord& r : *records) {
      const auto point = r.value ? example::DecodePoint(*r.value) : std::nullopt;
      if (!point || !r.key || *r.key != point->gpu_uuid) {
        std::fprintf(stderr, "%s:%d@%lld is not a telemetry point keyed by its GPU\n", std::string(r.topic).c_str(),
                     r.partition, static_cast<long long>(r.offset.value()));
        ok = false;
        break;
      }
      std::printf("%d:%lld %s %s gpu %d %s = %g\n", r.partition, static_cast<long long>(r.offset.value()),
                  point->hostname.c_str(), point->gpu_uuid.c_str(), point->gpu_id, point->metric_name.c_str(),
                  point->value);
      ++points_per_gpu[point->gpu_uuid];
      ++read;
    }
    if (!records->empty()) {
      if (auto committed = c.CommitSync(); !committed) {
        std::fprintf(stderr, "commit: %s\n", committed.error().ToString().c_str());
        ok = false;
      }
    }
    if (read >= args.expect && linger_until == std::chrono::steady_clock::time_point::max()) {
      linger_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
  }
  c.Close();  // leaves the group: its partitions go to the other members at once

  for (const auto& [gpu, n] : points_per_gpu) std::printf("%s: %d points\n", gpu.c_str(), n);
  std::printf("read %d of %d expected points\n", read, args.expect);
  return ok && read == args.expect ? 0 : 1;
}
