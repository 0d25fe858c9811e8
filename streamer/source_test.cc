#include "streamer/source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

namespace telemq::streamer {
namespace {

constexpr const char* kHeader =
    "timestamp,metric_name,gpu_id,device,uuid,modelName,Hostname,container,pod,namespace,value,labels_raw\n";

std::string Row(const std::string& ts, const std::string& metric, const std::string& gpu, const std::string& uuid,
                const std::string& host, const std::string& value) {
  return ts + "," + metric + "," + gpu + ",nvidia" + gpu + "," + uuid + ",H100," + host + ",,,," + value + ",\n";
}

std::unique_ptr<CsvSource> Load(const std::string& text) {
  std::istringstream in(text);
  auto s = CsvSource::Load(in);
  EXPECT_TRUE(s) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

TEST(CsvSourceTest, RowsOfAHostSharingATimestampFormOneSnapshot) {
  auto s = Load(std::string(kHeader) + Row("t1", "UTIL", "0", "GPU-a", "h2", "1") +
                Row("t1", "UTIL", "0", "GPU-b", "h1", "2") + Row("t1", "TEMP", "0", "GPU-a", "h2", "3") +
                Row("t2", "UTIL", "0", "GPU-a", "h2", "4") + Row("t2", "UTIL", "1", "GPU-c", "h2", "5"));
  ASSERT_TRUE(s);
  ASSERT_EQ(s->hosts(), (std::vector<std::string>{"h1", "h2"}));  // sorted
  EXPECT_EQ(s->gpu_count(), 3u);
  EXPECT_EQ(s->point_count(), 5u);
  ASSERT_EQ(s->snapshot_count(0), 1u);
  ASSERT_EQ(s->snapshot_count(1), 2u);
  Snapshot first = s->Get(1, 0, 0);
  ASSERT_EQ(first.points.size(), 2u);
  EXPECT_EQ(first.points[0].metric_name, "UTIL");
  EXPECT_EQ(first.points[1].metric_name, "TEMP");
  EXPECT_EQ(first.gpus[0], first.gpus[1]);  // same GPU, same dense index
  EXPECT_EQ(s->source_timestamp(1, 0), "t1");
  Snapshot second = s->Get(1, 1, 0);
  ASSERT_EQ(second.points.size(), 2u);
  EXPECT_EQ(second.points[0].value, 4);
  EXPECT_NE(second.gpus[0], second.gpus[1]);
  // Snapshot numbers wrap around: the source loops.
  EXPECT_EQ(s->Get(1, 2, 0).points.data(), s->Get(1, 0, 0).points.data());
}

TEST(CsvSourceTest, RepeatedGpuMetricInATimestampStartsAnotherSnapshot) {
  auto s = Load(std::string(kHeader) + Row("t1", "UTIL", "0", "GPU-a", "h", "1") +
                Row("t1", "UTIL", "0", "GPU-a", "h", "2") + Row("t1", "TEMP", "0", "GPU-a", "h", "3"));
  ASSERT_TRUE(s);
  ASSERT_EQ(s->snapshot_count(0), 2u);
  EXPECT_EQ(s->Get(0, 0, 0).points.size(), 2u);  // UTIL=1, TEMP=3
  ASSERT_EQ(s->Get(0, 1, 0).points.size(), 1u);
  EXPECT_EQ(s->Get(0, 1, 0).points[0].value, 2);
}

TEST(CsvSourceTest, BadRowsAreCountedNotLoaded) {
  auto s = Load(std::string(kHeader) + Row("t1", "UTIL", "0", "GPU-a", "h", "1") +
                Row("t1", "UTIL", "0", "", "h", "1") + Row("t1", "UTIL", "0", "GPU-b", "h", "abc") +
                Row("t1", "UTIL", "x", "GPU-c", "h", "1") + "t1,UTIL,0,nvidia0,GPU-d,H100,h,,,\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->point_count(), 1u);
  EXPECT_EQ(s->gpu_count(), 1u);
  using telemetry::SkipReason;
  EXPECT_EQ(s->summary().skips.Of(SkipReason::kMissingUuid), 1u);
  EXPECT_EQ(s->summary().skips.Of(SkipReason::kBadValue), 1u);
  EXPECT_EQ(s->summary().skips.Of(SkipReason::kBadGpuId), 1u);
  EXPECT_EQ(s->summary().skips.Of(SkipReason::kWrongColumnCount), 1u);
}

TEST(CsvSourceTest, MissingHeaderOrFileIsAnError) {
  std::istringstream empty("");
  EXPECT_FALSE(CsvSource::Load(empty));
  auto missing = CsvSource::LoadFile("/nonexistent/telemq.csv");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
}

TEST(CsvSourceTest, RealExportGroupsIntoFourSnapshotsPerHost) {
  if (!std::filesystem::exists(TELEMQ_DCGM_SAMPLE_CSV)) GTEST_SKIP() << "no " << TELEMQ_DCGM_SAMPLE_CSV;
  auto s = CsvSource::LoadFile(TELEMQ_DCGM_SAMPLE_CSV);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ((*s)->point_count(), 2470u);
  EXPECT_EQ((*s)->gpu_count(), 247u);
  EXPECT_EQ((*s)->hosts().size(), 31u);
  size_t points = 0;
  for (size_t h = 0; h < (*s)->hosts().size(); ++h) {
    EXPECT_EQ((*s)->snapshot_count(h), 4u) << (*s)->hosts()[h];
    for (uint64_t n = 0; n < (*s)->snapshot_count(h); ++n) points += (*s)->Get(h, n, 0).points.size();
  }
  EXPECT_EQ(points, 2470u);
}

TEST(SyntheticSourceTest, OneSnapshotIsEveryFieldOfEveryGpuOfTheHost) {
  SyntheticSource s(SourceSpec{.kind = SourceKind::kSynthetic, .hosts = 3, .gpus = 4, .seed = 9});
  ASSERT_EQ(s.hosts().size(), 3u);
  EXPECT_EQ(s.hosts()[1], "host-0002");
  EXPECT_EQ(s.gpu_count(), 12u);
  EXPECT_EQ(s.snapshot_count(0), 0u);
  Snapshot snap = s.Get(1, 0, 1'752'871'354'000'000);
  ASSERT_EQ(snap.points.size(), 4 * telemetry::kDcgmFieldCount);
  std::set<uint32_t> gpus(snap.gpus.begin(), snap.gpus.end());
  EXPECT_EQ(gpus, (std::set<uint32_t>{4, 5, 6, 7}));
  std::map<uint32_t, std::set<std::string>> uuids;
  for (size_t i = 0; i < snap.points.size(); ++i) {
    EXPECT_EQ(snap.points[i].hostname, "host-0002");
    uuids[snap.gpus[i]].insert(snap.points[i].gpu_uuid);
  }
  for (const auto& [gpu, names] : uuids) EXPECT_EQ(names.size(), 1u) << "GPU index " << gpu;
  // The buffer is reused: the next snapshot has the same size.
  EXPECT_EQ(s.Get(2, 1, 1'752'871'355'000'000).points.size(), 4 * telemetry::kDcgmFieldCount);
}

}  // namespace
}  // namespace telemq::streamer
