#include "gateway/rfc3339.h"

#include <gtest/gtest.h>

namespace telemq::gateway {
namespace {

constexpr int64_t kT = 1752871354;  // 2025-07-18T20:42:34Z

int64_t Us(std::string_view s, SubMicros r = SubMicros::kRoundDown) {
  auto v = ParseRfc3339(s, r);
  EXPECT_TRUE(v.has_value()) << s << ": " << (v ? "" : v.error().message());
  return v.value_or(INT64_MIN);
}

TEST(Rfc3339, UtcWithoutFraction) { EXPECT_EQ(Us("2025-07-18T20:42:34Z"), kT * 1'000'000); }

TEST(Rfc3339, LowercaseSeparatorsAreAccepted) { EXPECT_EQ(Us("2025-07-18t20:42:34z"), kT * 1'000'000); }

TEST(Rfc3339, OffsetsAreSubtractedToGetUtc) {
  EXPECT_EQ(Us("2025-07-18T13:42:34-07:00"), kT * 1'000'000);
  EXPECT_EQ(Us("2025-07-19T02:12:34+05:30"), kT * 1'000'000);
  EXPECT_EQ(Us("2025-07-18T20:42:34+00:00"), kT * 1'000'000);
  EXPECT_EQ(Us("2025-07-18T20:42:34-00:00"), kT * 1'000'000);
}

TEST(Rfc3339, UnescapedPlusThatBecameASpaceIsAnOffset) { EXPECT_EQ(Us("2025-07-19T02:12:34 05:30"), kT * 1'000'000); }

TEST(Rfc3339, FractionsUpToMicrosecondsAreExact) {
  EXPECT_EQ(Us("2025-07-18T20:42:34.5Z"), kT * 1'000'000 + 500'000);
  EXPECT_EQ(Us("2025-07-18T20:42:34.000001Z"), kT * 1'000'000 + 1);
  EXPECT_EQ(Us("2025-07-18T20:42:34.123456Z"), kT * 1'000'000 + 123'456);
}

TEST(Rfc3339, NanosecondsRoundTowardsTheInsideOfAnInclusiveWindow) {
  EXPECT_EQ(Us("2025-07-18T20:42:34.123456001Z", SubMicros::kRoundDown), kT * 1'000'000 + 123'456);
  EXPECT_EQ(Us("2025-07-18T20:42:34.123456001Z", SubMicros::kRoundUp), kT * 1'000'000 + 123'457);
  // Zero digits past the microsecond change nothing either way.
  EXPECT_EQ(Us("2025-07-18T20:42:34.123456000Z", SubMicros::kRoundUp), kT * 1'000'000 + 123'456);
  auto exact = ParseRfc3339Exact("2025-07-18T20:42:34.1234567Z");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->extra_ns, 700);
}

TEST(Rfc3339, LeapDayOnlyInLeapYears) {
  EXPECT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z"));
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2025-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2025-04-31T00:00:00Z"));
}

TEST(Rfc3339, LeapSecondCountsAsTheNextMinutesFirstInstant) {
  EXPECT_EQ(Us("2016-12-31T23:59:60Z"), Us("2017-01-01T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2016-12-31T23:59:61Z"));
}

TEST(Rfc3339, EpochAndFarDates) {
  EXPECT_EQ(Us("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(Us("1969-12-31T23:59:59.999999Z"), -1);
  EXPECT_EQ(Us("9999-12-31T23:59:59.999999Z"), 253'402'300'799'999'999);
}

TEST(Rfc3339, GarbageIsRejectedWithAReason) {
  for (const char* bad : {"",
                          "now",
                          "2025-07-18",
                          "2025-07-18T20:42:34",
                          "2025-07-18 20:42:34Z",
                          "2025-7-18T20:42:34Z",
                          "2025-07-18T20:42Z",
                          "2025-13-01T00:00:00Z",
                          "2025-00-01T00:00:00Z",
                          "2025-07-00T00:00:00Z",
                          "2025-07-18T24:00:00Z",
                          "2025-07-18T20:60:00Z",
                          "2025-07-18T20:42:34.Z",
                          "2025-07-18T20:42:34.1234567891Z",
                          "2025-07-18T20:42:34+0700",
                          "2025-07-18T20:42:34+24:00",
                          "2025-07-18T20:42:34+07:60",
                          "2025-07-18T20:42:34Zjunk",
                          "1752871354",
                          "+2025-07-18T20:42:34Z",
                          "2025-07-18T20:42:34,5Z"}) {
    auto r = ParseRfc3339(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
      EXPECT_NE(r.error().message().find("RFC 3339"), std::string::npos);
    }
  }
}

TEST(Rfc3339, FormatIsUtcWithMicroseconds) {
  EXPECT_EQ(FormatRfc3339(kT * 1'000'000), "2025-07-18T20:42:34.000000Z");
  EXPECT_EQ(FormatRfc3339(kT * 1'000'000 + 1), "2025-07-18T20:42:34.000001Z");
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339(951'782'400'000'000), "2000-02-29T00:00:00.000000Z");
}

TEST(Rfc3339, FormatThenParseRoundTrips) {
  for (int64_t us : {int64_t{0}, int64_t{1}, kT * 1'000'000 + 987'654, int64_t{4'102'444'800'000'000} - 1,
                     int64_t{-2'208'988'800'000'000}}) {
    EXPECT_EQ(Us(FormatRfc3339(us)), us) << us;
  }
}

}  // namespace
}  // namespace telemq::gateway
