// views_bench: latency of the plotted and fleet views through telemq-gateway
// (issue #15 targets, docs/benchmarks.md), measured with wrk. Not a ctest.
//
//   build/bench/views_bench --scenario downsample [--seconds 30] [--rate 20]
//   build/bench/views_bench --scenario latest [--seconds 30] [--rate 20] [--gpus 1000]
//
// Starts a real broker, collector(s) and gateway on 127.0.0.1 and produces
// through the client Producer:
//   downsample  one GPU's last 24 hours at 1 s for 10 metrics (864,000
//               points), one collector; wrk asks for the whole day at
//               step=60s&agg=avg (per request: either one metric, 1,440
//               bucket points, or all ten, the first page of 10,000).
//               With --at-rest 1 (default) the collector is then restarted
//               with --compact-on-exit, so the day is measured as it sits
//               after its first hours: flushed and compacted, not in the
//               memtables it was just written to (--at-rest 0 measures that).
//   latest      a synthetic fleet of --gpus GPUs (8 per host), 30 snapshots
//               of 10 metrics each, on 8 partitions split between two
//               collectors; wrk asks for /api/v1/telemetry/latest (every
//               GPU's newest point per metric, fanned out to both).
// wrk runs --rate requests/s in total (connections x 1000/think-ms) and
// prints p50/p90/p99/p99.9 and the requests that were not 200.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "telemetry/generator.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_process.h"

namespace {

using namespace telemq;
using namespace telemq::testing;

constexpr const char* kTopic = "gpu.telemetry";
constexpr const char* kUuid = "GPU-bench000-0000-0000-0000-000000000024";
constexpr const char* kMetrics[] = {"DCGM_FI_DEV_DEC_UTIL",  "DCGM_FI_DEV_ENC_UTIL",      "DCGM_FI_DEV_FB_FREE",
                                    "DCGM_FI_DEV_FB_USED",   "DCGM_FI_DEV_GPU_TEMP",      "DCGM_FI_DEV_GPU_UTIL",
                                    "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_POWER_USAGE",
                                    "DCGM_FI_DEV_SM_CLOCK"};

std::string Iso(int64_t seconds) {
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int Fail(const std::string& why) {
  std::fprintf(stderr, "views_bench: %s\n", why.c_str());
  return 1;
}

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// wrk with a script that cycles through `queries`, pausing so that
// `connections` connections make `rate` requests/s in total.
int RunWrk(const std::string& base, const std::vector<std::string>& queries, int seconds, int rate,
           const std::string& script) {
  const int connections = std::max(1, std::min(rate / 10, 10));
  const int think_ms = 1000 * connections / std::max(rate, 1);
  {
    std::ofstream lua(script);
    lua << "local queries = {";
    for (const auto& q : queries) lua << "\"" << q << "\",";
    lua << "}\nlocal i = 0\n"
        << "request = function() i = i + 1; return wrk.format(\"GET\", queries[(i % #queries) + 1]) end\n"
        << "delay = function() return " << think_ms << " end\n"
        << "done = function(summary, latency, requests)\n"
        << "  io.write(string.format(\"requests %d (%.1f/s), non-2xx/3xx %d, errors %d\\n\", summary.requests,"
        << " summary.requests / (summary.duration / 1e6), summary.errors.status, summary.errors.connect +"
        << " summary.errors.read + summary.errors.write + summary.errors.timeout))\n"
        << "  for _, p in pairs({50, 90, 99, 99.9}) do\n"
        << "    io.write(string.format(\"p%g %.2f ms\\n\", p, latency:percentile(p) / 1000.0))\n"
        << "  end\n"
        << "end\n";
  }
  const std::string wrk = "wrk -t1 -c" + std::to_string(connections) + " -d" + std::to_string(seconds) +
                          "s --latency -s " + script + " " + base;
  std::printf("running: %s  (%d connections, %d ms think time)\n", wrk.c_str(), connections, think_ms);
  std::fflush(stdout);
  return std::system(wrk.c_str()) == 0 ? 0 : Fail("wrk failed");
}

int Run(int argc, char** argv) {
  std::string scenario;
  int seconds = 30, rate = 20, gpus = 1000, at_rest = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string v = argv[i + 1];
    if (flag == "--scenario") {
      scenario = v;
    } else if (flag == "--seconds") {
      seconds = std::atoi(v.c_str());
    } else if (flag == "--rate") {
      rate = std::atoi(v.c_str());
    } else if (flag == "--gpus") {
      gpus = std::atoi(v.c_str());
    } else if (flag == "--at-rest") {
      at_rest = std::atoi(v.c_str());
    } else {
      return Fail("unknown flag " + flag);
    }
  }
  if (scenario != "downsample" && scenario != "latest") return Fail("--scenario downsample|latest");
  const bool latest = scenario == "latest";
  auto broker = BrokerProcess::Start({});
  if (!broker) return Fail(broker.error().ToString());
  const std::string bootstrap = (*broker)->address();
  {
    auto admin = Admin::Create({.bootstrap_servers = {bootstrap}});
    // The day must outlive the topic's retention: keep it forever.
    if (!admin || !(*admin)->CreateTopic(kTopic, {.partitions = latest ? 8 : 4, .retention_ms = -1})) {
      return Fail("cannot create the topic");
    }
  }
  TempDir data("telemq-views-bench");
  std::vector<std::unique_ptr<AppProcess>> collectors;
  for (int i = 0; i < (latest ? 2 : 1); ++i) {
    const std::string dir = data.File("collector-" + std::to_string(i));
    auto c = AppProcess::Start({.binary = CollectorBinary(),
                                .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--data-dir", dir,
                                         "--compact-on-exit", "--session-timeout-ms", "3000"},
                                .name = "collector-" + std::to_string(i),
                                .data_dir = dir});
    if (!c) return Fail(c.error().ToString());
    collectors.push_back(std::move(*c));
  }
  auto gateway = AppProcess::Start(
      {.binary = GatewayBinary(), .args = {"--bootstrap", bootstrap, "--topic", kTopic}, .name = "gateway"});
  if (!gateway) return Fail(gateway.error().ToString());
  const std::string base = (*gateway)->http_base();

  auto producer = Producer::Create({.client = {.bootstrap_servers = {bootstrap}}});
  if (!producer) return Fail(producer.error().ToString());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> queries;
  std::string probe;
  const int64_t end_s = NowS() - 60;
  if (!latest) {
    const int64_t start_s = end_s - 86'399;
    telemetry::TelemetryPoint p;
    p.gpu_uuid = kUuid;
    p.device = "nvidia0";
    p.model_name = "NVIDIA H100 80GB HBM3";
    p.hostname = "bench-host-0001";
    for (int64_t s = start_s; s <= end_s; ++s) {
      for (int m = 0; m < 10; ++m) {
        p.metric_name = kMetrics[m];
        p.value = static_cast<double>((s * 7 + m * 13) % 1000) / 10.0;
        p.timestamp_us = s * 1'000'000;
        auto value = telemetry::EncodePoint(p);
        if (!value) return Fail(value.error().ToString());
        if (auto r = (*producer)->Send(kTopic, kUuid, *value, nullptr, s * 1000); !r) return Fail(r.error().ToString());
      }
    }
    const std::string window = "start_time=" + Iso(start_s) + "&end_time=" + Iso(end_s);
    queries.push_back("/api/v1/gpus/" + std::string(kUuid) + "/telemetry?" + window +
                      "&step=60s&agg=avg&metric=DCGM_FI_DEV_GPU_UTIL");
    queries.push_back("/api/v1/gpus/" + std::string(kUuid) + "/telemetry?" + window + "&step=60s&agg=avg&limit=10000");
    probe = "curl -s '" + base + "/api/v1/gpus/" + kUuid + "' | grep -q '\"last_seen\":\"" +
            Iso(end_s).substr(0, 19) + "'";
  } else {
    const telemetry::SyntheticFleet fleet(gpus / 8, 8, 24);
    for (int64_t s = end_s - 29; s <= end_s; ++s) {
      for (auto& p : fleet.Sample(static_cast<double>(s))) {
        p.timestamp_us = s * 1'000'000;
        auto value = telemetry::EncodePoint(p);
        if (!value) return Fail(value.error().ToString());
        if (auto r = (*producer)->Send(kTopic, p.gpu_uuid, *value, nullptr, s * 1000); !r) {
          return Fail(r.error().ToString());
        }
      }
    }
    queries.push_back("/api/v1/telemetry/latest");
    // Served once every GPU shows all ten metrics at the last snapshot.
    probe = "curl -s '" + base + "/api/v1/telemetry/latest' | grep -q '\"points\":" +
            std::to_string(gpus / 8 * 8 * 10) + ",'";
  }
  if (auto r = (*producer)->Flush(); !r) return Fail(r.error().ToString());
  const double produced_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!WaitFor([&] { return std::system(probe.c_str()) == 0; }, std::chrono::seconds(600))) {
    return Fail("the collectors did not apply the data in time");
  }
  const double applied_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("produced in %.1f s, applied and served after %.1f s\n", produced_s, applied_s);
  if (!latest && at_rest) {
    const std::string dir = data.File("collector-0");
    auto exited = collectors[0]->Terminate(std::chrono::seconds(300));
    if (!exited) return Fail("collector stop: " + exited.error().ToString());
    collectors.clear();
    auto c = AppProcess::Start({.binary = CollectorBinary(),
                                .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--data-dir", dir},
                                .name = "collector-0b",
                                .data_dir = dir});
    if (!c) return Fail(c.error().ToString());
    collectors.push_back(std::move(*c));
    if (!WaitFor([&] { return std::system(probe.c_str()) == 0 &&
                              std::system(("curl -sf '" + base + "/readyz' >/dev/null").c_str()) == 0; },
                 std::chrono::seconds(300))) {
      return Fail("the restarted collector did not serve in time");
    }
    std::printf("compacted and restarted after %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  for (const auto& q : queries) {
    const std::string sample = "curl -s -o /dev/null -w '%{http_code} %{size_download} bytes %{time_total} s' '" +
                               base + q + "'; echo '  " + q + "'";
    if (std::system(sample.c_str()) != 0) return Fail("curl failed");
  }
  return RunWrk(base, queries, seconds, rate, data.File("bench.lua"));
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
