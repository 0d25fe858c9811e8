#include "telemetry/point.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace telemq::telemetry {
namespace {

TelemetryPoint SamplePoint() {
  TelemetryPoint p;
  p.gpu_uuid = "GPU-5fd4f087-86f3-7a43-b711-4771313afc50";
  p.gpu_id = 3;
  p.device = "nvidia3";
  p.model_name = "NVIDIA H100 80GB HBM3";
  p.hostname = "mtv5-dgx1-hgpu-031";
  p.metric_name = "DCGM_FI_DEV_POWER_USAGE";
  p.value = 689.457;
  p.timestamp_us = 1752871354123456;
  p.labels = {{"Hostname", "mtv5-dgx1-hgpu-031"}, {"job", "dgx_dcgm_exporter"}, {"empty", ""}};
  return p;
}

// Byte offset of the file identifier: after the size prefix and the root offset.
constexpr size_t kIdentifierOffset = 8;

void ExpectCode(const Result<TelemetryPoint>& r, Errc code) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
}

TEST(PointEncodingTest, RoundTripsEveryField) {
  TelemetryPoint p = SamplePoint();
  auto bytes = EncodePoint(p);
  ASSERT_TRUE(bytes) << bytes.error().ToString();
  EXPECT_EQ(bytes->substr(kIdentifierOffset, 4), kPointFileIdentifier);
  auto back = DecodePoint(*bytes);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, p);
}

TEST(PointEncodingTest, RoundTripsNegativeIdsAndEmptyStrings) {
  TelemetryPoint p;
  p.gpu_id = -1;
  p.timestamp_us = -5;
  p.value = -0.25;
  auto back = DecodePoint(*EncodePoint(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, p);
}

TEST(PointEncodingTest, ViewBorrowsFieldsFromTheBytes) {
  std::string bytes = *EncodePoint(SamplePoint());
  auto view = DecodePointView(bytes);
  ASSERT_TRUE(view) << view.error().ToString();
  EXPECT_EQ(view->gpu_uuid, SamplePoint().gpu_uuid);
  EXPECT_GE(view->metric_name.data(), bytes.data());
  EXPECT_LT(view->metric_name.data(), bytes.data() + bytes.size());
  ASSERT_EQ(view->label_count(), 3u);
  EXPECT_EQ(view->label(1), (std::pair<std::string_view, std::string_view>("job", "dgx_dcgm_exporter")));
  EXPECT_EQ(view->ToPoint(), SamplePoint());
}

TEST(PointEncodingTest, ReusedEncoderGivesTheSameBytesAsAFreshOne) {
  PointEncoder encoder;
  TelemetryPoint big = SamplePoint();
  big.labels.assign(50, {"key", std::string(100, 'v')});
  ASSERT_TRUE(encoder.Encode(big));
  TelemetryPoint p = SamplePoint();
  auto reused = encoder.Encode(p);
  ASSERT_TRUE(reused);
  EXPECT_EQ(std::string(*reused), *EncodePoint(p));
}

TEST(PointEncodingTest, EveryTruncationIsRejected) {
  std::string bytes = *EncodePoint(SamplePoint());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodePoint(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code(), Errc::kCorrupt) << n;
  }
}

TEST(PointEncodingTest, TrailingBytesAreRejected) {
  ExpectCode(DecodePoint(*EncodePoint(SamplePoint()) + "x"), Errc::kCorrupt);
  ExpectCode(DecodePoint(*EncodePoint(SamplePoint()) + std::string(8, '\0')), Errc::kCorrupt);
}

TEST(PointEncodingTest, ForeignIdentifierIsCorrupt) {
  std::string bytes = *EncodePoint(SamplePoint());
  std::memcpy(bytes.data() + kIdentifierOffset, "ABCD", 4);
  ExpectCode(DecodePoint(bytes), Errc::kCorrupt);
}

TEST(PointEncodingTest, OtherVersionIsUnsupported) {
  std::string bytes = *EncodePoint(SamplePoint());
  bytes[kIdentifierOffset + 3] = '2';
  ExpectCode(DecodePoint(bytes), Errc::kUnsupportedVersion);
}

TEST(PointEncodingTest, RootOffsetOutOfBoundsFailsVerification) {
  std::string bytes = *EncodePoint(SamplePoint());
  const uint32_t bad = 0x7FFFFFF0;
  std::memcpy(bytes.data() + 4, &bad, 4);
  ExpectCode(DecodePoint(bytes), Errc::kCorrupt);
}

TEST(PointEncodingTest, NoSingleByteCorruptionCrashes) {
  // Every byte flipped in turn: each decode is an error or a point, never a
  // crash or an out-of-bounds read (run under ASan in CI).
  const std::string good = *EncodePoint(SamplePoint());
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ mask);
      auto r = DecodePoint(bytes);
      if (r) {
        EXPECT_TRUE(std::isfinite(r->value));
      }
    }
  }
}

TEST(PointEncodingTest, NonFiniteValueIsRejectedOnDecode) {
  for (double v : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    TelemetryPoint p = SamplePoint();
    p.value = v;
    auto bytes = EncodePoint(p);
    ASSERT_TRUE(bytes);
    ExpectCode(DecodePoint(*bytes), Errc::kCorrupt);
  }
}

TEST(PointEncodingTest, OversizedStringsAreRejectedOnEncode) {
  TelemetryPoint p = SamplePoint();
  p.labels.assign(2, {"k", std::string(kMaxPointStringBytes / 2, 'v')});
  auto r = EncodePoint(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace telemq::telemetry
