#include "collector/http_api.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <variant>

namespace telemq::collector {
namespace {

using nlohmann::json;

ApiResponse Error(int status, std::string_view code, std::string_view message) {
  ApiResponse r;
  r.status = status;
  r.body = ErrorBody(code, message);
  r.retry_after = status == 503;
  return r;
}

// Names come from the export as they are: one that is not UTF-8 must not
// make the JSON library throw (a 500 echoing the bytes); it is replaced
// (U+FFFD) instead. The gateway refuses such names before forwarding.
ApiResponse Json(const json& j) {
  ApiResponse r;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// A malformed parameter, for a 400 naming it.
struct BadParameter {
  std::string name;
  std::string message;
};

const std::string* Param(const QueryParams& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

// Whole-string base-10 integer within [lo, hi]: no sign '+', spaces or
// trailing bytes.
template <typename T>
std::optional<BadParameter> ParseInt(const QueryParams& params, const std::string& name, T lo, T hi,
                                     std::optional<T>* out) {
  const std::string* v = Param(params, name);
  if (v == nullptr) return std::nullopt;
  T value{};
  const char* end = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(v->data(), end, value);
  if (v->empty() || ec != std::errc() || ptr != end) {
    return BadParameter{name, name + " must be an integer, got '" + *v + "'"};
  }
  if (value < lo || value > hi) {
    return BadParameter{name,
                        name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + *v};
  }
  *out = value;
  return std::nullopt;
}

std::optional<BadParameter> ParseName(const QueryParams& params, const std::string& name,
                                      std::optional<std::string>* out) {
  const std::string* v = Param(params, name);
  if (v == nullptr) return std::nullopt;
  if (v->empty()) return BadParameter{name, name + " must not be empty"};
  *out = *v;
  return std::nullopt;
}

ApiResponse BadRequest(const BadParameter& bad) {
  ApiResponse r = Error(400, "invalid_parameter", bad.message);
  // The parameter's name, also as a field, so clients need not parse prose.
  auto j = json::parse(r.body);
  j["error"]["parameter"] = bad.name;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

std::optional<BadParameter> ParsePartition(const QueryParams& params, int32_t* partition) {
  std::optional<int32_t> p;
  if (auto bad = ParseInt<int32_t>(params, "partition", 0, std::numeric_limits<int32_t>::max(), &p)) return bad;
  if (!p) return BadParameter{"partition", "partition is required"};
  *partition = *p;
  return std::nullopt;
}

// The serving store of `partition`, or the 503 to answer.
std::variant<std::shared_ptr<PartitionStore>, ApiResponse> ServingStore(const PartitionDirectory& dir,
                                                                        int32_t partition) {
  auto h = dir.Find(partition);
  const std::string p = std::to_string(partition);
  if (!h) return Error(503, "partition_unavailable", "partition " + p + " is not owned by this collector");
  if (h->state != PartitionState::kServing || h->store == nullptr) {
    return Error(503, "partition_unavailable", "partition " + p + " is restoring");
  }
  return h->store;
}

ApiResponse StoreError(const telemq::Error& e, int32_t partition) {
  switch (e.code()) {
    case Errc::kNotFound: return Error(404, "gpu_not_found", e.message());
    case Errc::kShuttingDown:
      return Error(503, "partition_unavailable",
                   "partition " + std::to_string(partition) + " is no longer owned by this collector");
    default: return Error(500, "internal", e.ToString());
  }
}

json GpuJson(const GpuSummary& g, int32_t partition) {
  return json{{"uuid", g.uuid},
              {"gpu_id", g.gpu_id},
              {"device", g.device},
              {"model_name", g.model_name},
              {"hostname", g.hostname},
              {"partition", partition},
              {"first_timestamp_us", g.first_timestamp_us},
              {"last_timestamp_us", g.last_timestamp_us},
              {"metrics", g.metrics}};
}

}  // namespace

std::string_view PartitionStateName(PartitionState state) {
  return state == PartitionState::kServing ? "serving" : "restoring";
}

std::string ErrorBody(std::string_view code, std::string_view message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiResponse HandleStatus(const PartitionDirectory& dir) {
  json parts = json::array();
  for (const auto& h : dir.Partitions()) {
    StoreStats s;
    if (h.store) s = h.store->Stats();
    parts.push_back({{"partition", h.partition},
                     {"state", PartitionStateName(h.state)},
                     {"applied_offset", s.applied.value()},
                     {"gpus", s.gpus},
                     {"points", s.points}});
  }
  return Json({{"member_id", dir.MemberId()}, {"partitions", std::move(parts)}});
}

ApiResponse HandleGpus(const PartitionDirectory& dir) {
  json gpus = json::array();
  json serving = json::array();
  json restoring = json::array();
  for (const auto& h : dir.Partitions()) {
    if (h.state != PartitionState::kServing || h.store == nullptr) {
      restoring.push_back(h.partition);
      continue;
    }
    auto list = h.store->ListGpus();
    if (!list) {
      // Closed since the snapshot: no longer ours, so in neither list.
      if (list.error().code() == Errc::kShuttingDown) continue;
      return Error(500, "internal", list.error().ToString());
    }
    for (const auto& g : *list) gpus.push_back(GpuJson(g, h.partition));
    serving.push_back(h.partition);
  }
  return Json({{"gpus", std::move(gpus)}, {"serving", std::move(serving)}, {"restoring", std::move(restoring)}});
}

namespace {

// JSON writers for the fleet view (every GPU with ten points each, ~1 MB
// for 1,000 GPUs) and telemetry pages (up to 10,000 points): written
// straight into the body, since an nlohmann document of them costs more than
// the store reads.
void AppendString(std::string_view s, std::string& out) {
  // Strings are written as nlohmann writes them with error_handler_t::replace.
  out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

void AppendPlainOrEscaped(std::string_view s, std::string& out) {
  // Fast path: printable ASCII without '"' or '\\' is copied as is.
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return AppendString(s, out);
  }
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

void AppendNumber(double v, std::string& out) {
  // JSON has no NaN or infinity (stored values are finite; an average can
  // overflow): null, as nlohmann writes them.
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round trip
  out.append(buf, r.ptr);
}

void AppendInt(int64_t v, std::string& out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

ApiResponse HandleLatest(const PartitionDirectory& dir, const QueryParams& params) {
  LatestQuery q;
  if (auto bad = ParseName(params, "hostname", &q.hostname)) return BadRequest(*bad);
  if (auto bad = ParseName(params, "metric", &q.metric)) return BadRequest(*bad);
  std::string out = "{\"gpus\":[";
  std::string serving, restoring;
  bool first_gpu = true;
  for (const auto& h : dir.Partitions()) {
    if (h.state != PartitionState::kServing || h.store == nullptr) {
      if (!restoring.empty()) restoring.push_back(',');
      AppendInt(h.partition, restoring);
      continue;
    }
    auto latest = h.store->Latest(q);
    if (!latest) {
      if (latest.error().code() == Errc::kShuttingDown) continue;  // no longer ours
      return Error(500, "internal", latest.error().ToString());
    }
    out.reserve(out.size() + latest->gpus.size() * 1100);
    for (const auto& g : latest->gpus) {
      if (!first_gpu) out.push_back(',');
      first_gpu = false;
      out.append("{\"uuid\":");
      AppendPlainOrEscaped(g.gpu.uuid, out);
      out.append(",\"gpu_id\":");
      AppendInt(g.gpu.gpu_id, out);
      out.append(",\"device\":");
      AppendPlainOrEscaped(g.gpu.device, out);
      out.append(",\"model_name\":");
      AppendPlainOrEscaped(g.gpu.model_name, out);
      out.append(",\"hostname\":");
      AppendPlainOrEscaped(g.gpu.hostname, out);
      out.append(",\"partition\":");
      AppendInt(h.partition, out);
      out.append(",\"first_timestamp_us\":");
      AppendInt(g.gpu.first_timestamp_us, out);
      out.append(",\"last_timestamp_us\":");
      AppendInt(g.gpu.last_timestamp_us, out);
      out.append(",\"metrics\":[");
      for (size_t i = 0; i < g.gpu.metrics.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendPlainOrEscaped(g.gpu.metrics[i], out);
      }
      out.append("],\"latest\":[");
      for (size_t i = 0; i < g.points.size(); ++i) {
        if (i > 0) out.push_back(',');
        out.append("{\"metric\":");
        AppendPlainOrEscaped(g.points[i].metric, out);
        out.append(",\"timestamp_us\":");
        AppendInt(g.points[i].timestamp_us, out);
        out.append(",\"value\":");
        AppendNumber(g.points[i].value, out);
        out.push_back('}');
      }
      out.append("]}");
    }
    if (!serving.empty()) serving.push_back(',');
    AppendInt(h.partition, serving);
  }
  out.append("],\"serving\":[" + serving + "],\"restoring\":[" + restoring + "]}");
  ApiResponse r;
  r.body = std::move(out);
  return r;
}

ApiResponse HandleGpu(const PartitionDirectory& dir, std::string_view uuid, const QueryParams& params) {
  int32_t partition = 0;
  if (auto bad = ParsePartition(params, &partition)) return BadRequest(*bad);
  auto store = ServingStore(dir, partition);
  if (auto* r = std::get_if<ApiResponse>(&store)) return *r;
  auto g = std::get<0>(store)->GetGpu(uuid);
  if (!g) return StoreError(g.error(), partition);
  return Json(GpuJson(*g, partition));
}

ApiResponse HandleTelemetry(const PartitionDirectory& dir, std::string_view uuid, const QueryParams& params) {
  constexpr auto kMin = std::numeric_limits<int64_t>::min();
  constexpr auto kMax = std::numeric_limits<int64_t>::max();
  int32_t partition = 0;
  if (auto bad = ParsePartition(params, &partition)) return BadRequest(*bad);
  WindowQuery q;
  std::optional<int64_t> limit;
  if (auto bad = ParseInt<int64_t>(params, "start_us", kMin, kMax, &q.start_us)) return BadRequest(*bad);
  if (auto bad = ParseInt<int64_t>(params, "end_us", kMin, kMax, &q.end_us)) return BadRequest(*bad);
  if (auto bad = ParseInt<int64_t>(params, "limit", 1, kMaxQueryLimit, &limit)) return BadRequest(*bad);
  if (auto bad = ParseInt<int64_t>(params, "after_us", kMin, kMax, &q.after_us)) return BadRequest(*bad);
  if (auto bad = ParseName(params, "metric", &q.metric)) return BadRequest(*bad);
  if (auto bad = ParseName(params, "after_metric", &q.after_metric)) return BadRequest(*bad);
  if (q.start_us && q.end_us && *q.start_us > *q.end_us) {
    return BadRequest({"end_us", "end_us (" + std::to_string(*q.end_us) + ") is before start_us (" +
                                     std::to_string(*q.start_us) + ")"});
  }
  if (q.after_metric && !q.after_us) return BadRequest({"after_metric", "after_metric needs after_us"});
  q.limit = static_cast<size_t>(limit.value_or(kDefaultQueryLimit));
  std::optional<int64_t> step_us;
  if (auto bad = ParseInt<int64_t>(params, "step_us", 1, kMax, &step_us)) return BadRequest(*bad);
  std::optional<std::string> agg;
  if (auto bad = ParseName(params, "agg", &agg)) return BadRequest(*bad);
  if (agg && !step_us) return BadRequest({"agg", "agg needs step_us"});
  if (step_us) {
    Downsample d{.step_us = *step_us};
    const std::string a = agg.value_or("avg");
    if (a == "avg") {
      d.agg = Aggregation::kAvg;
    } else if (a == "min") {
      d.agg = Aggregation::kMin;
    } else if (a == "max") {
      d.agg = Aggregation::kMax;
    } else if (a == "last") {
      d.agg = Aggregation::kLast;
    } else if (a == "count") {
      d.agg = Aggregation::kCount;
    } else {
      return BadRequest({"agg", "agg must be avg, min, max, last or count, got '" + a + "'"});
    }
    q.downsample = d;
  }

  auto store = ServingStore(dir, partition);
  if (auto* r = std::get_if<ApiResponse>(&store)) return *r;
  auto result = std::get<0>(store)->QueryWindow(uuid, q);
  if (!result) return StoreError(result.error(), partition);
  // Written by hand, as the fleet view: a page of 10,000 points through an
  // nlohmann document cost as much as the scan of a downsampled day.
  std::string out;
  out.reserve(32 + result->points.size() * 80);
  out.append("{\"points\":[");
  for (size_t i = 0; i < result->points.size(); ++i) {
    const QueryPoint& p = result->points[i];
    if (i > 0) out.push_back(',');
    out.append("{\"timestamp_us\":");
    AppendInt(p.timestamp_us, out);
    out.append(",\"metric\":");
    AppendPlainOrEscaped(p.metric, out);
    out.append(",\"value\":");
    AppendNumber(p.value, out);
    out.push_back('}');
  }
  out.append(result->more ? "],\"more\":true}" : "],\"more\":false}");
  ApiResponse r;
  r.body = std::move(out);
  return r;
}

}  // namespace telemq::collector
