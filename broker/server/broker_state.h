#pragma once
// BrokerState: everything the request handlers share — configuration, the
// partition logs (through storage::LogManager, the only owner of partition
// directories), topics, the flusher, the group coordinator, the advertised
// address. Internal to broker/server: broker.cc owns one and routes each
// verified request to one of its Handle* methods (handlers/*.cc, one file
// per API family) through the dispatch table.
//
// Threading: handlers run on any I/O thread concurrently. `topics` is guarded
// by `topics_mu`; each partition by its own mutex.

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/server/config.h"
#include "broker/server/group_coordinator.h"
#include "broker/server/producer_state.h"
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

// Until replication lands every log is written by this broker as the only
// leader, in term 1.
inline constexpr Term kSingleNodeTerm{1};

// One request as the dispatch table hands it to a handler, next to its
// verified body.
struct Request {
  const wire::RequestHeader& header;
  std::span<const std::byte> body;  // the verified FlatBuffers message
  std::span<std::byte> payload;     // trailing raw bytes (produce: record batches)
};

// Something parked on a partition until its high watermark moves (a long-poll fetch).
struct Waiter {
  virtual ~Waiter() = default;
  virtual void Wake() = 0;
};

// One partition replica hosted by this broker.
struct Partition {
  std::string topic;
  int32_t index = 0;
  std::shared_ptr<storage::PartitionLog> log;
  std::mutex mu;
  ProducerStateTable producers;  // guarded by mu
  // Committed end: consumers never read at or above it. With fsync=always it
  // is the durable end, with fsync=interval the log end.
  std::atomic<int64_t> high_watermark{0};
  std::vector<std::weak_ptr<Waiter>> waiters;  // guarded by mu: long-poll fetches to wake

  Offset hwm() const { return Offset(high_watermark.load(std::memory_order_acquire)); }
  void AdvanceHighWatermark(Offset to) {
    int64_t cur = high_watermark.load();
    while (cur < to.value() && !high_watermark.compare_exchange_weak(cur, to.value())) {
    }
    std::vector<std::weak_ptr<Waiter>> wake;
    {
      std::lock_guard lock(mu);
      wake.swap(waiters);
    }
    for (auto& w : wake) {
      if (auto live = w.lock()) live->Wake();
    }
  }
  // Parks `w`; expired waiters are pruned so an idle partition polled for a
  // long time does not accumulate them.
  void AddWaiter(std::weak_ptr<Waiter> w) {
    std::erase_if(waiters, [](const std::weak_ptr<Waiter>& x) { return x.expired(); });
    waiters.push_back(std::move(w));
  }
};

struct Topic {
  TopicSpec spec;
  std::vector<std::shared_ptr<Partition>> partitions;
};

struct BrokerState {
  BrokerConfig config;
  asio::io_context& io;
  storage::FileSystem& file_system;
  std::unique_ptr<storage::LogManager> logs;  // the only owner of partition directories
  std::unique_ptr<TopicRegistry> registry;
  std::unique_ptr<storage::Flusher> flusher;
  std::shared_mutex topics_mu;
  std::map<std::string, Topic> topics;  // guarded by topics_mu
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
      if (!IsInternal(name)) out[name] = static_cast<int32_t>(t.partitions.size());
    }
    return out;
  }

  Result<void> OpenGroups();
  void AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done);
  // Makes what was appended to `part` up to `end` committed, then calls done.
  void CommitAppended(const std::shared_ptr<Partition>& part, Offset end, std::function<void(Result<Offset>)> done);

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
  // and rebuilds its idempotence state from the log.
  Result<std::shared_ptr<Partition>> OpenPartition(const std::string& topic, int32_t index, const TopicSpec& spec);
  // Closes and deletes a partition's log (topic deletion).
  void RemovePartition(const Partition& part);

  std::shared_ptr<Partition> Find(std::string_view topic, int32_t index) {
    std::shared_lock lock(topics_mu);
    auto it = topics.find(std::string(topic));
    if (it == topics.end() || index < 0 || index >= static_cast<int32_t>(it->second.partitions.size())) return nullptr;
    return it->second.partitions[index];
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
