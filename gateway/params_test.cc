#include "gateway/params.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace telemq::gateway {
namespace {

ApiError TelemetryError(QueryParams params, std::string_view id = "GPU-1") {
  auto q = ParseTelemetryQuery(id, params);
  EXPECT_FALSE(q.has_value());
  return q ? ApiError{} : q.error();
}

TEST(TelemetryQuery, DefaultsWithoutParameters) {
  auto q = ParseTelemetryQuery("GPU-1", {});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->uuid, "GPU-1");
  EXPECT_EQ(q->limit, 1000);
  EXPECT_FALSE(q->start_us);
  EXPECT_FALSE(q->end_us);
  EXPECT_TRUE(q->metric.empty());
  EXPECT_FALSE(q->after);
}

TEST(TelemetryQuery, AllParameters) {
  QueryParams p{{"start_time", "1970-01-01T00:00:01Z"},
                {"end_time", "1970-01-01T00:00:02.5+00:00"},
                {"metric", "DCGM_FI_DEV_GPU_UTIL"},
                {"limit", "10000"}};
  auto q = ParseTelemetryQuery("GPU-1", p);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(*q->start_us, 1'000'000);
  EXPECT_EQ(*q->end_us, 2'500'000);
  EXPECT_EQ(q->metric, "DCGM_FI_DEV_GPU_UTIL");
  EXPECT_EQ(q->limit, 10000);
}

TEST(TelemetryQuery, LimitBounds) {
  for (const char* ok : {"1", "10000", "500"}) EXPECT_TRUE(ParseTelemetryQuery("g", {{"limit", ok}})) << ok;
  for (const char* bad : {"0", "10001", "-1", "abc", "", "1.5", "10 ", "0x10", "99999999999999999999"}) {
    const auto e = TelemetryError({{"limit", bad}});
    EXPECT_EQ(e.status, 400) << bad;
    EXPECT_EQ(e.code, "invalid_parameter") << bad;
    EXPECT_EQ(e.parameter, "limit") << bad;
  }
}

TEST(TelemetryQuery, MalformedTimesNameTheParameter) {
  EXPECT_EQ(TelemetryError({{"start_time", "yesterday"}}).parameter, "start_time");
  EXPECT_EQ(TelemetryError({{"end_time", "2025-07-18T20:42:34"}}).parameter, "end_time");
}

TEST(TelemetryQuery, StartAfterEndIsRejected) {
  const auto e = TelemetryError({{"start_time", "2025-07-18T20:42:35Z"}, {"end_time", "2025-07-18T20:42:34Z"}});
  EXPECT_EQ(e.parameter, "start_time");
  EXPECT_NE(e.message.find("after"), std::string::npos);
  // Equal bounds select one instant; nanosecond order is compared exactly.
  EXPECT_TRUE(ParseTelemetryQuery("g", {{"start_time", "2025-07-18T20:42:34Z"}, {"end_time", "2025-07-18T20:42:34Z"}}));
  EXPECT_EQ(
      TelemetryError({{"start_time", "2025-07-18T20:42:34.0000005Z"}, {"end_time", "2025-07-18T20:42:34.0000004Z"}})
          .parameter,
      "start_time");
  auto inside = ParseTelemetryQuery(
      "g", {{"start_time", "2025-07-18T20:42:34.0000004Z"}, {"end_time", "2025-07-18T20:42:34.0000005Z"}});
  ASSERT_TRUE(inside);
  EXPECT_GT(*inside->start_us, *inside->end_us);  // empty, and valid
}

TEST(TelemetryQuery, UnknownAndRepeatedParametersAreRejected) {
  auto e = TelemetryError({{"start", "2025-07-18T20:42:34Z"}});
  EXPECT_EQ(e.code, "unknown_parameter");
  EXPECT_EQ(e.parameter, "start");
  EXPECT_NE(e.message.find("start_time"), std::string::npos);  // lists the known ones
  e = TelemetryError({{"metric", "A"}, {"metric", "B"}});
  EXPECT_EQ(e.parameter, "metric");
}

TEST(TelemetryQuery, IdAndMetricAreAnyNonEmptyName) {
  EXPECT_EQ(TelemetryError({}, "GPU/1").parameter, "id");
  EXPECT_EQ(TelemetryError({}, "").parameter, "id");
  EXPECT_EQ(TelemetryError({}, std::string(kMaxGpuIdBytes + 1, 'a')).parameter, "id");
  EXPECT_EQ(TelemetryError({{"metric", ""}}).parameter, "metric");
  // The streamer keeps whatever UUID and metric name the export carries, so
  // the gateway serves them too (they are percent-encoded when forwarded).
  auto q = ParseTelemetryQuery("GPU 1&x#%+\xc3\xa9", {{"metric", "a b&c"}});
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->uuid, "GPU 1&x#%+\xc3\xa9");
  EXPECT_EQ(q->metric, "a b&c");
  EXPECT_TRUE(ParseTelemetryQuery(std::string(kMaxGpuIdBytes, 'a'), {}));
}

TEST(Utf8, AcceptsShortestFormsUpToU10FFFF) {
  for (const char* ok : {"", "GPU-1", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                         "\xed\x9f\xbf", "\xee\x80\x80"}) {
    EXPECT_TRUE(IsValidUtf8(ok)) << ok;
  }
}

TEST(Utf8, RefusesStrayBytesOverlongsSurrogatesAndTruncation) {
  // The ids of issue #15: each reached a collector and came back as a 502.
  for (const char* bad : {"\xff", "\xc3\x28", "GPU-\x80", "\xed\xa0\x80",
                          // overlong '/', overlong NUL, 3- and 4-byte overlongs
                          "\xc0\xaf", "\xc1\x80", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
                          // above U+10FFFF, F5.., truncated sequences
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "a\xf0\x9f\x98", "\xc3"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

TEST(TelemetryQuery, IdOrMetricThatIsNotUtf8IsRefusedNamingIt) {
  for (const char* id : {"\xff", "\xc3\x28", "GPU-\x80", "\xed\xa0\x80"}) {
    const auto e = TelemetryError({}, id);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.parameter, "id");
    EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
    EXPECT_EQ(CheckGpuId(id)->parameter, "id");
  }
  EXPECT_EQ(TelemetryError({{"metric", "DCGM_\xff"}}).parameter, "metric");
}

TEST(TelemetryQuery, LengthLimitsSayBytes) {
  // 129 two-byte characters: 258 bytes, refused although only 129 characters.
  std::string id;
  for (int i = 0; i < 129; ++i) id += "\xc3\xa9";
  const auto e = TelemetryError({}, id);
  EXPECT_EQ(e.parameter, "id");
  EXPECT_NE(e.message.find("bytes"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("characters"), std::string::npos) << e.message;
  const auto m = TelemetryError({{"metric", std::string(129, 'm')}});
  EXPECT_NE(m.message.find("bytes"), std::string::npos) << m.message;
}

TEST(Step, PrometheusDurationsAndPlainSeconds) {
  EXPECT_EQ(*ParseStep("60s"), 60'000'000);
  EXPECT_EQ(*ParseStep("60"), 60'000'000);
  EXPECT_EQ(*ParseStep("1m"), 60'000'000);
  EXPECT_EQ(*ParseStep("1h30m"), 5'400'000'000);
  EXPECT_EQ(*ParseStep("1m500ms"), 60'500'000);
  EXPECT_EQ(*ParseStep("250ms"), 250'000);
  EXPECT_EQ(*ParseStep("1d"), 86'400'000'000);
  EXPECT_EQ(*ParseStep("2w"), 1'209'600'000'000);
  for (const char* bad : {"", "0", "0s", "s", "60x", "1.5m", "-60s", "30s1m", "1m1m", "60 s", "1e3",
                          "9999999999999w", "60s ", "m1"}) {
    EXPECT_FALSE(ParseStep(bad)) << bad;
  }
}

TEST(TelemetryQuery, StepAndAggregationAreParsedAndForwarded) {
  auto q = ParseTelemetryQuery("GPU-1", {{"step", "60s"}, {"agg", "max"}});
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->step_us, 60'000'000);
  EXPECT_EQ(q->agg, "max");
  const std::string target = CollectorTelemetryTarget(*q, 3);
  EXPECT_NE(target.find("&step_us=60000000&agg=max"), std::string::npos) << target;
  // A downsampled query defaults to the largest page, a raw one to 1000.
  EXPECT_EQ(q->limit, 10000);
  EXPECT_EQ(ParseTelemetryQuery("GPU-1", {{"step", "60s"}, {"limit", "5"}})->limit, 5);
  EXPECT_EQ(ParseTelemetryQuery("GPU-1", {})->limit, 1000);
  // avg is the default aggregation; raw queries forward neither.
  EXPECT_EQ(ParseTelemetryQuery("GPU-1", {{"step", "1m"}})->agg, "avg");
  EXPECT_EQ(CollectorTelemetryTarget(*ParseTelemetryQuery("GPU-1", {}), 3).find("step_us"), std::string::npos);
  EXPECT_EQ(TelemetryError({{"agg", "avg"}}).parameter, "agg");  // needs step
  EXPECT_EQ(TelemetryError({{"step", "60s"}, {"agg", "median"}}).parameter, "agg");
  EXPECT_EQ(TelemetryError({{"step", "soon"}}).parameter, "step");
  EXPECT_EQ(TelemetryError({{"step", "0ms"}}).parameter, "step");
  EXPECT_EQ(TelemetryError({{"step", "367d"}}).parameter, "step");
  EXPECT_EQ(TelemetryError({{"step", "500us"}}).parameter, "step");
}

TEST(TelemetryQuery, ACursorBelongsToItsStepAndAggregation) {
  auto q = ParseTelemetryQuery("GPU-1", {{"step", "60s"}, {"agg", "max"}});
  ASSERT_TRUE(q);
  const std::string cursor = EncodeCursor({60'000'000, "M"}, q->Scope());
  EXPECT_TRUE(ParseTelemetryQuery("GPU-1", {{"step", "60s"}, {"agg", "max"}, {"cursor", cursor}}));
  EXPECT_TRUE(ParseTelemetryQuery("GPU-1", {{"step", "1m"}, {"agg", "max"}, {"cursor", cursor}}));  // same step
  EXPECT_EQ(TelemetryError({{"step", "60s"}, {"agg", "min"}, {"cursor", cursor}}).parameter, "cursor");
  EXPECT_EQ(TelemetryError({{"step", "30s"}, {"agg", "max"}, {"cursor", cursor}}).parameter, "cursor");
  EXPECT_EQ(TelemetryError({{"cursor", cursor}}).parameter, "cursor");
}

TEST(TelemetryQuery, AWindowInsideOneMicrosecondIsValidAndEmpty) {
  auto q = ParseTelemetryQuery(
      "GPU-1", {{"start_time", "2025-07-18T20:42:34.0000005Z"}, {"end_time", "2025-07-18T20:42:34.0000005Z"}});
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_GT(*q->start_us, *q->end_us);  // rounded inward past each other
  EXPECT_TRUE(q->EmptyWindow());
  q = ParseTelemetryQuery("GPU-1", {{"start_time", "2025-07-18T20:42:34Z"}, {"end_time", "2025-07-18T20:42:34Z"}});
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->EmptyWindow());
  EXPECT_FALSE(ParseTelemetryQuery("GPU-1", {})->EmptyWindow());
}

TEST(CollectorTarget, ForwardsEveryValuePercentEncoded) {
  auto q = ParseTelemetryQuery("GPU 1&x#%+/", {{"metric", "a b&c"}, {"limit", "5"}});
  ASSERT_FALSE(q);  // '/' is refused
  q = ParseTelemetryQuery("GPU 1&x#%+?", {{"metric", "a b&c=d#e%f+g"},
                                          {"limit", "5"},
                                          {"start_time", "1970-01-01T00:00:01Z"},
                                          {"end_time", "1970-01-01T00:00:02Z"}});
  ASSERT_TRUE(q) << q.error().message;
  q->after = CursorPosition{1'500'000, "X&limit=1 y"};
  EXPECT_EQ(CollectorTelemetryTarget(*q, 3),
            "/internal/v1/gpus/GPU%201%26x%23%25%2B%3F/telemetry?partition=3&limit=5&start_us=1000000&end_us=2000000"
            "&metric=a%20b%26c%3Dd%23e%25f%2Bg&after_us=1500000&after_metric=X%26limit%3D1%20y");
  EXPECT_EQ(CollectorGpuTarget("GPU 1&x", 0), "/internal/v1/gpus/GPU%201%26x?partition=0");
  EXPECT_EQ(CollectorGpuTarget("GPU-5fd4f087-86f3", 7), "/internal/v1/gpus/GPU-5fd4f087-86f3?partition=7");
}

TEST(TelemetryQuery, CursorMustComeFromTheSameQuery) {
  QueryParams p{{"start_time", "1970-01-01T00:00:01Z"}, {"metric", "M"}};
  auto q = ParseTelemetryQuery("GPU-1", p);
  ASSERT_TRUE(q);
  const std::string cursor = EncodeCursor({1'500'000, "M"}, q->Scope());
  p.emplace("cursor", cursor);
  auto next = ParseTelemetryQuery("GPU-1", p);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->after->after_us, 1'500'000);
  // Page size may change between pages.
  p.emplace("limit", "5");
  EXPECT_TRUE(ParseTelemetryQuery("GPU-1", p));
  EXPECT_EQ(TelemetryError({{"cursor", cursor}}).parameter, "cursor");
  EXPECT_EQ(
      TelemetryError({{"start_time", "1970-01-01T00:00:01Z"}, {"metric", "M"}, {"cursor", cursor}}, "GPU-2").parameter,
      "cursor");
  EXPECT_EQ(TelemetryError({{"cursor", "garbage!"}}).parameter, "cursor");
  // The check is no secret: a forged cursor without a metric name passes it
  // but is still refused, naming the cursor (the collector would say 400).
  QueryParams forged{{"cursor", EncodeCursor({1, ""}, ParseTelemetryQuery("GPU-1", {})->Scope())}};
  EXPECT_EQ(TelemetryError(forged).parameter, "cursor");
}

TEST(CheckQuery, RoutesWithoutParametersRefuseAny) {
  auto e = CheckQuery(RouteFor(RouteId::kListGpus), {{"limit", "5"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "unknown_parameter");
  EXPECT_FALSE(CheckQuery(RouteFor(RouteId::kListGpus), {}));
}

TEST(ErrorJson, HasTheDocumentedShape) {
  const auto j = nlohmann::json::parse(ErrorJson({400, "invalid_parameter", "limit", "bad \"x\""}));
  EXPECT_EQ(j["error"]["status"], 400);
  EXPECT_EQ(j["error"]["code"], "invalid_parameter");
  EXPECT_EQ(j["error"]["parameter"], "limit");
  EXPECT_EQ(j["error"]["message"], "bad \"x\"");
  EXPECT_FALSE(
      nlohmann::json::parse(ErrorJson({503, "partition_unavailable", "", "m"}))["error"].contains("parameter"));
}

}  // namespace
}  // namespace telemq::gateway
