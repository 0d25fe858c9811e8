#pragma once
// Cluster metadata (docs/replication.md §9): which brokers exist and where
// clients reach them, which topics exist with their id, config and replica
// placement. It is the state machine of the controller's Raft group: every
// change is a Command, proposed by the controller leader, committed in the
// controller log (`__cluster/0`) and applied in log order on every broker
// that holds that log. Apply is deterministic, so every broker that applied
// the log up to offset N holds the same image.
//
// Promises: pure values and functions, no I/O, no threads.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::cluster {

// The controller group's partition: its log is a partition of this reserved
// topic, and peers name it by topic id 0.
inline constexpr std::string_view kControllerTopic = "__cluster";
inline constexpr uint64_t kControllerTopicId = 0;
// The internal topic of group state and committed offsets.
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

struct TopicSpec {
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  int64_t retention_ms = -1;     // -1 unlimited
  int64_t retention_bytes = -1;  // per partition, -1 unlimited
  int64_t segment_bytes = 0;     // 0: broker default
  int64_t segment_ms = 0;        // 0: broker default
  bool operator==(const TopicSpec&) const = default;
};

struct BrokerRecord {
  int32_t id = 0;
  std::string host;  // advertised to clients
  uint16_t port = 0;
  bool operator==(const BrokerRecord&) const = default;
};

struct TopicRecord {
  std::string name;
  // The controller-log offset of the command that created it: unique, never
  // reused, so a topic deleted and created again has a new id.
  uint64_t id = 0;
  TopicSpec spec;
  // Per partition: the broker ids holding a replica, preferred leader first.
  std::vector<std::vector<int32_t>> replicas;
  bool operator==(const TopicRecord&) const = default;
};

struct MetadataImage {
  std::string cluster_id;
  std::map<int32_t, BrokerRecord> brokers;
  std::map<std::string, TopicRecord, std::less<>> topics;
  // Last controller-log offset applied; -1 for none.
  int64_t applied = -1;

  const TopicRecord* Find(std::string_view name) const;
  const TopicRecord* FindById(uint64_t id) const;
  bool operator==(const MetadataImage&) const = default;
};

// --- commands ---------------------------------------------------------------
// Names the cluster: proposed once by the first controller leader.
struct InitCluster {
  std::string cluster_id;
};
// A broker and its client-facing address (repeated when the address changes).
struct RegisterBroker {
  BrokerRecord broker;
};
// `replicas` chosen by the leader at proposal (PlaceReplicas); the id is
// assigned at apply time (the command's offset).
struct CreateTopic {
  std::string name;
  TopicSpec spec;
  std::vector<std::vector<int32_t>> replicas;
};
// Deletes the topic only if it still has `id` (a stale delete of a topic
// since recreated does nothing).
struct DeleteTopic {
  std::string name;
  uint64_t id = 0;
};
using Command = std::variant<InitCluster, RegisterBroker, CreateTopic, DeleteTopic>;

// A command as stored in the controller log (one JSON document per record:
// readable with `telemq consume __cluster`).
std::string EncodeCommand(const Command& command);
// kCorrupt, naming the problem, for anything that is not a well-formed command.
[[nodiscard]] Result<Command> DecodeCommand(std::string_view text);

// What Apply changed, so that a store can persist exactly those keys.
struct Applied {
  bool cluster_id = false;
  std::set<int32_t> brokers;
  std::set<std::string> topics;  // created, replaced or deleted
  // Set when the command was refused (a topic that already exists, a delete
  // of a topic that is gone). Every broker refuses it alike; the log moves on.
  std::string refused;
};
// Applies `command`, committed at controller-log offset `offset` (> applied).
Applied Apply(MetadataImage& image, const Command& command, int64_t offset);

// --- placement ----------------------------------------------------------------
// Replica sets for a new topic of `partitions` partitions over `live` broker
// ids: each partition gets `replication_factor` distinct brokers; replicas
// and preferred leaders are spread evenly, counting what `image` already
// places on each broker (new topics go first to the least loaded brokers).
// kInvalidArgument when replication_factor exceeds the live brokers.
[[nodiscard]] Result<std::vector<std::vector<int32_t>>> PlaceReplicas(const MetadataImage& image,
                                                                      const std::vector<int32_t>& live,
                                                                      int32_t partitions, int16_t replication_factor);

// Topic names: 1..249 characters of [A-Za-z0-9._-], not "." or "..".
[[nodiscard]] Result<void> ValidateTopicName(std::string_view name);
// Topics whose name starts with "__" belong to the system.
inline bool IsInternalTopic(std::string_view name) { return name.substr(0, 2) == "__"; }

}  // namespace telemq::cluster
