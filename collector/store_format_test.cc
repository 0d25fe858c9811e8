#include "collector/store_format.h"

#include <gtest/gtest.h>

#include <bit>
#include <limits>
#include <tuple>
#include <vector>

namespace telemq::collector::format {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(StoreFormatTest, DataKeysSortByGpuThenTimeIncludingNegativeTimes) {
  std::vector<DataKey> keys;
  for (GpuSid gpu : {0u, 1u, 255u, 256u, 0xFFFFFFFFu}) {
    for (int64_t ts : {kMin, kMin + 1, int64_t{-1'000'000'000'000}, int64_t{-1}, int64_t{0}, int64_t{1},
                       int64_t{1'752'845'000'000'000}, kMax - 1, kMax}) {
      keys.push_back({gpu, ts});
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = 0; j < keys.size(); ++j) {
      const auto& a = keys[i];
      const auto& b = keys[j];
      const bool tuple_less = std::tie(a.gpu, a.timestamp_us) < std::tie(b.gpu, b.timestamp_us);
      EXPECT_EQ(tuple_less, DataKeyString(a) < DataKeyString(b)) << i << " vs " << j;
    }
  }
}

TEST(StoreFormatTest, DataKeyRoundTripsAndRejectsOtherBytes) {
  const DataKey k{42, -7};
  const std::string s = DataKeyString(k);
  ASSERT_EQ(s.size(), kDataKeySize);
  EXPECT_EQ(s[0], 'D');
  EXPECT_EQ(DecodeDataKey(s), k);
  EXPECT_FALSE(DecodeDataKey(s.substr(0, 12)));
  EXPECT_FALSE(DecodeDataKey(s + "xy"));  // a version-1 key (15 bytes) is not a key of this format
  std::string other = s;
  other[0] = 'G';
  EXPECT_FALSE(DecodeDataKey(other));
}

TEST(StoreFormatTest, InclusiveUpperBoundSitsBetweenTheKeyOfATimeAndTheNextTime) {
  for (int64_t ts : {kMin, int64_t{-1}, int64_t{0}, int64_t{99}}) {
    const std::string hi = DataUpperBoundInclusive(3, ts);
    EXPECT_LT(DataKeyString({3, ts}), hi);
    EXPECT_GT(DataKeyString({3, ts + 1}), hi);
    EXPECT_GT(DataKeyString({4, kMin}), hi);
    EXPECT_EQ(DataLowerBound(3, ts), DataKeyString({3, ts}));
  }
  EXPECT_LT(DataKeyString({3, kMax}), GpuDataEnd(3));
  EXPECT_GT(DataKeyString({4, kMin}), GpuDataEnd(3));
  EXPECT_LT(DataKeyString({0xFFFFFFFF, kMax}), GpuDataEnd(0xFFFFFFFF));
}

TEST(StoreFormatTest, RowRoundTripsValuesBitExactly) {
  std::vector<RowEntry> entries;
  MetricId m = 0;
  for (double v : {0.0, -0.0, 1.5, -273.15, 81007.0, 1e300, std::numeric_limits<double>::denorm_min()}) {
    entries.push_back({m, v});
    m = static_cast<MetricId>(m * 3 + 1);
  }
  entries.push_back({0xFFFF, 42});
  std::string bytes;
  EncodeRow(entries, &bytes);
  ASSERT_EQ(bytes.size(), 2 + kRowEntryBytes * entries.size());
  EXPECT_EQ(RowSize(bytes), entries.size());
  auto row = RowView::Parse(bytes);
  ASSERT_TRUE(row);
  ASSERT_EQ(row->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(row->metric(i), entries[i].metric);
    EXPECT_EQ(std::bit_cast<uint64_t>(row->value(i)), std::bit_cast<uint64_t>(entries[i].value)) << i;
    EXPECT_EQ(row->Find(entries[i].metric), static_cast<ptrdiff_t>(i));
  }
  EXPECT_EQ(row->Find(2), -1);
  EXPECT_EQ(row->Find(0xFFFE), -1);
}

TEST(StoreFormatTest, MalformedRowsAreRefused) {
  std::string bytes;
  EncodeRow(std::vector<RowEntry>{{1, 1.0}, {4, 2.0}}, &bytes);
  ASSERT_TRUE(RowView::Parse(bytes));
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(RowView::Parse(bytes.substr(0, n))) << n;
  EXPECT_FALSE(RowView::Parse(bytes + "x"));
  std::string empty;
  EncodeRow({}, &empty);
  EXPECT_FALSE(RowView::Parse(empty));  // a row holds at least one point
  std::string unordered;
  EncodeRow(std::vector<RowEntry>{{4, 1.0}, {1, 2.0}}, &unordered);
  EXPECT_FALSE(RowView::Parse(unordered));
  std::string twice;
  EncodeRow(std::vector<RowEntry>{{4, 1.0}, {4, 2.0}}, &twice);
  EXPECT_FALSE(RowView::Parse(twice));
  EXPECT_FALSE(RowView::Parse(std::string(8, '\0')));  // a version-1 value (one f64)
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
  EXPECT_EQ(kFormatVersion, 2);
  auto v = DecodeVersionRecord(EncodeVersionRecord({kFormatVersion, "gpu.telemetry"}));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version, kFormatVersion);
  EXPECT_EQ(v->topic, "gpu.telemetry");
  EXPECT_EQ(*DecodeMetricId(EncodeMetricId(0xBEEF)), 0xBEEF);
}

TEST(StoreFormatTest, TopicIdRoundTripsAndZeroOrShortIsCorrupt) {
  EXPECT_EQ(*DecodeTopicId(EncodeTopicId(0x0123456789ABCDEFull)), 0x0123456789ABCDEFull);
  EXPECT_EQ(DecodeTopicId(EncodeTopicId(0)).error().code(), Errc::kCorrupt);
  EXPECT_EQ(DecodeTopicId("1234567").error().code(), Errc::kCorrupt);
}

}  // namespace
}  // namespace telemq::collector::format
