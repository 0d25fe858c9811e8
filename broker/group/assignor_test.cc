// Property tests of the sticky balanced assignor (assignor.h lists the
// guarantees checked here). Randomised cases print their seed; rerun one with
// TELEMQ_GROUP_SEED=<seed>.
#include "broker/group/assignor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace telemq::group {
namespace {

using Owners = std::map<TopicPartition, std::string>;

// Partition -> owner; fails the test if a partition has two owners.
Owners OwnersOf(const TargetAssignment& target) {
  Owners owners;
  for (const auto& [member, assignment] : target) {
    for (const TopicPartition& tp : Flatten(assignment)) {
      auto [it, inserted] = owners.emplace(tp, member);
      EXPECT_TRUE(inserted) << tp.topic << "/" << tp.partition << " owned by " << it->second << " and " << member;
    }
  }
  return owners;
}

std::string MemberName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "m-%03d", i);
  return buf;
}

struct Case {
  std::vector<AssignorMember> members;
  TopicMetadata topics;
  size_t total_partitions = 0;
};

// Random members (1..20) with identical subscriptions to 1..4 topics holding
// 1..200 partitions in total.
Case RandomUniformCase(std::mt19937_64& rng, int min_members = 1) {
  Case c;
  const int topic_count = std::uniform_int_distribution<int>(1, 4)(rng);
  const int total = std::uniform_int_distribution<int>(topic_count, 200)(rng);
  std::vector<std::string> names;
  int left = total;
  for (int t = 0; t < topic_count; ++t) {
    const int count =
        t + 1 == topic_count ? left : std::uniform_int_distribution<int>(1, left - (topic_count - t - 1))(rng);
    left -= count;
    names.push_back("topic-" + std::to_string(t));
    c.topics[names.back()] = count;
  }
  c.total_partitions = total;
  const int n = std::uniform_int_distribution<int>(min_members, 20)(rng);
  for (int i = 0; i < n; ++i) c.members.push_back({MemberName(i), names});
  return c;
}

std::vector<uint64_t> Seeds(int count) {
  std::vector<uint64_t> seeds;
  if (const char* fixed = std::getenv("TELEMQ_GROUP_SEED")) {
    seeds.push_back(std::strtoull(fixed, nullptr, 10));
    return seeds;
  }
  for (int i = 0; i < count; ++i) seeds.push_back(20240601 + i);
  return seeds;
}

void ExpectCoverage(const Case& c, const TargetAssignment& target) {
  Owners owners = OwnersOf(target);
  EXPECT_EQ(owners.size(), c.total_partitions);
  for (const auto& [topic, count] : c.topics) {
    for (int32_t p = 0; p < count; ++p) {
      EXPECT_TRUE(owners.contains({topic, PartitionId(p)})) << topic << "/" << p << " unowned";
    }
  }
  EXPECT_EQ(target.size(), c.members.size()) << "every member gets an entry";
}

void ExpectBalanced(const TargetAssignment& target) {
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [m, a] : target) {
    lo = std::min(lo, PartitionCount(a));
    hi = std::max(hi, PartitionCount(a));
  }
  EXPECT_LE(hi - lo, 1u) << "loads range " << lo << ".." << hi;
}

TEST(AssignorTest, EmptyGroupAssignsNothing) { EXPECT_TRUE(ComputeTargetAssignment({}, {{"t", 4}}, {}).empty()); }

TEST(AssignorTest, ThreeMembersOnTwelvePartitionsGetFourEach) {
  std::vector<AssignorMember> members = {{"a", {"t"}}, {"b", {"t"}}, {"c", {"t"}}};
  TargetAssignment target = ComputeTargetAssignment(members, {{"t", 12}}, {});
  for (const auto& [m, a] : target) EXPECT_EQ(PartitionCount(a), 4u) << m;
}

TEST(AssignorTest, EveryPartitionOwnedExactlyOnceAndBalancedWithinOne) {
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Case c = RandomUniformCase(rng);
    TargetAssignment target = ComputeTargetAssignment(c.members, c.topics, {});
    ExpectCoverage(c, target);
    ExpectBalanced(target);
  }
}

TEST(AssignorTest, SameInputGivesSameOutputAndRecomputingIsStable) {
  for (uint64_t seed : Seeds(100)) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Case c = RandomUniformCase(rng);
    TargetAssignment first = ComputeTargetAssignment(c.members, c.topics, {});
    EXPECT_EQ(first, ComputeTargetAssignment(c.members, c.topics, {}));
    EXPECT_EQ(first, ComputeTargetAssignment(c.members, c.topics, first)) << "a balanced target must not move";
  }
}

TEST(AssignorTest, JoinMovesOnlyWhatTheNewcomerNeeds) {
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Case c = RandomUniformCase(rng);
    TargetAssignment before = ComputeTargetAssignment(c.members, c.topics, {});
    Owners old_owners = OwnersOf(before);
    const std::string newcomer = "m-new";
    // Insert at a random position: member order must not matter for minimality.
    auto pos = c.members.begin() + std::uniform_int_distribution<size_t>(0, c.members.size())(rng);
    c.members.insert(pos, {newcomer, c.members.front().topics});
    TargetAssignment after = ComputeTargetAssignment(c.members, c.topics, before);
    ExpectCoverage(c, after);
    ExpectBalanced(after);
    size_t moved = 0;
    for (const auto& [tp, owner] : OwnersOf(after)) {
      if (old_owners.at(tp) != owner) {
        ++moved;
        EXPECT_EQ(owner, newcomer) << "a partition moved between two old members";
      }
    }
    const size_t n = c.members.size();
    EXPECT_EQ(moved, PartitionCount(after.at(newcomer)));
    EXPECT_GE(moved, c.total_partitions / n);
    EXPECT_LE(moved, (c.total_partitions + n - 1) / n);
  }
}

TEST(AssignorTest, LeaveMovesOnlyTheLeaversPartitions) {
  for (uint64_t seed : Seeds(300)) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Case c = RandomUniformCase(rng, /*min_members=*/2);
    TargetAssignment before = ComputeTargetAssignment(c.members, c.topics, {});
    Owners old_owners = OwnersOf(before);
    const size_t leaver_index = std::uniform_int_distribution<size_t>(0, c.members.size() - 1)(rng);
    const std::string leaver = c.members[leaver_index].member_id;
    c.members.erase(c.members.begin() + leaver_index);
    TargetAssignment after = ComputeTargetAssignment(c.members, c.topics, before);
    ExpectCoverage(c, after);
    ExpectBalanced(after);
    for (const auto& [tp, owner] : OwnersOf(after)) {
      if (old_owners.at(tp) != leaver) {
        EXPECT_EQ(owner, old_owners.at(tp)) << "a survivor's partition moved";
      }
    }
  }
}

TEST(AssignorTest, PartitionIncreaseKeepsExistingOwnersWhenStillBalanced) {
  std::vector<AssignorMember> members = {{"a", {"t"}}, {"b", {"t"}}};
  TargetAssignment before = ComputeTargetAssignment(members, {{"t", 4}}, {});
  TargetAssignment after = ComputeTargetAssignment(members, {{"t", 8}}, before);
  for (const auto& [m, a] : before) {
    EXPECT_TRUE(Subtract(a, after.at(m)).empty()) << m << " lost a partition it did not need to";
    EXPECT_EQ(PartitionCount(after.at(m)), 4u);
  }
}

TEST(AssignorTest, DeletedTopicAndShrunkPartitionsLeaveTheAssignment) {
  std::vector<AssignorMember> members = {{"a", {"t", "u"}}, {"b", {"t", "u"}}};
  TargetAssignment before = ComputeTargetAssignment(members, {{"t", 6}, {"u", 4}}, {});
  TargetAssignment after = ComputeTargetAssignment(members, {{"t", 6}}, before);
  for (const auto& [m, a] : after) {
    EXPECT_FALSE(a.contains("u"));
    EXPECT_EQ(PartitionCount(a), 3u);
  }
}

TEST(AssignorTest, UnsubscribedTopicIsNotAssignedToThatMember) {
  std::vector<AssignorMember> members = {{"a", {"t"}}, {"b", {"u"}}};
  TargetAssignment target = ComputeTargetAssignment(members, {{"t", 3}, {"u", 5}, {"v", 2}}, {});
  EXPECT_EQ(target.at("a"), (Assignment{{"t", {PartitionId(0), PartitionId(1), PartitionId(2)}}}));
  EXPECT_EQ(PartitionCount(target.at("b")), 5u);
  EXPECT_FALSE(target.at("b").contains("t"));
}

// Differing subscriptions: coverage by subscribers only, and no single move
// of a partition to an eligible member at least 2 below its owner exists.
TEST(AssignorTest, DifferingSubscriptionsAreCoveredAndHaveNoImprovingMove) {
  for (uint64_t seed : Seeds(200)) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const int topic_count = std::uniform_int_distribution<int>(2, 5)(rng);
    TopicMetadata topics;
    for (int t = 0; t < topic_count; ++t) {
      topics["topic-" + std::to_string(t)] = std::uniform_int_distribution<int>(1, 60)(rng);
    }
    std::vector<AssignorMember> members;
    const int n = std::uniform_int_distribution<int>(1, 20)(rng);
    for (int i = 0; i < n; ++i) {
      AssignorMember m{MemberName(i), {}};
      for (const auto& [name, count] : topics) {
        if (rng() % 2) m.topics.push_back(name);
      }
      members.push_back(m);
    }
    TargetAssignment current;
    for (int round = 0; round < 3; ++round) {  // also exercise stickiness across churn
      TargetAssignment target = ComputeTargetAssignment(members, topics, current);
      Owners owners = OwnersOf(target);
      std::map<std::string, std::vector<std::string>> subscribers;
      for (const auto& m : members) {
        for (const auto& t : m.topics) subscribers[t].push_back(m.member_id);
      }
      for (const auto& [topic, count] : topics) {
        for (int32_t p = 0; p < count; ++p) {
          auto it = owners.find({topic, PartitionId(p)});
          if (subscribers[topic].empty()) {
            EXPECT_EQ(it, owners.end());
            continue;
          }
          ASSERT_NE(it, owners.end()) << topic << "/" << p;
          const auto& subs = subscribers[topic];
          EXPECT_NE(std::find(subs.begin(), subs.end(), it->second), subs.end());
          const size_t owner_load = PartitionCount(target.at(it->second));
          for (const auto& s : subs) EXPECT_LE(owner_load, PartitionCount(target.at(s)) + 1);
        }
      }
      current = target;
      members.erase(members.begin() + static_cast<long>(rng() % members.size()));
      members.push_back({"late-" + std::to_string(round), {topics.begin()->first}});
    }
  }
}

}  // namespace
}  // namespace telemq::group
