#include "gateway/routing.h"

#include <gtest/gtest.h>

namespace telemq::gateway {
namespace {

GroupMemberInfo Member(std::string id, std::string metadata, std::vector<int32_t> assigned,
                       std::vector<int32_t> revoking = {}, std::string topic = "gpu.telemetry") {
  GroupMemberInfo m;
  m.member_id = std::move(id);
  m.metadata = std::move(metadata);
  for (int32_t p : assigned) m.assignment.push_back({topic, p});
  for (int32_t p : revoking) m.pending_revocation.push_back({topic, p});
  return m;
}

TEST(MemberEndpoint, ParsesTheContractShape) {
  auto e = ParseMemberEndpoint(R"({"endpoint":"http://127.0.0.1:8081"})");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(*e, "http://127.0.0.1:8081");
  EXPECT_TRUE(ParseMemberEndpoint(R"({"endpoint":"http://collector-0.collectors.telemq.svc:9000","zone":"a"})"));
}

TEST(MemberEndpoint, RejectsWhatCannotBeDialled) {
  for (const char* bad :
       {"", "http://127.0.0.1:8081", "{}", "[]", R"({"endpoint":8081})", R"({"endpoint":"127.0.0.1:8081"})",
        R"({"endpoint":"https://h:1"})", R"({"endpoint":"http://h"})", R"({"endpoint":"http://h:0"})",
        R"({"endpoint":"http://h:70000"})", R"({"endpoint":"http://h:80/path"})", R"({"endpoint":"http://:80"})",
        R"({"endpoint":"http://a b:80"})", "{\"endpoint\":"}) {
    EXPECT_FALSE(ParseMemberEndpoint(bad)) << bad;
  }
}

TEST(RoutingTable, OwnerIsTheMemberWhoseAssignmentHoldsThePartition) {
  GroupDescription g;
  g.members.push_back(Member("a", R"({"endpoint":"http://127.0.0.1:1001"})", {0, 2}));
  g.members.push_back(Member("b", R"({"endpoint":"http://127.0.0.1:1002"})", {1}));
  const auto t = RoutingTable::Build("gpu.telemetry", 4, g);
  EXPECT_EQ(t.partitions(), 4);
  ASSERT_NE(t.OwnerOf(0), nullptr);
  EXPECT_EQ(*t.OwnerOf(0), "http://127.0.0.1:1001");
  EXPECT_EQ(*t.OwnerOf(1), "http://127.0.0.1:1002");
  EXPECT_EQ(*t.OwnerOf(2), "http://127.0.0.1:1001");
  EXPECT_EQ(t.OwnerOf(3), nullptr);
  EXPECT_EQ(t.OwnerOf(4), nullptr);
  EXPECT_EQ(t.OwnerOf(-1), nullptr);
  EXPECT_EQ(t.UnownedPartitions(), std::vector<int32_t>{3});
  EXPECT_EQ(t.endpoints(), (std::vector<std::string>{"http://127.0.0.1:1001", "http://127.0.0.1:1002"}));
}

TEST(RoutingTable, BadMetadataIsIgnoredWithAWarning) {
  GroupDescription g;
  g.members.push_back(Member("bad", "not json", {0}));
  g.members.push_back(Member("good", R"({"endpoint":"http://127.0.0.1:1002"})", {1}));
  std::vector<std::string> warnings;
  const auto t = RoutingTable::Build("gpu.telemetry", 2, g, &warnings);
  EXPECT_EQ(t.OwnerOf(0), nullptr);
  ASSERT_NE(t.OwnerOf(1), nullptr);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("bad"), std::string::npos);
}

TEST(RoutingTable, OtherTopicsAndOutOfRangePartitionsAreIgnored) {
  GroupDescription g;
  g.members.push_back(Member("a", R"({"endpoint":"http://127.0.0.1:1001"})", {0, 7}, {}, "other"));
  g.members.push_back(Member("b", R"({"endpoint":"http://127.0.0.1:1002"})", {5}));
  const auto t = RoutingTable::Build("gpu.telemetry", 2, g);
  EXPECT_EQ(t.UnownedPartitions(), (std::vector<int32_t>{0, 1}));
  EXPECT_TRUE(t.endpoints().empty());
}

TEST(RoutingTable, ARevokingMemberServesUntilSomeoneIsAssigned) {
  GroupDescription g;
  g.members.push_back(Member("old", R"({"endpoint":"http://127.0.0.1:1001"})", {}, {0, 1}));
  g.members.push_back(Member("new", R"({"endpoint":"http://127.0.0.1:1002"})", {1}));
  const auto t = RoutingTable::Build("gpu.telemetry", 2, g);
  EXPECT_EQ(*t.OwnerOf(0), "http://127.0.0.1:1001");
  EXPECT_EQ(*t.OwnerOf(1), "http://127.0.0.1:1002");
}

TEST(RoutingTable, NoPartitionsWithoutTheTopic) {
  const auto t = RoutingTable::Build("gpu.telemetry", 0, GroupDescription{});
  EXPECT_EQ(t.partitions(), 0);
  EXPECT_TRUE(t.UnownedPartitions().empty());
}

}  // namespace
}  // namespace telemq::gateway
