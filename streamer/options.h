#pragma once
// Parsing of the streamer's command-line values that CLI11 cannot check by
// itself: the source spec and durations. Pure functions; every error is
// kInvalidArgument with a message naming the bad part (main turns it into
// exit status 2).
//
//   csv:PATH                               a DCGM export (telemetry/dcgm_csv.h)
//   synthetic:hosts=N,gpus=G[,seed=S]      telemetry::SyntheticFleet
//
// Durations: a non-negative decimal with a unit, "250ms", "1s", "1.5s", "2m",
// "100us"; a bare "0" is also accepted.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "telemq/common/result.h"

namespace telemq::streamer {

enum class SourceKind { kCsv, kSynthetic };

struct SourceSpec {
  SourceKind kind = SourceKind::kSynthetic;
  std::string path;   // kCsv
  int32_t hosts = 0;  // kSynthetic: 1..100000
  int32_t gpus = 0;   // kSynthetic: GPUs per host, 1..64
  uint64_t seed = 1;  // kSynthetic
};

[[nodiscard]] Result<SourceSpec> ParseSourceSpec(std::string_view spec);

[[nodiscard]] Result<std::chrono::microseconds> ParseDuration(std::string_view text);

}  // namespace telemq::streamer
