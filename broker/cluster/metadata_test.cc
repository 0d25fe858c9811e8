#include "broker/cluster/metadata.h"

#include <gtest/gtest.h>

#include <map>

namespace telemq::cluster {
namespace {

TEST(MetadataCommand, EveryCommandRoundTrips) {
  TopicSpec spec{3, 2, 1000, 2000, 4096, 60000};
  const std::vector<Command> commands{
      InitCluster{"c-1"},
      RegisterBroker{{2, "broker-2.telemq", 9092}},
      CreateTopic{"gpu.telemetry", spec, {{0, 1}, {1, 2}, {2, 0}}},
      DeleteTopic{"gpu.telemetry", 17},
  };
  for (const auto& c : commands) {
    auto decoded = DecodeCommand(EncodeCommand(c));
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    EXPECT_EQ(EncodeCommand(*decoded), EncodeCommand(c));
    EXPECT_EQ(decoded->index(), c.index());
  }
}

TEST(MetadataCommand, MalformedCommandsAreRefusedWithTheirProblem) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {R"({"type":"explode"})", "unknown controller command type"},
      {R"({"type":"init_cluster","cluster_id":""})", "without a cluster id"},
      {R"({"type":"register_broker","id":-1,"host":"h","port":1})", "bad id"},
      {R"({"type":"register_broker","id":1,"host":"h","port":70000})", "bad id, host or port"},
      {R"({"type":"create_topic","name":"a b","spec":{},"replicas":[]})", "controller command"},
      {R"({"type":"create_topic","name":"t","spec":{"partitions":2,"replication_factor":1,"retention_ms":-1,)"
       R"("retention_bytes":-1,"segment_bytes":0},"replicas":[[0]]})",
       "do not match the partition count"},
      {R"({"type":"create_topic","name":"t","spec":{"partitions":1,"replication_factor":2,"retention_ms":-1,)"
       R"("retention_bytes":-1,"segment_bytes":0},"replicas":[[0,0]]})",
       "repeats a broker"},
  };
  for (const auto& [text, expect] : cases) {
    auto decoded = DecodeCommand(text);
    ASSERT_FALSE(decoded) << text;
    EXPECT_EQ(decoded.error().code(), Errc::kCorrupt) << text;
    EXPECT_NE(decoded.error().message().find(expect), std::string::npos) << text << " -> " << decoded.error().message();
  }
}

TEST(MetadataApply, TopicIdIsTheCreatingOffsetAndARecreatedTopicGetsANewOne) {
  MetadataImage image;
  TopicSpec spec{1, 1};
  auto a = Apply(image, CreateTopic{"t", spec, {{0}}}, 5);
  EXPECT_TRUE(a.refused.empty());
  EXPECT_EQ(image.Find("t")->id, 5u);
  EXPECT_EQ(image.applied, 5);
  // A second create of the same name is refused alike everywhere.
  auto dup = Apply(image, CreateTopic{"t", spec, {{0}}}, 6);
  EXPECT_NE(dup.refused.find("already exists"), std::string::npos);
  EXPECT_EQ(image.Find("t")->id, 5u);
  // A delete naming another id (stale) does nothing.
  EXPECT_FALSE(Apply(image, DeleteTopic{"t", 4}, 7).refused.empty());
  ASSERT_NE(image.Find("t"), nullptr);
  EXPECT_TRUE(Apply(image, DeleteTopic{"t", 5}, 8).refused.empty());
  EXPECT_EQ(image.Find("t"), nullptr);
  Apply(image, CreateTopic{"t", spec, {{0}}}, 9);
  EXPECT_EQ(image.Find("t")->id, 9u);
  EXPECT_EQ(image.FindById(9)->name, "t");
  EXPECT_EQ(image.FindById(5), nullptr);
}

TEST(MetadataApply, ClusterIdIsSetOnce) {
  MetadataImage image;
  EXPECT_TRUE(Apply(image, InitCluster{"a"}, 1).cluster_id);
  EXPECT_FALSE(Apply(image, InitCluster{"b"}, 2).refused.empty());
  EXPECT_EQ(image.cluster_id, "a");
}

TEST(Placement, RefusesMoreReplicasThanLiveBrokers) {
  MetadataImage image;
  auto placed = PlaceReplicas(image, {0, 1}, 4, 3);
  ASSERT_FALSE(placed);
  EXPECT_NE(placed.error().message().find("exceeds the 2 live broker(s)"), std::string::npos);
  EXPECT_FALSE(PlaceReplicas(image, {0, 1, 2}, 0, 1));
  EXPECT_FALSE(PlaceReplicas(image, {0, 1, 2}, 1, 0));
}

// Across many topics of varied sizes, every broker ends within one of the
// mean in both replicas and preferred leaderships, and no set repeats a broker.
TEST(Placement, SpreadsReplicasAndLeadersEvenlyAcrossTopics) {
  for (int brokers : {1, 3, 4, 5, 7}) {
    for (int rf = 1; rf <= std::min(brokers, 3); ++rf) {
      MetadataImage image;
      std::vector<int32_t> live;
      for (int b = 0; b < brokers; ++b) live.push_back(b);
      int64_t offset = 1;
      int total = 0;
      for (int partitions : {1, 2, 3, 8, 5, 1, 16}) {
        auto placed = PlaceReplicas(image, live, partitions, static_cast<int16_t>(rf));
        ASSERT_TRUE(placed);
        for (const auto& set : *placed) {
          ASSERT_EQ(set.size(), static_cast<size_t>(rf));
          EXPECT_EQ(std::set<int32_t>(set.begin(), set.end()).size(), set.size());
        }
        std::string name = "t";
        name += std::to_string(offset);
        Apply(image, CreateTopic{name, TopicSpec{partitions, static_cast<int16_t>(rf)}, *placed}, offset);
        ++offset;
        total += partitions;
      }
      std::map<int32_t, int> leaders, replicas;
      for (const auto& [n, t] : image.topics) {
        for (const auto& set : t.replicas) {
          ++leaders[set[0]];
          for (int32_t b : set) ++replicas[b];
        }
      }
      for (int b = 0; b < brokers; ++b) {
        EXPECT_LE(std::abs(leaders[b] * brokers - total), brokers)
            << brokers << " brokers rf " << rf << " broker " << b;
        EXPECT_LE(std::abs(replicas[b] * brokers - total * rf), brokers) << brokers << " brokers rf " << rf;
      }
    }
  }
}

TEST(Placement, NewBrokerTakesTheNextTopics) {
  MetadataImage image;
  auto placed = PlaceReplicas(image, {0, 1, 2}, 6, 3);
  ASSERT_TRUE(placed);
  Apply(image, CreateTopic{"old", TopicSpec{6, 3}, *placed}, 1);
  // Brokers 3 and 4 join: the next topic's leaders go to them first.
  placed = PlaceReplicas(image, {0, 1, 2, 3, 4}, 2, 3);
  ASSERT_TRUE(placed);
  EXPECT_EQ((*placed)[0][0], 3);
  EXPECT_EQ((*placed)[1][0], 4);
}

TEST(TopicName, Validation) {
  EXPECT_TRUE(ValidateTopicName("gpu.telemetry_1-x"));
  EXPECT_FALSE(ValidateTopicName(""));
  EXPECT_FALSE(ValidateTopicName(".."));
  EXPECT_FALSE(ValidateTopicName("a/b"));
  EXPECT_FALSE(ValidateTopicName(std::string(250, 'a')));
}

}  // namespace
}  // namespace telemq::cluster
