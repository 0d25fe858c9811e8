#pragma once
// Structured logs: every telemq program (broker, streamer, collector,
// gateway) writes one line per event to stderr through spdlog, in one of two
// formats chosen at start-up (docs/operations.md, "Logs"):
//
//   text: 2026-12-05T04:10:00.123Z info broker topic created topic=gpu partition_count=3
//   json: {"time":"2026-12-05T04:10:00.123Z","level":"info","component":"broker",
//          "msg":"topic created","topic":"gpu","partition_count":3}
//
// A message is a constant string saying what happened; what varies goes in
// fields, with the same key for the same thing everywhere (topic, partition,
// offset, term, broker, peer, group, member, error, path, ...):
//
//   log::Info("partition serving", {{"topic", topic}, {"partition", p}, {"offset", offset}});
//
// Fields hold views: they live for the call's full expression, so a
// temporary such as `r.error().ToString()` is a fine value. A disabled level
// costs the level check and the field views, never the formatting. Keys are
// identifiers ([a-z_][a-z0-9_]*); time, level, component and msg are the
// line's own, so a field with one of those names gets a `_` appended.
// Values: integers and strong ids (anything with an integral `.value()`),
// floating point, bool and strings. In text, a string value is quoted and
// escaped when it is empty or holds a space, `"`, `=`, `\`, a control
// character or a non-ASCII byte; in JSON numbers stay numbers. Every line is
// one line, whatever the values hold.
//
// Thread-safe: Init once in main() before starting threads; logging from
// any thread after that.

#include <spdlog/spdlog.h>

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace telemq::log {

enum class Format { kText, kJson };

// "text" or "json"; anything else is nullopt.
std::optional<Format> ParseFormat(std::string_view name);

// Points spdlog's default logger at stderr with the line layout of `format`
// (UTC time in milliseconds, level, `component`) and sets its level.
// `component` names the program: broker, streamer, collector, gateway.
void Init(std::string_view component, Format format, spdlog::level::level_enum level);

// The format Init chose (text before Init).
Format CurrentFormat();

// One key=value pair of a log line.
class Field {
 public:
  using Value = std::variant<bool, int64_t, uint64_t, double, std::string_view>;

  template <typename T>
  Field(std::string_view key, const T& value) : key_(key), value_(ToValue(value)) {}

  std::string_view key() const { return key_; }
  const Value& value() const { return value_; }

 private:
  template <typename T>
  static Value ToValue(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v;
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      return static_cast<int64_t>(v);
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<uint64_t>(v);
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<double>(v);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      return std::string_view(v);
    } else if constexpr (requires { requires std::integral<std::decay_t<decltype(v.value())>>; }) {
      return ToValue(v.value());  // strong ids: Offset, Term, NodeId, ...
    } else {
      static_assert(sizeof(T) == 0, "log field values are numbers, bools, strings or strong ids");
    }
  }

  std::string_view key_;
  Value value_;
};

using Fields = std::initializer_list<Field>;

// The part of a line after time, level and component, in `format`: the
// message and the fields (text), or the "msg" member onwards (JSON, without
// braces). Exposed for tests.
std::string Payload(Format format, std::string_view msg, Fields fields);

// Writes one line at `level` if the default logger takes that level.
void Write(spdlog::level::level_enum level, std::string_view msg, Fields fields);

inline void Trace(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::trace)) Write(spdlog::level::trace, msg, fields);
}
inline void Debug(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::debug)) Write(spdlog::level::debug, msg, fields);
}
inline void Info(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::info)) Write(spdlog::level::info, msg, fields);
}
inline void Warn(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::warn)) Write(spdlog::level::warn, msg, fields);
}
inline void Error(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::err)) Write(spdlog::level::err, msg, fields);
}
inline void Critical(std::string_view msg, Fields fields = {}) {
  if (spdlog::should_log(spdlog::level::critical)) Write(spdlog::level::critical, msg, fields);
}

}  // namespace telemq::log
