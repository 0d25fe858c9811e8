#include "gateway/rfc3339.h"

#include <algorithm>

namespace telemq::gateway {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos`; false if any is not a digit.
bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

tl::unexpected<Error> Bad(std::string_view what) {
  return Fail(Errc::kInvalidArgument,
              std::string(what) + " (expected RFC 3339, e.g. 2025-07-18T20:42:34Z or 2025-07-18T13:42:34.5-07:00)");
}

}  // namespace

Result<Rfc3339Instant> ParseRfc3339Exact(std::string_view s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, 0, 4, year) || s.size() < 5 || s[4] != '-' || !Digits(s, 5, 2, month) || s.size() < 8 || s[7] != '-' ||
      !Digits(s, 8, 2, day)) {
    return Bad("malformed date");
  }
  if (s.size() < 11 || (s[10] != 'T' && s[10] != 't')) return Bad("missing 'T' between date and time");
  if (!Digits(s, 11, 2, hour) || s.size() < 14 || s[13] != ':' || !Digits(s, 14, 2, minute) || s.size() < 17 ||
      s[16] != ':' || !Digits(s, 17, 2, second)) {
    return Bad("malformed time of day");
  }
  if (month < 1 || month > 12) return Bad("month out of range");
  if (day < 1 || static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month))) {
    return Bad("day out of range for the month");
  }
  if (hour > 23) return Bad("hour out of range");
  if (minute > 59) return Bad("minute out of range");
  if (second > 60) return Bad("second out of range");

  size_t pos = 19;
  int64_t micros = 0;
  int32_t nanos = 0;  // digits 7..9
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (s[pos] - '0');
      } else if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return Bad("no digits after the decimal point");
    if (digits > 9) return Bad("more than 9 fraction digits (nanoseconds are the finest accepted)");
    for (size_t i = digits; i < 6; ++i) micros *= 10;
    for (size_t i = std::max<size_t>(digits, 6); i < 9; ++i) nanos *= 10;
  }

  if (pos >= s.size()) return Bad("missing time zone offset ('Z' or +hh:mm)");
  int64_t offset_seconds = 0;
  const char z = s[pos];
  if (z == 'Z' || z == 'z') {
    ++pos;
  } else if (z == '+' || z == '-' || z == ' ') {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, om)) {
      return Bad("malformed time zone offset");
    }
    if (oh > 23 || om > 59) return Bad("time zone offset out of range");
    offset_seconds = (oh * 60 + om) * 60;
    if (z == '-') offset_seconds = -offset_seconds;
    pos += 6;
  } else {
    return Bad("malformed time zone offset");
  }
  if (pos != s.size()) return Bad("unexpected characters after the time zone offset");

  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  // Local time minus the offset is UTC; second 60 runs on into the next minute.
  const int64_t seconds = days * kSecondsPerDay + hour * 3600 + minute * 60 + second - offset_seconds;
  return Rfc3339Instant{seconds * kMicrosPerSecond + micros, nanos};
}

Result<int64_t> ParseRfc3339(std::string_view s, SubMicros rounding) {
  TELEMQ_ASSIGN_OR_RETURN(const Rfc3339Instant t, ParseRfc3339Exact(s));
  return t.unix_us + (rounding == SubMicros::kRoundUp && t.extra_ns > 0 ? 1 : 0);
}

void AppendRfc3339(int64_t unix_us, std::string& out) {
  // 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
  constexpr int64_t kMin = -62'167'219'200'000'000;
  constexpr int64_t kMax = 253'402'300'799'999'999;
  if (unix_us < kMin) unix_us = kMin;
  if (unix_us > kMax) unix_us = kMax;
  int64_t secs = unix_us / kMicrosPerSecond;
  int64_t frac = unix_us % kMicrosPerSecond;
  if (frac < 0) {
    frac += kMicrosPerSecond;
    --secs;
  }
  int64_t days = secs / kSecondsPerDay;
  int64_t sod = secs % kSecondsPerDay;
  if (sod < 0) {
    sod += kSecondsPerDay;
    --days;
  }
  int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  // Hand-formatted: this runs once per point on the telemetry hot path.
  char buf[27] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', 'T', '0', '0', ':',
                  '0', '0', ':', '0', '0', '.', '0', '0', '0', '0', '0', '0', 'Z'};
  auto put = [&buf](size_t at, size_t width, uint64_t v) {
    for (size_t i = width; i-- > 0; v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, static_cast<uint64_t>(y));
  put(5, 2, m);
  put(8, 2, d);
  put(11, 2, static_cast<uint64_t>(sod / 3600));
  put(14, 2, static_cast<uint64_t>(sod / 60 % 60));
  put(17, 2, static_cast<uint64_t>(sod % 60));
  put(20, 6, static_cast<uint64_t>(frac));
  out.append(buf, sizeof buf);
}

std::string FormatRfc3339(int64_t unix_us) {
  std::string out;
  AppendRfc3339(unix_us, out);
  return out;
}

}  // namespace telemq::gateway
