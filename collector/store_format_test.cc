#include "collector/store_format.h"

#include <gtest/gtest.h>

#include <bit>
#include <limits>
#include <tuple>

namespace telemq::collector::format {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(StoreFormatTest, DataKeysSortByGpuThenTimeThenMetricIncludingNegativeTimes) {
  std::vector<DataKey> keys;
  for (GpuSid gpu : {0u, 1u, 255u, 256u, 0xFFFFFFFFu}) {
    for (int64_t ts : {kMin, kMin + 1, int64_t{-1'000'000'000'000}, int64_t{-1}, int64_t{0}, int64_t{1},
                       int64_t{1'752'845'000'000'000}, kMax - 1, kMax}) {
      for (MetricId m : {0, 1, 0x100, 0xFFFF}) keys.push_back({gpu, ts, static_cast<MetricId>(m)});
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = 0; j < keys.size(); ++j) {
      const auto& a = keys[i];
      const auto& b = keys[j];
      const bool tuple_less = std::tie(a.gpu, a.timestamp_us, a.metric) < std::tie(b.gpu, b.timestamp_us, b.metric);
      EXPECT_EQ(tuple_less, DataKeyString(a) < DataKeyString(b)) << i << " vs " << j;
    }
  }
}

TEST(StoreFormatTest, DataKeyRoundTripsAndRejectsOtherBytes) {
  const DataKey k{42, -7, 9};
  const std::string s = DataKeyString(k);
  ASSERT_EQ(s.size(), kDataKeySize);
  EXPECT_EQ(s[0], 'D');
  EXPECT_EQ(DecodeDataKey(s), k);
  EXPECT_FALSE(DecodeDataKey(s.substr(0, 14)));
  EXPECT_FALSE(DecodeDataKey(s + "x"));
  std::string other = s;
  other[0] = 'G';
  EXPECT_FALSE(DecodeDataKey(other));
}

TEST(StoreFormatTest, InclusiveUpperBoundSitsBetweenTheLastKeyOfATimeAndTheNextTime) {
  for (int64_t ts : {kMin, int64_t{-1}, int64_t{0}, int64_t{99}}) {
    const std::string hi = DataUpperBoundInclusive(3, ts);
    EXPECT_LT(DataKeyString({3, ts, 0}), hi);
    EXPECT_LT(DataKeyString({3, ts, 0xFFFF}), hi);
    EXPECT_GT(DataKeyString({3, ts + 1, 0}), hi);
    EXPECT_GT(DataKeyString({4, kMin, 0}), hi);
    EXPECT_EQ(DataLowerBound(3, ts), DataKeyString({3, ts, 0}));
  }
  EXPECT_LT(DataKeyString({3, kMax, 0xFFFF}), GpuDataEnd(3));
  EXPECT_GT(DataKeyString({4, kMin, 0}), GpuDataEnd(3));
  EXPECT_LT(DataKeyString({0xFFFFFFFF, kMax, 0xFFFF}), GpuDataEnd(0xFFFFFFFF));
}

TEST(StoreFormatTest, ValueRoundTripsBitExactly) {
  char buf[kDataValueSize];
  for (double v : {0.0, -0.0, 1.5, -273.15, 81007.0, 1e300, std::numeric_limits<double>::denorm_min()}) {
    EncodeValue(v, buf);
    auto back = DecodeValue(std::string_view(buf, sizeof buf));
    ASSERT_TRUE(back);
    EXPECT_EQ(std::bit_cast<uint64_t>(*back), std::bit_cast<uint64_t>(v));
  }
  EXPECT_FALSE(DecodeValue("1234567"));
}

TEST(StoreFormatTest, GpuRecordRoundTripsAndEveryTruncationIsAnError) {
  const GpuRecord r{7, 3, "nvidia3", "NVIDIA H100 80GB HBM3", "host-0001", {0, 2, 9}};
  const std::string bytes = EncodeGpuRecord(r);
  auto back = DecodeGpuRecord(bytes);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, r);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeGpuRecord(bytes.substr(0, n))) << n;
  }
  EXPECT_EQ(DecodeGpuRecord(bytes + "x").error().code(), Errc::kCorrupt);
  std::string other = bytes;
  other[0] = 9;
  EXPECT_EQ(DecodeGpuRecord(other).error().code(), Errc::kUnsupportedVersion);
}

TEST(StoreFormatTest, OffsetAndVersionRecordsRoundTrip) {
  const OffsetRecord o{Offset(123456789), 42};
  EXPECT_EQ(*DecodeOffsetRecord(EncodeOffsetRecord(o)), o);
  EXPECT_FALSE(DecodeOffsetRecord("short"));
  auto v = DecodeVersionRecord(EncodeVersionRecord({kFormatVersion, "gpu.telemetry"}));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version, kFormatVersion);
  EXPECT_EQ(v->topic, "gpu.telemetry");
  EXPECT_EQ(*DecodeMetricId(EncodeMetricId(0xBEEF)), 0xBEEF);
}

}  // namespace
}  // namespace telemq::collector::format
