// The chaos checker on hand-made histories: a clean one, and one anomaly of
// each kind, each reported exactly (the anomaly's counter is 1, every other
// counter 0).

#include "tests/chaos/checker.h"

#include <gtest/gtest.h>

namespace telemq::chaos {
namespace {

constexpr size_t kValueBytes = 24;

std::string V(int32_t p, int32_t k, int64_t s) { return EncodeValue({p, k, s}, kValueBytes); }

// Two producers, one key each, three records per key on partitions 0 and 1:
// all acknowledged, read back in order at the acknowledged offsets (offset
// 0 of each partition is the leader's no-op, a control batch), seen by the
// group, committed, identical on three replicas.
History Clean() {
  History h;
  h.partitions = 2;
  for (int32_t p = 0; p < 2; ++p) {
    for (int64_t s = 0; s < 3; ++s) {
      h.ops.push_back({{p, 0, s}, p, Outcome::kAcked, s + 1});
      h.final_read[p].push_back({s + 1, V(p, 0, s)});
      h.group.push_back({0, 1, p, s + 1, V(p, 0, s)});
      for (int32_t b = 0; b < 3; ++b) {
        h.replicas[b][p][0] = "t1|<control>";
        h.replicas[b][p][s + 1] = "t1|" + V(p, 0, s);
      }
    }
    h.final_high_watermark[p] = 4;
    h.group_committed[p] = 4;
    h.watermarks.push_back({0, p, 1, 2});
    h.watermarks.push_back({0, p, 1, 4});
  }
  h.recoveries.push_back({"kill-leader", 1500});
  return h;
}

// Every counter but `except` is zero.
void ExpectOnly(const Report& r, const std::string& except) {
  const std::map<std::string, int64_t> counters = {
      {"lost", r.lost},
      {"duplicated", r.duplicated},
      {"reordered", r.reordered},
      {"changed", r.changed},
      {"divergent", r.divergent},
      {"phantom", r.phantom},
      {"group_missed", r.group_missed},
      {"group_unexplained", r.group_unexplained},
      {"watermark_regressions", r.watermark_regressions},
      {"slow_recoveries", r.slow_recoveries},
  };
  for (const auto& [name, value] : counters) {
    if (name == except) {
      EXPECT_EQ(value, 1) << name << "\n" << Format(r);
    } else {
      EXPECT_EQ(value, 0) << name << "\n" << Format(r);
    }
  }
  EXPECT_EQ(r.valid(), except.empty()) << Format(r);
  EXPECT_EQ(r.problems.size(), except.empty() ? 0u : 1u) << Format(r);
}

TEST(ChaosCheckerTest, ValueRoundTripsAndForeignValuesDoNotParse) {
  const RecordId id{3, 7, 123456789012};
  const auto parsed = ParseValue(EncodeValue(id, 64));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, id);
  EXPECT_EQ(EncodeValue(id, 64).size(), 64u);
  EXPECT_FALSE(ParseValue("p=1;k=2;").has_value());
  EXPECT_FALSE(ParseValue("p=1;k=2;s=x;").has_value());
  EXPECT_FALSE(ParseValue("seq=4;").has_value());
  EXPECT_FALSE(ParseValue("p=-1;k=2;s=3;").has_value());
}

TEST(ChaosCheckerTest, CleanHistoryIsValid) {
  const Report r = Check(Clean());
  ExpectOnly(r, "");
  EXPECT_EQ(r.attempted, 6);
  EXPECT_EQ(r.acked, 6);
  EXPECT_EQ(r.read, 6);
  EXPECT_EQ(r.group_delivered, 6);
  EXPECT_EQ(r.max_recovery_ms, 1500);
}

TEST(ChaosCheckerTest, AcknowledgedRecordMissingFromTheFinalReadIsLost) {
  History h = Clean();
  // s2 of producer 1 is gone from the log everywhere (and the group never saw it).
  h.final_read[1].pop_back();
  h.group.pop_back();
  h.final_high_watermark[1] = 3;
  h.group_committed[1] = 3;
  for (auto& [b, partitions] : h.replicas) partitions[1].erase(3);
  ExpectOnly(Check(h), "lost");
}

TEST(ChaosCheckerTest, UnknownOutcomesMayBeAbsentOrPresent) {
  History h = Clean();
  h.ops.push_back({{0, 1, 0}, 0, Outcome::kUnknown, -1});  // absent: fine
  h.ops.push_back({{1, 1, 0}, 1, Outcome::kUnknown, -1});  // present: fine
  h.final_read[1].push_back({4, V(1, 1, 0)});
  h.group.push_back({0, 1, 1, 4, V(1, 1, 0)});
  h.final_high_watermark[1] = 5;
  h.group_committed[1] = 5;
  for (auto& [b, partitions] : h.replicas) partitions[1][4] = "t1|" + V(1, 1, 0);
  const Report r = Check(h);
  ExpectOnly(r, "");
  EXPECT_EQ(r.unknown, 2);
  EXPECT_EQ(r.unknown_present, 1);
}

TEST(ChaosCheckerTest, RecordAtTwoOffsetsIsDuplicated) {
  History h = Clean();
  // A retry written again after its first copy (idempotence failed).
  h.final_read[0].push_back({4, V(0, 0, 2)});
  h.group.push_back({0, 1, 0, 4, V(0, 0, 2)});
  h.final_high_watermark[0] = 5;
  h.group_committed[0] = 5;
  for (auto& [b, partitions] : h.replicas) partitions[0][4] = "t1|" + V(0, 0, 2);
  ExpectOnly(Check(h), "duplicated");
}

TEST(ChaosCheckerTest, KeyOutOfSequenceIsReordered) {
  History h = Clean();
  // s1 and s2 of producer 0 swapped in the log, in every copy, acknowledged where they are.
  std::swap(h.final_read[0][1].second, h.final_read[0][2].second);
  h.ops[1].offset = 3;
  h.ops[2].offset = 2;
  for (auto& d : h.group) {
    if (d.partition == 0 && d.offset == 2) d.value = V(0, 0, 2);
    if (d.partition == 0 && d.offset == 3) d.value = V(0, 0, 1);
  }
  for (auto& [b, partitions] : h.replicas) std::swap(partitions[0][2], partitions[0][3]);
  ExpectOnly(Check(h), "reordered");
}

TEST(ChaosCheckerTest, RecordReadAtAnotherOffsetThanAcknowledgedIsChanged) {
  History h = Clean();
  h.ops[0].offset = 7;  // acknowledged at 0/7, read at 0/1
  ExpectOnly(Check(h), "changed");
}

TEST(ChaosCheckerTest, OffsetHoldingAnotherRecordForTheGroupIsChanged) {
  History h = Clean();
  h.group[1].value = V(0, 0, 9);  // the group was handed another record at 0/2
  ExpectOnly(Check(h), "changed");
}

TEST(ChaosCheckerTest, ReplicasDisagreeingBelowTheHighWatermarkAreDivergent) {
  History h = Clean();
  // Broker 2 kept a no-op of term 2 where the others hold the record.
  h.replicas[2][1][2] = "t2|<control>";
  const Report r = Check(h);
  // Against the final read the replica also "changed" that offset: both are
  // reported, once each.
  EXPECT_EQ(r.divergent, 1) << Format(r);
  EXPECT_EQ(r.changed, 1) << Format(r);
  EXPECT_EQ(r.lost + r.duplicated + r.reordered + r.phantom + r.group_missed, 0) << Format(r);
  EXPECT_FALSE(r.valid());
}

TEST(ChaosCheckerTest, ReplicaDiffersOnlyInTermIsDivergent) {
  History h = Clean();
  h.replicas[1][0][3] = "t2|" + V(0, 0, 2);
  ExpectOnly(Check(h), "divergent");
}

TEST(ChaosCheckerTest, ReplicaTailAboveTheHighWatermarkIsNotJudged) {
  History h = Clean();
  h.replicas[0][0][4] = "t3|<control>";  // a no-op of a term that never committed
  ExpectOnly(Check(h), "");
}

TEST(ChaosCheckerTest, PartitionWithoutAFinalReadIsNotJudgedAndNotValid) {
  History h = Clean();
  // Partition 1 had no serving leader at the end: nothing read, no high watermark.
  h.final_read.erase(1);
  h.final_high_watermark.erase(1);
  h.group_committed.erase(1);
  const Report r = Check(h);
  EXPECT_EQ(r.unjudged, 3) << Format(r);
  EXPECT_EQ(r.lost, 0) << Format(r);
  EXPECT_FALSE(r.valid());
}

TEST(ChaosCheckerTest, RecordNeverSentIsPhantom) {
  History h = Clean();
  h.final_read[0].push_back({4, V(5, 5, 5)});
  h.group.push_back({0, 1, 0, 4, V(5, 5, 5)});
  h.final_high_watermark[0] = 5;
  h.group_committed[0] = 5;
  for (auto& [b, partitions] : h.replicas) partitions[0][4] = "t1|" + V(5, 5, 5);
  ExpectOnly(Check(h), "phantom");
}

TEST(ChaosCheckerTest, CommittedRecordNoMemberSawIsMissedByTheGroup) {
  History h = Clean();
  h.group.erase(h.group.begin() + 1);
  ExpectOnly(Check(h), "group_missed");
}

TEST(ChaosCheckerTest, RedeliveryAfterARebalanceIsCountedNotAnError) {
  History h = Clean();
  h.group.push_back({1, 1, 0, 2, V(0, 0, 1)});  // another member, after a rebalance
  h.group.push_back({0, 2, 0, 3, V(0, 0, 2)});  // the same member, a later generation
  const Report r = Check(h);
  ExpectOnly(r, "");
  EXPECT_EQ(r.group_redelivered, 2);
}

TEST(ChaosCheckerTest, RedeliveryWithinOneGenerationIsAnError) {
  History h = Clean();
  h.group.push_back({0, 1, 1, 2, V(1, 0, 1)});
  const Report r = Check(h);
  ExpectOnly(r, "group_unexplained");
  EXPECT_EQ(r.group_redelivered, 0);
}

TEST(ChaosCheckerTest, HighWatermarkGoingBackIsReported) {
  History h = Clean();
  h.watermarks.push_back({0, 1, 1, 3});  // after 4, same term
  h.watermarks.push_back({1, 1, 1, 1});  // another reader's first sample: fine
  ExpectOnly(Check(h), "watermark_regressions");
}

TEST(ChaosCheckerTest, OlderTermHighWatermarkIsFencedNotARegression) {
  History h = Clean();
  h.watermarks.push_back({0, 1, 2, 6});  // a new leader of term 2
  h.watermarks.push_back({0, 1, 1, 4});  // the deposed leader, not yet aware
  h.watermarks.push_back({0, 1, 2, 7});
  const Report r = Check(h);
  ExpectOnly(r, "");
  EXPECT_EQ(r.watermark_fenced, 1);
}

TEST(ChaosCheckerTest, NewerTermWithALowerHighWatermarkIsARegression) {
  History h = Clean();
  h.watermarks.push_back({0, 0, 2, 3});  // term 2 answers less than term 1 did
  ExpectOnly(Check(h), "watermark_regressions");
}

TEST(ChaosCheckerTest, RecoveryOverTheBoundIsReported) {
  History h = Clean();
  h.recoveries.push_back({"pause", 45'000});
  const Report r = Check(h);
  ExpectOnly(r, "slow_recoveries");
  EXPECT_EQ(r.max_recovery_ms, 45'000);
}

}  // namespace
}  // namespace telemq::chaos
