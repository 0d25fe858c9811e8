// MetadataCache against docs/protocol.md §10: a client never goes back to a
// leader of an older term, uses NotLeader hints at once, and holds (leader
// unknown) rather than guessing.

#include "client/metadata_cache.h"

#include <gtest/gtest.h>

namespace telemq::client {
namespace {

PartitionInfo P(int32_t leader, int64_t term, std::vector<int32_t> isr = {}) {
  return PartitionInfo{leader, term, {1, 2, 3}, std::move(isr)};
}

TopicInfo T(std::vector<PartitionInfo> partitions, uint64_t id = 7) { return TopicInfo{id, std::move(partitions)}; }

class MetadataCacheTest : public ::testing::Test {
 protected:
  const PartitionInfo& Part(int32_t p = 0) const { return cache_.Topic("t")->partitions[p]; }
  MetadataCache cache_;
};

TEST_F(MetadataCacheTest, NewerTermReplacesLeader) {
  cache_.MergeTopic("t", T({P(1, 3, {1, 2, 3})}));
  cache_.MergeTopic("t", T({P(2, 4, {2, 3})}));
  EXPECT_EQ(Part().leader, 2);
  EXPECT_EQ(Part().leader_term, 4);
  EXPECT_EQ(Part().isr, (std::vector<int32_t>{2, 3}));
}

TEST_F(MetadataCacheTest, OlderTermNeverReplacesKnownLeader) {
  cache_.MergeTopic("t", T({P(2, 4, {2, 3})}));
  cache_.MergeTopic("t", T({P(1, 3, {1, 2, 3})}));  // a broker that lags
  EXPECT_EQ(Part().leader, 2);
  EXPECT_EQ(Part().leader_term, 4);
  EXPECT_EQ(Part().isr, (std::vector<int32_t>{2, 3}));
}

TEST_F(MetadataCacheTest, OlderTermDoesNotFillAnUnknownLeaderEither) {
  cache_.MergeTopic("t", T({P(kNoBroker, 5)}));  // election of term 5 under way
  cache_.MergeTopic("t", T({P(1, 4)}));
  EXPECT_EQ(Part().leader, kNoBroker);
}

TEST_F(MetadataCacheTest, SameTermDifferentLeaderIsTakenOnlyWhenNoneIsKnown) {
  cache_.MergeTopic("t", T({P(1, 3)}));
  cache_.MergeTopic("t", T({P(2, 3)}));
  EXPECT_EQ(Part().leader, 1);

  cache_.MergeTopic("t", T({P(kNoBroker, 3)}));  // a broker that does not know yet
  EXPECT_EQ(Part().leader, 1);

  MetadataCache fresh;
  fresh.MergeTopic("t", T({P(kNoBroker, 3)}));
  fresh.MergeTopic("t", T({P(2, 3)}));
  EXPECT_EQ(fresh.LeaderOf("t", 0), 2);
}

TEST_F(MetadataCacheTest, NewerTermWithoutLeaderDeposesTheKnownOne) {
  cache_.MergeTopic("t", T({P(1, 3)}));
  cache_.MergeTopic("t", T({P(kNoBroker, 4)}));
  EXPECT_EQ(Part().leader, kNoBroker);
  EXPECT_EQ(Part().leader_term, 4);
}

TEST_F(MetadataCacheTest, SameLeaderSameTermUpdatesIsrOnlyWhenReported) {
  cache_.MergeTopic("t", T({P(1, 3, {1, 2, 3})}));
  cache_.MergeTopic("t", T({P(1, 3, {})}));  // answered by a broker that does not host the leader
  EXPECT_EQ(Part().isr, (std::vector<int32_t>{1, 2, 3}));
  cache_.MergeTopic("t", T({P(1, 3, {1})}));
  EXPECT_EQ(Part().isr, (std::vector<int32_t>{1}));
}

TEST_F(MetadataCacheTest, RecreatedTopicIsReplacedWholeDespiteLowerTerms) {
  cache_.MergeTopic("t", T({P(1, 9), P(2, 9)}, 7));
  cache_.MergeTopic("t", T({P(3, 1)}, 8));
  ASSERT_EQ(cache_.Topic("t")->partitions.size(), 1u);
  EXPECT_EQ(Part().leader, 3);
  EXPECT_EQ(cache_.Topic("t")->topic_id, 8u);
}

TEST_F(MetadataCacheTest, MorePartitionsExtendTheTopic) {
  cache_.MergeTopic("t", T({P(1, 2)}));
  cache_.MergeTopic("t", T({P(1, 1), P(2, 1)}));
  ASSERT_EQ(cache_.Topic("t")->partitions.size(), 2u);
  EXPECT_EQ(Part(0).leader_term, 2);
  EXPECT_EQ(Part(1).leader, 2);
}

TEST_F(MetadataCacheTest, HintOfNewerTermMovesTheLeaderAtOnce) {
  cache_.MergeTopic("t", T({P(1, 3)}));
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, /*from=*/1, /*hint=*/2, /*term=*/4), MetadataCache::HintOutcome::kMoved);
  EXPECT_EQ(Part().leader, 2);
  EXPECT_EQ(Part().leader_term, 4);
  // A metadata answer from a lagging broker does not undo it.
  cache_.MergeTopic("t", T({P(1, 3)}));
  EXPECT_EQ(Part().leader, 2);
}

TEST_F(MetadataCacheTest, HintOfSameTermIsTakenFromTheBrokerWeThoughtLed) {
  cache_.MergeTopic("t", T({P(1, 3)}));
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, 2, 3), MetadataCache::HintOutcome::kMoved);
  EXPECT_EQ(Part().leader, 2);
}

TEST_F(MetadataCacheTest, StaleHintIsIgnored) {
  cache_.MergeTopic("t", T({P(3, 5)}));
  // An answer to a request sent before the cache moved on to broker 3.
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, 2, 4), MetadataCache::HintOutcome::kIgnored);
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, 2, 5), MetadataCache::HintOutcome::kIgnored);
  EXPECT_EQ(Part().leader, 3);
  EXPECT_EQ(Part().leader_term, 5);
}

TEST_F(MetadataCacheTest, NotLeaderWithoutHintForgetsThatLeader) {
  cache_.MergeTopic("t", T({P(1, 3, {1, 2})}));
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, kNoBroker, 0), MetadataCache::HintOutcome::kForgotten);
  EXPECT_EQ(Part().leader, kNoBroker);
  EXPECT_EQ(Part().leader_term, 3);
  EXPECT_TRUE(Part().isr.empty());
  // Metadata of the same term may name it again (a lagging broker, or it
  // leads after all: its NotLeader then comes back), a newer term names the
  // new one.
  cache_.MergeTopic("t", T({P(1, 3)}));
  EXPECT_EQ(Part().leader, 1);
  cache_.MergeTopic("t", T({P(2, 4)}));
  EXPECT_EQ(Part().leader, 2);
}

TEST_F(MetadataCacheTest, NotLeaderFromAnotherBrokerLeavesTheLeaderAlone) {
  cache_.MergeTopic("t", T({P(2, 4)}));
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, kNoBroker, 0), MetadataCache::HintOutcome::kIgnored);
  EXPECT_EQ(Part().leader, 2);
}

TEST_F(MetadataCacheTest, HintNamingTheAnsweringBrokerIsNoHint) {
  cache_.MergeTopic("t", T({P(1, 3)}));
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, 1, 9), MetadataCache::HintOutcome::kForgotten);
}

TEST_F(MetadataCacheTest, UnknownPartitionIsIgnored) {
  EXPECT_EQ(cache_.ApplyNotLeader("t", 0, 1, 2, 1), MetadataCache::HintOutcome::kIgnored);
  EXPECT_EQ(cache_.LeaderOf("t", 0), kNoBroker);
  cache_.MergeTopic("t", T({P(1, 1)}));
  EXPECT_EQ(cache_.LeaderOf("t", 1), kNoBroker);
  EXPECT_EQ(cache_.LeaderOf("t", -1), kNoBroker);
}

TEST_F(MetadataCacheTest, ControllerFollowsTheTermRule) {
  cache_.MergeController(1, 2);
  cache_.MergeController(0, 1);
  EXPECT_EQ(cache_.controller(), 1);
  cache_.MergeController(kNoBroker, 2);
  EXPECT_EQ(cache_.controller(), 1);
  cache_.ForgetController(0);
  EXPECT_EQ(cache_.controller(), 1);
  cache_.ForgetController(1);
  EXPECT_EQ(cache_.controller(), kNoBroker);
  cache_.MergeController(2, 2);
  EXPECT_EQ(cache_.controller(), 2);
  cache_.MergeController(0, 3);
  EXPECT_EQ(cache_.controller(), 0);
  EXPECT_EQ(cache_.controller_term(), 3);
}

TEST_F(MetadataCacheTest, BrokersAreReplacedAndExtendedNeverDropped) {
  cache_.AddBroker(5, {"coord", 9000, true});
  cache_.MergeBrokers({{1, {"a", 1, true}}, {2, {"b", 2, false}}});
  cache_.MergeBrokers({{1, {"a2", 11, true}}});
  EXPECT_EQ(cache_.Broker(1)->host, "a2");
  EXPECT_FALSE(cache_.Broker(2)->live);
  EXPECT_EQ(cache_.Broker(5)->port, 9000);
  EXPECT_FALSE(cache_.Broker(9).has_value());
  cache_.AddBroker(2, {"b", 2, true});  // a coordinator lookup does not revive it
  EXPECT_FALSE(cache_.Broker(2)->live);
}

TEST_F(MetadataCacheTest, RetainOnlyForgetsDeletedTopics) {
  cache_.MergeTopic("t", T({P(1, 1)}));
  cache_.MergeTopic("u", T({P(1, 1)}));
  cache_.RetainOnly({"u"});
  EXPECT_EQ(cache_.Topic("t"), nullptr);
  EXPECT_NE(cache_.Topic("u"), nullptr);
}

}  // namespace
}  // namespace telemq::client
