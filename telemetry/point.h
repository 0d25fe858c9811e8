#pragma once
// The telemetry point: one metric sample of one GPU, and its record encoding.
//
// A point is the value of one record on the telemetry topic; the record key
// is the GPU's UUID (identity.h). The encoding is little-endian, versioned
// and length-prefixed; DecodePoint checks every bound and rejects trailing
// bytes, so a corrupt or truncated value is an error, never a crash. Pure
// functions, no shared state: safe from any thread.
//
// Encoding, version 1 (all integers little-endian):
//   u8  version (= kPointEncodingVersion)
//   str gpu_uuid
//   i32 gpu_id
//   str device
//   str model_name
//   str hostname
//   str metric_name
//   f64 value            (IEEE-754 bits)
//   i64 timestamp_us     (microseconds since the Unix epoch)
//   u16 label count, then per label: str key, str value
// where str = u16 byte length + bytes (UTF-8, not NUL-terminated).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::telemetry {

struct TelemetryPoint {
  std::string gpu_uuid;    // identity of the GPU ("GPU-5fd4f087-..."), the record key
  int32_t gpu_id = 0;      // index on its host (DCGM "gpu"); not unique across hosts
  std::string device;      // "nvidia0"
  std::string model_name;  // "NVIDIA H100 80GB HBM3"
  std::string hostname;
  std::string metric_name;   // DCGM field name, e.g. "DCGM_FI_DEV_GPU_UTIL"
  double value = 0;          // finite; unit depends on the field
  int64_t timestamp_us = 0;  // when the point was stamped (the streamer's processing time)
  std::vector<std::pair<std::string, std::string>> labels;  // in source order

  friend bool operator==(const TelemetryPoint&, const TelemetryPoint&) = default;
};

inline constexpr uint8_t kPointEncodingVersion = 1;
// Strings are u16-length-prefixed, and so is the label count.
inline constexpr size_t kMaxPointStringBytes = 0xFFFF;
inline constexpr size_t kMaxPointLabels = 0xFFFF;

// kInvalidArgument when a string or the label list exceeds its u16 limit.
[[nodiscard]] Result<std::string> EncodePoint(const TelemetryPoint& point);
// kUnsupportedVersion for an unknown version byte; kCorrupt for truncation,
// trailing bytes or a non-finite value.
[[nodiscard]] Result<TelemetryPoint> DecodePoint(std::string_view bytes);

}  // namespace telemq::telemetry
