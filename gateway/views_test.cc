#include "gateway/views.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>

namespace telemq::gateway {
namespace {

using nlohmann::json;

TEST(PublicPoints, TranslatesTimesAndKeepsValuesAsWritten) {
  std::string out;
  auto r = AppendPublicPoints(
      R"({"points":[{"timestamp_us":1752871354000000,"metric":"A","value":45},)"
      R"({"timestamp_us":1752871354000001,"metric":"B\"x","value":0.1,"extra":{"k":[1]}}],"more":true,"n":1})",
      out);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->count, 2u);
  EXPECT_TRUE(r->more);
  ASSERT_TRUE(r->last);
  EXPECT_EQ(r->last->after_us, 1752871354000001);
  EXPECT_EQ(r->last->after_metric, "B\"x");
  EXPECT_EQ(out, R"({"timestamp":"2025-07-18T20:42:34.000000Z","metric":"A","value":45},)"
                 R"({"timestamp":"2025-07-18T20:42:34.000001Z","metric":"B\"x","value":0.1})");
  const auto parsed = json::parse("[" + out + "]");
  EXPECT_EQ(parsed[1]["value"].get<double>(), 0.1);
}

TEST(PublicPoints, WhitespaceEscapesAndExponentsAreJson) {
  std::string out;
  auto r = AppendPublicPoints(
      " {\n \"more\" : false ,\"points\" : [ {\"value\" : -1.5e+3 , \"metric\" : \"A\\u00e9\\n\\ud83d\\ude00\", "
      "\"timestamp_us\" : -1, \"x\": [null, true, {\"y\": \"z\"}]} ] } ",
      out);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(out, R"({"timestamp":"1969-12-31T23:59:59.999999Z","metric":"A\u00e9\n\ud83d\ude00","value":-1.5e+3})");
  EXPECT_EQ(r->last->after_metric, "A\xc3\xa9\n\xf0\x9f\x98\x80");
  const auto parsed = json::parse("[" + out + "]");
  EXPECT_EQ(parsed[0]["metric"], "A\xc3\xa9\n\xf0\x9f\x98\x80");
  EXPECT_EQ(parsed[0]["value"].get<double>(), -1500.0);
}

TEST(PublicPoints, EmptyPage) {
  std::string out;
  auto r = AppendPublicPoints(R"({"more":false,"points":[]})", out);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->count, 0u);
  EXPECT_FALSE(r->more);
  EXPECT_FALSE(r->last);
  EXPECT_TRUE(out.empty());
}

TEST(PublicPoints, ContractBreachesAreErrorsAndLeaveNoOutput) {
  for (const char* bad : {"",
                          "[]",
                          "{",
                          R"({"points":[]})",
                          R"({"more":true})",
                          R"({"points":[1],"more":false})",
                          R"({"points":[{"metric":"A","value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":"1","metric":"A","value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":2,"value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":"1"}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":[1]}],"more":false})",
                          R"({"points":{},"more":false})",
                          R"({"points":[],"more":"yes"})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":1}],"more":false} trailing)",
                          R"({"points":[{"timestamp_us":1.5,"metric":"A","value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":99999999999999999999,"metric":"A","value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A\x","value":1}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":01}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":1.}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":1,"x":tru}],"more":false})",
                          R"({"points":[{"timestamp_us":1,"metric":"A","value":1},],"more":false})",
                          "{\"points\":[{\"timestamp_us\":1,\"metric\":\"A\nB\",\"value\":1}],\"more\":false}"}) {
    std::string out = "keep";
    EXPECT_FALSE(AppendPublicPoints(bad, out)) << bad;
    EXPECT_EQ(out, "keep") << bad;
  }
}

constexpr const char* kGpuA =
    R"({"uuid":"GPU-a","gpu_id":0,"device":"nvidia0","model_name":"H100","hostname":"h1","partition":0,)"
    R"("first_timestamp_us":1000000,"last_timestamp_us":2000000,"metrics":["M1","M2"]})";

TEST(CollectorGpu, ParsesAndRendersPublicFields) {
  auto g = ParseCollectorGpu(kGpuA);
  ASSERT_TRUE(g) << g.error().message();
  const auto j = json::parse(GpuJson(*g));
  EXPECT_EQ(j["uuid"], "GPU-a");
  EXPECT_EQ(j["gpu_id"], 0);
  EXPECT_EQ(j["hostname"], "h1");
  EXPECT_EQ(j["model_name"], "H100");
  EXPECT_EQ(j["first_seen"], "1970-01-01T00:00:01.000000Z");
  EXPECT_EQ(j["last_seen"], "1970-01-01T00:00:02.000000Z");
  EXPECT_EQ(j["metrics"], json::array({"M1", "M2"}));
  EXPECT_FALSE(ParseCollectorGpu(R"({"uuid":"x"})"));
  EXPECT_FALSE(ParseCollectorGpu("nope"));
}

GpuInfo Gpu(std::string uuid, int32_t partition, std::string host = "h", std::vector<std::string> metrics = {"M"}) {
  GpuInfo g;
  g.uuid = std::move(uuid);
  g.partition = partition;
  g.hostname = std::move(host);
  g.metrics = std::move(metrics);
  return g;
}

RoutingTable Table(int32_t partitions, std::vector<std::pair<std::string, std::vector<int32_t>>> owners) {
  GroupDescription g;
  for (auto& [endpoint, parts] : owners) {
    GroupMemberInfo m;
    m.member_id = endpoint;
    m.metadata = R"({"endpoint":")" + endpoint + R"("})";
    for (int32_t p : parts) m.assignment.push_back({"gpu.telemetry", p});
    g.members.push_back(m);
  }
  return RoutingTable::Build("gpu.telemetry", partitions, g);
}

TEST(MergeFleet, MergesSortsAndReportsMissingPartitions) {
  const auto table = Table(4, {{"http://a:1", {0, 1}}, {"http://b:1", {2, 3}}});
  std::vector<EndpointReply> replies(2);
  replies[0] = {"http://a:1", CollectorGpus{{Gpu("GPU-z", 0), Gpu("GPU-b", 1)}, {0, 1}, {}}};
  replies[1] = {"http://b:1", CollectorGpus{{Gpu("GPU-c", 2)}, {2}, {3}}};  // 3 is restoring
  const FleetView v = MergeFleet(table, replies);
  ASSERT_EQ(v.gpus.size(), 3u);
  EXPECT_EQ(v.gpus[0].uuid, "GPU-b");
  EXPECT_EQ(v.gpus[2].uuid, "GPU-z");
  EXPECT_TRUE(v.partial());
  EXPECT_EQ(v.unavailable, std::vector<int32_t>{3});
  const auto j = json::parse(GpuListJson(v));
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["partial"], true);
  EXPECT_EQ(j["unavailable_partitions"], json::array({3}));
}

TEST(MergeFleet, AFailedCollectorsPartitionsAreUnavailable) {
  const auto table = Table(2, {{"http://a:1", {0}}, {"http://b:1", {1}}});
  std::vector<EndpointReply> replies = {{"http://a:1", CollectorGpus{{Gpu("GPU-a", 0)}, {0}, {}}},
                                        {"http://b:1", std::nullopt}};
  const FleetView v = MergeFleet(table, replies);
  EXPECT_EQ(v.gpus.size(), 1u);
  EXPECT_EQ(v.unavailable, std::vector<int32_t>{1});
  EXPECT_FALSE(v.nothing_available());
  replies[0].reply.reset();
  EXPECT_TRUE(MergeFleet(table, replies).nothing_available());
}

TEST(MergeFleet, APartitionMidHandoverIsTakenFromOneCollectorOnly) {
  // Both still report partition 0 as serving; the routed owner wins.
  const auto table = Table(1, {{"http://new:1", {0}}});
  std::vector<EndpointReply> replies = {{"http://old:1", CollectorGpus{{Gpu("GPU-a", 0), Gpu("GPU-old", 0)}, {0}, {}}},
                                        {"http://new:1", CollectorGpus{{Gpu("GPU-a", 0)}, {0}, {}}}};
  const FleetView v = MergeFleet(table, replies);
  ASSERT_EQ(v.gpus.size(), 1u);
  EXPECT_EQ(v.gpus[0].uuid, "GPU-a");
  EXPECT_FALSE(v.partial());
}

TEST(FleetViews, HostsAndMetricsAreCounted) {
  FleetView v;
  v.partitions = 1;
  v.gpus = {Gpu("GPU-1", 0, "h1", {"A", "B"}), Gpu("GPU-2", 0, "h1", {"A"}), Gpu("GPU-3", 0, "h2", {"B"})};
  const auto hosts = json::parse(HostListJson(v));
  ASSERT_EQ(hosts["hosts"].size(), 2u);
  EXPECT_EQ(hosts["hosts"][0]["hostname"], "h1");
  EXPECT_EQ(hosts["hosts"][0]["gpu_count"], 2);
  EXPECT_EQ(hosts["hosts"][0]["gpus"], json::array({"GPU-1", "GPU-2"}));
  EXPECT_EQ(hosts["partial"], false);
  const auto metrics = json::parse(MetricListJson(v));
  EXPECT_EQ(metrics["metrics"], json::parse(R"([{"name":"A","gpu_count":2},{"name":"B","gpu_count":2}])"));
}

std::string LatestBody(const std::vector<std::tuple<std::string, int32_t, int>>& gpus, const std::string& serving) {
  std::string out = R"({"gpus":[)";
  for (size_t i = 0; i < gpus.size(); ++i) {
    const auto& [uuid, partition, n] = gpus[i];
    if (i > 0) out += ",";
    out += R"({"uuid":")" + uuid + R"(","gpu_id":3,"device":"d","model_name":"m","hostname":"h","partition":)" +
           std::to_string(partition) + R"(,"first_timestamp_us":1,"last_timestamp_us":2,"metrics":["A"],"latest":[)";
    for (int k = 0; k < n; ++k) {
      if (k > 0) out += ",";
      out += R"({"metric":"M)" + std::to_string(k) + R"(","timestamp_us":)" + std::to_string(1'000'000 * k) +
             R"(,"value":)" + std::to_string(k) + "}";
    }
    out += "]}";
  }
  return out + R"(],"serving":)" + serving + R"(,"restoring":[]})";
}

TEST(FleetViews, LatestIsValidJsonWithEveryPointAndAvailability) {
  const std::string body = R"({"gpus":[{"uuid":"GPU-\"1","gpu_id":2,"device":"d","model_name":"m","hostname":"h1",
    "partition":0,"first_timestamp_us":1,"last_timestamp_us":5000000,"metrics":["A","B"],
    "latest":[{"metric":"A","timestamp_us":5000000,"value":0.1},{"metric":"B","timestamp_us":4000000,"value":65}]}],
    "serving":[0],"restoring":[1]})";
  auto parsed = ParseCollectorLatest(body);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->serving, std::vector<int32_t>{0});
  EXPECT_EQ(parsed->restoring, std::vector<int32_t>{1});
  const auto table = Table(2, {{"http://a:1", {0, 1}}});
  const LatestView v = MergeLatest(table, {{"http://a:1", std::move(*parsed)}});
  EXPECT_TRUE(v.partial());
  const auto j = json::parse(v.body);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["points"], 2);
  EXPECT_EQ(j["partial"], true);
  EXPECT_EQ(j["unavailable_partitions"], json::array({1}));
  const json& g = j["gpus"][0];
  EXPECT_EQ(g, json::parse(R"({"uuid":"GPU-\"1","gpu_id":2,"hostname":"h1","model_name":"m","partition":0,
    "latest":[{"timestamp":"1970-01-01T00:00:05.000000Z","metric":"A","value":0.1},
              {"timestamp":"1970-01-01T00:00:04.000000Z","metric":"B","value":65}]})"));
}

TEST(FleetViews, LatestMergesCollectorsSortedByUuidEachPartitionFromOneSource) {
  // b is the routed owner of 1 and 2; a still reports 1 (mid-handover) and
  // owns 0; partition 3 is served by nobody.
  const auto table = Table(4, {{"http://a:1", {0}}, {"http://b:1", {1, 2}}});
  auto a = ParseCollectorLatest(LatestBody({{"GPU-z", 0, 2}, {"GPU-stale", 1, 1}, {"GPU-m", 1, 1}}, "[0,1]"));
  auto b = ParseCollectorLatest(LatestBody({{"GPU-m", 1, 3}, {"GPU-c", 2, 0}}, "[1,2]"));
  ASSERT_TRUE(a && b);
  const LatestView v = MergeLatest(table, {{"http://a:1", std::move(*a)}, {"http://b:1", std::move(*b)}});
  const auto j = json::parse(v.body);
  ASSERT_EQ(j["gpus"].size(), 3u);
  EXPECT_EQ(j["gpus"][0]["uuid"], "GPU-c");
  EXPECT_EQ(j["gpus"][1]["uuid"], "GPU-m");
  EXPECT_EQ(j["gpus"][1]["latest"].size(), 3u);  // from b, the owner
  EXPECT_EQ(j["gpus"][2]["uuid"], "GPU-z");
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["points"], 5);
  EXPECT_EQ(j["unavailable_partitions"], json::array({3}));
  EXPECT_FALSE(v.nothing_available());
  EXPECT_TRUE(MergeLatest(table, {{"http://a:1", std::nullopt}}).nothing_available());
}

TEST(FleetViews, LatestContractBreachesAreErrors) {
  const std::string gpu = R"("uuid":"u","gpu_id":0,"device":"","model_name":"","hostname":"","partition":0)";
  EXPECT_TRUE(ParseCollectorLatest(R"({"gpus":[{)" + gpu + R"(,"latest":[]}],"serving":[0]})"));
  for (const std::string& bad : std::vector<std::string>{
           R"({"gpus":[{)" + gpu + R"(,"latest":[{"metric":"A"}]}]})",                           // point lacks fields
           R"({"gpus":[{)" + gpu + R"(,"latest":[{"metric":1,"timestamp_us":1,"value":1}]}]})",  // metric not a string
           R"({"gpus":[{)" + gpu + R"(,"latest":[{"metric":"A","timestamp_us":1.5,"value":1}]}]})",
           R"({"gpus":[{"uuid":"u","latest":[]}]})",  // GPU lacks fields
           R"({"gpus":[{)" + gpu + R"(}],"serving":["x"]})", R"({"gpus":[{)" + gpu + R"(}]} trailing)",
           R"({"serving":[0]})",                                                                     // no gpus
           R"({"gpus":[{)" + gpu + R"(,"latest":[{"metric":"A\q","timestamp_us":1,"value":1}]}]})",  // bad escape
           R"({"gpus":[{)" + gpu + R"(,"latest":[{"metric":"A","timestamp_us":1,"value":01}]}]})",
           std::string("not json")}) {
    EXPECT_FALSE(ParseCollectorLatest(bad)) << bad;
  }
}

}  // namespace
}  // namespace telemq::gateway
