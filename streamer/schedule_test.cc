#include "streamer/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <numeric>
#include <random>

#include "streamer/shard.h"
#include "telemq/producer.h"

namespace telemq::streamer {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr int64_t kT0 = 1'752'871'354'000'000;  // some wall-clock time, us

TEST(SlotGridTest, SlotsAreThePhasePlusMultiplesOfTheInterval) {
  SlotGrid grid(microseconds(1000));
  EXPECT_EQ(grid.FirstSlotAtOrAfter(300, 0), 0);
  EXPECT_EQ(grid.FirstSlotAtOrAfter(300, 300), 0);
  EXPECT_EQ(grid.FirstSlotAtOrAfter(300, 301), 1);
  EXPECT_EQ(grid.FirstSlotAtOrAfter(300, 1300), 1);
  EXPECT_EQ(grid.SlotTime(300, 5), 5300);
  const int64_t phase = grid.Phase("host-0001");
  EXPECT_GE(phase, 0);
  EXPECT_LT(phase, 1000);
  EXPECT_EQ(phase, SlotGrid(microseconds(1000)).Phase("host-0001"));  // same on every streamer
}

TEST(HostScheduleTest, IntervalHostsEmitOnTheirSlotsOneIntervalApart) {
  const std::vector<std::string> hosts = {"a", "b"};
  HostSchedule s(milliseconds(100), hosts);
  s.Add(0, kT0);
  s.Add(1, kT0);
  std::map<size_t, std::vector<int64_t>> due_times;
  for (int i = 0; i < 6; ++i) {
    auto due = s.Next();
    ASSERT_TRUE(due);
    EXPECT_GE(due->due_us, kT0);
    due_times[due->host].push_back(due->due_us);
    EXPECT_EQ(s.Emitted(due->host, due->due_us), 0u);
  }
  for (const auto& [host, times] : due_times) {
    ASSERT_EQ(times.size(), 3u);
    EXPECT_LT(times[0], kT0 + 100'000);  // first slot within one interval
    EXPECT_EQ(times[1] - times[0], 100'000);
    EXPECT_EQ(times[2] - times[1], 100'000);
  }
}

TEST(HostScheduleTest, LoopingSnapshotNumberIsTheSlotSoEveryStreamerAgrees) {
  const std::vector<std::string> hosts = {"a"};
  HostSchedule first(milliseconds(100), hosts), second(milliseconds(100), hosts);
  first.Add(0, kT0);
  auto d1 = *first.Next();
  first.Emitted(0, d1.due_us);
  // Another streamer takes the host over just after the first one's slot.
  second.Add(0, d1.due_us + 1);
  auto d2 = *second.Next();
  EXPECT_EQ(d2.snapshot, d1.snapshot + 1);
  EXPECT_EQ(d2.due_us, d1.due_us + 100'000);  // the next slot, neither repeated nor skipped
}

TEST(HostScheduleTest, ALateHostSkipsSlotsCloserThanHalfAnInterval) {
  const std::vector<std::string> hosts = {"a"};
  HostSchedule s(milliseconds(100), hosts);
  s.Add(0, kT0);
  auto d = *s.Next();
  // Emitted 350 ms late: the slots at +100, +200, +300 ms have passed, and
  // +400 is still 50 ms away.
  EXPECT_EQ(s.Emitted(0, d.due_us + 350'000), 3u);
  EXPECT_EQ(s.Next()->due_us, d.due_us + 400'000);
  // Slightly late is not skipping.
  EXPECT_EQ(s.Emitted(0, d.due_us + 400'000 + 20'000), 0u);
  EXPECT_EQ(s.Next()->due_us, d.due_us + 500'000);
  // 60 ms late: the next slot would follow 40 ms later, too close.
  EXPECT_EQ(s.Emitted(0, d.due_us + 500'000 + 60'000), 1u);
  EXPECT_EQ(s.Next()->due_us, d.due_us + 700'000);
}

TEST(HostScheduleTest, RoundRobinTakesTurnsAndIsDueAtOnce) {
  const std::vector<std::string> hosts = {"a", "b", "c"};
  HostSchedule s(microseconds(0), hosts);
  for (size_t h = 0; h < 3; ++h) s.Add(h, kT0);
  std::vector<size_t> order;
  for (int i = 0; i < 6; ++i) {
    auto d = *s.Next();
    EXPECT_EQ(d.due_us, 0);
    order.push_back(d.host);
    s.Emitted(d.host, kT0);
  }
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(s.Next()->snapshot, 2u);  // the third snapshot of host 0
}

TEST(HostScheduleTest, SinglePassEndsEachHostAfterItsLimit) {
  const std::vector<std::string> hosts = {"a", "b"};
  HostSchedule s(microseconds(0), hosts);
  s.Add(0, kT0, 2);
  s.Add(1, kT0, 1);
  std::map<size_t, std::vector<uint64_t>> snapshots;
  while (auto d = s.Next()) {
    snapshots[d->host].push_back(d->snapshot);
    s.Emitted(d->host, kT0);
  }
  EXPECT_TRUE(s.Idle());
  EXPECT_EQ(snapshots[0], (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(snapshots[1], (std::vector<uint64_t>{0}));
  EXPECT_FALSE(s.Owns(0));
}

TEST(HostScheduleTest, RemovedHostsAreNotServedAndCanComeBack) {
  const std::vector<std::string> hosts = {"a", "b"};
  HostSchedule s(microseconds(0), hosts);
  s.Add(0, kT0);
  s.Add(1, kT0);
  s.Add(1, kT0);  // twice is once
  EXPECT_EQ(s.scheduled_count(), 2u);
  s.Remove(0);
  s.Remove(0);
  for (int i = 0; i < 3; ++i) {
    auto d = *s.Next();
    EXPECT_EQ(d.host, 1u);
    s.Emitted(d.host, kT0);
  }
  s.Remove(1);
  EXPECT_TRUE(s.Idle());
  s.Add(0, kT0);
  EXPECT_EQ(s.Next()->host, 0u);
}

TEST(RatePacerTest, SpacesSnapshotsToTheRate) {
  RatePacer pacer(1000);  // points/s
  EXPECT_EQ(pacer.NextAllowed(kT0), kT0);
  pacer.Consumed(100, kT0);
  // 100 points at 1000/s take 100 ms; the catch-up allowance (100 ms) was
  // used by this first snapshot, so the next may start at once...
  EXPECT_EQ(pacer.NextAllowed(kT0), kT0);
  pacer.Consumed(100, kT0);
  // ...but then the budget is spent: 100 ms per 100 points.
  EXPECT_EQ(pacer.NextAllowed(kT0), kT0 + 100'000);
  pacer.Consumed(100, kT0 + 100'000);
  EXPECT_EQ(pacer.NextAllowed(kT0 + 100'000), kT0 + 200'000);
}

TEST(RatePacerTest, AStallIsMadeUpByAtMostTheCatchUpAllowance) {
  RatePacer pacer(1000);
  pacer.Consumed(10, kT0);
  // Ten seconds of nothing: only 100 ms (100 points) may go out back to back.
  const int64_t later = kT0 + 10'000'000;
  pacer.Consumed(100, later);
  EXPECT_EQ(pacer.NextAllowed(later), later);
  pacer.Consumed(100, later);
  EXPECT_EQ(pacer.NextAllowed(later), later + 100'000);
}

TEST(RatePacerTest, ZeroRateNeverWaits) {
  RatePacer pacer(0);
  for (int i = 0; i < 1000; ++i) pacer.Consumed(1000, kT0);
  EXPECT_EQ(pacer.NextAllowed(kT0), kT0);
}

TEST(GpuStamperTest, StampsStrictlyIncreasePerGpuEvenWhenTheClockDoesNot) {
  GpuStamper stamper(2);
  stamper.BeginSnapshot(kT0);
  EXPECT_EQ(stamper.Stamp(0), kT0);
  EXPECT_EQ(stamper.Stamp(0), kT0);  // same snapshot, same stamp
  EXPECT_EQ(stamper.Stamp(1), kT0);
  stamper.BeginSnapshot(kT0);  // the clock did not move
  EXPECT_EQ(stamper.Stamp(0), kT0 + 1);
  stamper.BeginSnapshot(kT0 - 5'000);  // the clock stepped back
  EXPECT_EQ(stamper.Stamp(0), kT0 + 2);
  EXPECT_EQ(stamper.Stamp(1), kT0 + 1);
  stamper.BeginSnapshot(kT0 + 1'000'000);
  EXPECT_EQ(stamper.Stamp(1), kT0 + 1'000'000);
  // Only the step back counts as clamped (a stalled clock is routine), once
  // per GPU and snapshot, with how far behind the clock was.
  EXPECT_EQ(stamper.TakeClamped(), std::make_pair(uint64_t{2}, int64_t{5'001}));
  EXPECT_EQ(stamper.TakeClamped(), std::make_pair(uint64_t{0}, int64_t{0}));
}

std::vector<std::string> Hosts(int n) {
  std::vector<std::string> hosts;
  for (int i = 1; i <= n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "host-%04d", i);
    hosts.emplace_back(name);
  }
  return hosts;
}

TEST(ShardTest, EveryHostIsExactlyOneShardAndBack) {
  for (int n : {0, 1, 2, 7, 16, 100}) {
    const auto hosts = Hosts(n);
    const HostShards shards(hosts);
    ASSERT_EQ(shards.count(), n);
    std::set<int32_t> all;
    for (size_t h = 0; h < hosts.size(); ++h) {
      const int32_t s = shards.ShardOf(h);
      EXPECT_TRUE(all.insert(s).second) << "two hosts on shard " << s;
      EXPECT_EQ(shards.HostsIn({s}), std::vector<size_t>{h});
    }
    EXPECT_EQ(shards.HostsIn(all).size(), hosts.size());
    EXPECT_TRUE(shards.HostsIn({}).empty());
    EXPECT_TRUE(shards.HostsIn({-1, n}).empty());  // not shards of this source
  }
}

TEST(ShardTest, ShardsFollowHostNamesNotTheSourceOrder) {
  // Two streamers reading the same fleet listed in another order agree.
  const std::vector<std::string> a = {"b", "c", "a"};
  const std::vector<std::string> b = {"a", "b", "c"};
  const HostShards sa(a), sb(b);
  for (size_t i = 0; i < a.size(); ++i) {
    const auto j = static_cast<size_t>(std::find(b.begin(), b.end(), a[i]) - b.begin());
    EXPECT_EQ(sa.ShardOf(i), sb.ShardOf(j)) << a[i];
  }
}

// The group's assignor (docs/groups.md) gives each member a balanced number
// of partitions (max - min <= 1) but any partitions. Whatever it picks, the
// hosts must be within ±1 of even (issue #15: 16 hosts hashed onto 16
// partitions gave two streamers 12 and 4). Random balanced splits, seeded.
TEST(ShardTest, AnyBalancedAssignmentSplitsHostsWithinOne) {
  std::mt19937 rng(15);
  for (int n = 1; n <= 64; ++n) {
    const HostShards shards(Hosts(n));
    for (int members = 1; members <= 10; ++members) {
      for (int trial = 0; trial < 5; ++trial) {
        std::vector<int32_t> order(static_cast<size_t>(shards.count()));
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<std::set<int32_t>> assigned(static_cast<size_t>(members));
        for (size_t i = 0; i < order.size(); ++i) assigned[i % assigned.size()].insert(order[i]);
        size_t lo = SIZE_MAX, hi = 0;
        for (const auto& a : assigned) {
          lo = std::min(lo, shards.HostsIn(a).size());
          hi = std::max(hi, shards.HostsIn(a).size());
        }
        EXPECT_LE(hi - lo, 1u) << n << " hosts, " << members << " streamers (seed 15, trial " << trial << ")";
      }
    }
  }
}

// A member joining takes partitions only from the others and a member
// leaving gives only its own (the assignor's stickiness): with one host per
// shard, the hosts that move are exactly those partitions' hosts.
TEST(ShardTest, HostsMoveOnlyWithTheirShard) {
  const HostShards shards(Hosts(16));
  const std::set<int32_t> kept = {0, 3, 5, 9};
  const std::set<int32_t> moved = {1, 2};
  std::set<int32_t> before = kept;
  before.insert(moved.begin(), moved.end());
  const auto hosts_before = shards.HostsIn(before);
  const auto hosts_after = shards.HostsIn(kept);
  std::vector<size_t> gone;
  std::set_difference(hosts_before.begin(), hosts_before.end(), hosts_after.begin(), hosts_after.end(),
                      std::back_inserter(gone));
  EXPECT_EQ(gone, shards.HostsIn(moved));
}

TEST(ShardTest, CoordinationTopicIsNamedAfterTheGroup) {
  EXPECT_EQ(ShardTopic("telemq-streamers"), "telemq-streamers.hosts");
}

}  // namespace
}  // namespace telemq::streamer
