#pragma once
// Streamer: the streaming loop of telemq-streamer. One thread of its own
// takes the next due snapshot of an owned host (HostSchedule), stamps its
// points (GpuStamper), encodes them (telemetry::PointEncoder) and sends them
// with key = GPU UUID and record timestamp = stamp in ms.
//
// Ownership of hosts comes from outside: AssignShards / RevokeShards (the
// group listener, on its own thread) or AssignAllHosts (a single pass, no
// group). RevokeShards returns only after the revoked hosts are out of the
// schedule (nothing of them is sent after it) and every point sent before
// has been acknowledged by the broker or failed (Producer::Flush), so a host
// is never streamed by two live streamers at once.
//
// Backpressure: a full producer buffer blocks the streaming thread (Send
// waits; after max_block it is tried again), so points are delayed, not
// dropped, with two exceptions that keep shutdown and handover from waiting
// forever on an unreachable broker: once a stop is requested or an ownership
// change is waiting, a Send that still finds the buffer full after max_block
// abandons the rest of the snapshot (counted in points_abandoned). A send that fails for good (the producer's own
// retries ran out after delivery_timeout) is counted in send_errors and logged, not re-sent: a re-send would carry a
// stamp older than the GPU's newer points.
//
// Thread-safety: every public method may be called from any thread but the
// streaming one; Stop() before destruction of the producer.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "streamer/schedule.h"
#include "streamer/shard.h"
#include "streamer/source.h"
#include "telemetry/point.h"
#include "telemq/common/metrics.h"
#include "telemq/producer.h"

namespace telemq::streamer {

struct StreamerMetrics {
  explicit StreamerMetrics(metrics::Registry& registry);
  metrics::Counter& points_sent;       // accepted by Producer::Send
  metrics::Counter& points_acked;      // acknowledged by the broker
  metrics::Counter& send_errors;       // failed for good (counted as lost)
  metrics::Counter& snapshots;         // snapshots emitted
  metrics::Counter& slots_missed;      // interval slots skipped because the streamer was late
  metrics::Counter& points_abandoned;  // not sent: buffer full while stopping or changing ownership
  metrics::Counter& stamps_clamped;    // GPU stamps moved forward because the clock was behind the last one
  metrics::Gauge& hosts_owned;         // hosts this streamer streams now
  metrics::Gauge& partitions_owned;    // shards (partitions) assigned to it
  metrics::Histogram& send_latency;    // Send to acknowledgement, seconds; first point of each snapshot
};

struct StreamerOptions {
  std::string topic = "gpu.telemetry";
  // > 0: every host emits on its slots (schedule.h); 0: round robin paced by `rate`.
  std::chrono::microseconds interval{std::chrono::seconds(1)};
  double rate = 0;  // points/s when interval is 0; 0: as fast as possible
  // Single pass: snapshots per host, nullopt = each CSV snapshot once.
  // Ignored while looping.
  bool loop = true;
  std::optional<uint64_t> snapshots_per_host;
  // Bound on the wait for acknowledgements when hosts are revoked; keep it
  // below the group's rebalance timeout.
  std::chrono::milliseconds revoke_flush_timeout{30'000};
  // The same bound once a stop is requested (shutdown must not wait long on
  // an unreachable broker).
  std::chrono::milliseconds stop_flush_timeout{5'000};
};

struct StreamerStatus {
  std::vector<int32_t> partitions;  // assigned shards, ascending
  std::vector<std::string> hosts;   // hosts streamed now, sorted
};

class Streamer {
 public:
  Streamer(StreamerOptions options, std::unique_ptr<Source> source, Producer& producer, StreamerMetrics& metrics);
  ~Streamer();  // Stop()
  Streamer(const Streamer&) = delete;
  Streamer& operator=(const Streamer&) = delete;

  void Start();
  // Asks the streaming thread to end after the snapshot in progress, without
  // waiting; call it before revoking everything on shutdown, so a Send
  // blocked on a full buffer gives up. Idempotent.
  void RequestStop();
  // RequestStop, then waits for the streaming thread. Idempotent.
  void Stop();

  void AssignShards(const std::vector<int32_t>& shards);
  // `lost`: the shards are already someone else's; stop at once (the flush
  // still runs, so the log tells what was delivered).
  void RevokeShards(const std::vector<int32_t>& shards, bool lost);
  // A single pass over every host, no group.
  void AssignAllHosts();

  // Single pass: every host emitted its snapshots (all sent, maybe not yet
  // acknowledged). Waits up to `timeout`.
  bool WaitDone(std::chrono::milliseconds timeout);
  StreamerStatus Status() const;

 private:
  void Run();
  // Requires mu_; the streaming thread.
  void EmitSnapshot(const HostSchedule::Due& due, int64_t now_us);
  // sent_ns >= 0 (steady clock): observe this point's send latency.
  // kGiveUp: the buffer stayed full while a stop or ownership change waits.
  enum class Sent { kOk, kFailed, kGiveUp };
  Sent SendPoint(const telemetry::TelemetryPoint& point, std::string_view value, int64_t sent_ns);
  // Takes mu_ from the streaming thread promptly (it yields between snapshots).
  std::unique_lock<std::mutex> LockForChange();
  void PublishStatusLocked();

  const StreamerOptions options_;
  std::unique_ptr<Source> source_;
  Producer& producer_;
  StreamerMetrics& metrics_;

  std::mutex mu_;  // guards the schedule, pacer, stamper, encoder, owned_ and source_
  std::condition_variable cv_;
  std::atomic<int> waiters_{0};  // threads waiting for mu_ to change ownership
  std::atomic<bool> stop_{false};
  bool all_assigned_ = false;  // guarded by mu_: AssignAllHosts ran
  std::mutex done_mu_;
  bool done_ = false;  // guarded by done_mu_; set by the streaming thread
  std::condition_variable done_cv_;
  const HostShards shards_of_hosts_;  // immutable: the source's hosts never change
  HostSchedule schedule_;
  RatePacer pacer_;
  GpuStamper stamper_;
  telemetry::PointEncoder encoder_;
  std::set<int32_t> shards_;  // guarded by mu_
  std::thread thread_;

  mutable std::mutex status_mu_;
  StreamerStatus status_;  // guarded by status_mu_
  std::atomic<uint64_t> logged_errors_{0};
  std::atomic<uint64_t> logged_clamps_{0};
};

}  // namespace telemq::streamer
