// The chaos nemesis against the telemetry pipeline (docs/chaos.md §5): three
// brokers (links proxied), two collectors, a gateway and a single-pass
// synthetic streamer. While the streamer runs, a seeded schedule kills,
// pauses and partitions brokers, and one collector is killed with SIGKILL
// and replaced. The streamer exits 0 only once the brokers acknowledged
// every point it generated, so the acknowledged set is known exactly (all
// of them: 16 GPUs x snapshots x 10 fields); the gateway must then answer
// each GPU with exactly its points, none twice.
//
// $TELEMQ_CHAOS_SEED replays a schedule (the test prints its seed).

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/chaos/nemesis.h"
#include "tests/chaos/schedule.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/http_get.h"
#include "tests/support/str.h"

namespace telemq::chaos {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::AppOptions;
using testing::AppProcess;
using testing::HttpGet;
using testing::Str;

constexpr const char* kTopic = "gpu.telemetry";
constexpr int kHosts = 4, kGpusPerHost = 4, kSnapshots = 250, kFields = 10;
constexpr int kGpus = kHosts * kGpusPerHost;
constexpr int64_t kPoints = int64_t{kGpus} * kSnapshots * kFields;
constexpr int32_t kPartitions = 8;

int64_t Counter(uint16_t port, const std::string& name) {
  const auto a = HttpGet(port, "/metrics");
  const auto at = a.body.find("\n" + name + " ");
  if (a.status != 200 || at == std::string::npos) return -1;
  return std::stoll(a.body.substr(at + name.size() + 2));
}

// GPU uuid -> its points through the gateway, and how many came twice;
// nullopt until every page of every GPU answers 200.
struct Answered {
  std::map<std::string, size_t> points;
  int64_t duplicates = 0;
};
std::optional<Answered> AnsweredPoints(uint16_t api, std::string* why) {
  const auto list = HttpGet(api, "/api/v1/gpus");
  if (list.status != 200) {
    *why = "/api/v1/gpus -> " + std::to_string(list.status) + " " + list.body.substr(0, 300);
    return std::nullopt;
  }
  Answered out;
  const json gpus = json::parse(list.body);  // kept alive: the loop below iterates into it
  for (const auto& g : gpus.at("gpus")) {
    const std::string uuid = g.at("uuid");
    std::set<std::pair<std::string, std::string>> seen;  // (timestamp, metric)
    std::string cursor;
    for (int page = 0;; ++page) {
      if (page > 1000) {
        *why = "more than 1000 pages for " + uuid;
        return std::nullopt;
      }
      std::string target = "/api/v1/gpus/" + uuid + "/telemetry?limit=1000";
      if (!cursor.empty()) target += "&cursor=" + httplib::detail::encode_query_param(cursor);
      const auto a = HttpGet(api, target);
      if (a.status != 200) {
        *why = target + " -> " + std::to_string(a.status) + " " + a.body.substr(0, 300);
        return std::nullopt;
      }
      const auto j = json::parse(a.body);
      for (const auto& p : j.at("points")) {
        if (!seen.emplace(p.at("timestamp").get<std::string>(), p.at("metric").get<std::string>()).second) {
          ++out.duplicates;
        }
      }
      if (!j.contains("next_cursor") || j["next_cursor"].is_null()) break;
      cursor = j["next_cursor"].get<std::string>();
    }
    out.points[uuid] = seen.size();
  }
  return out;
}

std::unique_ptr<AppProcess> StartCollector(const std::string& bootstrap, const std::string& name) {
  auto app = AppProcess::Start({.binary = testing::CollectorBinary(),
                                .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--session-timeout-ms", "3000"},
                                .name = name,
                                .data_dir_flag = "--data-dir"});
  EXPECT_TRUE(app.has_value()) << (app ? "" : app.error().ToString());
  return app ? std::move(*app) : nullptr;
}

TEST(PipelineChaosTest, GatewayAnswersEveryAcknowledgedPointOnceWhileBrokersAndCollectorsFail) {
  for (const auto& bin : {testing::StreamerBinary(), testing::CollectorBinary(), testing::GatewayBinary()}) {
    ASSERT_FALSE(bin.empty()) << "an app binary was not built";
  }
  const char* env_seed = std::getenv("TELEMQ_CHAOS_SEED");
  const uint64_t seed = env_seed != nullptr ? std::strtoull(env_seed, nullptr, 10) : std::random_device{}();
  ScheduleOptions so;
  so.seed = seed;
  so.kinds = {FaultKind::kKill, FaultKind::kPause, FaultKind::kIsolate, FaultKind::kBridge};
  so.partitions = kPartitions;
  so.duration = seconds(22);
  so.per_fault_overhead = seconds(2);
  so.gap_min = milliseconds(500);
  so.gap_max = milliseconds(1500);
  so.hold_min = milliseconds(2500);
  so.hold_max = milliseconds(4000);
  const Schedule schedule = Generate(so);
  std::printf("pipeline chaos: seed %" PRIu64 " (replay: TELEMQ_CHAOS_SEED=%" PRIu64 ")\n%s", seed, seed,
              Serialize(schedule).c_str());

  auto started = testing::BrokerCluster::Start(
      {.links = testing::LinkMode::kProxied, .args = {"--group-heartbeat-interval-ms", "200"}});
  ASSERT_TRUE(started) << started.error().ToString();
  auto& cluster = **started;
  std::string bootstrap;
  for (const auto& a : cluster.addresses()) bootstrap += (bootstrap.empty() ? "" : ",") + a;
  ASSERT_TRUE(cluster.admin().CreateTopic(kTopic, {.partitions = kPartitions}));
  ASSERT_TRUE(cluster.AwaitHealthy(seconds(30)));
  auto collector_a = StartCollector(bootstrap, "collector-a");
  auto collector_b = StartCollector(bootstrap, "collector-b");
  ASSERT_TRUE(collector_a && collector_b);
  auto gateway = AppProcess::Start(
      {.binary = testing::GatewayBinary(), .args = {"--bootstrap", bootstrap, "--topic", kTopic}, .name = "gateway"});
  ASSERT_TRUE(gateway) << gateway.error().ToString();
  const uint16_t api = (*gateway)->http_port();
  ASSERT_TRUE(testing::WaitFor([&] { return HttpGet(api, "/readyz").status == 200; }, seconds(30)));

  auto streamer = AppProcess::Start(
      {.binary = testing::StreamerBinary(),
       .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--source",
                "synthetic:hosts=" + std::to_string(kHosts) + ",gpus=" + std::to_string(kGpusPerHost) + ",seed=5",
                "--snapshots", std::to_string(kSnapshots), "--interval", "100ms"},
       .name = "streamer"});
  ASSERT_TRUE(streamer) << streamer.error().ToString();
  const uint16_t streamer_port = (*streamer)->http_port();
  std::optional<testing::ExitStatus> exited;
  const auto acked = [&]() -> int64_t {
    if (!exited) exited = (*streamer)->Poll();
    return exited ? kPoints : Counter(streamer_port, "telemq_streamer_points_acked_total");
  };

  // Served again: the streamer's acknowledged count moved after `since`.
  std::map<int64_t, int64_t> acked_at;
  NemesisOptions no;
  no.topic = kTopic;
  no.partitions = kPartitions;
  no.recovery_bound_ms = 30'000;
  no.served_since = [&](int64_t since) {
    const int64_t now = acked();
    auto [it, inserted] = acked_at.try_emplace(since, now);
    return exited.has_value() || (!inserted && now > it->second);
  };
  no.log = [](const std::string& line) { std::printf("[pipeline chaos] %s\n", line.c_str()); };
  Nemesis nemesis(cluster, no);
  std::unique_ptr<AppProcess> collector_c;
  for (size_t i = 0; i < schedule.faults.size(); ++i) {
    auto r = nemesis.Run(i, schedule.faults[i]);
    ASSERT_TRUE(r) << r.error().ToString();
    if (i == 1) {
      // A collector crashes and a new one joins in its place (fresh state).
      std::printf("[pipeline chaos] collector-a killed with SIGKILL at %" PRId64 " acknowledged points\n", acked());
      collector_a->Kill9();
      collector_c = StartCollector(bootstrap, "collector-c");
      ASSERT_TRUE(collector_c);
    }
  }
  EXPECT_TRUE(nemesis.findings().empty()) << nemesis.findings().front();

  // (acked() may have reaped it already: Poll() answers only once.)
  ASSERT_TRUE(testing::WaitFor([&] { return exited || (exited = (*streamer)->Poll()).has_value(); }, seconds(120)))
      << (*streamer)->LogTail();
  ASSERT_FALSE(exited->signaled) << exited->ToString();
  ASSERT_EQ(exited->exit_code, 0) << "the streamer did not get every point acknowledged:\n" << (*streamer)->LogTail();
  const std::string done = Str("single pass done sent=", kPoints, " acked=", kPoints, " lost=0");
  ASSERT_NE((*streamer)->LogTail(1 << 20).find(done), std::string::npos) << (*streamer)->LogTail();

  std::optional<Answered> answered;
  std::string why = "not asked";
  int64_t total = 0;
  int asked = 0;
  const auto answer_from = std::chrono::steady_clock::now();
  const bool all = testing::WaitFor(
      [&] {
        ++asked;
        if (const auto ready = HttpGet(api, "/readyz"); ready.status != 200) {
          why = "/readyz -> " + std::to_string(ready.status) + " " + ready.body;
          return false;
        }
        answered = AnsweredPoints(api, &why);
        if (!answered) return false;
        total = 0;
        for (const auto& [uuid, n] : answered->points) total += static_cast<int64_t>(n);
        return answered->points.size() == static_cast<size_t>(kGpus) && total == kPoints;
      },
      seconds(90));
  int faults = 0;
  std::string by_kind;
  for (const auto& [kind, n] : nemesis.injected()) {
    faults += n;
    by_kind += " " + kind + " " + std::to_string(n);
  }
  std::printf("[pipeline chaos] seed %" PRIu64 ": points %" PRId64 ", acknowledged %" PRId64
              "; faults%s collector-kill 1 (total %d); answered by the gateway %" PRId64 ", lost %" PRId64
              ", duplicated %" PRId64 "\n",
              seed, kPoints, kPoints, by_kind.c_str(), faults + 1, total, kPoints - std::min(total, kPoints),
              answered ? answered->duplicates : 0);
  if (!all) {
    // What the gateway and the group coordinator say, for the report.
    const auto ready = HttpGet(api, "/readyz");
    const auto gpus = HttpGet(api, "/api/v1/gpus");
    std::string group = "describe failed";
    if (auto g = cluster.admin().DescribeGroup("telemq-collectors")) {
      group = "epoch " + std::to_string(g->group_epoch) + "/" + std::to_string(g->assignment_epoch) + ":";
      for (const auto& m : g->members) {
        group += " [" + m.member_id.substr(0, 8) + " " + m.state + " epoch " + std::to_string(m.member_epoch) + ":";
        for (const auto& tp : m.assignment) group += " " + std::to_string(tp.partition);
        group += " pending";
        for (const auto& tp : m.pending_revocation) group += " " + std::to_string(tp.partition);
        group += "]";
      }
    }
    ADD_FAILURE() << "gpus " << (answered ? answered->points.size() : 0) << ", points " << total << " of " << kPoints
                  << "\nasked " << asked << " times in "
                  << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - answer_from).count()
                  << " ms; last answer: " << why << "\n/api/v1/gpus: " << gpus.status << " " << gpus.body.substr(0, 800)
                  << "\n/readyz: " << ready.status << " " << ready.body << "\ngroup: " << group;
    return;
  }
  EXPECT_EQ(answered->duplicates, 0);
  for (const auto& [uuid, n] : answered->points) EXPECT_EQ(n, static_cast<size_t>(kSnapshots * kFields)) << uuid;
  for (const auto& r : nemesis.recoveries()) EXPECT_GE(r.ms, 0) << r.fault << " not served again within the bound";
}

}  // namespace
}  // namespace telemq::chaos
