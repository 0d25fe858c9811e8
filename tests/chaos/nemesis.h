#pragma once
// The nemesis: runs one fault of a schedule (schedule.h) against a
// BrokerCluster of three brokers with proxied links, then heals it and
// measures how long the workload takes to be served again. Shared by
// telemq-chaos (chaos_main.cc) and the pipeline run (pipeline_chaos_test.cc).
//
// A fault: quiet gap; resolve the target (the leader or a follower of one
// partition of `topic`); inject; hold (meanwhile: when was every partition
// served again by a write sent after the injection, the failover time);
// heal; restart any broker that died on its own (a finding); wait until
// every broker is caught up and the workload is served again (the recovery
// time, bounded).
//
// One owner thread: the thread that started the cluster (its brokers'
// parent-death signal is tied to it).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "telemq/common/result.h"
#include "tests/chaos/history.h"
#include "tests/chaos/schedule.h"
#include "tests/support/broker_cluster.h"

namespace telemq::chaos {

// Milliseconds of a steady clock shared by the nemesis and the workload.
int64_t SteadyMs();

struct NemesisOptions {
  std::string topic;
  int32_t partitions = 1;
  int64_t recovery_bound_ms = 30'000;
  uint64_t tmpfs_bytes = 256ull << 20;  // a disk-full target's file system
  std::string sync_log;                 // the sync shim's record; empty: power loss degrades to kill -9
  // Whether the workload was served on every partition by a write sent at
  // or after `since` (SteadyMs).
  std::function<bool(int64_t since)> served_since;
  std::function<void(const std::string&)> log;
};

class Nemesis {
 public:
  Nemesis(testing::BrokerCluster& cluster, NemesisOptions options);
  ~Nemesis();
  Nemesis(const Nemesis&) = delete;
  Nemesis& operator=(const Nemesis&) = delete;

  // Gap, inject, hold, heal, recover. An error: the run cannot go on (a
  // broker that does not start again).
  [[nodiscard]] Result<void> Run(size_t index, const Fault& fault);
  // Every broker running (dead ones restarted), caught up, and the workload
  // served by a write sent at or after `since`: the ms that took, or -1
  // past the bound.
  int64_t AwaitRecovery(int64_t since);
  void RestartDead();
  // Unmounts the tmpfs of every disk-full target (brokers stopped first).
  void UnmountAll();

  const std::map<std::string, int>& injected() const { return injected_; }
  const std::map<std::string, int>& skipped() const { return skipped_; }
  const std::vector<Recovery>& recoveries() const { return recoveries_; }
  const std::vector<std::string>& findings() const { return findings_; }

 private:
  Result<int> Target(const Fault& f);
  Result<void> Restart(int broker);
  // Sleeps out the hold, noting when the workload was first served again.
  void Hold(const Fault& f, int64_t injected_at, int64_t* failover_ms);
  Result<void> Inject(const Fault& f, int target, int64_t* failover_ms, std::string* skipped);
  void Log(const std::string& line) {
    if (o_.log) o_.log(line);
  }

  testing::BrokerCluster& cluster_;
  NemesisOptions o_;
  std::set<int> on_tmpfs_;
  std::map<std::string, int> injected_;
  std::map<std::string, int> skipped_;
  std::vector<Recovery> recoveries_;
  std::vector<std::string> findings_;
};

}  // namespace telemq::chaos
