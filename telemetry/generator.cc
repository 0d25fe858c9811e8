#include "telemetry/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "telemq/common/check.h"

namespace telemq::telemetry {
namespace {

// splitmix64: a fixed, portable mixer, so UUIDs do not depend on the
// standard library's distributions.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double Unit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }  // [0, 1)

double Clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

}  // namespace

SyntheticFleet::SyntheticFleet(int32_t hosts, int32_t gpus_per_host, uint64_t seed) {
  hosts = std::max(hosts, 0);
  gpus_per_host = std::max(gpus_per_host, 0);
  gpus_.reserve(static_cast<size_t>(hosts) * static_cast<size_t>(gpus_per_host));
  for (int32_t h = 0; h < hosts; ++h) {
    char hostname[32];
    std::snprintf(hostname, sizeof(hostname), "host-%04d", h + 1);
    for (int32_t g = 0; g < gpus_per_host; ++g) {
      uint64_t a = Mix(seed ^ Mix((static_cast<uint64_t>(h) << 32) | static_cast<uint32_t>(g)));
      uint64_t b = Mix(a);
      char uuid[64];
      std::snprintf(uuid, sizeof(uuid), "GPU-%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
                    static_cast<uint32_t>((a >> 16) & 0xFFFF), static_cast<uint32_t>(a & 0xFFFF),
                    static_cast<uint32_t>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
      uint64_t c = Mix(b);
      SyntheticGpu gpu;
      gpu.uuid = uuid;
      gpu.gpu_id = g;
      gpu.device = "nvidia" + std::to_string(g);
      gpu.hostname = hostname;
      gpu.phase = 2 * std::numbers::pi * Unit(c);
      gpu.period_s = 300 + 600 * Unit(Mix(c));  // 5 to 15 minutes per load cycle
      gpus_.push_back(std::move(gpu));
    }
  }
}

void SyntheticFleet::SampleGpu(size_t index, double t, std::vector<TelemetryPoint>* out) const {
  const size_t first = out->size();
  out->resize(first + kDcgmFieldCount);
  SampleGpuInto(index, t, std::span<TelemetryPoint>(out->data() + first, kDcgmFieldCount));
}

void SyntheticFleet::SampleGpuInto(size_t index, double t, std::span<TelemetryPoint> out) const {
  TELEMQ_CHECK(out.size() >= kDcgmFieldCount, "SampleGpuInto needs kDcgmFieldCount points");
  const SyntheticGpu& gpu = gpus_.at(index);
  const double w = 2 * std::numbers::pi / gpu.period_s;
  // Main load in [0, 1] plus a faster ripple; memory and temperature follow
  // their own slower waves so the fields are correlated but not identical.
  const double load = Clamp(0.5 + 0.45 * std::sin(w * t + gpu.phase) + 0.05 * std::sin(3.1 * w * t), 0, 1);
  const double mem_load = Clamp(0.5 + 0.45 * std::sin(0.37 * w * t + 1.7 * gpu.phase), 0, 1);
  const double heat = Clamp(0.5 + 0.5 * std::sin(w * t + gpu.phase - 0.6), 0, 1);  // lags the load

  const double util = std::round(100 * load);
  const double fb_used = std::round(4 + (77400 - 4) * mem_load);
  const double values[kDcgmFieldCount] = {
      util,                                                              // GPU_UTIL, %
      std::round(Clamp(80 * load * (0.6 + 0.4 * mem_load), 0, 100)),     // MEM_COPY_UTIL, %
      std::round(Clamp(66 + (690 - 66) * load, 60, 700) * 1000) / 1000,  // POWER_USAGE, W
      std::round(Clamp(30 + 55 * heat, 30, 85)),                         // GPU_TEMP, C
      fb_used,                                                           // FB_USED, MiB
      kFramebufferMiB - fb_used,                                         // FB_FREE, MiB
      0,                                                                 // DEC_UTIL: idle in the export
      0,                                                                 // ENC_UTIL: idle in the export
      std::round(Clamp(345 + (1980 - 345) * load, 210, 1980)),           // SM_CLOCK, MHz
      2619,                                                              // MEM_CLOCK, MHz: fixed on H100
  };
  const int64_t ts_us = std::llround(t * 1e6);
  // assign() rather than fresh strings: out's memory is reused.
  char gpu_index[16];
  const int gpu_index_len = std::snprintf(gpu_index, sizeof(gpu_index), "%d", gpu.gpu_id);
  for (size_t f = 0; f < kDcgmFieldCount; ++f) {
    TelemetryPoint& p = out[f];
    p.gpu_uuid.assign(gpu.uuid);
    p.gpu_id = gpu.gpu_id;
    p.device.assign(gpu.device);
    p.model_name.assign(kSyntheticModel);
    p.hostname.assign(gpu.hostname);
    p.metric_name.assign(kDcgmFields[f]);
    p.value = values[f];
    p.timestamp_us = ts_us;
    p.labels.resize(9);
    auto set = [&](size_t i, std::string_view key, std::string_view value) {
      p.labels[i].first.assign(key);
      p.labels[i].second.assign(value);
    };
    set(0, "DCGM_FI_DRIVER_VERSION", "535.129.03");
    set(1, "Hostname", gpu.hostname);
    set(2, "UUID", gpu.uuid);
    set(3, "__name__", kDcgmFields[f]);
    set(4, "device", gpu.device);
    set(5, "gpu", std::string_view(gpu_index, static_cast<size_t>(gpu_index_len)));
    set(6, "instance", gpu.hostname);
    p.labels[6].second.append(":9400");
    set(7, "job", "dgx_dcgm_exporter");
    set(8, "modelName", kSyntheticModel);
  }
}

std::vector<TelemetryPoint> SyntheticFleet::Sample(double time_s) const {
  std::vector<TelemetryPoint> out;
  out.reserve(gpus_.size() * kDcgmFieldCount);
  for (size_t i = 0; i < gpus_.size(); ++i) SampleGpu(i, time_s, &out);
  return out;
}

}  // namespace telemq::telemetry
