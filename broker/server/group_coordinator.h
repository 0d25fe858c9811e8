#pragma once
// The broker shell around the pure consumer-group core (broker/group): owns
// every group this broker coordinates, routes each group to its shard — the
// partition xxh3_64(group_id) mod K of __consumer_offsets — persists the
// records each state change produces in that partition (answering only once
// they are durable), replays them at start-up, and ticks session timeouts.
//
// Threading: any I/O thread may call in; each shard has its own mutex, held
// across the state change and the hand-off of its records to the shard's
// replica (posted to its strand in order), so that the log order is the order
// of the changes. Replies run on the replica's strand once the records are
// committed. An append the replica refuses (a restart after a write error)
// is answered with the error; the in-memory state is not rolled back, and
// the tick and topic-update paths only log it (see docs/groups.md).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/group/group.h"
#include "broker/server/reply.h"
#include "telemq/wire/protocol_generated.h"

namespace telemq::broker {

// One record of __consumer_offsets: key and value (nullopt: a tombstone).
struct OffsetsRecord {
  std::string key;
  std::optional<std::string> value;
};

class GroupCoordinator {
 public:
  struct Hooks {
    // Appends `records` to partition `shard` of __consumer_offsets as one
    // batch and calls `done` once they are durable (or failed).
    std::function<void(int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done)>
        append;
    // High watermark of a partition, -1 when unknown (for lag).
    std::function<int64_t(const std::string& topic, int32_t partition)> high_watermark;
  };
  struct Options {
    int32_t shards = 16;
    std::chrono::milliseconds heartbeat_interval{1000};
    std::chrono::milliseconds min_session_timeout{1000};
    std::chrono::milliseconds max_session_timeout{300'000};
  };

  GroupCoordinator(Options options, Hooks hooks);
  ~GroupCoordinator();

  int32_t ShardOf(std::string_view group_id) const;
  // Start-up: feeds one record read back from shard `shard`, in log order.
  [[nodiscard]] Result<void> Replay(int32_t shard, std::string_view key, std::optional<std::string_view> value);
  // The topics groups may subscribe to (internal topics excluded).
  void UpdateTopics(const group::TopicMetadata& topics);
  // Expires members whose session or revocation deadline passed.
  void Tick();

  void Heartbeat(const wire::fb::GroupHeartbeatRequest* req, Reply reply);
  void OffsetCommit(const wire::fb::OffsetCommitRequest* req, Reply reply);
  void OffsetFetch(const wire::fb::OffsetFetchRequest* req, Reply reply);
  void ListGroups(Reply reply);
  void DescribeGroup(const wire::fb::DescribeGroupRequest* req, Reply reply);
  void DeleteGroup(const wire::fb::DeleteGroupRequest* req, Reply reply);

 private:
  struct Shard;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The name of the internal topic holding group state and offsets.
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

}  // namespace telemq::broker
