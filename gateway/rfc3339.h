#pragma once
// RFC 3339 timestamps for the public API: parsing what users send in
// start_time/end_time, and formatting what the gateway answers.
//
// Promises:
//  * Parse accepts exactly RFC 3339 §5.6 date-time: YYYY-MM-DD, 'T' (or 't'),
//    hh:mm:ss, an optional fraction of 1..9 digits, and 'Z' ('z') or ±hh:mm.
//    Calendar checks are real (February 29 only in leap years, hours < 24,
//    offsets < 24 h). Second 60 (a leap second) is accepted and, as POSIX
//    time does, counted as the first instant of the next minute.
//  * Storage is in microseconds. A fraction finer than that is not an error:
//    it is rounded in the direction that keeps an inclusive bound exact
//    (a start time rounds up, an end time down), so the set of stored points
//    selected is exactly the set the user asked for.
//  * An unescaped '+' in a URL query arrives as a space (form decoding);
//    Parse accepts " hh:mm" in the offset position as "+hh:mm" for that reason.
//  * Format always writes UTC with six fraction digits: 2025-07-18T20:42:34.000000Z.
// Pure functions, safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "telemq/common/result.h"

namespace telemq::gateway {

// How digits past the microsecond are folded into microseconds.
enum class SubMicros { kRoundDown, kRoundUp };

// An instant with nanosecond precision, as written (for exact comparisons).
struct Rfc3339Instant {
  int64_t unix_us = 0;   // floor
  int32_t extra_ns = 0;  // 0..999, past unix_us
  auto operator<=>(const Rfc3339Instant&) const = default;
};
[[nodiscard]] Result<Rfc3339Instant> ParseRfc3339Exact(std::string_view text);

// Microseconds since the Unix epoch; kInvalidArgument naming what is wrong.
[[nodiscard]] Result<int64_t> ParseRfc3339(std::string_view text, SubMicros rounding = SubMicros::kRoundDown);

// Appends "YYYY-MM-DDThh:mm:ss.ffffffZ" (years 0000..9999; out of range
// values are clamped to that span, which no stored point reaches).
void AppendRfc3339(int64_t unix_us, std::string& out);
std::string FormatRfc3339(int64_t unix_us);

}  // namespace telemq::gateway
