#pragma once
// Admin: topics, offsets, consumer groups and the cluster, as blocking calls.
// Thread-safe.
//
// Topic creation and deletion go to the controller leader (named by
// metadata), following it when it moves (NotController, lost connection)
// until the client's request_timeout. Descriptions ask every live broker,
// since only a partition's leader reports its in-sync replicas.
//
//   auto admin = telemq::Admin::Create({.bootstrap_servers = {"127.0.0.1:9092"}});
//   (*admin)->CreateTopic("gpu.telemetry", {.partitions = 16});

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/topic_partition.h"

namespace telemq {

namespace client {
class Cluster;
}

struct NewTopic {
  int32_t partitions = 1;
  int16_t replication_factor = -1;         // -1: the broker's default (3 in a cluster of 3 or more)
  std::optional<int64_t> retention_ms;     // unset: broker default; -1 unlimited
  std::optional<int64_t> retention_bytes;  // per partition; unset: broker default
  std::optional<int64_t> segment_bytes;
};

struct PartitionDescription {
  int32_t partition = 0;
  int32_t leader = -1;            // -1: none (offline: an election, or no live in-sync replica)
  int64_t leader_term = 0;        // Raft term of `leader`
  std::vector<int32_t> replicas;  // broker ids, the preferred leader first
  std::vector<int32_t> isr;       // in-sync replicas; empty: unknown (the leader did not answer)
  Offset log_start_offset{-1};
  Offset high_watermark{-1};
};

struct TopicDescription {
  std::string name;
  uint64_t topic_id = 0;  // new for every creation under the same name; 0: not given
  int16_t replication_factor = 0;
  bool internal = false;
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;
  int64_t segment_bytes = 0;
  std::vector<PartitionDescription> partitions;
};

struct BrokerDescription {
  int32_t id = 0;
  std::string host;
  uint16_t port = 0;
  bool live = true;  // the controller heard from it within its liveness timeout
};

struct ClusterDescription {
  std::string cluster_id;
  int32_t controller_id = -1;  // the controller leader; -1: none (an election)
  int64_t controller_term = 0;
  std::vector<BrokerDescription> brokers;  // by id
  // Every topic (internal ones included) with its partitions' leaders,
  // terms, replicas and isr; offsets are not filled.
  std::vector<TopicDescription> topics;
};

// Special timestamps for ListOffset.
enum class OffsetSpec : int64_t { kEarliest = -2, kLatest = -1 };

struct GroupListing {
  std::string group_id;
  std::string state;  // empty, stable, reconciling
  int32_t members = 0;
};

struct GroupMemberInfo {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string metadata;  // opaque bytes as the member sent them
  int32_t member_epoch = 0;
  std::string state;         // stable, unrevoked_partitions, unreleased_partitions
  bool static_left = false;  // a static member's slot kept after epoch -2
  std::vector<std::string> subscribed_topics;
  std::vector<TopicPartition> assignment;
  std::vector<TopicPartition> pending_revocation;
};

struct GroupPartitionLag {
  TopicPartition partition;
  std::optional<Offset> committed;  // nullopt: nothing committed
  Offset high_watermark{-1};
  std::optional<int64_t> lag;  // high watermark - committed, when both are known
  std::string owner;           // member id holding it, or empty
};

struct GroupDescription {
  std::string group_id;
  std::string state;
  int32_t group_epoch = 0;
  int32_t assignment_epoch = 0;
  std::vector<GroupMemberInfo> members;
  // Committed offsets, plus assigned partitions without one.
  std::vector<GroupPartitionLag> partitions;
};

// Where reset-offsets moves a group's committed offsets.
struct OffsetResetSpec {
  enum class Kind { kEarliest, kLatest, kTimestamp, kOffset };
  Kind kind = Kind::kEarliest;
  int64_t value = 0;  // ms since the Unix epoch (kTimestamp) or the offset (kOffset)
};

class Admin {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Admin>> Create(const ClientOptions& options);
  ~Admin();

  [[nodiscard]] Result<void> CreateTopic(const std::string& name, const NewTopic& spec);
  [[nodiscard]] Result<void> DeleteTopic(const std::string& name);
  [[nodiscard]] Result<std::vector<std::string>> ListTopics();
  // Partitions with leaders, and (when with_offsets) log start and high watermark.
  [[nodiscard]] Result<TopicDescription> DescribeTopic(const std::string& name, bool with_offsets = true);
  // Brokers (up or down), the controller, and every partition's leader,
  // term, replicas and in-sync replicas.
  [[nodiscard]] Result<ClusterDescription> DescribeCluster();
  // Earliest or latest (high watermark) offset of a partition.
  [[nodiscard]] Result<Offset> ListOffset(const std::string& topic, int32_t partition, OffsetSpec spec);
  // First offset whose record timestamp is >= timestamp_ms; nullopt: none yet.
  [[nodiscard]] Result<std::optional<Offset>> OffsetForTimestamp(const std::string& topic, int32_t partition,
                                                                 int64_t timestamp_ms);

  // Groups of the coordinator (this single broker for now).
  [[nodiscard]] Result<std::vector<GroupListing>> ListGroups();
  // Members with their metadata and assignments, and per partition the
  // committed offset, high watermark and lag. kNotFound for an unknown group.
  [[nodiscard]] Result<GroupDescription> DescribeGroup(const std::string& group_id);
  // Sets the committed offsets of `topic` (one partition, or all) as an
  // administrator: only while the group has no members (kInvalidArgument
  // naming NonEmptyGroup otherwise). A timestamp past the last record resets
  // to the end; an explicit offset outside [log start, high watermark] is
  // kOffsetOutOfRange. Returns the offsets written.
  [[nodiscard]] Result<std::vector<std::pair<TopicPartition, Offset>>> ResetOffsets(
      const std::string& group_id, const std::string& topic, const OffsetResetSpec& spec,
      std::optional<int32_t> partition = std::nullopt);
  // Deletes a group without members, with its committed offsets.
  [[nodiscard]] Result<void> DeleteGroup(const std::string& group_id);

 private:
  explicit Admin(std::shared_ptr<client::Cluster> cluster);
  [[nodiscard]] Result<int64_t> ListOffsetRaw(const std::string& topic, int32_t partition, int64_t timestamp);
  // Metadata of `topics` (empty: all) merged over every live broker's answer.
  // Errors of named topics go to `errors` (when non-null).
  [[nodiscard]] Result<ClusterDescription> GatherMetadata(const std::vector<std::string>& topics,
                                                          std::map<std::string, Error>* errors);
  std::shared_ptr<client::Cluster> cluster_;
};

}  // namespace telemq
