#pragma once
// The broker shell around the pure consumer-group core (broker/group): owns
// the groups of the __consumer_offsets partitions ("shards") this broker
// leads, routes each group to its shard — xxh3_64(group_id) mod K — persists
// the records each state change produces in that partition (answering only
// once a majority committed them), rebuilds a shard from its log when this
// broker becomes its leader, writes periodic snapshots so the log can be cut
// by retention, expires sessions and empty groups (docs/groups.md).
//
// Shard lifecycle (one state per shard, see ShardState):
//
//   inactive --BeginLoading(s,t)--> loading --FinishLoading(s,t)--> active
//      ^                              |  Replay(s,t,...)*              |
//      +------------Resign(s)---------+--------------------------------+
//
// Integration with the replica of partition s of __consumer_offsets (all on
// that replica's strand, in the order the events happen):
//   * it becomes leader in term t: BeginLoading(s, t); read its log from the
//     log start offset to the log end offset (everything it has, committed or
//     not: the new leader's log is the log) and feed every record to
//     Replay(s, t, key, value); then FinishLoading(s, t). A Replay error of
//     kNotLeader means a newer BeginLoading or a Resign overtook the load:
//     stop reading. kCorrupt is a corrupt record: log it, Resign(s).
//   * it steps down (or is stopped or deleted): Resign(s).
//   * Hooks::append_in_term appends to it with acks=all, refusing (kNotLeader)
//     unless it is still leader in term t.
// Requests for a group whose shard is inactive are answered NotCoordinator,
// while loading CoordinatorLoading; the client looks the coordinator up again.
//
// Compatibility, until the broker drives the lifecycle: with
// Options::initial_shards = kAllActive (the default for now) every shard is
// active from construction, as the single-broker coordinator was, and the
// term-less Replay(s, key, value) is accepted on such a shard. Once the
// broker calls BeginLoading it should set kInactive.
//
// Threading: any I/O thread may call in; each shard has its own mutex, held
// across the state change and the hand-off of its records to the shard's
// replica (posted to its strand in order), so that the log order is the order
// of the changes (a snapshot is handed off whole under one lock hold, so no
// other record falls between its parts). Replies run on the replica's strand
// once the records are committed. An append the replica refuses is answered
// with the error — NotLeader as NotCoordinator — and the in-memory state is
// not rolled back (a step-down drops it anyway, see Resign); the tick,
// snapshot and topic-update paths only log it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/group/group.h"
#include "broker/server/reply.h"
#include "telemq/common/strong_id.h"
#include "telemq/wire/protocol_generated.h"

namespace telemq::broker {

// One record of __consumer_offsets: key and value (nullopt: a tombstone).
struct OffsetsRecord {
  std::string key;
  std::optional<std::string> value;
};

class GroupCoordinator {
 public:
  using Done = std::function<void(Result<void>)>;
  struct Hooks {
    // Appends `records` to partition `shard` of __consumer_offsets as one
    // batch and calls `done` once a majority committed them (acks=all), or
    // with the failure (kNotLeader once the replica is no longer leader).
    // Used when append_in_term is not set.
    std::function<void(int32_t shard, std::vector<OffsetsRecord> records, Done done)> append;
    // Preferred: the same, fenced by the leader term the shard was loaded in
    // (BeginLoading): the replica must fail it with kNotLeader unless it is
    // leader in exactly `term`, so a change computed from the state of an
    // old term never lands in the log of a newer one. Term 0 for shards
    // active from construction (kAllActive).
    std::function<void(int32_t shard, Term term, std::vector<OffsetsRecord> records, Done done)> append_in_term;
    // High watermark of a partition, -1 when unknown (for lag).
    std::function<int64_t(const std::string& topic, int32_t partition)> high_watermark;
    // Monotonic time (a steady clock). Default: std::chrono::steady_clock.
    // Tests inject a manual clock.
    std::function<group::Millis()> clock;
  };

  enum class InitialShards : uint8_t {
    // Every shard active from construction in term 0; the broker replays
    // every shard with the term-less Replay (the single-broker behaviour).
    kAllActive,
    // Every shard inactive until BeginLoading/FinishLoading (a cluster).
    kInactive,
  };

  struct Options {
    // Partitions of __consumer_offsets (K). Default 16. Fixed for the
    // lifetime of the cluster: it decides where every group lives.
    int32_t shards = 16;
    std::chrono::milliseconds heartbeat_interval{1000};
    std::chrono::milliseconds min_session_timeout{1000};
    std::chrono::milliseconds max_session_timeout{300'000};
    // See InitialShards. Default kAllActive (compatibility; see above).
    InitialShards initial_shards = InitialShards::kAllActive;
    // How often each active shard appends a snapshot: every record needed to
    // rebuild all its groups (Group::SnapshotRecords), so that every record
    // older than the latest complete snapshot is redundant. A shard also
    // snapshots at the first Tick after FinishLoading, so leadership that
    // moves faster than the interval still leaves recent snapshots. Zero
    // disables snapshots (then the log must keep everything). Default 10 min.
    //
    // Invariant the broker must keep for __consumer_offsets:
    //   retention_ms >= 2 * snapshot_interval + segment roll time (segment_ms)
    // The latest complete snapshot is normally at most one interval old;
    // the second interval is slack for a failover (the new leader snapshots
    // once it has loaded the shard) and for a failed snapshot append
    // (retried at the next Tick); and retention may judge a segment by an
    // age that exceeds its newest record's by up to one roll.
    std::chrono::milliseconds snapshot_interval{std::chrono::minutes(10)};
    // A snapshot larger than this (sum of key and value bytes) is split into
    // several appends of about this size, one after the other. Default 1 MiB.
    size_t snapshot_append_bytes = 1 << 20;
    // A group without members whose last persisted change (commit,
    // membership, topic change) is older than this is deleted by Tick (its
    // tombstone appended), like Kafka's offsets.retention.minutes. Measured
    // on this broker's clock from the later of the last change and the
    // shard's activation: a coordinator move restarts it. Default 7 days.
    std::chrono::milliseconds empty_group_retention{std::chrono::hours(24 * 7)};
  };

  enum class ShardState : uint8_t {
    kInactive,  // not the leader of the shard: NotCoordinator
    kLoading,   // leader, replaying the shard's log: CoordinatorLoading
    kActive,    // serving
  };

  GroupCoordinator(Options options, Hooks hooks);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  int32_t ShardOf(std::string_view group_id) const;
  ShardState StateOf(int32_t shard) const;

  // This broker became leader of `shard` in `term`: drops whatever state the
  // shard had and starts loading. A term older than the shard's last one is
  // stale and ignored.
  void BeginLoading(int32_t shard, Term term);
  // Feeds one record of the shard's log, in log order, while loading in
  // `term`. The log may start anywhere (retention removes prefixes): records
  // of groups that are absent (a tombstone, a deletion) are accepted.
  // kNotLeader: the shard is not loading in `term` (stop replaying);
  // kCorrupt: the record does not decode.
  [[nodiscard]] Result<void> Replay(int32_t shard, Term term, std::string_view key,
                                    std::optional<std::string_view> value);
  // Compatibility: the same without a term check, accepted while loading or
  // on a shard active from construction (kAllActive) never given to
  // BeginLoading — the start-up replay of the single-broker broker.
  [[nodiscard]] Result<void> Replay(int32_t shard, std::string_view key, std::optional<std::string_view> value);
  // The load of `term` is complete: the shard becomes active unless a newer
  // BeginLoading or a Resign happened since (then nothing). Applies the
  // current topics (appending what that changes) and schedules a snapshot
  // at the next Tick.
  void FinishLoading(int32_t shard, Term term);
  // This broker no longer leads `shard`: its groups are dropped and requests
  // answer NotCoordinator. Requests waiting for their append still get their
  // answer from it (the replica fails them with NotLeader: NotCoordinator).
  void Resign(int32_t shard);

  // The topics groups may subscribe to (internal topics excluded); applied
  // to the groups of active shards now, to loading ones when they finish.
  void UpdateTopics(const group::TopicMetadata& topics);
  // On every active shard: expires members whose session or revocation
  // deadline passed, deletes expired empty groups, writes a snapshot when
  // one is due. Call every 100 ms - 1 s.
  void Tick();

  void Heartbeat(const wire::fb::GroupHeartbeatRequest* req, Reply reply);
  void OffsetCommit(const wire::fb::OffsetCommitRequest* req, Reply reply);
  void OffsetFetch(const wire::fb::OffsetFetchRequest* req, Reply reply);
  // Groups of the active shards only.
  void ListGroups(Reply reply);
  void DescribeGroup(const wire::fb::DescribeGroupRequest* req, Reply reply);
  void DeleteGroup(const wire::fb::DeleteGroupRequest* req, Reply reply);

  // For metrics: the groups of the active shards (those this broker
  // coordinates) with their member counts and committed offsets, copied
  // under each shard's mutex in turn (held only for the copy).
  struct GroupStats {
    std::string group_id;
    size_t members = 0;
    std::vector<std::pair<group::TopicPartition, Offset>> committed;  // in (topic, partition) order
  };
  std::vector<GroupStats> Stats() const;

 private:
  struct Shard;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The name of the internal topic holding group state and offsets.
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

}  // namespace telemq::broker
