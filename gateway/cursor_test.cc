#include "gateway/cursor.h"

#include <gtest/gtest.h>

namespace telemq::gateway {
namespace {

const CursorScope kScope{"GPU-abc", 1'000, 2'000, ""};

TEST(Cursor, RoundTrips) {
  const CursorPosition p{1'752'871'354'123'456, "DCGM_FI_DEV_GPU_UTIL"};
  const std::string c = EncodeCursor(p, kScope);
  auto back = DecodeCursor(c, kScope);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, p);
}

TEST(Cursor, IsUrlSafeText) {
  const std::string c = EncodeCursor({-5, "m"}, kScope);
  for (char ch : c) EXPECT_TRUE(isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') << c;
}

TEST(Cursor, BelongsToItsQuery) {
  const std::string c = EncodeCursor({1'500, "X"}, kScope);
  EXPECT_FALSE(DecodeCursor(c, {"GPU-abd", 1'000, 2'000, ""}));
  EXPECT_FALSE(DecodeCursor(c, {"GPU-abc", 1'001, 2'000, ""}));
  EXPECT_FALSE(DecodeCursor(c, {"GPU-abc", std::nullopt, 2'000, ""}));
  EXPECT_FALSE(DecodeCursor(c, {"GPU-abc", 1'000, std::nullopt, ""}));
  EXPECT_FALSE(DecodeCursor(c, {"GPU-abc", 1'000, 2'000, "X"}));
  EXPECT_TRUE(DecodeCursor(c, kScope));
}

TEST(Cursor, AbsentBoundDiffersFromZero) {
  const std::string c = EncodeCursor({1, "X"}, {"g", std::nullopt, std::nullopt, ""});
  EXPECT_FALSE(DecodeCursor(c, {"g", 0, 0, ""}));
}

TEST(Cursor, AnyFlippedBitIsDetected) {
  const std::string c = EncodeCursor({1'752'871'354'123'456, "DCGM_FI_DEV_POWER_USAGE"}, kScope);
  auto raw = Base64UrlDecode(c);
  ASSERT_TRUE(raw);
  for (size_t i = 0; i < raw->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = *raw;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      EXPECT_FALSE(DecodeCursor(Base64UrlEncode(t), kScope)) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Cursor, GarbageIsRejected) {
  for (const char* bad :
       {"", "x", "!!!!", "AAAA", "not a cursor", "eyJhZnRlciI6MX0", "====", "AQAAAAAAAAAAAAAAAAAAAAAA"}) {
    auto r = DecodeCursor(bad, kScope);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    }
  }
  EXPECT_FALSE(DecodeCursor(std::string(5000, 'A'), kScope));
}

TEST(Cursor, AnyMetricNameRoundTripsButNotAnEmptyOne) {
  for (const std::string metric : {"a b&c=d#e%f+g", "X&limit=1", "\xc3\xa9"}) {
    auto p = DecodeCursor(EncodeCursor({7, metric}, kScope), kScope);
    ASSERT_TRUE(p) << metric;
    EXPECT_EQ(p->after_metric, metric);
  }
  // Correctly checked (the check is no secret), but no page ends on a point
  // without a metric name.
  auto empty = DecodeCursor(EncodeCursor({7, ""}, kScope), kScope);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Errc::kInvalidArgument);
}

TEST(Base64Url, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_FALSE(Base64UrlDecode("Zh"));  // non-zero trailing bits: not canonical
  EXPECT_FALSE(Base64UrlDecode("Zm9v+A"));
}

}  // namespace
}  // namespace telemq::gateway
