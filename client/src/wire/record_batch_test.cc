#include "telemq/wire/record_batch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "telemq/wire/batch_format.h"
#include "telemq/wire/endian.h"

namespace telemq::wire {
namespace {

struct Rec {
  int64_t ts;
  std::optional<std::string> key, value;
};

std::vector<Rec> DecodeAll(std::span<const std::byte> batch) {
  auto header = ValidateBatch(batch);
  EXPECT_TRUE(header.has_value()) << header.error().ToString();
  std::vector<Rec> out;
  BatchReader reader;
  auto r = reader.Decode(batch, *header, [&](const RecordView& v) {
    Rec rec{v.timestamp_ms, {}, {}};
    if (v.key) rec.key = std::string(*v.key);
    if (v.value) rec.value = std::string(*v.value);
    out.push_back(rec);
  });
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return out;
}

class CodecRoundTrip : public ::testing::TestWithParam<Codec> {};

TEST_P(CodecRoundTrip, RecordsComeBackByteIdentical) {
  std::mt19937_64 rng(42);
  BatchBuilder builder(GetParam());
  std::vector<Rec> in;
  for (int i = 0; i < 500; ++i) {
    Rec r{1'700'000'000'000 + i * 7, std::nullopt, std::string(rng() % 300, 'a' + i % 26)};
    if (i % 3 != 0) r.key = "gpu-" + std::to_string(rng());
    if (i % 50 == 0) r.value.reset();
    builder.Add(r.ts, r.key, r.value);
    in.push_back(r);
  }
  auto batch = builder.Finish(ProducerId(7), 1, 100);
  ASSERT_TRUE(batch.has_value());
  auto header = ValidateBatch(*batch);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->record_count, 500);
  EXPECT_EQ(header->codec(), GetParam());
  EXPECT_EQ(header->producer_id, ProducerId(7));
  EXPECT_EQ(header->last_sequence(), 100 + 499);
  auto out = DecodeAll(*batch);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].ts, in[i].ts);
    EXPECT_EQ(out[i].key, in[i].key);
    EXPECT_EQ(out[i].value, in[i].value);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecRoundTrip, ::testing::Values(Codec::kNone, Codec::kLz4, Codec::kZstd));

std::vector<std::byte> SmallBatch(Codec codec = Codec::kNone) {
  BatchBuilder builder(codec);
  builder.Add(1000, "k", "v1");
  builder.Add(1001, "k", "v2");
  return *builder.Finish();
}

TEST(BatchHeader, StampingOffsetAndTermKeepsChecksumValid) {
  auto batch = SmallBatch();
  StampBaseOffset(batch, Offset(12345));
  StampLeaderTerm(batch, Term(9));
  auto header = ValidateBatch(batch);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->base_offset, Offset(12345));
  EXPECT_EQ(header->leader_term, Term(9));
  EXPECT_EQ(header->next_offset(), Offset(12347));
}

TEST(BatchHeader, RestampedSequenceIsCheckedAndKeepsTheRecords) {
  BatchBuilder builder;
  builder.Add(1000, "k", "v1");
  builder.Add(1001, "k", "v2");
  auto batch = *builder.Finish(ProducerId(7), 0, 40);
  RestampBaseSequence(batch, 25);
  auto header = ValidateBatch(batch);
  ASSERT_TRUE(header.has_value()) << header.error().ToString();
  EXPECT_EQ(header->base_sequence, 25);
  EXPECT_EQ(header->last_sequence(), 26);
  EXPECT_EQ(header->producer_id, ProducerId(7));
  std::vector<std::string> values;
  ASSERT_TRUE(BatchReader().Decode(batch, *header, [&](const RecordView& r) { values.emplace_back(*r.value); }));
  EXPECT_EQ(values, (std::vector<std::string>{"v1", "v2"}));
  // Only the checksum makes the new sequence valid: the field alone is not.
  StoreLE<int32_t>(batch.data() + batch::kBaseSequence, 26);
  EXPECT_FALSE(ValidateBatch(batch).has_value());
}

TEST(BatchHeader, EveryFlippedBitOutsideStampedFieldsIsDetected) {
  for (Codec codec : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    const auto good = SmallBatch(codec);
    for (size_t byte = 0; byte < good.size(); ++byte) {
      if (byte < batch::kBatchLength || (byte >= batch::kLeaderTerm && byte < batch::kMagic)) continue;
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = good;
        bad[byte] ^= std::byte(1 << bit);
        EXPECT_FALSE(ValidateBatch(bad).has_value()) << "byte " << byte << " bit " << bit;
      }
    }
  }
}

TEST(BatchHeader, RejectsTruncatedBatches) {
  const auto good = SmallBatch();
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(ValidateBatch(std::span(good).first(n)).has_value()) << n;
  }
}

TEST(BatchHeader, RejectsBatchAboveConfiguredLimit) {
  const auto good = SmallBatch();
  auto r = ValidateBatch(good, static_cast<int32_t>(good.size()) - 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kMessageTooLarge);
}

TEST(BatchIterator, WalksConcatenatedBatchesAndStopsAtGarbage) {
  auto a = SmallBatch();
  auto b = SmallBatch(Codec::kLz4);
  std::vector<std::byte> buf(a);
  buf.insert(buf.end(), b.begin(), b.end());
  buf.push_back(std::byte{0x42});
  BatchIterator it(buf);
  BatchHeader h;
  ASSERT_TRUE(it.Next(&h).has_value());
  ASSERT_TRUE(it.Next(&h).has_value());
  EXPECT_FALSE(it.Done());
  EXPECT_FALSE(it.Next(&h).has_value());
}

TEST(BatchReader, RejectsCompressedSectionClaimingHugeSize) {
  auto batch = SmallBatch(Codec::kZstd);
  // Overwrite the declared uncompressed size, then re-checksum so only the
  // reader's bound can catch it.
  const uint32_t huge = 0xFFFFFFF0u;
  std::memcpy(batch.data() + batch::kHeaderSize, &huge, 4);
  const uint64_t sum = ComputeChecksum(batch);
  std::memcpy(batch.data() + batch::kChecksum, &sum, 8);
  auto header = ValidateBatch(batch);
  ASSERT_TRUE(header.has_value());
  BatchReader reader;
  auto r = reader.Decode(batch, *header, [](const RecordView&) {});
  EXPECT_FALSE(r.has_value());
}

TEST(BatchReader, ControlBatchDecodesToNoRecords) {
  auto batch = SmallBatch(Codec::kNone);
  uint16_t attributes;
  std::memcpy(&attributes, batch.data() + batch::kAttributes, 2);
  attributes |= batch::kControlFlag;
  std::memcpy(batch.data() + batch::kAttributes, &attributes, 2);
  const uint64_t sum = ComputeChecksum(batch);
  std::memcpy(batch.data() + batch::kChecksum, &sum, 8);
  auto header = ValidateBatch(batch);
  ASSERT_TRUE(header.has_value());
  ASSERT_TRUE(header->is_control());
  EXPECT_TRUE(DecodeAll(batch).empty());
  // Still checked: a control batch with a broken record is corrupt.
  RecordView scratch;
  auto section = std::span<const std::byte>(batch).subspan(batch::kHeaderSize);
  EXPECT_FALSE(
      DecodeRecordSection(section.first(section.size() - 1), *header, &scratch, [](const RecordView&) {}).has_value());
}

TEST(BatchBuilder, EmptyBatchCannotBeFinished) {
  BatchBuilder builder;
  EXPECT_FALSE(builder.Finish().has_value());
}

}  // namespace
}  // namespace telemq::wire
