#include "broker/raft/node.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "telemq/common/check.h"

// The mutation check (tests/sim/CMakeLists.txt) compiles copies of this file
// with one classic Raft bug switched on; the real library never defines it.
#ifndef TELEMQ_RAFT_MUTANT
#define TELEMQ_RAFT_MUTANT 0
#endif
#define TELEMQ_MUTANT(n) (TELEMQ_RAFT_MUTANT == (n))

namespace telemq::raft {

namespace detail {
int MutantId() { return TELEMQ_RAFT_MUTANT; }
}  // namespace detail

namespace {

// Largest offset or term a peer may send. Far above anything real and far
// from int64 overflow, so base + record_count and term + 1 stay defined.
constexpr int64_t kMaxWireValue = int64_t{1} << 62;

std::string Str(int64_t v) { return std::to_string(v); }

bool KnownType(MessageType type) {
  return static_cast<uint8_t>(type) <= static_cast<uint8_t>(MessageType::kTimeoutNow);
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResponse: return "PreVoteResp";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResponse: return "VoteResp";
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResponse: return "AppendResp";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResponse: return "HeartbeatResp";
    case MessageType::kRestart: return "Restart";
    case MessageType::kTimeoutNow: return "TimeoutNow";
  }
  return "?";
}

Node::Node(Config config, const LogReader* log, HardState hard_state) : config_(std::move(config)), log_(log) {
  TELEMQ_CHECK(config_.id > kNoNode, "node id must be positive");
  TELEMQ_CHECK(!config_.voters.empty(), "a group needs at least one voter");
  for (NodeId l : config_.learners) {
    TELEMQ_CHECK(l > kNoNode, "learner ids must be positive");
    TELEMQ_CHECK(!IsVoter(l), "a learner cannot also be a voter");
    TELEMQ_CHECK(std::count(config_.learners.begin(), config_.learners.end(), l) == 1, "duplicate learner");
  }
  learner_ = IsLearner(config_.id);
  TELEMQ_CHECK(IsVoter(config_.id) || learner_, "a node must be one of its group's voters or learners");
  TELEMQ_CHECK(config_.random != nullptr, "Config::random is required");
  TELEMQ_CHECK(config_.heartbeat_ticks >= 1 && config_.heartbeat_ticks < config_.election_ticks,
               "need 1 <= heartbeat_ticks < election_ticks");
  TELEMQ_CHECK(log_ != nullptr, "log is required");
  term_ = hard_state.term;
  vote_ = hard_state.vote;
  persisted_hard_state_ = hard_state;
  unstable_base_ = log_->NextOffset();
  persisted_last_ = unstable_base_ - 1;
  // Everything below the log start was committed (retention removes only
  // committed entries); entries the application applied were committed too.
  commit_ = std::max(log_->StartOffset() - 1, std::min(config_.applied, LastOffset()));
  applied_ = std::max(config_.applied, log_->StartOffset() - 1);
  if (applied_ > commit_) applied_ = commit_;
  ResetElectionTimer();
}

// ---------------------------------------------------------------------------
// Log view

Offset Node::LastOffset() const { return unstable_.empty() ? unstable_base_ - 1 : unstable_.back().last_offset(); }

Offset Node::StartOffsetView() const { return reset_ ? reset_->offset + 1 : log_->StartOffset(); }

Result<EntryMeta> Node::LookupView(Offset offset) const {
  if (offset >= unstable_base_) {
    if (unstable_.empty() || offset > unstable_.back().last_offset()) {
      return Fail(Errc::kOffsetOutOfRange, "beyond the log end");
    }
    auto it = std::upper_bound(unstable_.begin(), unstable_.end(), offset,
                               [](Offset o, const Entry& e) { return o < e.base_offset; });
    const Entry& e = *(it - 1);
    return EntryMeta{e.base_offset, e.last_offset(), e.term};
  }
  if (reset_) {
    if (offset == reset_->offset) return EntryMeta{offset, offset, reset_->term};
    return Fail(Errc::kOffsetOutOfRange, "below the log start");
  }
  return log_->Lookup(offset);
}

Term Node::TermAtOrZero(Offset offset) const {
  auto meta = LookupView(offset);
  return meta ? meta->term : Term(0);
}

Offset Node::MatchOf(NodeId peer) const {
  if (role_ != Role::kLeader || peer == config_.id) return Offset(-1);
  auto it = progress_.find(peer);
  return it == progress_.end() ? Offset(-1) : it->second.match;
}

bool Node::IsVoter(NodeId id) const {
  return std::find(config_.voters.begin(), config_.voters.end(), id) != config_.voters.end();
}

bool Node::IsLearner(NodeId id) const {
  return std::find(config_.learners.begin(), config_.learners.end(), id) != config_.learners.end();
}

LogPosition Node::LastPosition() const {
  Offset last = LastOffset();
  return LogPosition{last, TermAtOrZero(last)};
}

void Node::ReadView(Offset from, Offset last, size_t max_bytes, std::vector<Entry>* out) const {
  size_t first_index = out->size();
  if (from < unstable_base_) {
    TELEMQ_CHECK(!reset_, "no durable entries to read during a log reset");
    Offset stable_last = std::min(last, unstable_base_ - 1);
    auto read = log_->Read(from, stable_last, max_bytes, out);
    TELEMQ_CHECK(read.has_value(), "the log must hold every entry the node has not released");
    if (out->size() == first_index || out->back().last_offset() < stable_last) return;
    from = unstable_base_;
  }
  size_t bytes = 0;
  for (size_t i = first_index; i < out->size(); ++i) bytes += (*out)[i].payload_bytes();
  auto it = std::lower_bound(unstable_.begin(), unstable_.end(), from,
                             [](const Entry& e, Offset o) { return e.base_offset < o; });
  for (; it != unstable_.end() && it->base_offset <= last; ++it) {
    bytes += it->payload_bytes();
    if (out->size() > first_index && bytes > max_bytes) break;
    out->push_back(*it);
  }
}

void Node::TruncateView(Offset from) {
  // Raft §5.3: a conflicting entry and all that follow it are deleted. A
  // committed entry can never conflict (Leader Completeness, §5.4).
  TELEMQ_CHECK(from > commit_, "truncating a committed entry");
  if (from >= unstable_base_) {
    auto it = std::lower_bound(unstable_.begin(), unstable_.end(), from,
                               [](const Entry& e, Offset o) { return e.base_offset < o; });
    unstable_.erase(it, unstable_.end());
  } else {
    unstable_.clear();
    unstable_base_ = from;
  }
  persisted_last_ = std::min(persisted_last_, from - 1);
  if (in_ready_) cut_since_ready_ = std::min(cut_since_ready_, from);
  // An ack not yet sent (it waits for the next Ready's write) that covers
  // the cut entries would claim offsets our log no longer holds as acked:
  // drop it; its (older-term) leader retries or is deposed.
  std::erase_if(msgs_, [from](const Message& m) {
    return m.type == MessageType::kAppendResponse && !m.reject && m.offset >= from;
  });
}

void Node::AppendView(const Entry& entry) {
  TELEMQ_CHECK(entry.base_offset == LastOffset() + 1, "entries must be contiguous");
  TELEMQ_CHECK(entry.record_count >= 1, "an entry occupies at least one offset");
  unstable_.push_back(entry);
}

// ---------------------------------------------------------------------------
// Roles

void Node::ResetElectionTimer() {
  election_elapsed_ = 0;
  // Raft §5.2: randomised timeouts make split votes rare.
  uint64_t r = config_.random();
  randomized_election_ticks_ =
      config_.election_ticks + static_cast<int>(r % static_cast<uint64_t>(config_.election_ticks));
}

void Node::ResetTerm(Term term) {
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  heartbeat_elapsed_ = 0;
  append_match_ = Offset(-1);
  leader_commit_ = Offset(-1);
  ResetElectionTimer();
  votes_.clear();
  progress_.clear();
  transferee_ = kNoNode;
}

void Node::BecomeFollower(Term term, NodeId leader) {
  ResetTerm(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Node::BecomePreCandidate() {
  // Thesis §9.6: a pre-vote changes neither the term nor the vote.
  TELEMQ_CHECK(role_ != Role::kLeader, "a leader does not pre-campaign");
  votes_.clear();
  progress_.clear();
  leader_ = kNoNode;
  role_ = Role::kPreCandidate;
  ResetElectionTimer();
}

void Node::BecomeCandidate() {
  TELEMQ_CHECK(role_ != Role::kLeader, "a leader does not campaign");
  ResetTerm(term_ + 1);
  vote_ = config_.id;  // §5.2: a candidate votes for itself
  role_ = Role::kCandidate;
  ++elections_started_;
}

void Node::BecomeLeader() {
  TELEMQ_CHECK(role_ == Role::kCandidate, "only a candidate becomes leader");
  ResetTerm(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  Offset next = LastOffset() + 1;
  for (NodeId v : config_.voters) {
    Progress& pr = progress_[v];
    pr.next = next;
    if (v == config_.id) {
      pr.match = persisted_last_;
      pr.recent_active = true;
      pr.state = ProgressState::kReplicate;
    }
  }
  // Thesis §4.2.1: learners are replicated to like followers; only
  // MaybeCommit, QuorumActive and Poll tell them apart.
  for (NodeId l : config_.learners) progress_[l].next = next;
  // Raft §8 / §5.4.2: a leader cannot count replicas of older-term entries,
  // so it commits them by committing an entry of its own term at once.
  Entry noop;
  noop.term = term_;
  noop.base_offset = next;
  noop.record_count = 1;
  noop.type = EntryType::kNoop;
  AppendView(noop);
  broadcast_pending_ = true;
}

bool Node::abstaining() const {
  if (TELEMQ_MUTANT(13)) return false;  // mutant: a node that lost acked data votes at once
  return config_.abstain_through_term > Term(0) && LastPosition().term <= config_.abstain_through_term;
}

void Node::Campaign() {
  if (role_ == Role::kLeader) return;
  // A learner has no vote, not even its own (thesis §4.2.1).
  if (learner_ && !TELEMQ_MUTANT(15)) return;  // mutant 15: a learner campaigns
  // A node that may have lost entries it acknowledged would vote for itself
  // without them (Config::abstain_through_term).
  if (abstaining()) return;
  CampaignAs(config_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kElection);
}

void Node::CampaignAs(CampaignKind kind) {
  Term vote_term;
  MessageType type;
  if (kind == CampaignKind::kPreVote) {
    BecomePreCandidate();
    vote_term = term_ + 1;
    type = MessageType::kPreVote;
  } else {
    const auto pre_votes = TELEMQ_MUTANT(12) ? votes_ : decltype(votes_){};
    BecomeCandidate();
    if (TELEMQ_MUTANT(12)) {
      // mutant: pre-vote grants (which promise nothing) are counted as votes
      for (const auto& [id, granted] : pre_votes) votes_.emplace(id, granted);
    }
    vote_term = term_;
    type = MessageType::kVote;
  }
  if (int outcome = Poll(config_.id, true); outcome > 0) {
    // A group of one wins at once.
    if (kind == CampaignKind::kPreVote) {
      CampaignAs(CampaignKind::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  LogPosition last = LastPosition();
  for (NodeId v : config_.voters) {
    if (v == config_.id) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = vote_term;
    m.offset = last.offset;
    m.log_term = last.term;
    m.transfer = kind == CampaignKind::kTransfer;
    Send(std::move(m));
  }
}

int Node::Poll(NodeId from, bool granted) {
  if (!IsVoter(from)) return 0;   // Step rejects votes from learners; never count one
  votes_.emplace(from, granted);  // the first answer from a voter counts
  int yes = 0;
  int no = 0;
  for (const auto& [id, g] : votes_) (g ? yes : no)++;
  if (yes >= Quorum()) return 1;
  if (no > static_cast<int>(config_.voters.size()) - Quorum()) return -1;
  return 0;
}

bool Node::InLease() const {
  // Thesis §4.2.3: a server that heard from a current leader within the
  // minimum election timeout ignores requests to replace it.
  return config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks;
}

void Node::Send(Message message) {
  message.from = config_.id;
  msgs_.push_back(std::move(message));
}

// ---------------------------------------------------------------------------
// Inputs

void Node::Tick() {
  if (role_ != Role::kLeader) {
    if (learner_ && !TELEMQ_MUTANT(15)) {
      // Never campaigns; the count only feeds InLease (bounded, no overflow).
      election_elapsed_ = std::min(election_elapsed_ + 1, config_.election_ticks);
      return;
    }
    if (++election_elapsed_ >= randomized_election_ticks_) Campaign();
    return;
  }
  ++heartbeat_elapsed_;
  if (++election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      // Thesis §6.2: a leader that cannot reach a majority steps down, so
      // clients stop sending it writes it cannot commit.
      if (!QuorumActive()) {
        BecomeFollower(term_, kNoNode);
        return;
      }
      for (auto& [id, pr] : progress_) pr.recent_active = id == config_.id;
    }
    transferee_ = kNoNode;  // a transfer that did not finish in time is abandoned
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    SendHeartbeats();
  }
}

Result<Entry> Node::Propose(Payload payload, int32_t record_count) {
  if (role_ != Role::kLeader) {
    return Fail(Errc::kNotLeader, "not the leader; leader is " + std::to_string(leader_.value()));
  }
  if (transferee_ != kNoNode) {
    return Fail(Errc::kNotLeader, "leadership transfer in progress");
  }
  if (record_count < 1) return Fail(Errc::kInvalidArgument, "record_count must be >= 1");
  Entry e;
  e.term = term_;
  e.base_offset = LastOffset() + 1;
  e.record_count = record_count;
  e.type = EntryType::kNormal;
  e.payload = std::move(payload);
  AppendView(e);
  broadcast_pending_ = true;  // sent in GetReady: proposals since the last Ready share messages
  return e;
}

Result<void> Node::TransferLeadership(NodeId target) {
  if (role_ != Role::kLeader) return Fail(Errc::kNotLeader, "only the leader can transfer");
  if (IsLearner(target)) {
    return Fail(Errc::kInvalidArgument,
                "transfer target " + Str(target.value()) + " is a learner; only voters can lead (thesis §4.2.1)");
  }
  if (!IsVoter(target)) {
    return Fail(Errc::kInvalidArgument, "transfer target " + Str(target.value()) + " is not a voter of this group");
  }
  if (target == config_.id) return Ok();
  transferee_ = target;
  election_elapsed_ = 0;  // the transfer has one election timeout to finish
  Progress& pr = progress_[target];
  if (pr.match == LastOffset()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target, true);
  }
  return Ok();
}

Result<void> Node::ValidateShape(const Message& m) const {
  if (!KnownType(m.type)) {
    return Fail(Errc::kInvalidArgument, "unknown message type " + Str(static_cast<uint8_t>(m.type)));
  }
  const std::string what(MessageTypeName(m.type));
  if (m.to != config_.id) {
    return Fail(Errc::kInvalidArgument,
                what + " addressed to node " + Str(m.to.value()) + ", this is node " + Str(config_.id.value()));
  }
  if (m.from == config_.id) return Fail(Errc::kInvalidArgument, what + " claims to come from this node itself");
  if (IsLearner(m.from)) {
    // A learner only answers a leader's appends and heartbeats (thesis
    // §4.2.1): a vote, a grant or an append from one is never legitimate.
    if (m.type != MessageType::kAppendResponse && m.type != MessageType::kHeartbeatResponse) {
      return Fail(Errc::kInvalidArgument, what + " from node " + Str(m.from.value()) +
                                              ", a learner (learners send only AppendResp and "
                                              "HeartbeatResp)");
    }
  } else if (!IsVoter(m.from)) {
    return Fail(Errc::kInvalidArgument,
                what + " from node " + Str(m.from.value()) + ", not a voter or learner of this group");
  }
  // Every sender has a term >= 1, except a node that never saw one rejecting
  // a pre-vote (it answers with its own term, 0).
  const bool term_zero_ok = m.type == MessageType::kPreVoteResponse && m.reject;
  if (m.term.value() < (term_zero_ok ? 0 : 1) || m.term.value() > kMaxWireValue) {
    return Fail(Errc::kCorrupt, what + " with term " + Str(m.term.value()));
  }
  if (m.log_term.value() < 0 || m.log_term > m.term) {
    return Fail(Errc::kCorrupt, what + " with log term " + Str(m.log_term.value()) + " outside [0, message term " +
                                    Str(m.term.value()) + "]");
  }
  for (auto [name, o] : {std::pair{"offset", m.offset}, {"commit", m.commit}, {"reject hint", m.reject_hint}}) {
    if (o.value() < -1 || o.value() > kMaxWireValue) {
      return Fail(Errc::kCorrupt, what + " with " + name + " " + Str(o.value()) + " out of range");
    }
  }
  if (m.type != MessageType::kAppend && !m.entries.empty()) {
    return Fail(Errc::kCorrupt, what + " carries entries; only Append does");
  }
  switch (m.type) {
    case MessageType::kRestart:
      if (m.offset < Offset(0)) return Fail(Errc::kCorrupt, "Restart at log start 0 or below");
      break;
    case MessageType::kAppendResponse:
      if (m.reject && m.reject_hint > m.offset) {
        return Fail(Errc::kCorrupt, "AppendResp rejection hints " + Str(m.reject_hint.value()) +
                                        " beyond the rejected offset " + Str(m.offset.value()));
      }
      break;
    case MessageType::kAppend: {
      // The entries follow prev without gap or overlap, each occupies at
      // least one offset, and terms never decrease along a log.
      Offset next = m.offset + 1;
      Term term = m.log_term;
      for (size_t i = 0; i < m.entries.size(); ++i) {
        const Entry& e = m.entries[i];
        const std::string at = "Append entry " + Str(static_cast<int64_t>(i)) + " ";
        if (e.base_offset != next) {
          return Fail(Errc::kCorrupt, at + "at offset " + Str(e.base_offset.value()) + ", expected " +
                                          Str(next.value()) + " (entries must follow prev contiguously)");
        }
        if (e.record_count < 1) {
          return Fail(Errc::kCorrupt, at + "with record count " + Str(e.record_count) + " (must be >= 1)");
        }
        if (e.base_offset.value() > kMaxWireValue - e.record_count) {
          return Fail(Errc::kCorrupt, at + "ends beyond the largest offset");
        }
        if (e.term < term || e.term > m.term || e.term < Term(1)) {
          return Fail(Errc::kCorrupt, at + "with term " + Str(e.term.value()) + " outside [" + Str(term.value()) +
                                          ", message term " + Str(m.term.value()) + "]");
        }
        if (e.type != EntryType::kNormal && e.type != EntryType::kNoop) {
          return Fail(Errc::kCorrupt, at + "of unknown type " + Str(static_cast<uint8_t>(e.type)));
        }
        if (e.type == EntryType::kNoop && e.record_count != 1) {
          return Fail(Errc::kCorrupt, at + "is a no-op covering " + Str(e.record_count) + " offsets");
        }
        next = e.last_offset() + 1;
        term = e.term;
      }
      break;
    }
    default: break;
  }
  return Ok();
}

// The follower side of an append, on the view as it is: what HandleAppend
// would truncate, match and commit must be consistent with what this node
// holds and knows to be committed. A correct leader never fails these
// (Log Matching and Leader Completeness, §5.3-5.4).
Result<void> Node::ValidateAppend(const Message& m) const {
  if (m.offset < commit_) return Ok();  // answered with our commit, nothing changes
  auto prev = LookupView(m.offset);
  if (!prev || prev->term != m.log_term || prev->last_offset != m.offset) return Ok();  // rejected politely
  Offset match = m.offset;
  Offset cut = Offset(kMaxWireValue);
  for (const Entry& e : m.entries) {
    if (e.base_offset > LastOffset() || cut <= e.base_offset) break;
    auto mine = LookupView(e.base_offset);
    if (!mine) break;
    if (mine->term == e.term) {
      if (mine->base_offset != e.base_offset || mine->last_offset != e.last_offset()) {
        return Fail(Errc::kCorrupt, "Append entry [" + Str(e.base_offset.value()) + ".." +
                                        Str(e.last_offset().value()) + "] of term " + Str(e.term.value()) +
                                        " disagrees with ours [" + Str(mine->base_offset.value()) + ".." +
                                        Str(mine->last_offset.value()) + "] of the same term");
      }
      match = e.last_offset();
      continue;
    }
    if (e.base_offset <= commit_) {
      return Fail(Errc::kCorrupt, "Append would truncate committed offset " + Str(e.base_offset.value()) + " (commit " +
                                      Str(commit_.value()) + ")");
    }
    if (mine->base_offset != e.base_offset) {
      return Fail(Errc::kCorrupt, "Append conflicts inside our entry [" + Str(mine->base_offset.value()) + ".." +
                                      Str(mine->last_offset.value()) + "] at offset " + Str(e.base_offset.value()));
    }
    cut = e.base_offset;
  }
  if (!m.entries.empty()) match = m.entries.back().last_offset();
  // The new commit must end an entry of the resulting log, or applying it
  // would hand out records beyond it.
  Offset c = std::min(m.commit, match);
  if (c > commit_ && c > m.offset) {
    bool boundary = false;
    for (const Entry& e : m.entries) boundary |= e.last_offset() == c;
    if (!boundary) return Fail(Errc::kCorrupt, "Append commit " + Str(c.value()) + " is inside an entry");
  } else if (c > commit_) {
    auto meta = LookupView(c);
    if (!meta || meta->last_offset != c) {
      return Fail(Errc::kCorrupt, "Append commit " + Str(c.value()) + " is inside an entry");
    }
  }
  return Ok();
}

// The leader side: an answer can only speak of entries this leader sent.
Result<void> Node::ValidateAck(const Message& m) const {
  const Offset last = LastOffset();
  if (m.offset > last) {
    return Fail(Errc::kCorrupt, std::string(MessageTypeName(m.type)) + (m.reject ? " rejects" : " acks") + " offset " +
                                    Str(m.offset.value()) + " beyond our last " + Str(last.value()));
  }
  if (!m.reject && m.offset >= StartOffsetView() - 1) {
    auto meta = LookupView(m.offset);
    if (!meta || meta->last_offset != m.offset) {
      return Fail(Errc::kCorrupt, "AppendResp acks offset " + Str(m.offset.value()) + ", inside one of our entries");
    }
  }
  return Ok();
}

// Mirrors the routing of Step: only what would actually be handled is
// checked against the state, and before the term or role changes.
Result<void> Node::ValidateForState(const Message& m) const {
  if (m.term < term_) return Ok();
  switch (m.type) {
    case MessageType::kAppend:
      if (m.term == term_ && role_ == Role::kLeader) return Ok();  // ignored
      return ValidateAppend(m);
    case MessageType::kHeartbeat: {
      if (m.term == term_ && role_ == Role::kLeader) return Ok();
      Offset c = HeartbeatCommit(m);
      if (c > commit_) {
        auto meta = LookupView(c);
        if (!meta || meta->last_offset != c) {
          return Fail(Errc::kCorrupt, "Heartbeat commit " + Str(c.value()) + " is inside an entry");
        }
      }
      return Ok();
    }
    case MessageType::kAppendResponse:
      if (m.term == term_ && role_ == Role::kLeader) return ValidateAck(m);
      return Ok();
    default: return Ok();
  }
}

Result<void> Node::Step(const Message& m) {
  TELEMQ_TRY(ValidateShape(m));
  TELEMQ_TRY(ValidateForState(m));
  if (learner_ && (m.type == MessageType::kPreVote || m.type == MessageType::kVote)) {
    // A learner takes no part in elections (thesis §4.2.1): it neither votes
    // nor adopts a term from a candidate. Correct candidates never ask one.
    return Ok();
  }
  // §5.1: terms order everything; a higher term makes us a follower in it.
  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kPreVote || m.type == MessageType::kVote;
    if (vote_request && !m.transfer && InLease()) return Ok();
    if (m.type == MessageType::kPreVote) {
      // Never changes our term (thesis §9.6).
    } else if (m.type == MessageType::kPreVoteResponse && !m.reject) {
      // A grant for the term we would campaign in.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat || m.type == MessageType::kRestart) {
      if (TELEMQ_MUTANT(9) && role_ == Role::kLeader) {
        // mutant: the leader adopts the newer term but does not step down
        term_ = m.term;
        vote_ = kNoNode;
        return Ok();
      }
      BecomeFollower(m.term, m.from);
    } else {
      BecomeFollower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if (TELEMQ_MUTANT(7) && m.type == MessageType::kAppend && role_ == Role::kFollower) {
      // mutant: an append of a stale term is accepted
      TELEMQ_TRY(ValidateAppend(m));
      leader_ = m.from;
      HandleAppend(m);
      return Ok();
    }
    if ((config_.check_quorum || config_.pre_vote || abstaining()) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat || m.type == MessageType::kRestart)) {
      // A deposed leader that cannot hear the new one (or a node that came
      // back with a bumped term) learns our term and steps down. Without
      // pre-vote and check-quorum our own next campaign would tell it, but
      // an abstaining node does not campaign, so it must answer.
      Message r;
      r.type = MessageType::kAppendResponse;
      r.to = m.from;
      r.term = term_;
      Send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResponse;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      Send(std::move(r));
    }
    return Ok();
  }

  if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
    HandleVoteRequest(m);
    return Ok();
  }
  switch (role_) {
    case Role::kLeader: StepLeader(m); break;
    case Role::kCandidate:
    case Role::kPreCandidate: StepCandidate(m); break;
    case Role::kFollower: StepFollower(m); break;
  }
  return Ok();
}

void Node::HandleVoteRequest(const Message& m) {
  LogPosition last = LastPosition();
  // §5.4.1: grant only to a candidate whose log is at least as up to date:
  // a later last term, or the same last term and a log at least as long.
  bool up_to_date = m.log_term > last.term || (m.log_term == last.term && m.offset >= last.offset);
  if (TELEMQ_MUTANT(2)) up_to_date = true;  // mutant: vote without the log check
  // §5.2: at most one vote per term, first come first served; a node that
  // knows a leader for this term does not vote. A pre-vote for a future term
  // promises nothing, so it only needs the log check. A node that may have
  // lost entries it acknowledged does not vote at all (abstain_through_term).
  bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) ||
                  (m.type == MessageType::kPreVote && m.term > term_);
  if (TELEMQ_MUTANT(3)) can_vote = true;  // mutant: vote again in the same term
  if (abstaining()) can_vote = false;
  Message r;
  r.to = m.from;
  r.type = m.type == MessageType::kVote ? MessageType::kVoteResponse : MessageType::kPreVoteResponse;
  if (can_vote && up_to_date) {
    r.term = m.term;
    if (m.type == MessageType::kVote) {
      vote_ = m.from;  // persisted (Ready::hard_state) before r leaves
      election_elapsed_ = 0;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  Send(std::move(r));
}

void Node::StepFollower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kRestart:
      leader_ = m.from;
      election_elapsed_ = 0;
      if (m.type == MessageType::kAppend) HandleAppend(m);
      if (m.type == MessageType::kHeartbeat) HandleHeartbeat(m);
      if (m.type == MessageType::kRestart) HandleRestart(m);
      break;
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader asked us to take over; skip pre-vote. A
      // learner cannot lead (TransferLeadership refuses it as a target).
      if (!abstaining() && !learner_) CampaignAs(CampaignKind::kTransfer);
      break;
    default: break;
  }
}

void Node::StepCandidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kRestart:
      // §5.2: a leader of our term exists; return to follower.
      BecomeFollower(m.term, m.from);
      StepFollower(m);
      break;
    case MessageType::kPreVoteResponse:
      if (role_ != Role::kPreCandidate) break;
      if (int outcome = Poll(m.from, !m.reject); outcome > 0) {
        CampaignAs(CampaignKind::kElection);
      } else if (outcome < 0) {
        BecomeFollower(term_, kNoNode);
      }
      break;
    case MessageType::kVoteResponse:
      if (role_ != Role::kCandidate) break;
      if (int outcome = Poll(m.from, !m.reject); outcome > 0) {
        BecomeLeader();
      } else if (outcome < 0) {
        BecomeFollower(term_, kNoNode);
      }
      break;
    default: break;
  }
}

void Node::StepLeader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppendResponse: HandleAppendResponse(m); break;
    case MessageType::kHeartbeatResponse: HandleHeartbeatResponse(m); break;
    default: break;  // another leader of our term cannot exist (§5.2)
  }
}

// ---------------------------------------------------------------------------
// Follower side of replication

void Node::HandleAppend(const Message& m) {
  // An append carries the leader's whole commit, accepted or not.
  leader_commit_ = std::max(leader_commit_, m.commit);
  Message r;
  r.type = MessageType::kAppendResponse;
  r.to = m.from;
  r.term = term_;
  if (m.offset < commit_) {
    // Our log up to commit_ matches every leader's (§5.4 Leader Completeness).
    r.offset = commit_;
    Send(std::move(r));
    return;
  }
  // §5.3 consistency check: we must hold the leader's entry ending at m.offset.
  auto prev = LookupView(m.offset);
  if (!prev || prev->term != m.log_term || prev->last_offset != m.offset) {
    r.reject = true;
    r.offset = m.offset;
    // Thesis §5.3 (fast backoff): rather than one entry per round trip, name
    // the last entry at or before m.offset whose term is <= the leader's
    // prev term; no entry of a term in between can match. The leader skips
    // back over its own entries with a term above ours in the same way.
    Offset o = std::min(m.offset, LastOffset());
    while (o > commit_) {
      auto meta = LookupView(o);
      if (!meta) break;
      if (meta->last_offset == o && meta->term <= m.log_term) break;
      o = meta->base_offset - 1;
    }
    if (o < commit_) o = commit_;
    // mutant 8: the leader's commit taken before the consistency check,
    // bounded by our last offset instead of what the append verified
    if (TELEMQ_MUTANT(8)) commit_ = std::max(commit_, std::min(m.commit, LastOffset()));
    r.reject_hint = o;
    r.log_term = TermAtOrZero(o);
    Send(std::move(r));
    return;
  }
  Offset match = m.offset;
  for (const Entry& e : m.entries) {
    if (e.base_offset <= LastOffset()) {
      auto mine = LookupView(e.base_offset);
      if (TELEMQ_MUTANT(4) && mine && mine->base_offset == e.base_offset && mine->last_offset == e.last_offset()) {
        match = e.last_offset();  // mutant: an entry at the same offsets is kept whatever its term
        continue;
      }
      if (mine && mine->term == e.term) {
        // Same term and offset: the same entry (Log Matching, §5.3).
        TELEMQ_CHECK(mine->base_offset == e.base_offset && mine->last_offset == e.last_offset(),
                     "entries of one term disagree on their boundaries");
        match = e.last_offset();
        continue;
      }
      TruncateView(e.base_offset);
    }
    AppendView(e);
    match = e.last_offset();
  }
  // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
  commit_ = std::max(commit_, std::min(m.commit, match));
  append_match_ = std::max(append_match_, match);
  r.offset = match;  // sent once the entries are durable (Ready contract)
  Send(std::move(r));
}

void Node::HandleHeartbeat(const Message& m) {
  commit_ = std::max(commit_, HeartbeatCommit(m));
  leader_commit_ = std::max(leader_commit_, m.commit);
  Message r;
  r.type = MessageType::kHeartbeatResponse;
  r.to = m.from;
  r.term = term_;
  Send(std::move(r));
}

Offset Node::HeartbeatCommit(const Message& m) const {
  // The leader sends min(its commit, our confirmed match), which our log
  // holds, unless we lost acknowledged entries since it confirmed that match
  // (fsync: interval, abstaining): then only as far as an append of this
  // term, whose prev the leader checked, showed our log to be its log.
  Offset c = std::min(m.commit, LastOffset());
  return abstaining() ? std::min(c, append_match_) : c;
}

void Node::HandleRestart(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResponse;
  r.to = m.from;
  r.term = term_;
  if (m.offset <= commit_) {
    r.offset = commit_;
    Send(std::move(r));
    return;
  }
  auto mine = LookupView(m.offset);
  if (!mine || mine->term != m.log_term || mine->last_offset != m.offset) {
    // What we need is gone from the leader: drop our log (nothing in it
    // above commit_ is committed) and continue from the leader's log start.
    reset_ = LogPosition{m.offset, m.log_term};
    if (in_ready_) reset_since_ready_ = true;
    unstable_.clear();
    unstable_base_ = m.offset + 1;
    persisted_last_ = Offset(-1);
    applied_ = std::max(applied_, m.offset);
  }
  // Everything up to the leader's log start is committed.
  commit_ = std::max(commit_, m.offset);
  append_match_ = std::max(append_match_, m.offset);
  r.offset = m.offset;
  Send(std::move(r));
}

// ---------------------------------------------------------------------------
// Leader side of replication

void Node::SendAppend(NodeId to, bool allow_empty) {
  auto found = progress_.find(to);
  if (found == progress_.end() || to == config_.id) return;
  Progress& pr = found->second;
  while (true) {
    if (pr.state == ProgressState::kProbe && pr.probe_sent) return;
    if (pr.state == ProgressState::kReplicate && pr.inflight.size() >= config_.max_inflight_appends) {
      return;
    }
    Offset start = StartOffsetView();
    if (pr.next < start) {
      // Retention removed what the follower needs next.
      Message m;
      m.type = MessageType::kRestart;
      m.to = to;
      m.term = term_;
      m.offset = start - 1;
      m.log_term = TermAtOrZero(start - 1);
      pr.state = ProgressState::kProbe;
      pr.probe_sent = true;
      pr.inflight.clear();
      Send(std::move(m));
      return;
    }
    Message m;
    m.type = MessageType::kAppend;
    m.to = to;
    m.term = term_;
    m.offset = pr.next - 1;
    auto prev = LookupView(m.offset);
    TELEMQ_CHECK(prev.has_value() && prev->last_offset == m.offset,
                 "next offset must follow an entry of the leader's log");
    m.log_term = prev->term;
    m.commit = commit_;
    if (pr.next <= LastOffset()) {
      ReadView(pr.next, LastOffset(), config_.max_append_bytes, &m.entries);
    }
    if (m.entries.empty() && !allow_empty) return;
    const bool empty = m.entries.empty();
    if (pr.state == ProgressState::kProbe) {
      pr.probe_sent = true;
    } else if (!empty) {
      pr.next = m.entries.back().last_offset() + 1;
      pr.inflight.push_back(pr.next - 1);
    }
    Send(std::move(m));
    if (pr.state == ProgressState::kProbe || empty) return;
    allow_empty = false;  // keep filling the pipeline
  }
}

void Node::BroadcastAppend() {
  for (NodeId v : config_.voters) {
    if (v != config_.id) SendAppend(v, false);
  }
  for (NodeId l : config_.learners) SendAppend(l, false);
}

void Node::SendHeartbeats() {
  for (const auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    m.term = term_;
    m.commit = std::min(pr.match, commit_);
    if (TELEMQ_MUTANT(11)) m.commit = commit_;  // mutant: heartbeat carries the full commit
    Send(std::move(m));
  }
}

bool Node::QuorumActive() const {
  // Learners keep their recent_active flag but are no part of a quorum.
  int active = 0;
  for (NodeId v : config_.voters) {
    auto it = progress_.find(v);
    active += it != progress_.end() && it->second.recent_active ? 1 : 0;
  }
  return active >= Quorum();
}

bool Node::MaybeCommit() {
  // §5.3/§5.4.2: the highest offset durable on a majority (the leader counts
  // itself only after its own persistence ack), committed only if its entry
  // is of the current term; earlier entries are then committed indirectly.
  std::vector<Offset> matches;
  matches.reserve(config_.voters.size());
  for (NodeId v : config_.voters) {
    // mutant 5: the leader counts its own copy before it is durable
    matches.push_back(TELEMQ_MUTANT(5) && v == config_.id ? LastOffset() : progress_[v].match);
  }
  if (TELEMQ_MUTANT(14)) {
    // mutant: learners' copies counted towards the voters' majority
    for (NodeId l : config_.learners) matches.push_back(progress_[l].match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<Offset>());
  Offset q = matches[Quorum() - 1];
  if (q <= commit_) return false;
  if (TermAtOrZero(q) != term_ && !TELEMQ_MUTANT(1)) return false;  // mutant 1: commit an older term's entry
  commit_ = q;
  return true;
}

void Node::HandleAppendResponse(const Message& m) {
  Progress& pr = progress_[m.from];
  pr.recent_active = true;
  if (m.reject) {
    // Stale rejections (for an append already overtaken) are ignored.
    if (m.offset < pr.match) return;
    if (m.offset == pr.match) {
      // The follower no longer holds the entry it acknowledged there: an old
      // rejection overtaken by the ack (redoing the probe is harmless), or a
      // follower that lost unsynced entries in a power loss (fsync:
      // interval). Forget the match, or replication to it would stall.
      pr.match = Offset(-1);
    }
    if (pr.state == ProgressState::kProbe && m.offset != pr.next - 1) return;
    // §5.3: back off nextIndex and retry; the hint skips whole terms' worth
    // of mismatches in one round trip. next must land on one of our entry
    // boundaries, since the follower's boundaries may differ from ours.
    Offset o = std::min(m.reject_hint, m.offset - 1);
    while (o > pr.match) {
      auto meta = LookupView(o);
      if (!meta) break;  // below our log start: the follower restarts from it
      if (meta->last_offset == o && meta->term <= m.log_term) break;
      o = meta->base_offset - 1;
    }
    pr.next = std::max(o, pr.match) + 1;
    pr.state = ProgressState::kProbe;
    pr.probe_sent = false;
    pr.inflight.clear();
    SendAppend(m.from, true);
    return;
  }
  if (m.offset > pr.match) {
    pr.match = m.offset;
    if (pr.state == ProgressState::kProbe) {
      pr.state = ProgressState::kReplicate;
      pr.next = pr.match + 1;
      pr.inflight.clear();
    } else {
      if (pr.next <= pr.match) pr.next = pr.match + 1;
      auto keep = std::upper_bound(pr.inflight.begin(), pr.inflight.end(), pr.match);
      pr.inflight.erase(pr.inflight.begin(), keep);
    }
    if (MaybeCommit()) broadcast_pending_ = true;
  }
  if (pr.state == ProgressState::kProbe) pr.probe_sent = false;
  if (transferee_ == m.from && pr.match == LastOffset()) SendTimeoutNow(m.from);
  SendAppend(m.from, false);
}

// Leadership transfer (Raft thesis §3.10): the target is caught up, so it
// may campaign at once.
void Node::SendTimeoutNow(NodeId target) {
  Message t;
  t.type = MessageType::kTimeoutNow;
  t.to = target;
  t.term = term_;
  Send(std::move(t));
}

void Node::HandleHeartbeatResponse(const Message& m) {
  Progress& pr = progress_[m.from];
  pr.recent_active = true;
  if (pr.match < LastOffset()) {
    if (pr.state == ProgressState::kProbe) {
      pr.probe_sent = false;
      SendAppend(m.from, true);
    } else if (pr.match == pr.match_at_heartbeat) {
      // No progress over a heartbeat interval: appends may have been lost.
      // Probe where we think the follower is; a rejection resets the pipeline.
      Message a;
      a.type = MessageType::kAppend;
      a.to = m.from;
      a.term = term_;
      a.offset = pr.next - 1;
      a.log_term = TermAtOrZero(a.offset);
      a.commit = commit_;
      Send(std::move(a));
      if (pr.inflight.size() >= config_.max_inflight_appends) pr.inflight.erase(pr.inflight.begin());
      SendAppend(m.from, false);
    }
  }
  pr.match_at_heartbeat = pr.match;
  if (transferee_ == m.from && pr.match == LastOffset()) SendTimeoutNow(m.from);
}

// ---------------------------------------------------------------------------
// Ready

bool Node::HasReady() const {
  if (in_ready_) return false;  // one Ready at a time
  // Without delivery, applied follows commit only up to what is durable
  // here (Advance); a Ready just for that is needed only when it can move.
  const bool apply =
      config_.deliver_committed_entries ? commit_ > applied_ : std::min(commit_, persisted_last_) > applied_;
  return broadcast_pending_ || !msgs_.empty() || !unstable_.empty() || reset_.has_value() ||
         HardState{term_, vote_} != persisted_hard_state_ || apply;
}

bool Node::IsEarly(const Message& m) const {
  // A leader's messages of a term already on disk depend on nothing this
  // Ready persists: its appends carry entries it has not counted yet and a
  // commit already durable on a majority.
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kRestart: return m.term <= persisted_hard_state_.term;
    case MessageType::kAppendResponse: return TELEMQ_MUTANT(6);  // mutant: ack before persisting
    case MessageType::kVoteResponse: return TELEMQ_MUTANT(10);   // mutant: vote before persisting
    default: return false;
  }
}

Ready Node::GetReady() {
  TELEMQ_CHECK(!in_ready_, "GetReady twice without Advance");
  if (broadcast_pending_) {
    broadcast_pending_ = false;
    if (role_ == Role::kLeader) BroadcastAppend();
  }
  Ready rd;
  rd.leader = leader_;
  rd.role = role_;
  HardState hs{term_, vote_};
  if (hs != persisted_hard_state_) rd.hard_state = hs;
  rd.log_reset = reset_;
  rd.entries = unstable_;
  for (Message& m : msgs_) (IsEarly(m) ? rd.early_messages : rd.messages).push_back(std::move(m));
  msgs_.clear();
  // Everything in the view is durable once this Ready is, so any committed
  // entry may be applied after it; max_committed_bytes bounds the batch.
  if (config_.deliver_committed_entries && commit_ > applied_) {
    ReadView(applied_ + 1, commit_, config_.max_committed_bytes, &rd.committed_entries);
  }
  rd.commit = commit_;
  in_ready_ = true;
  ready_last_ = LastOffset();
  cut_since_ready_ = Offset(std::numeric_limits<int64_t>::max());
  reset_since_ready_ = false;
  return rd;
}

void Node::Advance(const Ready& ready) {
  TELEMQ_CHECK(in_ready_, "Advance without GetReady");
  in_ready_ = false;
  if (ready.hard_state) persisted_hard_state_ = *ready.hard_state;
  if (!ready.committed_entries.empty()) {
    applied_ = std::max(applied_, ready.committed_entries.back().last_offset());
  }
  // The log now holds what the view held at GetReady. Inputs since then may
  // have cut it (a follower's conflicting suffix) or reset it; only the part
  // below both is durable and still ours. Without such inputs (a
  // synchronous owner) that is the whole view.
  if (!reset_since_ready_) {
    if (ready.log_reset) reset_.reset();
    const Offset durable = std::min(ready_last_, cut_since_ready_ - 1);
    auto keep = std::upper_bound(unstable_.begin(), unstable_.end(), durable,
                                 [](Offset o, const Entry& e) { return o < e.last_offset(); });
    unstable_.erase(unstable_.begin(), keep);
    unstable_base_ = std::max(unstable_base_, durable + 1);
    persisted_last_ = durable;
  }
  if (!config_.deliver_committed_entries) {
    // Nothing was handed out: the owner's state is the log itself. Applied
    // follows the commit index this Ready carried, up to what is durable.
    applied_ = std::max(applied_, std::min(ready.commit, persisted_last_));
  }
  if (role_ == Role::kLeader) {
    progress_[config_.id].match = persisted_last_;
    if (MaybeCommit()) broadcast_pending_ = true;
  }
}

}  // namespace telemq::raft
