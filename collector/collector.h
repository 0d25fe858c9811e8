#pragma once
// Collector: a member of the collectors' consumer group that keeps one
// PartitionStore per owned partition of the telemetry topic and tells the
// HTTP handlers which partitions it owns (docs/collector.md).
//
// Lifecycle: Create, then Start(endpoint) once the HTTP server is bound
// (the endpoint is advertised in the member metadata), then Run() on the
// consumer thread until the stop flag is set; Run leaves the group, which
// revokes, flushes and closes every store.
//
// Threads: Run owns the consumer and every write; partition changes happen
// inside Consumer::Poll on that thread. The PartitionDirectory methods and
// healthy() may be called from any thread: the partition map is guarded by a
// mutex, states are atomics, and stores are shared_ptrs whose Close waits
// for reads in progress.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "collector/http_api.h"
#include "collector/partition_store.h"
#include "telemq/client_options.h"
#include "telemq/common/metrics.h"
#include "telemq/common/result.h"

namespace telemq::collector {

struct CollectorOptions {
  ClientOptions client;
  std::string topic = "gpu.telemetry";
  std::string group = "telemq-collectors";
  // Static membership (a StatefulSet pod name): a restart within the session
  // timeout keeps this member's partitions, and so its local stores.
  std::optional<std::string> instance_id;
  std::string data_dir = "./collector-data";  // stores under <data_dir>/partition-<N>
  std::chrono::milliseconds session_timeout{10'000};
  std::chrono::milliseconds rebalance_timeout{60'000};
  // How often applied offsets are committed to the group (for lag only; the
  // stores' offsets are the truth).
  std::chrono::milliseconds commit_interval{5'000};
  // How often a store with new data is flushed (bounds the replay after a
  // crash, since the memtable has no WAL).
  std::chrono::milliseconds flush_interval{30'000};
  std::chrono::milliseconds retention_check_interval{60'000};
  // How often the topic's id is read from the metadata: a topic deleted and
  // recreated under the same name has a new id, and every store built from
  // the old one is dropped and rebuilt from the new log. Also read on every
  // assignment and before a partition is positioned.
  std::chrono::milliseconds topic_check_interval{5'000};
  // Unset: the topic's retention_ms (read at every check); -1: keep forever.
  std::optional<int64_t> retention_ms;
  StoreResourcesOptions store;
  // On exit, compact every store fully and log its bytes per point.
  bool compact_on_exit = false;
  size_t max_poll_records = 50'000;
};

class Collector final : public PartitionDirectory {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Collector>> Create(CollectorOptions options, metrics::Registry& registry);
  ~Collector() override;
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Joins the group with metadata {"endpoint": endpoint}.
  [[nodiscard]] Result<void> Start(const std::string& endpoint);
  // Consumes until `stop` is set, then leaves the group. An error: the
  // member cannot continue (e.g. the group id was refused).
  [[nodiscard]] Result<void> Run(const std::atomic<bool>& stop);
  bool healthy() const;

  std::string MemberId() const override;
  std::vector<PartitionHandle> Partitions() const override;
  std::optional<PartitionHandle> Find(int32_t partition) const override;

 private:
  struct Impl;
  explicit Collector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::collector
