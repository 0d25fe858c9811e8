#include "tests/sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/raft/log.h"
#include "broker/raft/node.h"
#include "tests/sim/sim_common.h"

namespace telemq::raft::sim {

void Stats::Add(const Stats& o) {
  steps += o.steps;
  messages += o.messages;
  dropped += o.dropped;
  duplicated += o.duplicated;
  crashes += o.crashes;
  partitions += o.partitions;
  retentions += o.retentions;
  transfers += o.transfers;
  forced_campaigns += o.forced_campaigns;
  proposals += o.proposals;
  committed_entries += o.committed_entries;
  leaders_elected += o.leaders_elected;
  log_resets += o.log_resets;
  slow_writes += o.slow_writes;
  torn_writes += o.torn_writes;
  power_losses += o.power_losses;
  lost_entries += o.lost_entries;
  abstained_votes += o.abstained_votes;
  learner_groups += o.learner_groups;
  learner_transfers_refused += o.learner_transfers_refused;
  for (int i = 0; i < kScenarioCount; ++i) scenarios[i] += o.scenarios[i];
}

namespace {

using telemq::sim::Rng;

constexpr int kElectionTicks = 10;
constexpr int kMaxNodes = 7;  // 5 voters + 2 learners

// Identity of an entry's content: the proposal id for normal entries, 0 for
// a leader's no-op.
uint64_t ContentId(const Entry& e) {
  if (e.type == EntryType::kNoop || e.payload.size() < 8) return 0;
  uint64_t id;
  std::memcpy(&id, e.payload.bytes().data(), 8);
  return id;
}

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct SimNode {
  int id = 0;
  bool learner = false;  // Config::learners: never votes, never counted
  bool up = true;
  int64_t down_until = 0;
  // The disk. fsync: always: what a Ready persisted survives any crash.
  // fsync: interval: `log` is what was written (the page cache, which a
  // process crash keeps), `synced` what reached the platter, which is all a
  // power loss keeps. The hard state is synced in both modes.
  MemoryLog log;
  HardState hard;
  MemoryLog synced;
  Offset dirty_from{kNever};  // lowest offset written since the last sync
  bool reset_since_sync = false;
  int64_t next_sync = 0;
  Term abstain{0};  // persisted marker: restart with Config::abstain_through_term
  // The Ready being persisted, and when its write completes.
  std::optional<Ready> pending;
  int64_t pending_until = 0;
  bool pending_early_sent = false;
  int64_t crash_at = kNever;  // scheduled crash (mid-persistence faults, scenarios)
  std::unique_ptr<raft::Node> node;
  std::unique_ptr<Rng> rng;  // the node's election-timeout generator
  int tick_period = 10;      // simulated time units per tick
  int64_t next_tick = 0;
  int64_t ticks = 0;
  Offset last_applied{-1};
  Offset commit_seen{-1};        // commit index already registered as committed
  Offset disk_checked{-1};       // disk log matches the committed entries up to here
  Term verified_leader_term{0};  // leader completeness checked for this term
};

struct InFlight {
  int64_t deliver_at;
  uint64_t seq;
  Message message;
  bool operator>(const InFlight& o) const {
    return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : seq > o.seq;
  }
};

struct CommittedEntry {
  Term term;
  Offset last;
  std::optional<uint64_t> content;  // known once some node applied it
};

struct Proposal {
  uint64_t id;
  int node;
  Term term;
  Offset base;
  Offset last;
  int64_t accepted_at;
  int64_t accepted_tick;  // proposer's tick count at acceptance
  std::optional<int64_t> applied_tick;
};

class Simulation {
 public:
  explicit Simulation(const Options& options) : opt_(options), rng_(options.seed) {}

  Outcome Run();

 private:
  // --- setup and faults
  void Setup();
  void StartNode(SimNode& n);
  void Crash(SimNode& n, const char* why, bool power_loss = false);
  void InjectFaults();
  void HealAll();
  void MaybePropose(double probability);
  SimNode* ProposeAt(SimNode& n, size_t bytes);
  void Sync(SimNode& n);
  bool CanLosePower(const SimNode& n) const;

  // --- the step
  void DeliverMessages();
  void TickNodes();
  void ProcessReady(SimNode& n);
  void CompletePersistence();
  void Persist(SimNode& n, const Ready& rd, size_t entries, bool hard_state);
  void FinishReady(SimNode& n, Ready& rd);
  void SendFrom(SimNode& n, const Message& m);
  void Send(const Message& m);
  void StepNode(SimNode& n, const Message& m);
  void Observe(SimNode& n);

  // --- scenarios (Options::scenario)
  void RunScenario();
  void OnLeader(SimNode& n);
  void Isolate(int id);
  void Split(std::vector<int> side_a);
  void EndScenario();

  // --- invariants
  void CheckLeaders();
  void CheckPersist(SimNode& n, const Ready& rd);
  void CheckLeaderCompleteness(SimNode& n);
  void CheckCommitted(SimNode& n);
  void CheckReply(SimNode& n, const Message& m);
  void CheckApply(SimNode& n, const Entry& e);
  void CheckCommittedOnDisk(SimNode& n, Offset commit);
  void CheckLiveness();
  void Violation(const std::string& what);

  void Trace(const std::string& line);
  bool tracing() const { return opt_.trace_lines > 0 || opt_.verbose; }
  std::string Describe(const Message& m) const;

  SimNode* Leader();
  // A majority of the voters; learners count towards nothing.
  int Majority() const { return voters_ / 2 + 1; }
  SimNode& Node(int id) { return nodes_[static_cast<size_t>(id - 1)]; }
  bool calm() const { return healed_ || scenario_ != kNoScenario; }

  Options opt_;
  Rng rng_;
  Stats stats_;
  std::vector<SimNode> nodes_;  // voters 1..voters_, then learners
  int voters_ = 0;
  int learners_ = 0;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> network_;
  uint64_t seq_ = 0;
  int64_t now_ = 0;
  bool healed_ = false;
  bool failed_ = false;
  std::string failure_;

  // Fault mix of this seed.
  double loss_ = 0;
  double duplicate_ = 0;
  double stale_delivery_ = 0;
  int max_latency_ = 1;
  double crash_rate_ = 0;
  double mid_ready_crash_ = 0;
  double partition_rate_ = 0;
  double retention_rate_ = 0;
  double transfer_rate_ = 0;
  double campaign_rate_ = 0;
  double propose_rate_ = 0;
  size_t max_append_bytes_ = 1024;
  size_t max_inflight_ = 8;
  size_t max_committed_bytes_ = 1 << 20;
  // Persistence: a Ready's write takes 0..max_write_time_ units (fdatasync
  // slower than a network hop on many seeds). While it is in flight the node
  // either steps arriving messages (asynchronous contract) or, on
  // queue_while_writing_ seeds, holds them until the write completes.
  int max_write_time_ = 0;
  bool queue_while_writing_ = false;
  bool early_send_ = true;
  bool basic_raft_ = false;
  // fsync: interval: entries sync every sync_interval_ units; a power loss
  // drops what was not synced.
  bool interval_ = false;
  int sync_interval_ = 0;
  double power_loss_rate_ = 0;
  bool blocked_[kMaxNodes + 1][kMaxNodes + 1] = {};
  int64_t partition_until_ = -1;
  bool fifo_ = false;
  int64_t last_delivery_[kMaxNodes + 1][kMaxNodes + 1] = {};

  // Scenario state.
  Scenario scenario_ = kNoScenario;
  int phase_ = 0;
  int64_t phase_at_ = 0;
  int actor_a_ = 0, actor_b_ = 0, actor_x_ = 0;
  Term term_a_{0};
  Offset commit_mark_{-1};
  int scenario_runs_ = 0;

  // Checker state.
  std::unordered_map<int64_t, int> leader_of_term_;
  // (term, base offset) -> (last offset, content, term of the entry before)
  std::map<std::pair<int64_t, int64_t>, std::tuple<int64_t, uint64_t, int64_t>> entries_seen_;
  std::map<int64_t, CommittedEntry> committed_;  // by base offset
  std::vector<Proposal> proposals_;
  std::unordered_map<uint64_t, size_t> proposal_index_;
  uint64_t next_proposal_id_ = 1;
  int64_t healed_at_ = 0;
  int64_t bound_from_ = 0;  // proposals from here on have a latency bound
  std::optional<int64_t> leader_after_heal_at_;

  std::deque<std::string> trace_;
};

// ---------------------------------------------------------------------------

void Simulation::Trace(const std::string& line) {
  std::string stamped = "t=" + std::to_string(now_) + " " + line;
  if (opt_.verbose) std::printf("%s\n", stamped.c_str());
  if (opt_.trace_lines > 0) {
    trace_.push_back(std::move(stamped));
    if (static_cast<int>(trace_.size()) > opt_.trace_lines) trace_.pop_front();
  }
}

std::string Simulation::Describe(const Message& m) const {
  std::ostringstream s;
  s << MessageTypeName(m.type) << " " << m.from << "->" << m.to << " term=" << m.term;
  switch (m.type) {
    case MessageType::kAppend:
      s << " prev=" << m.offset << "@" << m.log_term << " n=" << m.entries.size();
      if (!m.entries.empty()) {
        s << " [" << m.entries.front().base_offset << ".." << m.entries.back().last_offset() << "]";
      }
      s << " commit=" << m.commit;
      break;
    case MessageType::kAppendResponse:
      s << (m.reject ? " REJECT" : " ok") << " offset=" << m.offset;
      if (m.reject) s << " hint=" << m.reject_hint;
      break;
    case MessageType::kPreVote:
    case MessageType::kVote: s << " last=" << m.offset << "@" << m.log_term << (m.transfer ? " transfer" : ""); break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: s << (m.reject ? " REJECT" : " granted"); break;
    case MessageType::kHeartbeat: s << " commit=" << m.commit; break;
    case MessageType::kRestart: s << " start=" << (m.offset + 1) << " prev_term=" << m.log_term; break;
    default: break;
  }
  return s.str();
}

void Simulation::Violation(const std::string& what) {
  if (failed_) return;
  failed_ = true;
  failure_ = "t=" + std::to_string(now_) + ": " + what;
  Trace("VIOLATION " + what);
}

SimNode* Simulation::Leader() {
  SimNode* best = nullptr;
  for (auto& n : nodes_) {
    if (n.up && n.node->role() == Role::kLeader && (!best || n.node->term() > best->node->term())) {
      best = &n;
    }
  }
  return best;
}

void Simulation::Setup() {
  const int size = rng_.Chance(0.5) ? 3 : 5;
  // Fault mix: each seed draws its own rates so the campaign covers calm
  // and hostile networks alike.
  loss_ = rng_.Chance(0.2) ? 0.0 : static_cast<double>(rng_.Range(0, 20)) / 100.0;
  duplicate_ = static_cast<double>(rng_.Range(0, 10)) / 100.0;
  max_latency_ = static_cast<int>(rng_.Range(1, 30));
  fifo_ = rng_.Chance(0.5);
  stale_delivery_ = static_cast<double>(rng_.Range(0, 60)) / 10000.0;
  crash_rate_ = static_cast<double>(rng_.Range(0, 30)) / 10000.0;
  mid_ready_crash_ = crash_rate_ / 4;
  partition_rate_ = static_cast<double>(rng_.Range(0, 30)) / 10000.0;
  retention_rate_ = static_cast<double>(rng_.Range(0, 20)) / 10000.0;
  transfer_rate_ = static_cast<double>(rng_.Range(0, 10)) / 10000.0;
  campaign_rate_ = static_cast<double>(rng_.Range(0, 10)) / 10000.0;
  propose_rate_ = static_cast<double>(rng_.Range(5, 60)) / 100.0;
  // Small appends split a backlog (and a new leader's old entries and its
  // no-op) over several messages; the pipeline is narrow or wide.
  max_append_bytes_ = static_cast<size_t>(rng_.Range(2, 16)) * 64;
  max_inflight_ = static_cast<size_t>(rng_.Range(2, 16));
  max_committed_bytes_ = rng_.Chance(0.5) ? (size_t{1} << 20) : static_cast<size_t>(rng_.Range(1, 16)) * 32;
  // Persistence: instant on a fifth of the seeds, otherwise up to a few
  // network hops (a slow fdatasync); the leader sends its appends before
  // its own write on most seeds.
  // Bounded well below the election timeout (10 ticks of 4..30 units): a
  // vote needs two writes and a round trip, and a group whose fsync is
  // slower than that cannot elect anyone.
  max_write_time_ = rng_.Chance(0.2) ? 0 : static_cast<int>(rng_.Range(1, max_latency_ + 10));
  queue_while_writing_ = rng_.Chance(0.3);
  early_send_ = rng_.Chance(0.7);
  interval_ = opt_.fsync_interval >= 0 ? opt_.fsync_interval == 1 : rng_.Chance(0.25);
  if (interval_) {
    sync_interval_ = static_cast<int>(rng_.Range(20, 300));
    power_loss_rate_ = static_cast<double>(rng_.Range(5, 30)) / 10000.0;
  }
  // The Raft paper's basic configuration on a fifth of the seeds: no
  // pre-vote, no check-quorum, so a deposed leader keeps sending appends of
  // its stale term until it hears a newer one.
  // Not with fsync: interval, where an abstaining node plus one that keeps
  // disrupting elections leave a single viable candidate in a 3-node group.
  basic_raft_ = rng_.Chance(0.2) && !interval_;
  const int64_t drawn_scenario = rng_.Range(0, 9);
  scenario_ = static_cast<Scenario>(opt_.scenario >= 0 ? opt_.scenario
                                                       : (drawn_scenario < kScenarioCount ? drawn_scenario : 0));
  if (scenario_ == kFigure8 || scenario_ == kStaleSuffix) {
    // One entry per append (so a new leader's old entries and its no-op
    // travel separately), and enough nodes for two disjoint majorities' worth.
    max_append_bytes_ = 64;
    if (scenario_ == kFigure8) nodes_.reserve(5);
  }
  if (scenario_ == kLeaderCrashBeforeFsync) {
    max_write_time_ = max_latency_ + 10;
    early_send_ = true;
    queue_while_writing_ = false;
  }
  // Keep the offered load (~40 bytes a proposal) to a quarter of what the
  // flow-control window carries over the slowest round trip, so commit
  // latency stays bounded and a lagging follower can catch up.
  const double window_bytes_per_unit =
      static_cast<double>(max_append_bytes_ * max_inflight_) / (2.0 * max_latency_ + 2 + max_write_time_);
  propose_rate_ = std::min(propose_rate_, window_bytes_per_unit / 160.0);
  // Skewed clocks only with pre-vote: without it a node whose clock runs
  // fast bumps the term again and again and keeps resetting the others'
  // timers (a liveness limit of basic Raft that pre-vote removes).
  const bool skewed = rng_.Chance(0.3) && !basic_raft_;
  const int group = scenario_ == kFigure8 ? 5 : size;
  // Learners come from a stream of their own, so seeds without learners run
  // exactly as they did before learners existed.
  Rng learner_rng(opt_.seed ^ 0x6c6561726e657273);  // "learners"
  voters_ = group;
  learners_ = opt_.learners >= 0 ? std::min(opt_.learners, kMaxNodes - group)
                                 : (learner_rng.Chance(0.3) ? static_cast<int>(learner_rng.Range(1, 2)) : 0);
  if (learners_ > 0) ++stats_.learner_groups;
  nodes_.resize(static_cast<size_t>(group + learners_));
  for (int i = 0; i < group; ++i) {
    SimNode& n = nodes_[i];
    n.id = i + 1;
    // Unequal clocks: every node ticks at its own rate, some far apart.
    n.tick_period = static_cast<int>(skewed ? rng_.Range(4, 30) : rng_.Range(8, 12));
    n.rng = std::make_unique<Rng>(rng_.Next());
    n.next_sync = sync_interval_;
    StartNode(n);
  }
  for (int i = group; i < group + learners_; ++i) {
    SimNode& n = nodes_[static_cast<size_t>(i)];
    n.id = i + 1;
    n.learner = true;
    n.tick_period = static_cast<int>(skewed ? learner_rng.Range(4, 30) : learner_rng.Range(8, 12));
    n.rng = std::make_unique<Rng>(learner_rng.Next());
    n.next_sync = sync_interval_;
    StartNode(n);
  }
  // A write must stay well below the fastest voter's election timeout (which
  // is also its check-quorum window), as fsync is well below a second.
  int min_period = nodes_.front().tick_period;
  for (auto& n : nodes_) {
    if (!n.learner) min_period = std::min(min_period, n.tick_period);
  }
  max_write_time_ = std::min(max_write_time_, min_period * kElectionTicks / 4);
  std::ostringstream s;
  s << group << " nodes";
  if (learners_ > 0) s << " + " << learners_ << " learners";
  s << ", loss=" << loss_ << " dup=" << duplicate_ << " latency<=" << max_latency_ << (fifo_ ? " fifo" : " reordering")
    << " crash=" << crash_rate_ << " partition=" << partition_rate_ << " retention=" << retention_rate_
    << " propose=" << propose_rate_ << " write<=" << max_write_time_
    << (queue_while_writing_ ? " queue-while-writing" : " step-while-writing") << (early_send_ ? " early-send" : "")
    << (interval_ ? " fsync=interval/" + std::to_string(sync_interval_) : " fsync=always")
    << (basic_raft_ ? " no-prevote/no-checkquorum" : "") << " scenario=" << static_cast<int>(scenario_)
    << " tick periods=";
  for (auto& n : nodes_) s << n.tick_period << (n.id == group + learners_ ? "" : ",");
  Trace("setup: " + s.str());
}

void Simulation::StartNode(SimNode& n) {
  Config c;
  c.id = NodeId(n.id);
  for (int i = 1; i <= voters_; ++i) c.voters.push_back(NodeId(i));
  for (int i = voters_ + 1; i <= voters_ + learners_; ++i) c.learners.push_back(NodeId(i));
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = 1;
  c.max_append_bytes = max_append_bytes_;
  c.max_inflight_appends = max_inflight_;
  c.max_committed_bytes = max_committed_bytes_;
  c.pre_vote = !basic_raft_;
  c.check_quorum = !basic_raft_;
  c.abstain_through_term = n.abstain;
  Rng* rng = n.rng.get();
  c.random = [rng] { return rng->Next(); };
  n.node = std::make_unique<raft::Node>(std::move(c), &n.log, n.hard);
  n.up = true;
  n.pending.reset();
  n.crash_at = kNever;
  n.last_applied = n.node->applied();
  n.commit_seen = n.node->commit();
  n.next_tick = now_ + rng_.Range(1, n.tick_period);
  if (n.abstain > Term(0)) ++stats_.abstained_votes;
}

void Simulation::Persist(SimNode& n, const Ready& rd, size_t entries, bool hard_state) {
  // A write of `entries` of rd's entries (all of them, or a torn prefix).
  if (entries > 0 || rd.log_reset) {
    Ready part;
    part.log_reset = rd.log_reset;
    part.entries.assign(rd.entries.begin(), rd.entries.begin() + static_cast<ptrdiff_t>(entries));
    CheckPersist(n, part);
    if (failed_) return;
  }
  if (rd.log_reset) {
    n.log.Reset(*rd.log_reset);
    n.disk_checked = rd.log_reset->offset;
    n.last_applied = std::max(n.last_applied, rd.log_reset->offset);
    n.reset_since_sync = true;
    ++stats_.log_resets;
    Trace("node " + std::to_string(n.id) + " log reset to start " + std::to_string(rd.log_reset->offset.value() + 1));
  }
  std::vector<Entry> written(rd.entries.begin(), rd.entries.begin() + static_cast<ptrdiff_t>(entries));
  if (!written.empty()) n.dirty_from = std::min(n.dirty_from, written.front().base_offset);
  n.log.Append(written);
  for (const Entry& e : written) {
    Term prev = n.log.Lookup(e.base_offset - 1)->term;
    auto key = std::make_pair(e.term.value(), e.base_offset.value());
    auto value = std::make_tuple(e.last_offset().value(), ContentId(e), prev.value());
    auto [it, inserted] = entries_seen_.emplace(key, value);
    if (!inserted && it->second != value) {
      // Log Matching (§5.3): one (term, offset) names one entry, with one
      // predecessor, in every log.
      Violation("log matching: entry at offset " + std::to_string(key.second) + " term " + std::to_string(key.first) +
                " differs between logs");
      return;
    }
  }
  if (hard_state && rd.hard_state) n.hard = *rd.hard_state;
  if (!interval_) Sync(n);
}

void Simulation::Sync(SimNode& n) {
  // fsync: the written log reaches the platter. In fsync: always mode every
  // write is synced, so `synced` mirrors `log` and is not kept.
  if (!interval_) return;
  if (n.reset_since_sync || n.dirty_from < n.synced.StartOffset() || n.dirty_from > n.synced.NextOffset()) {
    n.synced = n.log;
  } else if (n.dirty_from != Offset(kNever)) {
    std::vector<Entry> tail;
    for (auto it = n.log.entries().rbegin(); it != n.log.entries().rend() && it->base_offset >= n.dirty_from; ++it) {
      tail.push_back(*it);
    }
    std::reverse(tail.begin(), tail.end());
    if (tail.empty() || tail.front().base_offset != n.dirty_from) {
      n.synced = n.log;
    } else {
      n.synced.Append(tail);
    }
  }
  n.dirty_from = Offset(kNever);
  n.reset_since_sync = false;
}

bool Simulation::CanLosePower(const SimNode& n) const {
  // The safe variant (docs/replication.md §2) survives power losses as long
  // as enough nodes still vote. At most one node abstains at a time: with
  // RF3 that is all it can take; with 5 nodes two abstaining would leave the
  // other three to agree unanimously, which keeps the group safe but makes
  // elections too slow for the liveness bounds.
  // A learner's copies count towards nothing, so learners lose power freely
  // and their abstention takes no vote away.
  if (n.learner) return true;
  for (const auto& m : nodes_) {
    if (m.abstain > Term(0) && m.id != n.id && !m.learner) return false;
  }
  return true;
}

void Simulation::Crash(SimNode& n, const char* why, bool power_loss) {
  if (n.pending) {
    // A crash during the write: the Ready's effects may be partly on disk,
    // a prefix of its entries (the reset first), the hard state or not.
    Ready& rd = *n.pending;
    size_t keep = 0;
    bool reset_written = !rd.log_reset || rng_.Chance(0.5);
    if (reset_written) keep = static_cast<size_t>(rng_.Range(0, static_cast<int64_t>(rd.entries.size())));
    const bool hard = rng_.Chance(0.5);
    ++stats_.torn_writes;
    Trace("node " + std::to_string(n.id) + " torn write: " + std::to_string(keep) + " of " +
          std::to_string(rd.entries.size()) + " entries" + (hard ? ", hard state" : ""));
    if (reset_written) {
      Persist(n, rd, keep, hard);
    } else if (hard && rd.hard_state) {
      n.hard = *rd.hard_state;
    }
    n.pending.reset();
  }
  if (interval_) {
    if (power_loss) {
      const Offset before = n.log.NextOffset();
      int64_t lost = 0;
      for (const Entry& e : n.log.entries()) lost += e.base_offset >= n.dirty_from ? 1 : 0;
      if (n.reset_since_sync) lost = static_cast<int64_t>(n.log.entries().size());
      n.log = n.synced;
      n.disk_checked = std::min(n.disk_checked, n.log.LastPosition().offset);
      n.dirty_from = Offset(kNever);
      n.reset_since_sync = false;
      // It may have acknowledged what it lost: abstain until a newer leader
      // re-replicated it (Config::abstain_through_term).
      n.abstain = std::max(n.hard.term, Term(1));
      ++stats_.power_losses;
      stats_.lost_entries += lost;
      Trace("power loss on node " + std::to_string(n.id) + ": log end " + std::to_string(before.value()) + " -> " +
            std::to_string(n.log.NextOffset().value()) + ", abstains through term " +
            std::to_string(n.abstain.value()));
    } else {
      Sync(n);  // a process crash keeps the page cache; the kernel writes it back
    }
  }
  n.node.reset();
  n.up = false;
  n.crash_at = kNever;
  n.down_until = now_ + rng_.Range(20, 1500);
  ++stats_.crashes;
  Trace("crash node " + std::to_string(n.id) + " (" + why + "), down until " + std::to_string(n.down_until));
}

void Simulation::HealAll() {
  std::memset(blocked_, 0, sizeof(blocked_));
  partition_until_ = -1;
}

void Simulation::InjectFaults() {
  for (auto& n : nodes_) {
    if (!n.up && n.down_until <= now_) {
      StartNode(n);
      Trace("restart node " + std::to_string(n.id) + " log=[" + std::to_string(n.log.StartOffset().value()) + "," +
            std::to_string(n.log.NextOffset().value()) + ") term=" + std::to_string(n.hard.term.value()) +
            (n.abstain > Term(0) ? " abstaining" : ""));
    }
    if (n.up && n.crash_at <= now_) Crash(n, "scheduled, during its write");
    if (interval_ && n.up && now_ >= n.next_sync) {
      Sync(n);
      n.next_sync = now_ + sync_interval_;
    }
  }
  if (calm()) return;
  if (rng_.Chance(crash_rate_)) {
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    if (n.up) Crash(n, "between steps");
  }
  if (interval_ && rng_.Chance(power_loss_rate_)) {
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    if (n.up && CanLosePower(n)) Crash(n, "power loss", true);
  }
  if (partition_until_ >= 0 && now_ >= partition_until_) {
    HealAll();
    Trace("partition healed");
  }
  if (partition_until_ < 0 && rng_.Chance(partition_rate_)) {
    ++stats_.partitions;
    partition_until_ = now_ + rng_.Range(50, 1500);
    const int kind = static_cast<int>(rng_.Range(0, 2));
    std::string desc;
    if (kind == 0) {
      // Symmetric split into two sides.
      std::vector<int> side(nodes_.size() + 1);
      for (size_t i = 1; i <= nodes_.size(); ++i) side[i] = static_cast<int>(rng_.Range(0, 1));
      for (size_t a = 1; a <= nodes_.size(); ++a) {
        desc += std::to_string(side[a]);
        for (size_t b = 1; b <= nodes_.size(); ++b) blocked_[a][b] = side[a] != side[b];
      }
      desc = "symmetric sides " + desc;
    } else if (kind == 1) {
      // One node isolated in both directions.
      int x = static_cast<int>(rng_.Range(1, static_cast<int64_t>(nodes_.size())));
      for (size_t b = 1; b <= nodes_.size(); ++b) blocked_[x][b] = blocked_[b][x] = true;
      desc = "isolate " + std::to_string(x);
    } else {
      // Asymmetric: some directed links drop everything.
      for (size_t a = 1; a <= nodes_.size(); ++a) {
        for (size_t b = 1; b <= nodes_.size(); ++b) {
          if (a != b && rng_.Chance(0.3)) {
            blocked_[a][b] = true;
            desc += " " + std::to_string(a) + "->" + std::to_string(b);
          }
        }
      }
      desc = "asymmetric" + desc;
    }
    Trace("partition: " + desc + " until " + std::to_string(partition_until_));
  }
  if (rng_.Chance(retention_rate_)) {
    // Retention removes a committed, applied prefix (whole entries); in
    // interval mode only what is synced too.
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    Offset limit = std::min(n.last_applied, n.up ? n.node->persisted() : Offset(-1));
    if (interval_) limit = std::min(limit, n.synced.NextOffset() - 1);
    if (n.up && !n.pending && limit >= n.log.StartOffset()) {
      Offset o = n.log.StartOffset() + rng_.Range(0, limit - n.log.StartOffset());
      auto meta = n.log.Lookup(o);
      if (meta && meta->last_offset <= limit) {
        n.log.TruncatePrefix(meta->last_offset + 1);
        if (interval_) {
          auto smeta = n.synced.Lookup(meta->last_offset);
          if (smeta && smeta->last_offset == meta->last_offset) {
            n.synced.TruncatePrefix(meta->last_offset + 1);
          } else {
            n.synced = n.log;  // boundaries differ after a replaced suffix: the log is synced whole
          }
        }
        ++stats_.retentions;
        Trace("retention node " + std::to_string(n.id) + " start=" + std::to_string(n.log.StartOffset().value()));
      }
    }
  }
  if (rng_.Chance(transfer_rate_)) {
    if (SimNode* l = Leader()) {
      NodeId target(static_cast<int>(rng_.Range(1, static_cast<int64_t>(nodes_.size()))));
      auto r = l->node->TransferLeadership(target);
      if (Node(static_cast<int>(target.value())).learner) {
        // Thesis §4.2.1: a learner cannot lead, so it is never a target.
        if (r || r.error().code() != Errc::kInvalidArgument) {
          Violation("leader " + std::to_string(l->id) + " accepted a leadership transfer to learner " +
                    std::to_string(target.value()));
          return;
        }
        ++stats_.learner_transfers_refused;
      } else if (r) {
        ++stats_.transfers;
        Trace("transfer leadership " + std::to_string(l->id) + " -> " + std::to_string(target.value()));
      }
    }
  }
  if (rng_.Chance(campaign_rate_)) {
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    if (n.up) {
      n.node->Campaign();
      ++stats_.forced_campaigns;
      Trace("forced campaign on node " + std::to_string(n.id));
      Observe(n);
    }
  }
}

SimNode* Simulation::ProposeAt(SimNode& n, size_t bytes_extra) {
  if (!n.up) return nullptr;
  const uint64_t id = next_proposal_id_++;
  const int32_t records = static_cast<int32_t>(rng_.Range(1, 8));
  std::string bytes(8 + bytes_extra, 'r');
  std::memcpy(bytes.data(), &id, 8);
  auto r = n.node->Propose(Payload::Copy(bytes), records);
  if (!r) return nullptr;
  ++stats_.proposals;
  proposal_index_[id] = proposals_.size();
  proposals_.push_back(Proposal{id, n.id, r->term, r->base_offset, r->last_offset(), now_, n.ticks, std::nullopt});
  if (tracing()) {
    Trace("propose #" + std::to_string(id) + " at node " + std::to_string(n.id) +
          " term=" + std::to_string(r->term.value()) + " [" + std::to_string(r->base_offset.value()) + ".." +
          std::to_string(r->last_offset().value()) + "]");
  }
  return &n;
}

void Simulation::MaybePropose(double probability) {
  if (!rng_.Chance(probability)) return;
  // Mostly at the leader; sometimes at a random node, which must refuse
  // unless it is a (possibly stale) leader.
  SimNode* target = Leader();
  if (!target || rng_.Chance(0.1)) {
    target = &nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
  }
  ProposeAt(*target, static_cast<size_t>(rng_.Range(0, 56)));
}

void Simulation::SendFrom(SimNode& n, const Message& m) {
  CheckReply(n, m);
  Send(m);
}

void Simulation::Send(const Message& m) {
  ++stats_.messages;
  if (!calm() && rng_.Chance(loss_)) {
    ++stats_.dropped;
    return;
  }
  // Latency is random per message, so messages overtake each other, unless
  // the link is FIFO (as TCP is): always once healed, and on some seeds
  // throughout.
  int64_t& last = last_delivery_[m.from.value()][m.to.value()];
  int64_t at = now_ + rng_.Range(1, max_latency_);
  if (!calm() && !fifo_ && rng_.Chance(stale_delivery_)) {
    // A message stuck in a broken path (a datagram transport, a retransmit
    // queue) arrives long after later ones: an old term's append or vote.
    network_.push(InFlight{at + rng_.Range(100, 2000), seq_++, m});
    return;
  }
  if (calm() || fifo_) at = std::max(at, last);
  last = std::max(last, at);
  network_.push(InFlight{at, seq_++, m});
  if (!calm() && rng_.Chance(duplicate_)) {
    ++stats_.duplicated;
    network_.push(InFlight{now_ + rng_.Range(1, max_latency_), seq_++, m});
  }
}

void Simulation::StepNode(SimNode& n, const Message& m) {
  if (tracing()) Trace("deliver " + Describe(m));
  if (auto r = n.node->Step(m); !r) {
    // Every peer here is correct: a rejection is a bug on one side.
    Violation("node " + std::to_string(n.id) + " rejected " + Describe(m) + ": " + r.error().ToString());
    return;
  }
  Observe(n);
}

void Simulation::DeliverMessages() {
  // An owner that holds input during a write drains its inbox into one
  // Ready when the write completes, rather than one write per message.
  std::vector<int> batched;
  while (!network_.empty() && network_.top().deliver_at <= now_ && !failed_) {
    InFlight f = network_.top();
    network_.pop();
    const int from = f.message.from.value();
    const int to = f.message.to.value();
    if (blocked_[from][to]) continue;
    SimNode& n = Node(to);
    if (!n.up) continue;
    if (n.pending && queue_while_writing_) {
      // This seed's owner holds input until the write completes.
      network_.push(InFlight{std::max(n.pending_until, now_ + 1), seq_++, f.message});
      continue;
    }
    StepNode(n, f.message);
    if (queue_while_writing_) {
      batched.push_back(n.id);
    } else {
      ProcessReady(n);
    }
  }
  for (int id : batched) ProcessReady(Node(id));
}

void Simulation::TickNodes() {
  for (auto& n : nodes_) {
    if (!n.up || now_ < n.next_tick) continue;
    n.next_tick += n.tick_period;
    ++n.ticks;
    Role before = n.node->role();
    n.node->Tick();
    if (tracing() && n.node->role() != before) {
      Trace("node " + std::to_string(n.id) + " " + std::string(RoleName(before)) + " -> " +
            std::string(RoleName(n.node->role())) + " term=" + std::to_string(n.node->term().value()));
    }
    Observe(n);
    ProcessReady(n);
  }
}

void Simulation::ProcessReady(SimNode& n) {
  int rounds = 0;
  while (n.up && !n.pending && n.node->HasReady() && !failed_) {
    if (++rounds > 10000) {
      Violation("node " + std::to_string(n.id) + " always has a Ready (livelock)");
      return;
    }
    Ready rd = n.node->GetReady();
    if (early_send_) {
      for (const Message& m : rd.early_messages) SendFrom(n, m);
    }
    const int64_t write_time = max_write_time_ > 0 ? rng_.Range(0, max_write_time_) : 0;
    const bool writes = rd.hard_state || rd.log_reset || !rd.entries.empty();
    if (!calm() && rng_.Chance(mid_ready_crash_)) {
      if (rng_.Chance(0.5)) {
        // After persisting, before sending anything else.
        Persist(n, rd, rd.entries.size(), true);
        Crash(n, "after persisting a Ready, before sending");
      } else {
        n.pending = std::move(rd);
        Crash(n, "during a Ready's write");
      }
      return;
    }
    if (write_time > 0 && writes) {
      ++stats_.slow_writes;
      n.pending = std::move(rd);
      n.pending_until = now_ + write_time;
      n.pending_early_sent = early_send_;
      if (scenario_ == kLeaderCrashBeforeFsync && phase_ == 1 && n.node->role() == Role::kLeader &&
          !n.pending->entries.empty() && n.pending_until > now_ + 1) {
        // The scripted fault: crash just before the leader's write lands,
        // after its appends went out (and were possibly acked and stepped).
        n.crash_at = n.pending_until - 1;
        phase_ = 2;
        phase_at_ = now_;
        Trace("scenario: leader " + std::to_string(n.id) + " will crash before its write completes at " +
              std::to_string(n.pending_until));
      }
      return;
    }
    n.pending_early_sent = early_send_;
    FinishReady(n, rd);
  }
}

void Simulation::CompletePersistence() {
  for (auto& n : nodes_) {
    if (!n.up || !n.pending || n.pending_until > now_ || failed_) continue;
    Ready rd = std::move(*n.pending);
    n.pending.reset();
    FinishReady(n, rd);
    ProcessReady(n);
  }
}

void Simulation::FinishReady(SimNode& n, Ready& rd) {
  // 1. Persist.
  Persist(n, rd, rd.entries.size(), true);
  if (failed_) return;
  CheckCommittedOnDisk(n, rd.commit);
  if (failed_) return;
  // 2. Send (early messages went at GetReady on early-send seeds).
  if (!n.pending_early_sent) {
    for (const Message& m : rd.early_messages) SendFrom(n, m);
  }
  for (const Message& m : rd.messages) SendFrom(n, m);
  if (failed_) return;
  // 3. Apply.
  for (const Entry& e : rd.committed_entries) {
    CheckApply(n, e);
    if (failed_) return;
  }
  // 4. Advance.
  n.node->Advance(rd);
  if (n.abstain > Term(0) && !n.node->abstaining()) {
    Trace("node " + std::to_string(n.id) + " holds a newer leader's entry: votes again");
    n.abstain = Term(0);
  }
  Observe(n);
}

// After any input to a node: election safety, leader completeness for a new
// leader, and newly committed entries.
void Simulation::Observe(SimNode& n) {
  if (!n.up || failed_) return;
  if (n.learner && n.node->role() != Role::kFollower) {
    // Thesis §4.2.1: a learner never campaigns, so never leads.
    Violation("learner " + std::to_string(n.id) + " became " + std::string(RoleName(n.node->role())) + " in term " +
              std::to_string(n.node->term().value()));
    return;
  }
  if (n.node->role() == Role::kLeader) {
    auto [it, inserted] = leader_of_term_.emplace(n.node->term().value(), n.id);
    if (!inserted && it->second != n.id) {
      Violation("election safety: two leaders in term " + std::to_string(n.node->term().value()) + ": nodes " +
                std::to_string(it->second) + " and " + std::to_string(n.id));
      return;
    }
    if (n.verified_leader_term != n.node->term()) {
      n.verified_leader_term = n.node->term();
      ++stats_.leaders_elected;
      Trace("node " + std::to_string(n.id) + " is leader of term " + std::to_string(n.node->term().value()));
      CheckLeaderCompleteness(n);
      if (failed_) return;
      OnLeader(n);
    }
  }
  CheckCommitted(n);
}

// ---------------------------------------------------------------------------
// Scenarios

void Simulation::Isolate(int id) {
  for (size_t b = 1; b <= nodes_.size(); ++b) blocked_[id][b] = blocked_[b][id] = true;
  blocked_[id][id] = false;
}

void Simulation::Split(std::vector<int> side_a) {
  std::vector<bool> in_a(nodes_.size() + 1);
  for (int id : side_a) in_a[static_cast<size_t>(id)] = true;
  for (size_t a = 1; a <= nodes_.size(); ++a) {
    for (size_t b = 1; b <= nodes_.size(); ++b) blocked_[a][b] = in_a[a] != in_a[b];
  }
}

void Simulation::EndScenario() {
  ++stats_.scenarios[scenario_];
  Trace("scenario " + std::to_string(static_cast<int>(scenario_)) + " done");
  HealAll();
  for (auto& n : nodes_) {
    if (!n.up && n.down_until == kNever) n.down_until = now_ + rng_.Range(20, 300);
  }
  // Run it again while there is time; the random fault mix resumes between.
  phase_ = 0;
  phase_at_ = now_ + 500;
  if (++scenario_runs_ >= 3 || now_ > opt_.fault_steps - 2500) scenario_ = kNoScenario;
}

void Simulation::OnLeader(SimNode& n) {
  if (scenario_ == kFigure8 && phase_ == 2 && n.id != actor_a_ && n.id != actor_b_) {
    // Figure 8 (b): a leader of a newer term whose entries stay on its own
    // log: cut it off before its no-op leaves, give it entries, crash it.
    actor_x_ = n.id;
    Isolate(n.id);
    for (int i = 0; i < 3; ++i) ProposeAt(n, 40);
    phase_ = 3;
    phase_at_ = now_;
    Trace("scenario fig8: node " + std::to_string(n.id) + " leads term " + std::to_string(n.node->term().value()) +
          " alone");
  } else if (scenario_ == kFigure8 && phase_ == 4 && (n.id == actor_a_ || n.id == actor_b_) &&
             n.node->term() > term_a_) {
    // Figure 8 (c): the old term's entries are re-replicated; crash this
    // leader as soon as its commit moves (see RunScenario).
    actor_a_ = n.id;
    commit_mark_ = n.node->commit();
    phase_ = 5;
    phase_at_ = now_;
    Trace("scenario fig8: node " + std::to_string(n.id) + " re-replicates term " + std::to_string(term_a_.value()) +
          " entries");
  }
}

void Simulation::RunScenario() {
  if (scenario_ == kNoScenario || now_ < phase_at_) return;
  const int64_t since = now_ - phase_at_;
  SimNode* leader = Leader();
  switch (scenario_) {
    case kFigure8:
    case kStaleSuffix:
      if (phase_ == 0) {
        // (a) a leader that committed something, and one follower.
        if (now_ < 300 || !leader || leader->node->commit() < Offset(0)) return;
        actor_a_ = leader->id;
        actor_b_ = actor_a_ % voters_ + 1;  // a voter: the script is about majorities
        if (!Node(actor_b_).up) return;
        term_a_ = leader->node->term();
        Split({actor_a_, actor_b_});
        for (int i = 0; i < 4; ++i) ProposeAt(*leader, 40);
        phase_ = 1;
        phase_at_ = now_;
        Trace("scenario: node " + std::to_string(actor_a_) + " replicates term " + std::to_string(term_a_.value()) +
              " entries to node " + std::to_string(actor_b_) + " only");
      } else if (phase_ == 1 && since > 150) {
        Crash(Node(actor_a_), "scenario");
        Node(actor_a_).down_until = kNever;
        phase_ = 2;
        phase_at_ = now_;
      } else if (phase_ == 2 && scenario_ == kStaleSuffix) {
        // The other side elects a leader and commits past the offsets of the
        // follower's stale suffix before the follower rejoins.
        if (leader && leader->id != actor_b_ && leader->node->term() > term_a_ &&
            leader->node->commit() > Node(actor_b_).log.LastPosition().offset + 4) {
          HealAll();
          Node(actor_a_).down_until = now_ + 2000;
          phase_ = 3;
          phase_at_ = now_;
          Trace("scenario stale: node " + std::to_string(actor_b_) + " rejoins leader " + std::to_string(leader->id) +
                " with a stale suffix");
        } else if (leader && since % 50 == 0) {
          ProposeAt(*leader, 40);
        }
        if (since > 3000) EndScenario();
      } else if (phase_ == 2 && since > 3000) {
        EndScenario();
      } else if (phase_ == 3 && scenario_ == kStaleSuffix && since > 1000) {
        EndScenario();
      } else if (phase_ == 3 && scenario_ == kFigure8 && since > 60) {
        // (c) the newer leader goes down; the old one comes back.
        Crash(Node(actor_x_), "scenario");
        Node(actor_x_).down_until = kNever;
        HealAll();
        Node(actor_a_).down_until = now_;
        phase_ = 4;
        phase_at_ = now_;
      } else if (phase_ == 4 && since > 3000) {
        EndScenario();
      } else if (phase_ == 5) {
        SimNode& a = Node(actor_a_);
        if (a.up && a.node->role() == Role::kLeader && a.node->commit() > commit_mark_) {
          // (d) its commit moved: crash it and bring back the newer-term
          // node, which wins only if no majority has this leader's no-op.
          Crash(a, "scenario: commit moved");
          Node(actor_x_).down_until = now_;
          phase_ = 6;
          phase_at_ = now_;
        } else if (since > 2000) {
          EndScenario();
        }
      } else if (phase_ == 6 && since > 1500) {
        EndScenario();
      }
      break;
    case kLeaderCrashBeforeFsync:
      if (phase_ == 0 && leader && now_ > 200) {
        phase_ = 1;  // armed: ProcessReady schedules the crash
        phase_at_ = now_;
      } else if (phase_ == 2 && since > 800) {
        EndScenario();
      }
      break;
    default: break;
  }
}

// ---------------------------------------------------------------------------
// Invariants

void Simulation::CheckLeaders() {
  // Election Safety (§5.2): at most one leader per term, ever.
  for (auto& n : nodes_) Observe(n);
}

void Simulation::CheckPersist(SimNode& n, const Ready& rd) {
  // A node may drop entries from its log (a conflicting suffix, or all of it
  // on a restart from the leader's log start), but never a committed one.
  Offset from = Offset(std::numeric_limits<int64_t>::max());
  if (rd.log_reset) from = n.log.StartOffset();
  if (!rd.entries.empty()) from = std::min(from, rd.entries.front().base_offset);
  for (auto it = n.log.entries().rbegin(); it != n.log.entries().rend(); ++it) {
    if (it->base_offset < from) break;
    if (rd.log_reset && it->base_offset <= rd.log_reset->offset) continue;  // below new start
    auto c = committed_.find(it->base_offset.value());
    if (c != committed_.end() && c->second.term == it->term) {
      bool rewritten_same = false;
      for (const Entry& e : rd.entries) {
        if (e.base_offset == it->base_offset && e.term == it->term) rewritten_same = true;
      }
      if (!rewritten_same) {
        Violation("durability: node " + std::to_string(n.id) + " drops committed entry at offset " +
                  std::to_string(it->base_offset.value()));
        return;
      }
    }
  }
}

void Simulation::CheckLeaderCompleteness(SimNode& n) {
  // Leader Completeness (§5.4): a leader's log holds every committed entry
  // (those below its log start were committed and removed by retention).
  // Checked on the node's view of its log when it first acts as leader.
  for (const auto& [base, c] : committed_) {
    if (Offset(base) < n.log.StartOffset()) continue;
    auto meta = n.node->Lookup(Offset(base));
    if (!meta || meta->term != c.term || meta->last_offset != c.last) {
      Violation("leader completeness: node " + std::to_string(n.id) + " leads term " +
                std::to_string(n.node->term().value()) + " without committed entry at offset " + std::to_string(base));
      return;
    }
  }
}

void Simulation::CheckCommitted(SimNode& n) {
  // Every entry up to any node's commit index is committed: the same entry
  // at each offset whoever reports it, and, when first reported, durable on
  // a majority's disks (a commit index never runs ahead of durability).
  Offset commit = n.node->commit();
  if (commit <= n.commit_seen) return;
  Offset o = n.commit_seen + 1;
  n.commit_seen = commit;
  while (o <= commit) {
    auto meta = n.node->Lookup(o);
    if (!meta) {
      o = o + 1;  // below the log start: committed and already registered by someone
      continue;
    }
    auto [it, inserted] =
        committed_.emplace(meta->base_offset.value(), CommittedEntry{meta->term, meta->last_offset, {}});
    if (!inserted) {
      if (it->second.term != meta->term || it->second.last != meta->last_offset) {
        Violation("state machine safety: node " + std::to_string(n.id) + " commits term " +
                  std::to_string(meta->term.value()) + " at offset " + std::to_string(meta->base_offset.value()) +
                  ", committed before with term " + std::to_string(it->second.term.value()));
        return;
      }
    } else {
      ++stats_.committed_entries;
      int holders = 0;  // voters only: a learner's copy makes nothing committed
      for (auto& m : nodes_) {
        if (m.learner) continue;
        if (m.log.StartOffset() > meta->last_offset) {
          ++holders;
          continue;
        }
        auto held = m.log.Lookup(meta->base_offset);
        if (held && held->term == meta->term && held->last_offset == meta->last_offset) ++holders;
      }
      // fsync: interval: acks mean written, not synced, and a power loss
      // may take a copy away before the ack is counted; safety there rests
      // on abstention and is checked by the other invariants.
      if (holders < Majority() && !interval_) {
        Violation("durability: entry [" + std::to_string(meta->base_offset.value()) + ".." +
                  std::to_string(meta->last_offset.value()) + "] term " + std::to_string(meta->term.value()) +
                  " committed (node " + std::to_string(n.id) + ") while on only " + std::to_string(holders) +
                  " voters' disks");
        return;
      }
      if (tracing()) {
        Trace("commit [" + std::to_string(meta->base_offset.value()) + ".." +
              std::to_string(meta->last_offset.value()) + "] term " + std::to_string(meta->term.value()) +
              " seen at node " + std::to_string(n.id));
      }
    }
    o = meta->last_offset + 1;
  }
}

void Simulation::CheckReply(SimNode& n, const Message& m) {
  // Figure 2: persistent state is updated on stable storage before
  // responding. A granted vote must already be on this node's disk; an
  // append ack must cover only entries on it.
  if (m.type == MessageType::kVoteResponse && !m.reject) {
    // A durable later term also does: the node can never vote in m.term again.
    if (n.hard.term < m.term || (n.hard.term == m.term && n.hard.vote != m.to)) {
      Violation("durability: node " + std::to_string(n.id) + " grants its vote in term " +
                std::to_string(m.term.value()) + " to node " + std::to_string(m.to.value()) +
                " before the vote is on disk");
    }
  } else if (m.type == MessageType::kAppendResponse && !m.reject && m.offset >= n.log.StartOffset()) {
    if (m.offset > n.log.LastPosition().offset) {
      Violation("durability: node " + std::to_string(n.id) + " acks offset " + std::to_string(m.offset.value()) +
                " while its disk ends at " + std::to_string(n.log.LastPosition().offset.value()));
    }
  }
}

void Simulation::CheckApply(SimNode& n, const Entry& e) {
  if (e.base_offset != n.last_applied + 1) {
    Violation("node " + std::to_string(n.id) + " applies offset " + std::to_string(e.base_offset.value()) + " after " +
              std::to_string(n.last_applied.value()));
    return;
  }
  n.last_applied = e.last_offset();
  // State Machine Safety (§5.4.3): same offset, same entry, on every node.
  // The entry was registered as committed when a commit index first covered
  // it (CheckCommitted); applying never runs ahead of that.
  auto it = committed_.find(e.base_offset.value());
  if (it == committed_.end()) {
    Violation("node " + std::to_string(n.id) + " applies offset " + std::to_string(e.base_offset.value()) +
              " that no commit index covered");
    return;
  }
  CommittedEntry& c = it->second;
  if (c.term != e.term || c.last != e.last_offset() || (c.content && *c.content != ContentId(e))) {
    Violation("state machine safety: node " + std::to_string(n.id) + " applies a different entry at offset " +
              std::to_string(e.base_offset.value()) + " (term " + std::to_string(e.term.value()) + " vs " +
              std::to_string(c.term.value()) + ")");
    return;
  }
  c.content = ContentId(e);
  if (uint64_t id = ContentId(e); id != 0) {
    auto p = proposal_index_.find(id);
    if (p != proposal_index_.end()) {
      Proposal& prop = proposals_[p->second];
      if (prop.node == n.id && !prop.applied_tick) prop.applied_tick = n.ticks;
    }
  }
}

void Simulation::CheckCommittedOnDisk(SimNode& n, Offset commit) {
  // State machine safety on disk, for learners as for voters: once a Ready
  // is persisted, the node's log up to the commit index it carried is the
  // committed log (a stale suffix may remain only above it). Checked
  // incrementally from what was verified before.
  const Offset last = std::min(commit, n.log.LastPosition().offset);
  Offset o = std::max(n.disk_checked + 1, n.log.StartOffset());
  while (o <= last) {
    auto meta = n.log.Lookup(o);
    if (!meta) break;
    auto c = committed_.find(meta->base_offset.value());
    if (c == committed_.end() || c->second.term != meta->term || c->second.last != meta->last_offset) {
      Violation("state machine safety: " + std::string(n.learner ? "learner " : "node ") + std::to_string(n.id) +
                " holds [" + std::to_string(meta->base_offset.value()) + ".." +
                std::to_string(meta->last_offset.value()) + "] term " + std::to_string(meta->term.value()) +
                " on disk below its commit " + std::to_string(commit.value()) + ", " +
                (c == committed_.end() ? std::string("never committed")
                                       : "committed there: term " + std::to_string(c->second.term.value())));
      return;
    }
    n.disk_checked = meta->last_offset;
    o = meta->last_offset + 1;
  }
}

void Simulation::CheckLiveness() {
  // After the heal: a leader must exist and every proposal it accepted in
  // its term must have committed within kCommitBoundTicks of its ticks.
  // Slow writes (a leader's, then a follower's) add to the round trip.
  const int64_t kCommitBoundTicks = 50 + 3 * max_write_time_;
  // Abstaining nodes (fsync: interval) leave fewer voters to agree; without
  // pre-vote a node with a stale log keeps disrupting elections (each of
  // its vote requests bumps the term and restarts the others' timers).
  const int kElectBoundTicks = interval_ || basic_raft_ ? 250 : 60;
  int max_period = 0;
  for (auto& n : nodes_) {
    if (!n.learner) max_period = std::max(max_period, n.tick_period);
  }
  const int64_t elect_bound = int64_t{kElectBoundTicks} * max_period;
  if (!leader_after_heal_at_ || *leader_after_heal_at_ - healed_at_ > elect_bound) {
    Violation("liveness: no leader within " + std::to_string(kElectBoundTicks) +
              " ticks of the slowest node after faults healed");
    return;
  }
  SimNode* l = Leader();
  if (!l) {
    Violation("liveness: no leader " + std::to_string(now_ - healed_at_) + " time units after faults healed");
    return;
  }
  for (const Proposal& p : proposals_) {
    if (p.node != l->id || p.term != l->node->term()) continue;
    if (p.applied_tick) {
      if (*p.applied_tick - p.accepted_tick > kCommitBoundTicks && p.accepted_at >= bound_from_) {
        Violation("liveness: proposal #" + std::to_string(p.id) + " took " +
                  std::to_string(*p.applied_tick - p.accepted_tick) + " ticks to commit");
        return;
      }
    } else if (l->ticks - p.accepted_tick > kCommitBoundTicks) {
      // Accepted before the heal or after it: by now it must have committed.
      Violation("liveness: proposal #" + std::to_string(p.id) + " accepted by leader " + std::to_string(l->id) +
                " in term " + std::to_string(p.term.value()) + " is not committed after " +
                std::to_string(l->ticks - p.accepted_tick) + " ticks");
      return;
    }
  }
  // Every node, learners included, has caught up with the leader.
  for (auto& n : nodes_) {
    if (n.log.LastPosition() != l->log.LastPosition() || n.last_applied != l->last_applied) {
      Violation("liveness: " + std::string(n.learner ? "learner " : "node ") + std::to_string(n.id) +
                " did not catch up with leader " + std::to_string(l->id) + " (last " +
                std::to_string(n.log.LastPosition().offset.value()) + " vs " +
                std::to_string(l->log.LastPosition().offset.value()) + ", applied " +
                std::to_string(n.last_applied.value()) + " vs " + std::to_string(l->last_applied.value()) + ")");
      return;
    }
  }
}

Outcome Simulation::Run() {
  Setup();
  const int64_t end = opt_.fault_steps + opt_.heal_steps;
  // The last stretch has no proposals, so the group can settle.
  // Heal phase: a third to elect a leader and catch everyone up, a third of
  // proposals whose commit latency is bounded, a quiet third to converge.
  const int64_t settle_until = opt_.fault_steps + opt_.heal_steps / 3;
  const int64_t quiet_from = end - opt_.heal_steps / 3;
  bound_from_ = settle_until;
  for (now_ = 1; now_ <= end && !failed_; ++now_) {
    ++stats_.steps;
    if (!healed_ && now_ > opt_.fault_steps) {
      healed_ = true;
      healed_at_ = now_;
      scenario_ = kNoScenario;
      HealAll();
      for (auto& n : nodes_) {
        if (!n.up) n.down_until = now_;
        n.crash_at = kNever;
      }
      Trace("faults healed: all nodes up, no partitions, no loss or duplication");
    }
    InjectFaults();
    RunScenario();
    if (now_ <= opt_.fault_steps || (now_ >= settle_until && now_ < quiet_from)) {
      MaybePropose(propose_rate_);
    }
    CompletePersistence();
    DeliverMessages();
    TickNodes();
    for (auto& n : nodes_) ProcessReady(n);
    CheckLeaders();
    if (healed_ && !leader_after_heal_at_ && Leader()) {
      leader_after_heal_at_ = now_;
    }
  }
  now_ = end;
  if (!failed_) CheckLiveness();
  Outcome out;
  out.ok = !failed_;
  out.failure = failure_;
  out.stats = stats_;
  std::ostringstream s;
  s << voters_ << " nodes";
  if (learners_ > 0) s << " + " << learners_ << " learners";
  s << ", loss=" << loss_ << " dup=" << duplicate_ << " latency<=" << max_latency_ << " write<=" << max_write_time_
    << (interval_ ? " fsync=interval" : " fsync=always");
  out.summary = s.str();
  for (const auto& line : trace_) out.trace += line + "\n";
  return out;
}

}  // namespace

Outcome RunSimulation(const Options& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace telemq::raft::sim
