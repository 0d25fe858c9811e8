#include "gateway/params.h"

#include <httplib.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/rfc3339.h"

namespace telemq::gateway {
namespace {

ApiError Invalid(std::string_view parameter, std::string message) {
  return {400, "invalid_parameter", std::string(parameter), std::move(message)};
}

// Percent-encodes everything but RFC 3986 unreserved characters (and
// "!*'()"), '/' and '+' included: safe in a query value and a path segment.
std::string Encode(std::string_view value) { return httplib::detail::encode_query_param(std::string(value)); }

const std::string* Single(const QueryParams& params, std::string_view name) {
  const auto it = params.find(std::string(name));
  return it == params.end() ? nullptr : &it->second;
}

}  // namespace

std::string ErrorJson(const ApiError& e) {
  nlohmann::json body = {{"status", e.status}, {"code", e.code}, {"message", e.message}};
  if (!e.parameter.empty()) body["parameter"] = e.parameter;
  return nlohmann::json{{"error", std::move(body)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<ApiError> CheckQuery(const RouteSpec& route, const QueryParams& params) {
  for (auto it = params.begin(); it != params.end(); it = params.upper_bound(it->first)) {
    const std::string& name = it->first;
    const ParamSpec* spec = route.Param(name);
    if (spec == nullptr || spec->in != ParamIn::kQuery) {
      std::string known;
      for (const auto& p : route.params) {
        if (p.in != ParamIn::kQuery) continue;
        known += known.empty() ? "" : ", ";
        known += p.name;
      }
      return ApiError{400, "unknown_parameter", name,
                      "unknown query parameter '" + name + "'" +
                          (known.empty() ? std::string(" (this route takes none)") : " (known: " + known + ")")};
    }
    if (params.count(name) > 1) return Invalid(name, "given more than once");
    const std::string& value = it->second;
    if (spec->max_length && value.size() > *spec->max_length) {
      return Invalid(name, "longer than " + std::to_string(*spec->max_length) + " characters");
    }
    if (spec->type == ParamType::kInteger) {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        return Invalid(name, "'" + value + "' is not an integer");
      }
      if ((spec->minimum && v < *spec->minimum) || (spec->maximum && v > *spec->maximum)) {
        return Invalid(name, std::to_string(v) + " is out of range " + std::to_string(spec->minimum.value_or(0)) +
                                 ".." + std::to_string(spec->maximum.value_or(0)));
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> CheckGpuId(std::string_view id) {
  // '/' cannot reach a handler (it separates path segments) nor the
  // collector's route, so it is refused by name rather than as a 404.
  if (!id.empty() && id.size() <= kMaxGpuIdBytes && id.find('/') == std::string_view::npos) return std::nullopt;
  return Invalid("id", "not a GPU UUID: 1.." + std::to_string(kMaxGpuIdBytes) + " bytes, no '/'");
}

tl::expected<TelemetryQuery, ApiError> ParseTelemetryQuery(std::string_view id, const QueryParams& params) {
  const RouteSpec& route = RouteFor(RouteId::kGpuTelemetry);
  if (auto e = CheckQuery(route, params)) return tl::unexpected(std::move(*e));
  if (auto e = CheckGpuId(id)) return tl::unexpected(std::move(*e));
  TelemetryQuery q;
  q.uuid.assign(id);
  if (const auto* v = Single(params, "start_time")) {
    auto t = ParseRfc3339(*v, SubMicros::kRoundUp);
    if (!t) return tl::unexpected(Invalid("start_time", "'" + *v + "': " + t.error().message()));
    q.start_us = *t;
  }
  if (const auto* v = Single(params, "end_time")) {
    auto t = ParseRfc3339(*v, SubMicros::kRoundDown);
    if (!t) return tl::unexpected(Invalid("end_time", "'" + *v + "': " + t.error().message()));
    q.end_us = *t;
  }
  // Compare the instants the user wrote, not the rounded bounds: a window
  // inside one microsecond is valid (and empty), a reversed one is not.
  if (q.start_us && q.end_us) {
    const auto start_exact = ParseRfc3339Exact(*Single(params, "start_time"));
    const auto end_exact = ParseRfc3339Exact(*Single(params, "end_time"));
    if (*start_exact > *end_exact) return tl::unexpected(Invalid("start_time", "start_time is after end_time"));
  }
  // Any name the export may carry (CheckQuery bounded its length); it is
  // percent-encoded when forwarded.
  if (const auto* v = Single(params, "metric")) {
    if (v->empty()) return tl::unexpected(Invalid("metric", "empty metric name"));
    q.metric = *v;
  }
  const ParamSpec* limit = route.Param("limit");
  q.limit = static_cast<int32_t>(limit->default_value.value_or(1000));
  if (const auto* v = Single(params, "limit")) {
    std::from_chars(v->data(), v->data() + v->size(), q.limit);  // CheckQuery vetted it
  }
  if (const auto* v = Single(params, "cursor")) {
    auto position = DecodeCursor(*v, q.Scope());
    if (!position) return tl::unexpected(Invalid("cursor", position.error().message()));
    q.after = std::move(*position);
  }
  return q;
}

std::string CollectorGpuTarget(std::string_view uuid, int32_t partition) {
  return "/internal/v1/gpus/" + Encode(uuid) + "?partition=" + std::to_string(partition);
}

std::string CollectorTelemetryTarget(const TelemetryQuery& q, int32_t partition) {
  std::string target = "/internal/v1/gpus/" + Encode(q.uuid) + "/telemetry?partition=" + std::to_string(partition) +
                       "&limit=" + std::to_string(q.limit);
  if (q.start_us) target += "&start_us=" + std::to_string(*q.start_us);
  if (q.end_us) target += "&end_us=" + std::to_string(*q.end_us);
  if (!q.metric.empty()) target += "&metric=" + Encode(q.metric);
  if (q.after)
    target += "&after_us=" + std::to_string(q.after->after_us) + "&after_metric=" + Encode(q.after->after_metric);
  return target;
}

}  // namespace telemq::gateway
