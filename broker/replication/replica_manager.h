#pragma once
// ReplicaManager: the replicas this broker hosts, by topic and partition.
// Promises: lookups are cheap and safe from any thread (I/O threads route
// every produce and fetch through Get); the map only says which Replica
// object serves a partition, each Replica owns its state on its executor.
// Thread-safety: all methods are thread-safe (a reader-writer lock around
// the map, never held while calling into a replica).

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/replication/replica.h"
#include "telemq/common/strong_id.h"

namespace telemq::replication {

class ReplicaManager {
 public:
  ReplicaManager() = default;
  ReplicaManager(const ReplicaManager&) = delete;
  ReplicaManager& operator=(const ReplicaManager&) = delete;

  // nullptr when this broker hosts no replica of the partition.
  std::shared_ptr<Replica> Get(std::string_view topic, PartitionId partition) const;
  // By the topic's cluster-wide id (how peers name partitions); nullptr if absent.
  std::shared_ptr<Replica> GetById(uint64_t topic_id, PartitionId partition) const;
  // Adds or replaces the replica of replica->key().
  void Add(std::shared_ptr<Replica> replica);
  // Removes and returns the replica of `key` (nullptr if absent).
  std::shared_ptr<Replica> Remove(const PartitionKey& key);
  // A snapshot of every replica, in (topic, partition) order.
  std::vector<std::shared_ptr<Replica>> All() const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::pair<std::string, int32_t>, std::shared_ptr<Replica>, std::less<>> replicas_;  // GUARDED_BY(mu_)
  std::map<std::pair<uint64_t, int32_t>, std::shared_ptr<Replica>> by_id_;                     // GUARDED_BY(mu_)
};

}  // namespace telemq::replication
