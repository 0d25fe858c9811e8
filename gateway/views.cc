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

// The primitives of a strict, allocation-free JSON reader: full syntax
// (strings, escapes, numbers, nesting) is validated, and strings and numbers
// are returned as their text (a string's body with its escapes as written,
// which is a valid JSON string body to copy into an answer).
class JsonScanner {
 protected:
  JsonScanner(std::string_view in, std::string_view what) : in_(in), what_(what) {}

  static constexpr int kMaxDepth = 64;

  tl::unexpected<Error> Bad(const std::string& why) const {
    return telemq::Fail(Errc::kCorrupt, std::string(what_) + ": " + why + " (byte " + std::to_string(pos_) + ")");
  }
  void SkipWs() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  static bool Hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
  // A string; `raw` is its body between the quotes, escapes as written.
  bool String(std::string_view& raw) {
    if (!Consume('"')) return false;
    const size_t start = pos_;
    while (pos_ < in_.size()) {
      const auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        raw = in_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++pos_ >= in_.size()) return false;
        const char e = in_[pos_];
        if (e == 'u') {
          if (pos_ + 4 >= in_.size()) return false;
          for (int i = 1; i <= 4; ++i) {
            if (!Hex(in_[pos_ + i])) return false;
          }
          pos_ += 4;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
      ++pos_;
    }
    return false;
  }
  // A JSON number; `text` is it verbatim.
  bool Number(std::string_view& text, bool& integral) {
    const size_t start = pos_;
    integral = true;
    Consume('-');
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (Consume('0')) {
      // no leading zeros
    } else if (digits() == 0) {
      return false;
    }
    if (Consume('.')) {
      integral = false;
      if (digits() == 0) return false;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (!Consume('+')) Consume('-');
      if (digits() == 0) return false;
    }
    text = in_.substr(start, pos_ - start);
    return true;
  }
  // An integer that fits `T`.
  template <typename T>
  bool Integer(T& v) {
    std::string_view text;
    bool integral = false;
    if (!Number(text, integral) || !integral) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc() && end == text.data() + text.size();
  }
  bool SkipValue(int depth) {
    if (depth > kMaxDepth || pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    std::string_view ignored;
    bool integral = false;
    if (c == '"') return String(ignored);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      SkipWs();
      if (Consume(close)) return true;
      while (true) {
        if (c == '{') {
          if (!String(ignored)) return false;
          SkipWs();
          if (!Consume(':')) return false;
          SkipWs();
        }
        if (!SkipValue(depth + 1)) return false;
        SkipWs();
        if (Consume(close)) return true;
        if (!Consume(',')) return false;
        SkipWs();
      }
    }
    if (Literal("true") || Literal("false") || Literal("null")) return true;
    return Number(ignored, integral);
  }
  // Calls member(key) for each member of an object, positioned at its
  // value; member must consume the value.
  template <typename F>
  Result<void> Object(F&& member) {
    if (!Consume('{')) return Bad("expected an object");
    SkipWs();
    if (Consume('}')) return Ok();
    while (true) {
      std::string_view key;
      if (!String(key)) return Bad("malformed member name");
      SkipWs();
      if (!Consume(':')) return Bad("expected ':'");
      SkipWs();
      TELEMQ_TRY(member(key));
      SkipWs();
      if (Consume('}')) return Ok();
      if (!Consume(',')) return Bad("expected ',' or '}'");
      SkipWs();
    }
  }
  // Calls element() for each element of an array, positioned at it.
  template <typename F>
  Result<void> Array(F&& element) {
    if (!Consume('[')) return Bad("expected an array");
    SkipWs();
    if (Consume(']')) return Ok();
    while (true) {
      TELEMQ_TRY(element());
      SkipWs();
      if (Consume(']')) return Ok();
      if (!Consume(',')) return Bad("expected ',' or ']'");
      SkipWs();
    }
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  // Four hex digits, already validated.
  static uint32_t Hex4(std::string_view digits) {
    uint32_t v = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), v, 16);
    return v;
  }
  // The body of a validated JSON string, unescaped.
  static std::string Unescape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '\\') {
        out.push_back(raw[i]);
        continue;
      }
      const char e = raw[++i];
      switch (e) {
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = Hex4(raw.substr(i + 1, 4));
          i += 4;
          // A surrogate pair spells one code point beyond the BMP.
          if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < raw.size() && raw.substr(i + 1, 2) == "\\u") {
            const uint32_t lo = Hex4(raw.substr(i + 3, 4));
            if (lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              i += 6;
            }
          }
          AppendUtf8(cp, out);
          break;
        }
        default: out.push_back(e);  // " \\ /
      }
    }
    return out;
  }

  std::string_view in_;
  size_t pos_ = 0;

 private:
  std::string_view what_;
};

// A strict, allocation-free reader of the collector's telemetry reply
//   {"points":[{"timestamp_us":..,"metric":"..","value":..},...],"more":bool}
// that writes public points as it goes. It skips members it does not know
// (the collector may add fields), and copies the metric's string body and
// the value's number text verbatim: both are already valid JSON. This is
// the gateway's hot path: ~10x faster than a generic SAX parser, which
// converts every number and allocates every key.
class PointsReader : JsonScanner {
 public:
  PointsReader(std::string_view in, std::string& out) : JsonScanner(in, "collector telemetry reply"), out_(out) {}

  Result<PageSummary> Read() {
    SkipWs();
    if (!Consume('{')) return Bad("reply is not a JSON object");
    bool saw_points = false, saw_more = false;
    SkipWs();
    if (!Consume('}')) {
      while (true) {
        std::string_view key;
        if (!String(key)) return Bad("malformed member name");
        SkipWs();
        if (!Consume(':')) return Bad("expected ':'");
        SkipWs();
        if (key == "points" && !saw_points) {
          saw_points = true;
          TELEMQ_TRY(Points());
        } else if (key == "more" && !saw_more) {
          saw_more = true;
          if (Literal("true")) {
            summary_.more = true;
          } else if (Literal("false")) {
            summary_.more = false;
          } else {
            return Bad("\"more\" is not a boolean");
          }
        } else if (!SkipValue(0)) {
          return Bad("malformed value of \"" + std::string(key) + "\"");
        }
        SkipWs();
        if (Consume('}')) break;
        if (!Consume(',')) return Bad("expected ',' or '}'");
        SkipWs();
      }
    }
    SkipWs();
    if (pos_ != in_.size()) return Bad("trailing bytes after the reply");
    if (!saw_points) return Bad("no \"points\" array");
    if (!saw_more) return Bad("no \"more\" flag");
    if (summary_.count > 0) {
      summary_.last.emplace();
      summary_.last->after_us = last_ts_;
      summary_.last->after_metric = Unescape(last_metric_raw_);
    }
    return summary_;
  }

 private:
  Result<void> Points() {
    if (!Consume('[')) return Bad("\"points\" is not an array");
    SkipWs();
    if (Consume(']')) return Ok();
    while (true) {
      TELEMQ_TRY(Point());
      SkipWs();
      if (Consume(']')) return Ok();
      if (!Consume(',')) return Bad("expected ',' or ']' in \"points\"");
      SkipWs();
    }
  }

  Result<void> Point() {
    if (!Consume('{')) return Bad("a point is not an object");
    std::string_view metric, value;
    int64_t ts = 0;
    bool has_ts = false, has_metric = false, has_value = false;
    SkipWs();
    if (!Consume('}')) {
      while (true) {
        std::string_view key;
        if (!String(key)) return Bad("malformed member name in a point");
        SkipWs();
        if (!Consume(':')) return Bad("expected ':' in a point");
        SkipWs();
        bool integral = false;
        if (key == "timestamp_us") {
          std::string_view text;
          if (!Number(text, integral) || !integral) return Bad("timestamp_us is not an integer");
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ts);
          if (ec != std::errc() || end != text.data() + text.size()) return Bad("timestamp_us out of range");
          has_ts = true;
        } else if (key == "metric") {
          if (!String(metric)) return Bad("metric is not a string");
          has_metric = true;
        } else if (key == "value") {
          if (!Number(value, integral)) return Bad("value is not a number");
          has_value = true;
        } else if (!SkipValue(0)) {
          return Bad("malformed value in a point");
        }
        SkipWs();
        if (Consume('}')) break;
        if (!Consume(',')) return Bad("expected ',' or '}' in a point");
        SkipWs();
      }
    }
    if (!has_ts || !has_metric || !has_value) return Bad("a point lacks timestamp_us, metric or value");
    if (summary_.count > 0) out_.push_back(',');
    out_.append("{\"timestamp\":\"");
    AppendRfc3339(ts, out_);
    out_.append("\",\"metric\":\"");
    out_.append(metric);  // a valid JSON string body, as validated
    out_.append("\",\"value\":");
    out_.append(value);
    out_.push_back('}');
    ++summary_.count;
    last_ts_ = ts;
    last_metric_raw_ = metric;
    return Ok();
  }

  std::string& out_;
  PageSummary summary_;
  int64_t last_ts_ = 0;
  std::string_view last_metric_raw_;
};

// Reads the collector's fleet view
//   {"gpus":[{GPU..., "latest":[{"metric","timestamp_us","value"},...]},...],
//    "serving":[P...],"restoring":[P...]}
// in one pass and renders each GPU as its public object straight into one
// buffer (names and values copied as the collector wrote them, times
// formatted by hand), so the merge only sorts and concatenates slices: no
// document tree, no string per point. 1,000 GPUs are ~0.5 MB per collector.
class LatestReader : JsonScanner {
 public:
  explicit LatestReader(std::string_view in) : JsonScanner(in, "collector latest reply") {}

  Result<CollectorLatest> Read() {
    bool saw_gpus = false;
    SkipWs();
    TELEMQ_TRY(Object([&](std::string_view key) -> Result<void> {
      if (key == "gpus" && !saw_gpus) {
        saw_gpus = true;
        out_.json.reserve(in_.size());
        return Array([&] { return Gpu(); });
      }
      if (key == "serving" || key == "restoring") {
        auto& list = key == "serving" ? out_.serving : out_.restoring;
        return Array([&]() -> Result<void> {
          int32_t p = 0;
          if (!Integer(p)) return Bad(std::string(key) + " holds a non-integer");
          list.push_back(p);
          return Ok();
        });
      }
      if (!SkipValue(0)) return Bad("malformed value of \"" + std::string(key) + "\"");
      return Ok();
    }));
    SkipWs();
    if (pos_ != in_.size()) return Bad("trailing bytes after the reply");
    if (!saw_gpus) return Bad("no \"gpus\" array");
    return std::move(out_);
  }

 private:
  struct Point {
    int64_t ts;
    std::string_view metric, value;
  };

  Result<void> Gpu() {
    std::string_view uuid, hostname, model_name, gpu_id;
    int32_t partition = 0;
    bool has_partition = false, has_gpu_id = false, has_uuid = false, has_host = false, has_model = false;
    points_.clear();
    TELEMQ_TRY(Object([&](std::string_view key) -> Result<void> {
      bool integral = false;
      if (key == "uuid") {
        has_uuid = String(uuid);
        if (!has_uuid) return Bad("uuid is not a string");
      } else if (key == "hostname") {
        has_host = String(hostname);
        if (!has_host) return Bad("hostname is not a string");
      } else if (key == "model_name") {
        has_model = String(model_name);
        if (!has_model) return Bad("model_name is not a string");
      } else if (key == "gpu_id") {
        int64_t ignored = 0;
        const size_t at = pos_;
        if (!Integer(ignored)) return Bad("gpu_id is not an integer");
        gpu_id = in_.substr(at, pos_ - at);
        has_gpu_id = true;
      } else if (key == "partition") {
        if (!Integer(partition)) return Bad("partition is not an integer");
        has_partition = true;
      } else if (key == "latest") {
        return Array([&]() -> Result<void> {
          Point p{};
          bool has_ts = false, has_metric = false, has_value = false;
          TELEMQ_TRY(Object([&](std::string_view k) -> Result<void> {
            if (k == "timestamp_us") {
              if (!Integer(p.ts)) return Bad("timestamp_us is not an integer");
              has_ts = true;
            } else if (k == "metric") {
              if (!String(p.metric)) return Bad("metric is not a string");
              has_metric = true;
            } else if (k == "value") {
              if (!Number(p.value, integral)) return Bad("value is not a number");
              has_value = true;
            } else if (!SkipValue(0)) {
              return Bad("malformed value in a latest point");
            }
            return Ok();
          }));
          if (!has_ts || !has_metric || !has_value) return Bad("a latest point lacks timestamp_us, metric or value");
          points_.push_back(p);
          return Ok();
        });
      } else if (!SkipValue(0)) {
        return Bad("malformed value in a GPU");
      }
      return Ok();
    }));
    if (!has_uuid || !has_gpu_id || !has_host || !has_model || !has_partition) {
      return Bad("a GPU lacks uuid, gpu_id, hostname, model_name or partition");
    }
    std::string& o = out_.json;
    CollectorLatest::Gpu g;
    g.uuid = uuid.find('\\') == std::string_view::npos ? std::string(uuid) : Unescape(uuid);
    g.partition = partition;
    g.points = points_.size();
    g.begin = o.size();
    o.append("{\"uuid\":\"").append(uuid);
    o.append("\",\"gpu_id\":").append(gpu_id);
    o.append(",\"hostname\":\"").append(hostname);
    o.append("\",\"model_name\":\"").append(model_name);
    o.append("\",\"partition\":");
    char buf[16];
    o.append(buf, std::to_chars(buf, buf + sizeof buf, partition).ptr);
    o.append(",\"latest\":[");
    for (size_t i = 0; i < points_.size(); ++i) {
      if (i > 0) o.push_back(',');
      o.append("{\"timestamp\":\"");
      AppendRfc3339(points_[i].ts, o);
      o.append("\",\"metric\":\"").append(points_[i].metric);
      o.append("\",\"value\":").append(points_[i].value);
      o.push_back('}');
    }
    o.append("]}");
    g.end = o.size();
    out_.gpus.push_back(std::move(g));
    return Ok();
  }

  CollectorLatest out_;
  std::vector<Point> points_;  // of the GPU being read
};

// Which reply supplies each partition: the routed owner when it serves it,
// else the first other collector that still does (mid-handover); -1: none.
template <typename Reply>
std::vector<int> PartitionSources(const RoutingTable& routing, const std::vector<Reply>& replies) {
  const auto n = static_cast<size_t>(std::max(routing.partitions(), 0));
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
  return source;
}

std::vector<int32_t> Unsourced(const std::vector<int>& source) {
  std::vector<int32_t> out;
  for (size_t p = 0; p < source.size(); ++p) {
    if (source[p] == -1) out.push_back(static_cast<int32_t>(p));
  }
  return out;
}

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
  const size_t mark = out.size();
  auto r = PointsReader(body, out).Read();
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

FleetView MergeFleet(const RoutingTable& routing, const std::vector<EndpointReply>& replies) {
  FleetView view;
  view.partitions = routing.partitions();
  const auto n = static_cast<size_t>(std::max(view.partitions, 0));
  const std::vector<int> source = PartitionSources(routing, replies);
  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i].reply) continue;
    for (const auto& g : replies[i].reply->gpus) {
      if (g.partition < 0 || static_cast<size_t>(g.partition) >= n || source[g.partition] != static_cast<int>(i)) {
        continue;
      }
      view.gpus.push_back(g);
    }
  }
  view.unavailable = Unsourced(source);
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

std::string HostGpusJson(const FleetView& view, std::string_view hostname) {
  json out;
  json gpus = json::array();
  for (const auto& g : view.gpus) gpus.push_back(GpuToJson(g));
  out["hostname"] = std::string(hostname);
  out["gpus"] = std::move(gpus);
  out["count"] = view.gpus.size();
  AddAvailability(view, out);
  return Dump(out);
}

Result<CollectorLatest> ParseCollectorLatest(std::string_view body) { return LatestReader(body).Read(); }

LatestView MergeLatest(const RoutingTable& routing, const std::vector<LatestReply>& replies) {
  LatestView view;
  view.partitions = routing.partitions();
  const std::vector<int> source = PartitionSources(routing, replies);
  view.unavailable = Unsourced(source);
  // The GPUs to show: (reply, gpu) of each partition's source.
  std::vector<std::pair<size_t, const CollectorLatest::Gpu*>> gpus;
  size_t bytes = 0;
  for (size_t i = 0; i < replies.size(); ++i) {
    if (!replies[i].reply) continue;
    for (const auto& g : replies[i].reply->gpus) {
      if (g.partition < 0 || static_cast<size_t>(g.partition) >= source.size() ||
          source[g.partition] != static_cast<int>(i)) {
        continue;
      }
      gpus.emplace_back(i, &g);
      bytes += g.end - g.begin + 1;
    }
  }
  std::sort(gpus.begin(), gpus.end(), [](const auto& a, const auto& b) { return a.second->uuid < b.second->uuid; });
  gpus.erase(std::unique(gpus.begin(), gpus.end(),
                         [](const auto& a, const auto& b) { return a.second->uuid == b.second->uuid; }),
             gpus.end());
  auto append_int = [](int64_t v, std::string& out) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  std::string& out = view.body;
  out.reserve(bytes + 128 + 8 * view.unavailable.size());
  out.append("{\"gpus\":[");
  size_t points = 0;
  for (size_t k = 0; k < gpus.size(); ++k) {
    if (k > 0) out.push_back(',');
    const auto& [i, g] = gpus[k];
    out.append(std::string_view(replies[i].reply->json).substr(g->begin, g->end - g->begin));
    points += g->points;
  }
  out.append("],\"count\":");
  append_int(static_cast<int64_t>(gpus.size()), out);
  out.append(",\"points\":");
  append_int(static_cast<int64_t>(points), out);
  out.append(",\"partial\":");
  out.append(view.partial() ? "true" : "false");
  out.append(",\"unavailable_partitions\":[");
  for (size_t k = 0; k < view.unavailable.size(); ++k) {
    if (k > 0) out.push_back(',');
    append_int(view.unavailable[k], out);
  }
  out.append("]}");
  return view;
}

}  // namespace telemq::gateway
