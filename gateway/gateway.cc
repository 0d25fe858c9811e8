#include "gateway/gateway.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "gateway/api.h"
#include "gateway/params.h"
#include "gateway/routing_cache.h"
#include "gateway/upstream.h"
#include "gateway/views.h"
#include "telemetry/identity.h"
#include "telemq/common/check.h"
#include "telemq/common/log.h"
#include "telemq/common/metrics.h"

namespace telemq::gateway {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";

// The page Swagger UI runs in. Asset and spec URLs are relative to /docs,
// so the page also works behind a reverse proxy that adds a path prefix.
constexpr const char* kDocsIndex = R"html(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>telemq GPU telemetry API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true});
  </script>
</body>
</html>
)html";

std::string ContentTypeFor(const std::string& name) {
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".js")) return "application/javascript";
  if (ends(".css")) return "text/css";
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".png")) return "image/png";
  if (ends(".map") || ends(".json")) return "application/json";
  return "application/octet-stream";
}

bool IsAssetName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Built field by field: g++ 12 warns (falsely) about designated
// initialisers of nested structs with strings here.
RoutingCacheOptions RoutingOptions(const GatewayOptions& o) {
  RoutingCacheOptions r;
  r.client.bootstrap_servers = o.bootstrap;
  r.client.client_id = "telemq-gateway";
  // Bounded, so the refresher notices a dead broker within a few periods.
  r.client.request_timeout = std::chrono::milliseconds(3000);
  r.client.connect_timeout = std::chrono::milliseconds(2000);
  r.topic = o.topic;
  r.group = o.collector_group;
  r.interval = o.routing_refresh;
  return r;
}

// Runs fn(0..n-1) concurrently (n is the number of collectors, at most a
// few dozen): the calling thread takes the first, a thread each the rest.
template <typename Fn>
void ForEachParallel(size_t n, Fn&& fn) {
  std::vector<std::future<void>> pending;
  for (size_t i = 1; i < n; ++i) pending.push_back(std::async(std::launch::async, [&fn, i] { fn(i); }));
  if (n > 0) fn(0);
  for (auto& f : pending) f.wait();
}

// A path that matches a route's template segment by segment before
// percent-decoding, but not after, holds an empty parameter or a '/' (%2F)
// in one: that parameter is named (400) rather than the path called
// unknown (404), as docs/gateway.md promises.
std::optional<ApiError> MisroutedName(std::string_view target) {
  const std::string_view raw = target.substr(0, target.find('?'));
  auto split = [](std::string_view s) {
    std::vector<std::string_view> out;
    size_t from = 0;
    for (;;) {
      const size_t slash = s.find('/', from);
      out.push_back(s.substr(from, slash == std::string_view::npos ? std::string_view::npos : slash - from));
      if (slash == std::string_view::npos) return out;
      from = slash + 1;
    }
  };
  const auto segments = split(raw);
  for (const RouteSpec& route : Routes()) {
    const auto parts = split(route.path);
    if (parts.size() != segments.size()) continue;
    bool literal_match = true;
    std::optional<ApiError> bad;
    for (size_t i = 0; i < parts.size() && literal_match; ++i) {
      if (parts[i].empty() || parts[i].front() != '{') {
        literal_match = parts[i] == segments[i];
        continue;
      }
      const ParamSpec* p = route.Param(parts[i].substr(1, parts[i].size() - 2));
      if (p == nullptr || bad) continue;
      const std::string decoded = httplib::detail::decode_url(std::string(segments[i]), false);
      bad = CheckPathName(p->name, decoded, p->max_length.value_or(256));
    }
    if (literal_match && bad) return bad;
  }
  return std::nullopt;
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(GatewayOptions o)
      : options(std::move(o)),
        routing(RoutingOptions(options), registry),
        upstream(UpstreamOptions{.connect_timeout = options.upstream_connect_timeout,
                                 .read_timeout = options.upstream_timeout}),
        upstream_requests(registry.AddCounter("telemq_gateway_upstream_requests_total", "Requests sent to collectors")),
        upstream_latency(registry.AddHistogram("telemq_gateway_upstream_request_duration_seconds",
                                               "Collector request latency, seconds", metrics::LatencyBuckets())),
        openapi(OpenApiDocument()) {
    for (const char* kind : {"connect", "timeout", "io", "bad_status", "bad_response", "unavailable"}) {
      upstream_errors[kind] = &registry.AddCounter(
          "telemq_gateway_upstream_errors_total",
          "Failed collector requests by kind: connect (refused/unreachable), timeout, io (connection broke), "
          "bad_status (unexpected HTTP status), bad_response (body breaks the contract), unavailable (collector "
          "answered partition_unavailable)",
          {{"kind", kind}});
    }
  }

  // ---- metrics -----------------------------------------------------------

  struct RequestSeries {
    metrics::Counter* count = nullptr;
    metrics::Histogram* latency = nullptr;
  };

  void Observe(std::string_view route, int status, Clock::duration elapsed) {
    RequestSeries* s = nullptr;
    {
      std::lock_guard lock(series_mu);
      auto key = std::make_pair(std::string(route), status);
      auto it = series.find(key);
      if (it == series.end()) {
        const metrics::Labels labels = {{"route", key.first}, {"status", std::to_string(status)}};
        RequestSeries fresh{
            &registry.AddCounter("telemq_gateway_requests_total", "HTTP requests answered", labels),
            &registry.AddHistogram("telemq_gateway_request_duration_seconds",
                                   "HTTP request latency in the handler, seconds", metrics::LatencyBuckets(), labels)};
        it = series.emplace(std::move(key), fresh).first;
      }
      s = &it->second;
    }
    s->count->Inc();
    s->latency->Observe(std::chrono::duration<double>(elapsed).count());
  }

  // ---- answers -----------------------------------------------------------

  static void Reply(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    if (e.retry_after) res.set_header("Retry-After", "1");
    res.set_content(ErrorJson(e), kJson);
  }

  static ApiError Unavailable(std::string message) {
    return {503, "partition_unavailable", "", std::move(message), true};
  }

  // Maps a failed or non-200 collector answer to the client's answer. The
  // client learns the partition and what went wrong, never the collector's
  // address (internal topology): that goes to the log, with the detail.
  ApiError UpstreamFailure(const std::string& endpoint, const UpstreamReply& up, const std::string& uuid,
                           int32_t partition) {
    using O = UpstreamReply::Outcome;
    const std::string owner =
        partition >= 0 ? "the collector of partition " + std::to_string(partition) : std::string("a collector");
    switch (up.outcome) {
      case O::kConnectFailed:
        upstream_errors["connect"]->Inc();
        routing.RequestRefresh();
        log::Warn("collector cannot be reached",
                  {{"endpoint", endpoint}, {"partition", partition}, {"error", up.error}});
        return Unavailable(owner + " cannot be reached; ownership will move");
      case O::kTimeout:
        upstream_errors["timeout"]->Inc();
        log::Warn("collector did not answer in time", {{"endpoint", endpoint}, {"partition", partition}});
        return {504, "upstream_timeout", "", owner + " did not answer in time"};
      case O::kIoError:
        upstream_errors["io"]->Inc();
        routing.RequestRefresh();
        log::Warn("collector connection failed",
                  {{"endpoint", endpoint}, {"partition", partition}, {"error", up.error}});
        return {502, "upstream_error", "", owner + " failed (connection broken)"};
      case O::kOk: break;
    }
    std::string code;
    std::string message;
    const auto doc = nlohmann::json::parse(up.body, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
      const auto& e = doc["error"];
      if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
      if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    }
    if (up.status == 404 && code == "gpu_not_found") {
      return {404, "gpu_not_found", "id", "no GPU with uuid '" + uuid + "'"};
    }
    if (up.status == 503) {
      upstream_errors["unavailable"]->Inc();
      routing.RequestRefresh();
      return Unavailable("partition " + std::to_string(partition) + " is not served right now (" +
                         (message.empty() ? code : message) + ")");
    }
    upstream_errors["bad_status"]->Inc();
    log::Warn("collector answered an error",
              {{"endpoint", endpoint}, {"status", up.status}, {"code", code}, {"error", message}});
    return {502, "upstream_error", "", owner + " answered HTTP " + std::to_string(up.status)};
  }

  UpstreamReply Call(const std::string& endpoint, const std::string& target) {
    const auto t0 = Clock::now();
    upstream_requests.Inc();
    auto reply = upstream.Get(endpoint, target);
    upstream_latency.Observe(std::chrono::duration<double>(Clock::now() - t0).count());
    return reply;
  }

  // The owner of the GPU's partition, or why there is none.
  tl::expected<std::pair<int32_t, std::string>, ApiError> OwnerOf(const std::string& uuid) {
    const auto snap = routing.Current();
    const int32_t partitions = snap->table.partitions();
    if (partitions == 0) {
      routing.RequestRefresh();
      return tl::unexpected(Unavailable(snap->topic_exists || snap->error.empty()
                                            ? (snap->topic_exists ? "topic '" + options.topic + "' has no partitions"
                                                                  : "topic '" + options.topic + "' is not known yet")
                                            : "routing table not available yet: " + snap->error));
    }
    const int32_t partition = telemetry::PartitionForGpu(uuid, partitions);
    const std::string* owner = snap->table.OwnerOf(partition);
    if (owner == nullptr) {
      routing.RequestRefresh();
      return tl::unexpected(Unavailable("partition " + std::to_string(partition) + " has no collector (group " +
                                        options.collector_group + ")"));
    }
    return std::make_pair(partition, *owner);
  }

  // ---- handlers ----------------------------------------------------------

  void GetGpu(const httplib::Request& req, httplib::Response& res) {
    const std::string uuid = req.matches[1];
    if (auto e = CheckGpuId(uuid)) return Reply(res, *e);
    auto owner = OwnerOf(uuid);
    if (!owner) return Reply(res, owner.error());
    const auto& [partition, endpoint] = *owner;
    auto up = Call(endpoint, CollectorGpuTarget(uuid, partition));
    if (up.outcome != UpstreamReply::Outcome::kOk || up.status != 200) {
      return Reply(res, UpstreamFailure(endpoint, up, uuid, partition));
    }
    auto gpu = ParseCollectorGpu(up.body);
    if (!gpu) return Reply(res, BadResponse(endpoint, gpu.error()));
    res.set_content(GpuJson(*gpu), kJson);
  }

  ApiError BadResponse(const std::string& endpoint, const Error& error) {
    upstream_errors["bad_response"]->Inc();
    log::Warn("collector broke the contract", {{"endpoint", endpoint}, {"error", error.message()}});
    return {502, "upstream_error", "", "a collector sent an unusable answer (see the gateway log)"};
  }

  void GpuTelemetry(const httplib::Request& req, httplib::Response& res) {
    auto parsed = ParseTelemetryQuery(req.matches[1].str(), req.params);
    if (!parsed) return Reply(res, parsed.error());
    const TelemetryQuery& q = *parsed;
    // The collector refuses start_us > end_us, but a valid window inside one
    // microsecond rounds to exactly that: it holds no point, so say so here.
    if (q.EmptyWindow()) {
      std::string out = "{\"uuid\":";
      AppendJsonString(q.uuid, out);
      out.append(",\"points\":[],\"count\":0,\"next_cursor\":null}");
      res.set_content(out, kJson);
      return;
    }
    auto owner = OwnerOf(q.uuid);
    if (!owner) return Reply(res, owner.error());
    const auto& [partition, endpoint] = *owner;
    auto up = Call(endpoint, CollectorTelemetryTarget(q, partition));
    if (up.outcome != UpstreamReply::Outcome::kOk || up.status != 200) {
      return Reply(res, UpstreamFailure(endpoint, up, q.uuid, partition));
    }
    // Public points are ~1.3x the collector's (RFC 3339 instead of integers).
    std::string out;
    out.reserve(up.body.size() + up.body.size() / 2 + 256);
    out.append("{\"uuid\":");
    AppendJsonString(q.uuid, out);
    out.append(",\"points\":[");
    auto page = AppendPublicPoints(up.body, out);
    if (!page) return Reply(res, BadResponse(endpoint, page.error()));
    out.append("],\"count\":");
    out.append(std::to_string(page->count));
    out.append(",\"next_cursor\":");
    if (page->more && page->last) {
      out.push_back('"');
      out.append(EncodeCursor(*page->last, q.Scope()));
      out.push_back('"');
    } else {
      out.append("null");
    }
    out.push_back('}');
    res.status = 200;
    res.body = std::move(out);
    res.set_header("Content-Type", kJson);
  }

  // Fans /internal/v1/gpus out to every collector in parallel.
  tl::expected<FleetView, ApiError> Fleet() {
    return FanOut<EndpointReply>("/internal/v1/gpus", ParseCollectorGpus, MergeFleet);
  }

  // Fans `target` out to every collector in parallel, parses each answer
  // (a failed or malformed one is counted and its partitions read as
  // unavailable) and merges them.
  template <typename Reply, typename Parsed, typename View>
  tl::expected<View, ApiError> FanOut(const std::string& target, Result<Parsed> (*parse)(std::string_view),
                                      View (*merge)(const RoutingTable&, const std::vector<Reply>&)) {
    const auto snap = routing.Current();
    if (snap->table.partitions() == 0) {
      routing.RequestRefresh();
      return tl::unexpected(Unavailable(snap->error.empty() ? "topic '" + options.topic + "' is not known yet"
                                                            : "routing table not available yet: " + snap->error));
    }
    const auto& endpoints = snap->table.endpoints();
    std::vector<Reply> replies(endpoints.size());
    auto fetch = [&](size_t i) {
      replies[i].endpoint = endpoints[i];
      auto up = Call(endpoints[i], target);
      if (up.outcome != UpstreamReply::Outcome::kOk || up.status != 200) {
        const ApiError e = UpstreamFailure(endpoints[i], up, "", -1);
        log::Debug("fan-out failed", {{"endpoint", endpoints[i]}, {"error", e.message}});
        return;
      }
      auto parsed = parse(up.body);
      if (!parsed) {
        BadResponse(endpoints[i], parsed.error());  // counted and logged; its partitions read as unavailable
        return;
      }
      replies[i].reply = std::move(*parsed);
    };
    ForEachParallel(endpoints.size(), fetch);
    View view = merge(snap->table, replies);
    if (view.nothing_available()) {
      return tl::unexpected(Unavailable("no partition of topic '" + options.topic + "' is served right now"));
    }
    return view;
  }

  void ListView(httplib::Response& res, std::string (*render)(const FleetView&)) {
    auto view = Fleet();
    if (!view) return Reply(res, view.error());
    // A partial list is still 200 (docs/gateway.md), but says when to ask
    // again for the missing partitions, as their 503 would.
    if (view->partial()) res.set_header("Retry-After", "1");
    res.set_content(render(*view), kJson);
  }

  void HostGpus(const httplib::Request& req, httplib::Response& res) {
    const std::string host = req.matches[1];
    const ParamSpec* spec = RouteFor(RouteId::kHostGpus).Param("hostname");
    if (auto e = CheckPathName("hostname", host, spec->max_length.value_or(256))) return Reply(res, *e);
    auto view = Fleet();
    if (!view) return Reply(res, view.error());
    std::erase_if(view->gpus, [&](const GpuInfo& g) { return g.hostname != host; });
    if (view->gpus.empty()) {
      // Its GPUs may sit in the partitions that cannot be read: not a 404.
      if (view->partial()) {
        return Reply(res, Unavailable("no GPU of host '" + host +
                                      "' in the partitions served right now; some partitions are not"));
      }
      return Reply(res, {404, "host_not_found", "hostname", "no GPU with hostname '" + host + "'"});
    }
    if (view->partial()) res.set_header("Retry-After", "1");
    res.set_content(HostGpusJson(*view, host), kJson);
  }

  void Latest(const httplib::Request& req, httplib::Response& res) {
    std::string filters[2];
    const char* names[2] = {"hostname", "metric"};
    for (int i = 0; i < 2; ++i) {
      const auto it = req.params.find(names[i]);
      if (it == req.params.end()) continue;
      if (it->second.empty()) return Reply(res, {400, "invalid_parameter", names[i], std::string("empty ") + names[i]});
      filters[i] = it->second;
    }
    auto view = FanOut<LatestReply>(CollectorLatestTarget(filters[0], filters[1]), ParseCollectorLatest, MergeLatest);
    if (!view) return Reply(res, view.error());
    if (view->partial()) res.set_header("Retry-After", "1");
    res.body = std::move(view->body);
    res.set_header("Content-Type", kJson);
  }

  void Readyz(httplib::Response& res) {
    const auto snap = routing.Current();
    nlohmann::json body;
    const bool fresh = snap->error.empty() && snap->last_success != Clock::time_point{} &&
                       Clock::now() - snap->last_success < 3 * options.routing_refresh + std::chrono::seconds(1);
    body["broker"] =
        fresh ? std::string("ok") : (snap->error.empty() ? std::string("no successful refresh yet") : snap->error);
    body["partitions"] = snap->table.partitions();
    const auto unowned = snap->table.UnownedPartitions();
    body["unowned_partitions"] = unowned;
    // Each owner's own view of its partitions, asked in parallel so one
    // slow collector costs one timeout, not one per collector.
    const auto& endpoints = snap->table.endpoints();
    std::vector<std::optional<std::set<int32_t>>> serving(endpoints.size());
    ForEachParallel(endpoints.size(), [&](size_t i) {
      auto up = Call(endpoints[i], "/internal/v1/status");
      if (up.outcome != UpstreamReply::Outcome::kOk || up.status != 200) return;
      const auto doc = nlohmann::json::parse(up.body, nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("partitions") || !doc["partitions"].is_array()) {
        return;
      }
      std::set<int32_t> mine;
      for (const auto& p : doc["partitions"]) {
        if (p.is_object() && p.value("state", "") == "serving" && p.contains("partition") &&
            p["partition"].is_number_integer()) {
          mine.insert(p["partition"].get<int32_t>());
        }
      }
      serving[i] = std::move(mine);
    });
    std::set<int32_t> restoring;
    std::vector<std::string> unreachable;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      if (!serving[i]) {
        unreachable.push_back(endpoints[i]);
        continue;
      }
      for (int32_t p = 0; p < snap->table.partitions(); ++p) {
        const std::string* owner = snap->table.OwnerOf(p);
        if (owner && *owner == endpoints[i] && !serving[i]->count(p)) restoring.insert(p);
      }
    }
    body["restoring_partitions"] = restoring;
    body["unreachable_collectors"] = unreachable;
    const bool ready = fresh && snap->topic_exists && snap->table.partitions() > 0 && unowned.empty() &&
                       restoring.empty() && unreachable.empty();
    body["ready"] = ready;
    res.status = ready ? 200 : 503;
    res.set_content(body.dump(), kJson);
  }

  bool DocsInstalled() const {
    std::error_code ec;
    return !options.docs_dir.empty() && fs::is_regular_file(fs::path(options.docs_dir) / "swagger-ui-bundle.js", ec);
  }

  ApiError DocsMissing() const {
    return {503, "docs_unavailable", "",
            "Swagger UI is not installed at '" + options.docs_dir +
                "' (run scripts/install-deps, which runs `npm ci --prefix tools`, or pass --docs-dir); the spec "
                "itself is at /openapi.json"};
  }

  void Docs(httplib::Response& res) {
    if (!DocsInstalled()) return Reply(res, DocsMissing());
    res.set_content(kDocsIndex, "text/html; charset=utf-8");
  }

  void DocsAsset(const httplib::Request& req, httplib::Response& res) {
    if (!DocsInstalled()) return Reply(res, DocsMissing());
    const std::string name = req.matches[1];
    const fs::path path = fs::path(options.docs_dir) / name;
    std::error_code ec;
    if (!IsAssetName(name) || !fs::is_regular_file(path, ec)) {
      return Reply(res, {404, "not_found", "file", "no file '" + name + "' in the Swagger UI distribution"});
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream data;
    data << in.rdbuf();
    res.set_header("Cache-Control", "public, max-age=3600");
    res.set_content(data.str(), ContentTypeFor(name));
  }

  void Dispatch(const RouteSpec& route, const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    if (auto e = CheckQuery(route, req.params)) {
      Reply(res, *e);
    } else {
      switch (route.id) {
        case RouteId::kListGpus: ListView(res, &GpuListJson); break;
        case RouteId::kGetGpu: GetGpu(req, res); break;
        case RouteId::kGpuTelemetry: GpuTelemetry(req, res); break;
        case RouteId::kListHosts: ListView(res, &HostListJson); break;
        case RouteId::kListMetrics: ListView(res, &MetricListJson); break;
        case RouteId::kHostGpus: HostGpus(req, res); break;
        case RouteId::kLatest: Latest(req, res); break;
        case RouteId::kHealthz: res.set_content(R"({"status":"ok"})", kJson); break;
        case RouteId::kReadyz: Readyz(res); break;
        case RouteId::kMetrics: res.set_content(registry.Render(), metrics::kPrometheusContentType); break;
        case RouteId::kOpenApi: res.set_content(openapi, kJson); break;
        case RouteId::kDocs: Docs(res); break;
        case RouteId::kDocsAsset: DocsAsset(req, res); break;
      }
    }
    if (res.status == -1) res.status = 200;
    Observe(route.path, res.status, Clock::now() - t0);
  }

  static void MethodNotAllowed(const httplib::Request& req, httplib::Response& res) {
    // httplib leaves the path empty for a method it does not know, but the
    // raw target is kept; its path part is enough to say what was asked.
    std::string path = req.path.empty() ? req.target.substr(0, req.target.find('?')) : req.path;
    if (path.size() > 256) path = path.substr(0, 256) + "...";
    res.set_header("Allow", "GET, HEAD");
    Reply(res, {405, "method_not_allowed", "", "only GET and HEAD are served (" + req.method + " " + path + ")"});
  }

  void Register() {
    for (const RouteSpec& route : Routes()) {
      TELEMQ_CHECK(route.method == "GET", "the gateway serves GET routes only");
      server.Get(PathRegex(route),
                 [this, &route](const httplib::Request& req, httplib::Response& res) { Dispatch(route, req, res); });
    }
    // A request httplib would answer without reading anything more (no
    // Content-Length, no Transfer-Encoding: RFC 9112 §6.3 says it has no
    // body) is refused here: httplib would otherwise wait for a body until
    // the keep-alive timeout before routing a POST or PATCH.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD") return httplib::Server::HandlerResponse::Unhandled;
      const bool has_body = req.has_header("Transfer-Encoding") ||
                            (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
      if (has_body) return httplib::Server::HandlerResponse::Unhandled;  // read (bounded), then 405 below
      MethodNotAllowed(req, res);
      Observe("unmatched", res.status, Clock::duration::zero());
      return httplib::Server::HandlerResponse::Handled;
    });
    // Requests no route matched (and httplib's own refusals) get JSON too.
    server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 414) {
        // httplib refuses a request line over 8 KiB before parsing it.
        Reply(res, {414, "uri_too_long", "",
                    "request line longer than 8192 bytes: shorten the path or the query (ids and names are at most "
                    "256 bytes)"});
      } else if (!req.method.empty() && req.method != "GET" && req.method != "HEAD") {
        // Every route is GET: any other method is refused as such, whatever
        // httplib made of the request (it refuses methods it does not know
        // as malformed).
        MethodNotAllowed(req, res);
      } else if (res.status == 404) {
        auto misrouted = MisroutedName(req.target.empty() ? req.path : req.target);
        Reply(res, misrouted ? *misrouted : ApiError{404, "not_found", "", "no route " + req.method + " " + req.path});
      } else {
        Reply(res, {res.status, "bad_request", "", "malformed request"});
      }
      Observe("unmatched", res.status, Clock::duration::zero());
    });
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      log::Error("http handler threw", {{"path", req.path}, {"error", what}});
      res.status = 500;
      res.set_content(ErrorJson({500, "internal_error", "", "internal error"}), kJson);
    });
  }

  GatewayOptions options;
  metrics::Registry registry;
  RoutingCache routing;
  Upstream upstream;
  metrics::Counter& upstream_requests;
  metrics::Histogram& upstream_latency;
  std::map<std::string, metrics::Counter*, std::less<>> upstream_errors;  // fixed after construction
  const std::string openapi;
  std::mutex series_mu;
  std::map<std::pair<std::string, int>, RequestSeries> series;  // GUARDED_BY(series_mu)
  httplib::Server server;
  std::thread server_thread;
  uint16_t port = 0;
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Gateway::~Gateway() { Stop(); }

Result<void> Gateway::Start() {
  Impl& g = *impl_;
  const int threads = std::max(2, g.options.http_threads);
  g.server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  g.server.set_keep_alive_max_count(100000);
  // An idle keep-alive connection holds a server thread: release it soon.
  g.server.set_keep_alive_timeout(5);
  g.server.set_tcp_nodelay(true);
  g.server.set_payload_max_length(64 * 1024);  // GET only: no bodies worth the name
  g.Register();
  int port = g.options.http_port;
  if (port == 0) {
    port = g.server.bind_to_any_port(g.options.http_host);
  } else if (!g.server.bind_to_port(g.options.http_host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return Fail(Errc::kIo, "cannot listen on " + g.options.http_host + ":" + std::to_string(g.options.http_port));
  }
  g.port = static_cast<uint16_t>(port);
  if (!g.DocsInstalled()) {
    log::Warn("Swagger UI not found: /docs answers 503 (run scripts/install-deps)", {{"path", g.options.docs_dir}});
  }
  g.routing.Start();
  g.server_thread = std::thread([&g] {
    if (!g.server.listen_after_bind()) log::Error("http server stopped with an error");
  });
  // Stop() is only effective once the accept loop runs, so wait for it
  // (the socket already listens: connections queue meanwhile).
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!g.server.is_running() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return Ok();
}

uint16_t Gateway::port() const { return impl_->port; }

void Gateway::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->server_thread.joinable()) impl_->server_thread.join();
  impl_->routing.Stop();
}

}  // namespace telemq::gateway
