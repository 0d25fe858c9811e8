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
}

namespace {

// std:: distributions differ between standard libraries; map the raw 64-bit
// output ourselves so a seed means the same run everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  // Uniform in [lo, hi]; the modulo bias is irrelevant here.
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // True with probability p.
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::mt19937_64 gen_;
};

constexpr int kElectionTicks = 10;
constexpr int kMaxNodes = 5;

// Identity of an entry's content: the proposal id for normal entries, 0 for
// a leader's no-op.
uint64_t ContentId(const Entry& e) {
  if (e.type == EntryType::kNoop || e.payload.size() < 8) return 0;
  uint64_t id;
  std::memcpy(&id, e.payload.bytes().data(), 8);
  return id;
}

struct SimNode {
  int id = 0;
  bool up = true;
  int64_t down_until = 0;
  MemoryLog log;   // the disk: what was persisted survives crashes (fsync: always)
  HardState hard;  // likewise
  std::unique_ptr<Node> node;
  std::unique_ptr<Rng> rng;  // the node's election-timeout generator
  int tick_period = 10;      // simulated time units per tick
  int64_t next_tick = 0;
  int64_t ticks = 0;
  Offset last_applied{-1};
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
  uint64_t content;
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
  void Crash(SimNode& n, const char* why);
  void InjectFaults();
  void HealAll();
  void MaybePropose(double probability);

  // --- the step
  void DeliverMessages();
  void TickNodes();
  void ProcessReady(SimNode& n);
  void Send(const Message& m);

  // --- invariants
  void CheckLeaders();
  void CheckPersist(SimNode& n, const Ready& rd);
  void CheckLeaderCompleteness(SimNode& n);
  void CheckApply(SimNode& n, const Entry& e);
  void CheckLiveness();
  void Violation(const std::string& what);

  void Trace(const std::string& line);
  bool tracing() const { return opt_.trace_lines > 0 || opt_.verbose; }
  std::string Describe(const Message& m) const;

  SimNode* Leader();
  int Majority() const { return static_cast<int>(nodes_.size()) / 2 + 1; }

  Options opt_;
  Rng rng_;
  Stats stats_;
  std::vector<SimNode> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> network_;
  uint64_t seq_ = 0;
  int64_t now_ = 0;
  bool healed_ = false;
  bool failed_ = false;
  std::string failure_;

  // Fault mix of this seed.
  double loss_ = 0;
  double duplicate_ = 0;
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
  bool blocked_[kMaxNodes + 1][kMaxNodes + 1] = {};
  int64_t partition_until_ = -1;
  bool fifo_ = false;
  int64_t last_delivery_[kMaxNodes + 1][kMaxNodes + 1] = {};

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
  // Keep the offered load (~40 bytes a proposal) to a quarter of what the
  // flow-control window carries over the slowest round trip, so commit
  // latency stays bounded and a lagging follower can catch up.
  const double window_bytes_per_unit =
      static_cast<double>(max_append_bytes_ * max_inflight_) / (2.0 * max_latency_ + 2);
  propose_rate_ = std::min(propose_rate_, window_bytes_per_unit / 160.0);
  const bool skewed = rng_.Chance(0.3);
  nodes_.resize(size);
  for (int i = 0; i < size; ++i) {
    SimNode& n = nodes_[i];
    n.id = i + 1;
    // Unequal clocks: every node ticks at its own rate, some far apart.
    n.tick_period = static_cast<int>(skewed ? rng_.Range(4, 30) : rng_.Range(8, 12));
    n.rng = std::make_unique<Rng>(rng_.Next());
    StartNode(n);
  }
  std::ostringstream s;
  s << size << " nodes, loss=" << loss_ << " dup=" << duplicate_ << " latency<=" << max_latency_
    << (fifo_ ? " fifo" : " reordering") << " crash=" << crash_rate_ << " partition=" << partition_rate_
    << " retention=" << retention_rate_ << " propose=" << propose_rate_ << " tick periods=";
  for (auto& n : nodes_) s << n.tick_period << (n.id == size ? "" : ",");
  Trace("setup: " + s.str());
}

void Simulation::StartNode(SimNode& n) {
  Config c;
  c.id = NodeId(n.id);
  for (size_t i = 1; i <= nodes_.size(); ++i) c.voters.push_back(NodeId(static_cast<int>(i)));
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = 1;
  c.max_append_bytes = max_append_bytes_;
  c.max_inflight_appends = max_inflight_;
  Rng* rng = n.rng.get();
  c.random = [rng] { return rng->Next(); };
  n.node = std::make_unique<Node>(std::move(c), &n.log, n.hard);
  n.up = true;
  n.last_applied = n.node->applied();
  n.next_tick = now_ + rng_.Range(1, n.tick_period);
}

void Simulation::Crash(SimNode& n, const char* why) {
  n.node.reset();
  n.up = false;
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
            std::to_string(n.log.NextOffset().value()) + ") term=" + std::to_string(n.hard.term.value()));
    }
  }
  if (healed_) return;
  if (rng_.Chance(crash_rate_)) {
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    if (n.up) Crash(n, "between steps");
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
    // Retention removes a committed, applied prefix (whole entries).
    SimNode& n = nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
    Offset limit = std::min(n.last_applied, n.up ? n.node->persisted() : Offset(-1));
    if (n.up && limit >= n.log.StartOffset()) {
      Offset o = n.log.StartOffset() + rng_.Range(0, limit - n.log.StartOffset());
      auto meta = n.log.Lookup(o);
      if (meta && meta->last_offset <= limit) {
        n.log.TruncatePrefix(meta->last_offset + 1);
        ++stats_.retentions;
        Trace("retention node " + std::to_string(n.id) + " start=" + std::to_string(n.log.StartOffset().value()));
      }
    }
  }
  if (rng_.Chance(transfer_rate_)) {
    if (SimNode* l = Leader()) {
      NodeId target(static_cast<int>(rng_.Range(1, static_cast<int64_t>(nodes_.size()))));
      if (l->node->TransferLeadership(target)) {
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
    }
  }
}

void Simulation::MaybePropose(double probability) {
  if (!rng_.Chance(probability)) return;
  // Mostly at the leader; sometimes at a random node, which must refuse
  // unless it is a (possibly stale) leader.
  SimNode* target = Leader();
  if (!target || rng_.Chance(0.1)) {
    target = &nodes_[rng_.Range(0, static_cast<int64_t>(nodes_.size()) - 1)];
  }
  if (!target->up) return;
  const uint64_t id = next_proposal_id_++;
  const int32_t records = static_cast<int32_t>(rng_.Range(1, 8));
  std::string bytes(8 + static_cast<size_t>(rng_.Range(0, 56)), 'r');
  std::memcpy(bytes.data(), &id, 8);
  auto r = target->node->Propose(Payload::Copy(bytes), records);
  if (!r) return;
  ++stats_.proposals;
  proposal_index_[id] = proposals_.size();
  proposals_.push_back(
      Proposal{id, target->id, r->term, r->base_offset, r->last_offset(), now_, target->ticks, std::nullopt});
  if (tracing()) {
    Trace("propose #" + std::to_string(id) + " at node " + std::to_string(target->id) +
          " term=" + std::to_string(r->term.value()) + " [" + std::to_string(r->base_offset.value()) + ".." +
          std::to_string(r->last_offset().value()) + "]");
  }
}

void Simulation::Send(const Message& m) {
  ++stats_.messages;
  if (!healed_ && rng_.Chance(loss_)) {
    ++stats_.dropped;
    return;
  }
  // Latency is random per message, so messages overtake each other, unless
  // the link is FIFO (as TCP is): always once healed, and on some seeds
  // throughout.
  int64_t& last = last_delivery_[m.from.value()][m.to.value()];
  int64_t at = now_ + rng_.Range(1, max_latency_);
  if (healed_ || fifo_) at = std::max(at, last);
  last = std::max(last, at);
  network_.push(InFlight{at, seq_++, m});
  if (!healed_ && rng_.Chance(duplicate_)) {
    ++stats_.duplicated;
    network_.push(InFlight{now_ + rng_.Range(1, max_latency_), seq_++, m});
  }
}

void Simulation::DeliverMessages() {
  while (!network_.empty() && network_.top().deliver_at <= now_ && !failed_) {
    InFlight f = network_.top();
    network_.pop();
    const int from = f.message.from.value();
    const int to = f.message.to.value();
    if (blocked_[from][to]) continue;
    SimNode& n = nodes_[to - 1];
    if (!n.up) continue;
    if (opt_.verbose || opt_.trace_lines > 0) Trace("deliver " + Describe(f.message));
    if (auto r = n.node->Step(f.message); !r) {
      Violation("node " + std::to_string(n.id) + " rejected " + Describe(f.message) + ": " + r.error().ToString());
      return;
    }
    ProcessReady(n);
  }
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
    ProcessReady(n);
  }
}

void Simulation::ProcessReady(SimNode& n) {
  int rounds = 0;
  while (n.up && n.node->HasReady() && !failed_) {
    if (++rounds > 1000) {
      Violation("node " + std::to_string(n.id) + " always has a Ready (livelock)");
      return;
    }
    Ready rd = n.node->GetReady();
    // A crash in the middle of handling a Ready: before anything is durable,
    // or after persisting but before sending. Both are within the contract.
    if (!healed_ && rng_.Chance(mid_ready_crash_)) {
      if (rng_.Chance(0.5)) {
        CheckPersist(n, rd);
        if (rd.log_reset) n.log.Reset(*rd.log_reset);
        n.log.Append(rd.entries);
        if (rd.hard_state) n.hard = *rd.hard_state;
        Crash(n, "after persisting a Ready, before sending");
      } else {
        Crash(n, "before persisting a Ready");
      }
      return;
    }
    // 1. Persist (fsync: always: durable at once).
    CheckPersist(n, rd);
    if (failed_) return;
    if (rd.log_reset) {
      n.log.Reset(*rd.log_reset);
      n.last_applied = std::max(n.last_applied, rd.log_reset->offset);
      ++stats_.log_resets;
      Trace("node " + std::to_string(n.id) + " log reset to start " + std::to_string(rd.log_reset->offset.value() + 1));
    }
    n.log.Append(rd.entries);
    for (const Entry& e : rd.entries) {
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
    if (rd.hard_state) n.hard = *rd.hard_state;
    if (rd.role == Role::kLeader && n.verified_leader_term != n.node->term()) {
      n.verified_leader_term = n.node->term();
      ++stats_.leaders_elected;
      Trace("node " + std::to_string(n.id) + " is leader of term " + std::to_string(n.node->term().value()));
      CheckLeaderCompleteness(n);
      if (failed_) return;
    }
    // 2. Send.
    for (const Message& m : rd.early_messages) Send(m);
    for (const Message& m : rd.messages) Send(m);
    // 3. Apply.
    for (const Entry& e : rd.committed_entries) {
      CheckApply(n, e);
      if (failed_) return;
    }
    // 4. Advance.
    n.node->Advance(rd);
  }
}

// ---------------------------------------------------------------------------
// Invariants

void Simulation::CheckLeaders() {
  // Election Safety (§5.2): at most one leader per term, ever.
  for (auto& n : nodes_) {
    if (!n.up || n.node->role() != Role::kLeader) continue;
    auto [it, inserted] = leader_of_term_.emplace(n.node->term().value(), n.id);
    if (!inserted && it->second != n.id) {
      Violation("two leaders in term " + std::to_string(n.node->term().value()) + ": nodes " +
                std::to_string(it->second) + " and " + std::to_string(n.id));
      return;
    }
  }
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
        Violation("node " + std::to_string(n.id) + " drops committed entry at offset " +
                  std::to_string(it->base_offset.value()));
        return;
      }
    }
  }
}

void Simulation::CheckLeaderCompleteness(SimNode& n) {
  // Leader Completeness (§5.4): a leader's log holds every committed entry
  // (those below its log start were committed and removed by retention).
  // The log on disk plus what this Ready persists is the leader's log.
  for (const auto& [base, c] : committed_) {
    if (Offset(base) < n.log.StartOffset()) continue;
    auto meta = n.log.Lookup(Offset(base));
    if (!meta || meta->term != c.term || meta->last_offset != c.last) {
      Violation("leader completeness: node " + std::to_string(n.id) + " leads term " +
                std::to_string(n.node->term().value()) + " without committed entry at offset " + std::to_string(base));
      return;
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
  CommittedEntry mine{e.term, e.last_offset(), ContentId(e)};
  auto [it, inserted] = committed_.emplace(e.base_offset.value(), mine);
  if (!inserted) {
    const CommittedEntry& c = it->second;
    if (c.term != mine.term || c.last != mine.last || c.content != mine.content) {
      Violation("node " + std::to_string(n.id) + " applies a different entry at offset " +
                std::to_string(e.base_offset.value()) + " (term " + std::to_string(e.term.value()) + " vs " +
                std::to_string(c.term.value()) + ")");
    }
  } else {
    ++stats_.committed_entries;
    // Durability: a newly committed entry is on a majority's disk.
    int holders = 0;
    for (auto& m : nodes_) {
      if (m.log.StartOffset() > e.last_offset()) {
        ++holders;
        continue;
      }
      auto meta = m.log.Lookup(e.base_offset);
      if (meta && meta->term == e.term && meta->last_offset == e.last_offset()) ++holders;
    }
    if (holders < Majority()) {
      Violation("entry at offset " + std::to_string(e.base_offset.value()) + " applied while durable on only " +
                std::to_string(holders) + " nodes");
    }
    if (tracing()) {
      Trace("commit [" + std::to_string(e.base_offset.value()) + ".." + std::to_string(e.last_offset().value()) +
            "] term " + std::to_string(e.term.value()) + " #" + std::to_string(ContentId(e)));
    }
  }
  if (uint64_t id = ContentId(e); id != 0) {
    auto p = proposal_index_.find(id);
    if (p != proposal_index_.end()) {
      Proposal& prop = proposals_[p->second];
      if (prop.node == n.id && !prop.applied_tick) prop.applied_tick = n.ticks;
    }
  }
}

void Simulation::CheckLiveness() {
  // After the heal: a leader must exist and every proposal it accepted in
  // its term must have committed within kCommitBoundTicks of its ticks.
  constexpr int64_t kCommitBoundTicks = 50;
  constexpr int kElectBoundTicks = 60;
  int max_period = 0;
  for (auto& n : nodes_) max_period = std::max(max_period, n.tick_period);
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
  // Every node has caught up with the leader.
  for (auto& n : nodes_) {
    if (n.log.LastPosition() != l->log.LastPosition() || n.last_applied != l->last_applied) {
      Violation("liveness: node " + std::to_string(n.id) + " did not catch up with leader " + std::to_string(l->id) +
                " (last " + std::to_string(n.log.LastPosition().offset.value()) + " vs " +
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
      HealAll();
      for (auto& n : nodes_) {
        if (!n.up) n.down_until = now_;
      }
      Trace("faults healed: all nodes up, no partitions, no loss or duplication");
    }
    InjectFaults();
    if (now_ <= opt_.fault_steps || (now_ >= settle_until && now_ < quiet_from)) {
      MaybePropose(propose_rate_);
    }
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
  s << nodes_.size() << " nodes, loss=" << loss_ << " dup=" << duplicate_ << " latency<=" << max_latency_;
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
