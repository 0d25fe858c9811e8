#pragma once
// Durable topic metadata of a single broker: topic name → partition count
// and config, plus the producer-id allocator and the cluster id. Backed by
// RocksDB under <data_dir>/meta (every write synced). When the controller
// lands, this becomes the state machine its metadata log is applied to.
// Thread-safe (internal mutex).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace rocksdb {
class DB;
}

namespace telemq::broker {

struct TopicSpec {
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  int64_t retention_ms = -1;     // -1 unlimited
  int64_t retention_bytes = -1;  // per partition, -1 unlimited
  int64_t segment_bytes = 0;     // 0: broker default
};

class TopicRegistry {
 public:
  static Result<std::unique_ptr<TopicRegistry>> Open(const std::string& dir);
  ~TopicRegistry();
  TopicRegistry(const TopicRegistry&) = delete;
  TopicRegistry& operator=(const TopicRegistry&) = delete;

  [[nodiscard]] Result<void> Create(const std::string& name, const TopicSpec& spec);
  [[nodiscard]] Result<void> Delete(const std::string& name);
  std::optional<TopicSpec> Get(const std::string& name) const;
  std::map<std::string, TopicSpec> List() const;
  // Allocates a fresh producer id, never handed out before (persisted).
  [[nodiscard]] Result<ProducerId> NextProducerId();
  const std::string& cluster_id() const { return cluster_id_; }

 private:
  TopicRegistry() = default;
  mutable std::mutex mu_;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, TopicSpec> topics_;  // guarded by mu_
  int64_t next_producer_id_ = 0;             // guarded by mu_
  std::string cluster_id_;
};

// Topic names: 1..249 characters of [A-Za-z0-9._-], not "." or "..".
[[nodiscard]] Result<void> ValidateTopicName(const std::string& name);

}  // namespace telemq::broker
