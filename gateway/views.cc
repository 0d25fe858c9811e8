#include "gateway/views.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gateway/rfc3339.h"

namespace telemq::gateway {
namespace {

using nlohmann::json;

// Streaming reader of {"points":[{"timestamp_us":..,"metric":"..","value":..},...],"more":bool}
// that writes public points as it goes. Unknown keys are skipped (the
// collector may add fields), missing or mistyped required ones are errors.
class PointsSax {
 public:
  explicit PointsSax(std::string& out) : out_(out) {}

  bool null() { return Scalar("null"); }
  bool boolean(bool v) {
    if (skip_ == 0 && depth_ == 1 && key_ == "more") {
      summary_.more = v;
      saw_more_ = true;
      return true;
    }
    return Scalar("boolean");
  }
  bool number_integer(json::number_integer_t v) { return Integer(v); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (v > static_cast<json::number_unsigned_t>(INT64_MAX)) return Fail("integer out of range");
    return Integer(static_cast<int64_t>(v));
  }
  bool number_float(json::number_float_t, const json::string_t& raw) {
    if (InPoint() && key_ == "value") {
      value_.assign(raw);
      has_value_ = true;
      return true;
    }
    return Scalar("number");
  }
  bool string(json::string_t& v) {
    if (InPoint() && key_ == "metric") {
      metric_ = std::move(v);
      has_metric_ = true;
      return true;
    }
    return Scalar("string");
  }
  bool binary(json::binary_t&) { return Fail("binary value"); }
  bool start_object(std::size_t) {
    if (skip_ > 0) return Unskip(+1);
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    if (depth_ == 2 && in_points_) {
      ++depth_;
      has_ts_ = has_metric_ = has_value_ = false;
      return true;
    }
    return Skip();
  }
  bool end_object() {
    if (skip_ > 0) return Unskip(-1);
    if (depth_ == 3) {
      --depth_;
      return EmitPoint();
    }
    --depth_;
    return true;
  }
  bool start_array(std::size_t) {
    if (skip_ > 0) return Unskip(+1);
    if (depth_ == 1 && key_ == "points" && !saw_points_) {
      ++depth_;
      in_points_ = saw_points_ = true;
      return true;
    }
    return Skip();
  }
  bool end_array() {
    if (skip_ > 0) return Unskip(-1);
    --depth_;
    in_points_ = false;
    return true;
  }
  bool key(json::string_t& k) {
    if (skip_ == 0) key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = "invalid JSON at byte " + std::to_string(position);
    return false;
  }

  Result<PageSummary> Finish(bool parsed) {
    if (!error_.empty()) return telemq::Fail(Errc::kCorrupt, "collector telemetry reply: " + error_);
    if (!parsed) return telemq::Fail(Errc::kCorrupt, "collector telemetry reply: invalid JSON");
    if (!saw_points_) return telemq::Fail(Errc::kCorrupt, "collector telemetry reply: no \"points\" array");
    if (!saw_more_) return telemq::Fail(Errc::kCorrupt, "collector telemetry reply: no \"more\" flag");
    return summary_;
  }

 private:
  bool InPoint() const { return skip_ == 0 && depth_ == 3; }
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  // A scalar where only an object member of no interest may be.
  bool Scalar(const char* what) {
    if (skip_ > 0) return true;
    if (depth_ == 1 || InPoint()) {
      if (InPoint() && (key_ == "timestamp_us" || key_ == "metric" || key_ == "value")) {
        return Fail(std::string("point field \"") + key_ + "\" has the wrong type (" + what + ")");
      }
      if (depth_ == 1 && key_ == "more") return Fail("\"more\" is not a boolean");
      return true;
    }
    return Fail(std::string("unexpected ") + what);
  }
  bool Integer(int64_t v) {
    if (InPoint() && key_ == "timestamp_us") {
      ts_ = v;
      has_ts_ = true;
      return true;
    }
    if (InPoint() && key_ == "value") {
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof buf, v);
      value_.assign(buf, r.ptr);
      has_value_ = true;
      return true;
    }
    return Scalar("integer");
  }
  // Starts skipping a nested value of no interest (an unknown member).
  bool Skip() {
    if (!(depth_ == 1 || InPoint())) return Fail("unexpected nesting");
    if (InPoint() && (key_ == "timestamp_us" || key_ == "metric" || key_ == "value")) {
      return Fail("point field \"" + key_ + "\" has the wrong type");
    }
    ++skip_;
    return true;
  }
  bool Unskip(int delta) {
    skip_ += delta;
    return true;
  }
  bool EmitPoint() {
    if (!has_ts_ || !has_metric_ || !has_value_) return Fail("a point lacks timestamp_us, metric or value");
    if (summary_.count > 0) out_.push_back(',');
    out_.append("{\"timestamp\":\"");
    AppendRfc3339(ts_, out_);
    out_.append("\",\"metric\":");
    AppendJsonString(metric_, out_);
    out_.append(",\"value\":");
    out_.append(value_);
    out_.push_back('}');
    ++summary_.count;
    if (!summary_.last) summary_.last.emplace();
    summary_.last->after_us = ts_;
    summary_.last->after_metric.swap(metric_);
    return true;
  }

  std::string& out_;
  PageSummary summary_;
  int depth_ = 0;  // 1: root object, 2: points array, 3: a point
  int skip_ = 0;   // nesting inside values of no interest
  bool in_points_ = false, saw_points_ = false, saw_more_ = false;
  std::string key_;
  bool has_ts_ = false, has_metric_ = false, has_value_ = false;
  int64_t ts_ = 0;
  std::string metric_;
  std::string value_;
  std::string error_;
};

template <typename T>
bool Get(const json& obj, const char* key, T& out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
  } else {
    if (!it->is_number_integer()) return false;
  }
  out = it->get<T>();
  return true;
}

Result<GpuInfo> GpuFromJson(const json& g) {
  GpuInfo gpu;
  if (!g.is_object() || !Get(g, "uuid", gpu.uuid) || !Get(g, "gpu_id", gpu.gpu_id) || !Get(g, "device", gpu.device) ||
      !Get(g, "model_name", gpu.model_name) || !Get(g, "hostname", gpu.hostname) ||
      !Get(g, "partition", gpu.partition) || !Get(g, "first_timestamp_us", gpu.first_us) ||
      !Get(g, "last_timestamp_us", gpu.last_us)) {
    return Fail(Errc::kCorrupt, "collector GPU object lacks a field or has one of the wrong type");
  }
  const auto metrics = g.find("metrics");
  if (metrics == g.end() || !metrics->is_array()) return Fail(Errc::kCorrupt, "collector GPU object lacks metrics");
  for (const auto& m : *metrics) {
    if (!m.is_string()) return Fail(Errc::kCorrupt, "collector GPU metric is not a string");
    gpu.metrics.push_back(m.get<std::string>());
  }
  return gpu;
}

Result<std::vector<int32_t>> Partitions(const json& doc, const char* key) {
  std::vector<int32_t> out;
  const auto it = doc.find(key);
  if (it == doc.end()) return out;  // an older collector may omit an empty list
  if (!it->is_array()) return Fail(Errc::kCorrupt, std::string("collector \"") + key + "\" is not an array");
  for (const auto& p : *it) {
    if (!p.is_number_integer())
      return Fail(Errc::kCorrupt, std::string("collector \"") + key + "\" holds a non-integer");
    out.push_back(p.get<int32_t>());
  }
  return out;
}

json GpuToJson(const GpuInfo& g) {
  return json{{"uuid", g.uuid},
              {"gpu_id", g.gpu_id},
              {"device", g.device},
              {"model_name", g.model_name},
              {"hostname", g.hostname},
              {"partition", g.partition},
              {"first_seen", FormatRfc3339(g.first_us)},
              {"last_seen", FormatRfc3339(g.last_us)},
              {"metrics", g.metrics}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void AddAvailability(const FleetView& view, json& out) {
  out["partial"] = view.partial();
  out["unavailable_partitions"] = view.unavailable;
}

}  // namespace

void AppendJsonString(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

Result<PageSummary> AppendPublicPoints(std::string_view body, std::string& out) {
  PointsSax sax(out);
  const size_t mark = out.size();
  const bool parsed = json::sax_parse(body.begin(), body.end(), &sax, nlohmann::detail::input_format_t::json, true);
  auto r = sax.Finish(parsed);
  if (!r) out.resize(mark);
  return r;
}

Result<GpuInfo> ParseCollectorGpu(std::string_view body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) return Fail(Errc::kCorrupt, "collector GPU reply is not JSON");
  return GpuFromJson(doc);
}

Result<CollectorGpus> ParseCollectorGpus(std::string_view body) {
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Fail(Errc::kCorrupt, "collector GPU list is not a JSON object");
  CollectorGpus out;
  const auto gpus = doc.find("gpus");
  if (gpus == doc.end() || !gpus->is_array()) return Fail(Errc::kCorrupt, "collector GPU list lacks \"gpus\"");
  out.gpus.reserve(gpus->size());
  for (const auto& g : *gpus) {
    TELEMQ_ASSIGN_OR_RETURN(auto gpu, GpuFromJson(g));
    out.gpus.push_back(std::move(gpu));
  }
  TELEMQ_ASSIGN_OR_RETURN(out.serving, Partitions(doc, "serving"));
  TELEMQ_ASSIGN_OR_RETURN(out.restoring, Partitions(doc, "restoring"));
  return out;
}

FleetView MergeFleet(const RoutingTable& routing, std::vector<EndpointReply> replies) {
  FleetView view;
  view.partitions = routing.partitions();
  const auto n = static_cast<size_t>(std::max(view.partitions, 0));
  // Which reply supplies each partition: the routed owner when it serves
  // it, else the first other collector that still does (mid-handover).
  std::vector<int> source(n, -1);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < replies.size(); ++i) {
      if (!replies[i].reply) continue;
      for (int32_t p : replies[i].reply->serving) {
        if (p < 0 || static_cast<size_t>(p) >= n || source[p] != -1) continue;
        const std::string* owner = routing.OwnerOf(p);
        const bool is_owner = owner != nullptr && *owner == replies[i].endpoint;
        if (pass == 0 ? is_owner : true) source[p] = static_cast<int>(i);
      }
    }
  }
  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i].reply) continue;
    for (auto& g : replies[i].reply->gpus) {
      if (g.partition < 0 || static_cast<size_t>(g.partition) >= n || source[g.partition] != static_cast<int>(i)) {
        continue;
      }
      view.gpus.push_back(std::move(g));
    }
  }
  for (size_t p = 0; p < n; ++p) {
    if (source[p] == -1) view.unavailable.push_back(static_cast<int32_t>(p));
  }
  std::sort(view.gpus.begin(), view.gpus.end(), [](const GpuInfo& a, const GpuInfo& b) { return a.uuid < b.uuid; });
  view.gpus.erase(std::unique(view.gpus.begin(), view.gpus.end(),
                              [](const GpuInfo& a, const GpuInfo& b) { return a.uuid == b.uuid; }),
                  view.gpus.end());
  return view;
}

std::string GpuJson(const GpuInfo& gpu) { return Dump(GpuToJson(gpu)); }

std::string GpuListJson(const FleetView& view) {
  json out;
  json gpus = json::array();
  for (const auto& g : view.gpus) gpus.push_back(GpuToJson(g));
  out["gpus"] = std::move(gpus);
  out["count"] = view.gpus.size();
  AddAvailability(view, out);
  return Dump(out);
}

std::string HostListJson(const FleetView& view) {
  std::map<std::string, std::vector<std::string>> hosts;
  for (const auto& g : view.gpus) hosts[g.hostname].push_back(g.uuid);  // gpus are sorted by uuid
  json list = json::array();
  for (auto& [hostname, uuids] : hosts) {
    list.push_back({{"hostname", hostname}, {"gpu_count", uuids.size()}, {"gpus", std::move(uuids)}});
  }
  json out;
  out["count"] = list.size();
  out["hosts"] = std::move(list);
  AddAvailability(view, out);
  return Dump(out);
}

std::string MetricListJson(const FleetView& view) {
  std::map<std::string, size_t> metrics;
  for (const auto& g : view.gpus) {
    for (const auto& m : std::set<std::string>(g.metrics.begin(), g.metrics.end())) ++metrics[m];
  }
  json list = json::array();
  for (const auto& [name, count] : metrics) list.push_back({{"name", name}, {"gpu_count", count}});
  json out;
  out["count"] = list.size();
  out["metrics"] = std::move(list);
  AddAvailability(view, out);
  return Dump(out);
}

}  // namespace telemq::gateway
