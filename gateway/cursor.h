#pragma once
// Paging cursors for GET /api/v1/gpus/{id}/telemetry.
//
// A cursor is the position of the last point a page returned, (timestamp_us,
// metric), which is unique per GPU because points are ordered by (time,
// metric). It travels as opaque base64url text (no padding):
//
//   u8  version (= 1)
//   i64 after_us        little-endian
//   u16 metric length   little-endian, then the metric name bytes
//   u64 check           FNV-1a 64 over everything above plus the query scope
//
// The query scope is the GPU uuid, start_us, end_us and metric filter (not
// the limit: page size may change between pages). A cursor handed to another
// query, truncated, or edited fails the check and is rejected as a bad
// parameter. The check is an integrity check, not a secret: a forged cursor
// can only select a position the caller could have asked for anyway. Being a
// pure function of its inputs, a cursor works on every gateway replica.
// Pure functions, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "telemq/common/result.h"

namespace telemq::gateway {

// What a cursor is bound to.
struct CursorScope {
  std::string_view uuid;
  std::optional<int64_t> start_us;
  std::optional<int64_t> end_us;
  std::string_view metric;  // empty: all metrics
  // Downsampled queries: a cursor of one step or aggregation is refused by
  // another. Unset for raw points (raw cursors check as before).
  std::optional<int64_t> step_us;
  std::string_view agg;
};

struct CursorPosition {
  int64_t after_us = 0;
  std::string after_metric;
  friend bool operator==(const CursorPosition&, const CursorPosition&) = default;
};

std::string EncodeCursor(const CursorPosition& position, const CursorScope& scope);
// kInvalidArgument for anything that is not a cursor this scope produced.
[[nodiscard]] Result<CursorPosition> DecodeCursor(std::string_view text, const CursorScope& scope);

// base64url without padding (RFC 4648 §5); exposed for tests.
std::string Base64UrlEncode(std::string_view bytes);
[[nodiscard]] Result<std::string> Base64UrlDecode(std::string_view text);

}  // namespace telemq::gateway
