#include "broker/storage/segment.h"

#include <gtest/gtest.h>

namespace telemq::storage::detail {
namespace {

wire::BatchHeader Batch(int64_t base, int32_t length, int64_t max_ts, int32_t records = 1) {
  wire::BatchHeader h;
  h.base_offset = Offset(base);
  h.batch_length = length;
  h.last_offset_delta = records - 1;
  h.record_count = records;
  h.first_timestamp_ms = max_ts;
  h.max_timestamp_ms = max_ts;
  return h;
}

TEST(SegmentNameTest, TwentyDigitsRoundTrip) {
  EXPECT_EQ(SegmentName(Offset(42), ".log"), "00000000000000000042.log");
  EXPECT_EQ(ParseSegmentName("00000000000000000042.log", ".log"), Offset(42));
  EXPECT_EQ(ParseSegmentName("00000000000000000042.index", ".log"), std::nullopt);
  EXPECT_EQ(ParseSegmentName("0000000000000000042.log", ".log"), std::nullopt);
  EXPECT_EQ(ParseSegmentName("0000000000000000004x.log", ".log"), std::nullopt);
}

TEST(SegmentIndexTest, AddsOneEntryPerIntervalAndFindsFloors) {
  SegmentIndex index(Offset(100), 1000);
  uint64_t pos = 0;
  for (int i = 0; i < 10; ++i) {  // 10 batches of 400 bytes, 2 records each
    index.Add(pos, Batch(100 + 2 * i, 400, 1000 + i, 2));
    pos += 400;
  }
  // Entries at the batches starting at 1200, 2400, 3600 (after >= 1000 bytes).
  ASSERT_EQ(index.entry_count(), 3u);
  EXPECT_EQ(index.FloorByOffset(Offset(100)).position, 0u);
  EXPECT_EQ(index.FloorByOffset(Offset(105)).position, 0u);
  EXPECT_EQ(index.FloorByOffset(Offset(106)).position, 1200u);
  EXPECT_EQ(index.FloorByOffset(Offset(119)).position, 3600u);
  EXPECT_EQ(index.FloorByPosition(2399).offset, Offset(106));
  EXPECT_EQ(index.FloorByPosition(2400).offset, Offset(112));
  EXPECT_EQ(index.max_timestamp_ms(), 1009);
}

TEST(SegmentIndexTest, EncodedIndexesLoadBackAndBadOnesAreRejected) {
  SegmentIndex index(Offset(0), 100);
  uint64_t pos = 0;
  for (int i = 0; i < 20; ++i) {
    index.Add(pos, Batch(i, 150, 10 * i));
    pos += 150;
  }
  index.Seal();
  SegmentIndex loaded(Offset(0), 100);
  ASSERT_TRUE(loaded.Load(index.EncodeIndex(), index.EncodeTimeIndex(), pos));
  EXPECT_EQ(loaded.entry_count(), index.entry_count());
  EXPECT_EQ(loaded.max_timestamp_ms(), 190);
  EXPECT_EQ(loaded.LastTimeBefore(100)->timestamp_ms, 90);
  EXPECT_EQ(loaded.LastTimeBefore(0), std::nullopt);

  SegmentIndex short_log(Offset(0), 100);
  EXPECT_FALSE(short_log.Load(index.EncodeIndex(), index.EncodeTimeIndex(), 1000));  // entries past the end
  auto torn = index.EncodeIndex();
  torn.pop_back();
  EXPECT_FALSE(short_log.Load(torn, index.EncodeTimeIndex(), pos));
  auto swapped = index.EncodeIndex();
  std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 8);
  EXPECT_FALSE(short_log.Load(swapped, index.EncodeTimeIndex(), pos));
}

}  // namespace
}  // namespace telemq::storage::detail
