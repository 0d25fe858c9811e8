// The whole pipeline with real processes on 127.0.0.1: three telemq-broker
// processes as one cluster (BrokerCluster; the telemetry topic replicated
// three times), telemq-streamer, two telemq-collector members, one
// telemq-gateway. Checks what a user sees through the REST API:
//  * a single pass over the real DCGM export, surviving a collector kill -9
//    followed by a new collector joining: once the group settles, every GPU
//    is answered with all its points and none twice (needs
//    ../shared/data/dcgm_metrics_20250718_134233.csv; skips without it);
//  * a synthetic fleet streamed while the broker leading the most telemetry
//    partitions, and later the one coordinating the collectors' group, are
//    killed with kill -9 and restarted: every point the brokers acknowledged
//    to the streamer is answered exactly once.

#include <gtest/gtest.h>
#include <httplib.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "telemq/admin.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/http_get.h"
#include "tests/support/str.h"

namespace telemq::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kTopic = "gpu.telemetry";
constexpr const char* kCollectorGroup = "telemq-collectors";
constexpr int kExportPoints = 2470;
constexpr int kExportGpus = 247;

// Three brokers as one cluster; members heartbeat every 200 ms so
// rebalances settle quickly. The bootstrap list names all three.
std::unique_ptr<BrokerCluster> StartCluster() {
  auto cluster = BrokerCluster::Start({.args = {"--group-heartbeat-interval-ms", "200"}});
  EXPECT_TRUE(cluster) << (cluster ? "" : cluster.error().ToString());
  return cluster ? std::move(*cluster) : nullptr;
}

std::string Bootstrap(const BrokerCluster& cluster) {
  std::string out;
  for (const auto& a : cluster.addresses()) out += (out.empty() ? "" : ",") + a;
  return out;
}

HttpAnswer Get(uint16_t port, const std::string& target) { return HttpGet(port, target); }

std::unique_ptr<AppProcess> StartCollector(const std::string& bootstrap, const std::string& name) {
  auto app = AppProcess::Start({.binary = CollectorBinary(),
                                .args = {"--bootstrap", bootstrap, "--topic", kTopic,
                                         // Short sessions so a killed member's partitions move quickly.
                                         "--session-timeout-ms", "2000"},
                                .name = name,
                                .data_dir_flag = "--data-dir"});
  EXPECT_TRUE(app.has_value()) << (app ? "" : app.error().ToString());
  return app ? std::move(*app) : nullptr;
}

// "2026-11-22T10:08:50.773737Z" <-> microseconds since the epoch (the
// gateway always answers in UTC with six fraction digits).
int64_t ParseUtcMicros(const std::string& t) {
  std::tm tm{};
  int micros = 0;
  EXPECT_EQ(std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                        &tm.tm_min, &tm.tm_sec, &micros),
            7)
      << t;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return int64_t{timegm(&tm)} * 1'000'000 + micros;
}

std::string FormatUtcMicros(int64_t us) {
  const std::time_t s = us / 1'000'000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(us % 1'000'000));
  return buf;
}

size_t WindowCount(uint16_t port, const std::string& uuid, int64_t start_us, int64_t end_us) {
  const auto a = Get(port, "/api/v1/gpus/" + uuid + "/telemetry?start_time=" + FormatUtcMicros(start_us) +
                               "&end_time=" + FormatUtcMicros(end_us));
  EXPECT_EQ(a.status, 200) << a.body;
  return a.status == 200 ? json::parse(a.body).at("points").size() : 0;
}

// Every point of one GPU through the API, following next_cursor; nullopt
// (with the failing request in `why`) when a page is not a 200.
std::optional<std::vector<json>> TryAllPoints(uint16_t port, const std::string& uuid, int limit, std::string* why) {
  std::vector<json> points;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/api/v1/gpus/" + uuid + "/telemetry?limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + httplib::detail::encode_query_param(cursor);
    const auto a = Get(port, target);
    if (a.status != 200) {
      *why = target + " -> " + std::to_string(a.status) + " " + a.body;
      return std::nullopt;
    }
    const auto j = json::parse(a.body);
    for (const auto& p : j.at("points")) points.push_back(p);
    if (!j.contains("next_cursor") || j["next_cursor"].is_null()) return points;
    cursor = j["next_cursor"].get<std::string>();
  }
  ADD_FAILURE() << "more than 1000 pages for " << uuid;
  return points;
}

std::vector<json> AllPoints(uint16_t port, const std::string& uuid, int limit) {
  std::string why;
  auto points = TryAllPoints(port, uuid, limit, &why);
  if (!points) ADD_FAILURE() << why;
  return points.value_or(std::vector<json>{});
}

// uuid -> number of points, read through the gateway; nullopt until every
// GPU answers 200. No point may come twice.
std::optional<std::map<std::string, size_t>> PointsPerGpu(uint16_t port, int limit = 100) {
  const auto list = Get(port, "/api/v1/gpus");
  if (list.status != 200) return std::nullopt;
  const auto j = json::parse(list.body);
  std::map<std::string, size_t> out;
  for (const auto& g : j.at("gpus")) {
    const std::string uuid = g.at("uuid");
    std::string why;
    const auto points = TryAllPoints(port, uuid, limit, &why);
    if (!points) return std::nullopt;
    std::set<std::pair<std::string, std::string>> seen;  // (timestamp, metric)
    for (const auto& p : *points) {
      EXPECT_TRUE(seen.emplace(p.at("timestamp").get<std::string>(), p.at("metric").get<std::string>()).second)
          << "duplicate point for " << uuid << ": " << p.dump();
    }
    out[uuid] = points->size();
  }
  return out;
}

TEST(PipelineTest, RealExportThroughTheApiSurvivesACollectorCrash) {
  const std::string csv = TELEMQ_DCGM_SAMPLE_CSV;
  if (!std::filesystem::exists(csv)) GTEST_SKIP() << csv << " is absent";
  for (const auto& bin : {StreamerBinary(), CollectorBinary(), GatewayBinary()}) {
    ASSERT_FALSE(bin.empty()) << "an app binary was not built";
  }

  auto cluster = StartCluster();
  ASSERT_TRUE(cluster);
  const std::string bootstrap = Bootstrap(*cluster);
  ASSERT_TRUE(cluster->admin().CreateTopic(kTopic, {.partitions = 8}));  // the cluster's default: RF3
  auto collector_a = StartCollector(bootstrap, "collector-a");
  auto collector_b = StartCollector(bootstrap, "collector-b");
  ASSERT_TRUE(collector_a && collector_b);
  auto gateway = AppProcess::Start(
      {.binary = GatewayBinary(), .args = {"--bootstrap", bootstrap, "--topic", kTopic}, .name = "gateway"});
  ASSERT_TRUE(gateway) << gateway.error().ToString();
  const uint16_t api = (*gateway)->http_port();

  // One pass over the export: the streamer exits 0 once every point is acknowledged.
  {
    auto streamer = AppProcess::Start(
        {.binary = StreamerBinary(),
         .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--source", "csv:" + csv, "--interval", "0s"},
         .name = "streamer"});
    ASSERT_TRUE(streamer) << streamer.error().ToString();
    auto exit = (*streamer)->Poll();
    ASSERT_TRUE(WaitFor([&] { return (exit = (*streamer)->Poll()).has_value(); }, seconds(60)))
        << (*streamer)->LogTail();
    ASSERT_FALSE(exit->signaled) << exit->ToString();
    ASSERT_EQ(exit->exit_code, 0) << (*streamer)->LogTail();
  }

  // Readiness: every partition has a serving owner, and all points are visible.
  std::optional<std::map<std::string, size_t>> counts;
  // Ready, and every GPU of the export answers with all its points.
  const auto all_answered = [&] {
    if (Get(api, "/readyz").status != 200) return false;
    counts = PointsPerGpu(api);
    if (!counts) return false;
    size_t total = 0;
    for (const auto& [uuid, n] : *counts) total += n;
    return counts->size() == kExportGpus && total == kExportPoints;
  };
  ASSERT_TRUE(WaitFor(all_answered, seconds(60))) << "gpus " << (counts ? counts->size() : 0);
  for (const auto& [uuid, n] : *counts) EXPECT_EQ(n, 10u) << uuid;

  // The listing carries identity from the export.
  {
    const auto list = json::parse(Get(api, "/api/v1/gpus").body);
    ASSERT_EQ(list.at("gpus").size(), static_cast<size_t>(kExportGpus));
    std::set<std::string> hosts;
    for (const auto& g : list.at("gpus")) {
      EXPECT_EQ(g.at("model_name"), "NVIDIA H100 80GB HBM3");
      hosts.insert(g.at("hostname").get<std::string>());
    }
    EXPECT_EQ(hosts.size(), 31u);
  }
  // Ordered by time, and a window whose bounds equal one point's timestamp returns it.
  {
    const std::string uuid = counts->begin()->first;
    const auto points = AllPoints(api, uuid, 3);
    ASSERT_EQ(points.size(), 10u);
    for (size_t i = 1; i < points.size(); ++i) {
      EXPECT_LE(points[i - 1].at("timestamp").get<std::string>(), points[i].at("timestamp").get<std::string>());
    }
    // Both bounds are inclusive, to the microsecond: a window that starts or
    // ends one microsecond past a stored point leaves it out.
    const std::string ts = points[4].at("timestamp");
    EXPECT_EQ(FormatUtcMicros(ParseUtcMicros(ts)), ts);
    const int64_t us = ParseUtcMicros(ts);
    const auto expected = [&](int64_t a, int64_t b) {
      size_t n = 0;
      for (const auto& p : points) {
        const int64_t t = ParseUtcMicros(p.at("timestamp"));
        n += a <= t && t <= b ? 1 : 0;
      }
      return n;
    };
    EXPECT_GE(expected(us, us), 1u);
    EXPECT_EQ(WindowCount(api, uuid, us, us), expected(us, us));
    EXPECT_EQ(WindowCount(api, uuid, us - 1'000'000, us), expected(us - 1'000'000, us));
    EXPECT_EQ(WindowCount(api, uuid, us, us + 1'000'000), expected(us, us + 1'000'000));
    EXPECT_EQ(WindowCount(api, uuid, us + 1, us + 1'000'000), expected(us + 1, us + 1'000'000));
    EXPECT_EQ(WindowCount(api, uuid, us - 1'000'000, us - 1), expected(us - 1'000'000, us - 1));
    EXPECT_LT(expected(us + 1, us + 1'000'000) + expected(us - 1'000'000, us - 1), points.size());
  }

  // Crash one collector; a new one joins. Once settled, everything is answered once.
  collector_a->Kill9();
  auto collector_c = StartCollector(bootstrap, "collector-c");
  ASSERT_TRUE(collector_c);
  counts.reset();
  ASSERT_TRUE(WaitFor(all_answered, seconds(60))) << "after the crash: gpus " << (counts ? counts->size() : 0);
  for (const auto& [uuid, n] : *counts) EXPECT_EQ(n, 10u) << uuid;

  // Both remaining members own partitions (the new one took over the dead one's).
  const auto status_b = json::parse(Get(collector_b->http_port(), "/internal/v1/status").body);
  const auto status_c = json::parse(Get(collector_c->http_port(), "/internal/v1/status").body);
  EXPECT_FALSE(status_b.at("partitions").empty());
  EXPECT_FALSE(status_c.at("partitions").empty());
  EXPECT_EQ(status_b.at("partitions").size() + status_c.at("partitions").size(), 8u);
}

// A counter of a Prometheus text exposition; -1 when absent.
int64_t CounterValue(const std::string& exposition, const std::string& name) {
  const auto at = exposition.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(exposition.substr(at + name.size() + 2));
}

// The broker leading the most partitions of the telemetry topic (-1 while
// some leader is unknown).
int MostTelemetryLeader(const ClusterDescription& d, std::string* why) {
  std::map<int32_t, int> led;
  for (const auto& t : d.topics) {
    if (t.name != kTopic) continue;
    for (const auto& p : t.partitions) {
      if (p.leader < 0) return -1;
      ++led[p.leader];
    }
  }
  int victim = -1;
  for (const auto& [broker, n] : led) {
    if (victim < 0 || n > led[victim]) victim = broker;
  }
  if (victim >= 0) {
    *why = "broker " + std::to_string(victim) + ", leader of " + std::to_string(led[victim]) + " of the " +
           std::string(kTopic) + " partitions";
  }
  return victim;
}

// The broker coordinating the collectors' group: the leader of its
// __consumer_offsets shard, xxh3_64(group) mod shards (as the broker's
// GroupCoordinator::ShardOf). -1 while unknown.
int CollectorsCoordinator(const ClusterDescription& d, int32_t offsets_partitions, std::string* why) {
  const auto shard = static_cast<int32_t>(XXH3_64bits(kCollectorGroup, std::strlen(kCollectorGroup)) %
                                          static_cast<uint64_t>(offsets_partitions));
  for (const auto& t : d.topics) {
    if (t.name != "__consumer_offsets") continue;
    for (const auto& p : t.partitions) {
      if (p.partition != shard || p.leader < 0) continue;
      *why = "broker " + std::to_string(p.leader) + ", coordinator of " + kCollectorGroup + " (__consumer_offsets/" +
             std::to_string(shard) + ")";
      return p.leader;
    }
  }
  return -1;
}

// Issue #10, coordinator failover: the pipeline loses no point when the
// broker leading the telemetry partitions dies. A single pass over a
// synthetic fleet (16 GPUs x 100 snapshots x 10 fields, one snapshot per GPU
// every 100 ms: about ten seconds of streaming) with acks=all and the
// idempotent producer. Mid-stream the broker leading the most telemetry
// partitions is killed with SIGKILL and restarted once every partition has a
// new leader; later the broker then coordinating the collectors' group is
// killed and restarted the same way. The streamer must end with every point
// acknowledged (it exits 0 only then), and the gateway must answer each GPU
// with exactly its 1,000 points, none twice.
TEST(PipelineTest, KillNineOfTheLeadingBrokerAndTheCoordinatorMidStreamLosesNoAcknowledgedPoint) {
  for (const auto& bin : {StreamerBinary(), CollectorBinary(), GatewayBinary()}) {
    ASSERT_FALSE(bin.empty()) << "an app binary was not built";
  }
  constexpr int kHosts = 4, kGpusPerHost = 4, kSnapshots = 100, kFields = 10;
  constexpr int kGpus = kHosts * kGpusPerHost;
  constexpr int64_t kPoints = int64_t{kGpus} * kSnapshots * kFields;
  constexpr int32_t kPartitions = 8;

  auto cluster = StartCluster();
  ASSERT_TRUE(cluster);
  const std::string bootstrap = Bootstrap(*cluster);
  ASSERT_TRUE(cluster->admin().CreateTopic(kTopic, {.partitions = kPartitions}));
  ASSERT_TRUE(cluster->AwaitHealthy(seconds(20)));
  auto collector_a = StartCollector(bootstrap, "collector-a");
  auto collector_b = StartCollector(bootstrap, "collector-b");
  ASSERT_TRUE(collector_a && collector_b);
  auto gateway = AppProcess::Start(
      {.binary = GatewayBinary(), .args = {"--bootstrap", bootstrap, "--topic", kTopic}, .name = "gateway"});
  ASSERT_TRUE(gateway) << gateway.error().ToString();
  const uint16_t api = (*gateway)->http_port();
  // Every partition has a serving owner before the stream starts.
  ASSERT_TRUE(WaitFor([&] { return Get(api, "/readyz").status == 200; }, seconds(30)));

  auto streamer = AppProcess::Start(
      {.binary = StreamerBinary(),
       .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--source",
                "synthetic:hosts=" + std::to_string(kHosts) + ",gpus=" + std::to_string(kGpusPerHost) + ",seed=21",
                "--snapshots", std::to_string(kSnapshots), "--interval", "100ms"},
       .name = "streamer"});
  ASSERT_TRUE(streamer) << streamer.error().ToString();
  const uint16_t streamer_port = (*streamer)->http_port();
  const auto acked = [&] {
    return CounterValue(Get(streamer_port, "/metrics").body, "telemq_streamer_points_acked_total");
  };

  // Kills `pick`'s broker once `acked_at_least` points are acknowledged,
  // waits until every telemetry partition has a leader other than it, and
  // restarts it.
  std::string kills;
  const auto kill_and_restart = [&](int64_t acked_at_least,
                                    const std::function<int(const ClusterDescription&, std::string*)>& pick) {
    ASSERT_TRUE(WaitFor([&] { return acked() >= acked_at_least; }, seconds(30))) << (*streamer)->LogTail();
    std::string why;
    int victim = -1;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto d = cluster->admin().DescribeCluster();
          return d && (victim = pick(*d, &why)) >= 0;
        },
        seconds(10)));
    const auto killed_at = std::chrono::steady_clock::now();
    cluster->Kill9(victim);
    const int64_t acked_at_kill = acked();
    EXPECT_LT(acked_at_kill, kPoints) << "the stream ended before the kill of " << why;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto leader = cluster->AwaitLeader(kTopic, p, seconds(20), victim);
      ASSERT_TRUE(leader) << leader.error().ToString();
    }
    const auto led_after = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - killed_at);
    ASSERT_TRUE(cluster->Restart(victim));
    kills += "killed " + why + " at " + std::to_string(acked_at_kill) + " acknowledged points; every partition led " +
             std::to_string(led_after.count()) + " ms later\n";
  };
  kill_and_restart(kPoints / 5, MostTelemetryLeader);
  if (HasFatalFailure()) return;
  kill_and_restart(kPoints * 3 / 5, [&](const ClusterDescription& d, std::string* why) {
    return CollectorsCoordinator(d, ClusterOptions{}.offsets_partitions, why);
  });
  if (HasFatalFailure()) return;
  std::printf("%s", kills.c_str());

  // The single pass ends with every point acknowledged (exit 0 only then).
  std::optional<ExitStatus> exit;
  ASSERT_TRUE(WaitFor([&] { return (exit = (*streamer)->Poll()).has_value(); }, seconds(60))) << (*streamer)->LogTail();
  ASSERT_FALSE(exit->signaled) << exit->ToString();
  ASSERT_EQ(exit->exit_code, 0) << (*streamer)->LogTail();
  const std::string done = Str("single pass done sent=", kPoints, " acked=", kPoints, " lost=0");
  ASSERT_NE((*streamer)->LogTail(1 << 20).find(done), std::string::npos) << (*streamer)->LogTail();

  // The gateway answers every acknowledged point, each once (PointsPerGpu
  // flags duplicates), once both collectors have caught up.
  std::optional<std::map<std::string, size_t>> counts;
  int64_t total = 0;
  const auto all_answered = [&] {
    if (Get(api, "/readyz").status != 200) return false;
    counts = PointsPerGpu(api, 1000);
    if (!counts) return false;
    total = 0;
    for (const auto& [uuid, n] : *counts) total += static_cast<int64_t>(n);
    return counts->size() == static_cast<size_t>(kGpus) && total == kPoints;
  };
  ASSERT_TRUE(WaitFor(all_answered, seconds(60)))
      << "gpus " << (counts ? counts->size() : 0) << ", points " << total << "\n"
      << kills;
  for (const auto& [uuid, n] : *counts) EXPECT_EQ(n, static_cast<size_t>(kSnapshots * kFields)) << uuid;
  // Both restarted brokers are back in every in-sync replica set.
  EXPECT_TRUE(cluster->AwaitHealthy(seconds(30)));
}

}  // namespace
}  // namespace telemq::testing
