#pragma once
// BrokerMetrics: the broker's Prometheus metrics, served as GET /metrics by
// the admin listener (admin_http.h); docs/operations.md ("Broker metrics")
// lists every family with its type, labels and meaning.
//
// Two kinds of metrics:
//  * Instruments updated where things happen, all relaxed atomics (no lock
//    on any request or replication path): requests, latency, bytes and
//    error codes per API and connections (server.cc), Raft elections,
//    leader changes and commit latency (as the replicas' ReplicaObserver),
//    fdatasync latency (the Flusher's sync observer).
//  * State read at scrape time by the collector the broker attaches
//    (AttachState): partitions through the atomics each Replica publishes
//    (never on its strand, never under its log's mutex), the cluster as the
//    metadata image and the peers' leadership claims show it, the groups this
//    broker coordinates.
//
// Threading: every method is thread-safe. One object per broker process,
// created before the logs are opened, so /metrics answers (without the
// state families) while the broker recovers; it must outlive the broker.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "broker/replication/replica.h"
#include "broker/server/reply.h"
#include "telemq/common/metrics.h"
#include "telemq/wire/frame.h"

namespace telemq::broker {

class BrokerMetrics final : public replication::ReplicaObserver {
 public:
  // `produce_memory_bytes`: the configured produce budget (a gauge).
  explicit BrokerMetrics(uint64_t produce_memory_bytes);
  ~BrokerMetrics() override;
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  // The Prometheus text exposition (format 0.0.4) of everything.
  std::string Render() const;
  metrics::Registry& registry() { return registry_; }

  // --- requests (the connection that read the frame) -------------------
  // A request of `api` arrived, `bytes` in its frame (header included).
  // `api` may be out of range (an unknown key): counted as "unknown".
  void RequestReceived(wire::ApiKey api, uint64_t bytes);
  // Its answer is built: latency since it was read, response frame bytes
  // and every error code it carries (top level and per partition, topic or
  // member; an ErrorResponse's one).
  void RequestAnswered(wire::ApiKey api, std::chrono::nanoseconds latency, const Response& response);

  // --- connections and the produce memory budget -------------------------
  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  // The budget in use is read at scrape time from `used` (thread-safe).
  void SetProduceMemoryUsed(std::function<uint64_t()> used);
  // A connection starts or stops waiting for produce memory.
  void MemoryWaitStarted() { memory_waiting_.fetch_add(1, std::memory_order_relaxed); }
  void MemoryWaitEnded() { memory_waiting_.fetch_sub(1, std::memory_order_relaxed); }

  // --- storage --------------------------------------------------------------
  void FsyncDone(std::chrono::nanoseconds duration);

  // --- replication::ReplicaObserver -----------------------------------------
  int64_t NowNs() const override;
  void ElectionsStarted(uint64_t n) override { elections_.Inc(n); }
  void LeaderChanged() override { leader_changes_.Inc(); }
  void Committed(int64_t latency_ns) override;

  // --- state read at scrape time --------------------------------------------
  // `collect` writes the state families at every render until DetachState
  // (the broker attaches it once open, detaches it before it goes away).
  void AttachState(std::function<void(metrics::FamilyWriter&)> collect);
  void DetachState();

 private:
  static constexpr size_t kApis = wire::kApiKeyCount + 1;  // the last: unknown keys
  static constexpr size_t kErrorCodes = 64;                // wire error codes (ErrorCode) fit below
  struct PerApi {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> request_bytes{0};
    std::atomic<uint64_t> response_bytes{0};
    std::unique_ptr<metrics::Histogram> latency;
    std::array<std::atomic<uint64_t>, kErrorCodes> errors{};
  };
  static size_t ApiIndex(wire::ApiKey api);
  void CollectRequests(metrics::FamilyWriter& w) const;

  metrics::Registry registry_;
  std::array<PerApi, kApis> apis_;
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> memory_waiting_{0};
  const uint64_t produce_memory_bytes_;
  metrics::Counter& elections_;
  metrics::Counter& leader_changes_;
  metrics::Histogram& commit_latency_;
  metrics::Histogram& fsync_latency_;

  mutable std::mutex mu_;
  std::function<uint64_t()> memory_used_;                // guarded by mu_
  std::function<void(metrics::FamilyWriter&)> collect_;  // guarded by mu_
};

struct BrokerState;
// Writes the partition, cluster and group families from `state` (the
// collector Broker::Open attaches). Any thread; reads only published
// atomics and takes only short-held locks (the topics map shared, the
// replica map shared, the peers' leadership claims, each group shard's
// mutex for a copy).
void CollectStateMetrics(BrokerState& state, metrics::FamilyWriter& w);

}  // namespace telemq::broker
