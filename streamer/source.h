#pragma once
// Where the streamer's points come from: a fleet of hosts, each producing
// snapshots (one sample of every metric of every GPU of the host).
//
//  * CsvSource reads a whole DCGM export into memory once (exports are small:
//    the sample is 1 MB for 2,470 rows), grouped per host into snapshots:
//    rows of one host that share the CSV's timestamp string form one
//    snapshot, in order of first appearance in the file. A row repeating a
//    (GPU, metric) already in its snapshot starts a further snapshot instead,
//    so that (GPU, stamp, metric) stays unique downstream. Bad rows are
//    skipped, counted and logged by telemetry::DcgmCsvReader.
//  * SyntheticSource samples telemetry::SyntheticFleet at the emission time.
//
// Hosts are indexed 0..hosts().size()-1 (CSV: sorted by name; synthetic: in
// fleet order, host-0001 first); GPUs get dense indexes
// 0..gpu_count()-1 across the fleet (for per-GPU stamping). Not thread-safe:
// Get() may reuse one buffer, so one streaming thread owns a source.

#include <cstdint>
#include <istream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "streamer/options.h"
#include "telemetry/dcgm_csv.h"
#include "telemetry/generator.h"
#include "telemetry/point.h"
#include "telemq/common/result.h"

namespace telemq::streamer {

// One snapshot, ready to stamp: points[i] belongs to GPU gpus[i]. The spans
// stay valid until the next Get(). timestamp_us is the caller's to set.
struct Snapshot {
  std::span<telemetry::TelemetryPoint> points;
  std::span<const uint32_t> gpus;
};

class Source {
 public:
  virtual ~Source() = default;
  // Unique names.
  const std::vector<std::string>& hosts() const { return hosts_; }
  size_t gpu_count() const { return gpu_count_; }
  // Distinct snapshots of `host` before the source repeats itself (CSV), or
  // 0 when every sample is new (synthetic).
  virtual uint64_t snapshot_count(size_t host) const = 0;
  // Snapshot `n` of `host` (taken modulo snapshot_count() when that is not
  // 0), sampled at `time_us` where the source depends on time.
  virtual Snapshot Get(size_t host, uint64_t n, int64_t time_us) = 0;

 protected:
  std::vector<std::string> hosts_;
  size_t gpu_count_ = 0;
};

class CsvSource final : public Source {
 public:
  // kInvalidArgument when the header is missing or unusable (bad rows are
  // not errors: see summary()).
  [[nodiscard]] static Result<std::unique_ptr<CsvSource>> Load(std::istream& in);
  // kNotFound when the file cannot be opened; otherwise as Load.
  [[nodiscard]] static Result<std::unique_ptr<CsvSource>> LoadFile(const std::string& path);

  uint64_t snapshot_count(size_t host) const override { return snapshots_[host].size(); }
  Snapshot Get(size_t host, uint64_t n, int64_t time_us) override;

  const telemetry::DcgmReadSummary& summary() const { return summary_; }
  size_t point_count() const { return summary_.rows; }
  // The CSV timestamp shared by the rows of snapshot n of host (for tests and logs).
  const std::string& source_timestamp(size_t host, uint64_t n) const { return snapshots_[host][n].source_timestamp; }

 private:
  struct StoredSnapshot {
    std::string source_timestamp;
    std::vector<telemetry::TelemetryPoint> points;
    std::vector<uint32_t> gpus;
  };
  CsvSource() = default;
  std::vector<std::vector<StoredSnapshot>> snapshots_;  // [host][snapshot]
  telemetry::DcgmReadSummary summary_;
};

class SyntheticSource final : public Source {
 public:
  explicit SyntheticSource(const SourceSpec& spec);

  uint64_t snapshot_count(size_t /*host*/) const override { return 0; }
  Snapshot Get(size_t host, uint64_t n, int64_t time_us) override;

 private:
  telemetry::SyntheticFleet fleet_;
  int32_t gpus_per_host_;
  std::vector<telemetry::TelemetryPoint> points_;  // reused by Get
  std::vector<uint32_t> gpus_;
};

}  // namespace telemq::streamer
