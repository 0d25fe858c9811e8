#pragma once
// The public REST API as data: one table of routes (method, path template,
// parameters with types and bounds, responses). The gateway registers its
// HTTP handlers from this table, validates query parameters against it, and
// builds the OpenAPI 3 document from it, so the served spec and the served
// API cannot drift apart. docs/gateway.md describes the API in prose.
// Everything here is immutable after first use; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace telemq::gateway {

enum class RouteId {
  kListGpus,
  kGetGpu,
  kGpuTelemetry,
  kListHosts,
  kHostGpus,
  kListMetrics,
  kLatest,
  kHealthz,
  kReadyz,
  kMetrics,
  kOpenApi,
  kDocs,
  kDocsAsset,
};

enum class ParamIn { kPath, kQuery };
enum class ParamType { kString, kInteger };

struct ParamSpec {
  std::string_view name;
  ParamIn in = ParamIn::kQuery;
  ParamType type = ParamType::kString;
  std::string_view description;
  bool required = false;
  std::string_view format;   // OpenAPI format, e.g. "date-time"
  std::string_view pattern;  // documented; the handlers check the same rule by hand
  std::optional<int64_t> minimum;
  std::optional<int64_t> maximum;
  std::optional<int64_t> default_value;
  std::optional<size_t> max_length;
  std::string_view enum_values;  // comma-separated allowed values; empty: any
};

struct ResponseSpec {
  int status = 200;
  std::string_view description;
  std::string_view schema;  // a components/schemas name; empty: none
  std::string_view content_type = "application/json";  // several: comma-separated
  bool retry_after = false;           // documents the Retry-After header
  std::string_view retry_after_when;  // when it is sent, if not always
};

struct RouteSpec {
  RouteId id;
  std::string_view method;  // "GET"
  std::string_view path;    // OpenAPI template: "/api/v1/gpus/{id}"
  std::string_view operation_id;
  std::string_view tag;
  std::string_view summary;
  std::string_view description;
  std::vector<ParamSpec> params;
  std::vector<ResponseSpec> responses;

  const ParamSpec* Param(std::string_view name) const;
};

// Every route the gateway serves, in registration order.
const std::vector<RouteSpec>& Routes();
const RouteSpec& RouteFor(RouteId id);

// The regex httplib matches the whole request path against: each {name}
// becomes one capture group of a path segment, in order.
std::string PathRegex(const RouteSpec& route);

// The OpenAPI 3.0 document (pretty-printed JSON, keys sorted, newline at the
// end): what /openapi.json serves and `make openapi` writes to docs/openapi.json.
std::string OpenApiDocument();

}  // namespace telemq::gateway
