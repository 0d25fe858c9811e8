#include "tests/sim/replica_simulator.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "broker/raft/types.h"
#include "broker/replication/replica.h"
#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/partition_log.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"
#include "tests/sim/memory_file_system.h"
#include "tests/sim/sim_common.h"

namespace telemq::replication::sim {

void Stats::Add(const Stats& o) {
  steps += o.steps;
  messages += o.messages;
  dropped += o.dropped;
  duplicated += o.duplicated;
  partitions += o.partitions;
  crashes += o.crashes;
  torn_crashes += o.torn_crashes;
  process_crashes += o.process_crashes;
  power_losses += o.power_losses;
  write_faults += o.write_faults;
  transfers += o.transfers;
  retentions += o.retentions;
  reopened += o.reopened;
  syncs += o.syncs;
  produce_requests += o.produce_requests;
  acked_all += o.acked_all;
  acked_leader += o.acked_leader;
  deduplicated += o.deduplicated;
  not_leader += o.not_leader;
  timeouts += o.timeouts;
  epoch_bumps += o.epoch_bumps;
  acked_without_offset += o.acked_without_offset;
  stale_leader_refusals += o.stale_leader_refusals;
  extra_heal_ms += o.extra_heal_ms;
  producers_forgotten += o.producers_forgotten;
  committed_batches += o.committed_batches;
  consumer_reads += o.consumer_reads;
  fenced_reads += o.fenced_reads;
  leader_terms += o.leader_terms;
}

namespace {

constexpr int kReplicas = 3;
constexpr int kMaxExtraHealMs = 5000;
constexpr int64_t kEpochMs = 1'700'000'000'000;

using telemq::sim::Rng;

class SimExecutor final : public Executor {
 public:
  void Post(std::function<void()> task) override { tasks.push_back(std::move(task)); }
  std::deque<std::function<void()>> tasks;
};

class SimClock final : public Clock {
 public:
  explicit SimClock(const int64_t& now) : now_(now) {}
  int64_t NowMs() const override { return kEpochMs + now_; }

 private:
  const int64_t& now_;
};

class Simulation;

// Per replica: the fdatasync completes after a simulated delay; a crash
// loses what is pending (Simulation::Crash).
class SimSyncer final : public Syncer {
 public:
  SimSyncer(Simulation& sim, int node) : sim_(sim), node_(node) {}
  void RequestSync(std::shared_ptr<storage::PartitionLog> log, Offset up_to,
                   std::function<void(Result<Offset>)> done) override;

 private:
  Simulation& sim_;
  int node_;
};

class SimTransport final : public Transport {
 public:
  explicit SimTransport(Simulation& sim) : sim_(sim) {}
  void Send(const PartitionKey& partition, uint64_t topic_id, const raft::Message& message) override;

 private:
  Simulation& sim_;
};

struct Slot {
  int id = 0;
  std::unique_ptr<telemq::sim::MemoryFileSystem> disk;
  std::unique_ptr<storage::FaultInjectionFileSystem> fs;
  std::unique_ptr<SimSyncer> syncer;
  std::shared_ptr<Replica> replica;
  SimExecutor* executor = nullptr;  // owned by `replica`
  bool up = false;
  int64_t down_until = 0;
  uint64_t incarnation = 0;
  int tick_ms = 5;
  int64_t next_tick = 0;
  // The log below this offset was checked against the committed history.
  Offset verified_end{0};
  // Last role seen, for the trace.
  raft::Role role = raft::Role::kFollower;
  Term term{0};
  bool serving = false;
  // fsync: interval power loss: set when it hits; the next Start reopens the
  // replica with unsynced_writes_may_be_lost. Until its log holds an entry
  // of a term above `lost_term` (its term when it came back) it may lack
  // entries it acknowledged, and no other replica loses power (§2: one at a
  // time).
  bool power_lost = false;
  bool reopen_after_power_loss = false;
  Term lost_term{-1};
};

struct PendingSync {
  int64_t due;
  uint64_t seq;
  int node;
  uint64_t incarnation;
  std::shared_ptr<storage::PartitionLog> log;
  std::function<void(Result<Offset>)> done;
};

struct InFlight {
  int64_t deliver_at;
  uint64_t seq;
  raft::Message message;
  bool operator>(const InFlight& o) const {
    return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : seq > o.seq;
  }
};

// Identity of an idempotent batch.
struct BatchKey {
  int64_t pid;
  int16_t epoch;
  int32_t seq;
  auto operator<=>(const BatchKey&) const = default;
};

// One batch of the committed history (what every replica must hold below its
// high watermark).
struct Committed {
  Offset last;
  Term term;
  uint64_t checksum;
  BatchKey key;  // pid -1 for non-idempotent and control batches
  bool control;
};

struct Ack {
  Offset base;
  Offset last;
  Term term;  // of the replica that answered
};

// One batch a producer has sent and not yet seen acknowledged.
struct SentBatch {
  int32_t seq = 0;
  int32_t records = 0;
  std::vector<std::byte> bytes;  // unstamped; each attempt copies it into its own frame
  bool acked = false;
  bool in_flight = false;
  uint64_t attempt = 0;  // of the latest request
  int64_t timeout_at = 0;
  int64_t next_send = 0;
};

struct Producer {
  int index = 0;
  ProducerId pid{0};
  int16_t epoch = 0;
  int32_t next_seq = 0;
  Acks acks = Acks::kAll;
  // Batches in flight at once (Kafka's max.in.flight.requests, 1..5):
  // requests leave in sequence order on one connection (FIFO); a batch
  // refused as out of order while an earlier one is unacknowledged is sent
  // again after it.
  size_t window = 1;
  std::deque<SentBatch> batches;  // unacknowledged (front may be acked until popped), in sequence order
  int target = 1;
  int64_t next_new = 0;
  int64_t last_due = 0;  // requests to the broker stay in order
  int64_t batches_done = 0;
  Offset last_base{-1};  // where its latest acknowledged batch went
  Term max_ack_term{0};  // newest term of a replica that acknowledged one of its batches
};

struct ClientRequest {
  int64_t due;
  uint64_t seq;
  int producer;
  int16_t epoch;
  int32_t batch_seq;
  uint64_t attempt;
  int target;
  bool operator>(const ClientRequest& o) const { return due != o.due ? due > o.due : seq > o.seq; }
};

struct Consumer {
  Offset position{0};
  Term max_term{0};
  Offset max_hwm{-1};
  int64_t batches_seen = 0;
};

std::string KeyString(const BatchKey& k) {
  return "pid " + std::to_string(k.pid) + " epoch " + std::to_string(k.epoch) + " seq " + std::to_string(k.seq);
}

struct BatchInfo {
  wire::BatchHeader header;
};

// Whole batches of `log` in [from, upper), checksum-verified.
Result<std::vector<BatchInfo>> ReadBatches(const storage::PartitionLog& log, Offset from, Offset upper) {
  std::vector<BatchInfo> out;
  while (from < upper) {
    TELEMQ_ASSIGN_OR_RETURN(auto read, log.Read(from, 1 << 20, upper));
    if (read.total_bytes == 0) break;
    std::vector<std::byte> bytes(read.total_bytes);
    size_t at = 0;
    for (const auto& r : read.ranges) {
      TELEMQ_ASSIGN_OR_RETURN(const size_t n, r.file->PRead(r.position, std::span(bytes).subspan(at, r.size)));
      if (n != r.size) return Fail(Errc::kCorrupt, "short read of " + r.file->path());
      at += r.size;
    }
    wire::BatchIterator it(bytes);
    while (!it.Done()) {
      BatchInfo info;
      TELEMQ_TRY(it.Next(&info.header));
      out.push_back(info);
    }
    if (read.next_offset <= from) break;
    from = read.next_offset;
  }
  return out;
}

class Simulation {
 public:
  explicit Simulation(const Options& options) : opt_(options), rng_(options.seed), clock_(now_), transport_(*this) {}
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;
  ~Simulation();

  Outcome Run();

  // Seams.
  void OnSyncRequested(int node, std::shared_ptr<storage::PartitionLog> log, std::function<void(Result<Offset>)> done);
  void OnSend(const raft::Message& m);

 private:
  void Setup();
  void Start(Slot& s);
  // kept_disk: a process restart (the page cache survives), whatever the
  // fsync mode.
  void Crash(Slot& s, bool keep_disk = false);
  void InjectFaults();
  void Heal();

  void DeliverMessages();
  void CompleteSyncs();
  void Flush();
  void TickReplicas();
  void Retention();
  void RunExecutors();
  void Produce();
  void SendAttempt(Producer& p, SentBatch& b);
  void DeliverRequests();
  // `lost`: the answer never reaches the producer (acknowledgements still
  // count: the replica gave them).
  void OnAnswer(int producer, uint64_t attempt, int target, Term target_term, const BatchKey& key, int32_t records,
                const ProduceResult& r, bool lost);
  // Encodes `b` (seq, records already set) for the producer's epoch.
  void Encode(const Producer& p, SentBatch& b);
  void NewEpoch(Producer& p);
  // The batches of producer `pid` in replica `node`'s log, for messages.
  std::string DescribeProducer(int node, int64_t pid);
  void Consume();

  void Observe();
  void VerifyReplica(Slot& s);
  void VerifyBatch(int node, const wire::BatchHeader& h, const char* who);
  void CheckAck(const BatchKey& key, const Ack& ack);
  void CheckLeadersHoldAcks();
  // Every replica up, one serving, all logs and high watermarks at its end,
  // every producer drained (FinalChecks then checks content).
  bool Converged() const;
  void FinalChecks();
  void Violation(const std::string& what);
  void Trace(const std::string& line);
  bool tracing() const { return opt_.trace_lines > 0 || opt_.verbose; }
  bool LinkUp(int from, int to) const;
  bool calm() const { return healed_; }

  Options opt_;
  Rng rng_;
  Stats stats_;
  int64_t now_ = 0;
  SimClock clock_;
  SimTransport transport_;
  bool healed_ = false;
  bool failed_ = false;
  std::string failure_;
  std::deque<std::string> trace_;

  // Draws of this seed.
  storage::FsyncPolicy fsync_ = storage::FsyncPolicy::kAlways;
  storage::LogOptions log_options_;
  int election_ticks_ = 10;
  int heartbeat_ticks_ = 1;
  size_t max_append_bytes_ = 1024;
  size_t max_inflight_ = 8;
  size_t cache_bytes_ = 0;
  int max_latency_ = 5;
  double drop_ = 0;
  double duplicate_ = 0;
  bool fifo_ = true;
  int sync_min_ = 1;
  int sync_max_ = 5;
  int flush_interval_ = 10;
  double crash_rate_ = 0;
  double partition_rate_ = 0;
  double write_fault_rate_ = 0;
  double transfer_rate_ = 0;
  bool power_loss_ = false;   // fsync: interval crashes may be power losses
  int retention_period_ = 0;  // ms between ApplyRetention calls; 0 = no retention
  int64_t next_retention_ = 0;
  int request_timeout_ = 150;
  double answer_loss_ = 0;  // a produce answer lost on its way back (the producer times out)

  Slot slots_[kReplicas];
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> network_;
  std::vector<PendingSync> syncs_;
  std::priority_queue<ClientRequest, std::vector<ClientRequest>, std::greater<ClientRequest>> requests_;
  uint64_t seq_ = 0;
  int64_t next_flush_ = 0;
  // cut_[a][b]: messages from a+1 to b+1 are dropped.
  bool cut_[kReplicas][kReplicas] = {};
  int64_t partition_until_ = 0;
  int64_t last_delivery_[kReplicas][kReplicas] = {};

  std::vector<Producer> producers_;
  std::vector<Consumer> consumers_;
  bool producing_ = true;

  // The committed history: base offset -> batch, every replica's log below
  // its high watermark must agree with it.
  std::map<int64_t, Committed> history_;
  std::map<BatchKey, int64_t> history_by_key_;   // idempotent batch -> base offset
  std::map<BatchKey, Ack> acks_;                 // acks=all answers kOk
  std::map<int64_t, Offset> acked_end_by_term_;  // ack term -> max last offset acked in it
  std::map<int64_t, int> leader_of_term_;
};

void SimSyncer::RequestSync(std::shared_ptr<storage::PartitionLog> log, Offset,
                            std::function<void(Result<Offset>)> done) {
  sim_.OnSyncRequested(node_, std::move(log), std::move(done));
}

void SimTransport::Send(const PartitionKey&, uint64_t, const raft::Message& message) { sim_.OnSend(message); }

Simulation::~Simulation() {
  // Replicas first (they reference the syncers, transport and file systems);
  // tasks queued on an executor may hold the replica that owns it.
  for (auto& s : slots_) {
    if (!s.replica) continue;
    auto tasks = std::move(s.executor->tasks);
    s.executor->tasks.clear();
    s.replica.reset();
    tasks.clear();
  }
  syncs_.clear();
}

void Simulation::Trace(const std::string& line) {
  std::string stamped = "t=" + std::to_string(now_) + " " + line;
  if (opt_.verbose) std::printf("%s\n", stamped.c_str());
  if (opt_.trace_lines > 0) {
    trace_.push_back(std::move(stamped));
    if (static_cast<int>(trace_.size()) > opt_.trace_lines) trace_.pop_front();
  }
}

void Simulation::Violation(const std::string& what) {
  if (failed_) return;
  failed_ = true;
  failure_ = "t=" + std::to_string(now_) + ": " + what;
  Trace("VIOLATION " + what);
}

// --- setup -------------------------------------------------------------------

void Simulation::Setup() {
  if (opt_.fsync_interval < 0) {
    fsync_ = rng_.Chance(0.2) ? storage::FsyncPolicy::kInterval : storage::FsyncPolicy::kAlways;
  } else {
    fsync_ = opt_.fsync_interval == 1 ? storage::FsyncPolicy::kInterval : storage::FsyncPolicy::kAlways;
  }
  log_options_.fsync = fsync_;
  if (fsync_ == storage::FsyncPolicy::kInterval) {
    // Drawn from a stream of its own, so that every other draw of the seed
    // (and every seed without power loss) is the run it was before.
    power_loss_ = opt_.interval_power_loss < 0 ? Rng(opt_.seed ^ 0x706f7765726c6f73ull).Chance(0.5)
                                               : opt_.interval_power_loss == 1;
  }
  log_options_.segment_bytes = static_cast<uint64_t>(rng_.Range(1, 16)) * 1024;
  log_options_.index_interval_bytes = static_cast<uint32_t>(rng_.Range(64, 2048));
  log_options_.preallocate = rng_.Chance(0.5);
  election_ticks_ = static_cast<int>(rng_.Range(6, 12));
  heartbeat_ticks_ = static_cast<int>(rng_.Range(1, 3));
  max_append_bytes_ = static_cast<size_t>(rng_.Range(128, 4096));
  max_inflight_ = static_cast<size_t>(rng_.Range(2, 16));
  cache_bytes_ = rng_.Chance(0.3) ? 0 : static_cast<size_t>(rng_.Range(512, 64 * 1024));
  max_latency_ = static_cast<int>(rng_.Range(1, 8));
  drop_ = rng_.Chance(0.2) ? 0.0 : static_cast<double>(rng_.Range(0, 100)) / 1000.0;
  duplicate_ = rng_.Chance(0.3) ? 0.0 : static_cast<double>(rng_.Range(0, 50)) / 1000.0;
  fifo_ = rng_.Chance(0.5);
  sync_min_ = static_cast<int>(rng_.Range(0, 3));
  sync_max_ = sync_min_ + static_cast<int>(rng_.Range(0, 12));
  flush_interval_ = static_cast<int>(rng_.Range(2, 30));
  crash_rate_ = static_cast<double>(rng_.Range(0, 40)) / 10000.0;
  partition_rate_ = static_cast<double>(rng_.Range(0, 40)) / 10000.0;
  write_fault_rate_ = rng_.Chance(0.5) ? 0.0 : static_cast<double>(rng_.Range(0, 20)) / 10000.0;
  transfer_rate_ = rng_.Chance(0.5) ? 0.0 : static_cast<double>(rng_.Range(0, 20)) / 10000.0;
  if (rng_.Chance(0.3)) {
    // Size-based retention of a few segments: followers that fall behind the
    // leader's log start are restarted from it (kRestart, ResetTo).
    log_options_.retention_bytes = static_cast<int64_t>(log_options_.segment_bytes) * rng_.Range(1, 4);
    retention_period_ = static_cast<int>(rng_.Range(10, 100));
  }
  for (int i = 0; i < kReplicas; ++i) {
    Slot& s = slots_[i];
    s.id = i + 1;
    s.disk = std::make_unique<telemq::sim::MemoryFileSystem>();
    s.fs = std::make_unique<storage::FaultInjectionFileSystem>(*s.disk);
    s.syncer = std::make_unique<SimSyncer>(*this, s.id);
    s.tick_ms = static_cast<int>(rng_.Range(4, 6));
    Start(s);
  }
  request_timeout_ = static_cast<int>(rng_.Range(20, 200));
  answer_loss_ = rng_.Chance(0.3) ? 0.0 : static_cast<double>(rng_.Range(0, 100)) / 1000.0;
  const int producers = static_cast<int>(rng_.Range(1, 3));
  for (int i = 0; i < producers; ++i) {
    Producer p;
    p.index = i;
    p.pid = ProducerId(1000 + i);
    p.acks = i > 0 && rng_.Chance(0.3) ? Acks::kLeader : Acks::kAll;
    p.window = p.acks == Acks::kAll ? static_cast<size_t>(rng_.Range(1, 5)) : 1;
    p.target = static_cast<int>(rng_.Range(1, kReplicas));
    p.next_new = rng_.Range(0, 50);
    producers_.push_back(std::move(p));
  }
  consumers_.resize(2);
  std::ostringstream summary;
  summary << "fsync=" << (fsync_ == storage::FsyncPolicy::kAlways ? "always" : "interval")
          << " segment=" << log_options_.segment_bytes << " prealloc=" << log_options_.preallocate
          << " election_ticks=" << election_ticks_ << " heartbeat_ticks=" << heartbeat_ticks_
          << " latency<=" << max_latency_ << " drop=" << drop_ << " dup=" << duplicate_ << " fifo=" << fifo_
          << " sync=" << sync_min_ << ".." << sync_max_ << " crash_rate=" << crash_rate_
          << " partition_rate=" << partition_rate_ << " write_faults=" << write_fault_rate_
          << " retention_bytes=" << log_options_.retention_bytes << " producers=" << producers
          << " power_loss=" << power_loss_;
  Trace("setup " + summary.str());
}

void Simulation::Start(Slot& s) {
  const std::string dir = "/broker" + std::to_string(s.id) + "/t-0";
  s.fs->ClearFaults();
  auto log = storage::PartitionLog::Open(*s.fs, dir, log_options_);
  if (!log) return Violation("replica " + std::to_string(s.id) + " cannot reopen its log: " + log.error().ToString());
  ReplicaOptions o;
  o.key = {"t", PartitionId(0)};
  o.self = NodeId(s.id);
  for (int i = 1; i <= kReplicas; ++i) o.voters.push_back(NodeId(i));
  o.fsync = fsync_;
  o.election_ticks = election_ticks_;
  o.heartbeat_ticks = heartbeat_ticks_;
  o.max_append_bytes = max_append_bytes_;
  o.max_inflight_appends = max_inflight_;
  o.raft_log.cache_bytes = cache_bytes_;
  o.seed = rng_.Next();
  // The broker sets it when the boot id changed (docs/replication.md §7):
  // after a power loss, not after a process crash.
  o.unsynced_writes_may_be_lost = s.reopen_after_power_loss && !opt_.power_loss_unnoticed;
  auto* executor = new SimExecutor;
  auto replica = Replica::Open(o, std::shared_ptr<storage::PartitionLog>(std::move(*log)), *s.fs,
                               std::unique_ptr<Executor>(executor), *s.syncer, transport_, clock_);
  if (!replica) {
    return Violation("replica " + std::to_string(s.id) + " cannot reopen: " + replica.error().ToString());
  }
  s.replica = *replica;
  s.executor = executor;
  s.up = true;
  ++s.incarnation;
  s.next_tick = now_ + rng_.Range(0, s.tick_ms);
  s.verified_end = s.replica->log().log_start_offset();
  s.role = raft::Role::kFollower;
  s.term = s.replica->term();
  s.serving = false;
  if (s.reopen_after_power_loss) {
    s.reopen_after_power_loss = false;
    s.lost_term = s.replica->node().term();
  }
  if (tracing()) {
    Trace("start " + std::to_string(s.id) + " log [" + std::to_string(s.replica->log().log_start_offset().value()) +
          ", " + std::to_string(s.replica->log().log_end_offset().value()) + ") durable " +
          std::to_string(s.replica->log().durable_offset().value()) + " term " + std::to_string(s.term.value()));
  }
}

void Simulation::Crash(Slot& s, bool keep_disk) {
  ++stats_.crashes;
  std::erase_if(syncs_, [&](const PendingSync& p) { return p.node == s.id; });
  // The executor's tasks may hold the replica that owns the executor: drop
  // our reference first, then the tasks (which destroys both).
  auto tasks = std::move(s.executor->tasks);
  s.executor->tasks.clear();
  s.executor = nullptr;
  s.replica.reset();
  tasks.clear();
  s.up = false;
  s.serving = false;
  std::string how;
  // fsync: interval: a power loss only while no other replica may lack
  // entries it acknowledged (§2 guarantees one power loss at a time).
  const bool another_lost =
      std::any_of(std::begin(slots_), std::end(slots_), [&](const Slot& o) { return &o != &s && o.power_lost; });
  if (keep_disk || (fsync_ == storage::FsyncPolicy::kInterval && !(power_loss_ && !another_lost && rng_.Chance(0.5)))) {
    // A process crash: the page cache keeps every write. (A power loss under
    // fsync: interval may lose acknowledged data: docs/replication.md §2.)
    ++stats_.process_crashes;
    how = "process crash, page cache kept";
  } else if (rng_.Chance(0.5)) {
    ++stats_.torn_crashes;
    int files = 0;
    auto r = s.fs->CrashTearing([&](const std::string&, const std::vector<uint64_t>& op_bytes) {
      storage::FaultInjectionFileSystem::Kept kept;
      kept.whole_ops = static_cast<size_t>(rng_.Range(0, static_cast<int64_t>(op_bytes.size())));
      if (kept.whole_ops < op_bytes.size()) {
        kept.torn_bytes = static_cast<uint64_t>(rng_.Range(0, static_cast<int64_t>(op_bytes[kept.whole_ops])));
      }
      ++files;
      return kept;
    });
    if (!r) return Violation("crash: " + r.error().ToString());
    how = "power loss, unsynced writes kept in part and torn (" + std::to_string(files) + " files)";
  } else {
    auto r = s.fs->Crash();
    if (!r) return Violation("crash: " + r.error().ToString());
    how = "power loss, unsynced writes lost";
  }
  if (fsync_ == storage::FsyncPolicy::kInterval && how.rfind("power loss", 0) == 0) {
    ++stats_.power_losses;
    s.power_lost = true;
    s.reopen_after_power_loss = true;
    s.lost_term = Term(-1);
  }
  s.fs->ClearFaults();
  s.down_until = now_ + (keep_disk ? 0 : rng_.Range(10, 300));
  if (tracing()) Trace("crash " + std::to_string(s.id) + ": " + how + ", down until " + std::to_string(s.down_until));
}

// --- seams ---------------------------------------------------------------------

void Simulation::OnSyncRequested(int node, std::shared_ptr<storage::PartitionLog> log,
                                 std::function<void(Result<Offset>)> done) {
  const Slot& s = slots_[node - 1];
  syncs_.push_back(PendingSync{now_ + rng_.Range(sync_min_, sync_max_), seq_++, node, s.incarnation, std::move(log),
                               std::move(done)});
}

void Simulation::OnSend(const raft::Message& m) {
  ++stats_.messages;
  if (!calm() && rng_.Chance(drop_)) {
    ++stats_.dropped;
    return;
  }
  const int copies = !calm() && rng_.Chance(duplicate_) ? 2 : 1;
  if (copies == 2) ++stats_.duplicated;
  for (int c = 0; c < copies; ++c) {
    int64_t at = now_ + rng_.Range(1, max_latency_);
    if (fifo_ || calm()) {
      int64_t& last = last_delivery_[m.from.value() - 1][m.to.value() - 1];
      at = std::max(at, last);
      last = at;
    }
    network_.push(InFlight{at, seq_++, m});
  }
}

bool Simulation::LinkUp(int from, int to) const { return !cut_[from - 1][to - 1]; }

// --- faults ----------------------------------------------------------------------

void Simulation::InjectFaults() {
  for (auto& s : slots_) {
    if (!s.up && now_ >= s.down_until) Start(s);
  }
  if (calm()) return;
  if (partition_until_ != 0 && now_ >= partition_until_) {
    partition_until_ = 0;
    for (auto& row : cut_) std::fill(std::begin(row), std::end(row), false);
    if (tracing()) Trace("partition healed");
  }
  if (partition_until_ == 0 && rng_.Chance(partition_rate_)) {
    ++stats_.partitions;
    partition_until_ = now_ + rng_.Range(20, 400);
    std::string what;
    if (rng_.Chance(0.6)) {
      const int isolated = static_cast<int>(rng_.Range(0, kReplicas - 1));
      for (int o = 0; o < kReplicas; ++o) {
        if (o != isolated) cut_[isolated][o] = cut_[o][isolated] = true;
      }
      what = "isolate " + std::to_string(isolated + 1);
    } else {
      what = "cut links";
      for (int a = 0; a < kReplicas; ++a) {
        for (int b = 0; b < kReplicas; ++b) {
          if (a != b && rng_.Chance(0.35)) {
            cut_[a][b] = true;
            what += " " + std::to_string(a + 1) + "->" + std::to_string(b + 1);
          }
        }
      }
    }
    if (tracing()) Trace("partition: " + what + " until " + std::to_string(partition_until_));
  }
  if (rng_.Chance(crash_rate_)) {
    Slot& s = slots_[rng_.Range(0, kReplicas - 1)];
    if (s.up) Crash(s);
  }
  if (rng_.Chance(write_fault_rate_)) {
    Slot& s = slots_[rng_.Range(0, kReplicas - 1)];
    if (s.up) {
      ++stats_.write_faults;
      const int nth = static_cast<int>(rng_.Range(1, 8));
      const int err = rng_.Chance(0.5) ? EIO : ENOSPC;
      s.fs->FailNth(storage::FaultOp::kWrite, nth, err);
      if (tracing()) Trace("write fault armed on " + std::to_string(s.id) + ": write #" + std::to_string(nth));
    }
  }
  if (rng_.Chance(transfer_rate_)) {
    for (auto& s : slots_) {
      if (!s.up || s.replica->node().role() != raft::Role::kLeader) continue;
      const int target = static_cast<int>(rng_.Range(1, kReplicas));
      if (target == s.id) break;
      ++stats_.transfers;
      s.executor->Post([r = s.replica, target] {
        IgnoreError(r->TransferLeadership(NodeId(target)), "a refused transfer is a fine outcome");
      });
      if (tracing()) Trace("transfer leadership " + std::to_string(s.id) + " -> " + std::to_string(target));
      break;
    }
  }
}

void Simulation::Heal() {
  healed_ = true;
  partition_until_ = 0;
  for (auto& row : cut_) std::fill(std::begin(row), std::end(row), false);
  for (auto& row : last_delivery_) std::fill(std::begin(row), std::end(row), now_ + max_latency_);
  for (auto& s : slots_) {
    if (s.up) s.fs->ClearFaults();
    if (!s.up) s.down_until = std::min(s.down_until, now_);
  }
  Trace("heal: network reliable, every replica up, no faults");
}

// --- the step ----------------------------------------------------------------------

void Simulation::DeliverMessages() {
  while (!network_.empty() && network_.top().deliver_at <= now_) {
    InFlight f = network_.top();
    network_.pop();
    const raft::Message& m = f.message;
    Slot& to = slots_[m.to.value() - 1];
    if (!to.up || !LinkUp(m.from.value(), m.to.value())) continue;
    to.executor->Post([r = to.replica, m = std::move(f.message)] { r->Step(m); });
  }
}

void Simulation::CompleteSyncs() {
  for (size_t i = 0; i < syncs_.size();) {
    if (syncs_[i].due > now_) {
      ++i;
      continue;
    }
    PendingSync p = std::move(syncs_[i]);
    syncs_.erase(syncs_.begin() + static_cast<ptrdiff_t>(i));
    if (!slots_[p.node - 1].up || slots_[p.node - 1].incarnation != p.incarnation) continue;
    ++stats_.syncs;
    p.done(p.log->Sync());
  }
}

void Simulation::Flush() {
  // fsync: interval: the broker's Flusher syncs every partition log
  // periodically, outside the replica.
  if (fsync_ != storage::FsyncPolicy::kInterval || now_ < next_flush_) return;
  next_flush_ = now_ + flush_interval_;
  for (auto& s : slots_) {
    if (s.up) IgnoreError(s.replica->log().Sync(), "a failed fdatasync aborts inside Sync");
  }
}

void Simulation::Retention() {
  if (retention_period_ == 0 || now_ < next_retention_) return;
  next_retention_ = now_ + retention_period_;
  for (auto& s : slots_) {
    if (!s.up) continue;
    s.executor->Post([this, r = s.replica, id = s.id] {
      auto removed = r->ApplyRetention();
      if (!removed) {
        // An injected write error (the term file), or a log that refuses
        // calls after a failed ResetTo: the broker logs it and retries later.
        if (tracing()) Trace("retention on " + std::to_string(id) + " failed: " + removed.error().ToString());
        return;
      }
      if (*removed > 0) {
        ++stats_.retentions;
        if (tracing()) {
          Trace("retention on " + std::to_string(id) + ": " + std::to_string(*removed) + " segments, log starts at " +
                std::to_string(r->log().log_start_offset().value()));
        }
      }
    });
  }
}

void Simulation::TickReplicas() {
  for (auto& s : slots_) {
    if (!s.up || now_ < s.next_tick) continue;
    s.next_tick += s.tick_ms;
    s.executor->Post([r = s.replica] { r->Tick(); });
  }
}

void Simulation::RunExecutors() {
  for (int guard = 0; guard < 200'000; ++guard) {
    int ready[kReplicas];
    int n = 0;
    for (int i = 0; i < kReplicas; ++i) {
      if (slots_[i].up && !slots_[i].executor->tasks.empty()) ready[n++] = i;
    }
    if (n == 0) return;
    Slot& s = slots_[ready[n == 1 ? 0 : rng_.Range(0, n - 1)]];
    auto task = std::move(s.executor->tasks.front());
    s.executor->tasks.pop_front();
    task();
  }
  Violation("executors never went idle (a replica loops on its own tasks)");
}

// --- producers ---------------------------------------------------------------------

std::string Simulation::DescribeProducer(int node, int64_t pid) {
  const Slot& s = slots_[node - 1];
  if (!s.up) return "(down)";
  const storage::PartitionLog& log = s.replica->log();
  auto batches = ReadBatches(log, log.log_start_offset(), log.log_end_offset());
  if (!batches) return batches.error().ToString();
  std::string out;
  for (const auto& b : *batches) {
    const auto& h = b.header;
    if (h.producer_id.value() != pid || h.is_control()) continue;
    out += " [" + std::to_string(h.base_sequence) + ".." + std::to_string(h.last_sequence()) + "]@" +
           std::to_string(h.base_offset.value()) + "/t" + std::to_string(h.leader_term.value());
  }
  return out;
}

void Simulation::Encode(const Producer& p, SentBatch& b) {
  wire::BatchBuilder builder;
  const std::string key = "p" + std::to_string(p.pid.value());
  for (int32_t i = 0; i < b.records; ++i) {
    // (Built with append: GCC 12 warns falsely (-Wrestrict) on "lit" + string.)
    std::string value(static_cast<size_t>(rng_.Range(0, 48)), 'x');
    value.append(std::to_string(p.epoch)).append("/").append(std::to_string(b.seq + i));
    builder.Add(kEpochMs + now_, std::string_view(key), std::string_view(value));
  }
  auto built = builder.Finish(p.pid, p.epoch, b.seq);
  if (!built) return Violation("BatchBuilder: " + built.error().ToString());
  b.bytes = std::move(*built);
}

void Simulation::NewEpoch(Producer& p) {
  // Kafka's epoch bump: the unacknowledged batches are renumbered from 0.
  ++p.epoch;
  p.next_seq = 0;
  // Acknowledged ones are written under the old epoch: done.
  std::erase_if(p.batches, [](const SentBatch& b) { return b.acked; });
  for (auto& b : p.batches) {
    b.seq = p.next_seq;
    p.next_seq += b.records;
    b.in_flight = false;
    b.next_send = now_;
    Encode(p, b);
  }
}

void Simulation::Produce() {
  for (auto& p : producers_) {
    for (auto& b : p.batches) {
      if (!b.in_flight || now_ < b.timeout_at) continue;
      // No answer: the outcome is unknown; the retry is safe (idempotence).
      ++stats_.timeouts;
      b.in_flight = false;
      b.next_send = now_;
      p.target = static_cast<int>(rng_.Range(1, kReplicas));
      if (tracing()) {
        Trace("producer " + std::to_string(p.index) + " timed out on seq " + std::to_string(b.seq) + "; retrying at " +
              std::to_string(p.target));
      }
    }
    if (producing_ && now_ >= p.next_new && p.batches.size() < p.window) {
      SentBatch b;
      b.records = static_cast<int32_t>(rng_.Range(1, 4));
      b.seq = p.next_seq;
      p.next_seq += b.records;
      b.next_send = now_;
      Encode(p, b);
      p.batches.push_back(std::move(b));
      p.next_new = now_ + rng_.Range(1, 20);
    }
    for (auto& b : p.batches) {
      if (!b.acked && !b.in_flight && now_ >= b.next_send) SendAttempt(p, b);
    }
  }
}

void Simulation::SendAttempt(Producer& p, SentBatch& b) {
  ++stats_.produce_requests;
  b.in_flight = true;
  ++b.attempt;
  b.timeout_at = now_ + request_timeout_;
  p.last_due = std::max(p.last_due, now_ + rng_.Range(0, 3));
  requests_.push(ClientRequest{p.last_due, seq_++, p.index, p.epoch, b.seq, b.attempt, p.target});
}

void Simulation::DeliverRequests() {
  while (!requests_.empty() && requests_.top().due <= now_) {
    ClientRequest req = requests_.top();
    requests_.pop();
    Producer& p = producers_[static_cast<size_t>(req.producer)];
    if (req.epoch != p.epoch) continue;
    auto it =
        std::find_if(p.batches.begin(), p.batches.end(), [&](const SentBatch& b) { return b.seq == req.batch_seq; });
    if (it == p.batches.end() || it->attempt != req.attempt || !it->in_flight) continue;
    Slot& s = slots_[req.target - 1];
    if (!s.up) continue;  // the connection is refused: the producer times out
    // Each attempt is its own request frame (the leader stamps it in place).
    auto frame = std::make_shared<std::vector<std::byte>>(it->bytes);
    auto header = wire::ValidateBatch(*frame);
    if (!header) return Violation("built batch invalid: " + header.error().ToString());
    const BatchKey key{p.pid.value(), p.epoch, it->seq};
    const int32_t records = it->records;
    if (tracing()) {
      Trace("produce " + KeyString(key) + " n=" + std::to_string(records) + " attempt " + std::to_string(req.attempt) +
            " -> " + std::to_string(req.target) + (p.acks == Acks::kAll ? " acks=all" : " acks=leader"));
    }
    s.executor->Post([this, r = s.replica, frame, h = *header, acks = p.acks, producer = req.producer,
                      attempt = req.attempt, target = req.target, key, records] {
      r->Produce({ProduceBatch{std::span<std::byte>(*frame), h}}, frame, acks,
                 [this, producer, attempt, target, key, records, weak = std::weak_ptr<Replica>(r)](ProduceResult res) {
                   auto replica = weak.lock();
                   const bool lost = !calm() && rng_.Chance(answer_loss_);
                   OnAnswer(producer, attempt, target, replica ? replica->term() : Term(0), key, records, res, lost);
                 });
    });
  }
}

void Simulation::OnAnswer(int producer, uint64_t attempt, int target, Term target_term, const BatchKey& key,
                          int32_t records, const ProduceResult& r, bool lost) {
  Producer& p = producers_[static_cast<size_t>(producer)];
  if (tracing()) {
    Trace("answer to " + KeyString(key) + " attempt " + std::to_string(attempt) + " from " + std::to_string(target) +
          ": " + std::string(ErrcName(r.error)) + " base=" + std::to_string(r.base_offset.value()) +
          " hint=" + std::to_string(r.leader_hint.value()) + (r.message.empty() ? "" : " (" + r.message + ")") +
          (lost ? " [lost]" : ""));
  }
  // The batch this answers, if the producer still waits for it (any attempt).
  SentBatch* batch = nullptr;
  if (key.epoch == p.epoch) {
    for (auto& b : p.batches) {
      if (b.seq == key.seq && !b.acked) batch = &b;
    }
  }
  if (r.error == Errc::kOk) {
    if (r.base_offset.value() < 0) return Violation("kOk without an offset for " + KeyString(key));
    if (p.acks == Acks::kAll) {
      const Ack ack{r.base_offset, r.base_offset + (records - 1), target_term};
      auto [it, inserted] = acks_.emplace(key, ack);
      if (!inserted) {
        ++stats_.deduplicated;
        if (it->second.base != ack.base) {
          return Violation(KeyString(key) + " acknowledged at offset " + std::to_string(it->second.base.value()) +
                           " and again at " + std::to_string(ack.base.value()));
        }
      } else {
        ++stats_.acked_all;
        Offset& end = acked_end_by_term_[ack.term.value()];
        end = std::max(end, ack.last);
      }
      CheckAck(key, ack);
    } else {
      ++stats_.acked_leader;
    }
    if (batch != nullptr && !lost) {
      batch->acked = true;
      batch->in_flight = false;
      if (r.base_offset > p.last_base) p.last_base = r.base_offset;
      p.max_ack_term = std::max(p.max_ack_term, target_term);
      while (!p.batches.empty() && p.batches.front().acked) {
        p.batches.pop_front();
        ++p.batches_done;
      }
    }
    return;
  }
  if (lost || batch == nullptr || !batch->in_flight || attempt != batch->attempt) return;  // not seen, or given up on
  batch->in_flight = false;
  switch (r.error) {
    case Errc::kNotLeader:
      ++stats_.not_leader;
      p.target = r.leader_hint.value() != 0 ? r.leader_hint.value() : static_cast<int>(rng_.Range(1, kReplicas));
      batch->next_send = now_ + rng_.Range(1, 10);
      return;
    case Errc::kOutOfOrderSequence: {
      bool earlier_pending = false;
      for (auto& b : p.batches) {
        if (&b == batch) break;
        earlier_pending |= !b.acked;
      }
      if (earlier_pending) {
        // The batches before it have not reached this leader yet (refused,
        // lost or still queued): send it again after them.
        batch->next_send = now_ + rng_.Range(1, 10);
        return;
      }
      if (target_term < p.max_ack_term) {
        // A deposed leader that has not noticed yet (check-quorum has not
        // stepped it down) does not know what the new leader accepted since.
        ++stats_.stale_leader_refusals;
        p.target = static_cast<int>(rng_.Range(1, kReplicas));
        batch->next_send = now_ + rng_.Range(1, 10);
        return;
      }
      const Slot& t = slots_[target - 1];
      const bool forgotten = p.last_base.value() >= 0 && t.up && p.last_base < t.replica->log().log_start_offset();
      if (p.acks == Acks::kLeader || forgotten) {
        // acks=leader: a batch the leader acknowledged was lost with its
        // uncommitted suffix, so the sequence has a gap. Or retention removed
        // every batch of this producer before the replica rebuilt its table
        // from the log (a restart): it no longer knows the producer
        // (docs/replication.md §6). Either way the producer starts a new
        // epoch and resends what is unacknowledged.
        ++(forgotten ? stats_.producers_forgotten : stats_.epoch_bumps);
        NewEpoch(p);
        return;
      }
      return Violation(KeyString(key) + " (acks=all) refused as out of order by replica " + std::to_string(target) +
                       ", every earlier batch acknowledged: it lost one (" + r.message + ")");
    }
    case Errc::kDuplicateSequence: {
      // "Written, but too old to locate": the replica rebuilt its producer
      // table from a log whose start retention had moved past the batch
      // (docs/replication.md §6). Kafka's producer takes this as success
      // without an offset. Fine only if the batch is committed below that
      // log start.
      auto at = history_by_key_.find(key);
      const Slot& t = slots_[target - 1];
      if (at != history_by_key_.end() && t.up && Offset(at->second) < t.replica->log().log_start_offset()) {
        ++stats_.acked_without_offset;
        batch->acked = true;
        while (!p.batches.empty() && p.batches.front().acked) {
          p.batches.pop_front();
          ++p.batches_done;
        }
        return;
      }
      [[fallthrough]];
    }
    case Errc::kProducerFenced:
      return Violation("retry of " + KeyString(key) + " (within the producer's window) answered " +
                       std::string(ErrcName(r.error)) + " by replica " + std::to_string(target) + ": " + r.message +
                       "; its log holds " + DescribeProducer(target, key.pid));
    default:
      // A write error on the replica (it restarts its node) and the like: the
      // outcome is unknown, retry.
      batch->next_send = now_ + rng_.Range(1, 20);
      return;
  }
}

// --- consumers ---------------------------------------------------------------------

void Simulation::Consume() {
  for (auto& c : consumers_) {
    if (!rng_.Chance(0.05)) continue;
    Slot& s = slots_[rng_.Range(0, kReplicas - 1)];
    if (!s.up || !s.replica->serving()) continue;
    // The consumer fences leaders by term (Kafka's leader epoch, KIP-320): a
    // deposed leader that has not noticed yet still serves, with the high
    // watermark of its term, for up to about two election timeouts
    // (check-quorum); a consumer that saw a newer term refuses it.
    const Term term = s.replica->term();
    if (opt_.consumer_fencing && term < c.max_term) {
      ++stats_.fenced_reads;
      continue;
    }
    c.max_term = term;
    ++stats_.consumer_reads;
    const Offset hwm = s.replica->high_watermark();
    if (hwm < c.max_hwm) {
      return Violation("a consumer saw the high watermark go back from " + std::to_string(c.max_hwm.value()) + " to " +
                       std::to_string(hwm.value()) + " (serving leader " + std::to_string(s.id) + ", term " +
                       std::to_string(s.replica->term().value()) + ")");
    }
    c.max_hwm = hwm;
    const storage::PartitionLog& log = s.replica->log();
    if (c.position < log.log_start_offset()) c.position = log.log_start_offset();
    if (c.position >= hwm) continue;
    auto batches = ReadBatches(log, c.position, hwm);
    if (!batches) return Violation("consumer read from " + std::to_string(s.id) + ": " + batches.error().ToString());
    for (const auto& b : *batches) {
      VerifyBatch(s.id, b.header, "consumer");
      ++c.batches_seen;
      c.position = b.header.next_offset();
    }
  }
}

// --- invariants ----------------------------------------------------------------------

void Simulation::VerifyBatch(int node, const wire::BatchHeader& h, const char* who) {
  const int64_t base = h.base_offset.value();
  Committed rec{h.last_offset(), h.leader_term, h.checksum,
                BatchKey{h.is_control() ? -1 : h.producer_id.value(), h.producer_epoch, h.base_sequence},
                h.is_control()};
  auto it = history_.find(base);
  if (it != history_.end()) {
    const Committed& c = it->second;
    if (c.last != rec.last || c.term != rec.term || c.checksum != rec.checksum || c.control != rec.control) {
      Violation(std::string(who) + " on replica " + std::to_string(node) + ": committed offset " +
                std::to_string(base) + " holds a batch of term " + std::to_string(rec.term.value()) + " last " +
                std::to_string(rec.last.value()) + ", another replica had one of term " +
                std::to_string(c.term.value()) + " last " + std::to_string(c.last.value()));
    }
    return;
  }
  // A new committed batch: it must not overlap a known one.
  auto next = history_.upper_bound(base);
  if (next != history_.end() && next->first <= rec.last.value()) {
    return Violation("committed batch [" + std::to_string(base) + ", " + std::to_string(rec.last.value()) +
                     "] on replica " + std::to_string(node) + " overlaps the one at " + std::to_string(next->first));
  }
  if (next != history_.begin() && std::prev(next)->second.last.value() >= base) {
    return Violation("committed batch at " + std::to_string(base) + " on replica " + std::to_string(node) +
                     " overlaps the one at " + std::to_string(std::prev(next)->first));
  }
  history_.emplace(base, rec);
  if (rec.key.pid >= 0) {
    auto [k, inserted] = history_by_key_.emplace(rec.key, base);
    if (!inserted && k->second != base) {
      return Violation(KeyString(rec.key) + " is committed twice: at offsets " + std::to_string(k->second) + " and " +
                       std::to_string(base));
    }
    auto a = acks_.find(rec.key);
    if (a != acks_.end() && a->second.base.value() != base) {
      return Violation(KeyString(rec.key) + " was acknowledged at " + std::to_string(a->second.base.value()) +
                       " but is committed at " + std::to_string(base));
    }
  }
}

void Simulation::CheckAck(const BatchKey& key, const Ack& ack) {
  auto it = history_.find(ack.base.value());
  if (it == history_.end()) {
    // Not yet seen below a high watermark; VerifyBatch checks it on arrival.
    // Another batch covering the offset is a violation at once.
    auto after = history_.upper_bound(ack.base.value());
    if (after != history_.begin() && std::prev(after)->second.last >= ack.base) {
      Violation(KeyString(key) + " acknowledged at " + std::to_string(ack.base.value()) +
                " inside another committed batch");
    }
    return;
  }
  if (it->second.key != key || it->second.last != ack.last) {
    Violation(KeyString(key) + " acknowledged at " + std::to_string(ack.base.value()) + " where " +
              KeyString(it->second.key) + " is committed");
  }
}

void Simulation::VerifyReplica(Slot& s) {
  const storage::PartitionLog& log = s.replica->log();
  const Offset hwm = s.replica->high_watermark();
  if (log.log_end_offset() < s.verified_end) {
    return Violation("replica " + std::to_string(s.id) + " truncated committed entries: log end " +
                     std::to_string(log.log_end_offset().value()) + " below " + std::to_string(s.verified_end.value()) +
                     " which it had committed");
  }
  if (hwm > log.log_end_offset()) {
    return Violation("replica " + std::to_string(s.id) + " publishes high watermark " + std::to_string(hwm.value()) +
                     " beyond its log end " + std::to_string(log.log_end_offset().value()));
  }
  if (hwm <= s.verified_end) return;
  if (s.verified_end < log.log_start_offset()) s.verified_end = log.log_start_offset();
  auto batches = ReadBatches(log, s.verified_end, hwm);
  if (!batches) return Violation("reading replica " + std::to_string(s.id) + ": " + batches.error().ToString());
  for (const auto& b : *batches) {
    VerifyBatch(s.id, b.header, "log");
    s.verified_end = b.header.next_offset();
  }
}

void Simulation::CheckLeadersHoldAcks() {
  for (auto& s : slots_) {
    if (!s.up || !s.replica->serving()) continue;
    const Term term = s.replica->term();
    const Offset hwm = s.replica->high_watermark();
    // Leader completeness for acks: a leader of a later term serves (its
    // no-op committed) only above everything acknowledged before it.
    for (const auto& [ack_term, end] : acked_end_by_term_) {
      if (ack_term >= term.value()) break;
      if (hwm <= end) {
        return Violation("replica " + std::to_string(s.id) + " serves term " + std::to_string(term.value()) +
                         " with high watermark " + std::to_string(hwm.value()) + " but offset " +
                         std::to_string(end.value()) + " was acknowledged (acks=all) in term " +
                         std::to_string(ack_term));
      }
    }
  }
}

void Simulation::Observe() {
  for (auto& s : slots_) {
    if (!s.up) continue;
    const raft::Role role = s.replica->node().role();
    const Term term = s.replica->node().term();
    const bool serving = s.replica->serving();
    if (role == raft::Role::kLeader) {
      auto [it, inserted] = leader_of_term_.emplace(term.value(), s.id);
      if (inserted) ++stats_.leader_terms;
      if (it->second != s.id) {
        Violation("two leaders in term " + std::to_string(term.value()) + ": " + std::to_string(it->second) + " and " +
                  std::to_string(s.id));
      }
    }
    if (tracing() && (role != s.role || term != s.term || serving != s.serving)) {
      Trace("replica " + std::to_string(s.id) + ": " + std::string(raft::RoleName(role)) + " term " +
            std::to_string(term.value()) + (serving ? " serving" : "") + " commit " +
            std::to_string(s.replica->node().commit().value()) + " hwm " +
            std::to_string(s.replica->high_watermark().value()) + " log end " +
            std::to_string(s.replica->log().log_end_offset().value()));
    }
    s.role = role;
    s.term = term;
    s.serving = serving;
    if (s.power_lost && s.lost_term >= Term(0) && s.replica->log().last_term() > s.lost_term) {
      // It holds an entry of a newer leader, which was elected without it
      // and so holds everything committed before (§2): another replica may
      // lose power now.
      s.power_lost = false;
      if (tracing()) Trace("replica " + std::to_string(s.id) + " recovered from its power loss");
    }
    const storage::PartitionLog& log = s.replica->log();
    if (auto probe = log.Read(log.log_end_offset(), 1, log.log_end_offset());
        !probe && probe.error().code() == Errc::kShuttingDown) {
      // A ResetTo that failed half way leaves the log refusing every call
      // until it is reopened (partition_log.h); the replica cannot do that
      // itself and retries forever. The sim plays the supervisor the broker
      // still lacks (docs/replication.md §6): restart the replica.
      ++stats_.reopened;
      if (tracing()) Trace("replica " + std::to_string(s.id) + "'s log refuses calls: restarting it");
      Crash(s, /*keep_disk=*/true);
      continue;
    }
    VerifyReplica(s);
  }
  CheckLeadersHoldAcks();
}

bool Simulation::Converged() const {
  const Slot* leader = nullptr;
  for (const auto& s : slots_) {
    if (!s.up) return false;
    if (s.replica->serving()) leader = &s;
  }
  if (leader == nullptr) return false;
  const Offset end = leader->replica->log().log_end_offset();
  for (const auto& s : slots_) {
    if (s.replica->log().log_end_offset() != end || s.replica->high_watermark() != end) return false;
  }
  for (const auto& p : producers_) {
    if (!p.batches.empty()) return false;
  }
  return true;
}

void Simulation::FinalChecks() {
  Slot* leader = nullptr;
  for (auto& s : slots_) {
    if (!s.up) return Violation("replica " + std::to_string(s.id) + " is not up after the heal");
    if (s.replica->serving() && (!leader || s.replica->term() > leader->replica->term())) leader = &s;
  }
  if (!leader) return Violation("no leader serves after the heal");
  const storage::PartitionLog& llog = leader->replica->log();
  const Offset end = llog.log_end_offset();
  if (leader->replica->high_watermark() != end) {
    return Violation("leader " + std::to_string(leader->id) + " has uncommitted entries after a quiet period: hwm " +
                     std::to_string(leader->replica->high_watermark().value()) + ", log end " +
                     std::to_string(end.value()));
  }
  // Retention runs per replica: compare from the highest log start.
  Offset start = llog.log_start_offset();
  for (auto& s : slots_) start = std::max(start, s.replica->log().log_start_offset());
  auto full = ReadBatches(llog, llog.log_start_offset(), end);
  if (!full) return Violation("reading the leader: " + full.error().ToString());
  for (const auto& b : *full) VerifyBatch(leader->id, b.header, "final read of the leader");
  auto reference = ReadBatches(llog, start, end);
  if (!reference) return Violation("reading the leader: " + reference.error().ToString());
  for (auto& s : slots_) {
    const storage::PartitionLog& log = s.replica->log();
    if (log.log_end_offset() != end || s.replica->high_watermark() != end) {
      return Violation(
          "replica " + std::to_string(s.id) + " did not converge: log [" +
          std::to_string(log.log_start_offset().value()) + ", " + std::to_string(log.log_end_offset().value()) +
          ") hwm " + std::to_string(s.replica->high_watermark().value()) + "; leader " + std::to_string(leader->id) +
          " has [" + std::to_string(llog.log_start_offset().value()) + ", " + std::to_string(end.value()) + ")");
    }
    auto batches = ReadBatches(log, start, end);
    if (!batches) return Violation("reading replica " + std::to_string(s.id) + ": " + batches.error().ToString());
    if (batches->size() != reference->size()) {
      return Violation("replica " + std::to_string(s.id) + " holds " + std::to_string(batches->size()) +
                       " batches, the leader " + std::to_string(reference->size()));
    }
    for (size_t i = 0; i < batches->size(); ++i) {
      const auto& a = (*batches)[i].header;
      const auto& b = (*reference)[i].header;
      if (a.base_offset != b.base_offset || a.leader_term != b.leader_term || a.checksum != b.checksum) {
        return Violation("replica " + std::to_string(s.id) + " differs from the leader at offset " +
                         std::to_string(a.base_offset.value()));
      }
    }
  }
  for (const auto& [key, ack] : acks_) {
    // Below the leader's log start: removed by retention after it committed.
    if (ack.base < llog.log_start_offset()) continue;
    auto it = history_.find(ack.base.value());
    if (it == history_.end() || it->second.key != key || ack.last >= end) {
      return Violation(KeyString(key) + " acknowledged at " + std::to_string(ack.base.value()) +
                       " is not in the final log");
    }
  }
  for (const auto& p : producers_) {
    if (!p.batches.empty()) {
      return Violation("producer " + std::to_string(p.index) + " still has batch " +
                       KeyString({p.pid.value(), p.epoch, p.batches.front().seq}) + " unacknowledged after the heal");
    }
  }
  stats_.committed_batches = static_cast<int64_t>(history_.size());
}

Outcome Simulation::Run() {
  Setup();
  const int total = opt_.fault_steps + opt_.heal_steps;
  const int stop_producing = opt_.fault_steps + opt_.heal_steps / 2;
  for (int step = 0; !failed_; ++step) {
    if (step >= total) {
      // A follower that fell far behind catches up at the rate its flow
      // control allows (max_append_bytes x max_inflight_appends per round
      // trip), which some seeds set barely above the producers' rate: give
      // a converging group up to kMaxExtraHealMs more before judging it.
      if (Converged() || step >= total + kMaxExtraHealMs) break;
      ++stats_.extra_heal_ms;
    }
    ++now_;
    ++stats_.steps;
    if (step == opt_.fault_steps) Heal();
    if (step == stop_producing) producing_ = false;
    InjectFaults();
    Produce();
    DeliverRequests();
    DeliverMessages();
    CompleteSyncs();
    Flush();
    Retention();
    TickReplicas();
    RunExecutors();
    if (failed_) break;
    Consume();
    if (tracing() && now_ % 100 == 0) {
      std::string line = "progress:";
      for (auto& s : slots_) {
        if (!s.up) continue;
        line += " " + std::to_string(s.id) + "=[" + std::to_string(s.replica->log().log_start_offset().value()) + ", " +
                std::to_string(s.replica->log().log_end_offset().value()) + ") hwm " +
                std::to_string(s.replica->high_watermark().value()) + ";";
      }
      Trace(line);
    }
    if (now_ % 150 == 0) {
      // Re-read one replica's whole log now and then: a bug that truncates
      // and rewrites committed entries within one step leaves the end where
      // it was.
      Slot& s = slots_[rng_.Range(0, kReplicas - 1)];
      if (s.up) s.verified_end = s.replica->log().log_start_offset();
    }
    Observe();
  }
  if (!failed_) FinalChecks();
  Outcome out;
  out.ok = !failed_;
  out.failure = failure_;
  std::ostringstream summary;
  summary << "fsync=" << (fsync_ == storage::FsyncPolicy::kAlways ? "always" : "interval")
          << " producers=" << producers_.size() << " crashes=" << stats_.crashes << " acked=" << stats_.acked_all
          << " committed=" << history_.size();
  out.summary = summary.str();
  for (auto& line : trace_) out.trace += line + "\n";
  out.stats = stats_;
  return out;
}

}  // namespace

Outcome RunSimulation(const Options& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace telemq::replication::sim
