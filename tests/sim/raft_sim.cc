// raft_sim: runs the deterministic Raft simulation over many seeds.
//   raft_sim --seeds N [--first-seed S] [--steps T]   campaign over seeds S..S+N-1
//   raft_sim --seed N [--verbose]                     replay one seed
//   --scenario K / --fsync always|interval / --learners L force a scripted
//   interleaving, an fsync mode or L learners (0..2) on every seed; --quiet
//   stops at the first failure.
// A failing seed is printed with the violated invariant and the last events
// before it; `raft_sim --seed N --verbose` replays it event by event.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/sim/sim_common.h"
#include "tests/sim/simulator.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: raft_sim --seeds N [--first-seed S] [--steps T] [--quiet]\n"
               "       raft_sim --seed N [--verbose] [--steps T]\n"
               "  either: [--scenario 0..3] (0 none, 1 figure 8, 2 stale suffix, 3 leader crash before fsync)\n"
               "          [--fsync always|interval]   (default: drawn per seed)\n"
               "          [--learners 0..2]           non-voting members (default: drawn per seed)\n");
}

}  // namespace

int main(int argc, char** argv) {
  using telemq::raft::sim::Options;
  using telemq::raft::sim::Outcome;
  using telemq::raft::sim::RunSimulation;
  using telemq::raft::sim::Stats;

  uint64_t seeds = 0;
  uint64_t first_seed = 1;
  bool single = false;
  bool verbose = false;
  int steps = 0;
  int scenario = -1;
  int fsync_interval = -1;
  int learners = -1;
  bool quiet = false;  // mutation check: only the first failure, no trace
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seeds") {
      seeds = std::strtoull(next(), nullptr, 10);
    } else if (a == "--seed") {
      first_seed = std::strtoull(next(), nullptr, 10);
      seeds = 1;
      single = true;
    } else if (a == "--first-seed") {
      first_seed = std::strtoull(next(), nullptr, 10);
    } else if (a == "--steps") {
      steps = std::atoi(next());
    } else if (a == "--scenario") {
      scenario = std::atoi(next());
    } else if (a == "--fsync") {
      std::string mode = next();
      fsync_interval = mode == "interval" ? 1 : mode == "always" ? 0 : -1;
    } else if (a == "--learners") {
      learners = std::atoi(next());
      if (learners < 0 || learners > 2) {
        Usage();
        return 2;
      }
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else {
      Usage();
      return 2;
    }
  }
  if (seeds == 0) {
    Usage();
    return 2;
  }
  telemq::sim::AbortNote::Install("raft_sim");

  auto start = std::chrono::steady_clock::now();
  Stats total;
  uint64_t failures = 0;
  for (uint64_t s = first_seed; s < first_seed + seeds; ++s) {
    telemq::sim::AbortNote::SetSeed(s);
    Options opt;
    opt.seed = s;
    if (steps > 0) opt.fault_steps = opt.heal_steps = steps;
    opt.verbose = single && verbose;
    opt.scenario = scenario;
    opt.fsync_interval = fsync_interval;
    opt.learners = learners;
    Outcome out = RunSimulation(opt);
    total.Add(out.stats);
    if (single) std::printf("seed %llu: %s\n", static_cast<unsigned long long>(s), out.summary.c_str());
    if (!out.ok && quiet) {
      ++failures;
      std::printf("FAIL seed %llu: %s\n", static_cast<unsigned long long>(s), out.failure.c_str());
      break;
    }
    if (!out.ok) {
      ++failures;
      // Replay the same seed with a trace to show what led to the failure.
      opt.trace_lines = 300;
      opt.verbose = false;
      Outcome replay = RunSimulation(opt);
      std::printf("FAIL seed %llu (%s): %s\n--- last events ---\n%s--- replay with: raft_sim --seed %llu --verbose\n",
                  static_cast<unsigned long long>(s), out.summary.c_str(), out.failure.c_str(), replay.trace.c_str(),
                  static_cast<unsigned long long>(s));
      if (replay.failure != out.failure) {
        std::printf("NOTE: replay diverged (%s): the simulation is not deterministic\n", replay.failure.c_str());
      }
      if (failures >= 3) break;
    }
  }
  telemq::sim::AbortNote::Clear();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "raft_sim: %llu seeds, %llu failed, %.1f s\n"
      "  steps %lld, messages %lld\n"
      "  faults %lld: dropped %lld, duplicated %lld, crashes %lld, partitions %lld, "
      "retentions %lld, transfers %lld, forced campaigns %lld\n"
      "  proposals accepted %lld, entries committed %lld, leaders elected %lld, log resets %lld\n"
      "  slow writes %lld, torn writes %lld, power losses %lld (entries lost %lld), abstaining restarts %lld\n"
      "  scenarios completed: figure 8 %lld, stale suffix %lld, leader crash before fsync %lld\n"
      "  groups with learners %lld, transfers to a learner refused %lld\n"
      "  %.0f seeds/s\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failures), secs,
      static_cast<long long>(total.steps), static_cast<long long>(total.messages),
      static_cast<long long>(total.Faults()), static_cast<long long>(total.dropped),
      static_cast<long long>(total.duplicated), static_cast<long long>(total.crashes),
      static_cast<long long>(total.partitions), static_cast<long long>(total.retentions),
      static_cast<long long>(total.transfers), static_cast<long long>(total.forced_campaigns),
      static_cast<long long>(total.proposals), static_cast<long long>(total.committed_entries),
      static_cast<long long>(total.leaders_elected), static_cast<long long>(total.log_resets),
      static_cast<long long>(total.slow_writes), static_cast<long long>(total.torn_writes),
      static_cast<long long>(total.power_losses), static_cast<long long>(total.lost_entries),
      static_cast<long long>(total.abstained_votes), static_cast<long long>(total.scenarios[1]),
      static_cast<long long>(total.scenarios[2]), static_cast<long long>(total.scenarios[3]),
      static_cast<long long>(total.learner_groups), static_cast<long long>(total.learner_transfers_refused),
      secs > 0 ? static_cast<double>(seeds) / secs : 0.0);
  return failures == 0 ? 0 : 1;
}
