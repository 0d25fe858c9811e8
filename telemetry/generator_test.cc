#include "telemetry/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

namespace telemq::telemetry {
namespace {

struct Range {
  double lo, hi, max_step;  // max_step: largest change over one second
};

// Ranges from the sample export (DCGM units), widened to the bounds.
const std::map<std::string, Range>& Ranges() {
  static const auto* r = new std::map<std::string, Range>{
      {"DCGM_FI_DEV_GPU_UTIL", {0, 100, 5}},      {"DCGM_FI_DEV_MEM_COPY_UTIL", {0, 100, 5}},
      {"DCGM_FI_DEV_POWER_USAGE", {60, 700, 35}}, {"DCGM_FI_DEV_GPU_TEMP", {30, 85, 3}},
      {"DCGM_FI_DEV_FB_USED", {0, 81007, 2000}},  {"DCGM_FI_DEV_FB_FREE", {0, 81007, 2000}},
      {"DCGM_FI_DEV_DEC_UTIL", {0, 100, 0}},      {"DCGM_FI_DEV_ENC_UTIL", {0, 100, 0}},
      {"DCGM_FI_DEV_SM_CLOCK", {210, 1980, 90}},  {"DCGM_FI_DEV_MEM_CLOCK", {2619, 2619, 0}},
  };
  return *r;
}

TEST(SyntheticFleetTest, ShapeNamesAndIdentity) {
  SyntheticFleet fleet(3, 8, 42);
  ASSERT_EQ(fleet.gpus().size(), 24u);
  EXPECT_EQ(fleet.gpus()[0].hostname, "host-0001");
  EXPECT_EQ(fleet.gpus()[23].hostname, "host-0003");
  EXPECT_EQ(fleet.gpus()[23].gpu_id, 7);
  EXPECT_EQ(fleet.gpus()[23].device, "nvidia7");
  std::set<std::string> uuids;
  for (const auto& g : fleet.gpus()) {
    EXPECT_EQ(g.uuid.size(), 40u) << g.uuid;  // "GPU-" + 36-character UUID
    EXPECT_TRUE(g.uuid.starts_with("GPU-"));
    uuids.insert(g.uuid);
  }
  EXPECT_EQ(uuids.size(), 24u);

  auto points = fleet.Sample(1752871354);
  ASSERT_EQ(points.size(), 24u * kDcgmFieldCount);
  std::set<std::string> metrics;
  for (const auto& p : points) {
    metrics.insert(p.metric_name);
    EXPECT_EQ(p.model_name, kSyntheticModel);
    EXPECT_EQ(p.timestamp_us, 1752871354000000);
  }
  EXPECT_EQ(metrics.size(), 10u);
}

TEST(SyntheticFleetTest, SameSeedSameFleetOtherSeedOtherUuids) {
  SyntheticFleet a(4, 8, 7), b(4, 8, 7), c(4, 8, 8);
  EXPECT_EQ(a.Sample(1000.5), b.Sample(1000.5));
  EXPECT_NE(a.gpus()[0].uuid, c.gpus()[0].uuid);
}

TEST(SyntheticFleetTest, NegativeCountsGiveAnEmptyFleet) {
  SyntheticFleet fleet(-1, 8, 1);
  EXPECT_TRUE(fleet.gpus().empty());
  EXPECT_TRUE(fleet.Sample(0).empty());
}

TEST(SyntheticFleetTest, ValuesStayInRangeAndMoveSmoothly) {
  SyntheticFleet fleet(4, 8, 2025);
  const double t0 = 1752871354;
  auto prev = fleet.Sample(t0);
  std::map<std::string, double> min_seen, max_seen;
  for (int s = 1; s <= 3600; ++s) {
    auto cur = fleet.Sample(t0 + s);
    ASSERT_EQ(cur.size(), prev.size());
    for (size_t i = 0; i < cur.size(); ++i) {
      const auto& p = cur[i];
      const Range& r = Ranges().at(p.metric_name);
      ASSERT_GE(p.value, r.lo) << p.metric_name << " t=" << s;
      ASSERT_LE(p.value, r.hi) << p.metric_name << " t=" << s;
      ASSERT_LE(std::abs(p.value - prev[i].value), r.max_step) << p.metric_name << " t=" << s;
      auto [lo, lo_new] = min_seen.try_emplace(p.metric_name, p.value);
      if (!lo_new) lo->second = std::min(lo->second, p.value);
      auto [hi, hi_new] = max_seen.try_emplace(p.metric_name, p.value);
      if (!hi_new) hi->second = std::max(hi->second, p.value);
    }
    prev = std::move(cur);
  }
  // Over an hour the load fields actually vary (not a flat line).
  EXPECT_GT(max_seen["DCGM_FI_DEV_GPU_UTIL"] - min_seen["DCGM_FI_DEV_GPU_UTIL"], 50);
  EXPECT_GT(max_seen["DCGM_FI_DEV_POWER_USAGE"] - min_seen["DCGM_FI_DEV_POWER_USAGE"], 300);
}

TEST(SyntheticFleetTest, FramebufferUsedPlusFreeIsConstant) {
  SyntheticFleet fleet(2, 4, 9);
  for (double t : {0.0, 17.0, 1e9, 1752871354.0}) {
    std::map<std::string, double> sum;
    for (const auto& p : fleet.Sample(t)) {
      if (p.metric_name == "DCGM_FI_DEV_FB_USED" || p.metric_name == "DCGM_FI_DEV_FB_FREE") sum[p.gpu_uuid] += p.value;
    }
    ASSERT_EQ(sum.size(), 8u);
    for (const auto& [uuid, total] : sum) EXPECT_EQ(total, kFramebufferMiB) << uuid;
  }
}

TEST(SyntheticFleetTest, SampleIntoAReusedBufferEqualsAFreshSample) {
  SyntheticFleet fleet(3, 2, 5);
  std::vector<TelemetryPoint> buffer;
  fleet.SampleGpu(5, 1'752'871'000.5, &buffer);  // another GPU's points, to be overwritten
  for (size_t gpu = 0; gpu < fleet.gpus().size(); ++gpu) {
    std::vector<TelemetryPoint> fresh;
    fleet.SampleGpu(gpu, 1'752'871'354.25, &fresh);
    fleet.SampleGpuInto(gpu, 1'752'871'354.25, buffer);
    EXPECT_EQ(buffer, fresh) << "GPU " << gpu;
  }
}

}  // namespace
}  // namespace telemq::telemetry
