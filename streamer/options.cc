#include "streamer/options.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

namespace telemq::streamer {
namespace {

template <typename T>
bool ParseInt(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

Result<SourceSpec> ParseSynthetic(std::string_view params) {
  SourceSpec spec;
  spec.kind = SourceKind::kSynthetic;
  std::set<std::string, std::less<>> seen;
  while (!params.empty()) {
    const size_t comma = params.find(',');
    std::string_view item = params.substr(0, comma);
    params = comma == std::string_view::npos ? std::string_view() : params.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Fail(Errc::kInvalidArgument, "synthetic source: '" + std::string(item) + "' is not key=value");
    }
    const std::string key(item.substr(0, eq));
    const std::string_view value = item.substr(eq + 1);
    if (!seen.insert(key).second) return Fail(Errc::kInvalidArgument, "synthetic source: '" + key + "' given twice");
    bool ok = false;
    if (key == "hosts") {
      ok = ParseInt(value, &spec.hosts) && spec.hosts >= 1 && spec.hosts <= 100'000;
    } else if (key == "gpus") {
      ok = ParseInt(value, &spec.gpus) && spec.gpus >= 1 && spec.gpus <= 64;
    } else if (key == "seed") {
      ok = ParseInt(value, &spec.seed);
    } else {
      return Fail(Errc::kInvalidArgument,
                  "synthetic source: unknown parameter '" + key + "' (expected hosts, gpus, seed)");
    }
    if (!ok) {
      return Fail(Errc::kInvalidArgument, "synthetic source: bad value '" + std::string(value) + "' for " + key +
                                              " (hosts 1..100000, gpus 1..64, seed an unsigned 64-bit integer)");
    }
  }
  if (!seen.contains("hosts") || !seen.contains("gpus")) {
    return Fail(Errc::kInvalidArgument, "synthetic source: hosts=N and gpus=G are required");
  }
  return spec;
}

}  // namespace

Result<SourceSpec> ParseSourceSpec(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (kind == "csv" && colon != std::string_view::npos) {
    if (rest.empty()) return Fail(Errc::kInvalidArgument, "csv source: empty path (expected csv:PATH)");
    return SourceSpec{.kind = SourceKind::kCsv, .path = std::string(rest)};
  }
  if (kind == "synthetic" && colon != std::string_view::npos) return ParseSynthetic(rest);
  return Fail(Errc::kInvalidArgument,
              "source '" + std::string(text) + "': expected csv:PATH or synthetic:hosts=N,gpus=G[,seed=S]");
}

Result<std::chrono::microseconds> ParseDuration(std::string_view text) {
  const auto bad = [&] {
    return Fail(Errc::kInvalidArgument,
                "duration '" + std::string(text) + "': expected a number with a unit (us, ms, s, m), e.g. 500ms");
  };
  if (text == "0") return std::chrono::microseconds(0);
  size_t unit_at = 0;
  while (unit_at < text.size() && (std::isdigit(static_cast<unsigned char>(text[unit_at])) || text[unit_at] == '.')) {
    ++unit_at;
  }
  const std::string_view number = text.substr(0, unit_at);
  const std::string_view unit = text.substr(unit_at);
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size()) return bad();
  double scale = 0;
  if (unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "s") {
    scale = 1e6;
  } else if (unit == "m") {
    scale = 60e6;
  } else {
    return bad();
  }
  const double us = value * scale;
  // A day is far beyond any sensible snapshot interval; the bound keeps the
  // arithmetic away from overflow.
  if (!std::isfinite(us) || us > 86'400e6) {
    return Fail(Errc::kInvalidArgument, "duration '" + std::string(text) + "' is longer than a day");
  }
  return std::chrono::microseconds(std::llround(us));
}

}  // namespace telemq::streamer
