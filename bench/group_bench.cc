// Consumer-group core alone: heartbeats processed per CPU-second by one
// Group of 100 members on 1000 partitions, and the assignor's run time at
// that size. Measures the state machine, not the network or the log append.
// Run: build/bench/group_bench (figures in docs/groups.md).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "broker/group/assignor.h"
#include "broker/group/group.h"

namespace telemq::group {
namespace {

constexpr int kMembers = 100;
constexpr int kPartitions = 1000;
constexpr std::chrono::milliseconds kSession{45000};

struct StableGroup {
  StableGroup() : group("g", Config()) {
    group.UpdateTopicMetadata({{"t", kPartitions}});
    for (int i = 0; i < kMembers; ++i) {
      HeartbeatRequest req;
      req.member_epoch = kJoinEpoch;
      req.subscribed_topics = std::vector<std::string>{"t"};
      req.owned = Assignment{};
      req.session_timeout = kSession;
      members.push_back(*group.Heartbeat(req, now));
    }
    // Heartbeat until every member owns its target.
    for (int round = 0; round < 4; ++round) {
      for (auto& m : members) m = *group.Heartbeat(Request(m, /*with_owned=*/true), now);
    }
    (void)group.TakeRecords();
  }
  GroupConfig Config() {
    GroupConfig c;
    c.new_member_id = [this] { return "member-" + std::to_string(next_id++); };
    return c;
  }
  static HeartbeatRequest Request(const HeartbeatResponse& m, bool with_owned) {
    HeartbeatRequest req;
    req.member_id = m.member_id;
    req.member_epoch = m.member_epoch;
    if (with_owned) req.owned = m.assignment;
    req.session_timeout = kSession;
    return req;
  }
  int next_id = 0;
  std::chrono::milliseconds now{1000};
  Group group;
  std::vector<HeartbeatResponse> members;
};

// Steady state: a member heartbeats, nothing changes. `with_owned` sends the
// owned partitions every time (10 of them) instead of "unchanged".
void BM_HeartbeatSteady(benchmark::State& state) {
  StableGroup g;
  const bool with_owned = state.range(0) != 0;
  std::vector<HeartbeatRequest> requests;
  for (const auto& m : g.members) requests.push_back(StableGroup::Request(m, with_owned));
  size_t i = 0;
  for (auto _ : state) {
    auto resp = g.group.Heartbeat(requests[i], g.now);
    benchmark::DoNotOptimize(resp);
    if (++i == requests.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(with_owned ? "owned sent" : "owned unchanged");
}
BENCHMARK(BM_HeartbeatSteady)->Arg(0)->Arg(1);

// A full join-and-settle cycle: a 101st member joins, every member
// heartbeats (revoking), and heartbeats again (the newcomer collects). Cost
// of one rebalance, including one assignor run per membership change.
void BM_JoinAndSettle(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    StableGroup g;
    state.ResumeTiming();
    HeartbeatRequest join;
    join.member_epoch = kJoinEpoch;
    join.subscribed_topics = std::vector<std::string>{"t"};
    join.owned = Assignment{};
    join.session_timeout = kSession;
    g.members.push_back(*g.group.Heartbeat(join, g.now));
    for (int round = 0; round < 3; ++round) {
      for (auto& m : g.members) m = *g.group.Heartbeat(StableGroup::Request(m, true), g.now);
    }
    benchmark::DoNotOptimize(g.group.TakeRecords());
  }
}
BENCHMARK(BM_JoinAndSettle)->Unit(benchmark::kMillisecond);

std::vector<AssignorMember> Members(int n) {
  std::vector<AssignorMember> out;
  for (int i = 0; i < n; ++i) out.push_back({"member-" + std::to_string(i), {"t"}});
  return out;
}

// Assignor from scratch (first rebalance, or after a coordinator lost the target).
void BM_AssignorFromScratch(benchmark::State& state) {
  const auto members = Members(kMembers);
  const TopicMetadata topics{{"t", kPartitions}};
  for (auto _ : state) benchmark::DoNotOptimize(ComputeTargetAssignment(members, topics, {}));
}
BENCHMARK(BM_AssignorFromScratch)->Unit(benchmark::kMicrosecond);

// Assignor on a balanced target with one member joining (the common case of a scale-out).
void BM_AssignorOneJoins(benchmark::State& state) {
  const TopicMetadata topics{{"t", kPartitions}};
  const auto current = ComputeTargetAssignment(Members(kMembers), topics, {});
  const auto members = Members(kMembers + 1);
  for (auto _ : state) benchmark::DoNotOptimize(ComputeTargetAssignment(members, topics, current));
}
BENCHMARK(BM_AssignorOneJoins)->Unit(benchmark::kMicrosecond);

// Assignor on a balanced target with nothing changed (a metadata-only bump).
void BM_AssignorUnchanged(benchmark::State& state) {
  const TopicMetadata topics{{"t", kPartitions}};
  const auto members = Members(kMembers);
  const auto current = ComputeTargetAssignment(members, topics, {});
  for (auto _ : state) benchmark::DoNotOptimize(ComputeTargetAssignment(members, topics, current));
}
BENCHMARK(BM_AssignorUnchanged)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace telemq::group
