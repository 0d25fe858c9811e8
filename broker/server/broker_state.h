#pragma once
// BrokerState: everything the request handlers share — configuration, the
// partition logs (through storage::LogManager, the only owner of partition
// directories), the replicas, the controller and the topics it applied, the
// peer transport, the flusher, the group coordinator, the advertised
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

#include "broker/cluster/metadata.h"
#include "broker/cluster/metadata_store.h"
#include "broker/cluster/peer_codec.h"
#include "broker/replication/replica.h"
#include "broker/replication/replica_manager.h"
#include "broker/server/broker_metrics.h"
#include "broker/server/config.h"
#include "broker/server/controller.h"
#include "broker/server/group_coordinator.h"
#include "broker/server/peer_transport.h"
#include "broker/server/replica_seams.h"
#include "broker/server/reply.h"
#include "broker/storage/file_system.h"
#include "broker/storage/flusher.h"
#include "broker/storage/log_manager.h"
#include "broker/storage/partition_log.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

namespace fb = wire::fb;
using cluster::BrokerOf;
using cluster::RaftNodeOf;
using TopicSpec = cluster::TopicSpec;
using cluster::ValidateTopicName;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Producer ids are unique across the cluster without asking anyone: the
// allocating broker's id in the high bits, its own persisted counter below
// (2^40 ids per broker). Two brokers never hand out the same id, so a
// partition's idempotence table cannot confuse two producers.
inline constexpr int kProducerIdCounterBits = 40;
[[nodiscard]] Result<ProducerId> AllocateProducerId(cluster::MetadataStore& store, int32_t broker_id);

// Visits every record of `log` in [from, end), batch by batch: `visit(header,
// &record)` per record, `visit(header, nullptr)` once per control batch.
[[nodiscard]] Result<void> ReadLogRecords(
    const storage::PartitionLog& log, Offset from, Offset end,
    const std::function<void(const wire::BatchHeader&, const wire::RecordView*)>& visit);

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

// A topic as this broker sees it: the controller's record.
using Topic = cluster::TopicRecord;

// Who leads partitions this broker does not host, as other brokers' peer
// frames claim (the highest term wins). Thread-safe.
class RemoteLeaders {
 public:
  struct Claim {
    int32_t broker = -1;
    int64_t term = 0;
  };
  // `claims`: the complete list of what `broker` leads now.
  void Update(int32_t broker, const std::vector<cluster::Leadership>& claims);
  Claim Get(uint64_t topic_id, int32_t partition) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<uint64_t, int32_t>, Claim> leaders_;  // guarded by mu_
};

struct BrokerState {
  BrokerConfig config;
  asio::io_context& io;
  storage::FileSystem& file_system;
  // The broker's metrics: `own_metrics` when Open was given none. Declared
  // before everything that reports to it (destroyed after).
  std::unique_ptr<BrokerMetrics> own_metrics;
  BrokerMetrics* metrics = nullptr;
  std::unique_ptr<storage::LogManager> logs;  // the only owner of partition directories
  std::unique_ptr<storage::Flusher> flusher;
  // Seams of the replicas (replica_seams.h), shared by all of them.
  std::unique_ptr<FlusherSyncer> syncer;
  SystemClock clock;
  std::unique_ptr<PeerTransport> transport;
  std::unique_ptr<replication::ReplicaManager> replicas;
  std::shared_ptr<Controller> controller;
  RemoteLeaders remote_leaders;
  // The machine rebooted since the data directory was last used (boot id).
  bool machine_restarted = false;
  std::shared_mutex topics_mu;
  std::map<std::string, Topic> topics;  // guarded by topics_mu; what the last applied image says
  // Topics whose replicas are still being stopped and deleted: the name
  // cannot be opened again until they are gone (it would find their logs).
  std::set<std::string> deleting;  // guarded by topics_mu
  std::string advertised_host;
  uint16_t advertised_port = 0;
  // Created once __consumer_offsets exists (its partition count is the
  // shard count); null before.
  std::shared_ptr<GroupCoordinator> groups;  // set under topics_mu, read via Groups()
  std::map<int32_t, int64_t> loaded_shards;  // shard → term loaded; only the group tick touches it
  std::mutex group_tick_mu;
  // Serialises "snapshot the topics, hand them to the groups" so two topic
  // changes cannot deliver their snapshots in the wrong order.
  std::mutex group_topics_mu;
  std::atomic<bool> draining{false};  // SIGTERM: handing leadership off; take none
  std::atomic<bool> needs_reconcile{false};
  int64_t reconciled_applied = -1;  // guarded by topics_mu: the image OnMetadata last reconciled
  bool identity_sent = false;       // the raft tick timer only  // OnMetadata could not finish: the next tick retries

  BrokerState(const BrokerConfig& c, asio::io_context& i, storage::FileSystem& f) : config(c), io(i), file_system(f) {}

  static bool IsInternal(std::string_view topic) { return cluster::IsInternalTopic(topic); }
  int32_t cluster_size() const { return config.peers.empty() ? 1 : static_cast<int32_t>(config.peers.size()); }

  std::shared_ptr<GroupCoordinator> Groups() {
    std::shared_lock lock(topics_mu);
    return groups;
  }
  void PublishTopicsToGroups();

  // Topics groups may subscribe to, with their partition counts.
  group::TopicMetadata UserTopics() {
    group::TopicMetadata out;
    std::shared_lock lock(topics_mu);
    for (const auto& [name, t] : topics) {
      if (!IsInternal(name)) out[name] = t.spec.partitions;
    }
    return out;
  }

  // Appends group records to shard `shard` with acks=all, refused unless
  // this broker still leads it in `term` (GroupCoordinator::Hooks).
  void AppendGroupRecords(int32_t shard, Term term, std::vector<OffsetsRecord> records,
                          std::function<void(Result<void>)> done);
  // Group coordination follows the leadership of __consumer_offsets'
  // partitions: load a shard's groups when this broker starts serving it,
  // drop them when it stops. Called every group tick.
  void FollowGroupLeadership();
  storage::LogOptions LogOptionsFor(const TopicSpec& spec) const {
    storage::LogOptions o;
    o.segment_bytes = spec.segment_bytes > 0 ? static_cast<uint64_t>(spec.segment_bytes) : config.segment_bytes;
    o.segment_ms = spec.segment_ms > 0 ? std::chrono::milliseconds(spec.segment_ms) : config.segment_ms;
    o.fsync = config.fsync == FsyncMode::kAlways ? storage::FsyncPolicy::kAlways : storage::FsyncPolicy::kInterval;
    o.fsync_interval = config.fsync_interval;
    o.retention_bytes = spec.retention_bytes;
    o.retention_ms = std::chrono::milliseconds(spec.retention_ms);
    return o;
  }
  // The spec of __consumer_offsets (replication factor set by the controller).
  TopicSpec OffsetsTopicSpec() const;
  // Options of the controller log (no retention: it holds the metadata history).
  static TopicSpec ControllerTopicSpec();

  // Opens this broker's replica of the controller log (a voter or a learner).
  Result<std::shared_ptr<replication::Replica>> OpenControllerReplica(const std::vector<int32_t>& voters,
                                                                      const std::vector<int32_t>& learners);
  // Opens (or creates) partition `index` of `topic` through the log manager
  // and starts its replica, on its own strand, as a member of the group of
  // the brokers topic.replicas[index] names. Call with topics_mu held.
  Result<std::shared_ptr<replication::Replica>> OpenReplica(const Topic& topic, int32_t index);
  // Starts a replica over `log` with options `o` (registered with the
  // flusher under fsync: interval) and adds it to `replicas`.
  Result<std::shared_ptr<replication::Replica>> StartReplica(replication::ReplicaOptions o,
                                                             std::shared_ptr<storage::PartitionLog> log);
  // Applied metadata changed: opens the replicas of partitions placed on
  // this broker, removes those of topics gone (or replaced under the same
  // name), and tells the groups. On the controller strand.
  void OnMetadata(ImageRef image);
  // Stops a replica on its strand (its waiting requests fail, its long polls
  // wake), deletes its log, then calls `done` (on the strand).
  void RemoveReplica(const std::shared_ptr<replication::Replica>& replica, std::function<void()> done);
  // Stops and deletes `replicas`, the partitions of topic `name` (deleted,
  // or replaced), then calls `done` (on a strand). Until then `name` is in
  // `deleting`. Call with topics_mu held exclusively.
  void RemoveTopicReplicasLocked(const std::string& name, std::vector<std::shared_ptr<replication::Replica>> gone,
                                 std::function<void()> done);
  // Calls `done(true)` once every replica in `replicas` serves as leader, or
  // done(false) after `timeout`. On any thread.
  void WhenServing(const std::vector<std::shared_ptr<replication::Replica>>& replicas,
                   std::chrono::milliseconds timeout, std::function<void(bool)> done);
  // Calls `done` once every partition of topic `name` has a known leader
  // (or the topic is gone, or after `timeout`). On any thread.
  void WhenLeadersKnown(const std::string& name, std::chrono::milliseconds timeout, std::function<void()> done);
  // Calls `done` once no local replica of topic `name` remains (or after `timeout`).
  void WhenRemoved(const std::string& name, std::chrono::milliseconds timeout, std::function<void()> done);

  // The leader of a partition as this broker knows it: its own replica's
  // view, or another broker's claim when it hosts none. broker -1: unknown.
  struct LeaderInfo {
    int32_t broker = -1;
    int64_t term = 0;
  };
  LeaderInfo LeaderOf(const Topic& topic, int32_t partition) const;
  // LeaderOf by name, when the topic exists and a leader is known.
  std::optional<LeaderInfo> KnownLeader(const std::string& topic, int32_t partition);
  // Where clients reach `broker` (registered address); nullopt if unknown.
  std::optional<std::pair<std::string, uint16_t>> AddressOf(int32_t broker) const;

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
  // handlers/peer.cc
  void HandlePeerRaft(const fb::PeerRaftRequest* req, const Request& request, Reply& reply);
};

}  // namespace telemq::broker
