#pragma once
// BrokerState: everything the request handlers share — configuration, the
// partition logs (through storage::LogManager, the only owner of partition
// directories), topics, the flusher, the group coordinator, the advertised
// address. Internal to broker/server: broker.cc owns one and routes each
// verified request to one of its Handle* methods (handlers/*.cc, one file
// per API family) through the dispatch table.
//
// Threading: handlers run on any I/O thread concurrently. `topics` is guarded
// by `topics_mu`. A partition's state belongs to its replication::Replica,
// reached through `replicas` and touched only on the replica's strand
// (handlers post to it); handlers read the log below the published high
// watermark directly.

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/replication/replica.h"
#include "broker/replication/replica_manager.h"
#include "broker/server/config.h"
#include "broker/server/group_coordinator.h"
#include "broker/server/replica_seams.h"
#include "broker/server/reply.h"
#include "broker/server/topic_registry.h"
#include "broker/storage/file_system.h"
#include "broker/storage/flusher.h"
#include "broker/storage/log_manager.h"
#include "broker/storage/partition_log.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

namespace fb = wire::fb;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Broker ids start at 0 (a StatefulSet ordinal); Raft node ids are positive
// (0 means "none"). A broker's replicas vote as node broker_id + 1.
inline NodeId RaftNodeOf(int32_t broker_id) { return NodeId(broker_id + 1); }
// The broker a Raft node id stands for; -1 for "none".
inline int32_t BrokerOf(NodeId node) { return node.value() - 1; }

// Producer ids are unique across the cluster without asking anyone: the
// allocating broker's id in the high bits, its own persisted counter below
// (2^40 ids per broker). Two brokers never hand out the same id, so a
// partition's idempotence table cannot confuse two producers.
inline constexpr int kProducerIdCounterBits = 40;
[[nodiscard]] Result<ProducerId> AllocateProducerId(TopicRegistry& registry, int32_t broker_id);

// One request as the dispatch table hands it to a handler, next to its
// verified body.
struct Request {
  const wire::RequestHeader& header;
  std::span<const std::byte> body;  // the verified FlatBuffers message
  std::span<std::byte> payload;     // trailing raw bytes (produce: record batches)
  // Keeps body and payload alive after the handler returns: a produced
  // batch is proposed, replicated and cached straight from the frame.
  std::shared_ptr<const void> frame;
};

struct Topic {
  TopicSpec spec;
};

struct BrokerState {
  BrokerConfig config;
  asio::io_context& io;
  storage::FileSystem& file_system;
  std::unique_ptr<storage::LogManager> logs;  // the only owner of partition directories
  std::unique_ptr<TopicRegistry> registry;
  std::unique_ptr<storage::Flusher> flusher;
  // Seams of the replicas (replica_seams.h), shared by all of them.
  std::unique_ptr<FlusherSyncer> syncer;
  SystemClock clock;
  LocalTransport transport;
  std::unique_ptr<replication::ReplicaManager> replicas;
  // The machine rebooted since the data directory was last used (boot id).
  bool machine_restarted = false;
  std::shared_mutex topics_mu;
  std::map<std::string, Topic> topics;  // guarded by topics_mu
  // Topics whose replicas are still being stopped and deleted: the name
  // cannot be created again until they are gone (it would find their logs).
  std::set<std::string> deleting;  // guarded by topics_mu
  std::string advertised_host;
  uint16_t advertised_port = 0;
  std::unique_ptr<GroupCoordinator> groups;
  // Serialises "snapshot the topics, hand them to the groups" so two topic
  // changes cannot deliver their snapshots in the wrong order.
  std::mutex group_topics_mu;
  void PublishTopicsToGroups() {
    std::lock_guard lock(group_topics_mu);
    groups->UpdateTopics(UserTopics());
  }

  BrokerState(const BrokerConfig& c, asio::io_context& i, storage::FileSystem& f) : config(c), io(i), file_system(f) {}

  static bool IsInternal(std::string_view topic) { return topic.substr(0, 2) == "__"; }

  // Topics groups may subscribe to, with their partition counts.
  group::TopicMetadata UserTopics() {
    group::TopicMetadata out;
    std::shared_lock lock(topics_mu);
    for (const auto& [name, t] : topics) {
      if (!IsInternal(name)) out[name] = t.spec.partitions;
    }
    return out;
  }

  Result<void> OpenGroups();
  void AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done);
  storage::LogOptions LogOptionsFor(const TopicSpec& spec) const {
    storage::LogOptions o;
    o.segment_bytes = spec.segment_bytes > 0 ? static_cast<uint64_t>(spec.segment_bytes) : config.segment_bytes;
    o.segment_ms = config.segment_ms;
    o.fsync = config.fsync == FsyncMode::kAlways ? storage::FsyncPolicy::kAlways : storage::FsyncPolicy::kInterval;
    o.fsync_interval = config.fsync_interval;
    o.retention_bytes = spec.retention_bytes;
    o.retention_ms = std::chrono::milliseconds(spec.retention_ms);
    return o;
  }

  // Opens (or creates) partition `index` of `topic` through the log manager
  // and starts its replica, on its own strand, as the only member of its
  // Raft group until brokers replicate to each other.
  Result<std::shared_ptr<replication::Replica>> OpenReplica(const std::string& topic, int32_t index,
                                                            const TopicSpec& spec);
  // Stops a replica on its strand (its waiting requests fail, its long polls
  // wake), deletes its log, then calls `done` (on the strand).
  void RemoveReplica(const std::shared_ptr<replication::Replica>& replica, std::function<void()> done);
  // Stops and deletes `replicas`, the partitions of topic `name` (deleted,
  // or a create rolled back), then calls `done` (on a strand). Until then
  // `name` is in `deleting`. Call with topics_mu held exclusively.
  void RemoveTopicReplicasLocked(const std::string& name, std::vector<std::shared_ptr<replication::Replica>> gone,
                                 std::function<void()> done);
  // Calls `done(true)` once every replica in `replicas` serves as leader, or
  // done(false) after `timeout`. On any thread.
  void WhenServing(const std::vector<std::shared_ptr<replication::Replica>>& replicas,
                   std::chrono::milliseconds timeout, std::function<void(bool)> done);

  std::shared_ptr<replication::Replica> Find(std::string_view topic, int32_t index) const {
    if (index < 0) return nullptr;
    return replicas->Get(topic, PartitionId(index));
  }

  // --- handlers (handlers/*.cc), reached through the dispatch table ---------
  // handlers/metadata.cc
  void HandleApiVersions(const fb::ApiVersionsRequest* req, const Request& request, Reply& reply);
  void HandleMetadata(const fb::MetadataRequest* req, const Request& request, Reply& reply);
  // handlers/topics.cc
  void HandleCreateTopics(const fb::CreateTopicsRequest* req, const Request& request, Reply& reply);
  void HandleDeleteTopics(const fb::DeleteTopicsRequest* req, const Request& request, Reply& reply);
  // handlers/produce.cc
  void HandleProduce(const fb::ProduceRequest* req, const Request& request, Reply& reply);
  void HandleInitProducerId(const fb::InitProducerIdRequest* req, const Request& request, Reply& reply);
  // handlers/fetch.cc
  void HandleFetch(const fb::FetchRequest* req, const Request& request, Reply& reply);
  void HandleListOffsets(const fb::ListOffsetsRequest* req, const Request& request, Reply& reply);
  // handlers/groups.cc
  void HandleFindCoordinator(const fb::FindCoordinatorRequest* req, const Request& request, Reply& reply);
  void HandleGroupHeartbeat(const fb::GroupHeartbeatRequest* req, const Request& request, Reply& reply);
  void HandleOffsetCommit(const fb::OffsetCommitRequest* req, const Request& request, Reply& reply);
  void HandleOffsetFetch(const fb::OffsetFetchRequest* req, const Request& request, Reply& reply);
  void HandleListGroups(const fb::ListGroupsRequest* req, const Request& request, Reply& reply);
  void HandleDescribeGroup(const fb::DescribeGroupRequest* req, const Request& request, Reply& reply);
  void HandleDeleteGroup(const fb::DeleteGroupRequest* req, const Request& request, Reply& reply);
};

}  // namespace telemq::broker
