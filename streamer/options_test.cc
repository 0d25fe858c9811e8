#include "streamer/options.h"

#include <gtest/gtest.h>

namespace telemq::streamer {
namespace {

using std::chrono::microseconds;

TEST(SourceSpecTest, CsvTakesTheRestAsPath) {
  auto s = ParseSourceSpec("csv:/data/a:b.csv");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->kind, SourceKind::kCsv);
  EXPECT_EQ(s->path, "/data/a:b.csv");
}

TEST(SourceSpecTest, SyntheticWithAndWithoutSeed) {
  auto s = ParseSourceSpec("synthetic:hosts=32,gpus=8");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->kind, SourceKind::kSynthetic);
  EXPECT_EQ(s->hosts, 32);
  EXPECT_EQ(s->gpus, 8);
  EXPECT_EQ(s->seed, 1u);
  auto seeded = ParseSourceSpec("synthetic:seed=7,gpus=4,hosts=3");
  ASSERT_TRUE(seeded);
  EXPECT_EQ(seeded->seed, 7u);
  EXPECT_EQ(seeded->hosts, 3);
}

TEST(SourceSpecTest, MalformedSpecsAreRejectedWithAReason) {
  for (const char* bad : {"", "csv", "csv:", "kafka:topic", "synthetic", "synthetic:", "synthetic:hosts=3",
                          "synthetic:gpus=8", "synthetic:hosts=0,gpus=8", "synthetic:hosts=-1,gpus=8",
                          "synthetic:hosts=x,gpus=8", "synthetic:hosts=3,gpus=65", "synthetic:hosts=3,gpus=8,seed=-1",
                          "synthetic:hosts=3,gpus=8,color=red", "synthetic:hosts=3,hosts=4,gpus=8",
                          "synthetic:hosts=3,gpus", "synthetic:hosts=3 ,gpus=8", "synthetic:hosts=100001,gpus=1"}) {
    auto s = ParseSourceSpec(bad);
    ASSERT_FALSE(s) << "accepted '" << bad << "'";
    EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
    EXPECT_FALSE(s.error().message().empty());
  }
}

TEST(DurationTest, UnitsAndFractions) {
  EXPECT_EQ(*ParseDuration("0"), microseconds(0));
  EXPECT_EQ(*ParseDuration("0s"), microseconds(0));
  EXPECT_EQ(*ParseDuration("250us"), microseconds(250));
  EXPECT_EQ(*ParseDuration("500ms"), microseconds(500'000));
  EXPECT_EQ(*ParseDuration("1s"), microseconds(1'000'000));
  EXPECT_EQ(*ParseDuration("1.5s"), microseconds(1'500'000));
  EXPECT_EQ(*ParseDuration("2m"), microseconds(120'000'000));
}

TEST(DurationTest, MalformedDurationsAreRejected) {
  for (const char* bad : {"", "1", "s", "-1s", "1h", "1 s", "1.2.3s", "ms", "2d", "1e3s", "25h"}) {
    EXPECT_FALSE(ParseDuration(bad)) << "accepted '" << bad << "'";
  }
  EXPECT_FALSE(ParseDuration("1441m"));  // more than a day
}

}  // namespace
}  // namespace telemq::streamer
