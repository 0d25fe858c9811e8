#include "collector/partition_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <tuple>

#include "collector/store_format.h"
#include "collector/store_test_util.h"

namespace telemq::collector {
namespace {

using testing::MakePoint;
using testing::OpenOrDie;
using testing::RecordLog;
using testing::ScratchDir;

const std::string kGpuA = "GPU-aaaaaaaa-0000-0000-0000-000000000001";
const std::string kGpuB = "GPU-bbbbbbbb-0000-0000-0000-000000000002";
const std::vector<std::string> kMetrics = {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE"};

class PartitionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenOrDie(Path()); }
  std::string Path() const { return dir_.File("partition-0"); }

  // `n` samples per GPU at times base + i * step, all metrics each.
  void Fill(const std::vector<std::string>& gpus, int n, int64_t base = 1'000'000, int64_t step = 1'000'000) {
    for (int i = 0; i < n; ++i) {
      for (const auto& g : gpus) {
        for (size_t m = 0; m < kMetrics.size(); ++m) {
          log_.Append(MakePoint(g, base + i * step, kMetrics[m], i * 10.0 + static_cast<double>(m)));
        }
      }
    }
  }
  ApplyStats ApplyAll() { return ApplyRange(0, log_.size()); }
  ApplyStats ApplyRange(int64_t from, int64_t to) {
    auto records = log_.Range(from, to);
    auto st = store_->Apply(records);
    EXPECT_TRUE(st.has_value()) << (st ? "" : st.error().ToString());
    return st ? *st : ApplyStats{};
  }
  WindowResult Query(const std::string& gpu, const WindowQuery& q) {
    auto r = store_->QueryWindow(gpu, q);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().ToString());
    return r ? std::move(*r) : WindowResult{};
  }
  // Every point of `gpu` matching `q`, following the cursor page by page.
  std::vector<std::pair<int64_t, std::string>> Paged(const std::string& gpu, WindowQuery q, size_t page) {
    std::vector<std::pair<int64_t, std::string>> out;
    q.limit = page;
    for (int guard = 0; guard < 100000; ++guard) {
      auto r = Query(gpu, q);
      EXPECT_LE(r.points.size(), page);
      for (const auto& p : r.points) out.emplace_back(p.timestamp_us, std::string(p.metric));
      if (!r.more) return out;
      EXPECT_FALSE(r.points.empty());
      if (r.points.empty()) return out;
      q.after_us = r.points.back().timestamp_us;
      q.after_metric = std::string(r.points.back().metric);
    }
    ADD_FAILURE() << "paging did not end";
    return out;
  }

  ScratchDir dir_;
  RecordLog log_;
  std::unique_ptr<PartitionStore> store_;
};

TEST_F(PartitionStoreTest, NewStoreIsEmptyAtOffsetZero) {
  const auto s = store_->Stats();
  EXPECT_EQ(s.applied, Offset(0));
  EXPECT_EQ(s.points, 0u);
  EXPECT_EQ(s.gpus, 0u);
  EXPECT_EQ(store_->GetGpu(kGpuA).error().code(), Errc::kNotFound);
  EXPECT_EQ(store_->QueryWindow(kGpuA, {}).error().code(), Errc::kNotFound);
}

TEST_F(PartitionStoreTest, ApplyWritesPointsOffsetAndGpuInfo) {
  Fill({kGpuA, kGpuB}, 10);
  const auto st = ApplyAll();
  EXPECT_EQ(st.points, 60u);
  EXPECT_EQ(st.redelivered, 0u);
  EXPECT_EQ(st.rejected_total(), 0u);
  const auto s = store_->Stats();
  EXPECT_EQ(s.applied, Offset(60));
  EXPECT_EQ(s.points, 60u);
  EXPECT_EQ(s.gpus, 2u);
  auto g = store_->GetGpu(kGpuA);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->hostname, "host-0001");
  EXPECT_EQ(g->device, "nvidia0");
  EXPECT_EQ(g->model_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g->first_timestamp_us, 1'000'000);
  EXPECT_EQ(g->last_timestamp_us, 10'000'000);
  std::vector<std::string> sorted = kMetrics;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(g->metrics, sorted);
  auto list = store_->ListGpus();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].uuid, kGpuA);
  EXPECT_EQ((*list)[1].uuid, kGpuB);
}

TEST_F(PartitionStoreTest, WindowBoundsAreInclusiveAndPointsOrderedByTimeThenMetricName) {
  Fill({kGpuA, kGpuB}, 10);
  ApplyAll();
  auto r = Query(kGpuA, {.start_us = 3'000'000, .end_us = 6'000'000});
  ASSERT_EQ(r.points.size(), 12u);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.points.front().timestamp_us, 3'000'000);
  EXPECT_EQ(r.points.back().timestamp_us, 6'000'000);
  for (size_t i = 1; i < r.points.size(); ++i) {
    const auto& a = r.points[i - 1];
    const auto& b = r.points[i];
    EXPECT_LT(std::tie(a.timestamp_us, a.metric), std::tie(b.timestamp_us, b.metric)) << i;
  }
  // Metric ids were assigned UTIL, TEMP, POWER; names sort TEMP, POWER? No:
  // GPU_TEMP < GPU_UTIL < POWER_USAGE.
  EXPECT_EQ(r.points[0].metric, "DCGM_FI_DEV_GPU_TEMP");
  EXPECT_EQ(r.points[1].metric, "DCGM_FI_DEV_GPU_UTIL");
  EXPECT_EQ(r.points[2].metric, "DCGM_FI_DEV_POWER_USAGE");
  EXPECT_DOUBLE_EQ(r.points[1].value, 20.0);  // UTIL at i = 2
  // Open ends.
  EXPECT_EQ(Query(kGpuA, {.start_us = 9'000'000}).points.size(), 6u);
  EXPECT_EQ(Query(kGpuA, {.end_us = 1'000'000}).points.size(), 3u);
  EXPECT_EQ(Query(kGpuA, {}).points.size(), 30u);
  // Outside the data, and an empty window between samples.
  EXPECT_TRUE(Query(kGpuA, {.start_us = 11'000'000}).points.empty());
  EXPECT_TRUE(Query(kGpuA, {.start_us = 3'000'001, .end_us = 3'999'999}).points.empty());
}

TEST_F(PartitionStoreTest, NegativeAndZeroTimestampsScanInOrder) {
  for (int64_t ts : {int64_t{-5'000'000}, int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{4'000'000'000'000'000}}) {
    log_.Append(MakePoint(kGpuA, ts, kMetrics[0], 1));
  }
  ApplyAll();
  auto r = Query(kGpuA, {});
  ASSERT_EQ(r.points.size(), 5u);
  EXPECT_EQ(r.points[0].timestamp_us, -5'000'000);
  EXPECT_EQ(r.points[4].timestamp_us, 4'000'000'000'000'000);
  EXPECT_EQ(Query(kGpuA, {.start_us = -1, .end_us = 0}).points.size(), 2u);
  auto g = store_->GetGpu(kGpuA);
  EXPECT_EQ(g->first_timestamp_us, -5'000'000);
}

TEST_F(PartitionStoreTest, MetricFilterReturnsOnlyThatMetric) {
  Fill({kGpuA}, 10);
  ApplyAll();
  auto r = Query(kGpuA, {.start_us = 2'000'000, .end_us = 4'000'000, .metric = "DCGM_FI_DEV_POWER_USAGE"});
  ASSERT_EQ(r.points.size(), 3u);
  for (const auto& p : r.points) EXPECT_EQ(p.metric, "DCGM_FI_DEV_POWER_USAGE");
  EXPECT_TRUE(Query(kGpuA, {.metric = "DCGM_FI_NO_SUCH_FIELD"}).points.empty());
}

TEST_F(PartitionStoreTest, CursorPagingReturnsEveryPointExactlyOnce) {
  Fill({kGpuA, kGpuB}, 50);
  ApplyAll();
  const auto all = Query(kGpuA, {.limit = 10000});
  ASSERT_EQ(all.points.size(), 150u);
  std::vector<std::pair<int64_t, std::string>> expected;
  for (const auto& p : all.points) expected.emplace_back(p.timestamp_us, std::string(p.metric));
  for (size_t page : {1, 2, 3, 7, 149, 150, 151}) {
    EXPECT_EQ(Paged(kGpuA, {}, page), expected) << "page " << page;
  }
  // A window and a metric filter page the same way.
  auto windowed = Paged(kGpuA, {.start_us = 10'000'000, .end_us = 20'000'000, .metric = kMetrics[1]}, 4);
  ASSERT_EQ(windowed.size(), 11u);
  std::set<int64_t> times;
  for (const auto& [ts, m] : windowed) times.insert(ts);
  EXPECT_EQ(times.size(), 11u);
}

TEST_F(PartitionStoreTest, MoreIsFalseWhenThePageEndsExactlyAtTheLastPoint) {
  Fill({kGpuA}, 2);
  ApplyAll();
  auto r = Query(kGpuA, {.limit = 6});
  EXPECT_EQ(r.points.size(), 6u);
  EXPECT_FALSE(r.more);
  r = Query(kGpuA, {.limit = 3});
  EXPECT_TRUE(r.more);
  // With a cursor at the very last point nothing is left.
  r = Query(kGpuA, {.after_us = 2'000'000, .after_metric = "DCGM_FI_DEV_POWER_USAGE"});
  EXPECT_TRUE(r.points.empty());
  EXPECT_FALSE(r.more);
  // A cursor without a metric skips that whole timestamp.
  r = Query(kGpuA, {.after_us = 1'000'000});
  EXPECT_EQ(r.points.size(), 3u);
  EXPECT_EQ(r.points.front().timestamp_us, 2'000'000);
}

// Issue #15: one point per (bucket, metric), computed in the scan. Values
// here are i*10 + m at t = i s (Fill), so each aggregate has a closed form.
TEST_F(PartitionStoreTest, DownsamplingAggregatesEachEpochAlignedBucketPerMetric) {
  Fill({kGpuA}, 600, /*base=*/0);  // 10 minutes at 1 s, 3 metrics
  ApplyAll();
  auto at = [&](Aggregation agg) {
    WindowQuery q;
    q.limit = 10000;
    q.downsample = Downsample{.step_us = 60'000'000, .agg = agg};
    return Query(kGpuA, q);
  };
  const auto avg = at(Aggregation::kAvg);
  ASSERT_EQ(avg.points.size(), 10u * kMetrics.size());
  EXPECT_FALSE(avg.more);
  for (size_t i = 0; i < avg.points.size(); ++i) {
    const auto& p = avg.points[i];
    const int64_t bucket = static_cast<int64_t>(i / kMetrics.size());
    EXPECT_EQ(p.timestamp_us, bucket * 60'000'000);
    const size_t m = static_cast<size_t>(std::find(kMetrics.begin(), kMetrics.end(), p.metric) - kMetrics.begin());
    ASSERT_LT(m, kMetrics.size());
    // mean of (60b + j) * 10 + m for j in 0..59
    EXPECT_DOUBLE_EQ(p.value, (60.0 * bucket + 29.5) * 10 + static_cast<double>(m)) << i;
  }
  // Within a bucket, metrics come by name, as raw points do.
  EXPECT_EQ(avg.points[0].metric, "DCGM_FI_DEV_GPU_TEMP");
  const auto min = at(Aggregation::kMin), max = at(Aggregation::kMax), last = at(Aggregation::kLast),
             count = at(Aggregation::kCount);
  ASSERT_EQ(min.points.size(), avg.points.size());
  for (size_t i = 0; i < avg.points.size(); ++i) {
    const double m = avg.points[i].value - 295;  // 60b*10 + m
    EXPECT_DOUBLE_EQ(min.points[i].value, m);
    EXPECT_DOUBLE_EQ(max.points[i].value, m + 590);
    EXPECT_DOUBLE_EQ(last.points[i].value, m + 590);
    EXPECT_DOUBLE_EQ(count.points[i].value, 60);
  }
}

TEST_F(PartitionStoreTest, DownsamplingHonoursWindowMetricAndPartialBuckets) {
  Fill({kGpuA, kGpuB}, 600, /*base=*/0);
  ApplyAll();
  WindowQuery q;
  q.start_us = 90'000'000;  // inside bucket 1: 90..119 s
  q.end_us = 150'000'000;   // inside bucket 2: 120..150 s, inclusive
  q.metric = kMetrics[0];   // UTIL, values i*10
  q.downsample = Downsample{.step_us = 60'000'000, .agg = Aggregation::kCount};
  auto r = Query(kGpuA, q);
  ASSERT_EQ(r.points.size(), 2u);
  EXPECT_EQ(r.points[0].timestamp_us, 60'000'000);  // the bucket's start, before start_time
  EXPECT_DOUBLE_EQ(r.points[0].value, 30);
  EXPECT_EQ(r.points[1].timestamp_us, 120'000'000);
  EXPECT_DOUBLE_EQ(r.points[1].value, 31);
  q.downsample->agg = Aggregation::kAvg;
  r = Query(kGpuA, q);
  EXPECT_DOUBLE_EQ(r.points[0].value, 1045);  // mean of 900..1190
  EXPECT_DOUBLE_EQ(r.points[1].value, 1350);  // mean of 1200..1500
}

TEST_F(PartitionStoreTest, DownsampledCursorPagingReturnsEveryBucketPointExactlyOnce) {
  Fill({kGpuA}, 600, /*base=*/0);
  ApplyAll();
  WindowQuery q;
  q.start_us = 30'000'000;
  q.downsample = Downsample{.step_us = 60'000'000, .agg = Aggregation::kMax};
  q.limit = 10000;
  const auto all = Query(kGpuA, q);
  ASSERT_EQ(all.points.size(), 30u);
  for (size_t page : {1u, 2u, 4u, 29u, 30u}) {
    const auto paged = Paged(kGpuA, q, page);
    ASSERT_EQ(paged.size(), all.points.size()) << page;
    for (size_t i = 0; i < paged.size(); ++i) {
      EXPECT_EQ(paged[i].first, all.points[i].timestamp_us) << page << " " << i;
      EXPECT_EQ(paged[i].second, all.points[i].metric) << page << " " << i;
    }
  }
}

TEST_F(PartitionStoreTest, LatestGivesEachGpusNewestPointPerMetric) {
  Fill({kGpuA, kGpuB}, 50);                                                // t = 1..50 s, value i*10 + m
  log_.Append(MakePoint(kGpuB, 1'000'000, "OLD_METRIC", 7, "host-0002"));  // B moves host; a stale metric
  ApplyAll();
  auto all = store_->Latest({});
  ASSERT_TRUE(all) << all.error().ToString();
  ASSERT_EQ(all->gpus.size(), 2u);
  EXPECT_EQ(all->gpus[0].gpu.uuid, kGpuA);
  ASSERT_EQ(all->gpus[0].points.size(), kMetrics.size());
  for (const auto& p : all->gpus[0].points) {
    const size_t m = static_cast<size_t>(std::find(kMetrics.begin(), kMetrics.end(), p.metric) - kMetrics.begin());
    EXPECT_EQ(p.timestamp_us, 50'000'000) << p.metric;
    EXPECT_DOUBLE_EQ(p.value, 490 + static_cast<double>(m)) << p.metric;
  }
  // OLD_METRIC's only point is 49 s older than B's newest: inside the
  // default 5-minute lookback, outside a 10-second one.
  EXPECT_EQ(all->gpus[1].points.size(), kMetrics.size() + 1);
  LatestQuery recent;
  recent.lookback_us = 10'000'000;
  EXPECT_EQ(store_->Latest(recent)->gpus[1].points.size(), kMetrics.size());
  LatestQuery host;
  host.hostname = "host-0002";
  auto b = store_->Latest(host);
  ASSERT_EQ(b->gpus.size(), 1u);
  EXPECT_EQ(b->gpus[0].gpu.uuid, kGpuB);
  LatestQuery metric;
  metric.metric = kMetrics[1];
  auto m = store_->Latest(metric);
  ASSERT_EQ(m->gpus.size(), 2u);
  ASSERT_EQ(m->gpus[0].points.size(), 1u);
  EXPECT_EQ(m->gpus[0].points[0].metric, kMetrics[1]);
  EXPECT_DOUBLE_EQ(m->gpus[0].points[0].value, 491);
  LatestQuery none;
  none.metric = "NO_SUCH_METRIC";
  EXPECT_TRUE(store_->Latest(none)->gpus.empty());
}

TEST_F(PartitionStoreTest, RedeliveryCreatesNoDuplicatesAndNeverMovesTheOffsetBack) {
  Fill({kGpuA, kGpuB}, 20);  // 120 records
  ApplyRange(0, 100);
  EXPECT_EQ(store_->Stats().applied, Offset(100));
  // Overlapping redelivery: 50..99 are skipped, 100..119 applied.
  auto st = ApplyRange(50, 120);
  EXPECT_EQ(st.redelivered, 50u);
  EXPECT_EQ(st.points, 20u);
  EXPECT_EQ(store_->Stats().applied, Offset(120));
  // A whole old batch again: nothing written, offset unchanged.
  st = ApplyRange(0, 30);
  EXPECT_EQ(st.redelivered, 30u);
  EXPECT_EQ(st.points, 0u);
  EXPECT_EQ(store_->Stats().applied, Offset(120));
  EXPECT_EQ(store_->Stats().points, 120u);
  EXPECT_EQ(Query(kGpuA, {.limit = 10000}).points.size(), 60u);
}

TEST_F(PartitionStoreTest, ReopenKeepsPointsOffsetDictionariesAndCountsCorrectly) {
  Fill({kGpuA, kGpuB}, 5);
  ApplyAll();
  store_->Close();
  store_ = OpenOrDie(Path());
  auto s = store_->Stats();
  EXPECT_EQ(s.applied, Offset(30));
  EXPECT_EQ(s.points, 30u);
  EXPECT_EQ(s.gpus, 2u);
  EXPECT_EQ(store_->GetGpu(kGpuB)->last_timestamp_us, 5'000'000);
  // A new metric at the last timestamp after the reopen is a new point; a
  // known one at the same time is a rewrite.
  log_.Append(MakePoint(kGpuA, 5'000'000, "DCGM_FI_DEV_SM_CLOCK", 1410));
  log_.Append(MakePoint(kGpuA, 5'000'000, kMetrics[0], 99));
  auto st = ApplyRange(30, 32);
  EXPECT_EQ(st.points, 1u);
  EXPECT_EQ(st.overwritten, 1u);
  EXPECT_EQ(store_->Stats().points, 31u);
  EXPECT_EQ(store_->GetGpu(kGpuA)->metrics.size(), 4u);
}

TEST_F(PartitionStoreTest, ARewrittenPointKeepsOneCopyWithTheNewValue) {
  log_.Append(MakePoint(kGpuA, 1'000, kMetrics[0], 1));
  log_.Append(MakePoint(kGpuA, 2'000, kMetrics[0], 2));
  log_.Append(MakePoint(kGpuA, 1'000, kMetrics[0], 3));  // same (gpu, time, metric), later offset
  log_.Append(MakePoint(kGpuA, 500, kMetrics[0], 4));    // earlier than everything: new
  auto st = ApplyAll();
  EXPECT_EQ(st.points, 3u);
  EXPECT_EQ(st.overwritten, 1u);
  EXPECT_EQ(store_->Stats().points, 3u);
  EXPECT_EQ(store_->Stats().applied, Offset(4));
  auto r = Query(kGpuA, {});
  ASSERT_EQ(r.points.size(), 3u);
  EXPECT_EQ(r.points[0].timestamp_us, 500);
  EXPECT_DOUBLE_EQ(r.points[1].value, 3);
  EXPECT_EQ(store_->GetGpu(kGpuA)->first_timestamp_us, 500);
}

TEST_F(PartitionStoreTest, AnOverlappingHistoryCountsRewritesExactly) {
  // 10..20 s, then a second history over 15..25 s in one batch, with one of
  // its out-of-order points repeated inside the batch.
  for (int t = 10; t <= 20; ++t) {
    for (const auto& m : kMetrics) log_.Append(MakePoint(kGpuA, t * 1'000'000, m, t));
  }
  ApplyAll();
  const int64_t first_batch = log_.size();
  for (int t = 15; t <= 25; ++t) {
    for (const auto& m : kMetrics) log_.Append(MakePoint(kGpuA, t * 1'000'000, m, 100 + t));
    log_.Append(MakePoint(kGpuB, t * 1'000'000, kMetrics[0], t));
  }
  log_.Append(MakePoint(kGpuA, 16'000'000, kMetrics[0], 7));
  auto st = ApplyRange(first_batch, log_.size());
  EXPECT_EQ(st.points, 5u * 3u + 11u);
  EXPECT_EQ(st.overwritten, 6u * 3u + 1u);
  EXPECT_EQ(store_->Stats().points, 16u * 3u + 11u);
  EXPECT_EQ(store_->Stats().applied, Offset(log_.size()));
  auto r = Query(kGpuA, {.start_us = 16'000'000, .end_us = 16'000'000, .metric = kMetrics[0]});
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_DOUBLE_EQ(r.points[0].value, 7);
  EXPECT_EQ(Query(kGpuA, {.limit = 10000}).points.size(), 48u);
}

TEST_F(PartitionStoreTest, CorruptValuesAreCountedAndSkippedNotFatal) {
  log_.Append(MakePoint(kGpuA, 1'000, kMetrics[0], 1));
  log_.AppendRaw(kGpuA, std::string("not a point"));
  log_.AppendRaw(kGpuA, std::nullopt);
  auto other = telemetry::EncodePoint(MakePoint(kGpuB, 1'000, kMetrics[0], 1));
  log_.AppendRaw(kGpuA, *other);  // key names another GPU
  auto versioned = *other;
  log_.AppendRaw(kGpuB, versioned.substr(0, versioned.size() - 1));  // truncated
  log_.Append(MakePoint(kGpuA, 2'000, kMetrics[0], 2));
  auto st = ApplyAll();
  EXPECT_EQ(st.points, 2u);
  EXPECT_EQ(st.rejected[static_cast<size_t>(RejectReason::kCorrupt)], 2u);
  EXPECT_EQ(st.rejected[static_cast<size_t>(RejectReason::kNullValue)], 1u);
  EXPECT_EQ(st.rejected[static_cast<size_t>(RejectReason::kKeyMismatch)], 1u);
  EXPECT_EQ(st.rejected_total(), 4u);
  // The offset moves past the skipped records: they are not retried.
  EXPECT_EQ(store_->Stats().applied, Offset(6));
  EXPECT_EQ(store_->GetGpu(kGpuB).error().code(), Errc::kNotFound);
}

TEST_F(PartitionStoreTest, RetentionDeletesOldPointsAndGpusLeftWithout) {
  Fill({kGpuA}, 10);  // 1..10 s
  for (int i = 1; i <= 3; ++i) log_.Append(MakePoint(kGpuB, i * 1'000'000, kMetrics[0], i));
  ApplyAll();
  ASSERT_EQ(store_->Stats().points, 33u);
  auto e = store_->Expire(5'000'000);
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->points, 12u + 3u);
  EXPECT_EQ(e->gpus, 1u);
  EXPECT_EQ(store_->Stats().points, 18u);
  EXPECT_EQ(store_->Stats().gpus, 1u);
  EXPECT_EQ(store_->GetGpu(kGpuA)->first_timestamp_us, 5'000'000);
  EXPECT_EQ(store_->GetGpu(kGpuB).error().code(), Errc::kNotFound);
  EXPECT_EQ(Query(kGpuA, {}).points.size(), 18u);
  EXPECT_EQ(Query(kGpuA, {}).points.front().timestamp_us, 5'000'000);
  // Nothing older left: a second pass deletes nothing.
  EXPECT_EQ(store_->Expire(5'000'000)->points, 0u);
  // It all holds after a reopen, and a returning GPU starts afresh.
  store_->Close();
  store_ = OpenOrDie(Path());
  EXPECT_EQ(store_->Stats().points, 18u);
  EXPECT_EQ(store_->Stats().gpus, 1u);
  EXPECT_EQ(store_->GetGpu(kGpuB).error().code(), Errc::kNotFound);
  log_.Append(MakePoint(kGpuB, 20'000'000, kMetrics[0], 1));
  EXPECT_EQ(ApplyRange(log_.size() - 1, log_.size()).points, 1u);
  EXPECT_EQ(Query(kGpuB, {}).points.size(), 1u);
}

TEST_F(PartitionStoreTest, HostnameChangeUpdatesTheGpuInfo) {
  log_.Append(MakePoint(kGpuA, 1'000, kMetrics[0], 1, "host-0001"));
  log_.Append(MakePoint(kGpuA, 2'000, kMetrics[0], 1, "host-0002"));
  ApplyAll();
  EXPECT_EQ(store_->GetGpu(kGpuA)->hostname, "host-0002");
  store_->Close();
  store_ = OpenOrDie(Path());
  EXPECT_EQ(store_->GetGpu(kGpuA)->hostname, "host-0002");
}

TEST_F(PartitionStoreTest, StartAtSetsTheOffsetOfAnEmptyStoreOnly) {
  ASSERT_TRUE(store_->StartAt(Offset(2)));
  EXPECT_EQ(store_->Stats().applied, Offset(2));
  Fill({kGpuA}, 2);  // offsets 0..5
  auto st = ApplyAll();
  EXPECT_EQ(st.redelivered, 2u);  // below the start: skipped
  EXPECT_EQ(st.points, 4u);
  EXPECT_EQ(store_->Stats().applied, Offset(6));
  auto again = store_->StartAt(Offset(100));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Errc::kInvalidArgument);
}

TEST_F(PartitionStoreTest, StoreOfAnotherTopicIsRefused) {
  store_->Close();
  auto other = PartitionStore::Open({Path(), "other.topic", nullptr});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Errc::kInvalidArgument);
  ASSERT_TRUE(PartitionStore::Destroy(Path()));
  EXPECT_TRUE(PartitionStore::Open({Path(), "other.topic", nullptr}));
}

TEST_F(PartitionStoreTest, TopicIdIsRecordedOnceAndAnotherIsReportedNotReplaced) {
  // SetUp opened it without an id (unknown): nothing recorded.
  EXPECT_EQ(store_->topic_id(), 0u);
  Fill({kGpuA}, 2);
  ApplyAll();
  const uint64_t points = store_->Stats().points;
  ASSERT_GT(points, 0u);
  store_->Close();
  // A store without an id (as one written before topic ids) takes the
  // caller's, keeping its points.
  {
    auto s = PartitionStore::Open({Path(), "gpu.telemetry", nullptr, 41});
    ASSERT_TRUE(s) << s.error().ToString();
    EXPECT_EQ((*s)->topic_id(), 41u);
    EXPECT_EQ((*s)->Stats().points, points);
  }
  // Another incarnation's id does not overwrite it: the caller decides.
  {
    auto s = PartitionStore::Open({Path(), "gpu.telemetry", nullptr, 97});
    ASSERT_TRUE(s);
    EXPECT_EQ((*s)->topic_id(), 41u);
  }
  {
    auto s = PartitionStore::Open({Path(), "gpu.telemetry", nullptr, 0});
    ASSERT_TRUE(s);
    EXPECT_EQ((*s)->topic_id(), 41u);
  }
  ASSERT_TRUE(PartitionStore::Destroy(Path()));
  auto fresh = PartitionStore::Open({Path(), "gpu.telemetry", nullptr, 97});
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->topic_id(), 97u);
  EXPECT_EQ((*fresh)->Stats().points, 0u);
}

// The data keys of a closed store (read with RocksDB directly): (gpu sid,
// timestamp, number of points in the row).
std::vector<std::tuple<uint32_t, int64_t, size_t>> DataRows(const std::string& path) {
  std::vector<std::tuple<uint32_t, int64_t, size_t>> out;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return out;
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("D"); it->Valid() && it->key().starts_with("D"); it->Next()) {
    auto k = format::DecodeDataKey(it->key().ToStringView());
    auto row = format::RowView::Parse(it->value().ToStringView());
    EXPECT_TRUE(k && row) << "malformed data key or row";
    if (k && row) out.emplace_back(k->gpu, k->timestamp_us, row->size());
  }
  return out;
}

TEST_F(PartitionStoreTest, OneKeyPerGpuAndTimeHoldsEveryMetricOfThatTime) {
  Fill({kGpuA, kGpuB}, 5);  // 2 GPUs x 5 times x 3 metrics
  // Batches of 4 records: most snapshots are split between two batches.
  for (int64_t from = 0; from < log_.size(); from += 4) ApplyRange(from, from + 4);
  EXPECT_EQ(store_->Stats().points, 30u);
  auto r = Query(kGpuA, {.limit = 100});
  ASSERT_EQ(r.points.size(), 15u);
  EXPECT_DOUBLE_EQ(r.points[14].value, 40 + 2);  // the last row's last metric by name
  store_->Close();
  const auto rows = DataRows(Path());
  ASSERT_EQ(rows.size(), 10u);
  for (const auto& [gpu, ts, n] : rows) EXPECT_EQ(n, kMetrics.size()) << gpu << " at " << ts;
}

TEST_F(PartitionStoreTest, StoreOfFormatVersionOneIsRefusedAsUnsupported) {
  // What a version-1 collector left: its version record, offset record and
  // one key per (gpu, time, metric) with an 8-byte value.
  store_->Close();
  ASSERT_TRUE(PartitionStore::Destroy(Path()));
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, Path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteBatch b;
    b.Put("V", format::EncodeVersionRecord({1, "gpu.telemetry"}));
    b.Put("O", format::EncodeOffsetRecord({Offset(1), 1}));
    b.Put(format::MetricKey(kMetrics[0]), format::EncodeMetricId(0));
    b.Put(format::DataKeyString({0, 1'000'000}) + std::string(2, '\0'), std::string(8, '\0'));
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  }
  auto old = PartitionStore::Open({Path(), "gpu.telemetry", nullptr});
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), Errc::kUnsupportedVersion);
  EXPECT_NE(old.error().message().find("format version 1"), std::string::npos) << old.error().message();
}

TEST_F(PartitionStoreTest, ClosedStoreAnswersShuttingDownAndFreesTheDirectory) {
  Fill({kGpuA}, 1);
  ApplyAll();
  store_->Close();
  EXPECT_EQ(store_->ListGpus().error().code(), Errc::kShuttingDown);
  EXPECT_EQ(store_->GetGpu(kGpuA).error().code(), Errc::kShuttingDown);
  EXPECT_EQ(store_->QueryWindow(kGpuA, {}).error().code(), Errc::kShuttingDown);
  auto again = OpenOrDie(Path());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Stats().points, 3u);
}

TEST_F(PartitionStoreTest, ReadersRunConcurrentlyWithTheWriter) {
  Fill({kGpuA, kGpuB}, 400);
  std::atomic<bool> done{false};
  std::atomic<int> queries{0};
  std::thread reader([&] {
    size_t last = 0;
    while (!done.load()) {
      auto r = store_->QueryWindow(kGpuA, {.limit = 10000});
      if (r) {
        // The view only grows, and is always a whole prefix of the samples.
        EXPECT_GE(r->points.size(), last);
        last = r->points.size();
        for (size_t i = 0; i < r->points.size(); ++i) {
          EXPECT_EQ(r->points[i].timestamp_us, 1'000'000 + static_cast<int64_t>(i / 3) * 1'000'000);
        }
      }
      ++queries;
    }
  });
  for (int64_t from = 0; from < log_.size(); from += 37) {
    // Let the reader in between batches too (on a busy machine it might
    // otherwise only run after the last one), bounded.
    const int seen = queries.load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (queries.load() == seen && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ApplyRange(from, from + 37);
  }
  done = true;
  reader.join();
  EXPECT_GT(queries.load(), 0);
  EXPECT_EQ(store_->Stats().points, 2400u);
}

// A batch may add a metric name while a query runs: the query must see the
// name of every point its scan finds (it once copied the dictionary before
// taking its iterator, so a point of a brand-new metric read as corrupt).
TEST_F(PartitionStoreTest, QueriesSucceedWhileBatchesAddNewMetrics) {
  constexpr int kBatches = 2000;
  for (int i = 0; i < kBatches; ++i) {
    log_.Append(MakePoint(kGpuA, 1'000'000 + i, "DCGM_FI_NEW_" + std::to_string(i), i));
  }
  ApplyRange(0, 1);
  std::atomic<bool> done{false};
  std::atomic<int> queries{0};
  std::atomic<int> failures{0};
  std::string first_error;
  std::thread reader([&] {
    while (!done.load()) {
      // Only the newest points (point i is at 1'000'000 + i): the scan is
      // short, so the window between reading the dictionary and taking the
      // iterator is a large part of each query.
      const int64_t applied = store_->Stats().applied.value();
      auto r = store_->QueryWindow(kGpuA, {.start_us = 1'000'000 + applied - 1, .limit = 10});
      if (!r && failures++ == 0) first_error = r.error().ToString();
      ++queries;
    }
  });
  for (int64_t i = 1; i < log_.size(); ++i) {
    ApplyRange(i, i + 1);
    if (i % 64 == 0) std::this_thread::yield();
  }
  done = true;
  reader.join();
  EXPECT_GT(queries.load(), 0);
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_EQ(Query(kGpuA, {.limit = 10000}).points.size(), static_cast<size_t>(kBatches));
}

TEST_F(PartitionStoreTest, CompactionKeepsEverythingAndReportsSize) {
  Fill({kGpuA, kGpuB}, 100);
  ApplyAll();
  ASSERT_TRUE(store_->CompactAll());
  auto bytes = store_->SstBytes();
  ASSERT_TRUE(bytes);
  EXPECT_GT(*bytes, 0u);
  EXPECT_EQ(Query(kGpuB, {.limit = 10000}).points.size(), 300u);
}

}  // namespace
}  // namespace telemq::collector
