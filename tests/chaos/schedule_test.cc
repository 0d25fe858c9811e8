// The nemesis schedule: seeded, complete, and replayable from its text.

#include "tests/chaos/schedule.h"

#include <gtest/gtest.h>

#include <set>

namespace telemq::chaos {
namespace {

ScheduleOptions Options(uint64_t seed) {
  ScheduleOptions o;
  o.seed = seed;
  o.kinds.assign(std::begin(kAllFaultKinds), std::end(kAllFaultKinds));
  o.partitions = 4;
  o.duration = std::chrono::seconds(120);
  return o;
}

TEST(ChaosScheduleTest, SameSeedSameScheduleOtherSeedOtherSchedule) {
  EXPECT_EQ(Generate(Options(7)).faults, Generate(Options(7)).faults);
  EXPECT_NE(Generate(Options(7)).faults, Generate(Options(8)).faults);
}

TEST(ChaosScheduleTest, EveryEnabledKindComesFirstOnceAndHoldsAreInRange) {
  const ScheduleOptions o = Options(42);
  const Schedule s = Generate(o);
  ASSERT_GE(s.faults.size(), std::size(kAllFaultKinds));
  std::set<FaultKind> first;
  for (size_t i = 0; i < std::size(kAllFaultKinds); ++i) first.insert(s.faults[i].kind);
  EXPECT_EQ(first.size(), std::size(kAllFaultKinds));
  for (const auto& f : s.faults) {
    EXPECT_GE(f.hold_ms, f.kind == FaultKind::kPause ? o.pause_min.count() : o.hold_min.count());
    EXPECT_LE(f.hold_ms, o.hold_max.count());
    EXPECT_GE(f.gap_ms, o.gap_min.count());
    EXPECT_LT(f.partition, o.partitions);
  }
}

TEST(ChaosScheduleTest, TextRoundTrips) {
  const Schedule s = Generate(Options(3));
  const auto parsed = ParseSchedule(Serialize(s));
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->seed, s.seed);
  EXPECT_EQ(parsed->faults, s.faults);
}

TEST(ChaosScheduleTest, HandWrittenScheduleWithCommentsParses) {
  const auto parsed = ParseSchedule(
      "# isolate the leader of partition 1 twice\n"
      "seed 9\n"
      "fault isolate leader 1 500 4000 0   # first\n"
      "\n"
      "fault power-loss follower 0 1000 2000 77\n");
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  ASSERT_EQ(parsed->faults.size(), 2u);
  EXPECT_EQ(parsed->faults[0].kind, FaultKind::kIsolate);
  EXPECT_EQ(parsed->faults[1].role, Role::kFollower);
  EXPECT_EQ(parsed->faults[1].param, 77u);
}

TEST(ChaosScheduleTest, MalformedLinesAreRefusedWithTheirNumber) {
  for (const char* bad : {"fault teleport leader 0 1 1 1\n", "seed x\n", "fault kill boss 0 1 1 1\n",
                          "fault kill leader -1 1 1 1\n", "launch\n", "fault kill leader 0 1 1\n"}) {
    const auto parsed = ParseSchedule(std::string("seed 1\n") + bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().ToString().find("line 2"), std::string::npos) << parsed.error().ToString();
  }
}

}  // namespace
}  // namespace telemq::chaos
