#include "collector/http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "collector/store_test_util.h"

namespace telemq::collector {
namespace {

using nlohmann::json;
using testing::MakePoint;
using testing::OpenOrDie;
using testing::RecordLog;
using testing::ScratchDir;

const std::string kGpu = "GPU-aaaaaaaa-0000-0000-0000-000000000001";

// Partitions with real stores; states set by the test.
class FakeDirectory : public PartitionDirectory {
 public:
  std::string MemberId() const override { return "member-1"; }
  std::vector<PartitionHandle> Partitions() const override {
    std::vector<PartitionHandle> out;
    for (const auto& [p, h] : handles) out.push_back(h);
    return out;
  }
  std::optional<PartitionHandle> Find(int32_t partition) const override {
    auto it = handles.find(partition);
    if (it == handles.end()) return std::nullopt;
    return it->second;
  }
  std::map<int32_t, PartitionHandle> handles;
};

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<PartitionStore> serving = OpenOrDie(dir_.File("partition-3"));
    for (int i = 0; i < 5; ++i) {
      log_.Append(MakePoint(kGpu, 1'000 * (i + 1), "DCGM_FI_DEV_GPU_UTIL", i));
      log_.Append(MakePoint(kGpu, 1'000 * (i + 1), "DCGM_FI_DEV_GPU_TEMP", 40 + i));
    }
    ASSERT_TRUE(serving->Apply(log_.All()));
    std::shared_ptr<PartitionStore> restoring = OpenOrDie(dir_.File("partition-5"));
    dir.handles[3] = {3, PartitionState::kServing, serving};
    dir.handles[5] = {5, PartitionState::kRestoring, restoring};
  }

  // Asserts a 400 invalid_parameter naming `param`.
  void ExpectBadParameter(const QueryParams& params, const std::string& param) {
    const auto r = HandleTelemetry(dir, kGpu, params);
    EXPECT_EQ(r.status, 400) << r.body;
    const auto j = json::parse(r.body);
    EXPECT_EQ(j["error"]["code"], "invalid_parameter") << r.body;
    EXPECT_EQ(j["error"]["parameter"], param) << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(param), std::string::npos) << r.body;
  }

  ScratchDir dir_;
  RecordLog log_;
  FakeDirectory dir;
};

TEST_F(HttpApiTest, MalformedParametersAre400NamingTheParameter) {
  ExpectBadParameter({}, "partition");
  ExpectBadParameter({{"partition", "abc"}}, "partition");
  ExpectBadParameter({{"partition", "-1"}}, "partition");
  ExpectBadParameter({{"partition", "3"}, {"start_us", "1.5"}}, "start_us");
  ExpectBadParameter({{"partition", "3"}, {"start_us", ""}}, "start_us");
  ExpectBadParameter({{"partition", "3"}, {"end_us", "12x"}}, "end_us");
  ExpectBadParameter({{"partition", "3"}, {"end_us", "99999999999999999999"}}, "end_us");
  ExpectBadParameter({{"partition", "3"}, {"limit", "0"}}, "limit");
  ExpectBadParameter({{"partition", "3"}, {"limit", "10001"}}, "limit");
  ExpectBadParameter({{"partition", "3"}, {"limit", "+5"}}, "limit");
  ExpectBadParameter({{"partition", "3"}, {"limit", " 5"}}, "limit");
  ExpectBadParameter({{"partition", "3"}, {"after_us", "x"}}, "after_us");
  ExpectBadParameter({{"partition", "3"}, {"metric", ""}}, "metric");
  ExpectBadParameter({{"partition", "3"}, {"after_metric", "DCGM_FI_DEV_GPU_UTIL"}}, "after_metric");
  ExpectBadParameter({{"partition", "3"}, {"start_us", "10"}, {"end_us", "9"}}, "end_us");
  // Parameters are checked before ownership: a bad one on an unowned
  // partition is still a 400.
  ExpectBadParameter({{"partition", "4"}, {"limit", "zero"}}, "limit");
  const auto gpu = HandleGpu(dir, kGpu, {{"partition", "x"}});
  EXPECT_EQ(gpu.status, 400);
}

TEST_F(HttpApiTest, UnownedOrRestoringPartitionIs503WithRetryAfter) {
  for (const char* p : {"4", "5"}) {
    for (const auto& r : {HandleGpu(dir, kGpu, {{"partition", p}}), HandleTelemetry(dir, kGpu, {{"partition", p}})}) {
      EXPECT_EQ(r.status, 503) << r.body;
      EXPECT_TRUE(r.retry_after);
      EXPECT_EQ(json::parse(r.body)["error"]["code"], "partition_unavailable");
    }
  }
}

TEST_F(HttpApiTest, UnknownGpuOnAServingPartitionIs404) {
  for (const auto& r :
       {HandleGpu(dir, "GPU-nope", {{"partition", "3"}}), HandleTelemetry(dir, "GPU-nope", {{"partition", "3"}})}) {
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_FALSE(r.retry_after);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "gpu_not_found");
  }
}

TEST_F(HttpApiTest, ClosedStoreIs503) {
  dir.handles[3].store->Close();
  const auto r = HandleTelemetry(dir, kGpu, {{"partition", "3"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.retry_after);
}

TEST_F(HttpApiTest, TelemetryPagesWithTheCursor) {
  auto r = HandleTelemetry(dir, kGpu, {{"partition", "3"}, {"start_us", "2000"}, {"end_us", "4000"}, {"limit", "4"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j["points"].size(), 4u);
  EXPECT_TRUE(j["more"].get<bool>());
  EXPECT_EQ(j["points"][0], json({{"timestamp_us", 2000}, {"metric", "DCGM_FI_DEV_GPU_TEMP"}, {"value", 41.0}}));
  EXPECT_EQ(j["points"][1]["metric"], "DCGM_FI_DEV_GPU_UTIL");
  const auto last = j["points"][3];
  r = HandleTelemetry(dir, kGpu,
                      {{"partition", "3"},
                       {"start_us", "2000"},
                       {"end_us", "4000"},
                       {"limit", "4"},
                       {"after_us", std::to_string(last["timestamp_us"].get<int64_t>())},
                       {"after_metric", last["metric"].get<std::string>()}});
  j = json::parse(r.body);
  ASSERT_EQ(j["points"].size(), 2u);
  EXPECT_FALSE(j["more"].get<bool>());
  EXPECT_EQ(j["points"][1]["timestamp_us"], 4000);
  // Metric filter, default limit.
  r = HandleTelemetry(dir, kGpu, {{"partition", "3"}, {"metric", "DCGM_FI_DEV_GPU_UTIL"}});
  j = json::parse(r.body);
  EXPECT_EQ(j["points"].size(), 5u);
}

TEST_F(HttpApiTest, StatusGpusAndGpuShapes) {
  auto s = json::parse(HandleStatus(dir).body);
  EXPECT_EQ(s["member_id"], "member-1");
  ASSERT_EQ(s["partitions"].size(), 2u);
  EXPECT_EQ(s["partitions"][0],
            json({{"partition", 3}, {"state", "serving"}, {"applied_offset", 10}, {"gpus", 1}, {"points", 10}}));
  EXPECT_EQ(s["partitions"][1]["state"], "restoring");

  auto g = json::parse(HandleGpus(dir).body);
  EXPECT_EQ(g["serving"], json::array({3}));
  EXPECT_EQ(g["restoring"], json::array({5}));
  ASSERT_EQ(g["gpus"].size(), 1u);
  const json expected = {{"uuid", kGpu},
                         {"gpu_id", 0},
                         {"device", "nvidia0"},
                         {"model_name", "NVIDIA H100 80GB HBM3"},
                         {"hostname", "host-0001"},
                         {"partition", 3},
                         {"first_timestamp_us", 1000},
                         {"last_timestamp_us", 5000},
                         {"metrics", {"DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL"}}};
  EXPECT_EQ(g["gpus"][0], expected);
  const auto one = HandleGpu(dir, kGpu, {{"partition", "3"}});
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body), expected);
}

// The fleet view is written by hand (for speed): it must read as the GPU
// list's objects plus "latest", and survive names JSON must escape.
TEST_F(HttpApiTest, LatestListsEachGpuWithItsNewestPointPerMetric) {
  auto l = json::parse(HandleLatest(dir, {}).body);
  EXPECT_EQ(l["serving"], json::array({3}));
  EXPECT_EQ(l["restoring"], json::array({5}));
  ASSERT_EQ(l["gpus"].size(), 1u);
  json gpu = l["gpus"][0];
  const json latest = gpu["latest"];
  gpu.erase("latest");
  EXPECT_EQ(gpu, json::parse(HandleGpu(dir, kGpu, {{"partition", "3"}}).body));
  EXPECT_EQ(latest, json::parse(R"([{"metric":"DCGM_FI_DEV_GPU_TEMP","timestamp_us":5000,"value":44},
                                    {"metric":"DCGM_FI_DEV_GPU_UTIL","timestamp_us":5000,"value":4}])"));
  EXPECT_EQ(json::parse(HandleLatest(dir, {{"hostname", "elsewhere"}}).body)["gpus"].size(), 0u);
  EXPECT_EQ(json::parse(HandleLatest(dir, {{"metric", "DCGM_FI_DEV_GPU_UTIL"}}).body)["gpus"][0]["latest"].size(), 1u);
  EXPECT_EQ(HandleLatest(dir, {{"hostname", ""}}).status, 400);

  std::shared_ptr<PartitionStore> odd = OpenOrDie(dir_.File("partition-7"));
  RecordLog log;
  log.Append(MakePoint("GPU \"q\"\\\x01\xff", 9, "M\t", 0.1, "h\xc3\xa9"));
  ASSERT_TRUE(odd->Apply(log.All()));
  dir.handles[7] = {7, PartitionState::kServing, odd};
  const auto r = HandleLatest(dir, {});
  const auto j = json::parse(r.body);  // throws (fails) if not JSON
  ASSERT_EQ(j["gpus"].size(), 2u);
  EXPECT_EQ(j["gpus"][1]["uuid"], "GPU \"q\"\\\x01\xef\xbf\xbd");  // invalid byte replaced by U+FFFD
  EXPECT_EQ(j["gpus"][1]["hostname"], "h\xc3\xa9");
  EXPECT_EQ(j["gpus"][1]["latest"][0]["metric"], "M\t");
  EXPECT_EQ(j["gpus"][1]["latest"][0]["value"], 0.1);
}

}  // namespace
}  // namespace telemq::collector
