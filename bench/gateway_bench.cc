// gateway_bench: query latency through telemq-gateway, measured with wrk.
// Not a ctest: run by hand (docs/gateway.md, "Measurement").
//
//   build/bench/gateway_bench [--seconds 30] [--limit 1000] [--connections 10] [--think-ms 100]
//                                          [--direct 1]
//
// Starts a real broker, collector and gateway on 127.0.0.1, produces one
// GPU's hour at 1 s per metric (10 metrics, 36,000 points) through the client
// Producer, waits until the collector has applied it, then runs
//   wrk -t2 -c<connections> -d<seconds>s --latency -s <script>
// where each connection asks for the whole hour (start_time..end_time) and
// pauses think-ms between requests: 10 connections x 100 ms ≈ 100 requests/s.
// Prints wrk's report (its percentiles include p99). --direct 1 sends the
// same query to the collector's internal API instead, to tell the gateway's
// share of the latency from the collector's.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "telemetry/identity.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_process.h"

namespace {

using namespace telemq;
using namespace telemq::testing;

constexpr const char* kTopic = "gpu.telemetry";
constexpr const char* kUuid = "GPU-bench000-0000-0000-0000-000000000001";
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
  std::fprintf(stderr, "gateway_bench: %s\n", why.c_str());
  return 1;
}

int Run(int argc, char** argv) {
  int seconds = 30, limit = 1000, connections = 10, think_ms = 100, direct = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--seconds")
      seconds = v;
    else if (flag == "--limit")
      limit = v;
    else if (flag == "--connections")
      connections = v;
    else if (flag == "--think-ms")
      think_ms = v;
    else if (flag == "--direct")
      direct = v;
    else
      return Fail("unknown flag " + flag);
  }
  auto broker = BrokerProcess::Start({});
  if (!broker) return Fail(broker.error().ToString());
  const std::string bootstrap = (*broker)->address();
  {
    auto admin = Admin::Create({.bootstrap_servers = {bootstrap}});
    if (!admin || !(*admin)->CreateTopic(kTopic, {.partitions = 4})) return Fail("cannot create the topic");
  }
  TempDir data("telemq-gw-bench");
  auto collector = AppProcess::Start({.binary = CollectorBinary(),
                                      .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--data-dir", data.path()},
                                      .name = "collector",
                                      .data_dir = data.path()});
  if (!collector) return Fail(collector.error().ToString());
  auto gateway = AppProcess::Start(
      {.binary = GatewayBinary(), .args = {"--bootstrap", bootstrap, "--topic", kTopic}, .name = "gateway"});
  if (!gateway) return Fail(gateway.error().ToString());

  const int64_t end_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() -
      60;
  const int64_t start_s = end_s - 3599;
  {
    auto producer = Producer::Create({.client = {.bootstrap_servers = {bootstrap}}});
    if (!producer) return Fail(producer.error().ToString());
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
    if (auto r = (*producer)->Flush(); !r) return Fail(r.error().ToString());
  }
  std::string base = (*gateway)->http_base();
  std::string query = "/api/v1/gpus/" + std::string(kUuid) + "/telemetry?start_time=" + Iso(start_s) +
                      "&end_time=" + Iso(end_s) + "&limit=" + std::to_string(limit);
  // Applied once the whole window answers through the gateway.
  const std::string probe =
      "curl -s '" + base + "/api/v1/gpus/" + kUuid + "' | grep -q '\"last_seen\":\"" + Iso(end_s).substr(0, 19) + "'";
  if (!WaitFor([&] { return std::system(probe.c_str()) == 0; }, std::chrono::seconds(120))) {
    return Fail("the collector did not apply the hour in time");
  }
  if (direct) {
    base = (*collector)->http_base();
    query = "/internal/v1/gpus/" + std::string(kUuid) +
            "/telemetry?partition=" + std::to_string(telemetry::PartitionForGpu(kUuid, 4)) +
            "&start_us=" + std::to_string(start_s * 1'000'000) + "&end_us=" + std::to_string(end_s * 1'000'000) +
            "&limit=" + std::to_string(limit);
  }
  const std::string script = data.File("bench.lua");
  {
    std::ofstream lua(script);
    lua << "request = function() return wrk.format(\"GET\", \"" << query << "\") end\n"
        << "delay = function() return " << think_ms << " end\n"
        << "done = function(summary, latency, requests)\n"
        << "  io.write(string.format(\"requests %d, non-2xx/3xx %d, errors %d\\n\", summary.requests,"
        << " summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +"
        << " summary.errors.timeout))\n"
        << "  for _, p in pairs({50, 90, 99, 99.9}) do\n"
        << "    io.write(string.format(\"p%g %.2f ms\\n\", p, latency:percentile(p) / 1000.0))\n"
        << "  end\n"
        << "end\n";
  }
  const std::string sample = "curl -s '" + base + query + "' | head -c 300; echo";
  std::printf("query: %s\nsample answer: ", query.c_str());
  std::fflush(stdout);
  if (std::system(sample.c_str()) != 0) return Fail("curl failed");
  const std::string wrk = "wrk -t" + std::to_string(std::min(connections, 2)) + " -c" + std::to_string(connections) +
                          " -d" + std::to_string(seconds) + "s --latency -s " + script + " " + base;
  std::printf("running: %s\n", wrk.c_str());
  std::fflush(stdout);
  return std::system(wrk.c_str()) == 0 ? 0 : Fail("wrk failed");
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
