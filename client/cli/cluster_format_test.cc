// `telemq cluster status` and `topic describe` output over hand-built
// descriptions: what counts as under-replicated and offline, the exit code,
// and the columns.

#include "cluster_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace telemq::cli {
namespace {

PartitionDescription P(int32_t partition, int32_t leader, int64_t term, std::vector<int32_t> isr,
                       std::vector<int32_t> replicas = {0, 1, 2}) {
  PartitionDescription p;
  p.partition = partition;
  p.leader = leader;
  p.leader_term = term;
  p.replicas = std::move(replicas);
  p.isr = std::move(isr);
  return p;
}

ClusterDescription ThreeBrokers() {
  ClusterDescription c;
  c.cluster_id = "c1";
  c.controller_id = 1;
  c.controller_term = 7;
  c.brokers = {{0, "b-0", 9092, true}, {1, "b-1", 9092, true}, {2, "b-2", 9092, false}};
  TopicDescription t;
  t.name = "gpu.telemetry";
  t.partitions = {P(0, 0, 3, {0, 1, 2}), P(1, 1, 4, {1, 0}), P(2, 0, 2, {0, 1, 2})};
  c.topics.push_back(t);
  return c;
}

TEST(ClusterStatus, HealthyClusterExitsZeroAndCountsLeadersPerBroker) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[1].isr = {1, 0, 2};
  const ClusterHealth h = Summarize(c);
  EXPECT_EQ(h.partitions, 3);
  EXPECT_TRUE(h.under_replicated.empty());
  EXPECT_TRUE(h.offline.empty());
  EXPECT_EQ(h.leaders_per_broker, (std::map<int32_t, int32_t>{{0, 2}, {1, 1}, {2, 0}}));
  EXPECT_EQ(ClusterStatusExitCode(c), 0);
}

TEST(ClusterStatus, IsrSmallerThanReplicasIsUnderReplicated) {
  const ClusterHealth h = Summarize(ThreeBrokers());
  ASSERT_EQ(h.under_replicated.size(), 1u);
  EXPECT_EQ(h.under_replicated[0].first, "gpu.telemetry");
  EXPECT_EQ(h.under_replicated[0].second.partition, 1);
  EXPECT_EQ(ClusterStatusExitCode(ThreeBrokers()), 0);  // degraded, still serving
}

TEST(ClusterStatus, PartitionWithoutLeaderIsOfflineAndFailsTheExitCode) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[2] = P(2, -1, 5, {});
  const ClusterHealth h = Summarize(c);
  ASSERT_EQ(h.offline.size(), 1u);
  EXPECT_EQ(h.offline[0].second.partition, 2);
  EXPECT_EQ(ClusterStatusExitCode(c), kExitOfflinePartitions);
}

TEST(ClusterStatus, UnreportedIsrIsUnknownNotUnderReplicated) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[0].isr.clear();
  const ClusterHealth h = Summarize(c);
  EXPECT_EQ(h.isr_unknown, 1);
  EXPECT_EQ(h.under_replicated.size(), 1u);  // only partition 1
}

TEST(ClusterStatus, TextNamesBrokersStatesControllerAndProblemPartitions) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[2] = P(2, -1, 5, {});
  const std::string text = FormatClusterStatus(c, TableFormat::kText);
  EXPECT_EQ(text,
            "cluster c1  controller 1  term 7\n"
            "BROKER   ADDRESS                      STATE    LEADERS\n"
            "0        b-0:9092                     up       1\n"
            "1        b-1:9092                     up       1  (controller)\n"
            "2        b-2:9092                     down     0\n"
            "partitions 3  under-replicated 1  offline 1\n"
            "UNDER-REPLICATED\n"
            "TOPIC                            PARTITION  LEADER  TERM   REPLICAS     ISR\n"
            "gpu.telemetry                    1          1       4      0,1,2        1,0\n"
            "OFFLINE\n"
            "TOPIC                            PARTITION  REPLICAS     LAST_TERM\n"
            "gpu.telemetry                    2          0,1,2        5\n");
}

TEST(ClusterStatus, TextSaysWhenNoControllerIsKnown) {
  ClusterDescription c = ThreeBrokers();
  c.controller_id = -1;
  EXPECT_EQ(FormatClusterStatus(c, TableFormat::kText).rfind("cluster c1  controller none (election under way)", 0),
            0u);
}

TEST(ClusterStatus, LeaderOnABrokerMissingFromTheListIsShownAsUnknown) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[0].leader = 9;
  const std::string text = FormatClusterStatus(c, TableFormat::kText);
  EXPECT_NE(text.find("9        ?                            unknown  1\n"), std::string::npos) << text;
}

TEST(ClusterStatus, JsonCarriesTheSameJudgement) {
  ClusterDescription c = ThreeBrokers();
  c.topics[0].partitions[2] = P(2, -1, 5, {});
  const auto j = nlohmann::json::parse(FormatClusterStatus(c, TableFormat::kJson));
  EXPECT_EQ(j["controller"]["id"], 1);
  EXPECT_EQ(j["controller"]["term"], 7);
  ASSERT_EQ(j["brokers"].size(), 3u);
  EXPECT_EQ(j["brokers"][2]["state"], "down");
  EXPECT_EQ(j["brokers"][0]["leaders"], 1);
  EXPECT_EQ(j["partitions"], 3);
  ASSERT_EQ(j["under_replicated"].size(), 1u);
  EXPECT_EQ(j["under_replicated"][0]["isr"], nlohmann::json({1, 0}));
  ASSERT_EQ(j["offline"].size(), 1u);
  EXPECT_EQ(j["offline"][0]["partition"], 2);
}

TEST(TopicDescribe, TextShowsReplicasIsrLeaderAndTerm) {
  TopicDescription t;
  t.name = "t";
  t.topic_id = 42;
  t.replication_factor = 3;
  t.partitions = {P(0, 2, 6, {2, 0, 1}), P(1, -1, 3, {}), P(2, 1, 1, {})};
  t.partitions[0].log_start_offset = Offset(0);
  t.partitions[0].high_watermark = Offset(100);
  EXPECT_EQ(FormatTopicDescription(t, TableFormat::kText, false),
            "topic t  id 42  partitions 3  replication_factor 3  retention_ms -1  retention_bytes -1\n"
            "PARTITION  LEADER  TERM   REPLICAS     ISR\n"
            "0          2       6      0,1,2        2,0,1\n"
            "1          -       3      0,1,2        -\n"
            "2          1       1      0,1,2        ?\n");
  const std::string with_offsets = FormatTopicDescription(t, TableFormat::kText, true);
  EXPECT_NE(with_offsets.find("LOG_START        HIGH_WATERMARK\n"), std::string::npos) << with_offsets;
  EXPECT_NE(with_offsets.find("0          2       6      0,1,2        2,0,1        0                100\n"),
            std::string::npos)
      << with_offsets;
}

TEST(TopicDescribe, JsonListsPartitions) {
  TopicDescription t;
  t.name = "t";
  t.partitions = {P(0, 2, 6, {2, 0})};
  const auto j = nlohmann::json::parse(FormatTopicDescription(t, TableFormat::kJson, false));
  EXPECT_EQ(j["partitions"][0]["leader"], 2);
  EXPECT_EQ(j["partitions"][0]["leader_term"], 6);
  EXPECT_EQ(j["partitions"][0]["replicas"], nlohmann::json({0, 1, 2}));
  EXPECT_FALSE(j["partitions"][0].contains("high_watermark"));
}

TEST(TableFormat, ParsesTextAndJsonOnly) {
  EXPECT_EQ(*ParseTableFormat(""), TableFormat::kText);
  EXPECT_EQ(*ParseTableFormat("json"), TableFormat::kJson);
  EXPECT_FALSE(ParseTableFormat("yaml").has_value());
}

}  // namespace
}  // namespace telemq::cli
