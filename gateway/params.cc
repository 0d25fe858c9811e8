#include "gateway/params.h"

#include <httplib.h>

#include <charconv>
#include <limits>
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

bool IsValidUtf8(std::string_view s) {
  // RFC 3629: shortest form only, no surrogates (U+D800..DFFF), nothing
  // above U+10FFFF. JSON (RFC 8259) carries only such text, so a name that
  // fails this can be neither stored nor answered.
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // continuation byte first, C0/C1 overlong, F5..FF
    }
    if (s.size() - i <= n) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

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
      return Invalid(name, "longer than " + std::to_string(*spec->max_length) + " bytes (percent-decoded)");
    }
    // Checked before anything is forwarded: a collector cannot answer a
    // name JSON cannot carry.
    if (!IsValidUtf8(value)) return Invalid(name, "not valid UTF-8 once percent-decoded");
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

std::optional<ApiError> CheckPathName(std::string_view parameter, std::string_view value, size_t max_bytes) {
  // '/' cannot be routed (it separates path segments, here and at the
  // collector), so it is refused by name rather than as a 404. Invalid UTF-8
  // is refused here, never forwarded: JSON cannot carry it.
  const std::string rule = "1.." + std::to_string(max_bytes) + " bytes of UTF-8 without '/', percent-encoded";
  if (value.empty()) return Invalid(parameter, "empty " + std::string(parameter) + " (" + rule + ")");
  if (value.size() > max_bytes) {
    return Invalid(parameter, std::to_string(value.size()) + " bytes is too long (" + rule + ")");
  }
  if (value.find('/') != std::string_view::npos) return Invalid(parameter, "contains '/' (" + rule + ")");
  if (!IsValidUtf8(value)) return Invalid(parameter, "not valid UTF-8 once percent-decoded (" + rule + ")");
  return std::nullopt;
}

std::optional<ApiError> CheckGpuId(std::string_view id) { return CheckPathName("id", id, kMaxGpuIdBytes); }

tl::expected<int64_t, std::string> ParseStep(std::string_view text) {
  struct Unit {
    std::string_view name;
    int64_t us;
  };
  // Longest names first, so "ms" is not read as "m" then "s".
  static constexpr Unit kUnits[] = {{"ms", 1'000},          {"s", 1'000'000},           {"m", 60'000'000},
                                    {"h", 3'600'000'000},   {"d", 86'400'000'000},      {"w", 604'800'000'000}};
  auto unit_rank = [](std::string_view name) {
    static constexpr std::string_view kOrder[] = {"w", "d", "h", "m", "s", "ms"};
    for (int i = 0; i < 6; ++i) {
      if (kOrder[i] == name) return i;
    }
    return -1;
  };
  const std::string bad = "'" + std::string(text) + "' is not a duration (e.g. 60s, 1m, 1h30m, or 60 for seconds)";
  if (text.empty()) return tl::unexpected(bad);
  int64_t total = 0;
  int last_rank = -1;
  size_t i = 0;
  bool plain = true;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j - i > 12) return tl::unexpected(bad);
    int64_t n = 0;
    std::from_chars(text.data() + i, text.data() + j, n);
    if (j == text.size() && plain) return n > 0 ? tl::expected<int64_t, std::string>(n * 1'000'000) : tl::unexpected(bad);
    plain = false;
    const Unit* unit = nullptr;
    for (const auto& u : kUnits) {
      if (text.substr(j, u.name.size()) == u.name && (unit == nullptr || u.name.size() > unit->name.size())) unit = &u;
    }
    if (unit == nullptr) return tl::unexpected(bad);
    const int rank = unit_rank(unit->name);
    if (rank <= last_rank) return tl::unexpected(bad);  // units in decreasing order, each once
    last_rank = rank;
    if (n > std::numeric_limits<int64_t>::max() / unit->us - total / unit->us - 1) return tl::unexpected(bad);
    total += n * unit->us;
    i = j + unit->name.size();
  }
  if (total <= 0) return tl::unexpected(bad);
  return total;
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
  if (const auto* v = Single(params, "step")) {
    auto step = ParseStep(*v);
    if (!step) return tl::unexpected(Invalid("step", step.error()));
    if (*step < kMinStepUs || *step > kMaxStepUs) {
      return tl::unexpected(Invalid("step", "'" + *v + "' is outside 1ms..366d"));
    }
    q.step_us = *step;
  }
  if (const auto* v = Single(params, "agg")) {
    if (!q.step_us) return tl::unexpected(Invalid("agg", "agg needs step (e.g. step=60s&agg=" + *v + ")"));
    if (*v != "avg" && *v != "min" && *v != "max" && *v != "last" && *v != "count") {
      return tl::unexpected(Invalid("agg", "'" + *v + "' is not one of avg, min, max, last, count"));
    }
    q.agg = *v;
  }
  if (q.step_us && q.agg.empty()) q.agg = "avg";
  // A plotted series comes whole when it can: a downsampled query without
  // limit gets the largest page (a day at 60 s is 1,440 points per metric),
  // as a Prometheus range query returns every step.
  if (q.step_us && Single(params, "limit") == nullptr) q.limit = static_cast<int32_t>(limit->maximum.value_or(10000));
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
  if (q.step_us) target += "&step_us=" + std::to_string(*q.step_us) + "&agg=" + q.agg;
  return target;
}

std::string CollectorLatestTarget(std::string_view hostname, std::string_view metric) {
  std::string target = "/internal/v1/latest";
  char sep = '?';
  if (!hostname.empty()) {
    target += sep + std::string("hostname=") + Encode(hostname);
    sep = '&';
  }
  if (!metric.empty()) target += sep + std::string("metric=") + Encode(metric);
  return target;
}

}  // namespace telemq::gateway
