#include "record_format.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "telemetry/point.h"

namespace telemq::cli {
namespace {

using nlohmann::json;

// Column widths of the telemetry format: wide enough for the DCGM export's
// names ("GPU-5fd4f087-86f3-7a43-b711-4771313afc50", "DCGM_FI_DEV_POWER_USAGE");
// longer names push the line, they are never cut.
constexpr int kTimeWidth = 27;
constexpr int kHostWidth = 16;
constexpr int kGpuWidth = 44;
constexpr int kMetricWidth = 30;

std::string Meta(const RecordView& r) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%-9d %-12" PRId64 " %-14" PRId64 " ", r.partition, r.offset, r.timestamp_ms);
  return buf;
}

std::string Pad(std::string_view s, int width) {
  std::string out(s);
  if (static_cast<int>(out.size()) < width) out.append(static_cast<size_t>(width) - out.size(), ' ');
  out.push_back(' ');
  return out;
}

// The shortest text that reads back as the same double ("%.17g" is exact
// but prints 0.1 as 0.10000000000000001).
std::string Number(double v) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Control characters and invalid UTF-8 in a key would garble the terminal:
// JSON escaping (with U+FFFD replacement) keeps the line one line.
std::string Printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c >= 0x80) {
      const std::string quoted = json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
      return quoted;
    }
  }
  return std::string(s);
}

}  // namespace

Result<RecordFormat> ParseRecordFormat(std::string_view text, std::string_view topic) {
  if (text.empty()) return topic == "gpu.telemetry" ? RecordFormat::kTelemetry : RecordFormat::kRaw;
  if (text == "telemetry") return RecordFormat::kTelemetry;
  if (text == "json") return RecordFormat::kJson;
  if (text == "raw") return RecordFormat::kRaw;
  return Fail(Errc::kInvalidArgument, "--format must be telemetry, json or raw, got '" + std::string(text) + "'");
}

std::string FormatUtcMicros(int64_t unix_us) {
  int64_t secs = unix_us / 1'000'000;
  int64_t micros = unix_us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    --secs;
  }
  const time_t t = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06" PRId64 "Z", micros);
  return buf;
}

std::string HeaderLine(const PrintOptions& o) {
  std::string out;
  switch (o.format) {
    case RecordFormat::kJson: return "";
    case RecordFormat::kRaw:
      if (!o.print_meta) return "";
      out = "PARTITION\tOFFSET\tTIMESTAMP_MS\t";
      if (o.print_key) out += "KEY\t";
      return out + "VALUE\n";
    case RecordFormat::kTelemetry:
      if (o.print_meta) out = Pad("PARTITION", 9) + Pad("OFFSET", 12) + Pad("TIMESTAMP_MS", 14);
      out += Pad("TIME", kTimeWidth) + Pad("HOST", kHostWidth) + Pad("GPU", kGpuWidth) + Pad("METRIC", kMetricWidth) +
             "VALUE\n";
      return out;
  }
  return "";
}

std::string FormatRecord(const RecordView& r, const PrintOptions& o) {
  const std::string_view value = r.value.value_or("");
  std::string out;
  switch (o.format) {
    case RecordFormat::kRaw:
      if (o.print_meta) {
        out = std::to_string(r.partition) + "\t" + std::to_string(r.offset) + "\t" + std::to_string(r.timestamp_ms) + "\t";
      }
      if (o.print_key) {
        out.append(r.key.value_or(""));
        out.push_back('\t');
      }
      out.append(value);
      out.push_back('\n');
      return out;
    case RecordFormat::kTelemetry: {
      if (o.print_meta) out = Meta(r);
      auto point = telemetry::DecodePoint(value);
      if (!point) {
        // Not a point (another producer, or corrupt): say so on its line
        // rather than print binary or stop tailing.
        out += "<not a telemetry point: " + std::to_string(value.size()) + " bytes";
        if (r.key) out += ", key " + Printable(*r.key);
        return out + ": " + point.error().message() + ">\n";
      }
      const std::string gpu = Printable(point->gpu_uuid) + " (" + std::to_string(point->gpu_id) + ")";
      out += Pad(FormatUtcMicros(point->timestamp_us), kTimeWidth) + Pad(Printable(point->hostname), kHostWidth) +
             Pad(gpu, kGpuWidth) + Pad(Printable(point->metric_name), kMetricWidth) + Number(point->value);
      out.push_back('\n');
      return out;
    }
    case RecordFormat::kJson: {
      json j;
      j["partition"] = r.partition;
      j["offset"] = r.offset;
      j["timestamp_ms"] = r.timestamp_ms;
      j["key"] = r.key ? json(std::string(*r.key)) : json(nullptr);
      if (!r.value) {
        j["value"] = nullptr;
      } else if (auto point = telemetry::DecodePoint(value)) {
        json labels = json::object();
        for (const auto& [k, v] : point->labels) labels[k] = v;
        j["point"] = {{"uuid", point->gpu_uuid},       {"gpu_id", point->gpu_id},
                      {"device", point->device},       {"model_name", point->model_name},
                      {"hostname", point->hostname},   {"metric", point->metric_name},
                      {"value", point->value},         {"timestamp", FormatUtcMicros(point->timestamp_us)},
                      {"labels", std::move(labels)}};
      } else {
        j["value"] = std::string(value);
      }
      return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    }
  }
  return out;
}

std::string AssignmentRanges(std::vector<TopicPartition> partitions) {
  if (partitions.empty()) return "-";
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  std::string out;
  size_t i = 0;
  while (i < partitions.size()) {
    const std::string& topic = partitions[i].topic;
    if (!out.empty()) out += " ";
    out += topic;
    out += '[';
    bool first = true;
    while (i < partitions.size() && partitions[i].topic == topic) {
      const int32_t lo = partitions[i].partition;
      int32_t hi = lo;
      while (i + 1 < partitions.size() && partitions[i + 1].topic == topic && partitions[i + 1].partition == hi + 1) {
        ++hi;
        ++i;
      }
      ++i;
      if (!first) out += ",";
      first = false;
      out += std::to_string(lo);
      if (hi != lo) {
        // Appended in two steps: `"-" + std::to_string(...)` trips a false
        // -Wrestrict in g++ 12 at -O3.
        out += '-';
        out += std::to_string(hi);
      }
    }
    out += "]";
  }
  return out;
}

}  // namespace telemq::cli
