#pragma once
// Telemetry load modes of telemq-bench. `telemetry-history` writes a known
// history to the telemetry topic so query latency can be measured on a
// window of known size: G synthetic GPUs (telemetry::SyntheticFleet), one
// snapshot of the ten DCGM fields per `--step-ms` over the last `--seconds`,
// key = GPU UUID, value = EncodePoint — exactly what telemq-streamer writes,
// except that the timestamps are spread over the past instead of "now".
// It prints the UUIDs and the [start, end] window (RFC 3339) it wrote.

#include <CLI/CLI.hpp>
#include <string>

namespace telemq::bench {

class TelemetryHistoryMode {
 public:
  explicit TelemetryHistoryMode(CLI::App& app);
  TelemetryHistoryMode(const TelemetryHistoryMode&) = delete;
  TelemetryHistoryMode& operator=(const TelemetryHistoryMode&) = delete;

  bool selected() const { return cmd_->parsed(); }
  int Run(const std::string& bootstrap);

 private:
  CLI::App* cmd_;
  std::string topic_ = "gpu.telemetry";
  int partitions_ = 16;
  int hosts_ = 1;
  int gpus_ = 1;
  int seconds_ = 3600;
  int step_ms_ = 1000;
  std::string uuid_file_;
};

}  // namespace telemq::bench
