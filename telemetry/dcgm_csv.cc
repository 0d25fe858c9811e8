#include "telemetry/dcgm_csv.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "telemq/common/log.h"

namespace telemq::telemetry {
namespace {

std::string_view StripLineEnd(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<std::string>> SplitCsvRecord(std::string_view line) {
  line = StripLineEnd(line);
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {  // RFC 4180: "" is a literal quote
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) return Fail(Errc::kInvalidArgument, "unterminated quote");
      if (i < line.size() && line[i] != ',') {
        return Fail(Errc::kInvalidArgument, "characters after a closing quote");
      }
    } else {
      // Unquoted: up to the next comma; a stray quote is taken literally.
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field.assign(line.substr(i, end - i));
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma; a trailing comma yields one more empty field
    if (i == line.size()) {
      fields.emplace_back();
      break;
    }
  }
  return fields;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseLabels(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  while (i < raw.size()) {
    size_t eq = raw.find('=', i);
    size_t comma = raw.find(',', i);
    if (eq == std::string_view::npos || (comma != std::string_view::npos && comma < eq)) {
      return Fail(Errc::kInvalidArgument, "label without '='");
    }
    std::string key(Trim(raw.substr(i, eq - i)));
    if (key.empty()) return Fail(Errc::kInvalidArgument, "empty label key");
    i = eq + 1;
    std::string value;
    if (i < raw.size() && raw[i] == '"') {
      ++i;
      bool closed = false;
      while (i < raw.size()) {
        char c = raw[i];
        if (c == '\\' && i + 1 < raw.size()) {  // Prometheus escapes
          value.push_back(raw[i + 1] == 'n' ? '\n' : raw[i + 1]);
          i += 2;
        } else if (c == '"' && i + 1 < raw.size() && raw[i + 1] == '"') {  // CSV-style doubled quote
          value.push_back('"');
          i += 2;
        } else if (c == '"') {
          ++i;
          closed = true;
          break;
        } else {
          value.push_back(c);
          ++i;
        }
      }
      if (!closed) return Fail(Errc::kInvalidArgument, "unterminated quote in label " + key);
      while (i < raw.size() && raw[i] != ',') {
        if (raw[i] != ' ' && raw[i] != '\t') return Fail(Errc::kInvalidArgument, "junk after label " + key);
        ++i;
      }
    } else {
      size_t end = raw.find(',', i);
      if (end == std::string_view::npos) end = raw.size();
      value.assign(Trim(raw.substr(i, end - i)));
      i = end;
    }
    out.emplace_back(std::move(key), std::move(value));
    if (i < raw.size()) ++i;  // the comma
  }
  return out;
}

std::string_view SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kWrongColumnCount: return "wrong_column_count";
    case SkipReason::kUnterminatedQuote: return "unterminated_quote";
    case SkipReason::kMissingUuid: return "missing_uuid";
    case SkipReason::kMissingMetric: return "missing_metric";
    case SkipReason::kBadGpuId: return "bad_gpu_id";
    case SkipReason::kBadValue: return "bad_value";
  }
  return "unknown";
}

uint64_t SkipCounts::Total() const {
  uint64_t total = 0;
  for (uint64_t n : by_reason) total += n;
  return total;
}

Result<DcgmCsvReader> DcgmCsvReader::Create(std::string_view header_line) {
  auto fields = SplitCsvRecord(header_line);
  if (!fields) return Fail(Errc::kInvalidArgument, "DCGM CSV header: " + fields.error().message());
  DcgmCsvReader r;
  r.column_count_ = fields->size();
  struct Want {
    std::string_view name;
    int* index;
  };
  const Want wants[] = {
      {"uuid", &r.uuid_},       {"metric_name", &r.metric_},  {"gpu_id", &r.gpu_id_},
      {"value", &r.value_},     {"timestamp", &r.timestamp_}, {"device", &r.device_},
      {"modelName", &r.model_}, {"Hostname", &r.hostname_},   {"labels_raw", &r.labels_},
  };
  for (size_t c = 0; c < fields->size(); ++c) {
    std::string_view name = Trim((*fields)[c]);
    // A UTF-8 byte-order mark would otherwise hide the first column's name.
    if (c == 0 && name.starts_with("\xEF\xBB\xBF")) name.remove_prefix(3);
    for (const Want& w : wants) {
      if (*w.index < 0 && EqualsIgnoreCase(name, w.name)) *w.index = static_cast<int>(c);
    }
  }
  for (const Want& w : wants) {
    if (&w - wants >= 4) break;  // the first four are required
    if (*w.index < 0) {
      return Fail(Errc::kInvalidArgument, "DCGM CSV header lacks column '" + std::string(w.name) + "'");
    }
  }
  return r;
}

RowSkip DcgmCsvReader::Skip(int64_t line, SkipReason reason, std::string detail) {
  ++skips_.by_reason[static_cast<size_t>(reason)];
  log::Warn("DCGM CSV row skipped", {{"line", line}, {"reason", SkipReasonName(reason)}, {"error", detail}});
  return RowSkip{line, reason, std::move(detail)};
}

std::variant<DcgmRow, RowSkip> DcgmCsvReader::ParseLine(std::string_view line, int64_t line_number) {
  auto split = SplitCsvRecord(line);
  if (!split) return Skip(line_number, SkipReason::kUnterminatedQuote, split.error().message());
  std::vector<std::string>& f = *split;
  if (f.size() != column_count_) {
    return Skip(line_number, SkipReason::kWrongColumnCount,
                std::to_string(f.size()) + " columns, header has " + std::to_string(column_count_));
  }
  // An absent optional column reads as "".
  auto take = [&f](int index) { return index < 0 ? std::string() : std::move(f[static_cast<size_t>(index)]); };

  DcgmRow row;
  TelemetryPoint& p = row.point;
  p.gpu_uuid = std::string(Trim(f[uuid_]));
  if (p.gpu_uuid.empty()) return Skip(line_number, SkipReason::kMissingUuid, "empty uuid");
  p.metric_name = std::string(Trim(f[metric_]));
  if (p.metric_name.empty()) return Skip(line_number, SkipReason::kMissingMetric, "empty metric_name");

  std::string_view gpu_id = Trim(f[gpu_id_]);
  auto [gend, gerr] = std::from_chars(gpu_id.data(), gpu_id.data() + gpu_id.size(), p.gpu_id);
  if (gpu_id.empty() || gerr != std::errc() || gend != gpu_id.data() + gpu_id.size()) {
    return Skip(line_number, SkipReason::kBadGpuId, "gpu_id '" + std::string(gpu_id) + "'");
  }

  // strtod, not from_chars: it is what the export's producers round-trip
  // with. Whole-field consumption keeps "12abc" out; NaN/inf are rejected
  // because no DCGM field can carry them and they poison aggregates.
  std::string value_text(Trim(f[value_]));
  char* vend = nullptr;
  double value = value_text.empty() ? 0 : std::strtod(value_text.c_str(), &vend);
  if (value_text.empty() || vend != value_text.c_str() + value_text.size() || !std::isfinite(value)) {
    return Skip(line_number, SkipReason::kBadValue, "value '" + value_text + "'");
  }
  p.value = value;

  p.device = take(device_);
  p.model_name = take(model_);
  p.hostname = take(hostname_);
  row.source_timestamp = take(timestamp_);
  if (labels_ >= 0 && !f[labels_].empty()) {
    auto labels = ParseLabels(f[labels_]);
    if (labels) {
      p.labels = std::move(*labels);
    } else {
      ++malformed_labels_;
      log::Warn("DCGM CSV labels_raw kept out", {{"line", line_number}, {"error", labels.error().message()}});
    }
  }
  // Older exports carry the host only as a label.
  if (p.hostname.empty()) {
    for (const auto& [k, v] : p.labels) {
      if (EqualsIgnoreCase(k, "Hostname")) p.hostname = v;
    }
  }
  return row;
}

Result<DcgmReadSummary> ReadDcgmCsv(std::istream& in, const std::function<void(DcgmRow&&)>& on_row) {
  std::string line;
  if (!std::getline(in, line)) return Fail(Errc::kInvalidArgument, "DCGM CSV: no header line");
  auto reader = DcgmCsvReader::Create(line);
  if (!reader) return tl::unexpected(reader.error());
  DcgmReadSummary summary;
  int64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (StripLineEnd(line).empty()) continue;
    auto parsed = reader->ParseLine(line, line_number);
    if (auto* row = std::get_if<DcgmRow>(&parsed)) {
      ++summary.rows;
      on_row(std::move(*row));
    }
  }
  summary.skips = reader->skips();
  summary.malformed_labels = reader->malformed_labels();
  return summary;
}

}  // namespace telemq::telemetry
