#pragma once
// The telemetry point: one metric sample of one GPU, and its record encoding.
//
// A point is the value of one record on the telemetry topic; the record key
// is the GPU's UUID (identity.h). The encoding is the FlatBuffers table of
// telemetry/schemas/point.fbs, size-prefixed, with file identifier "TMP1"
// (schema + version). Decoding runs the FlatBuffers Verifier and checks the
// size prefix against the value's length before any field is read, so a
// corrupt, truncated or foreign value is an error, never a crash.
//
// Free functions are safe from any thread (EncodePoint keeps one builder per
// thread). A PointEncoder is for one thread at a time; a PointView borrows
// the bytes it was decoded from.

#include <cstdint>
#include <memory>
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

// FlatBuffers file identifier of encoding version 1 ("TMP" + version).
inline constexpr std::string_view kPointFileIdentifier = "TMP1";
// Sum of all string bytes (fields, label keys and values) a point may carry.
// Real points carry a few hundred; the bound keeps one bad input from
// growing the encoder's buffer without limit.
inline constexpr size_t kMaxPointStringBytes = 1 << 20;

// A decoded point that borrows from the encoded bytes: no copies, valid only
// while those bytes are. Absent strings read as empty.
struct PointView {
  std::string_view gpu_uuid;
  int32_t gpu_id = 0;
  std::string_view device;
  std::string_view model_name;
  std::string_view hostname;
  std::string_view metric_name;
  double value = 0;
  int64_t timestamp_us = 0;

  size_t label_count() const;
  // Requires i < label_count().
  std::pair<std::string_view, std::string_view> label(size_t i) const;
  TelemetryPoint ToPoint() const;

 private:
  friend Result<PointView> DecodePointView(std::string_view bytes);
  const void* labels_ = nullptr;  // the verified FlatBuffers vector of labels, or null
};

// Encodes into a buffer it keeps, so encoding allocates nothing once the
// buffer has grown to a point's size. Not thread-safe: one per thread.
class PointEncoder {
 public:
  PointEncoder();
  ~PointEncoder();
  PointEncoder(const PointEncoder&) = delete;
  PointEncoder& operator=(const PointEncoder&) = delete;

  // The encoded value, valid until the next Encode or the encoder's end.
  // kInvalidArgument when the strings exceed kMaxPointStringBytes.
  [[nodiscard]] Result<std::string_view> Encode(const TelemetryPoint& point);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// kInvalidArgument when the strings exceed kMaxPointStringBytes.
[[nodiscard]] Result<std::string> EncodePoint(const TelemetryPoint& point);
// kCorrupt when the bytes fail the Verifier, the size prefix does not match
// their length (truncation, trailing bytes), the identifier is not a point's,
// or the value is not finite; kUnsupportedVersion for "TMP" with another
// version digit.
[[nodiscard]] Result<PointView> DecodePointView(std::string_view bytes);
[[nodiscard]] Result<TelemetryPoint> DecodePoint(std::string_view bytes);

}  // namespace telemq::telemetry
