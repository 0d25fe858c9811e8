// replica_sim: runs the deterministic replica simulation over many seeds.
//   replica_sim --seeds N [--first-seed S] [--steps T]   campaign over seeds S..S+N-1
//   replica_sim --seed N [--verbose]                     replay one seed
//   --fsync always|interval forces the fsync mode (default: drawn per seed);
//   fsync: interval crashes are power losses on half the seeds (drawn);
//   --interval-power-loss on every such seed, --no-power-loss on none;
//   --power-loss-unnoticed (test only) reopens a power-lossed replica as if
//   the broker had not noticed the reboot (no abstention: the simulation
//   must then find lost acknowledged writes); --no-fencing lets consumers
//   read deposed leaders that still serve;
//   --quiet stops at the first failure without a trace.
// A failing seed is printed with the violated invariant and the last events
// before it; `replica_sim --seed N --verbose` replays it event by event.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/sim/replica_simulator.h"
#include "tests/sim/sim_common.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: replica_sim --seeds N [--first-seed S] [--steps T] [--quiet]\n"
               "       replica_sim --seed N [--verbose] [--steps T]\n"
               "  either: [--fsync always|interval]   (default: drawn per seed)\n"
               "          [--interval-power-loss | --no-power-loss]  (fsync: interval crashes may be power\n"
               "                                      losses on every seed / on none; default: half the seeds)\n"
               "          [--power-loss-unnoticed]    (test only: reopen a power-lossed replica without\n"
               "                                      unsynced_writes_may_be_lost; must find lost writes)\n"
               "          [--no-fencing]              (consumers read stale serving leaders too)\n"
               "  --steps T: T simulated ms of faults, then T of healed network; --heal H: H ms of heal\n");
}

}  // namespace

int main(int argc, char** argv) {
  using telemq::replication::sim::Options;
  using telemq::replication::sim::Outcome;
  using telemq::replication::sim::RunSimulation;
  using telemq::replication::sim::Stats;

  uint64_t seeds = 0;
  uint64_t first_seed = 1;
  bool single = false;
  bool verbose = false;
  bool quiet = false;
  int steps = 0;
  int heal = 0;
  int fsync_interval = -1;
  int interval_power_loss = -1;
  bool power_loss_unnoticed = false;
  bool consumer_fencing = true;
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
    } else if (a == "--heal") {
      heal = std::atoi(next());
    } else if (a == "--fsync") {
      std::string mode = next();
      fsync_interval = mode == "interval" ? 1 : mode == "always" ? 0 : -1;
    } else if (a == "--interval-power-loss") {
      interval_power_loss = 1;
    } else if (a == "--no-power-loss") {
      interval_power_loss = 0;
    } else if (a == "--power-loss-unnoticed") {
      power_loss_unnoticed = true;
    } else if (a == "--no-fencing") {
      consumer_fencing = false;
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
  // The replica logs leadership changes and dropped messages; thousands of
  // seeds of that is noise (and time). --verbose shows warnings and errors.
  spdlog::set_level(single && verbose ? spdlog::level::warn : spdlog::level::off);
  telemq::sim::AbortNote::Install("replica_sim");

  auto start = std::chrono::steady_clock::now();
  Stats total;
  uint64_t failures = 0;
  for (uint64_t s = first_seed; s < first_seed + seeds; ++s) {
    telemq::sim::AbortNote::SetSeed(s);
    Options opt;
    opt.seed = s;
    if (steps > 0) opt.fault_steps = opt.heal_steps = steps;
    if (heal > 0) opt.heal_steps = heal;
    opt.verbose = single && verbose;
    opt.fsync_interval = fsync_interval;
    opt.interval_power_loss = interval_power_loss;
    opt.power_loss_unnoticed = power_loss_unnoticed;
    opt.consumer_fencing = consumer_fencing;
    Outcome out = RunSimulation(opt);
    total.Add(out.stats);
    if (single) std::printf("seed %llu: %s\n", static_cast<unsigned long long>(s), out.summary.c_str());
    if (out.ok) continue;
    ++failures;
    if (quiet) {
      std::printf("FAIL seed %llu: %s\n", static_cast<unsigned long long>(s), out.failure.c_str());
      break;
    }
    // Replay the same seed with a trace to show what led to the failure.
    opt.trace_lines = 300;
    opt.verbose = false;
    Outcome replay = RunSimulation(opt);
    std::printf("FAIL seed %llu (%s): %s\n--- last events ---\n%s--- replay with: replica_sim --seed %llu --verbose\n",
                static_cast<unsigned long long>(s), out.summary.c_str(), out.failure.c_str(), replay.trace.c_str(),
                static_cast<unsigned long long>(s));
    if (replay.failure != out.failure) {
      std::printf("NOTE: replay diverged (%s): the simulation is not deterministic\n", replay.failure.c_str());
    }
    if (failures >= 3) break;
  }
  telemq::sim::AbortNote::Clear();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "replica_sim: %llu seeds, %llu failed, %.1f s, %.0f seeds/s\n"
      "  simulated ms %lld (heal extended by %lld), raft messages %lld (dropped %lld, duplicated %lld), partitions "
      "%lld\n"
      "  crashes %lld (torn %lld, process-only %lld, interval power losses %lld), write faults %lld, transfers %lld\n"
      "  retentions %lld, logs reopened after a failed reset %lld, fdatasyncs %lld\n"
      "  produce requests %lld: acked acks=all %lld, acks=leader %lld, re-acked retries %lld, not-leader %lld, "
      "timeouts %lld, epoch bumps %lld, out-of-order from stale leaders %lld\n"
      "  after retention: producers forgotten %lld, retries answered written-but-unlocatable %lld\n"
      "  committed batches %lld, consumer reads %lld (stale leaders fenced %lld), leader terms %lld\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failures), secs,
      secs > 0 ? static_cast<double>(seeds) / secs : 0.0, static_cast<long long>(total.steps),
      static_cast<long long>(total.extra_heal_ms), static_cast<long long>(total.messages),
      static_cast<long long>(total.dropped), static_cast<long long>(total.duplicated),
      static_cast<long long>(total.partitions), static_cast<long long>(total.crashes),
      static_cast<long long>(total.torn_crashes), static_cast<long long>(total.process_crashes),
      static_cast<long long>(total.power_losses), static_cast<long long>(total.write_faults),
      static_cast<long long>(total.transfers), static_cast<long long>(total.retentions),
      static_cast<long long>(total.reopened), static_cast<long long>(total.syncs),
      static_cast<long long>(total.produce_requests), static_cast<long long>(total.acked_all),
      static_cast<long long>(total.acked_leader), static_cast<long long>(total.deduplicated),
      static_cast<long long>(total.not_leader), static_cast<long long>(total.timeouts),
      static_cast<long long>(total.epoch_bumps), static_cast<long long>(total.stale_leader_refusals),
      static_cast<long long>(total.producers_forgotten), static_cast<long long>(total.acked_without_offset),
      static_cast<long long>(total.committed_batches), static_cast<long long>(total.consumer_reads),
      static_cast<long long>(total.fenced_reads), static_cast<long long>(total.leader_terms));
  return failures == 0 ? 0 : 1;
}
