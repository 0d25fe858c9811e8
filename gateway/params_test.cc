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

TEST(TelemetryQuery, IdAndMetricMustBeNames) {
  EXPECT_EQ(TelemetryError({}, "GPU/1").parameter, "id");
  EXPECT_EQ(TelemetryError({}, "").parameter, "id");
  EXPECT_EQ(TelemetryError({}, std::string(129, 'a')).parameter, "id");
  EXPECT_EQ(TelemetryError({{"metric", "a b"}}).parameter, "metric");
  EXPECT_EQ(TelemetryError({{"metric", ""}}).parameter, "metric");
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
