#pragma once
// raft::Node: one member of a Raft group as a pure state machine (Raft paper
// and Ongaro's thesis; the I/O-free shape follows etcd/raft's idea).
//
// Promises: leader election with randomised timeouts, pre-vote (thesis §9.6),
// check-quorum (thesis §6.2), log replication with flow control, commitment
// by a majority and only of entries of the leader's own term (§5.4.2),
// leadership transfer (thesis §3.10), and restart of a follower from the
// leader's log start when retention removed what it needs, and learners
// (non-voting members, thesis §4.2.1): replicated to like followers, never
// counted in a quorum, never candidates. Membership is fixed at creation
// (voters and learners live in Config; single-server changes, thesis §4.1,
// would add a kConfig entry type and make the quorum computed from the
// latest config entry).
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
//     0. May send rd.early_messages now (or with rd.messages, later).
//     1. Persist, in this order, and make durable (fsync): rd.log_reset,
//        rd.entries (replacing the stored suffix from their first offset),
//        rd.hard_state. The LogReader must show the result by step 4.
//     2. Send rd.messages (any order, may be lost or reordered).
//     3. Apply rd.committed_entries in order.
//     4. node.Advance(rd).
//   }
// One Ready is outstanding at a time: GetReady again only after Advance
// (HasReady() is false meanwhile). Step, Tick, Propose, Campaign and
// TransferLeadership may be called while step 1 is in flight (a slow
// fdatasync need not stall the node); what they produce goes into the next
// Ready. An owner that persists synchronously simply never does.
//
// Every message in rd.messages is sent only after everything the Ready asked
// to persist is durable. This one rule gives Raft's two persistence
// requirements: a vote or a term is on disk before anyone hears of it (so a
// node never votes twice in a term, §5.2), and a follower acknowledges an
// append only for entries on its own disk (§5.3: "committed" means on a
// majority's disk). rd.early_messages are a leader's appends, heartbeats and
// restarts of a term already durable: they promise nothing about this node's
// disk, so they may leave before step 1 (etcd/raft sends a leader's appends
// in parallel with its own write). The leader counts its own copy towards a
// commit only in Advance, i.e. after its own write, so followers' acks may
// arrive (and, while step 1 is in flight, be stepped) before it and an entry
// can commit on a majority of followers alone. Committed entries are handed
// out only up to what the same Ready makes durable locally.
//
// What a crash may lose:
//  * fsync: always (step 1 ends with fdatasync): nothing that was persisted.
//    A crash loses only the node's volatile state (role, leader, commit
//    index, progress, unpersisted proposals) and, if it hits during step 1,
//    any part of that Ready's writes (never acknowledged). Every committed
//    entry (acked to a producer with acks=all) is on a majority's disk and
//    survives any number of crashes and restarts. The simulator checks this.
//  * fsync: interval (step 1 writes entries, syncs them up to an interval
//    later; the hard state is synced in step 1 in both modes): a power loss
//    or kernel crash (not a process crash: the page cache survives that) may
//    drop the unsynced tail of the log after acks for it were sent. Raft's
//    proofs assume stable storage; to keep them, a node restarted after such
//    a loss is started with Config::abstain_through_term = its hard-state
//    term and neither votes nor campaigns until it holds an entry of a newer
//    leader (see Config). With that, an acknowledged write is lost only if a
//    majority of the nodes that acknowledged it lose power within one
//    interval, or enough nodes are abstaining that no quorum can vote. See
//    docs/replication.md §2.
//
// Malformed or hostile input: Step validates every message before it changes
// any state and returns kInvalidArgument (misaddressed, unknown sender or
// type, or from a learner anything but AppendResp/HeartbeatResp) or
// kCorrupt (a shape or content no correct peer sends: entries not following
// prev, overlapping or out of order, counts < 1, terms or offsets out of
// range, an append that would truncate a committed entry, an ack beyond the
// leader's log...). A rejected message changes nothing; no message
// sequence can make the node abort. Raft is not Byzantine-tolerant: a peer
// that sends well-formed lies (a forged leader) can still mislead it.
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
  // This node. Must be positive and one of `voters` or one of `learners`.
  NodeId id = kNoNode;
  // The voting members: elections, commit, check-quorum and leases count
  // these alone. Includes `id` unless this node is a learner. Non-empty.
  // Fixed for the node's lifetime.
  std::vector<NodeId> voters;
  // Learners (thesis §4.2.1): non-voting members that receive the log like
  // followers (appends, heartbeats, probing, flow control, restarts) and
  // learn the commit index, but are never counted towards commit, quorum,
  // check-quorum or leases, never campaign (election timeouts, Campaign()
  // and TimeoutNow are ignored), ignore vote requests, and cannot be a
  // leadership-transfer target. A learner sends only AppendResp and
  // HeartbeatResp; every node rejects anything else from one. Disjoint from
  // `voters`; includes `id` on a learner. Default empty. Fixed for the
  // node's lifetime; every member must be given the same voters and learners.
  std::vector<NodeId> learners;
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
  // Payload bytes of committed entries per Ready (at least one entry is
  // always handed out, so a huge entry still progresses). Bounds what one
  // GetReady reads after a restart that re-delivers a whole partition.
  // Default 4 MiB.
  size_t max_committed_bytes = 4 << 20;
  // Whether Ready::committed_entries carries the committed entries. A
  // partition replica has no state machine beyond its log (committing is
  // publishing the high watermark, Ready::commit), so it turns this off and
  // the node never reads entries back just to hand them out; applied() then
  // follows the commit index up to what is durable here. Default true.
  bool deliver_committed_entries = true;
  // Last offset the application applied durably before this start; committed
  // entries above it are delivered again. -1 (default) re-delivers from the
  // log start.
  Offset applied{-1};
  // fsync: interval safety (docs/replication.md §2). 0 (default): vote
  // normally. T > 0: this node may have lost log entries it acknowledged in
  // terms <= T (unsynced data gone in a power loss); it grants no votes (not
  // even to itself: it does not campaign) until its log holds an entry of a
  // term above T, i.e. until a leader elected without it has re-replicated
  // every entry committed before that leader's term. The owner sets T to the
  // hard-state term on such a restart and keeps passing it until
  // abstaining() turns false.
  Term abstain_through_term{0};
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
  // Handles a message from a peer. A message that is misaddressed, from an
  // unknown node (or from a learner, other than AppendResp/HeartbeatResp),
  // malformed, or inconsistent with what this node knows to be
  // committed is rejected (kInvalidArgument or kCorrupt, naming the problem)
  // and changes nothing; the caller logs it and may drop the connection.
  [[nodiscard]] Result<void> Step(const Message& message);
  // Leader only: appends an entry of `record_count` offsets. Returns the
  // entry's (term, base offset); it is committed when the commit offset
  // reaches base + record_count - 1 with the same term at that offset.
  // kNotLeader on a non-leader or during a leadership transfer.
  [[nodiscard]] Result<Entry> Propose(Payload payload, int32_t record_count);
  // Leader only: hands leadership to `target` once it is caught up (thesis
  // §3.10). Proposals are refused until the transfer ends; it is abandoned
  // after election_ticks. kInvalidArgument if `target` is a learner or not
  // a member.
  [[nodiscard]] Result<void> TransferLeadership(NodeId target);
  // Starts an election now (tests, operator "take leadership"). Does
  // nothing on a leader, a learner or an abstaining node.
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
  // On a follower: the highest commit offset the leader of this term has
  // told it (a heartbeat tells at most what the leader knows this node
  // holds, an append its whole commit); -1 until it heard one. A follower
  // whose commit() reached it holds everything the leader said committed.
  Offset leader_commit() const { return leader_commit_; }
  Offset applied() const { return applied_; }
  LogPosition LastPosition() const;
  // Offset of the last entry the node knows to be durable.
  Offset persisted() const { return persisted_last_; }
  NodeId transfer_target() const { return transferee_; }
  // True if this node is a learner (Config::learners): its role stays
  // kFollower.
  bool is_learner() const { return learner_; }
  // Leader only: the last offset `peer` (a follower or a learner) is known
  // to hold (match index); -1 when unknown, for the leader itself or a
  // non-member, or on a non-leader.
  Offset MatchOf(NodeId peer) const;
  // Boundaries and term of the entry covering `offset` in the node's view of
  // its log (durable entries plus those not yet persisted).
  [[nodiscard]] Result<EntryMeta> Lookup(Offset offset) const { return LookupView(offset); }
  // True while Config::abstain_through_term still holds the node back.
  bool abstaining() const;
  // Elections this node started as a candidate (term bumped, §5.2); pre-vote
  // rounds that did not become one are not counted. For metrics.
  uint64_t elections_started() const { return elections_started_; }

 private:
  enum class ProgressState : uint8_t { kProbe, kReplicate };
  enum class CampaignKind : uint8_t { kPreVote, kElection, kTransfer };

  // Leader's view of one follower or learner (thesis §3.5
  // nextIndex/matchIndex, plus flow control). Probe: one append at a time until a match is found.
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
  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
  bool InLease() const;

  // Stateless checks of a message's shape (fields, entries), then checks
  // against this node's log and commit of what the message would change.
  Result<void> ValidateShape(const Message& m) const;
  Result<void> ValidateForState(const Message& m) const;
  Result<void> ValidateAppend(const Message& m) const;
  Result<void> ValidateAck(const Message& m) const;
  bool IsEarly(const Message& m) const;

  void StepLeader(const Message& m);
  void StepCandidate(const Message& m);
  void StepFollower(const Message& m);
  void HandleVoteRequest(const Message& m);
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleRestart(const Message& m);
  Offset HeartbeatCommit(const Message& m) const;
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
  bool learner_ = false;  // config_.id is one of config_.learners

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
  Offset leader_commit_{-1};
  Offset applied_{-1};
  // Highest offset an append of the current term showed to match the
  // leader's log (volatile; -1 after a restart or a term change).
  Offset append_match_{-1};

  uint64_t elections_started_ = 0;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;

  std::unordered_map<NodeId, Progress> progress_;
  std::unordered_map<NodeId, bool> votes_;
  NodeId transferee_ = kNoNode;
  bool broadcast_pending_ = false;

  std::vector<Message> msgs_;
  // The outstanding Ready (GetReady .. Advance): the view's last offset when
  // it was handed out, the lowest offset truncated since, and whether a log
  // reset replaced the view since. Advance releases only what the Ready wrote
  // and no later input replaced.
  bool in_ready_ = false;
  Offset ready_last_{-1};
  Offset cut_since_ready_{0};
  bool reset_since_ready_ = false;
};

namespace detail {
// Which classic Raft bug this copy of node.cc has switched on: 0 in the real
// telemq_raft library, always. The mutation check (tests/sim/CMakeLists.txt)
// compiles copies of node.cc with -DTELEMQ_RAFT_MUTANT=N and runs the
// simulator against each; raft_test asserts this is 0.
int MutantId();
}  // namespace detail

}  // namespace telemq::raft
