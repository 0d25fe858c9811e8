// telemq-gateway end to end (docs/gateway.md): three real telemq-broker
// processes as one cluster (the topic replicated three times), a
// telemq-collector, the real DCGM export (shared/data) produced with the
// client Producer, every stamped with a distinct increasing timestamp, and
// queries through a real telemq-gateway. Checks the fleet listing, per-GPU
// telemetry order and values, inclusive windows, the metric filter, paging,
// the 400/404 paths naming their parameter, the operational routes, names
// holding URL delimiters, partial lists while a second collector is dead,
// and finally 503 + Retry-After once the only collector has left the group.
// The processes are started once for the suite; the last test stops the
// collector, so the tests run in the order written.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "telemetry/dcgm_csv.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/http_get.h"
#include "tests/support/prometheus_text.h"

namespace telemq::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kTopic = "gpu.telemetry";
constexpr int32_t kPartitions = 4;

struct Answer : HttpAnswer {
  json Json() const { return json::parse(body, nullptr, false); }
};

Answer Get(uint16_t port, const std::string& target) { return {HttpGet(port, target, seconds(10))}; }

std::string Enc(const std::string& s) { return httplib::detail::encode_query_param(s); }

// "2025-07-18T20:42:34.123456Z" for microseconds since the epoch, written
// independently of the gateway's formatter.
std::string Rfc3339(int64_t us, int offset_minutes = 0) {
  const int64_t local = us + int64_t{offset_minutes} * 60'000'000;
  const time_t secs = static_cast<time_t>(local / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(local % 1'000'000));
  out += frac;
  if (offset_minutes == 0) return out + "Z";
  char off[16];
  std::snprintf(off, sizeof off, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', std::abs(offset_minutes) / 60,
                std::abs(offset_minutes) % 60);
  return out + off;
}

// One request written byte for byte (what curl or a browser would not
// send), and the answer read until its Content-Length is complete or the
// deadline. status 0: no complete answer.
struct RawAnswer {
  int status = 0;
  std::string head;
  std::string body;
  milliseconds elapsed{0};
  json Json() const { return json::parse(body, nullptr, false); }
};

RawAnswer RawRequest(uint16_t port, const std::string& bytes, milliseconds deadline = milliseconds(8000)) {
  RawAnswer out;
  const auto t0 = std::chrono::steady_clock::now();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string data;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    for (;;) {
      const auto left = deadline - std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
      if (left.count() <= 0) break;
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
      const size_t end = data.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      std::string head = data.substr(0, end);
      std::string lower = head;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      const size_t cl = lower.find("content-length:");
      const size_t length = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 15));
      if (data.size() >= end + 4 + length) {
        out.head = head;
        out.body = data.substr(end + 4, length);
        if (head.rfind("HTTP/1.1 ", 0) == 0) out.status = std::stoi(head.substr(9, 3));
        break;
      }
    }
  }
  ::close(fd);
  out.elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  return out;
}

// The value of a counter line of the gateway's /metrics ("" when absent).
double MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

struct Stored {
  int64_t timestamp_us;
  std::string metric;
  double value;
};

class GatewayE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(TELEMQ_DCGM_SAMPLE_CSV)) {
      skip_reason_ = std::string(TELEMQ_DCGM_SAMPLE_CSV) + " is absent";
      return;
    }
    auto fail = [](std::string why) { setup_error_ = std::move(why); };
    // Three brokers as one cluster; the topic replicated three times (the
    // cluster's default).
    auto cluster = BrokerCluster::Start({.args = {"--group-heartbeat-interval-ms", "200"}});
    if (!cluster) return fail("brokers: " + cluster.error().ToString());
    cluster_ = std::move(*cluster);
    bootstrap_.clear();
    for (const auto& a : cluster_->addresses()) bootstrap_ += (bootstrap_.empty() ? "" : ",") + a;
    const std::string bootstrap = bootstrap_;
    if (auto r = cluster_->admin().CreateTopic(kTopic, {.partitions = kPartitions}); !r) {
      return fail("create topic: " + r.error().ToString());
    }
    collector_data_ = std::make_unique<TempDir>("telemq-gw-collector");
    auto collector = AppProcess::Start({.binary = CollectorBinary(),
                                        .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--data-dir",
                                                 collector_data_->path(), "--session-timeout-ms", "2000"},
                                        .name = "collector",
                                        .data_dir = collector_data_->path()});
    if (!collector) return fail("collector: " + collector.error().ToString());
    collector_ = std::move(*collector);
    auto gateway = AppProcess::Start({.binary = GatewayBinary(),
                                      .args = {"--bootstrap", bootstrap, "--topic", kTopic, "--routing-refresh-ms",
                                               "200", "--upstream-timeout-ms", "5000"},
                                      .name = "gateway"});
    if (!gateway) return fail("gateway: " + gateway.error().ToString());
    gateway_ = std::move(*gateway);
    if (auto r = ProduceExport(cluster_->addresses()); !r.empty()) return fail(r);
    // Ready once the collector has applied every point and serves every partition.
    const bool applied = WaitFor(
        [] {
          const auto status = Get(collector_->http_port(), "/internal/v1/status").Json();
          if (!status.is_object() || !status.contains("partitions")) return false;
          int64_t points = 0;
          int serving = 0;
          for (const auto& p : status["partitions"]) {
            points += p.value("points", int64_t{0});
            serving += p.value("state", "") == "serving";
          }
          return serving == kPartitions && points == static_cast<int64_t>(total_points_);
        },
        seconds(30));
    if (!applied) return fail("the collector did not apply all points in time");
    const bool routed = WaitFor([] { return Get(gateway_->http_port(), "/readyz").status == 200; }, seconds(10));
    if (!routed) return fail("gateway not ready: " + Get(gateway_->http_port(), "/readyz").body);
  }

  static void TearDownTestSuite() {
    gateway_.reset();
    collector_.reset();
    cluster_.reset();
    collector_data_.reset();
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }

  // Reads the export and produces it, keyed by GPU UUID, each point stamped
  // with a distinct increasing timestamp (1.000003 s apart, ending ~20 min ago).
  static std::string ProduceExport(const std::vector<std::string>& bootstrap) {
    std::ifstream in(TELEMQ_DCGM_SAMPLE_CSV);
    std::vector<telemetry::TelemetryPoint> points;
    auto summary =
        telemetry::ReadDcgmCsv(in, [&](telemetry::DcgmRow&& row) { points.push_back(std::move(row.point)); });
    if (!summary) return "read csv: " + summary.error().ToString();
    const int64_t now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const int64_t base_us = (now_us / 1'000'000 - 3600) * 1'000'000 + 123'457;
    auto producer = Producer::Create({.client = {.bootstrap_servers = bootstrap}});
    if (!producer) return "producer: " + producer.error().ToString();
    for (size_t i = 0; i < points.size(); ++i) {
      auto& p = points[i];
      p.timestamp_us = base_us + static_cast<int64_t>(i) * 1'000'003;
      auto value = telemetry::EncodePoint(p);
      if (!value) return "encode: " + value.error().ToString();
      auto sent = (*producer)->Send(kTopic, p.gpu_uuid, *value, nullptr, p.timestamp_us / 1000);
      if (!sent) return "send: " + sent.error().ToString();
      gpus_[p.gpu_uuid] = p;
      stored_[p.gpu_uuid].push_back({p.timestamp_us, p.metric_name, p.value});
      hosts_[p.hostname].insert(p.gpu_uuid);
    }
    if (auto r = (*producer)->Flush(); !r) return "flush: " + r.error().ToString();
    total_points_ = points.size();
    return "";
  }

  static uint16_t Api() { return gateway_->http_port(); }
  static std::string AnyGpu() { return gpus_.begin()->first; }

  // Every point of one GPU's query, following next_cursor; pages counted.
  static std::vector<json> FollowPages(const std::string& uuid, const std::string& query, int& pages) {
    std::vector<json> out;
    std::string cursor;
    pages = 0;
    while (pages < 100) {
      std::string target = "/api/v1/gpus/" + uuid + "/telemetry?" + query;
      if (!cursor.empty()) target += "&cursor=" + Enc(cursor);
      const Answer a = Get(Api(), target);
      ++pages;
      if (a.status != 200) {
        ADD_FAILURE() << target << " -> " << a.status << " " << a.body;
        return out;
      }
      const json page = a.Json();
      for (const auto& p : page["points"]) out.push_back(p);
      if (page["next_cursor"].is_null()) return out;
      cursor = page["next_cursor"].get<std::string>();
    }
    ADD_FAILURE() << "paging did not end";
    return out;
  }

  static void ExpectBadParameter(const std::string& target, const std::string& parameter) {
    const Answer a = Get(Api(), target);
    EXPECT_EQ(a.status, 400) << target << ": " << a.body;
    const json e = a.Json();
    ASSERT_TRUE(e.is_object() && e.contains("error")) << target << ": " << a.body;
    EXPECT_EQ(e["error"]["status"], 400) << a.body;
    EXPECT_EQ(e["error"].value("parameter", ""), parameter) << target << ": " << a.body;
    EXPECT_FALSE(e["error"].value("message", "").empty()) << a.body;
    EXPECT_NE(a.content_type.find("application/json"), std::string::npos);
  }

  static inline std::string skip_reason_;
  static inline std::string setup_error_;
  static inline std::unique_ptr<BrokerCluster> cluster_;
  static inline std::string bootstrap_;  // every broker, comma-separated
  static inline std::unique_ptr<TempDir> collector_data_;
  static inline std::unique_ptr<AppProcess> collector_;
  static inline std::unique_ptr<AppProcess> gateway_;
  static inline std::map<std::string, telemetry::TelemetryPoint> gpus_;  // last point of each GPU
  static inline std::map<std::string, std::vector<Stored>> stored_;      // by GPU, in time order
  static inline std::map<std::string, std::set<std::string>> hosts_;
  static inline size_t total_points_ = 0;
};

TEST_F(GatewayE2E, ListsEveryGpuOfTheExportWithHostAndModel) {
  const Answer a = Get(Api(), "/api/v1/gpus");
  ASSERT_EQ(a.status, 200) << a.body;
  const json body = a.Json();
  EXPECT_EQ(body["partial"], false);
  EXPECT_EQ(body["unavailable_partitions"], json::array());
  ASSERT_EQ(body["gpus"].size(), 247u);
  EXPECT_EQ(body["count"], 247);
  std::string previous;
  for (const auto& g : body["gpus"]) {
    const std::string uuid = g["uuid"];
    EXPECT_LT(previous, uuid) << "not sorted by uuid";
    previous = uuid;
    ASSERT_TRUE(gpus_.count(uuid)) << uuid;
    const auto& expected = gpus_[uuid];
    EXPECT_EQ(g["hostname"], expected.hostname);
    EXPECT_FALSE(g["hostname"].get<std::string>().empty());
    EXPECT_EQ(g["model_name"], expected.model_name);
    EXPECT_FALSE(g["model_name"].get<std::string>().empty());
    EXPECT_EQ(g["gpu_id"], expected.gpu_id);
    EXPECT_EQ(g["device"], expected.device);
    EXPECT_EQ(g["metrics"].size(), 10u) << uuid;
    EXPECT_EQ(g["first_seen"], Rfc3339(stored_[uuid].front().timestamp_us));
    EXPECT_EQ(g["last_seen"], Rfc3339(stored_[uuid].back().timestamp_us));
  }
}

TEST_F(GatewayE2E, OneGpuAndAnUnknownOne) {
  const std::string uuid = AnyGpu();
  const Answer a = Get(Api(), "/api/v1/gpus/" + uuid);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.Json()["uuid"], uuid);
  EXPECT_EQ(a.Json()["hostname"], gpus_[uuid].hostname);

  for (const std::string target : {"/api/v1/gpus/GPU-00000000-0000-0000-0000-000000000000",
                                   "/api/v1/gpus/GPU-00000000-0000-0000-0000-000000000000/telemetry"}) {
    const Answer nf = Get(Api(), target);
    EXPECT_EQ(nf.status, 404) << target << ": " << nf.body;
    EXPECT_EQ(nf.Json()["error"]["code"], "gpu_not_found") << nf.body;
    EXPECT_EQ(nf.Json()["error"]["parameter"], "id") << nf.body;
  }
  // Any UUID the export may carry is a name (404 when unknown); only an
  // over-long one is refused.
  EXPECT_EQ(Get(Api(), "/api/v1/gpus/GPU%20unknown%26x").Json()["error"]["code"], "gpu_not_found");
  ExpectBadParameter("/api/v1/gpus/" + std::string(257, 'a'), "id");
}

TEST_F(GatewayE2E, EveryGpuHasItsTenMetricsInTimeOrderWithTheProducedValues) {
  for (const auto& [uuid, expected] : stored_) {
    const Answer a = Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry");
    ASSERT_EQ(a.status, 200) << uuid << ": " << a.body;
    const json body = a.Json();
    EXPECT_EQ(body["uuid"], uuid);
    EXPECT_TRUE(body["next_cursor"].is_null());
    const json& points = body["points"];
    ASSERT_EQ(points.size(), expected.size()) << uuid;
    ASSERT_EQ(points.size(), 10u) << uuid;
    std::set<std::string> metrics;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(points[i]["timestamp"], Rfc3339(expected[i].timestamp_us)) << uuid << " #" << i;
      EXPECT_EQ(points[i]["metric"], expected[i].metric) << uuid << " #" << i;
      EXPECT_DOUBLE_EQ(points[i]["value"].get<double>(), expected[i].value) << uuid << " #" << i;
      if (i > 0) {
        EXPECT_LT(points[i - 1]["timestamp"].get<std::string>(), points[i]["timestamp"].get<std::string>());
      }
      metrics.insert(points[i]["metric"]);
    }
    EXPECT_EQ(metrics.size(), 10u) << uuid;
  }
}

TEST_F(GatewayE2E, AWindowOnOnePointsTimestampReturnsThatPoint) {
  const std::string uuid = AnyGpu();
  const Stored& p = stored_[uuid][4];
  // The same instant written in UTC and with an offset, percent-encoded '+'.
  for (const auto& [start, end] : std::vector<std::pair<std::string, std::string>>{
           {Rfc3339(p.timestamp_us), Rfc3339(p.timestamp_us)},
           {Rfc3339(p.timestamp_us, 120), Rfc3339(p.timestamp_us, -330)}}) {
    const Answer a =
        Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry?start_time=" + Enc(start) + "&end_time=" + Enc(end));
    ASSERT_EQ(a.status, 200) << start << " " << end << ": " << a.body;
    const json points = a.Json()["points"];
    ASSERT_EQ(points.size(), 1u) << a.body;
    EXPECT_EQ(points[0]["metric"], p.metric);
    EXPECT_EQ(points[0]["timestamp"], Rfc3339(p.timestamp_us));
  }
  // Both bounds inclusive: [point 2, point 6] holds five points.
  const auto& s = stored_[uuid];
  const Answer a = Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry?start_time=" + Enc(Rfc3339(s[2].timestamp_us)) +
                                  "&end_time=" + Enc(Rfc3339(s[6].timestamp_us)));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.Json()["points"].size(), 5u);
  // One microsecond inside each bound drops both end points.
  const Answer inner =
      Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry?start_time=" + Enc(Rfc3339(s[2].timestamp_us + 1)) +
                     "&end_time=" + Enc(Rfc3339(s[6].timestamp_us - 1)));
  EXPECT_EQ(inner.Json()["points"].size(), 3u) << inner.body;
  // A window inside one microsecond is valid and empty: its bounds round
  // inward past each other, which the collector would refuse.
  const std::string mid = Rfc3339(s[4].timestamp_us).substr(0, 26) + "5Z";  // ...nnnnnn5Z: +0.5 us
  ASSERT_EQ(mid.size(), 28u) << mid;
  const Answer empty =
      Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry?start_time=" + Enc(mid) + "&end_time=" + Enc(mid));
  ASSERT_EQ(empty.status, 200) << mid << ": " << empty.body;
  EXPECT_EQ(empty.Json()["points"].size(), 0u);
  EXPECT_EQ(empty.Json()["count"], 0);
  EXPECT_TRUE(empty.Json()["next_cursor"].is_null());
}

TEST_F(GatewayE2E, MetricFilterReturnsOnlyThatMetric) {
  for (const auto& [uuid, expected] : stored_) {
    const Answer a = Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry?metric=DCGM_FI_DEV_GPU_TEMP");
    ASSERT_EQ(a.status, 200) << a.body;
    const json points = a.Json()["points"];
    ASSERT_EQ(points.size(), 1u) << uuid;
    EXPECT_EQ(points[0]["metric"], "DCGM_FI_DEV_GPU_TEMP");
    const auto it = std::find_if(expected.begin(), expected.end(),
                                 [](const Stored& s) { return s.metric == "DCGM_FI_DEV_GPU_TEMP"; });
    ASSERT_NE(it, expected.end());
    EXPECT_DOUBLE_EQ(points[0]["value"].get<double>(), it->value);
  }
}

TEST_F(GatewayE2E, PagingWithTheCursorReturnsEveryPointExactlyOnce) {
  for (const auto& [uuid, expected] : stored_) {
    int pages = 0;
    const auto points = FollowPages(uuid, "limit=3", pages);
    ASSERT_EQ(points.size(), expected.size()) << uuid;
    EXPECT_EQ(pages, 4) << uuid;  // 3 + 3 + 3 + 1
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(points[i]["timestamp"], Rfc3339(expected[i].timestamp_us)) << uuid << " #" << i;
    }
  }
  // Within a window, with a page size that divides it exactly.
  const std::string uuid = AnyGpu();
  const auto& s = stored_[uuid];
  int pages = 0;
  const auto windowed = FollowPages(
      uuid, "limit=2&start_time=" + Enc(Rfc3339(s[1].timestamp_us)) + "&end_time=" + Enc(Rfc3339(s[8].timestamp_us)),
      pages);
  ASSERT_EQ(windowed.size(), 8u);
  EXPECT_EQ(windowed.front()["timestamp"], Rfc3339(s[1].timestamp_us));
  EXPECT_EQ(windowed.back()["timestamp"], Rfc3339(s[8].timestamp_us));
}

TEST_F(GatewayE2E, BadParametersAre400NamingTheParameter) {
  const std::string base = "/api/v1/gpus/" + AnyGpu() + "/telemetry?";
  ExpectBadParameter(base + "start_time=yesterday", "start_time");
  ExpectBadParameter(base + "end_time=2025-07-18T20:42:34", "end_time");
  ExpectBadParameter(base + "start_time=2025-07-18T20:42:35Z&end_time=2025-07-18T20:42:34Z", "start_time");
  ExpectBadParameter(base + "limit=0", "limit");
  ExpectBadParameter(base + "limit=10001", "limit");
  ExpectBadParameter(base + "limit=abc", "limit");
  ExpectBadParameter(base + "cursor=garbage", "cursor");
  ExpectBadParameter(base + "bogus=1", "bogus");
  // A real cursor, but from another query.
  const Answer first = Get(Api(), base + "limit=1");
  ASSERT_EQ(first.status, 200);
  const std::string cursor = first.Json()["next_cursor"];
  ExpectBadParameter(base + "limit=1&metric=DCGM_FI_DEV_GPU_TEMP&cursor=" + Enc(cursor), "cursor");
  ExpectBadParameter("/api/v1/gpus/" + std::next(gpus_.begin())->first + "/telemetry?cursor=" + Enc(cursor), "cursor");
  EXPECT_EQ(Get(Api(), base + "limit=1&cursor=" + Enc(cursor)).status, 200);
}

TEST_F(GatewayE2E, HostsAndMetrics) {
  const Answer hosts = Get(Api(), "/api/v1/hosts");
  ASSERT_EQ(hosts.status, 200) << hosts.body;
  const json h = hosts.Json();
  ASSERT_EQ(h["hosts"].size(), hosts_.size());
  for (const auto& host : h["hosts"]) {
    const auto& expected = hosts_[host["hostname"]];
    EXPECT_EQ(host["gpu_count"], expected.size());
    EXPECT_EQ(host["gpus"], json(std::vector<std::string>(expected.begin(), expected.end())));
  }
  const Answer metrics = Get(Api(), "/api/v1/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  const json m = metrics.Json();
  ASSERT_EQ(m["metrics"].size(), 10u);
  for (const auto& metric : m["metrics"]) EXPECT_EQ(metric["gpu_count"], 247) << metric;
}

TEST_F(GatewayE2E, OperationalRoutes) {
  EXPECT_EQ(Get(Api(), "/healthz").status, 200);
  const Answer ready = Get(Api(), "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.Json()["ready"], true);

  std::ifstream in(TELEMQ_COMMITTED_OPENAPI);
  std::stringstream committed;
  committed << in.rdbuf();
  const Answer spec = Get(Api(), "/openapi.json");
  EXPECT_EQ(spec.status, 200);
  EXPECT_EQ(spec.body, committed.str());

  const Answer metrics = Get(Api(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("telemq_gateway_requests_total{route=\"/api/v1/gpus\",status=\"200\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("telemq_gateway_request_duration_seconds_bucket{route=\"/api/v1/gpus/{id}/telemetry\""),
            std::string::npos);
  EXPECT_NE(metrics.body.find("telemq_gateway_upstream_errors_total"), std::string::npos);
  // The export parses strictly and follows the naming conventions.
  auto exposition = ParseExposition(metrics.body);
  ASSERT_TRUE(exposition) << exposition.error().message();
  const auto violations = ConventionViolations(*exposition);
  EXPECT_TRUE(violations.empty()) << violations.front() << "\n" << metrics.body;

  const Answer nowhere = Get(Api(), "/api/v2/nothing");
  EXPECT_EQ(nowhere.status, 404);
  EXPECT_EQ(nowhere.Json()["error"]["code"], "not_found");

  // Swagger UI from the npm package (scripts/install-deps installs it).
  ASSERT_TRUE(std::filesystem::exists(std::string(TELEMQ_SWAGGER_UI_DIR) + "/swagger-ui-bundle.js"))
      << "run scripts/install-deps (npm ci --prefix tools)";
  const Answer docs = Get(Api(), "/docs");
  EXPECT_EQ(docs.status, 200);
  EXPECT_NE(docs.body.find("openapi.json"), std::string::npos);
  const Answer bundle = Get(Api(), "/docs/swagger-ui-bundle.js");
  EXPECT_EQ(bundle.status, 200);
  EXPECT_GT(bundle.body.size(), 100'000u);
  EXPECT_EQ(Get(Api(), "/docs/no-such-file.js").status, 404);

  // Without the assets /docs says so instead of failing.
  auto bare = AppProcess::Start({.binary = GatewayBinary(),
                                 .args = {"--bootstrap", bootstrap_, "--docs-dir", "/nonexistent"},
                                 .name = "gateway-nodocs"});
  ASSERT_TRUE(bare) << bare.error().ToString();
  const Answer missing = Get((*bare)->http_port(), "/docs");
  EXPECT_EQ(missing.status, 503);
  EXPECT_EQ(missing.Json()["error"]["code"], "docs_unavailable");
}

// The export's UUIDs and metric names are free text. One GPU whose UUID and
// metric names hold URL delimiters ('&', '#', '%', '+', ' '), with several
// points per timestamp so that paging relies on the cursor's metric name.
TEST_F(GatewayE2E, NamesWithUrlDelimitersArePagedExactly) {
  const std::string uuid = "GPU odd&id=1#%+x";
  const std::vector<std::string> metrics = {"A B", "A%26B", "A&B", "A&limit=1", "A+B"};  // byte order
  auto producer = Producer::Create({.client = {.bootstrap_servers = cluster_->addresses()}});
  ASSERT_TRUE(producer) << producer.error().ToString();
  const int64_t base_us = stored_.begin()->second.front().timestamp_us;
  std::vector<Stored> expected;
  for (int t = 0; t < 3; ++t) {
    for (size_t m = 0; m < metrics.size(); ++m) {
      telemetry::TelemetryPoint p;
      p.gpu_uuid = uuid;
      p.metric_name = metrics[m];
      p.hostname = "odd-host";
      p.timestamp_us = base_us + t * 1'000'000;
      p.value = t * 10 + static_cast<double>(m);
      auto value = telemetry::EncodePoint(p);
      ASSERT_TRUE(value) << value.error().ToString();
      ASSERT_TRUE((*producer)->Send(kTopic, uuid, *value, nullptr, p.timestamp_us / 1000));
      expected.push_back({p.timestamp_us, p.metric_name, p.value});
    }
  }
  ASSERT_TRUE((*producer)->Flush());
  const std::string path = "/api/v1/gpus/" + Enc(uuid);
  Answer a;
  ASSERT_TRUE(WaitFor(
      [&] {
        a = Get(Api(), path + "/telemetry");
        return a.status == 200 && a.Json()["count"] == expected.size();
      },
      seconds(10)))
      << a.status << " " << a.body;
  const Answer one = Get(Api(), path);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json()["uuid"], uuid);
  EXPECT_EQ(one.Json()["metrics"], json(metrics));
  for (const char* limit : {"1", "2", "4"}) {
    int pages = 0;
    const auto points = FollowPages(Enc(uuid), std::string("limit=") + limit, pages);
    ASSERT_EQ(points.size(), expected.size()) << "limit " << limit;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(points[i]["metric"], expected[i].metric) << "limit " << limit << " #" << i;
      EXPECT_EQ(points[i]["timestamp"], Rfc3339(expected[i].timestamp_us)) << "limit " << limit << " #" << i;
    }
  }
  for (const std::string& metric : metrics) {
    int pages = 0;
    const auto points = FollowPages(Enc(uuid), "limit=1&metric=" + Enc(metric), pages);
    ASSERT_EQ(points.size(), 3u) << metric;
    for (const auto& p : points) EXPECT_EQ(p["metric"], metric);
  }
}

// Issue #15, defect 2: an id that is not UTF-8 reached the collector, whose
// JSON library threw; the 502 named the collector's address.
TEST_F(GatewayE2E, IdsThatAreNotUtf8Are400AndNeverForwarded) {
  const double before = MetricValue(Get(Api(), "/metrics").body, "telemq_gateway_upstream_requests_total");
  for (const char* id : {"%FF", "%C3%28", "GPU-%80", "%ED%A0%80"}) {
    for (const std::string suffix : {"", "/telemetry"}) {
      const std::string target = "/api/v1/gpus/" + std::string(id) + suffix;
      const Answer a = Get(Api(), target);
      EXPECT_EQ(a.status, 400) << target << ": " << a.body;
      const json e = a.Json();
      ASSERT_TRUE(e.is_object()) << a.body;
      EXPECT_EQ(e["error"]["parameter"], "id") << a.body;
      EXPECT_NE(a.body.find("UTF-8"), std::string::npos) << a.body;
      EXPECT_EQ(a.body.find("127.0.0.1"), std::string::npos) << a.body;
      EXPECT_EQ(a.body.find("http://"), std::string::npos) << a.body;
    }
  }
  ExpectBadParameter("/api/v1/gpus/" + AnyGpu() + "/telemetry?metric=DCGM_%FF", "metric");
  const double after = MetricValue(Get(Api(), "/metrics").body, "telemq_gateway_upstream_requests_total");
  EXPECT_EQ(after, before) << "a request with a non-UTF-8 name was forwarded to a collector";
}

// Issue #15, defect 3: httplib refuses a request line over 8 KiB before
// parsing it; the answer must say so, not "only GET is served".
TEST_F(GatewayE2E, AnOverlongRequestLineIs414NamingIt) {
  for (const std::string& target : {"/api/v1/gpus/" + std::string(9000, 'a'),
                                    "/api/v1/gpus/" + AnyGpu() + "/telemetry?metric=" + std::string(9000, 'm')}) {
    const RawAnswer a = RawRequest(Api(), "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(a.status, 414) << a.head << a.body;
    EXPECT_EQ(a.Json()["error"]["code"], "uri_too_long") << a.body;
    EXPECT_NE(a.body.find("8192 bytes"), std::string::npos) << a.body;
  }
}

TEST_F(GatewayE2E, UnknownMethodsAre405KeepingThePath) {
  for (const char* method : {"BREW", "POST", "DELETE", "PROPFIND"}) {
    const RawAnswer a =
        RawRequest(Api(), std::string(method) + " /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(a.status, 405) << method << ": " << a.head << a.body;
    EXPECT_EQ(a.Json()["error"]["code"], "method_not_allowed") << a.body;
    EXPECT_NE(a.body.find(std::string(method) + " /healthz"), std::string::npos) << a.body;
    EXPECT_NE(a.head.find("Allow: GET, HEAD"), std::string::npos) << a.head;
  }
}

// Issue #15, defect 4: without Content-Length httplib waited for a body
// until the 5 s keep-alive timeout before answering a POST or PATCH.
TEST_F(GatewayE2E, BodylessPostAndPatchAreAnsweredAtOnce) {
  for (const char* method : {"POST", "PATCH", "PUT", "DELETE"}) {
    const RawAnswer a = RawRequest(Api(), std::string(method) + " /api/v1/gpus HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(a.status, 405) << method << ": " << a.head << a.body;
    EXPECT_LT(a.elapsed, milliseconds(2000)) << method;
  }
  // With a body, it is read (bounded) and refused the same way.
  const RawAnswer with_body = RawRequest(Api(), "POST /api/v1/gpus HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(with_body.status, 405) << with_body.head << with_body.body;
  EXPECT_LT(with_body.elapsed, milliseconds(2000));
}

// Issue #15, defect 5: docs/gateway.md promises 400 for an id holding '/',
// the gateway answered 404 "no route GET /api/v1/gpus//".
TEST_F(GatewayE2E, AnIdHoldingASlashIs400NamingIt) {
  for (const std::string target : {"/api/v1/gpus/%2F", "/api/v1/gpus/GPU-1%2Fx", "/api/v1/gpus/a%2fb/telemetry",
                                   "/api/v1/gpus/%2F/telemetry?limit=5"}) {
    const Answer a = Get(Api(), target);
    EXPECT_EQ(a.status, 400) << target << ": " << a.body;
    EXPECT_EQ(a.Json()["error"]["parameter"], "id") << a.body;
    EXPECT_NE(a.body.find("'/'"), std::string::npos) << a.body;
  }
  // A path with more segments than any route is still no route.
  EXPECT_EQ(Get(Api(), "/api/v1/gpus/a/b/c").status, 404);
}

// Issue #15: step/agg downsampling, computed in the collector. Checked
// against the produced points bucketed here, independently.
TEST_F(GatewayE2E, DownsampledQueriesAggregateEachStepPerMetric) {
  for (const auto& [uuid, points] : stored_) {
    for (const std::string agg : {"avg", "min", "max", "last", "count"}) {
      std::map<std::pair<int64_t, std::string>, std::vector<double>> buckets;
      for (const auto& p : points) {
        const int64_t b = p.timestamp_us / 60'000'000 * 60'000'000;  // positive stamps
        buckets[{b, p.metric}].push_back(p.value);
      }
      const Answer a = Get(Api(), "/api/v1/gpus/" + Enc(uuid) + "/telemetry?step=60s&limit=10000&agg=" + agg);
      ASSERT_EQ(a.status, 200) << a.body;
      const json page = a.Json();
      ASSERT_EQ(page["points"].size(), buckets.size()) << uuid << " " << agg;
      size_t i = 0;
      for (const auto& [key, values] : buckets) {
        const json& p = page["points"][i++];
        EXPECT_EQ(p["timestamp"], Rfc3339(key.first)) << agg;
        EXPECT_EQ(p["metric"], key.second) << agg;
        double want = 0;
        if (agg == "avg") {
          for (double v : values) want += v;
          want /= static_cast<double>(values.size());
        } else if (agg == "min") {
          want = *std::min_element(values.begin(), values.end());
        } else if (agg == "max") {
          want = *std::max_element(values.begin(), values.end());
        } else if (agg == "last") {
          want = values.back();
        } else {
          want = static_cast<double>(values.size());
        }
        EXPECT_NEAR(p["value"].get<double>(), want, 1e-9 * std::max(1.0, std::abs(want))) << agg << " " << key.second;
      }
    }
    break;  // one GPU is enough for the values; paging below
  }
  // Paging bucket points with the cursor gives the same points once each.
  const std::string uuid = AnyGpu();
  int pages = 0;
  const auto paged = FollowPages(Enc(uuid), "step=60s&agg=max&limit=7", pages);
  const json all = Get(Api(), "/api/v1/gpus/" + Enc(uuid) + "/telemetry?step=60s&agg=max&limit=10000").Json();
  ASSERT_EQ(paged.size(), all["points"].size());
  for (size_t i = 0; i < paged.size(); ++i) EXPECT_EQ(paged[i], all["points"][i]) << i;
  EXPECT_GT(pages, 1);
  ExpectBadParameter("/api/v1/gpus/" + Enc(uuid) + "/telemetry?agg=avg", "agg");
  ExpectBadParameter("/api/v1/gpus/" + Enc(uuid) + "/telemetry?step=1x", "step");
}

TEST_F(GatewayE2E, OneHostsGpus) {
  for (const auto& [host, uuids] : hosts_) {
    const Answer a = Get(Api(), "/api/v1/hosts/" + Enc(host) + "/gpus");
    ASSERT_EQ(a.status, 200) << a.body;
    const json doc = a.Json();
    EXPECT_EQ(doc["hostname"], host);
    EXPECT_EQ(doc["count"], uuids.size());
    std::set<std::string> got;
    for (const auto& g : doc["gpus"]) {
      got.insert(g["uuid"].get<std::string>());
      EXPECT_EQ(g["hostname"], host);
    }
    EXPECT_EQ(got, uuids);
  }
  const Answer none = Get(Api(), "/api/v1/hosts/no-such-host/gpus");
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(none.Json()["error"]["code"], "host_not_found");
  ExpectBadParameter("/api/v1/hosts/a%2Fb/gpus", "hostname");
  ExpectBadParameter("/api/v1/hosts/%FF/gpus", "hostname");
}

// Issue #15: the fleet view, each GPU's newest point per metric (within 5
// minutes of its newest point), computed here from what was produced.
TEST_F(GatewayE2E, LatestViewGivesEveryGpusNewestPointPerMetric) {
  const Answer a = Get(Api(), "/api/v1/telemetry/latest");
  ASSERT_EQ(a.status, 200) << a.body;
  const json doc = a.Json();
  ASSERT_EQ(doc["count"], doc["gpus"].size());
  size_t total = 0, known = 0;
  for (const auto& g : doc["gpus"]) {
    const std::string uuid = g["uuid"];
    total += g["latest"].size();
    if (!stored_.count(uuid)) continue;  // added by another test (NamesWithUrlDelimiters...)
    ++known;
    total -= g["latest"].size();
    const auto& points = stored_[uuid];
    std::map<std::string, Stored> newest;
    for (const auto& p : points) newest.insert_or_assign(p.metric, p);
    const int64_t last = points.back().timestamp_us;
    std::erase_if(newest, [&](const auto& kv) { return kv.second.timestamp_us < last - 300'000'000; });
    ASSERT_EQ(g["latest"].size(), newest.size()) << uuid;
    size_t i = 0;
    for (const auto& [metric, p] : newest) {
      const json& got = g["latest"][i++];
      EXPECT_EQ(got["metric"], metric);
      EXPECT_EQ(got["timestamp"], Rfc3339(p.timestamp_us));
      EXPECT_DOUBLE_EQ(got["value"].get<double>(), p.value);
    }
    total += newest.size();
  }
  EXPECT_EQ(known, gpus_.size());
  EXPECT_EQ(doc["points"], total);
  const auto& [host, uuids] = *hosts_.begin();
  const json one = Get(Api(), "/api/v1/telemetry/latest?hostname=" + Enc(host)).Json();
  EXPECT_EQ(one["count"], uuids.size());
  const json temp = Get(Api(), "/api/v1/telemetry/latest?metric=DCGM_FI_DEV_GPU_TEMP").Json();
  for (const auto& g : temp["gpus"]) {
    ASSERT_EQ(g["latest"].size(), 1u);
    EXPECT_EQ(g["latest"][0]["metric"], "DCGM_FI_DEV_GPU_TEMP");
  }
  ExpectBadParameter("/api/v1/telemetry/latest?hostname=", "hostname");
}

// A second collector takes half the partitions and dies (kill -9): until the
// group notices, lists are 200, partial, and say when to retry.
TEST_F(GatewayE2E, PartialListsCarryRetryAfter) {
  TempDir data("telemq-gw-collector2");
  auto second = AppProcess::Start({.binary = CollectorBinary(),
                                   .args = {"--bootstrap", bootstrap_, "--topic", kTopic, "--data-dir", data.path(),
                                            "--session-timeout-ms", "2000"},
                                   .name = "collector2",
                                   .data_dir = data.path()});
  ASSERT_TRUE(second) << second.error().ToString();
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto status = Get((*second)->http_port(), "/internal/v1/status").Json();
        if (!status.is_object() || !status.contains("partitions") || status["partitions"].empty()) return false;
        for (const auto& p : status["partitions"]) {
          if (p.value("state", "") != "serving") return false;
        }
        return Get(Api(), "/readyz").status == 200;
      },
      seconds(20)))
      << Get(Api(), "/readyz").body;
  const Answer full = Get(Api(), "/api/v1/gpus");
  ASSERT_EQ(full.status, 200) << full.body;
  EXPECT_EQ(full.Json()["partial"], false);
  EXPECT_EQ(full.retry_after, "");
  (*second)->Kill9();
  Answer partial;
  ASSERT_TRUE(WaitFor(
      [&] {
        partial = Get(Api(), "/api/v1/gpus");
        return partial.status == 200 && partial.Json()["partial"] == true;
      },
      seconds(10)))
      << partial.status << " " << partial.body;
  EXPECT_EQ(partial.retry_after, "1");
  EXPECT_FALSE(partial.Json()["unavailable_partitions"].empty());
  // The first collector takes its partitions back.
  EXPECT_TRUE(WaitFor([] { return Get(Api(), "/readyz").status == 200; }, seconds(20))) << Get(Api(), "/readyz").body;
}

// Last: stops the collector, so its partitions have no owner.
TEST_F(GatewayE2E, UnownedPartitionsAre503WithRetryAfter) {
  const std::string uuid = AnyGpu();
  auto exited = collector_->Terminate(seconds(15));
  ASSERT_TRUE(exited) << exited.error().ToString();
  EXPECT_EQ(exited->exit_code, 0) << exited->ToString();
  Answer a;
  const bool unavailable = WaitFor(
      [&] {
        a = Get(Api(), "/api/v1/gpus/" + uuid + "/telemetry");
        return a.status == 503;
      },
      seconds(10));
  ASSERT_TRUE(unavailable) << a.status << " " << a.body;
  EXPECT_EQ(a.retry_after, "1");
  EXPECT_EQ(a.Json()["error"]["code"], "partition_unavailable");
  const Answer one = Get(Api(), "/api/v1/gpus/" + uuid);
  EXPECT_EQ(one.status, 503);
  EXPECT_EQ(one.retry_after, "1");
  const Answer list = Get(Api(), "/api/v1/gpus");
  EXPECT_EQ(list.status, 503) << list.body;
  EXPECT_EQ(list.retry_after, "1");
  EXPECT_EQ(Get(Api(), "/readyz").status, 503);
  EXPECT_EQ(Get(Api(), "/healthz").status, 200);
}

}  // namespace
}  // namespace telemq::testing
