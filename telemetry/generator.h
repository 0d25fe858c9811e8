#pragma once
// A deterministic synthetic GPU fleet: N hosts x G GPUs, each reporting the
// ten DCGM fields of the sample export (shared/data/dcgm_metrics_*.csv).
//
// Promises: the same (hosts, gpus_per_host, seed) gives the same host names
// ("host-0001", ...), UUIDs and, for the same time, the same values. Values
// are sums of sinusoids with a per-GPU phase and period, clamped to the
// ranges seen in the export, so they change little between adjacent seconds
// (a 1 s step moves utilisation by a few percent at most). Time enters as an
// argument: no clock, no global randomness. Immutable after construction,
// so Sample may be called from several threads.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/point.h"

namespace telemq::telemetry {

// The ten fields, in the export's order.
inline constexpr std::string_view kDcgmFields[] = {
    "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_FB_USED",  "DCGM_FI_DEV_FB_FREE",       "DCGM_FI_DEV_DEC_UTIL",    "DCGM_FI_DEV_ENC_UTIL",
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK",
};
inline constexpr size_t kDcgmFieldCount = sizeof(kDcgmFields) / sizeof(kDcgmFields[0]);

inline constexpr std::string_view kSyntheticModel = "NVIDIA H100 80GB HBM3";
// FB_USED + FB_FREE in MiB, as on every GPU of the export (the H100's 81559
// MiB less what the driver reserves).
inline constexpr double kFramebufferMiB = 81007;

struct SyntheticGpu {
  std::string uuid;      // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", from seed/host/gpu
  int32_t gpu_id = 0;    // 0..gpus_per_host-1
  std::string device;    // "nvidia<gpu_id>"
  std::string hostname;  // "host-0001" (1-based, 4 digits minimum)
  double phase = 0;      // radians
  double period_s = 0;   // of the main load wave
};

class SyntheticFleet {
 public:
  // Negative counts are treated as 0 (an empty fleet).
  SyntheticFleet(int32_t hosts, int32_t gpus_per_host, uint64_t seed);

  const std::vector<SyntheticGpu>& gpus() const { return gpus_; }

  // Appends kDcgmFieldCount points for gpus()[index] at time_s (seconds since
  // the epoch); timestamp_us = time_s in microseconds. Labels mirror the export.
  void SampleGpu(size_t index, double time_s, std::vector<TelemetryPoint>* out) const;
  // The same kDcgmFieldCount points written over out[0..kDcgmFieldCount),
  // reusing their strings' and label vectors' memory, so a caller that keeps
  // its buffer samples without allocating (the streamer's hot path).
  void SampleGpuInto(size_t index, double time_s, std::span<TelemetryPoint> out) const;
  // All GPUs, host-major, fields in kDcgmFields order.
  std::vector<TelemetryPoint> Sample(double time_s) const;

 private:
  std::vector<SyntheticGpu> gpus_;
};

}  // namespace telemq::telemetry
