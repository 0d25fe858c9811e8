#pragma once
// Replica: one partition hosted by this broker, as one member of the
// partition's Raft group (docs/replication.md). It owns everything mutable
// about the partition: the segment log seen as the Raft log (RaftLog), the
// raft::Node, the durable hard state, the idempotent-producer table, the
// high watermark, the produce requests waiting for their commit and the
// fetches waiting for data.
//
// Threading: one owner. Every method not marked "any thread" runs on the
// replica's Executor (in the broker an Asio strand; in the simulator a
// deterministic queue), so nothing here takes a lock. Work that leaves the
// executor (an fdatasync through the Syncer) comes back by posting to it.
// The "any thread" accessors read values the executor publishes atomically;
// fetch handlers read the log itself through storage::PartitionLog, which is
// thread-safe, below the published high watermark.
//
// Seams (all without Asio, so tests/sim drives this same code): Executor,
// Syncer, Transport, Clock.
//
// Produce: the leader checks idempotence, stamps base offset and term into
// the batch in place (the bytes stay in the received frame: no copy), and
// proposes it. acks=all answers once the batch's offsets are committed by a
// majority (commit index >= its last offset); acks=leader once it is durable
// (fsync: always) or written (fsync: interval) on the leader. Pending
// requests fail with kNotLeader, naming the new leader when known, as soon
// as this replica stops being leader of the term they were proposed in.
//
// High watermark = commit index + 1 (never lowered), on every replica. It is
// served to consumers only by a leader whose no-op of its term has committed
// (serving()): before that a new leader's commit index may lag what the old
// leader served.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "broker/raft/node.h"
#include "broker/raft/types.h"
#include "broker/replication/hard_state_store.h"
#include "broker/replication/producer_state.h"
#include "broker/replication/raft_log.h"
#include "broker/storage/file_system.h"
#include "broker/storage/log_options.h"
#include "broker/storage/partition_log.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/wire/batch_header.h"

namespace telemq::replication {

// Runs tasks one at a time, in the order posted. Post may be called from any
// thread.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Post(std::function<void()> task) = 0;
};

// Makes a partition log durable: done(durable end offset) once everything
// below `up_to` is fdatasynced, or done(error). `done` may run on any thread.
// The broker's is storage::Flusher (group commit across partitions).
class Syncer {
 public:
  virtual ~Syncer() = default;
  virtual void RequestSync(std::shared_ptr<storage::PartitionLog> log, Offset up_to,
                           std::function<void(Result<Offset>)> done) = 0;
};

struct PartitionKey {
  std::string topic;
  PartitionId partition{0};
  bool operator==(const PartitionKey&) const = default;
  auto operator<=>(const PartitionKey&) const = default;
  std::string ToString() const { return topic + "/" + std::to_string(partition.value()); }
};

// Carries one partition's Raft messages to the other replicas. Best effort:
// Raft tolerates loss, duplication and reordering. Called on the executor.
// `topic_id` names the partition's topic between brokers (ReplicaOptions).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(const PartitionKey& partition, uint64_t topic_id, const raft::Message& message) = 0;
};

// Wall-clock milliseconds since the Unix epoch (segment age, retention).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

// Something parked until the high watermark moves (a long-poll fetch). Wake
// runs on the executor and must not block.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void Wake() = 0;
};

// Replication events, for the broker's metrics (broker/server counts them;
// the simulator passes none). One observer serves every replica of a
// broker: its methods are called on the replicas' executors concurrently
// and must be thread-safe, cheap and non-blocking (relaxed atomics).
class ReplicaObserver {
 public:
  virtual ~ReplicaObserver() = default;
  // A monotonic time in nanoseconds (latencies are differences of it).
  virtual int64_t NowNs() const = 0;
  // This replica's Raft node started `n` elections (became a candidate).
  virtual void ElectionsStarted(uint64_t n) = 0;
  // This replica learned of a new leader (a leader of a newer term than the
  // last one it knew, itself included).
  virtual void LeaderChanged() = 0;
  // As leader: a produce proposal was committed `latency_ns` after it was
  // proposed.
  virtual void Committed(int64_t latency_ns) = 0;
};

enum class Acks : uint8_t {
  kLeader,  // answer once the leader has written (and, fsync: always, synced) the batch
  kAll,     // answer once a majority holds it durably (committed); the default
};

struct ReplicaOptions {
  PartitionKey key;
  // The topic's cluster-wide id (the controller assigns it; a topic created
  // again under the same name has another). Peers address the group by it.
  uint64_t topic_id = 0;
  // This broker, and the partition's replica set including it. Fixed for the
  // replica's lifetime (membership changes are a later addition).
  NodeId self{1};
  std::vector<NodeId> voters;
  // Members that receive the log but never vote or lead (raft::Config::
  // learners); `self` may be one. Fixed like `voters`.
  std::vector<NodeId> learners;
  // kAlways: entries are fdatasynced (through the Syncer) before this replica
  // acknowledges them to the leader or counts them itself. kInterval: they
  // are written and the Flusher syncs them later (docs/replication.md §2 says
  // what that guarantees). The hard state is synced in both modes.
  storage::FsyncPolicy fsync = storage::FsyncPolicy::kAlways;
  // The machine may have lost its page cache since this log was last written
  // (it rebooted: a power loss or kernel crash, not just a process crash).
  // With kInterval and a log that was not closed cleanly, the replica then
  // abstains from elections until a newer leader reaches it (raft::Config::
  // abstain_through_term). The broker sets it when the boot id recorded in
  // its data directory differs from the running kernel's. The replica saves
  // that abstention in the partition directory (`raft_abstain`) before its
  // node starts, so it outlives later process crashes (which leave this
  // false) until the replica holds an entry of a newer leader.
  bool unsynced_writes_may_be_lost = false;
  // Raft timing, in ticks of the owner's timer (docs/operations.md).
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  size_t max_append_bytes = 1 << 20;
  size_t max_inflight_appends = 64;
  RaftLogOptions raft_log;
  // Seeds the randomised election timeout.
  uint64_t seed = 0;
  // Start an election after two ticks instead of an election timeout: set for
  // the preferred leader of a partition just created, so that it (not a
  // random replica) leads first. Harmless if another replica wins.
  bool campaign_at_start = false;
  // A follower counts as in sync (in_sync()) while it has answered the
  // leader holding everything committed at some moment within this window:
  // under steady load a healthy follower is always a little behind the
  // commit index, and a follower that stopped answering leaves the set even
  // when nothing new is committed (an idle partition).
  int64_t in_sync_lag_ms = 10'000;
  // Receives replication events for metrics; null: none. Must outlive the
  // replica.
  ReplicaObserver* observer = nullptr;
};

// The answer to one partition's part of a produce request.
struct ProduceResult {
  Errc error = Errc::kOk;
  std::string message;
  Offset base_offset{-1};  // of the first batch written (or of the batch a retry duplicates)
  Offset log_start_offset{-1};
  NodeId leader_hint{0};  // with kNotLeader: the leader this replica knows of, 0 if none
};
using ProduceDone = std::function<void(ProduceResult)>;

// One batch of a produce request, already validated (wire::ValidateBatch:
// bounds, magic, checksum) by the caller. `bytes` is stamped in place.
struct ProduceBatch {
  std::span<std::byte> bytes;
  wire::BatchHeader header;
};

class Replica : public std::enable_shared_from_this<Replica> {
 public:
  // Opens the replica over `log` (already recovered): loads the hard state,
  // rebuilds the producer table from the log, starts the Raft node. A
  // single-replica group campaigns at once; call on the executor, then
  // WhenServing to learn when it leads. `executor` is owned; the others must
  // outlive the replica.
  [[nodiscard]] static Result<std::shared_ptr<Replica>> Open(ReplicaOptions options,
                                                             std::shared_ptr<storage::PartitionLog> log,
                                                             storage::FileSystem& fs,
                                                             std::unique_ptr<Executor> executor, Syncer& syncer,
                                                             Transport& transport, const Clock& clock);
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;
  ~Replica();

  // Any thread.
  Executor& executor() const { return *executor_; }
  const PartitionKey& key() const { return options_.key; }
  storage::PartitionLog& log() const { return raft_log_->partition_log(); }
  // Consumers read below it; -1 until this replica first served as leader.
  Offset high_watermark() const { return Offset(hwm_.load(std::memory_order_acquire)); }
  // Leader of the current term with its no-op committed: produce and fetch
  // are served.
  bool serving() const { return serving_.load(std::memory_order_acquire); }
  NodeId leader() const { return NodeId(leader_.load(std::memory_order_acquire)); }
  Term term() const { return Term(term_.load(std::memory_order_acquire)); }
  uint64_t topic_id() const { return options_.topic_id; }
  const std::vector<NodeId>& voters() const { return options_.voters; }
  // On the leader: the voters that answered it holding everything
  // committed within the last in_sync_lag_ms (itself included), as
  // published at the last change; empty on a non-leader.
  std::vector<NodeId> in_sync() const;
  // True while this replica leads (any thread; serving() additionally
  // needs the no-op of its term committed).
  bool leading() const { return leader() == options_.self && term().value() > 0; }
  // Holds everything its leader has told it is committed and could lead
  // (not abstaining after a power loss); the leader itself once serving().
  // False while no leader is known. As published at the last Ready.
  bool caught_up() const { return caught_up_.load(std::memory_order_acquire); }
  // The log's start and end offsets as last published on the executor
  // (after every write, truncation, reset and retention): for readers on
  // other threads that must not wait on the log's mutex (metrics).
  Offset published_log_start() const { return Offset(log_start_.load(std::memory_order_acquire)); }
  Offset published_log_end() const { return Offset(log_end_.load(std::memory_order_acquire)); }

  // --- on the executor ---------------------------------------------------
  // Appends `batches` (one partition's part of a produce request) and calls
  // `done` once, on the executor, per `acks`. `frame` keeps the batches'
  // bytes alive (the proposal and the entry cache reference them). Stops at
  // the first batch that fails (idempotence), answering its error; batches
  // before it stay written.
  void Produce(std::vector<ProduceBatch> batches, std::shared_ptr<const void> frame, Acks acks, ProduceDone done);
  // A Raft message from a peer. A malformed one is logged and dropped.
  void Step(const raft::Message& message);
  // One tick of the Raft clock.
  void Tick();
  // Hands leadership to `target` (graceful shutdown, leader balancing).
  [[nodiscard]] Result<void> TransferLeadership(NodeId target);
  // Leader only: the follower to hand leadership to, among those `eligible`
  // accepts (e.g. reachable) — one holding the whole log, the earliest in
  // `voters` order (the preferred leader first), else the one holding most;
  // kNoNode when there is none (not leader, alone, none eligible).
  NodeId TransferTarget(const std::function<bool(NodeId)>& eligible) const;
  // Parks `waiter` until the high watermark moves (once, however often it
  // is parked).
  void AddWaiter(std::weak_ptr<Waiter> waiter);
  // Calls `done` (on the executor) once serving(): at once if it already is.
  void WhenServing(std::function<void()> done);
  // Retention by age and size that never removes what is not yet committed.
  [[nodiscard]] Result<int> ApplyRetention();
  // Fails every waiting request with kShuttingDown and stops; later calls
  // are ignored. The log stays open (its owner closes it).
  void Shutdown();

  // Introspection for tests and metrics (on the executor).
  const raft::Node& node() const { return *node_; }
  const ProducerStateTable& producers() const { return producers_; }

 private:
  // Proposed in the current leader term: a step-down fails every one
  // (ObserveRole), so none outlives the term it was proposed in.
  struct PendingProduce {
    Offset last_offset;  // answered once this offset is committed (kAll) or written (kLeader)
    Acks acks;
    ProduceResult result;
    ProduceDone done;
  };

  Replica(ReplicaOptions options, std::unique_ptr<RaftLog> raft_log, storage::FileSystem& fs,
          std::unique_ptr<Executor> executor, Syncer& syncer, Transport& transport, const Clock& clock);

  Result<void> Start();
  // (Re)creates the Raft node from what is durable: at open, and after a
  // write failed (the node's in-memory view then runs ahead of the disk; a
  // fresh node forgets the unwritten proposals, as a crash would).
  Result<void> StartNode();
  Result<void> RebuildProducers();
  // Ends a saved abstention once the written log holds an entry of a newer
  // term than it (docs/replication.md §2).
  Result<void> ClearAbstentionOnceRecovered();
  // Drives the node's Ready loop: persist, then (after the sync) send, apply,
  // Advance. One Ready is outstanding at a time.
  void Drive();
  void FinishReady(raft::Ready ready, Offset durable_end);
  void FailWrite(const Error& error);
  // Role or term changed: fail what a deposed leader still waits for.
  void ObserveRole();
  void Publish();
  void AnswerPending();
  void FailPending(Errc code, const std::string& message, NodeId leader_hint = raft::kNoNode);
  void WakeWaiters();
  // Leader: `from` answered; it is caught up now if it holds everything
  // committed (in_sync()).
  void NoteAnswer(NodeId from);
  // Stores the log's bounds for the any-thread accessors; `start_too`: the
  // log start may have moved (reads it under the log's mutex).
  void PublishLogBounds(bool start_too);

  const ReplicaOptions options_;
  std::unique_ptr<RaftLog> raft_log_;
  storage::FileSystem& fs_;
  std::unique_ptr<Executor> executor_;
  Syncer& syncer_;
  Transport& transport_;
  const Clock& clock_;
  HardStateStore hard_state_store_;
  HardStateStore abstain_store_;  // fsync: interval: the abstention marker (replication_format.h)
  raft::HardState hard_state_;
  std::mt19937_64 random_;
  std::unique_ptr<raft::Node> node_;

  ProducerStateTable producers_;
  // (term, base offset) of the batches this replica proposed as leader:
  // their producer state was recorded at proposal time.
  std::set<std::pair<int64_t, int64_t>> proposed_;
  std::deque<PendingProduce> pending_;  // in proposal order
  std::vector<std::weak_ptr<Waiter>> waiters_;
  std::vector<std::function<void()>> serving_callbacks_;

  // Bumped whenever the node is replaced or a write failed: a sync that
  // completes for an older generation is ignored.
  uint64_t generation_ = 0;
  bool ready_in_flight_ = false;
  bool stopped_ = false;
  bool restart_node_ = false;  // a write failed: StartNode at the next Tick
  int campaign_in_ticks_ = 0;  // campaign_at_start: ticks until the first campaign
  // Config::abstain_through_term, as saved in the abstention marker; cleared
  // (with the marker) once the written log holds an entry of a newer term.
  Term abstain_through_{0};
  Term leader_term_{0};     // term this replica leads, 0 if not leader
  Offset noop_offset_{-1};  // its no-op in leader_term_
  Offset written_end_{0};   // end of what this replica has written (persisted, maybe unsynced)
  Offset durable_end_{0};   // end of what is known durable here

  // Observer bookkeeping (options_.observer set): the node's election count
  // already reported, the newest term a leader was known in, and the
  // leader's proposals not yet committed (last offset, NowNs at proposal).
  uint64_t elections_reported_ = 0;
  Term known_leader_term_{0};
  std::deque<std::pair<Offset, int64_t>> commit_clock_;

  std::atomic<int64_t> log_start_{0};
  std::atomic<int64_t> log_end_{0};
  std::atomic<int64_t> hwm_{-1};
  std::atomic<bool> serving_{false};
  std::atomic<int32_t> leader_{0};
  std::atomic<int64_t> term_{0};
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> in_sync_mask_{0};  // bit i: voters[i] is in sync (leader only)
  std::vector<int64_t> caught_up_ms_;  // per voter: when it last answered holding everything committed (leader only)
};

}  // namespace telemq::replication
