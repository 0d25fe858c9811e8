#pragma once
// Request validation for the public API: every query is checked against its
// route's parameter table (api.h) before anything is forwarded, and every
// refusal is an ApiError that names the offending parameter.
//
// Decisions (docs/gateway.md): an unknown or repeated query parameter is a
// 400 (a typo such as `start=` must not silently widen a query); integers
// must be plain base-10 within the documented bounds; times are RFC 3339
// (rfc3339.h); a cursor must come from the same query (cursor.h).
// Pure functions, safe from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "gateway/api.h"
#include "gateway/cursor.h"

namespace telemq::gateway {

struct ApiError {
  int status = 400;
  std::string code;       // invalid_parameter, unknown_parameter, gpu_not_found, ...
  std::string parameter;  // empty when no single parameter is to blame
  std::string message;
  bool retry_after = false;  // 503: add "Retry-After: 1"
};

// {"error":{"status":..,"code":..,"parameter":..,"message":..}} (parameter
// only when set).
std::string ErrorJson(const ApiError& error);

// Same type as httplib::Params, so handlers pass request params as they are.
using QueryParams = std::multimap<std::string, std::string>;

// Unknown or repeated names, integers that are malformed or out of bounds,
// strings over their length limit. Path parameters are not query parameters.
std::optional<ApiError> CheckQuery(const RouteSpec& route, const QueryParams& params);

// RFC 3629 UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view s);

// A name in a path segment (already percent-decoded by the HTTP server):
// 1..max_bytes bytes of valid UTF-8 without '/'. The streamer takes names
// from the export as they are, so the gateway must not refuse one it lists;
// but a name JSON cannot carry is refused before it is forwarded.
std::optional<ApiError> CheckPathName(std::string_view parameter, std::string_view value, size_t max_bytes);

// The {id} path parameter: CheckPathName with kMaxGpuIdBytes.
inline constexpr size_t kMaxGpuIdBytes = 256;
std::optional<ApiError> CheckGpuId(std::string_view id);

struct TelemetryQuery {
  std::string uuid;
  std::optional<int64_t> start_us;
  std::optional<int64_t> end_us;
  std::string metric;  // empty: all metrics
  int32_t limit = 1000;
  std::optional<CursorPosition> after;
  // Downsampling (step=60s&agg=avg): one point per bucket and metric,
  // computed by the collector. agg is "" without step.
  std::optional<int64_t> step_us;
  std::string agg;

  CursorScope Scope() const { return {uuid, start_us, end_us, metric, step_us, agg}; }
  // A window inside one microsecond: after rounding the bounds inward
  // (rfc3339.h) start_us > end_us, and no stored point can match.
  bool EmptyWindow() const { return start_us && end_us && *start_us > *end_us; }
};

// A step as Prometheus writes durations: one or more <integer><unit> with
// units ms, s, m, h, d, w in decreasing order ("90s", "1m30s", "1h"), or a
// plain integer of seconds ("60"). Microseconds, or an error message.
tl::expected<int64_t, std::string> ParseStep(std::string_view text);
inline constexpr int64_t kMinStepUs = 1'000;                 // 1 ms
inline constexpr int64_t kMaxStepUs = 366 * 86'400'000'000;  // a leap year

// Validates the id and the query of GET /api/v1/gpus/{id}/telemetry.
tl::expected<TelemetryQuery, ApiError> ParseTelemetryQuery(std::string_view id, const QueryParams& params);

// The collector's internal API targets for a GPU of `partition`. Every
// forwarded value (uuid path segment, metric, cursor metric) is
// percent-encoded, so names holding '&', '#', '%', '+' or spaces reach the
// collector as they are and cannot add parameters.
std::string CollectorGpuTarget(std::string_view uuid, int32_t partition);
std::string CollectorTelemetryTarget(const TelemetryQuery& q, int32_t partition);
// /internal/v1/latest with the optional filters (empty: none).
std::string CollectorLatestTarget(std::string_view hostname, std::string_view metric);

}  // namespace telemq::gateway
