#pragma once
// PartitionStore: the query view of one partition of the telemetry topic, a
// RocksDB database in its own directory (so a partition can be dropped or
// handed over on its own). Format: collector/store_format.h and
// docs/collector.md.
//
// Promises:
//  * Apply() writes the points of a run of records and the partition's
//    applied offset (next offset to apply) in one atomic WriteBatch. Records
//    below the applied offset are skipped (redelivery creates no duplicate
//    and never moves the offset back); a record whose value cannot be decoded
//    is counted, logged and skipped (it still advances the offset).
//  * Crash consistency without a WAL: every batch carries its own offset, a
//    batch lands whole in one memtable, and memtables are persisted whole, so
//    after a crash the store is some prefix of its batches and the offset
//    read back is exactly where that prefix ends. Replay from there
//    re-applies what was lost.
//  * Readers see a consistent snapshot per query (one RocksDB iterator).
//
// Threads: one writer thread calls Apply, Expire, StartAt, Flush,
// CompactAll and Close. The read methods (ListGpus, GetGpu, QueryWindow,
// Stats) may be called from any number of other threads at the same time;
// after Close they fail with kShuttingDown. Close waits for reads in
// progress, so the directory is free for a new Open once it returns.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::collector {

// RocksDB resources shared by every store of a process: the block cache and
// a budget for all memtables together (opaque here; see MakeStoreResources).
struct StoreResources;

struct StoreResourcesOptions {
  size_t block_cache_bytes = 64 << 20;
  // All stores' memtables together; over it the largest is flushed.
  size_t memtable_budget_bytes = 256 << 20;
  // Memtable size of one store before it is switched and flushed.
  size_t write_buffer_bytes = 32 << 20;
};
std::shared_ptr<StoreResources> MakeStoreResources(const StoreResourcesOptions& options);

struct StoreOptions {
  std::string path;                           // the store's directory (created)
  std::string topic;                          // recorded at creation; a store of another topic is refused
  std::shared_ptr<StoreResources> resources;  // null: private defaults
  // The topic incarnation (Admin::DescribeTopic's topic_id) the caller will
  // apply records of. Recorded by a store that has none (a new one, or one
  // written before topic ids); a store that records another id opens as it
  // is: the caller compares topic_id() and rebuilds. 0: unknown, nothing
  // recorded.
  uint64_t topic_id = 0;
};

// Why a record was skipped instead of applied (metric label "reason").
enum class RejectReason : uint8_t {
  kCorrupt,             // value fails DecodePoint's checks
  kUnsupportedVersion,  // value has an unknown encoding version
  kNullValue,           // record without a value
  kKeyMismatch,         // record key is not the point's GPU uuid
  kDictionaryFull,      // 65536 metric names or 2^32 GPUs in one store
};
inline constexpr size_t kRejectReasonCount = 5;
std::string_view RejectReasonName(RejectReason reason);

struct StoreRecord {
  Offset offset;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

struct ApplyStats {
  uint64_t points = 0;       // points added to the store
  uint64_t overwritten = 0;  // points whose (gpu, time, metric) was already there
  uint64_t redelivered = 0;  // records below the applied offset, skipped
  std::array<uint64_t, kRejectReasonCount> rejected{};
  uint64_t rejected_total() const;
};

struct ExpireStats {
  uint64_t points = 0;  // points deleted
  uint64_t gpus = 0;    // GPUs left without points, removed
};

struct StoreStats {
  Offset applied{0};
  uint64_t points = 0;
  size_t gpus = 0;
};

struct GpuSummary {
  std::string uuid;
  int32_t gpu_id = 0;
  std::string device;
  std::string model_name;
  std::string hostname;
  int64_t first_timestamp_us = 0;
  int64_t last_timestamp_us = 0;
  std::vector<std::string> metrics;  // sorted
};

// Downsampling of a window (GET .../telemetry?step_us&agg): points are
// grouped into buckets [k*step_us, (k+1)*step_us) aligned to the Unix epoch
// (so a bucket is the same whatever window asks for it, as Grafana aligns
// its steps), and each (bucket, metric) gives one point stamped with the
// bucket's start. The window, metric, cursor and limit of WindowQuery apply
// to the bucket points: after_us/after_metric name the last bucket point
// returned. Computed during the range scan, one bucket at a time.
enum class Aggregation : uint8_t { kAvg, kMin, kMax, kLast, kCount };
struct Downsample {
  int64_t step_us = 0;  // > 0
  Aggregation agg = Aggregation::kAvg;
};

// One GPU's points with start_us <= t <= end_us (each optional), of one
// metric when set, ordered by (timestamp, metric name), strictly after the
// cursor (after_us, after_metric) when after_us is set (without
// after_metric: after every point at after_us), at most `limit`.
struct WindowQuery {
  std::optional<int64_t> start_us;
  std::optional<int64_t> end_us;
  std::optional<std::string> metric;
  size_t limit = 1000;
  std::optional<int64_t> after_us;
  std::optional<std::string> after_metric;
  std::optional<Downsample> downsample;  // unset: raw points
};

struct QueryPoint {
  int64_t timestamp_us = 0;
  std::string_view metric;  // valid while the WindowResult lives
  double value = 0;
};

struct WindowResult {
  std::vector<QueryPoint> points;
  bool more = false;                  // more points match after the last one
  std::shared_ptr<const void> names;  // keeps QueryPoint::metric alive
};

// The latest point of each metric of one GPU (the fleet view).
struct LatestPoint {
  std::string_view metric;  // valid while the LatestResult lives
  int64_t timestamp_us = 0;
  double value = 0;
};
struct GpuLatest {
  GpuSummary gpu;
  std::vector<LatestPoint> points;  // by metric name
};
struct LatestResult {
  std::vector<GpuLatest> gpus;        // by uuid
  std::shared_ptr<const void> names;  // keeps LatestPoint::metric alive
};
// Which GPUs and how far back: a metric with no point within `lookback_us`
// of its GPU's newest point is left out (as Prometheus's 5-minute lookback
// leaves out a stale series), which bounds the backward scan per GPU.
struct LatestQuery {
  std::optional<std::string> hostname;  // only this host's GPUs
  std::optional<std::string> metric;    // only this metric
  int64_t lookback_us = 300'000'000;
};

class PartitionStore {
 public:
  // Opens or creates the store. kUnsupportedVersion for a store of another
  // format version, kInvalidArgument for one of another topic, kCorrupt for
  // unreadable metadata: the caller may Destroy and recreate it (the log is
  // the source of truth). Other errors (kIo: locked, permissions) are not
  // the store's fault.
  [[nodiscard]] static Result<std::unique_ptr<PartitionStore>> Open(const StoreOptions& options);
  // Deletes a closed store's directory.
  [[nodiscard]] static Result<void> Destroy(const std::string& path);

  ~PartitionStore();  // Close()
  PartitionStore(const PartitionStore&) = delete;
  PartitionStore& operator=(const PartitionStore&) = delete;

  // ---- writer thread
  // Records must be in offset order. An error (a failed write) leaves the
  // store unusable: Close it and Open it again to continue from what is on
  // disk.
  [[nodiscard]] Result<ApplyStats> Apply(std::span<const StoreRecord> records);
  // Sets the applied offset of an empty store (after a wipe: the log start).
  [[nodiscard]] Result<void> StartAt(Offset offset);
  // Moves the applied offset up to `offset` across offsets that hold no
  // record (control batches such as a new leader's no-op), so a log that
  // ends with one still counts as applied to its end. No-op if `offset` is
  // not above the applied offset.
  [[nodiscard]] Result<void> SkipTo(Offset offset);
  // Deletes every point older than cutoff_us, and GPUs left without points.
  [[nodiscard]] Result<ExpireStats> Expire(int64_t cutoff_us);
  // Persists the memtable (wait: until done; otherwise scheduled).
  enum class FlushMode { kWait, kBackground };
  [[nodiscard]] Result<void> Flush(FlushMode mode = FlushMode::kWait);
  // Flushes and compacts everything into the bottommost level (zstd).
  [[nodiscard]] Result<void> CompactAll();
  // Bytes of the live SST files (what a compacted store costs on disk).
  [[nodiscard]] Result<uint64_t> SstBytes() const;
  // Flushes (unless a write failed), waits for readers, closes. Idempotent.
  void Close();

  // ---- any thread
  StoreStats Stats() const;
  // The topic id the store was built from (fixed once open); 0: none recorded.
  uint64_t topic_id() const;
  [[nodiscard]] Result<std::vector<GpuSummary>> ListGpus() const;
  // kNotFound when the GPU has no points here.
  [[nodiscard]] Result<GpuSummary> GetGpu(std::string_view uuid) const;
  // Each GPU's newest point per metric; GPUs without one are left out.
  [[nodiscard]] Result<LatestResult> Latest(const LatestQuery& query) const;
  // kNotFound when the GPU has no points here.
  [[nodiscard]] Result<WindowResult> QueryWindow(std::string_view uuid, const WindowQuery& query) const;

 private:
  struct Impl;
  explicit PartitionStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::collector
