#include "telemetry/point.h"

#include <gtest/gtest.h>

#include <cmath>
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

TEST(PointEncodingTest, RoundTripsEveryField) {
  TelemetryPoint p = SamplePoint();
  auto bytes = EncodePoint(p);
  ASSERT_TRUE(bytes) << bytes.error().ToString();
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[0]), kPointEncodingVersion);
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

TEST(PointEncodingTest, EveryTruncationIsRejected) {
  std::string bytes = *EncodePoint(SamplePoint());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodePoint(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error().code(), Errc::kCorrupt) << n;
  }
}

TEST(PointEncodingTest, TrailingBytesAreRejected) {
  std::string bytes = *EncodePoint(SamplePoint()) + "x";
  auto r = DecodePoint(bytes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kCorrupt);
}

TEST(PointEncodingTest, UnknownVersionIsRejected) {
  std::string bytes = *EncodePoint(SamplePoint());
  bytes[0] = static_cast<char>(kPointEncodingVersion + 1);
  auto r = DecodePoint(bytes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kUnsupportedVersion);
}

TEST(PointEncodingTest, HugeLabelCountDoesNotAllocate) {
  // Version + five empty strings + gpu_id + value + timestamp, then a label
  // count of 65535 with nothing behind it.
  std::string bytes(1 + 2 + 4 + 2 * 4 + 8 + 8, '\0');
  bytes[0] = static_cast<char>(kPointEncodingVersion);
  bytes += "\xFF\xFF";
  auto r = DecodePoint(bytes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kCorrupt);
}

TEST(PointEncodingTest, NonFiniteValueIsRejectedOnDecode) {
  TelemetryPoint p = SamplePoint();
  p.value = std::numeric_limits<double>::quiet_NaN();
  auto bytes = EncodePoint(p);
  ASSERT_TRUE(bytes);
  EXPECT_FALSE(DecodePoint(*bytes));
}

TEST(PointEncodingTest, OversizedStringIsRejectedOnEncode) {
  TelemetryPoint p = SamplePoint();
  p.hostname.assign(kMaxPointStringBytes + 1, 'h');
  auto r = EncodePoint(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace telemq::telemetry
