#include "telemq/common/log.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

namespace telemq::log {
namespace {

std::atomic<Format> g_format{Format::kText};

// JSON string literal of `s`, quotes included; invalid UTF-8 becomes U+FFFD
// instead of an exception.
void AppendJsonString(std::string& out, std::string_view s) {
  out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool IsReserved(std::string_view key) { return key == "time" || key == "level" || key == "component" || key == "msg"; }

void AppendKey(std::string& out, std::string_view key) {
  out.append(key);
  if (IsReserved(key)) out += '_';
}

// logfmt: a bare word when it is one; otherwise a quoted string, escaped as
// JSON escapes strings (\" \\ \n \uXXXX), which logfmt readers accept.
bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= ' ' || u >= 0x7f || c == '"' || c == '=' || c == '\\';
  });
}

void AppendTextString(std::string& out, std::string_view s) {
  if (NeedsQuotes(s)) {
    AppendJsonString(out, s);
  } else {
    out.append(s);
  }
}

void AppendNumber(std::string& out, const Field::Value& v, Format format) {
  if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    fmt::format_to(std::back_inserter(out), "{}", *i);
  } else if (const auto* u = std::get_if<uint64_t>(&v)) {
    fmt::format_to(std::back_inserter(out), "{}", *u);
  } else if (const auto* d = std::get_if<double>(&v)) {
    // JSON has no NaN or infinity: those become null there.
    if (format == Format::kJson && !std::isfinite(*d)) {
      out += "null";
    } else {
      fmt::format_to(std::back_inserter(out), "{}", *d);
    }
  }
}

std::string Pattern(std::string_view component, Format format) {
  // The component is a program name; keep it to characters neither the
  // pattern ('%') nor JSON ('"', '\\') treat specially.
  std::string c;
  for (char ch : component) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') c += ch;
  }
  constexpr const char* kTime = "%Y-%m-%dT%H:%M:%S.%eZ";
  if (format == Format::kJson) {
    return fmt::format(R"({{"time":"{}","level":"%l","component":"{}",%v}})", kTime, c);
  }
  return fmt::format("{} %l {} %v", kTime, c);
}

}  // namespace

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

void Init(std::string_view component, Format format, spdlog::level::level_enum level) {
  auto logger =
      std::make_shared<spdlog::logger>(std::string(component), std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(Pattern(component, format),
                                                                    spdlog::pattern_time_type::utc, std::string("\n")));
  logger->set_level(level);
  // Warnings and worse reach the terminal or file at once, even if the
  // process dies right after.
  logger->flush_on(spdlog::level::warn);
  g_format.store(format);
  spdlog::set_default_logger(std::move(logger));
}

Format CurrentFormat() { return g_format.load(); }

std::string Payload(Format format, std::string_view msg, Fields fields) {
  std::string out;
  out.reserve(64 + 24 * fields.size());
  if (format == Format::kJson) {
    out += "\"msg\":";
    AppendJsonString(out, msg);
    for (const Field& f : fields) {
      out += ',';
      std::string key;
      AppendKey(key, f.key());
      AppendJsonString(out, key);
      out += ':';
      if (const auto* s = std::get_if<std::string_view>(&f.value())) {
        AppendJsonString(out, *s);
      } else {
        AppendNumber(out, f.value(), format);
      }
    }
    return out;
  }
  // Text: the message as it is, unless it would break the line.
  const bool bare_msg = std::none_of(msg.begin(), msg.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < ' ' || u == 0x7f;
  });
  if (bare_msg) {
    out.append(msg);
  } else {
    AppendJsonString(out, msg);
  }
  for (const Field& f : fields) {
    out += ' ';
    AppendKey(out, f.key());
    out += '=';
    if (const auto* s = std::get_if<std::string_view>(&f.value())) {
      AppendTextString(out, *s);
    } else {
      AppendNumber(out, f.value(), format);
    }
  }
  return out;
}

void Write(spdlog::level::level_enum level, std::string_view msg, Fields fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  const std::string payload = Payload(g_format.load(std::memory_order_relaxed), msg, fields);
  logger->log(level, spdlog::string_view_t(payload.data(), payload.size()));
}

}  // namespace telemq::log
