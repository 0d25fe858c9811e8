#pragma once
// Deterministic simulation of one partition replicated three ways, driving
// the code the broker runs: three replication::Replica (RaftLog over
// storage::PartitionLog, raft::Node, hard state, producer table) over
// in-memory disks behind storage::FaultInjectionFileSystem, with simulated
// seams (an executor queue per replica, a syncer whose fdatasync takes
// simulated time, a lossy network, a simulated clock).
//
// Faults: message loss, duplication, delay, reordering, partitions (one node
// isolated, asymmetric links), crashes that lose unsynced writes and can
// tear the last one, write errors, leadership transfers, retention, lost
// produce answers. Workload: idempotent producers with up to five batches in
// flight that retry (acks=all, some acks=leader) and consumers that read
// serving leaders below the high watermark.
// Everything derives from the seed; invariants are checked after every
// simulated millisecond (docs/replication.md §6 lists them).
//
// Thread-safety: none; one simulation per thread.

#include <cstdint>
#include <string>

namespace telemq::replication::sim {

struct Options {
  uint64_t seed = 1;
  // Simulated milliseconds with faults, then milliseconds of healed network
  // (no crashes, partitions, loss or duplication) before the final checks;
  // producers stop half way through the heal. A group still catching up
  // gets up to 5,000 ms more (Stats::extra_heal_ms).
  int fault_steps = 2000;
  int heal_steps = 1000;
  // Keep the last `trace_lines` events and return them; 0 = off.
  int trace_lines = 0;
  // Print every event as it happens.
  bool verbose = false;
  // fsync mode: -1 = drawn from the seed, 0 = always, 1 = interval.
  int fsync_interval = -1;
  // fsync: interval: half the crashes are power losses (unsynced writes
  // lost; the replica is reopened with unsynced_writes_may_be_lost) instead
  // of process crashes, one power-lossed replica at a time (docs/
  // replication.md §2): a power loss hits only while no other replica is
  // down after one or has yet to hold an entry of a newer term than the one
  // it came back with. -1 = drawn from the seed (half of the fsync: interval
  // seeds), 0 = never, 1 = on every fsync: interval seed.
  int interval_power_loss = -1;
  // Test only: reopen a power-lossed replica with
  // unsynced_writes_may_be_lost = false, as if the broker had not noticed
  // the reboot. It then never abstains, and the simulation must report lost
  // acknowledged writes (the check that it can).
  bool power_loss_unnoticed = false;
  // Consumers refuse a serving leader of an older term than one they saw
  // (leader-epoch fencing). Off: a deposed leader that has not noticed yet
  // can show a consumer an older high watermark (docs/replication.md §6).
  bool consumer_fencing = true;
};

struct Stats {
  int64_t steps = 0;
  int64_t extra_heal_ms = 0;  // heal time beyond heal_steps until the group converged
  int64_t messages = 0;
  int64_t dropped = 0;
  int64_t duplicated = 0;
  int64_t partitions = 0;
  int64_t crashes = 0;
  int64_t torn_crashes = 0;     // crashes that kept part of the unsynced writes
  int64_t process_crashes = 0;  // fsync: interval, page cache kept
  int64_t power_losses = 0;     // fsync: interval, unsynced writes dropped (in part, if torn)
  int64_t write_faults = 0;     // armed write errors
  int64_t transfers = 0;
  int64_t retentions = 0;  // ApplyRetention calls that removed segments
  int64_t reopened = 0;    // replicas restarted because their log refused calls (failed ResetTo)
  int64_t syncs = 0;
  int64_t produce_requests = 0;
  int64_t acked_all = 0;     // batches answered kOk with acks=all
  int64_t acked_leader = 0;  // ... with acks=leader
  int64_t deduplicated = 0;  // kOk answers for a batch acknowledged before
  int64_t not_leader = 0;
  int64_t timeouts = 0;  // produce requests with no answer in time
  int64_t epoch_bumps = 0;
  int64_t producers_forgotten = 0;    // refused as unknown after retention removed all their batches
  int64_t acked_without_offset = 0;   // kDuplicateSequence for a batch retention removed
  int64_t stale_leader_refusals = 0;  // kOutOfOrderSequence from a deposed leader of an older term
  int64_t committed_batches = 0;      // batches in the committed history at the end
  int64_t consumer_reads = 0;
  int64_t fenced_reads = 0;  // consumer reads refused: a serving leader of an older term
  int64_t leader_terms = 0;  // terms in which some replica led
  void Add(const Stats& o);
};

struct Outcome {
  bool ok = true;
  std::string failure;  // what was violated, if !ok
  std::string trace;    // the last events, if tracing was on
  std::string summary;  // the seed's draws
  Stats stats;
};

Outcome RunSimulation(const Options& options);

}  // namespace telemq::replication::sim
