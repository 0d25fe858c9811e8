#pragma once
// Deterministic simulation of a Raft group (broker/raft) under faults.
//
// Everything (network latency, loss, duplication, reordering, partitions,
// crashes, restarts, tick rates, proposals, retention, leadership transfers
// and each node's election-timeout generator) derives from one seed, so a run
// is replayed exactly by running the same seed again. Invariants are checked
// after every step; a violation stops the run with a message, and the
// caller can replay the seed with tracing on to print the events leading up
// to it. See docs/replication.md for the fault model.
//
// Thread-safety: none; one simulation per thread.

#include <cstdint>
#include <string>

namespace telemq::raft::sim {

struct Options {
  uint64_t seed = 1;
  // Simulated time units with faults, then time units of healed network in
  // which liveness is checked.
  int fault_steps = 5000;
  int heal_steps = 4000;
  // Keep the last `trace_lines` events and print them on failure; 0 = off.
  int trace_lines = 0;
  // Print every event as it happens.
  bool verbose = false;
};

struct Stats {
  int64_t steps = 0;
  int64_t messages = 0;
  int64_t dropped = 0;
  int64_t duplicated = 0;
  int64_t crashes = 0;
  int64_t partitions = 0;
  int64_t retentions = 0;
  int64_t transfers = 0;
  int64_t forced_campaigns = 0;
  int64_t proposals = 0;
  int64_t committed_entries = 0;
  int64_t leaders_elected = 0;
  int64_t log_resets = 0;
  int64_t Faults() const {
    return dropped + duplicated + crashes + partitions + retentions + transfers + forced_campaigns;
  }
  void Add(const Stats& o);
};

struct Outcome {
  bool ok = true;
  std::string failure;  // what was violated, if !ok
  std::string trace;    // the last events, if tracing was on
  std::string summary;  // group size, fault rates
  Stats stats;
};

Outcome RunSimulation(const Options& options);

}  // namespace telemq::raft::sim
