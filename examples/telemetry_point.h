#pragma once
// A GPU telemetry point and its value encoding on the telemetry topic
// (gpu.telemetry): the FlatBuffers table of point.fbs, installed with the
// client library, size-prefixed, file identifier "TMP1". The record key is
// the GPU's UUID. This is what telemq-streamer writes and telemq-collector,
// telemq-gateway and `telemq consume --format telemetry` read.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace example {

struct Point {
  std::string gpu_uuid;    // "GPU-5fd4f087-...", also the record key
  int32_t gpu_id = 0;      // index on its host
  std::string device;      // "nvidia0"
  std::string model_name;  // "NVIDIA H100 80GB HBM3"
  std::string hostname;
  std::string metric_name;   // DCGM field name, e.g. "DCGM_FI_DEV_GPU_UTIL"
  double value = 0;          // finite
  int64_t timestamp_us = 0;  // microseconds since the Unix epoch
};

std::string EncodePoint(const Point& point);
// nullopt unless `bytes` is one complete, verified version-1 point.
std::optional<Point> DecodePoint(std::string_view bytes);

}  // namespace example
