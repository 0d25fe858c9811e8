#pragma once
// raft::Node: one member of a Raft group as a pure state machine (Raft paper
// and Ongaro's thesis; the I/O-free shape follows etcd/raft's idea).
//
// Promises: leader election with randomised timeouts, pre-vote (thesis §9.6),
// check-quorum (thesis §6.2), log replication with flow control, commitment
// by a majority and only of entries of the leader's own term (§5.4.2),
// leadership transfer (thesis §3.10), and restart of a follower from the
// leader's log start when retention removed what it needs. Membership is
// fixed at creation (the voter set lives in Config; single-server changes,
// thesis §4.1, would add a kConfig entry type and make the quorum computed
// from the latest config entry).
//
// The node does no I/O: no sockets, clocks, threads, files or randomness.
// Inputs: Step(message), Tick(), Propose(), TransferLeadership(). Output:
// a Ready bundle. Time is the number of Tick() calls; the randomised election
// timeout comes from Config::random.
//
// Thread-safety: none. One owner (in the broker, the partition's strand)
// calls everything. The node reads its LogReader, which the owner writes.
//
// ---------------------------------------------------------------------------
// Driving loop and persistence contract
// ---------------------------------------------------------------------------
//   while (node.HasReady()) {
//     Ready rd = node.GetReady();
//     1. Persist, in this order, and make durable (fsync): rd.log_reset,
//        rd.entries (replacing the stored suffix from their first offset),
//        rd.hard_state. The LogReader must show the result.
//     2. Send rd.messages (any order, may be lost or reordered).
//     3. Apply rd.committed_entries in order.
//     4. node.Advance(rd).
//   }
// No other call (Step, Tick, Propose...) may happen between GetReady and
// Advance. Every message in a Ready is sent only after everything the Ready
// asked to persist is durable. This one rule gives Raft's two persistence
// requirements: a vote or a term is on disk before anyone hears of it (so a
// node never votes twice in a term, §5.2), and a follower acknowledges an
// append, and a leader counts itself towards a commit (in Advance), only for
// entries on its own disk (§5.3: "committed" means on a majority's disk).
//
// What a crash may lose:
//  * fsync: always (step 1 ends with fdatasync): nothing that was persisted.
//    A crash loses only the node's volatile state (role, leader, commit
//    index, progress, unpersisted proposals). Every entry committed (acked
//    to a producer with acks=all) is on a majority's disk and survives any
//    number of crashes and restarts. The simulator checks exactly this.
//  * fsync: interval (step 1 writes but syncs later): the unsynced tail of
//    the log and an unsynced hard state may vanish, after messages built on
//    them were sent. Raft's proofs assume stable storage, so this mode trades
//    safety for throughput and the guarantee is weaker and conditional:
//    an acknowledged write survives as long as no node of the majority that
//    acknowledged it loses it, i.e. none of them suffers a power loss or
//    kernel crash (a process crash keeps the page cache) within one interval
//    of the write. A node that lost its tail may vote for a
//    candidate that lacks the write, and even one such node can complete a
//    majority without it. A lost hard state can let a node vote twice in one
//    term. The broker therefore always syncs the hard state (small, rare) in
//    both modes; only entries follow the interval. See docs/replication.md.
//
// Offsets: an entry covers [base_offset, base_offset + record_count). The
// leader assigns them (Propose returns them; the caller stamps base offset
// and term into the batch header before persisting). Commit and match
// positions are always the last offset of some entry.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "broker/raft/log.h"
#include "broker/raft/types.h"
#include "telemq/common/result.h"

namespace telemq::raft {

struct Config {
  // This node. Must be positive and one of `voters`.
  NodeId id = kNoNode;
  // The group, including `id`. Fixed for the node's lifetime.
  std::vector<NodeId> voters;
  // Follower election timeout, in ticks; the actual timeout is drawn from
  // [election_ticks, 2 * election_ticks) at each reset. Also the check-quorum
  // period and the lease. Default 10.
  int election_ticks = 10;
  // Leader heartbeat interval, in ticks. Must be < election_ticks. Default 1.
  int heartbeat_ticks = 1;
  // Run a pre-vote round before a real election (thesis §9.6): a node that
  // cannot win does not bump its term and cannot disrupt a working leader.
  bool pre_vote = true;
  // A leader that has not heard from a majority within election_ticks steps
  // down, and followers that heard from a leader within election_ticks
  // ignore vote requests (thesis §6.2, §4.2.3).
  bool check_quorum = true;
  // Payload bytes per append message (at least one entry is always sent).
  size_t max_append_bytes = 1 << 20;
  // Append messages in flight per follower in pipeline mode.
  size_t max_inflight_appends = 64;
  // Last offset the application applied durably before this start; committed
  // entries above it are delivered again. -1 (default) re-delivers from the
  // log start.
  Offset applied{-1};
  // Source of randomness for election timeouts. Required.
  std::function<uint64_t()> random;
};

class Node {
 public:
  // Starts a node from durable state: the log and the last persisted hard
  // state. `log` must outlive the node.
  Node(Config config, const LogReader* log, HardState hard_state);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // One unit of logical time.
  void Tick();
  // Handles a message from a peer. Messages for another node, or from an
  // unknown one, are ignored.
  void Step(const Message& message);
  // Leader only: appends an entry of `record_count` offsets. Returns the
  // entry's (term, base offset); it is committed when the commit offset
  // reaches base + record_count - 1 with the same term at that offset.
  // kNotLeader on a non-leader or during a leadership transfer.
  [[nodiscard]] Result<Entry> Propose(Payload payload, int32_t record_count);
  // Leader only: hands leadership to `target` once it is caught up (thesis
  // §3.10). Proposals are refused until the transfer ends; it is abandoned
  // after election_ticks.
  [[nodiscard]] Result<void> TransferLeadership(NodeId target);
  // Starts an election now (tests, operator "take leadership").
  void Campaign();

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& ready);

  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  NodeId vote() const { return vote_; }
  Offset commit() const { return commit_; }
  Offset applied() const { return applied_; }
  LogPosition LastPosition() const;
  // Offset of the last entry the node knows to be durable.
  Offset persisted() const { return persisted_last_; }
  NodeId transfer_target() const { return transferee_; }

 private:
  enum class ProgressState : uint8_t { kProbe, kReplicate };
  enum class CampaignKind : uint8_t { kPreVote, kElection, kTransfer };

  // Leader's view of one follower (thesis §3.5 nextIndex/matchIndex, plus
  // flow control). Probe: one append at a time until a match is found.
  // Replicate: appends are pipelined, up to max_inflight_appends.
  struct Progress {
    Offset match{-1};
    Offset next{0};
    ProgressState state = ProgressState::kProbe;
    bool probe_sent = false;        // probe mode: an append is outstanding
    bool recent_active = false;     // heard from since the last check-quorum
    Offset match_at_heartbeat{-1};  // match when the last heartbeat answer came
    std::vector<Offset> inflight;   // last offsets of outstanding appends, ascending
  };

  // Log view: durable entries below unstable_base_ (from log_ or, after a
  // reset, only the reset boundary), then unstable_.
  Offset LastOffset() const;
  Result<EntryMeta> LookupView(Offset offset) const;
  Term TermAtOrZero(Offset offset) const;
  void ReadView(Offset from, Offset last, size_t max_bytes, std::vector<Entry>* out) const;
  Offset StartOffsetView() const;
  // Drops the view from `from` on (a follower's conflicting suffix).
  void TruncateView(Offset from);
  void AppendView(const Entry& entry);

  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void CampaignAs(CampaignKind kind);
  void ResetTerm(Term term);
  void ResetElectionTimer();
  void Send(Message message);
  int Quorum() const { return static_cast<int>(config_.voters.size()) / 2 + 1; }
  bool InLease() const;

  void StepLeader(const Message& m);
  void StepCandidate(const Message& m);
  void StepFollower(const Message& m);
  void HandleVoteRequest(const Message& m);
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleRestart(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void SendTimeoutNow(NodeId target);
  // Returns the election outcome once decided: +1 won, -1 lost, 0 pending.
  int Poll(NodeId from, bool granted);

  // Sends what flow control allows to `to`; `allow_empty` sends an append
  // with no entries (to carry commit or to probe).
  void SendAppend(NodeId to, bool allow_empty);
  void BroadcastAppend();
  void SendHeartbeats();
  bool MaybeCommit();
  bool QuorumActive() const;

  Config config_;
  const LogReader* log_;

  Term term_{0};
  NodeId vote_ = kNoNode;
  HardState persisted_hard_state_;
  Role role_ = Role::kFollower;
  NodeId leader_ = kNoNode;

  std::optional<LogPosition> reset_;  // pending log reset (restart from leader's start)
  Offset unstable_base_{0};
  std::vector<Entry> unstable_;
  Offset persisted_last_{-1};

  Offset commit_{-1};
  Offset applied_{-1};

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;

  std::unordered_map<NodeId, Progress> progress_;
  std::unordered_map<NodeId, bool> votes_;
  NodeId transferee_ = kNoNode;
  bool broadcast_pending_ = false;

  std::vector<Message> msgs_;
  bool in_ready_ = false;
};

}  // namespace telemq::raft
