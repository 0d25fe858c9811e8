// Rule-by-rule scenarios for raft::Node. Each test names the section of the
// Raft paper ("In Search of an Understandable Consensus Algorithm", extended
// version) or of Ongaro's thesis ("Consensus: Bridging Theory and Practice")
// whose rule it checks. The whole-system properties are checked by the
// simulator in tests/sim.
#include "broker/raft/node.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace telemq::raft {
namespace {

constexpr int kElection = 10;

Payload Bytes(std::string s) { return Payload::Copy(s); }

Entry E(int64_t term, int64_t base, int32_t count = 1) {
  Entry e;
  e.term = Term(term);
  e.base_offset = Offset(base);
  e.record_count = count;
  e.payload = Bytes("p");
  return e;
}

Config MakeConfig(int id, int n) {
  Config c;
  c.id = NodeId(id);
  for (int i = 1; i <= n; ++i) c.voters.push_back(NodeId(i));
  c.election_ticks = kElection;
  c.heartbeat_ticks = 1;
  c.random = [] { return uint64_t{0}; };  // timeout = election_ticks exactly
  return c;
}

Message Msg(MessageType type, int from, int to, int64_t term) {
  Message m;
  m.type = type;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(term);
  return m;
}

// A node with its own durable state, driven by hand.
struct Solo {
  explicit Solo(Config config, HardState hs = {}, std::vector<Entry> entries = {}) {
    log.Append(entries);
    node = std::make_unique<Node>(std::move(config), &log, hs);
  }
  // One Ready cycle; returns the messages it asked to send.
  std::vector<Message> Process() {
    std::vector<Message> out;
    while (node->HasReady()) {
      Ready rd = node->GetReady();
      if (rd.log_reset) log.Reset(*rd.log_reset);
      log.Append(rd.entries);
      for (auto& m : rd.early_messages) out.push_back(m);
      for (auto& m : rd.messages) out.push_back(m);
      node->Advance(rd);
    }
    return out;
  }
  MemoryLog log;
  std::unique_ptr<Node> node;
};

// n nodes wired by a perfect, instantaneous network that can be cut.
class Group {
 public:
  explicit Group(int n, const std::function<void(Config&)>& tweak = {}) : Group(n, 0, tweak) {}
  // Voters 1..voters, then learners voters+1..voters+learners.
  Group(int voters, int learners, const std::function<void(Config&)>& tweak = {}) {
    for (int i = 1; i <= voters + learners; ++i) {
      Config c = MakeConfig(i, voters);
      for (int l = voters + 1; l <= voters + learners; ++l) c.learners.push_back(NodeId(l));
      // Distinct timeouts so elections settle deterministically.
      c.random = [i] { return static_cast<uint64_t>(i - 1); };
      if (tweak) tweak(c);
      logs_[i] = std::make_unique<MemoryLog>();
      nodes_[i] = std::make_unique<Node>(c, logs_[i].get(), HardState{});
    }
  }
  Node& node(int id) { return *nodes_.at(id); }
  MemoryLog& log(int id) { return *logs_.at(id); }
  const std::vector<Entry>& applied(int id) { return applied_[id]; }
  std::vector<Ready>& readies(int id) { return readies_[id]; }
  // Every message any node sent, in order (for "who was asked" checks).
  const std::vector<Message>& sent() const { return sent_; }

  void Cut(int id) { cut_.insert(id); }
  void Heal() { cut_.clear(); }

  // Persist/send/apply/advance for every node, then deliver, until quiet.
  void Stabilize() {
    for (int round = 0; round < 10000; ++round) {
      bool any = false;
      for (auto& [id, node] : nodes_) {
        while (node->HasReady()) {
          any = true;
          Ready rd = node->GetReady();
          if (rd.log_reset) logs_[id]->Reset(*rd.log_reset);
          logs_[id]->Append(rd.entries);
          for (auto& m : rd.early_messages) queue_.push_back(m);
          for (auto& m : rd.messages) queue_.push_back(m);
          sent_.insert(sent_.end(), rd.early_messages.begin(), rd.early_messages.end());
          sent_.insert(sent_.end(), rd.messages.begin(), rd.messages.end());
          for (auto& e : rd.committed_entries) applied_[id].push_back(e);
          readies_[id].push_back(rd);
          node->Advance(rd);
        }
      }
      while (!queue_.empty()) {
        any = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        int from = static_cast<int>(m.from.value());
        int to = static_cast<int>(m.to.value());
        if (cut_.count(from) || cut_.count(to)) continue;
        auto stepped = nodes_[to]->Step(m);
        if (!stepped)
          ADD_FAILURE() << "node " << to << " rejected " << MessageTypeName(m.type) << ": "
                        << stepped.error().ToString();
      }
      if (!any) return;
    }
    FAIL() << "group did not stabilize";
  }
  void Tick(int id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      nodes_[id]->Tick();
      Stabilize();
    }
  }
  void TickAll(int times = 1) {
    for (int i = 0; i < times; ++i) {
      for (auto& [id, node] : nodes_) node->Tick();
      Stabilize();
    }
  }
  void Elect(int id) {
    nodes_[id]->Campaign();
    Stabilize();
  }
  Result<Entry> Propose(int id, const std::string& bytes, int32_t count = 1) {
    auto r = nodes_[id]->Propose(Bytes(bytes), count);
    Stabilize();
    return r;
  }

 private:
  std::map<int, std::unique_ptr<MemoryLog>> logs_;
  std::map<int, std::unique_ptr<Node>> nodes_;
  std::map<int, std::vector<Entry>> applied_;
  std::map<int, std::vector<Ready>> readies_;
  std::deque<Message> queue_;
  std::vector<Message> sent_;
  std::set<int> cut_;
};

std::vector<Message> OfType(const std::vector<Message>& msgs, MessageType type) {
  std::vector<Message> out;
  for (const auto& m : msgs) {
    if (m.type == type) out.push_back(m);
  }
  return out;
}

// --- §5.1 terms -------------------------------------------------------------

TEST(RaftTermTest, HigherTermTurnsLeaderIntoFollower) {  // §5.1
  Group g(3);
  g.Elect(1);
  ASSERT_EQ(g.node(1).role(), Role::kLeader);
  ASSERT_TRUE(g.node(1).Step(Msg(MessageType::kHeartbeat, 2, 1, 5)).has_value());
  EXPECT_EQ(g.node(1).role(), Role::kFollower);
  EXPECT_EQ(g.node(1).term(), Term(5));
  EXPECT_EQ(g.node(1).leader(), NodeId(2));
}

TEST(RaftTermTest, StaleAppendIsRefusedAndToldTheCurrentTerm) {  // §5.1
  Solo s(MakeConfig(1, 3), HardState{Term(4), kNoNode});
  Message m = Msg(MessageType::kAppend, 2, 1, 3);
  m.entries.push_back(E(3, 0));
  ASSERT_TRUE(s.node->Step(m).has_value());
  auto out = s.Process();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::kAppendResponse);
  EXPECT_EQ(out[0].term, Term(4));
  EXPECT_EQ(s.log.NextOffset(), Offset(0));  // nothing appended
}

// --- §5.2 leader election ---------------------------------------------------

TEST(RaftElectionTest, CandidateWithMajorityBecomesLeader) {  // §5.2
  Group g(3, [](Config& c) { c.pre_vote = false; });
  g.Elect(1);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  EXPECT_EQ(g.node(1).term(), Term(1));
  EXPECT_EQ(g.node(2).leader(), NodeId(1));
  EXPECT_EQ(g.node(3).vote(), NodeId(1));
}

TEST(RaftElectionTest, CandidateWithoutMajorityStaysCandidate) {  // §5.2
  Group g(5, [](Config& c) { c.pre_vote = false; });
  g.Cut(3);
  g.Cut(4);
  g.Cut(5);
  g.Elect(1);
  EXPECT_EQ(g.node(1).role(), Role::kCandidate);
}

TEST(RaftElectionTest, FollowerVotesAtMostOncePerTerm) {  // §5.2
  Solo s(MakeConfig(1, 3));
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVote, 2, 1, 1)).has_value());
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVote, 3, 1, 1)).has_value());
  auto out = OfType(s.Process(), MessageType::kVoteResponse);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_TRUE(out[1].reject);
  EXPECT_EQ(s.node->vote(), NodeId(2));
  // A repeated request from the same candidate is granted again.
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVote, 2, 1, 1)).has_value());
  out = OfType(s.Process(), MessageType::kVoteResponse);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
}

TEST(RaftElectionTest, VoteIsDurableBeforeTheResponseLeaves) {  // §5.2, Figure 2
  Solo s(MakeConfig(1, 3));
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVote, 2, 1, 1)).has_value());
  ASSERT_TRUE(s.node->HasReady());
  Ready rd = s.node->GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, NodeId(2));
  EXPECT_EQ(rd.hard_state->term, Term(1));
  EXPECT_EQ(OfType(rd.messages, MessageType::kVoteResponse).size(), 1u);
  s.node->Advance(rd);
}

TEST(RaftElectionTest, ElectionTimeoutComesFromTheInjectedGenerator) {  // §5.2
  Config c = MakeConfig(1, 3);
  c.pre_vote = false;
  c.random = [] { return uint64_t{7}; };  // timeout = 10 + 7 % 10 = 17 ticks
  Solo s(c);
  for (int i = 0; i < 16; ++i) s.node->Tick();
  EXPECT_EQ(s.node->role(), Role::kFollower);
  s.node->Tick();
  EXPECT_EQ(s.node->role(), Role::kCandidate);
  EXPECT_EQ(s.node->term(), Term(1));
}

// --- §5.4.1 election restriction -------------------------------------------

TEST(RaftElectionTest, VoteRequiresALogAtLeastAsUpToDate) {  // §5.4.1
  // Voter's log ends at offset 4 with term 2.
  struct Case {
    int64_t cand_offset;
    int64_t cand_term;
    bool granted;
  };
  const Case cases[] = {
      {4, 2, true},   // same last term, same length
      {9, 2, true},   // same last term, longer
      {3, 2, false},  // same last term, shorter
      {1, 3, true},   // later last term wins even if shorter
      {9, 1, false},  // earlier last term loses even if longer
  };
  for (const Case& tc : cases) {
    Solo s(MakeConfig(1, 3), HardState{Term(2), kNoNode}, {E(1, 0, 2), E(2, 2, 3)});
    Message m = Msg(MessageType::kVote, 2, 1, 3);
    m.offset = Offset(tc.cand_offset);
    m.log_term = Term(tc.cand_term);
    ASSERT_TRUE(s.node->Step(m).has_value());
    auto out = OfType(s.Process(), MessageType::kVoteResponse);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(!out[0].reject, tc.granted) << tc.cand_offset << "@" << tc.cand_term;
  }
}

// --- §5.3 log replication ---------------------------------------------------

TEST(RaftReplicationTest, LeaderCommitsOnceAMajorityPersisted) {  // §5.3
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  auto e = g.Propose(1, "a", 5);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->base_offset, Offset(1));  // offset 0 holds the leader's no-op
  EXPECT_EQ(e->last_offset(), Offset(5));
  EXPECT_EQ(g.node(1).commit(), Offset(5));
  ASSERT_EQ(g.applied(1).size(), 2u);
  EXPECT_EQ(g.applied(1)[1].payload.view(), "a");
}

TEST(RaftReplicationTest, LeaderAloneCannotCommit) {  // §5.3
  Group g(3);
  g.Elect(1);
  Offset before = g.node(1).commit();
  g.Cut(2);
  g.Cut(3);
  ASSERT_TRUE(g.Propose(1, "a").has_value());
  EXPECT_EQ(g.node(1).commit(), before);
}

TEST(RaftReplicationTest, LeaderCountsItselfOnlyAfterPersisting) {  // §5.3, node.h contract
  Config c = MakeConfig(1, 1);
  Solo s(c);
  s.node->Campaign();
  s.Process();
  ASSERT_EQ(s.node->role(), Role::kLeader);
  auto e = s.node->Propose(Bytes("x"), 3);
  ASSERT_TRUE(e.has_value());
  Ready rd = s.node->GetReady();
  EXPECT_EQ(rd.entries.size(), 1u);
  EXPECT_LT(rd.commit, e->last_offset());  // not durable yet: not committed
  EXPECT_TRUE(rd.committed_entries.empty());
  s.log.Append(rd.entries);
  s.node->Advance(rd);
  EXPECT_EQ(s.node->commit(), e->last_offset());
  rd = s.node->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  s.node->Advance(rd);
}

TEST(RaftReplicationTest, FollowerAcksAppendInTheReadyThatPersistsIt) {  // §5.3, Figure 2
  Solo s(MakeConfig(2, 3), HardState{Term(1), kNoNode});
  Message m = Msg(MessageType::kAppend, 1, 2, 1);
  m.entries = {E(1, 0, 4)};
  m.commit = Offset(-1);
  ASSERT_TRUE(s.node->Step(m).has_value());
  Ready rd = s.node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  auto acks = OfType(rd.messages, MessageType::kAppendResponse);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject);
  EXPECT_EQ(acks[0].offset, Offset(3));
  s.log.Append(rd.entries);
  s.node->Advance(rd);
}

TEST(RaftReplicationTest, FollowerRejectsAppendWhosePrevDoesNotMatch) {  // §5.3
  Solo s(MakeConfig(2, 3), HardState{Term(2), kNoNode}, {E(1, 0, 3)});
  Message m = Msg(MessageType::kAppend, 1, 2, 2);
  m.offset = Offset(2);
  m.log_term = Term(2);  // we hold offset 2 at term 1
  m.entries = {E(2, 3)};
  ASSERT_TRUE(s.node->Step(m).has_value());
  auto out = OfType(s.Process(), MessageType::kAppendResponse);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].offset, Offset(2));
  // Our last entry with a term <= 2 ends at offset 2 (term 1): the leader
  // skips back over its own term-2 entries to there.
  EXPECT_EQ(out[0].reject_hint, Offset(2));
  EXPECT_EQ(out[0].log_term, Term(1));
  EXPECT_EQ(s.log.NextOffset(), Offset(3));
}

TEST(RaftReplicationTest, FollowerKnowsWhetherItHoldsTheLeadersCommit) {  // readiness
  Solo s(MakeConfig(2, 3), HardState{Term(2), kNoNode}, {E(1, 0, 3)});
  EXPECT_EQ(s.node->leader_commit(), Offset(-1));
  // A leader whose commit (9) is beyond our log: the append is refused (we
  // lack its prev), yet we learn how far behind we are.
  Message m = Msg(MessageType::kAppend, 1, 2, 2);
  m.offset = Offset(6);
  m.log_term = Term(2);
  m.entries = {E(2, 7, 3)};
  m.commit = Offset(9);
  ASSERT_TRUE(s.node->Step(m).has_value());
  s.Process();
  EXPECT_EQ(s.node->leader_commit(), Offset(9));
  EXPECT_LT(s.node->commit(), s.node->leader_commit());
  // The missing entries arrive: our commit reaches the leader's.
  Message fill = Msg(MessageType::kAppend, 1, 2, 2);
  fill.offset = Offset(2);
  fill.log_term = Term(1);
  fill.entries = {E(2, 3, 4), E(2, 7, 3)};
  fill.commit = Offset(9);
  ASSERT_TRUE(s.node->Step(fill).has_value());
  s.Process();
  EXPECT_EQ(s.node->commit(), Offset(9));
  EXPECT_EQ(s.node->leader_commit(), Offset(9));
  // A new term forgets the old leader's word: its leader has not learnt
  // the whole commit yet and says 5.
  Message next = Msg(MessageType::kAppend, 3, 2, 3);
  next.offset = Offset(9);
  next.log_term = Term(2);
  next.commit = Offset(5);
  ASSERT_TRUE(s.node->Step(next).has_value());
  s.Process();
  EXPECT_EQ(s.node->leader_commit(), Offset(5));
}

TEST(RaftReplicationTest, FollowerReplacesAConflictingSuffix) {  // §5.3
  Solo s(MakeConfig(2, 3), HardState{Term(2), kNoNode}, {E(1, 0), E(1, 1, 3), E(1, 4)});
  Message m = Msg(MessageType::kAppend, 1, 2, 2);
  m.offset = Offset(0);
  m.log_term = Term(1);
  m.entries = {E(2, 1, 2)};
  ASSERT_TRUE(s.node->Step(m).has_value());
  Ready rd = s.node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].base_offset, Offset(1));  // replaces from offset 1 on
  s.log.Append(rd.entries);
  s.node->Advance(rd);
  EXPECT_EQ(s.log.LastPosition(), (LogPosition{Offset(2), Term(2)}));
}

TEST(RaftReplicationTest, LaggingFollowerCatchesUpThroughProbing) {  // §5.3
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(g.Propose(1, std::string("e").append(std::to_string(i)), 2).has_value());
  g.Heal();
  // The pipeline to 3 lost its appends; after a heartbeat interval without
  // progress the leader probes, learns the gap and resends.
  g.Tick(1, 2);
  EXPECT_EQ(g.log(3).LastPosition(), g.log(1).LastPosition());
  EXPECT_EQ(g.node(3).commit(), g.node(1).commit());
}

// --- §5.4.2 committing entries from previous terms --------------------------

TEST(RaftCommitTest, OlderTermEntryIsNotCommittedByCountingReplicas) {  // §5.4.2, Figure 8
  Config c = MakeConfig(1, 3);
  c.pre_vote = false;
  // Our log: offset 0 at term 1, offset 1 at term 2 (never committed).
  Solo s(c, HardState{Term(2), kNoNode}, {E(1, 0), E(2, 1)});
  s.node->Campaign();
  s.Process();
  Message grant = Msg(MessageType::kVoteResponse, 2, 1, 3);
  ASSERT_TRUE(s.node->Step(grant).has_value());
  s.Process();
  ASSERT_EQ(s.node->role(), Role::kLeader);
  // Follower 2 reports holding offset 1 (term 2): a majority has it, but it
  // is of an older term, so counting must not commit it.
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 3);
  ack.offset = Offset(1);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  s.Process();
  EXPECT_EQ(s.node->commit(), Offset(-1));
  // Once the leader's own no-op (offset 2, term 3) is on a majority, both commit.
  ack.offset = Offset(2);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  s.Process();
  EXPECT_EQ(s.node->commit(), Offset(2));
}

TEST(RaftCommitTest, StaleLeaderCannotCommit) {  // §5.4.2, §5.1
  Group g(3, [](Config& c) { c.check_quorum = false; });
  g.Elect(1);
  g.Cut(1);
  g.Elect(2);
  ASSERT_EQ(g.node(2).role(), Role::kLeader);
  ASSERT_EQ(g.node(1).role(), Role::kLeader);  // has not heard yet
  Offset before = g.node(1).commit();
  auto stale = g.Propose(1, "lost");
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(g.node(1).commit(), before);
  g.Heal();
  g.TickAll(2);
  EXPECT_EQ(g.node(1).role(), Role::kFollower);
  EXPECT_EQ(g.log(1).LastPosition(), g.log(2).LastPosition());
  auto meta = g.log(1).Lookup(stale->base_offset);
  ASSERT_TRUE(meta.has_value());
  EXPECT_NE(meta->term, stale->term);  // the stale entry was replaced
}

// --- Thesis §9.6 pre-vote ----------------------------------------------------

TEST(RaftPreVoteTest, PreVoteDoesNotBumpTheTerm) {  // thesis §9.6
  Solo s(MakeConfig(1, 3), HardState{Term(4), kNoNode});
  for (int i = 0; i < kElection; ++i) s.node->Tick();
  EXPECT_EQ(s.node->role(), Role::kPreCandidate);
  EXPECT_EQ(s.node->term(), Term(4));
  auto out = OfType(s.Process(), MessageType::kPreVote);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].term, Term(5));
}

TEST(RaftPreVoteTest, PartitionedNodeDoesNotDisruptTheLeader) {  // thesis §9.6
  Group g(3);
  g.Elect(1);
  Term term = g.node(1).term();
  g.Cut(3);
  for (int i = 0; i < 10 * kElection; ++i) g.Tick(3);
  EXPECT_EQ(g.node(3).term(), term);  // pre-vote never succeeded
  g.Heal();
  g.TickAll(3);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  EXPECT_EQ(g.node(1).term(), term);
  EXPECT_EQ(g.node(3).leader(), NodeId(1));
}

TEST(RaftPreVoteTest, PreVoteSucceedsThenRealElectionWins) {  // thesis §9.6
  Group g(3);
  g.Tick(1, kElection);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  EXPECT_EQ(g.node(1).term(), Term(1));
}

// --- Thesis §6.2 check-quorum and §4.2.3 lease ------------------------------

TEST(RaftCheckQuorumTest, LeaderThatLostItsMajorityStepsDown) {  // thesis §6.2
  Group g(3);
  g.Elect(1);
  g.Cut(1);
  // The first check still sees the answers from the election; the second
  // finds nobody: a leader steps down within two election timeouts.
  g.Tick(1, kElection);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  g.Tick(1, kElection);
  EXPECT_EQ(g.node(1).role(), Role::kFollower);
}

TEST(RaftCheckQuorumTest, LeaderHearingAMajorityStays) {  // thesis §6.2
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  g.Tick(1, 3 * kElection);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
}

TEST(RaftCheckQuorumTest, FollowerInLeaseIgnoresVoteRequests) {  // thesis §4.2.3
  Group g(3);
  g.Elect(1);
  Term term = g.node(2).term();
  Message v = Msg(MessageType::kVote, 3, 2, term.value() + 1);
  v.offset = Offset(100);
  v.log_term = term;
  ASSERT_TRUE(g.node(2).Step(v).has_value());
  EXPECT_EQ(g.node(2).term(), term);
  EXPECT_EQ(g.node(2).vote(), NodeId(1));
}

// --- Thesis §3.10 leadership transfer ---------------------------------------

TEST(RaftTransferTest, CaughtUpTargetTakesOver) {  // thesis §3.10
  Group g(3);
  g.Elect(1);
  ASSERT_TRUE(g.node(1).TransferLeadership(NodeId(2)).has_value());
  g.Stabilize();
  EXPECT_EQ(g.node(2).role(), Role::kLeader);
  EXPECT_EQ(g.node(2).term(), Term(2));
  EXPECT_EQ(g.node(1).leader(), NodeId(2));
}

TEST(RaftTransferTest, LaggingTargetCatchesUpFirstAndProposalsWait) {  // thesis §3.10
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  ASSERT_TRUE(g.Propose(1, "a").has_value());
  ASSERT_TRUE(g.node(1).TransferLeadership(NodeId(3)).has_value());
  auto refused = g.node(1).Propose(Bytes("b"), 1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Errc::kNotLeader);
  g.Heal();
  g.Tick(1);
  EXPECT_EQ(g.node(3).role(), Role::kLeader);
  EXPECT_EQ(g.log(3).LastPosition().term, g.node(3).term());
}

TEST(RaftTransferTest, UnfinishedTransferIsAbandoned) {  // thesis §3.10
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  ASSERT_TRUE(g.node(1).TransferLeadership(NodeId(3)).has_value());
  g.Tick(1, kElection);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  EXPECT_EQ(g.node(1).transfer_target(), kNoNode);
  EXPECT_TRUE(g.node(1).Propose(Bytes("c"), 1).has_value());
}

// --- Proposals, flow control, retention ----------------------------------------

TEST(RaftProposalTest, FollowerRefusesProposalsWithNotLeader) {
  Group g(3);
  g.Elect(1);
  auto r = g.node(2).Propose(Bytes("x"), 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNotLeader);
}

TEST(RaftProposalTest, OffsetsAdvanceByRecordCount) {
  Group g(1);
  g.Elect(1);
  auto a = g.Propose(1, "a", 10);
  auto b = g.Propose(1, "b", 3);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->base_offset, a->base_offset + 10);
  EXPECT_EQ(g.node(1).commit(), b->last_offset());
}

TEST(RaftFlowControlTest, ProbeSendsOneAppendUntilAnswered) {  // thesis §3.5 (flow)
  Solo s(MakeConfig(1, 2), HardState{}, {});
  s.node->Campaign();
  s.Process();
  Message grant = Msg(MessageType::kPreVoteResponse, 2, 1, 1);
  ASSERT_TRUE(s.node->Step(grant).has_value());
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVoteResponse, 2, 1, 1)).has_value());
  auto first = OfType(s.Process(), MessageType::kAppend);
  ASSERT_EQ(s.node->role(), Role::kLeader);
  EXPECT_EQ(first.size(), 1u);  // the no-op, in probe mode
  ASSERT_TRUE(s.node->Propose(Bytes("a"), 1).has_value());
  ASSERT_TRUE(s.node->Propose(Bytes("b"), 1).has_value());
  EXPECT_TRUE(OfType(s.Process(), MessageType::kAppend).empty());  // paused
}

TEST(RaftFlowControlTest, PipelineStopsAtMaxInflightAndMaxBytes) {  // flow control
  Config c = MakeConfig(1, 2);
  c.max_inflight_appends = 2;
  c.max_append_bytes = 1;  // one entry per message
  Solo s(c);
  s.node->Campaign();
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kPreVoteResponse, 2, 1, 1)).has_value());
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVoteResponse, 2, 1, 1)).has_value());
  s.Process();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = Offset(0);  // matched the no-op: pipeline mode
  ASSERT_TRUE(s.node->Step(ack).has_value());
  s.Process();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.node->Propose(Bytes("x"), 1).has_value());
  auto appends = OfType(s.Process(), MessageType::kAppend);
  ASSERT_EQ(appends.size(), 2u);
  EXPECT_EQ(appends[0].entries.size(), 1u);
  EXPECT_EQ(appends[1].offset, Offset(1));
  ack.offset = Offset(1);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  EXPECT_EQ(OfType(s.Process(), MessageType::kAppend).size(), 1u);  // one slot freed
}

TEST(RaftRetentionTest, FollowerRestartsFromTheLeaderLogStart) {  // DESIGN §2.3
  Group g(3);
  g.Elect(1);
  g.Cut(3);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(g.Propose(1, std::string("r").append(std::to_string(i)), 2).has_value());
  Offset commit = g.node(1).commit();
  // Retention removes everything up to the last committed entry on 1 and 2.
  g.log(1).TruncatePrefix(Offset(5));
  g.log(2).TruncatePrefix(Offset(5));
  g.Heal();
  g.Tick(1, 2);
  EXPECT_EQ(g.log(3).StartOffset(), Offset(5));
  EXPECT_EQ(g.log(3).LastPosition(), g.log(1).LastPosition());
  EXPECT_EQ(g.node(3).commit(), commit);
  bool saw_reset = false;
  for (const Ready& rd : g.readies(3)) saw_reset |= rd.log_reset.has_value();
  EXPECT_TRUE(saw_reset);
}

// --- Hostile or malformed input: rejected, never an abort, nothing changes ---

// Everything observable about a node, to show a rejected message changed nothing.
struct Snapshot {
  Term term;
  NodeId vote;
  Role role;
  NodeId leader;
  Offset commit;
  LogPosition last;
  bool has_ready;
  bool operator==(const Snapshot&) const = default;
};

Snapshot Snap(const Node& n) {
  return Snapshot{n.term(), n.vote(), n.role(), n.leader(), n.commit(), n.LastPosition(), n.HasReady()};
}

// Follower 2 of 3 at term 2: offset 0 (term 1), offsets 1..3 (term 2), 4 (term 2); commit 0.
std::unique_ptr<Solo> Follower() {
  auto s = std::make_unique<Solo>(MakeConfig(2, 3), HardState{Term(2), kNoNode},
                                  std::vector<Entry>{E(1, 0), E(2, 1, 3), E(2, 4)});
  Message hb = Msg(MessageType::kHeartbeat, 1, 2, 2);
  hb.commit = Offset(0);
  EXPECT_TRUE(s->node->Step(hb).has_value());
  s->Process();
  return s;
}

// Leader 1 of 3 at term 1, its no-op at offset 0 not yet acknowledged.
std::unique_ptr<Solo> Leader() {
  auto s = std::make_unique<Solo>(MakeConfig(1, 3));
  s->node->Campaign();
  s->Process();
  EXPECT_TRUE(s->node->Step(Msg(MessageType::kPreVoteResponse, 2, 1, 1)).has_value());
  s->Process();
  EXPECT_TRUE(s->node->Step(Msg(MessageType::kVoteResponse, 2, 1, 1)).has_value());
  s->Process();
  EXPECT_EQ(s->node->role(), Role::kLeader);
  return s;
}

// A valid append to Follower(): prev = offset 4 (term 2), entries from 5.
Message GoodAppend(int64_t term = 2) {
  Message m = Msg(MessageType::kAppend, 1, 2, term);
  m.offset = Offset(4);
  m.log_term = Term(2);
  m.commit = Offset(4);
  m.entries = {E(term, 5, 2), E(term, 7)};
  return m;
}

void ExpectRejected(Solo& s, const Message& m, Errc code) {
  Snapshot before = Snap(*s.node);
  auto r = s.node->Step(m);
  ASSERT_FALSE(r.has_value()) << "accepted " << MessageTypeName(m.type);
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
  EXPECT_FALSE(r.error().message().empty());
  EXPECT_TRUE(Snap(*s.node) == before) << "a rejected message changed the node: " << r.error().ToString();
}

TEST(RaftInputTest, GoodAppendIsAccepted) {  // the baseline the rejections below vary
  auto s = Follower();
  ASSERT_TRUE(s->node->Step(GoodAppend()).has_value());
  EXPECT_EQ(s->node->LastPosition(), (LogPosition{Offset(7), Term(2)}));
}

TEST(RaftInputTest, MessageForAnotherNodeIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.to = NodeId(3);
  ExpectRejected(*s, m, Errc::kInvalidArgument);
}

TEST(RaftInputTest, MessageClaimingToComeFromItselfIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.from = NodeId(2);
  ExpectRejected(*s, m, Errc::kInvalidArgument);
}

TEST(RaftInputTest, MessageFromANonVoterIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.from = NodeId(9);
  ExpectRejected(*s, m, Errc::kInvalidArgument);
}

TEST(RaftInputTest, UnknownMessageTypeIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.type = static_cast<MessageType>(200);
  ExpectRejected(*s, m, Errc::kInvalidArgument);
}

TEST(RaftInputTest, TermZeroIsRejected) {
  auto s = Follower();
  ExpectRejected(*s, Msg(MessageType::kVote, 1, 2, 0), Errc::kCorrupt);
}

TEST(RaftInputTest, TermNearOverflowIsRejected) {
  auto s = Follower();
  Message m = Msg(MessageType::kHeartbeat, 1, 2, std::numeric_limits<int64_t>::max());
  ExpectRejected(*s, m, Errc::kCorrupt);
  ExpectRejected(*s, Msg(MessageType::kHeartbeat, 1, 2, -3), Errc::kCorrupt);
}

TEST(RaftInputTest, LogTermAboveTheMessageTermIsRejected) {
  auto s = Follower();
  Message m = Msg(MessageType::kVote, 1, 2, 3);
  m.offset = Offset(9);
  m.log_term = Term(4);
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, OffsetsOutOfRangeAreRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.commit = Offset(-2);
  ExpectRejected(*s, m, Errc::kCorrupt);
  m = Msg(MessageType::kVote, 1, 2, 3);
  m.offset = Offset(std::numeric_limits<int64_t>::max());
  m.log_term = Term(2);
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, EntriesOnAMessageOtherThanAppendAreRejected) {
  auto s = Follower();
  Message m = Msg(MessageType::kHeartbeat, 1, 2, 2);
  m.entries = {E(2, 5)};
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntriesLeavingAGapAfterPrevAreRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries = {E(2, 6)};
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntriesOverlappingPrevAreRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries = {E(2, 4, 2)};  // starts at prev itself
  ExpectRejected(*s, m, Errc::kCorrupt);
  m.entries = {E(2, 2)};  // before prev
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntriesNotContiguousAreRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries = {E(2, 5, 2), E(2, 8)};  // gap at 7
  ExpectRejected(*s, m, Errc::kCorrupt);
  m.entries = {E(2, 5, 2), E(2, 6)};  // overlap at 6
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntryOfZeroOrNegativeRecordsIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries = {E(2, 5, 0)};
  ExpectRejected(*s, m, Errc::kCorrupt);
  m.entries = {E(2, 5, -7)};
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntryOverflowingTheOffsetRangeIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries = {E(2, 5, std::numeric_limits<int32_t>::max())};
  m.entries[0].base_offset = Offset((int64_t{1} << 62) - 5);
  m.offset = m.entries[0].base_offset - 1;
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntryTermsOutOfOrderAreRejected) {
  auto s = Follower();
  Message m = GoodAppend(3);
  m.entries = {E(3, 5), E(2, 6)};  // decreasing
  ExpectRejected(*s, m, Errc::kCorrupt);
  m.entries = {E(4, 5)};  // above the message term
  ExpectRejected(*s, m, Errc::kCorrupt);
  m.entries = {E(1, 5)};  // below prev's term
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendEntryOfUnknownTypeOrWideNoopIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.entries[0].type = static_cast<EntryType>(9);
  ExpectRejected(*s, m, Errc::kCorrupt);
  m = GoodAppend();
  m.entries[0].type = EntryType::kNoop;  // covers 2 offsets
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendDisagreeingOnBoundariesWithinATermIsRejected) {  // §5.3 Log Matching
  auto s = Follower();
  Message m = Msg(MessageType::kAppend, 1, 2, 2);
  m.offset = Offset(0);
  m.log_term = Term(1);
  m.entries = {E(2, 1, 2), E(2, 3, 2)};  // we hold [1..3] at term 2
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendConflictingInsideOneOfOurEntriesIsRejected) {  // §5.3
  auto s = Follower();
  Message m = Msg(MessageType::kAppend, 1, 2, 3);
  m.offset = Offset(0);
  m.log_term = Term(1);
  m.entries = {E(3, 1)};
  ASSERT_TRUE(s->node->Step(m).has_value());  // a conflict on a boundary: truncates
  s->Process();
  auto t = Follower();
  m.offset = Offset(1);
  m.log_term = Term(2);
  m.entries = {E(3, 2)};  // prev "ends" at 1, inside our [1..3]: prev does not match
  ASSERT_TRUE(t->node->Step(m).has_value());
  EXPECT_EQ(t->node->LastPosition(), (LogPosition{Offset(4), Term(2)}));  // rejected politely, unchanged
}

TEST(RaftInputTest, AppendCommitInsideAnEntryIsRejected) {
  auto s = Follower();
  Message m = GoodAppend();
  m.commit = Offset(5);  // inside [5..6]
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, AppendCommitBeyondItsEntriesCommitsOnlyWhatWasSent) {  // Figure 2
  auto s = Follower();
  Message m = GoodAppend();
  m.commit = Offset(100);
  m.entries = {E(2, 5, 2)};
  ASSERT_TRUE(s->node->Step(m).has_value());
  EXPECT_EQ(s->node->commit(), Offset(6));  // min(leader commit, last new entry)
}

TEST(RaftInputTest, HeartbeatCommitInsideAnEntryIsRejected) {
  auto s = Follower();
  Message m = Msg(MessageType::kHeartbeat, 1, 2, 2);
  m.commit = Offset(2);  // inside [1..3]
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, RestartBelowOffsetZeroIsRejected) {
  auto s = Follower();
  Message m = Msg(MessageType::kRestart, 1, 2, 2);
  m.offset = Offset(-1);
  ExpectRejected(*s, m, Errc::kCorrupt);
}

TEST(RaftInputTest, RejectedHigherTermMessageDoesNotBumpTheTerm) {  // §5.1
  auto s = Follower();
  Message m = GoodAppend(5);
  m.entries = {E(5, 5, 0)};
  ExpectRejected(*s, m, Errc::kCorrupt);
  EXPECT_EQ(s->node->term(), Term(2));
}

TEST(RaftInputTest, AckBeyondTheLeadersLogIsRejected) {
  auto s = Leader();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = Offset(50);
  ExpectRejected(*s, ack, Errc::kCorrupt);
  ack.reject = true;
  ack.reject_hint = Offset(3);
  ExpectRejected(*s, ack, Errc::kCorrupt);
}

TEST(RaftInputTest, AckInsideOneOfTheLeadersEntriesIsRejected) {
  auto s = Leader();
  ASSERT_TRUE(s->node->Propose(Bytes("x"), 4).has_value());  // offsets 1..4
  s->Process();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = Offset(2);
  ExpectRejected(*s, ack, Errc::kCorrupt);
}

TEST(RaftInputTest, RejectionHintBeyondTheRejectedOffsetIsRejected) {
  auto s = Leader();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.reject = true;
  ack.offset = Offset(0);
  ack.reject_hint = Offset(5);
  ExpectRejected(*s, ack, Errc::kCorrupt);
}

TEST(RaftInputTest, PreVoteRejectionFromANodeWithoutATermIsAccepted) {  // thesis §9.6
  auto s = Leader();
  Message r = Msg(MessageType::kPreVoteResponse, 3, 1, 0);
  r.reject = true;
  EXPECT_TRUE(s->node->Step(r).has_value());
}

// --- Committed entries under a byte cap -------------------------------------

TEST(RaftApplyTest, CommittedEntriesAreHandedOutUnderTheByteCap) {
  Config c = MakeConfig(1, 1);
  c.max_committed_bytes = 2500;
  std::vector<Entry> entries;
  for (int i = 0; i < 10; ++i) {
    Entry e = E(1, i);
    e.payload = Bytes(std::string(1000, 'a' + static_cast<char>(i)));
    entries.push_back(e);
  }
  Entry huge = E(1, 10);
  huge.payload = Bytes(std::string(10000, 'h'));
  entries.push_back(huge);
  // A restart with a whole partition committed but not applied.
  Solo s(c, HardState{Term(1), kNoNode}, entries);
  s.node->Campaign();
  std::vector<size_t> batches;
  Offset applied(-1);
  for (int round = 0; round < 100 && s.node->HasReady(); ++round) {
    Ready rd = s.node->GetReady();
    s.log.Append(rd.entries);
    size_t bytes = 0;
    for (const Entry& e : rd.committed_entries) {
      EXPECT_EQ(e.base_offset, applied + 1);
      applied = e.last_offset();
      bytes += e.payload_bytes();
    }
    if (!rd.committed_entries.empty()) {
      batches.push_back(rd.committed_entries.size());
      EXPECT_TRUE(bytes <= 2500 || rd.committed_entries.size() == 1) << bytes;
    }
    s.node->Advance(rd);
  }
  EXPECT_EQ(applied, Offset(11));  // all ten, the huge one (alone) and the no-op
  EXPECT_GE(batches.size(), 6u);
  EXPECT_EQ(batches.front(), 2u);
}

// A partition replica turns delivery off: a restart with a whole partition
// committed reads nothing back, and applied still follows the commit index.
TEST(RaftApplyTest, WithoutDeliveryNothingIsReadBackAndAppliedFollowsCommit) {
  Config c = MakeConfig(1, 1);
  c.deliver_committed_entries = false;
  std::vector<Entry> entries;
  for (int i = 0; i < 10; ++i) {
    Entry e = E(1, i);
    e.payload = Bytes(std::string(1000, 'a'));
    entries.push_back(e);
  }
  Solo s(c, HardState{Term(1), kNoNode}, entries);
  s.node->Campaign();
  int rounds = 0;
  for (; rounds < 100 && s.node->HasReady(); ++rounds) {
    Ready rd = s.node->GetReady();
    EXPECT_TRUE(rd.committed_entries.empty());
    s.log.Append(rd.entries);
    s.node->Advance(rd);
  }
  EXPECT_LT(rounds, 5) << "no Ready per slice of committed entries";
  EXPECT_EQ(s.node->commit(), Offset(10));  // the ten entries and the no-op
  EXPECT_EQ(s.node->applied(), Offset(10));
  EXPECT_FALSE(s.node->HasReady());
}

// --- Persistence in flight ----------------------------------------------------

TEST(RaftAsyncTest, LeaderAppendsLeaveBeforeItsOwnWrite) {  // node.h contract
  auto s = Leader();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = Offset(0);  // matched the no-op: pipeline mode
  ASSERT_TRUE(s->node->Step(ack).has_value());
  s->Process();
  ASSERT_TRUE(s->node->Propose(Bytes("x"), 1).has_value());
  Ready rd = s->node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_FALSE(OfType(rd.early_messages, MessageType::kAppend).empty());
  EXPECT_TRUE(OfType(rd.messages, MessageType::kAppend).empty());
  s->log.Append(rd.entries);
  s->node->Advance(rd);
}

TEST(RaftAsyncTest, LeaderCountsItselfOnlyAfterItsWriteEvenWhenAFollowerAcksFirst) {  // §5.3
  auto s = Leader();
  auto e = s->node->Propose(Bytes("x"), 1);
  ASSERT_TRUE(e.has_value());
  Ready rd = s->node->GetReady();
  // Follower 2 acks everything before the leader's own write finished.
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = e->last_offset();
  ASSERT_TRUE(s->node->Step(ack).has_value());
  EXPECT_LT(s->node->commit(), e->last_offset());  // one durable copy of three
  s->log.Append(rd.entries);
  s->node->Advance(rd);
  EXPECT_EQ(s->node->commit(), e->last_offset());  // leader's copy now counts
}

TEST(RaftAsyncTest, FollowersAloneCanCommitWhileTheLeaderWrites) {  // §5.3
  auto s = Leader();
  auto e = s->node->Propose(Bytes("x"), 1);
  ASSERT_TRUE(e.has_value());
  Ready rd = s->node->GetReady();
  for (int f : {2, 3}) {
    Message ack = Msg(MessageType::kAppendResponse, f, 1, 1);
    ack.offset = e->last_offset();
    ASSERT_TRUE(s->node->Step(ack).has_value());
  }
  EXPECT_EQ(s->node->commit(), e->last_offset());
  EXPECT_TRUE(rd.committed_entries.empty());
  s->log.Append(rd.entries);
  s->node->Advance(rd);
  Ready next = s->node->GetReady();  // applied only once durable locally too
  ASSERT_FALSE(next.committed_entries.empty());
  EXPECT_EQ(next.committed_entries.back().last_offset(), e->last_offset());
  s->node->Advance(next);
}

TEST(RaftAsyncTest, TruncationWhileWritingKeepsTheNewSuffixUnstable) {  // §5.3
  Solo s(MakeConfig(2, 3), HardState{Term(1), kNoNode});
  Message a = Msg(MessageType::kAppend, 1, 2, 1);
  a.entries = {E(1, 0), E(1, 1), E(1, 2)};
  ASSERT_TRUE(s.node->Step(a).has_value());
  Ready rd = s.node->GetReady();
  ASSERT_EQ(rd.entries.size(), 3u);
  // A new leader replaces offsets 1.. while the first write is in flight.
  Message b = Msg(MessageType::kAppend, 3, 2, 2);
  b.offset = Offset(0);
  b.log_term = Term(1);
  b.entries = {E(2, 1, 2)};
  ASSERT_TRUE(s.node->Step(b).has_value());
  EXPECT_FALSE(s.node->HasReady());  // one Ready at a time
  s.log.Append(rd.entries);
  s.node->Advance(rd);
  EXPECT_EQ(s.node->persisted(), Offset(0));
  Ready next = s.node->GetReady();
  ASSERT_EQ(next.entries.size(), 1u);
  EXPECT_EQ(next.entries[0].base_offset, Offset(1));
  s.log.Append(next.entries);
  s.node->Advance(next);
  EXPECT_EQ(s.log.LastPosition(), (LogPosition{Offset(2), Term(2)}));
  EXPECT_EQ(s.node->persisted(), Offset(2));
}

// --- fsync: interval, abstention ----------------------------------------------

TEST(RaftAbstainTest, NodeThatMayHaveLostAckedEntriesNeitherVotesNorCampaigns) {  // docs/replication.md §2
  Config c = MakeConfig(1, 3);
  c.abstain_through_term = Term(3);
  Solo s(c, HardState{Term(3), kNoNode}, {E(1, 0), E(3, 1)});
  EXPECT_TRUE(s.node->abstaining());
  Message v = Msg(MessageType::kVote, 2, 1, 4);
  v.offset = Offset(9);
  v.log_term = Term(3);
  ASSERT_TRUE(s.node->Step(v).has_value());
  auto out = OfType(s.Process(), MessageType::kVoteResponse);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  for (int i = 0; i < 5 * kElection; ++i) s.node->Tick();
  EXPECT_EQ(s.node->role(), Role::kFollower);
}

TEST(RaftAbstainTest, AbstainingNodeVotesAgainOnceItHoldsANewerLeadersEntry) {
  Config c = MakeConfig(1, 3);
  c.abstain_through_term = Term(3);
  Solo s(c, HardState{Term(3), kNoNode}, {E(1, 0), E(3, 1)});
  Message a = Msg(MessageType::kAppend, 2, 1, 4);
  a.offset = Offset(1);
  a.log_term = Term(3);
  a.entries = {E(4, 2)};
  ASSERT_TRUE(s.node->Step(a).has_value());
  s.Process();
  EXPECT_FALSE(s.node->abstaining());
}

TEST(RaftAbstainTest, AbstainingNodeTakesHeartbeatCommitOnlyAsFarAsAnAppendVerified) {
  // It lost entries it acked; the leader's match for it may be stale, so a
  // heartbeat's commit must not reach its (possibly different) tail.
  Config c = MakeConfig(1, 3);
  c.abstain_through_term = Term(2);
  Solo s(c, HardState{Term(2), kNoNode}, {E(1, 0), E(2, 1), E(2, 2)});
  Message hb = Msg(MessageType::kHeartbeat, 2, 1, 2);
  hb.commit = Offset(2);
  ASSERT_TRUE(s.node->Step(hb).has_value());
  EXPECT_EQ(s.node->commit(), Offset(-1));
  Message a = Msg(MessageType::kAppend, 2, 1, 2);
  a.offset = Offset(1);
  a.log_term = Term(2);
  a.commit = Offset(0);
  ASSERT_TRUE(s.node->Step(a).has_value());  // verifies our log up to offset 1
  ASSERT_TRUE(s.node->Step(hb).has_value());
  EXPECT_EQ(s.node->commit(), Offset(1));
}

TEST(RaftAbstainTest, AbstainingNodeTellsAStaleLeaderItsTerm) {  // §5.1
  // Without pre-vote and check-quorum a node answers a stale leader through
  // its own next campaign; an abstaining node does not campaign.
  Config c = MakeConfig(1, 3);
  c.pre_vote = false;
  c.check_quorum = false;
  c.abstain_through_term = Term(5);
  Solo s(c, HardState{Term(5), kNoNode}, {E(1, 0)});
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kHeartbeat, 2, 1, 3)).has_value());
  auto out = OfType(s.Process(), MessageType::kAppendResponse);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].term, Term(5));
}

TEST(RaftReplicationTest, LeaderForgetsAMatchTheFollowerRejects) {  // §5.3
  // A follower that lost acked entries (fsync: interval) rejects an append
  // at its old match; the leader must probe below it rather than stall.
  auto s = Leader();
  ASSERT_TRUE(s->node->Propose(Bytes("x"), 1).has_value());
  ASSERT_TRUE(s->node->Propose(Bytes("y"), 1).has_value());
  s->Process();
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.offset = Offset(2);
  ASSERT_TRUE(s->node->Step(ack).has_value());
  s->Process();
  Message rej = Msg(MessageType::kAppendResponse, 2, 1, 1);
  rej.reject = true;
  rej.offset = Offset(2);
  rej.reject_hint = Offset(0);
  rej.log_term = Term(1);  // it still holds the no-op
  ASSERT_TRUE(s->node->Step(rej).has_value());
  auto appends = OfType(s->Process(), MessageType::kAppend);
  ASSERT_FALSE(appends.empty());
  EXPECT_EQ(appends.back().offset, Offset(0));  // probes after the hint
}

TEST(RaftAsyncTest, UnsentAckIsDroppedWhenANewerLeaderCutsItsEntries) {  // §5.3, Figure 2
  Solo s(MakeConfig(2, 3), HardState{Term(1), kNoNode});
  Message a = Msg(MessageType::kAppend, 1, 2, 1);
  a.entries = {E(1, 0), E(1, 1), E(1, 2)};
  ASSERT_TRUE(s.node->Step(a).has_value());  // ack(2) waits for the write
  Message b = Msg(MessageType::kAppend, 3, 2, 2);
  b.offset = Offset(0);
  b.log_term = Term(1);
  b.entries = {E(2, 1)};
  ASSERT_TRUE(s.node->Step(b).has_value());  // cuts offsets 1..2 before any write
  for (const Message& m : OfType(s.Process(), MessageType::kAppendResponse)) {
    EXPECT_FALSE(m.to == NodeId(1) && m.offset >= Offset(1)) << "acked offsets no longer held";
  }
  EXPECT_EQ(s.log.LastPosition(), (LogPosition{Offset(1), Term(2)}));
}

// --- Thesis §4.2.1 learners (non-voting members) ----------------------------

// Node `id` of a group of voters 1..voters and learners voters+1..voters+learners.
Config LearnerGroupConfig(int id, int voters, int learners) {
  Config c = MakeConfig(id, voters);
  for (int l = voters + 1; l <= voters + learners; ++l) c.learners.push_back(NodeId(l));
  return c;
}

size_t SentFrom(const std::vector<Message>& msgs, size_t from_index, int node) {
  size_t n = 0;
  for (size_t i = from_index; i < msgs.size(); ++i) n += msgs[i].from == NodeId(node) ? 1 : 0;
  return n;
}

TEST(RaftLearnerTest, LearnerReceivesEntriesAndLearnsTheCommit) {  // thesis §4.2.1
  Group g(3, 1);
  g.Elect(1);
  auto e = g.Propose(1, "a", 3);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(g.node(4).is_learner());
  EXPECT_FALSE(g.node(1).is_learner());
  EXPECT_EQ(g.node(4).role(), Role::kFollower);
  EXPECT_EQ(g.node(4).leader(), NodeId(1));
  EXPECT_EQ(g.log(4).LastPosition(), g.log(1).LastPosition());
  EXPECT_EQ(g.node(1).MatchOf(NodeId(4)), e->last_offset());
  g.Tick(1);  // the heartbeat carries the commit
  EXPECT_EQ(g.node(4).commit(), e->last_offset());
  ASSERT_EQ(g.applied(4).size(), 2u);  // the leader's no-op, then "a"
  EXPECT_EQ(g.applied(4)[1].payload.view(), "a");
}

TEST(RaftLearnerTest, VoterMajorityCommitsWhileAllLearnersAreDown) {  // thesis §4.2.1, §5.3
  Group g(3, 2);
  g.Elect(1);
  g.Cut(3);
  g.Cut(4);
  g.Cut(5);
  auto e = g.Propose(1, "a");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(g.node(1).commit(), e->last_offset());
  EXPECT_LT(g.node(1).MatchOf(NodeId(4)), e->last_offset());  // only the no-op reached it
}

TEST(RaftLearnerTest, LearnersDoNotMakeAMajority) {  // thesis §4.2.1, §5.3
  Group g(3, 2);
  g.Elect(1);
  const Offset before = g.node(1).commit();
  g.Cut(2);
  g.Cut(3);
  auto e = g.Propose(1, "a");
  ASSERT_TRUE(e.has_value());
  // Both learners hold it durably; with the leader that is 3 of 5 members,
  // but only 1 of 3 voters.
  EXPECT_EQ(g.node(1).MatchOf(NodeId(4)), e->last_offset());
  EXPECT_EQ(g.node(1).MatchOf(NodeId(5)), e->last_offset());
  EXPECT_EQ(g.node(1).commit(), before);
  g.Tick(1);
  EXPECT_EQ(g.node(4).commit(), before);
  g.Heal();
  g.Tick(1, 3);  // heartbeats find the voters behind and re-send
  EXPECT_EQ(g.node(1).commit(), e->last_offset());
}

TEST(RaftLearnerTest, LearnerAckDoesNotCountTowardsCommit) {  // thesis §4.2.1
  Config c = LearnerGroupConfig(1, 3, 1);
  Solo s(c);
  s.node->Campaign();
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kPreVoteResponse, 2, 1, 1)).has_value());
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVoteResponse, 2, 1, 1)).has_value());
  auto out = s.Process();
  ASSERT_EQ(s.node->role(), Role::kLeader);
  // The leader's no-op went to the learner too.
  bool to_learner = false;
  for (const Message& m : OfType(out, MessageType::kAppend)) to_learner |= m.to == NodeId(4);
  EXPECT_TRUE(to_learner);
  Message ack = Msg(MessageType::kAppendResponse, 4, 1, 1);
  ack.offset = Offset(0);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  EXPECT_EQ(s.node->MatchOf(NodeId(4)), Offset(0));
  EXPECT_EQ(s.node->commit(), Offset(-1));  // leader + learner: not a majority of 3 voters
  ack.from = NodeId(2);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  EXPECT_EQ(s.node->commit(), Offset(0));
}

TEST(RaftLearnerTest, LearnersDoNotKeepALeaderInPower) {  // thesis §6.2, §4.2.1
  Group g(3, 2);
  g.Elect(1);
  g.Cut(2);
  g.Cut(3);
  // The learners keep answering heartbeats; check-quorum counts voters only.
  g.Tick(1, 2 * kElection);
  EXPECT_EQ(g.node(1).role(), Role::kFollower);
}

TEST(RaftLearnerTest, IsolatedLearnerNeverCampaigns) {  // thesis §4.2.1
  Group g(3, 1);
  g.Elect(1);
  const Term term = g.node(1).term();
  g.Cut(4);
  const size_t mark = g.sent().size();
  g.Tick(4, 100 * kElection);
  g.node(4).Campaign();
  g.Stabilize();
  EXPECT_EQ(g.node(4).role(), Role::kFollower);
  EXPECT_EQ(g.node(4).term(), term);
  EXPECT_EQ(SentFrom(g.sent(), mark, 4), 0u);  // no pre-vote, no vote request
  g.Heal();
  g.TickAll(2);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
  EXPECT_EQ(g.node(1).term(), term);
  EXPECT_EQ(g.node(4).leader(), NodeId(1));
}

TEST(RaftLearnerTest, LearnerWithoutALeaderNeverCampaigns) {  // thesis §4.2.1
  Solo s(LearnerGroupConfig(4, 3, 1));
  for (int i = 0; i < 100 * kElection; ++i) s.node->Tick();
  s.node->Campaign();
  EXPECT_TRUE(s.Process().empty());
  EXPECT_EQ(s.node->role(), Role::kFollower);
  EXPECT_EQ(s.node->term(), Term(0));
}

TEST(RaftLearnerTest, LearnerIgnoresTimeoutNow) {  // thesis §3.10, §4.2.1
  Group g(3, 1);
  g.Elect(1);
  const Term term = g.node(1).term();
  ASSERT_TRUE(g.node(4).Step(Msg(MessageType::kTimeoutNow, 1, 4, term.value())).has_value());
  g.Stabilize();
  EXPECT_EQ(g.node(4).role(), Role::kFollower);
  EXPECT_EQ(g.node(4).term(), term);
  EXPECT_EQ(g.node(1).role(), Role::kLeader);
}

TEST(RaftLearnerTest, LearnerIgnoresVoteRequests) {  // thesis §4.2.1
  Solo s(LearnerGroupConfig(4, 3, 1));
  for (MessageType type : {MessageType::kPreVote, MessageType::kVote}) {
    Message v = Msg(type, 2, 4, 5);
    v.offset = Offset(100);
    v.log_term = Term(4);
    ASSERT_TRUE(s.node->Step(v).has_value());
    EXPECT_TRUE(s.Process().empty()) << MessageTypeName(type);
    EXPECT_EQ(s.node->term(), Term(0));
    EXPECT_EQ(s.node->vote(), kNoNode);
  }
}

TEST(RaftLearnerTest, CandidateAsksOnlyVotersAndRejectsALearnersVote) {  // thesis §4.2.1, §5.2
  Config c = LearnerGroupConfig(1, 3, 1);
  c.pre_vote = false;
  Solo s(c);
  s.node->Campaign();
  auto requests = OfType(s.Process(), MessageType::kVote);
  ASSERT_EQ(requests.size(), 2u);
  for (const Message& m : requests) EXPECT_NE(m.to, NodeId(4));
  // A grant claiming to come from the learner would make 2 of 3 with our own.
  Message grant = Msg(MessageType::kVoteResponse, 4, 1, 1);
  ExpectRejected(s, grant, Errc::kInvalidArgument);
  EXPECT_EQ(s.node->role(), Role::kCandidate);
  grant.from = NodeId(2);
  ASSERT_TRUE(s.node->Step(grant).has_value());
  EXPECT_EQ(s.node->role(), Role::kLeader);
}

TEST(RaftLearnerTest, TransferToALearnerIsRefused) {  // thesis §3.10, §4.2.1
  Group g(3, 1);
  g.Elect(1);
  auto r = g.node(1).TransferLeadership(NodeId(4));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(r.error().message().find("learner"), std::string::npos) << r.error().message();
  EXPECT_EQ(g.node(1).transfer_target(), kNoNode);
  EXPECT_TRUE(g.Propose(1, "still leading").has_value());
  auto unknown = g.node(1).TransferLeadership(NodeId(9));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), Errc::kInvalidArgument);
}

TEST(RaftLearnerTest, LearnerSendsOnlyResponsesAndUnknownNodesAreStillRejected) {  // thesis §4.2.1
  Solo s(LearnerGroupConfig(1, 3, 1));
  s.node->Campaign();
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kPreVoteResponse, 2, 1, 1)).has_value());
  s.Process();
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kVoteResponse, 2, 1, 1)).has_value());
  s.Process();
  ASSERT_EQ(s.node->role(), Role::kLeader);
  ASSERT_TRUE(s.node->Step(Msg(MessageType::kHeartbeatResponse, 4, 1, 1)).has_value());
  Message ack = Msg(MessageType::kAppendResponse, 4, 1, 1);
  ack.offset = Offset(0);
  Message unknown = ack;
  unknown.from = NodeId(9);
  ExpectRejected(s, unknown, Errc::kInvalidArgument);
  ExpectRejected(s, Msg(MessageType::kHeartbeatResponse, 9, 1, 1), Errc::kInvalidArgument);
  // From a learner, anything but an answer is forged, whatever its term.
  ExpectRejected(s, Msg(MessageType::kHeartbeat, 4, 1, 5), Errc::kInvalidArgument);
  ExpectRejected(s, Msg(MessageType::kPreVote, 4, 1, 2), Errc::kInvalidArgument);
  ExpectRejected(s, Msg(MessageType::kTimeoutNow, 4, 1, 1), Errc::kInvalidArgument);
  ASSERT_TRUE(s.node->Step(ack).has_value());
  EXPECT_EQ(s.node->MatchOf(NodeId(4)), Offset(0));
}

TEST(RaftLearnerTest, LaggingLearnerCatchesUpFromTheLeaderLogStart) {  // thesis §4.2.1, DESIGN §2.3
  Group g(3, 1);
  g.Elect(1);
  g.Cut(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(g.Propose(1, std::string("r").append(std::to_string(i)), 2).has_value());
  const Offset commit = g.node(1).commit();
  g.log(1).TruncatePrefix(Offset(5));
  g.Heal();
  g.Tick(1, 3);
  EXPECT_EQ(g.log(4).StartOffset(), Offset(5));
  EXPECT_EQ(g.log(4).LastPosition(), g.log(1).LastPosition());
  EXPECT_EQ(g.node(4).commit(), commit);
}

TEST(RaftLearnerDeathTest, LearnerThatIsAlsoAVoterIsABug) {
  Config c = LearnerGroupConfig(1, 3, 0);
  c.learners = {NodeId(3)};
  MemoryLog log;
  EXPECT_DEATH(Node(c, &log, HardState{}), "learner cannot also be a voter");
}

TEST(RaftMutationTest, MutantHooksAreOffInTheRealLibrary) { EXPECT_EQ(detail::MutantId(), 0); }

}  // namespace
}  // namespace telemq::raft
