#include "gateway/params.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/rfc3339.h"

namespace telemq::gateway {
namespace {

ApiError Invalid(std::string_view parameter, std::string message) {
  return {400, "invalid_parameter", std::string(parameter), std::move(message)};
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

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
  bool ok = !id.empty() && id.size() <= 128;
  for (char c : id) ok = ok && IsNameChar(c);
  if (ok) return std::nullopt;
  return Invalid("id", "not a GPU UUID: 1..128 letters, digits, '.', '_', ':' or '-'");
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
  if (const auto* v = Single(params, "metric")) {
    bool ok = !v->empty();
    for (char c : *v) ok = ok && IsNameChar(c);
    if (!ok) return tl::unexpected(Invalid("metric", "not a metric name: letters, digits, '.', '_', ':' or '-'"));
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

}  // namespace telemq::gateway
