#include "telemq/common/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace telemq::metrics {
namespace {

TEST(Metrics, RendersCountersAndGaugesInTextFormat) {
  Registry r;
  auto& a = r.AddCounter("telemq_things_total", "Things seen", {{"kind", "good"}});
  auto& b = r.AddCounter("telemq_things_total", "ignored: first help wins", {{"kind", "bad"}});
  auto& g = r.AddGauge("telemq_depth", "Queue depth");
  a.Inc(3);
  b.Inc();
  g.Set(2.5);
  g.Add(-1);
  r.AddCallbackGauge("telemq_read_at_render", "Read when rendered", {}, [] { return 7.0; });
  EXPECT_EQ(r.Render(),
            "# HELP telemq_things_total Things seen\n"
            "# TYPE telemq_things_total counter\n"
            "telemq_things_total{kind=\"good\"} 3\n"
            "telemq_things_total{kind=\"bad\"} 1\n"
            "# HELP telemq_depth Queue depth\n"
            "# TYPE telemq_depth gauge\n"
            "telemq_depth 1.5\n"
            "# HELP telemq_read_at_render Read when rendered\n"
            "# TYPE telemq_read_at_render gauge\n"
            "telemq_read_at_render 7\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInf) {
  Registry r;
  auto& h = r.AddHistogram("telemq_latency_seconds", "Latency", {0.1, 1}, {{"route", "/x"}});
  h.Observe(0.05);
  h.Observe(0.1);  // on the bound: counted in le="0.1"
  h.Observe(0.5);
  h.Observe(30);
  EXPECT_EQ(h.Count(), 4u);
  EXPECT_DOUBLE_EQ(h.Sum(), 30.65);
  const std::string text = r.Render();
  EXPECT_NE(text.find("telemq_latency_seconds_bucket{route=\"/x\",le=\"0.10000000000000001\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("telemq_latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("telemq_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("telemq_latency_seconds_count{route=\"/x\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, EscapesLabelValues) {
  Registry r;
  r.AddCounter("c_total", "help with \\ and\nnewline", {{"path", "a\"b\\c\nd"}}).Inc();
  const std::string text = r.Render();
  EXPECT_NE(text.find("# HELP c_total help with \\\\ and\\nnewline\n"), std::string::npos) << text;
  EXPECT_NE(text.find("c_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, CollectorsWriteTheirFamiliesAfterTheRegisteredOnes) {
  Registry r;
  r.AddCounter("telemq_static_total", "Registered").Inc(2);
  int partitions = 2;
  r.AddCollector([&](FamilyWriter& w) {
    w.Family("telemq_log_end_offset", "End of each log", MetricType::kGauge);
    for (int p = 0; p < partitions; ++p) w.Sample({{"topic", "t\"x"}, {"partition", std::to_string(p)}}, 10 * p);
    w.Family("telemq_wait_seconds", "Waits", MetricType::kHistogram);
    w.HistogramSample({}, {0.5}, {1, 2}, 3.25);
  });
  const std::string expected_tail =
      "# HELP telemq_log_end_offset End of each log\n"
      "# TYPE telemq_log_end_offset gauge\n"
      "telemq_log_end_offset{topic=\"t\\\"x\",partition=\"0\"} 0\n"
      "telemq_log_end_offset{topic=\"t\\\"x\",partition=\"1\"} 10\n"
      "# HELP telemq_wait_seconds Waits\n"
      "# TYPE telemq_wait_seconds histogram\n"
      "telemq_wait_seconds_bucket{le=\"0.5\"} 1\n"
      "telemq_wait_seconds_bucket{le=\"+Inf\"} 3\n"
      "telemq_wait_seconds_sum 3.25\n"
      "telemq_wait_seconds_count 3\n";
  EXPECT_EQ(r.Render(),
            "# HELP telemq_static_total Registered\n"
            "# TYPE telemq_static_total counter\n"
            "telemq_static_total 2\n" +
                expected_tail);
  // Read at every render: series follow the owner's state.
  partitions = 0;
  EXPECT_EQ(r.Render().find("partition="), std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("c_total", "c");
  auto& h = r.AddHistogram("h", "h", LatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        c.Inc();
        h.Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40'000u);
  EXPECT_EQ(h.Count(), 40'000u);
}

}  // namespace
}  // namespace telemq::metrics
