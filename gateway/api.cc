#include "gateway/api.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "telemq/common/check.h"

namespace telemq::gateway {
namespace {

using nlohmann::json;

// Shared parameter and response definitions, so routes say the same thing
// the same way.
const ParamSpec kGpuIdParam{
    .name = "id",
    .in = ParamIn::kPath,
    .description =
        "The GPU's UUID as reported by DCGM, e.g. GPU-5fd4f087-86f3-7a43-b711-4771313afc50, "
        "percent-encoded (any characters but '/', 1..256 bytes once decoded).",
    .required = true,
    .max_length = 256,
};

const ParamSpec kHostnameParam{
    .name = "hostname",
    .in = ParamIn::kPath,
    .description = "The host's name as the exporter reports it, percent-encoded (any characters but '/', 1..256 "
                   "bytes of UTF-8 once decoded).",
    .required = true,
    .max_length = 256,
};

constexpr ResponseSpec kBadRequest{400, "A parameter is malformed, out of range or unknown; the error names it.",
                                   "Error"};
constexpr ResponseSpec kGpuNotFound{404, "No GPU with this UUID.", "Error"};
constexpr ResponseSpec kBadGateway{502, "The collector serving the data failed or answered something unusable.",
                                   "Error"};
constexpr ResponseSpec kUnavailable{
    503,
    "The GPU's partition has no serving collector right now (unowned, or being restored). Retry after the "
    "Retry-After delay.",
    "Error", "application/json", true};
// A list answer is 200 while some partitions are unavailable, and then says
// when to retry for them.
constexpr ResponseSpec ListAnswer(std::string_view description, std::string_view schema) {
  return {200, description, schema, "application/json", true, "Only when partial is true."};
}
constexpr ResponseSpec kGatewayTimeout{504, "The collector serving the data did not answer in time.", "Error"};
// Any route refuses unknown query parameters (400) and, before routing, a
// request line over 8 KiB (414).
constexpr ResponseSpec kUnknownParameter{400, "An unknown or repeated query parameter; the error names it.", "Error"};
constexpr ResponseSpec kUriTooLong{414, "The request line is longer than 8192 bytes.", "Error"};

const char* kSchemas = R"json({
  "Error": {
    "type": "object",
    "required": ["error"],
    "properties": {
      "error": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
          "status": {"type": "integer", "description": "The HTTP status, repeated."},
          "code": {"type": "string", "description": "Machine-readable cause: invalid_parameter, unknown_parameter, gpu_not_found, host_not_found, not_found, partition_unavailable, upstream_error, upstream_timeout, docs_unavailable, method_not_allowed, uri_too_long, bad_request, internal_error."},
          "parameter": {"type": "string", "description": "The offending parameter, when one is to blame."},
          "message": {"type": "string", "description": "What is wrong, for people."}
        }
      }
    }
  },
  "Gpu": {
    "type": "object",
    "required": ["uuid", "gpu_id", "device", "model_name", "hostname", "partition", "first_seen", "last_seen", "metrics"],
    "properties": {
      "uuid": {"type": "string", "description": "Identity of the GPU across the fleet."},
      "gpu_id": {"type": "integer", "description": "Index of the GPU on its host (not unique across hosts)."},
      "device": {"type": "string", "example": "nvidia0"},
      "model_name": {"type": "string", "example": "NVIDIA H100 80GB HBM3"},
      "hostname": {"type": "string"},
      "partition": {"type": "integer", "description": "Partition of the telemetry topic holding this GPU's points."},
      "first_seen": {"type": "string", "format": "date-time", "description": "Timestamp of the oldest stored point (RFC 3339, UTC, microseconds)."},
      "last_seen": {"type": "string", "format": "date-time", "description": "Timestamp of the newest stored point (RFC 3339, UTC, microseconds)."},
      "metrics": {"type": "array", "items": {"type": "string"}, "description": "Metric names with stored points, sorted."}
    }
  },
  "Availability": {
    "type": "object",
    "required": ["partial", "unavailable_partitions"],
    "properties": {
      "partial": {"type": "boolean", "description": "True when some partitions could not be read: their GPUs are missing from this answer."},
      "unavailable_partitions": {"type": "array", "items": {"type": "integer"}, "description": "Partitions that are unowned, being restored, or whose collector failed."}
    }
  },
  "GpuList": {
    "allOf": [
      {"$ref": "#/components/schemas/Availability"},
      {
        "type": "object",
        "required": ["gpus", "count"],
        "properties": {
          "gpus": {"type": "array", "items": {"$ref": "#/components/schemas/Gpu"}, "description": "Sorted by uuid."},
          "count": {"type": "integer"}
        }
      }
    ]
  },
  "Host": {
    "type": "object",
    "required": ["hostname", "gpu_count", "gpus"],
    "properties": {
      "hostname": {"type": "string"},
      "gpu_count": {"type": "integer"},
      "gpus": {"type": "array", "items": {"type": "string"}, "description": "UUIDs of the host's GPUs, sorted."}
    }
  },
  "HostList": {
    "allOf": [
      {"$ref": "#/components/schemas/Availability"},
      {
        "type": "object",
        "required": ["hosts", "count"],
        "properties": {
          "hosts": {"type": "array", "items": {"$ref": "#/components/schemas/Host"}, "description": "Sorted by hostname."},
          "count": {"type": "integer"}
        }
      }
    ]
  },
  "MetricSummary": {
    "type": "object",
    "required": ["name", "gpu_count"],
    "properties": {
      "name": {"type": "string", "example": "DCGM_FI_DEV_GPU_UTIL"},
      "gpu_count": {"type": "integer", "description": "GPUs with stored points of this metric."}
    }
  },
  "MetricList": {
    "allOf": [
      {"$ref": "#/components/schemas/Availability"},
      {
        "type": "object",
        "required": ["metrics", "count"],
        "properties": {
          "metrics": {"type": "array", "items": {"$ref": "#/components/schemas/MetricSummary"}, "description": "Sorted by name."},
          "count": {"type": "integer"}
        }
      }
    ]
  },
  "TelemetryPoint": {
    "type": "object",
    "required": ["timestamp", "metric", "value"],
    "properties": {
      "timestamp": {"type": "string", "format": "date-time", "description": "When the streamer processed the sample (RFC 3339, UTC, microseconds)."},
      "metric": {"type": "string"},
      "value": {"type": "number"}
    }
  },
  "TelemetryPage": {
    "type": "object",
    "required": ["uuid", "points", "count", "next_cursor"],
    "properties": {
      "uuid": {"type": "string"},
      "points": {"type": "array", "items": {"$ref": "#/components/schemas/TelemetryPoint"}, "description": "Ascending by (timestamp, metric)."},
      "count": {"type": "integer"},
      "next_cursor": {"type": "string", "nullable": true, "description": "Pass as cursor (with the same start_time, end_time and metric) for the next page; null on the last page."}
    }
  },
  "HostGpuList": {
    "allOf": [
      {"$ref": "#/components/schemas/Availability"},
      {
        "type": "object",
        "required": ["hostname", "gpus", "count"],
        "properties": {
          "hostname": {"type": "string"},
          "gpus": {"type": "array", "items": {"$ref": "#/components/schemas/Gpu"}, "description": "Sorted by uuid."},
          "count": {"type": "integer"}
        }
      }
    ]
  },
  "GpuLatest": {
    "type": "object",
    "required": ["uuid", "gpu_id", "hostname", "model_name", "partition", "latest"],
    "properties": {
      "uuid": {"type": "string"},
      "gpu_id": {"type": "integer"},
      "hostname": {"type": "string"},
      "model_name": {"type": "string"},
      "partition": {"type": "integer"},
      "latest": {"type": "array", "items": {"$ref": "#/components/schemas/TelemetryPoint"}, "description": "The newest point of each metric, by metric name."}
    }
  },
  "LatestList": {
    "allOf": [
      {"$ref": "#/components/schemas/Availability"},
      {
        "type": "object",
        "required": ["gpus", "count", "points"],
        "properties": {
          "gpus": {"type": "array", "items": {"$ref": "#/components/schemas/GpuLatest"}, "description": "Sorted by uuid."},
          "count": {"type": "integer", "description": "GPUs listed."},
          "points": {"type": "integer", "description": "Points listed, over all GPUs."}
        }
      }
    ]
  },
  "Health": {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "example": "ok"}}
  },
  "Readiness": {
    "type": "object",
    "required": ["ready", "broker", "partitions", "unowned_partitions", "restoring_partitions", "unreachable_collectors"],
    "properties": {
      "ready": {"type": "boolean"},
      "broker": {"type": "string", "description": "ok, or why the routing table could not be refreshed."},
      "partitions": {"type": "integer"},
      "unowned_partitions": {"type": "array", "items": {"type": "integer"}},
      "restoring_partitions": {"type": "array", "items": {"type": "integer"}},
      "unreachable_collectors": {"type": "array", "items": {"type": "string"}}
    }
  }
})json";

std::vector<RouteSpec> MakeRoutes() {
  std::vector<RouteSpec> r;
  r.push_back({.id = RouteId::kListGpus,
               .method = "GET",
               .path = "/api/v1/gpus",
               .operation_id = "listGpus",
               .tag = "gpus",
               .summary = "List every GPU",
               .description = "Asks every collector for the GPUs of the partitions it serves, merges and sorts them "
                              "by uuid. When some partitions cannot be read the answer is still 200 but says so "
                              "(partial, unavailable_partitions, and Retry-After: 1); when none can, 503.",
               .responses = {ListAnswer("The GPUs.", "GpuList"), kBadRequest, kUnavailable}});
  r.push_back(
      {.id = RouteId::kGetGpu,
       .method = "GET",
       .path = "/api/v1/gpus/{id}",
       .operation_id = "getGpu",
       .tag = "gpus",
       .summary = "One GPU",
       .params = {kGpuIdParam},
       .responses = {{200, "The GPU.", "Gpu"}, kBadRequest, kGpuNotFound, kBadGateway, kUnavailable, kGatewayTimeout}});
  r.push_back(
      {.id = RouteId::kGpuTelemetry,
       .method = "GET",
       .path = "/api/v1/gpus/{id}/telemetry",
       .operation_id = "getGpuTelemetry",
       .tag = "gpus",
       .summary = "Telemetry of one GPU, ascending by time",
       .description = "Points with start_time <= timestamp <= end_time (both optional, inclusive), ordered by "
                      "(timestamp, metric), at most `limit` per page. Follow next_cursor for the next page. With "
                      "step (and agg), one aggregated point per metric per step instead of the raw points.",
       .params = {kGpuIdParam,
                  {.name = "start_time",
                   .description = "Inclusive lower bound, RFC 3339 with an offset (Z or +hh:mm) and up to 9 fraction "
                                  "digits; finer than a microsecond rounds up.",
                   .format = "date-time",
                   .max_length = 64},
                  {.name = "end_time",
                   .description = "Inclusive upper bound, RFC 3339 like start_time; finer than a microsecond rounds "
                                  "down. Must not be before start_time.",
                   .format = "date-time",
                   .max_length = 64},
                  {.name = "metric",
                   .description = "Only points of this metric (exact name, e.g. DCGM_FI_DEV_GPU_UTIL; any characters, "
                                  "percent-encoded).",
                   .max_length = 128},
                  {.name = "limit",
                   .type = ParamType::kInteger,
                   .description = "Most points in one page (default 1000; with step, 10000).",
                   .minimum = 1,
                   .maximum = 10000,
                   .default_value = 1000},
                  {.name = "cursor",
                   .description = "next_cursor of the previous page of this same query (opaque).",
                   .max_length = 1024},
                  {.name = "step",
                   .description =
                       "Downsample: one point per metric per step, computed by the collector during its scan "
                       "(e.g. 60s, 5m, 1h30m; a plain number is seconds; 1ms..366d). Buckets are aligned to "
                       "multiples of step since the Unix epoch; a point's timestamp is its bucket's start, so the "
                       "first bucket may start before start_time. limit and cursor count bucket points.",
                   .pattern = "^([0-9]+(ms|s|m|h|d|w))+$|^[0-9]+$",
                   .max_length = 32},
                  {.name = "agg",
                   .description = "How a step's points become one: avg (default), min, max, last or count. Needs step.",
                   .enum_values = "avg,min,max,last,count"}},
       .responses = {{200, "A page of points.", "TelemetryPage"},
                     kBadRequest,
                     kGpuNotFound,
                     kBadGateway,
                     kUnavailable,
                     kGatewayTimeout}});
  r.push_back({.id = RouteId::kListHosts,
               .method = "GET",
               .path = "/api/v1/hosts",
               .operation_id = "listHosts",
               .tag = "catalog",
               .summary = "Hosts with their GPUs",
               .description = "Derived from the GPU list: same partial/unavailable_partitions rules.",
               .responses = {ListAnswer("The hosts.", "HostList"), kBadRequest, kUnavailable}});
  r.push_back({.id = RouteId::kHostGpus,
               .method = "GET",
               .path = "/api/v1/hosts/{hostname}/gpus",
               .operation_id = "listHostGpus",
               .tag = "catalog",
               .summary = "The GPUs of one host",
               .description = "The GPU list restricted to one host, same fields and partial/unavailable_partitions "
                              "rules. 404 when no GPU of the fleet has this hostname; 503 when none is found but "
                              "some partitions cannot be read (the host's GPUs may be there).",
               .params = {kHostnameParam},
               .responses = {ListAnswer("The host's GPUs.", "HostGpuList"),
                             kBadRequest,
                             {404, "No GPU of this host.", "Error"},
                             kUnavailable}});
  r.push_back({.id = RouteId::kListMetrics,
               .method = "GET",
               .path = "/api/v1/metrics",
               .operation_id = "listMetrics",
               .tag = "catalog",
               .summary = "Metric names with the number of GPUs reporting each",
               .description = "Derived from the GPU list: same partial/unavailable_partitions rules.",
               .responses = {ListAnswer("The metrics.", "MetricList"), kBadRequest, kUnavailable}});
  r.push_back(
      {.id = RouteId::kLatest,
       .method = "GET",
       .path = "/api/v1/telemetry/latest",
       .operation_id = "latestTelemetry",
       .tag = "gpus",
       .summary = "Fleet view: the newest value of each metric of every GPU",
       .description =
           "Asked of every collector in parallel. For each GPU (sorted by uuid), the newest point of each metric "
           "within 5 minutes of the GPU's newest point (an older metric is stale and left out, as Prometheus's "
           "lookback does). Filters: hostname (the GPUs of one host), metric. Same partial/unavailable_partitions "
           "rules as the GPU list.",
       .params = {{.name = "hostname",
                   .description = "Only the GPUs of this host (exact name).",
                   .max_length = 256},
                  {.name = "metric",
                   .description = "Only this metric (exact name).",
                   .max_length = 128}},
       .responses = {ListAnswer("The newest points.", "LatestList"), kBadRequest, kUnavailable}});
  r.push_back({.id = RouteId::kHealthz,
               .method = "GET",
               .path = "/healthz",
               .operation_id = "healthz",
               .tag = "operations",
               .summary = "Liveness: the process is up",
               .responses = {{200, "Up.", "Health"}}});
  r.push_back({.id = RouteId::kReadyz,
               .method = "GET",
               .path = "/readyz",
               .operation_id = "readyz",
               .tag = "operations",
               .summary = "Readiness: the broker is reachable and every partition has a serving collector",
               .responses = {{200, "Ready.", "Readiness"}, {503, "Not ready; the body says why.", "Readiness"}}});
  r.push_back({.id = RouteId::kMetrics,
               .method = "GET",
               .path = "/metrics",
               .operation_id = "metrics",
               .tag = "operations",
               .summary = "Prometheus metrics (text exposition format 0.0.4)",
               .responses = {{200, "Metrics.", "", "text/plain"}}});
  r.push_back({.id = RouteId::kOpenApi,
               .method = "GET",
               .path = "/openapi.json",
               .operation_id = "openapi",
               .tag = "operations",
               .summary = "This OpenAPI document",
               .responses = {{200, "The OpenAPI 3 document.", ""}}});
  r.push_back({.id = RouteId::kDocs,
               .method = "GET",
               .path = "/docs",
               .operation_id = "docs",
               .tag = "operations",
               .summary = "Interactive API documentation (Swagger UI)",
               .responses = {{200, "The Swagger UI page.", "", "text/html"},
                             {503, "The Swagger UI assets are not installed (see --docs-dir).", "Error"}}});
  r.push_back({.id = RouteId::kDocsAsset,
               .method = "GET",
               .path = "/docs/{file}",
               .operation_id = "docsAsset",
               .tag = "operations",
               .summary = "A static file of Swagger UI (scripts, style sheets)",
               .params = {{.name = "file",
                           .in = ParamIn::kPath,
                           .description = "File name inside the Swagger UI distribution.",
                           .required = true,
                           .pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$",
                           .max_length = 128}},
               .responses = {{200, "The file.", "",
                              "text/css,application/javascript,image/png,application/json,text/html,"
                              "application/octet-stream"},
                             {404, "No such file.", "Error"},
                             {503, "The Swagger UI assets are not installed (see --docs-dir).", "Error"}}});
  return r;
}

json ParamToJson(const ParamSpec& p) {
  json schema;
  schema["type"] = p.type == ParamType::kInteger ? "integer" : "string";
  if (p.type == ParamType::kInteger) schema["format"] = "int32";
  if (!p.format.empty()) schema["format"] = std::string(p.format);
  if (!p.pattern.empty()) schema["pattern"] = std::string(p.pattern);
  if (p.minimum) schema["minimum"] = *p.minimum;
  if (p.maximum) schema["maximum"] = *p.maximum;
  if (p.default_value) schema["default"] = *p.default_value;
  if (p.max_length) schema["maxLength"] = *p.max_length;
  if (!p.enum_values.empty()) {
    schema["enum"] = json::array();
    std::string_view values = p.enum_values;
    while (!values.empty()) {
      const size_t comma = values.find(',');
      schema["enum"].push_back(std::string(values.substr(0, comma)));
      values = comma == std::string_view::npos ? std::string_view() : values.substr(comma + 1);
    }
  }
  json out;
  out["name"] = std::string(p.name);
  out["in"] = p.in == ParamIn::kPath ? "path" : "query";
  out["description"] = std::string(p.description);
  out["required"] = p.in == ParamIn::kPath || p.required;
  out["schema"] = std::move(schema);
  return out;
}

json ResponseToJson(const ResponseSpec& r) {
  json out;
  out["description"] = std::string(r.description);
  json media = json::object();
  if (!r.schema.empty()) media["schema"] = {{"$ref", "#/components/schemas/" + std::string(r.schema)}};
  // content_type may list several media types (comma-separated): a static
  // file route answers each file with its own.
  std::string_view types = r.content_type;
  while (!types.empty()) {
    const size_t comma = types.find(',');
    out["content"][std::string(types.substr(0, comma))] = media;
    types = comma == std::string_view::npos ? std::string_view() : types.substr(comma + 1);
  }
  if (r.retry_after) {
    std::string what = "Seconds to wait before retrying.";
    if (!r.retry_after_when.empty()) {
      // Appended in two steps: `" " + std::string(...)` trips a false
      // -Wrestrict in g++ 12 at -O3.
      what += ' ';
      what += r.retry_after_when;
    }
    out["headers"]["Retry-After"] = {{"description", what}, {"schema", {{"type", "integer"}}}};
  }
  return out;
}

}  // namespace

const ParamSpec* RouteSpec::Param(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const std::vector<RouteSpec>& Routes() {
  static const std::vector<RouteSpec> routes = MakeRoutes();
  return routes;
}

const RouteSpec& RouteFor(RouteId id) {
  for (const auto& r : Routes()) {
    if (r.id == id) return r;
  }
  TELEMQ_CHECK(false, "route missing from the table");
  return Routes().front();
}

std::string PathRegex(const RouteSpec& route) {
  std::string out;
  for (size_t i = 0; i < route.path.size(); ++i) {
    const char c = route.path[i];
    if (c == '{') {
      const size_t close = route.path.find('}', i);
      TELEMQ_CHECK(close != std::string_view::npos, "unterminated path parameter");
      out += "([^/]+)";
      i = close;
    } else if (c == '.' || c == '+' || c == '*' || c == '?' || c == '(' || c == ')' || c == '[' || c == ']' ||
               c == '^' || c == '$' || c == '|' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string OpenApiDocument() {
  json doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = {
      {"title", "telemq GPU telemetry API"},
      {"version", "1.0.0"},
      {"description",
       "Public REST API of telemq-gateway: GPUs and their DCGM telemetry, read from the collectors that own the "
       "telemetry topic's partitions. Times are RFC 3339; answers use UTC with microseconds. Errors are JSON and "
       "name the offending parameter. Generated from the gateway's route table (gateway/api.cc)."}};
  doc["tags"] = json::array({{{"name", "gpus"}, {"description", "GPUs and their telemetry"}},
                             {{"name", "catalog"}, {"description", "Hosts and metric names"}},
                             {{"name", "operations"}, {"description", "Health, metrics and documentation"}}});
  doc["components"]["schemas"] = json::parse(kSchemas);
  doc["tags"].push_back(
      {{"name", "unsupported"},
       {"description", "Methods the API does not serve: every path answers them 405 with Allow: GET, HEAD."}});
  doc["components"]["responses"]["MethodNotAllowed"] = {
      {"description", "Only GET and HEAD are served."},
      {"headers", {{"Allow", {{"description", "Always GET, HEAD."}, {"schema", {{"type", "string"}}}}}}},
      {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
  json& paths = doc["paths"];
  for (const auto& route : Routes()) {
    TELEMQ_CHECK(route.method == "GET", "the gateway serves GET routes only");
    std::vector<ResponseSpec> responses = route.responses;
    auto has = [&](int status) {
      return std::any_of(responses.begin(), responses.end(), [&](const ResponseSpec& r) { return r.status == status; });
    };
    if (!has(400)) responses.push_back(kUnknownParameter);
    if (!has(414)) responses.push_back(kUriTooLong);
    std::sort(responses.begin(), responses.end(),
              [](const ResponseSpec& a, const ResponseSpec& b) { return a.status < b.status; });
    json op;
    op["operationId"] = std::string(route.operation_id);
    op["summary"] = std::string(route.summary);
    if (!route.description.empty()) op["description"] = std::string(route.description);
    op["tags"] = json::array({std::string(route.tag)});
    if (!route.params.empty()) {
      op["parameters"] = json::array();
      for (const auto& p : route.params) op["parameters"].push_back(ParamToJson(p));
    }
    for (const auto& resp : responses) op["responses"][std::to_string(resp.status)] = ResponseToJson(resp);
    json& item = paths[std::string(route.path)];
    // HEAD is served for every GET route (httplib answers it from the GET
    // handler): same statuses and headers, no body.
    json head = op;
    head["operationId"] = std::string(route.operation_id) + "Head";
    head["summary"] = std::string(route.summary) + " (headers only)";
    head.erase("description");
    for (auto& [status, resp] : head["responses"].items()) resp.erase("content");
    item["get"] = std::move(op);
    item["head"] = std::move(head);
    // Declared so that a validating client or proxy knows these answers too.
    for (const char* method : {"post", "put", "patch", "delete"}) {
      json refused;
      refused["operationId"] = std::string(method) + std::string(1, static_cast<char>(std::toupper(route.operation_id[0]))) +
                               std::string(route.operation_id.substr(1));
      refused["summary"] = "Not served (405)";
      refused["tags"] = json::array({"unsupported"});
      if (!route.params.empty()) {
        refused["parameters"] = json::array();
        for (const auto& p : route.params) {
          if (p.in == ParamIn::kPath) refused["parameters"].push_back(ParamToJson(p));
        }
        if (refused["parameters"].empty()) refused.erase("parameters");
      }
      refused["responses"]["405"] = {{"$ref", "#/components/responses/MethodNotAllowed"}};
      refused["responses"]["414"] = ResponseToJson(kUriTooLong);
      item[method] = std::move(refused);
    }
  }
  return doc.dump(2) + "\n";
}

}  // namespace telemq::gateway
