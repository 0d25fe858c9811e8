// The exposition reader and the naming-convention check that the /metrics
// suites rely on: what telemq_metrics renders passes, and each convention
// it enforces is caught when broken.

#include "tests/support/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "telemq/common/metrics.h"

namespace telemq::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Violations(const std::string& text) {
  auto e = ParseExposition(text);
  if (!e) return {"parse error: " + e.error().message()};
  return ConventionViolations(*e);
}

TEST(PrometheusText, WhatTheRegistryRendersParsesAndFollowsTheConventions) {
  metrics::Registry r;
  r.AddCounter("telemq_x_requests_total", "Requests", {{"api", "pro\"duce\\"}}).Inc(3);
  r.AddGauge("telemq_x_depth", "Depth\nwith a newline").Set(-2.5);
  auto& h = r.AddHistogram("telemq_x_latency_seconds", "Latency", metrics::LatencyBuckets(), {{"api", "fetch"}});
  h.Observe(0.002);
  h.Observe(100);
  r.AddCollector([](metrics::FamilyWriter& w) {
    w.Family("telemq_x_lag", "Lag", metrics::MetricType::kGauge);
    w.Sample({{"group", "g"}, {"partition", "0"}}, 7);
  });
  const auto e = ParseExposition(r.Render());
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_THAT(ConventionViolations(*e), IsEmpty());
  EXPECT_EQ(e->Value("telemq_x_requests_total", {{"api", "pro\"duce\\"}}), 3);
  EXPECT_EQ(e->Find("telemq_x_depth")->help, "Depth\nwith a newline");
  EXPECT_EQ(e->Value("telemq_x_depth"), -2.5);
  EXPECT_EQ(e->Value("telemq_x_latency_seconds_bucket", {{"api", "fetch"}, {"le", "+Inf"}}), 2);
  EXPECT_EQ(e->Value("telemq_x_latency_seconds_count", {{"api", "fetch"}}), 2);
  EXPECT_EQ(e->Value("telemq_x_lag", {{"group", "g"}, {"partition", "0"}}), 7);
  EXPECT_EQ(e->Value("telemq_x_lag", {{"group", "g"}}), std::nullopt);
}

TEST(PrometheusText, MalformedLinesAreErrorsNamingTheLine) {
  for (const char* text : {"# TYPE a gauge\na{x=\"1} 1\n", "# TYPE a gauge\na 1x\n", "# TYPE a gauge\na{x=1} 1\n",
                           "# TYPE a sometype\n", "# TYPE a gauge\na 1", "# TYPE a gauge\na{x=\"\\q\"} 1\n"}) {
    auto e = ParseExposition(text);
    EXPECT_FALSE(e) << text;
  }
  auto e = ParseExposition("# HELP a A\n# TYPE a gauge\na 1\na{x=\"1} 1\n");
  ASSERT_FALSE(e);
  EXPECT_THAT(e.error().message(), HasSubstr("line 4"));
}

TEST(PrometheusText, CountersAndOnlyCountersEndInTotal) {
  EXPECT_THAT(Violations("# HELP a_requests R\n# TYPE a_requests counter\na_requests 1\n"),
              ElementsAre(HasSubstr("counter whose name does not end in _total")));
  EXPECT_THAT(Violations("# HELP a_total R\n# TYPE a_total gauge\na_total 1\n"),
              ElementsAre(HasSubstr("gauge whose name ends in _total")));
}

TEST(PrometheusText, NamesAreLowerCaseWithBaseUnits) {
  EXPECT_THAT(Violations("# HELP a_Bytes B\n# TYPE a_Bytes gauge\na_Bytes 1\n"),
              ElementsAre(HasSubstr("does not match")));
  EXPECT_THAT(Violations("# HELP a_latency_ms L\n# TYPE a_latency_ms gauge\na_latency_ms 1\n"),
              ElementsAre(HasSubstr("non-base unit")));
}

TEST(PrometheusText, EveryFamilyHasOneHelpAndOneType) {
  EXPECT_THAT(Violations("# TYPE a gauge\na 1\n"), ElementsAre(HasSubstr("0 # HELP lines")));
  EXPECT_THAT(Violations("# HELP a A\na 1\n"), ElementsAre(HasSubstr("0 # TYPE lines")));
  EXPECT_THAT(Violations("b 1\n"), ElementsAre(HasSubstr("no # HELP/# TYPE")));
  EXPECT_THAT(Violations("# HELP a A\n# TYPE a gauge\na 1\n# HELP b B\n# TYPE b gauge\nb 1\n# HELP a A\n"),
              ElementsAre(HasSubstr("declared again"), HasSubstr("2 # HELP lines")));
}

TEST(PrometheusText, DuplicateSeriesAreCaught) {
  EXPECT_THAT(Violations("# HELP a A\n# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n"),
              ElementsAre(HasSubstr("duplicate series")));
}

TEST(PrometheusText, HistogramsNeedUnitsCumulativeBucketsInfSumAndCount) {
  const std::string ok =
      "# HELP h_seconds H\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} "
      "2\nh_seconds_sum 3\nh_seconds_count 2\n";
  EXPECT_THAT(Violations(ok), IsEmpty());
  EXPECT_THAT(Violations("# HELP h H\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"),
              ElementsAre(HasSubstr("without a base unit")));
  EXPECT_THAT(Violations("# HELP h_seconds H\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 2\n"
                         "h_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 3\nh_seconds_count 1\n"),
              ElementsAre(HasSubstr("not cumulative")));
  EXPECT_THAT(Violations("# HELP h_seconds H\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 1\n"
                         "h_seconds_sum 3\nh_seconds_count 1\n"),
              ElementsAre(HasSubstr("no +Inf bucket")));
  EXPECT_THAT(Violations("# HELP h_seconds H\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"+Inf\"} 2\n"
                         "h_seconds_count 1\n"),
              ElementsAre(HasSubstr("no _sum"), HasSubstr("_count differs")));
}

}  // namespace
}  // namespace telemq::testing
