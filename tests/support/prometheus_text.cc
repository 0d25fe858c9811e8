#include "tests/support/prometheus_text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <utility>

namespace telemq::testing {

namespace {

bool NameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Reads a metric or label name at `pos`.
std::string ReadName(std::string_view line, size_t& pos) {
  const size_t start = pos;
  while (pos < line.size() && NameChar(line[pos], pos == start)) ++pos;
  return std::string(line.substr(start, pos - start));
}

std::optional<double> ParseValue(std::string_view text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text.empty()) return std::nullopt;
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE) return std::nullopt;
  return v;
}

// Unescapes \\, \n and (in label values) \" ; anything else after a
// backslash is malformed.
std::optional<std::string> Unescape(std::string_view s, bool quote_too) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    if (s[i] == '\\') {
      out += '\\';
    } else if (s[i] == 'n') {
      out += '\n';
    } else if (s[i] == '"' && quote_too) {
      out += '"';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

Result<PromSample> ParseSample(std::string_view line) {
  PromSample sample;
  size_t pos = 0;
  sample.name = ReadName(line, pos);
  if (sample.name.empty()) return Fail(Errc::kCorrupt, "no metric name");
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    for (;;) {
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        break;
      }
      std::string label = ReadName(line, pos);
      if (label.empty()) return Fail(Errc::kCorrupt, "bad label name");
      if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') {
        return Fail(Errc::kCorrupt, "label " + label + " lacks =\"");
      }
      pos += 2;
      const size_t start = pos;
      while (pos < line.size() && line[pos] != '"') pos += line[pos] == '\\' ? 2 : 1;
      if (pos >= line.size()) return Fail(Errc::kCorrupt, "unterminated value of label " + label);
      auto value = Unescape(line.substr(start, pos - start), true);
      if (!value) return Fail(Errc::kCorrupt, "bad escape in label " + label);
      ++pos;
      if (!sample.labels.emplace(label, *value).second) return Fail(Errc::kCorrupt, "label " + label + " twice");
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
      } else if (pos >= line.size() || line[pos] != '}') {
        return Fail(Errc::kCorrupt, "expected , or } after label " + label);
      }
    }
  }
  if (pos >= line.size() || line[pos] != ' ') return Fail(Errc::kCorrupt, "expected a space before the value");
  while (pos < line.size() && line[pos] == ' ') ++pos;
  const size_t value_end = std::min(line.find(' ', pos), line.size());
  auto value = ParseValue(line.substr(pos, value_end - pos));
  if (!value) return Fail(Errc::kCorrupt, "bad value '" + std::string(line.substr(pos, value_end - pos)) + "'");
  sample.value = *value;
  if (value_end < line.size()) {
    // An optional timestamp: an integer (ms).
    const std::string_view ts = line.substr(value_end + 1);
    if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string_view::npos) {
      return Fail(Errc::kCorrupt, "bad timestamp '" + std::string(ts) + "'");
    }
  }
  return sample;
}

// Whether `sample` belongs to `family` by name.
bool BelongsTo(const std::string& sample, const PromFamily& family) {
  if (sample == family.name) return true;
  if (family.type == "histogram" || family.type == "summary") {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (std::string_view(suffix) == "_bucket" && family.type != "histogram") continue;
      if (sample == family.name + suffix) return true;
    }
  }
  return false;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string SeriesKey(const PromSample& s) {
  std::string key = s.name + "{";
  for (const auto& [k, v] : s.labels) key += k + "=\"" + v + "\",";
  return key + "}";
}

}  // namespace

const PromFamily* Exposition::Find(std::string_view name) const {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> Exposition::Value(std::string_view name, const std::map<std::string, std::string>& labels) const {
  for (const auto* s : Samples(name)) {
    if (s->labels == labels) return s->value;
  }
  return std::nullopt;
}

std::vector<const PromSample*> Exposition::Samples(std::string_view name) const {
  std::vector<const PromSample*> out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      if (s.name == name) out.push_back(&s);
    }
  }
  return out;
}

Result<Exposition> ParseExposition(std::string_view text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') return Fail(Errc::kCorrupt, "the last line does not end in a newline");
  PromFamily* current = nullptr;
  auto family = [&](const std::string& name) -> PromFamily& {
    if (current != nullptr && current->name == name) return *current;
    for (auto& f : out.families) {
      if (f.name == name) {
        out.structure_problems.push_back("family " + name + " is declared again after another family");
        current = &f;
        return f;
      }
    }
    current = &out.families.emplace_back();
    current->name = name;
    return *current;
  };
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto bad = [&](const std::string& why) {
      return Fail(Errc::kCorrupt, "line " + std::to_string(line_no) + " (" + std::string(line) + "): " + why);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      const bool help = line.rfind("# HELP ", 0) == 0;
      const bool type = line.rfind("# TYPE ", 0) == 0;
      if (!help && !type) continue;  // a plain comment
      size_t p = 7;
      const std::string name = ReadName(line, p);
      if (name.empty()) return bad("no metric name");
      PromFamily& f = family(name);
      if (help) {
        if (p < line.size() && line[p] != ' ') return bad("bad metric name");
        auto doc = Unescape(p < line.size() ? line.substr(p + 1) : std::string_view(), false);
        if (!doc) return bad("bad escape in help");
        f.help = *doc;
        ++f.help_lines;
      } else {
        if (p >= line.size() || line[p] != ' ') return bad("no type");
        const std::string_view t = line.substr(p + 1);
        static const std::set<std::string_view> kTypes{"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(t)) return bad("unknown type");
        if (!f.samples.empty()) out.structure_problems.push_back("family " + name + ": # TYPE after its samples");
        f.type = std::string(t);
        ++f.type_lines;
      }
      continue;
    }
    auto sample = ParseSample(line);
    if (!sample) return bad(sample.error().message());
    if (current != nullptr && BelongsTo(sample->name, *current)) {
      current->samples.push_back(std::move(*sample));
      continue;
    }
    PromFamily* owner = nullptr;
    for (auto& f : out.families) {
      if (BelongsTo(sample->name, f)) owner = &f;
    }
    if (owner == nullptr) {
      out.orphans.push_back(std::move(*sample));
      continue;
    }
    out.structure_problems.push_back("sample " + sample->name + " is away from the other samples of its family");
    owner->samples.push_back(std::move(*sample));
  }
  return out;
}

std::vector<std::string> ConventionViolations(const Exposition& exposition) {
  std::vector<std::string> out = exposition.structure_problems;
  static const std::regex kMetricName("^[a-z_:][a-z0-9_:]*$");
  static const std::regex kLabelName("^[a-zA-Z_][a-zA-Z0-9_]*$");
  static const std::regex kNonBaseUnit(
      "_(milliseconds|microseconds|nanoseconds|minutes|hours|ms|us|ns|kilobytes|"
      "megabytes|gigabytes|kb|mb|gb|percent)(_|$)");
  static const char* const kUnits[] = {"_seconds", "_bytes",  "_ratio", "_meters", "_celsius",
                                       "_volts",   "_joules", "_grams", "_amperes"};
  for (const auto& s : exposition.orphans) out.push_back("sample " + s.name + " has no # HELP/# TYPE before it");
  std::set<std::string> series;
  for (const auto& f : exposition.families) {
    const std::string& n = f.name;
    if (!std::regex_match(n, kMetricName)) out.push_back(n + ": name does not match ^[a-z_:][a-z0-9_:]*$");
    if (std::regex_search(n, kNonBaseUnit)) out.push_back(n + ": a non-base unit in the name");
    if (f.help_lines != 1) out.push_back(n + ": " + std::to_string(f.help_lines) + " # HELP lines (want 1)");
    if (f.type_lines != 1) out.push_back(n + ": " + std::to_string(f.type_lines) + " # TYPE lines (want 1)");
    if (f.help_lines == 1 && f.help.empty()) out.push_back(n + ": empty # HELP");
    const bool total = EndsWith(n, "_total");
    if (f.type == "counter" && !total) out.push_back(n + ": a counter whose name does not end in _total");
    if (f.type != "counter" && total) out.push_back(n + ": a " + f.type + " whose name ends in _total");
    if (f.type == "histogram") {
      bool unit = false;
      for (const char* u : kUnits) unit |= EndsWith(n, u);
      if (!unit) out.push_back(n + ": a histogram without a base unit suffix (_seconds, _bytes, ...)");
    }
    // Histogram series: labels without le → its buckets, sum and count.
    struct HistogramSeries {
      std::vector<std::pair<double, double>> buckets;  // (le, cumulative count) in order
      std::optional<double> sum, count;
    };
    std::map<std::map<std::string, std::string>, HistogramSeries> histograms;
    for (const auto& s : f.samples) {
      for (const auto& [k, v] : s.labels) {
        if (!std::regex_match(k, kLabelName) || k.rfind("__", 0) == 0) out.push_back(n + ": bad label name " + k);
      }
      if (!series.insert(SeriesKey(s)).second) out.push_back("duplicate series " + SeriesKey(s));
      if (f.type != "histogram") {
        if (s.name != n) out.push_back(n + ": sample " + s.name + " in a " + f.type + " family");
        continue;
      }
      auto labels = s.labels;
      if (s.name == n + "_bucket") {
        auto le = labels.find("le");
        if (le == labels.end()) {
          out.push_back(n + ": a bucket without le");
          continue;
        }
        auto bound = ParseValue(le->second);
        if (!bound) {
          out.push_back(n + ": bad le " + le->second);
          continue;
        }
        labels.erase(le);
        histograms[labels].buckets.emplace_back(*bound, s.value);
      } else if (s.name == n + "_sum") {
        histograms[labels].sum = s.value;
      } else if (s.name == n + "_count") {
        histograms[labels].count = s.value;
      } else {
        out.push_back(n + ": sample " + s.name + " in a histogram family");
      }
    }
    for (const auto& [labels, h] : histograms) {
      const std::string where = n + SeriesKey(PromSample{"", labels, 0});
      if (h.buckets.empty() || !std::isinf(h.buckets.back().first)) out.push_back(where + ": no +Inf bucket last");
      for (size_t i = 1; i < h.buckets.size(); ++i) {
        if (h.buckets[i].first <= h.buckets[i - 1].first) out.push_back(where + ": bucket bounds not increasing");
        if (h.buckets[i].second < h.buckets[i - 1].second) out.push_back(where + ": buckets not cumulative");
      }
      if (!h.sum) out.push_back(where + ": no _sum");
      if (!h.count) {
        out.push_back(where + ": no _count");
      } else if (!h.buckets.empty() && *h.count != h.buckets.back().second) {
        out.push_back(where + ": _count differs from the +Inf bucket");
      }
    }
  }
  return out;
}

}  // namespace telemq::testing
