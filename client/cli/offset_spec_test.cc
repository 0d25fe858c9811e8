#include "offset_spec.h"

#include <gtest/gtest.h>

namespace telemq::cli {
namespace {

TEST(ParseResetFlagsTest, EachFormSelectsItsKind) {
  EXPECT_EQ(ParseResetFlags({.to_earliest = true})->kind, OffsetResetSpec::Kind::kEarliest);
  EXPECT_EQ(ParseResetFlags({.to_latest = true})->kind, OffsetResetSpec::Kind::kLatest);
  auto ts = ParseResetFlags({.to_timestamp = "1712345678901"});
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->kind, OffsetResetSpec::Kind::kTimestamp);
  EXPECT_EQ(ts->value, 1712345678901);
  auto off = ParseResetFlags({.to_offset = "0"});
  ASSERT_TRUE(off);
  EXPECT_EQ(off->kind, OffsetResetSpec::Kind::kOffset);
  EXPECT_EQ(off->value, 0);
}

TEST(ParseResetFlagsTest, NoneOrSeveralFlagsAreRejected) {
  EXPECT_FALSE(ParseResetFlags({}));
  EXPECT_FALSE(ParseResetFlags({.to_earliest = true, .to_latest = true}));
  EXPECT_FALSE(ParseResetFlags({.to_latest = true, .to_offset = "5"}));
}

TEST(ParseResetFlagsTest, MalformedNumbersAreRejected) {
  for (const char* bad : {"", "-1", "+3", "1e3", " 7", "12x", "99999999999999999999"}) {
    EXPECT_FALSE(ParseResetFlags({.to_offset = std::string(bad)})) << bad;
    EXPECT_FALSE(ParseResetFlags({.to_timestamp = std::string(bad)})) << bad;
  }
}

TEST(ParseNonNegativeTest, AcceptsTheLargestInt64) {
  EXPECT_EQ(*ParseNonNegative("9223372036854775807", "n"), INT64_MAX);
  EXPECT_FALSE(ParseNonNegative("9223372036854775808", "n"));
}

TEST(AssignmentLineTest, ListsPartitionsAsTopicColonPartition) {
  EXPECT_EQ(AssignmentLine("ASSIGNED", 17, {{"t", 0}, {"t", 3}}), "ASSIGNED 17 t:0,t:3");
  EXPECT_EQ(AssignmentLine("LOST", 5, {}), "LOST 5 ");
}

}  // namespace
}  // namespace telemq::cli
