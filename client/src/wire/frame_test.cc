#include "telemq/wire/frame.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>

#include "telemq/wire/endian.h"

namespace telemq::wire {
namespace {

using RequestBytes = std::array<std::byte, kRequestHeaderBytes>;
using ResponseBytes = std::array<std::byte, kResponseHeaderBytes>;

// A request header with arbitrary length fields, bypassing the encoder.
RequestBytes RawRequest(uint32_t frame_length, uint16_t api_key, uint32_t body_length) {
  RequestBytes b{};
  StoreLE<uint32_t>(b.data(), frame_length);
  StoreLE<uint16_t>(b.data() + 4, api_key);
  StoreLE<uint16_t>(b.data() + 6, 1);
  StoreLE<uint32_t>(b.data() + 8, 77);
  StoreLE<uint32_t>(b.data() + 12, body_length);
  return b;
}

ResponseBytes RawResponse(uint32_t frame_length, uint32_t body_length) {
  ResponseBytes b{};
  StoreLE<uint32_t>(b.data(), frame_length);
  StoreLE<uint32_t>(b.data() + 4, 77);
  StoreLE<uint32_t>(b.data() + 8, body_length);
  return b;
}

TEST(RequestHeader, RoundTripsEveryField) {
  for (uint16_t key = 0; key < kApiKeyCount; ++key) {
    RequestBytes b;
    EncodeRequestHeader(b, static_cast<ApiKey>(key), 3, 0xdeadbeef, 120, 4000);
    auto h = DecodeRequestHeader(b, kDefaultMaxFrameBytes);
    ASSERT_TRUE(h.has_value()) << h.error().ToString();
    EXPECT_EQ(h->api_key, static_cast<ApiKey>(key));
    EXPECT_EQ(h->api_version, 3);
    EXPECT_EQ(h->correlation_id, 0xdeadbeefu);
    EXPECT_EQ(h->body_length, 120u);
    // frame_length counts everything after itself.
    EXPECT_EQ(h->frame_length, kRequestHeaderBytes - 4 + 120 + 4000);
    EXPECT_EQ(h->remaining(), 4120u);
    EXPECT_EQ(h->payload_length(), 4000u);
  }
}

TEST(RequestHeader, IsLittleEndianOnTheWire) {
  RequestBytes b;
  EncodeRequestHeader(b, ApiKey::kFetch, 1, 0x01020304, 0x10, 0);
  EXPECT_EQ(b[0], std::byte{kRequestHeaderBytes - 4 + 0x10});
  EXPECT_EQ(b[4], std::byte{5});
  EXPECT_EQ(b[8], std::byte{0x04});
  EXPECT_EQ(b[11], std::byte{0x01});
}

TEST(RequestHeader, EmptyBodyAndPayloadIsValid) {
  auto h = DecodeRequestHeader(RawRequest(kRequestHeaderBytes - 4, 0, 0), kDefaultMaxFrameBytes);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->remaining(), 0u);
}

TEST(RequestHeader, FrameShorterThanItsHeaderIsCorrupt) {
  for (uint32_t len : {0u, 1u, static_cast<uint32_t>(kRequestHeaderBytes - 5)}) {
    auto h = DecodeRequestHeader(RawRequest(len, 0, 0), kDefaultMaxFrameBytes);
    ASSERT_FALSE(h.has_value()) << len;
    EXPECT_EQ(h.error().code(), Errc::kCorrupt);
  }
}

TEST(RequestHeader, LengthAboveTheLimitIsTooLarge) {
  constexpr uint32_t kLimit = 4096;
  EXPECT_TRUE(DecodeRequestHeader(RawRequest(kLimit, 0, 0), kLimit).has_value());
  for (uint32_t len : {kLimit + 1, kDefaultMaxFrameBytes, UINT32_MAX}) {
    auto h = DecodeRequestHeader(RawRequest(len, 0, 0), kLimit);
    ASSERT_FALSE(h.has_value()) << len;
    EXPECT_EQ(h.error().code(), Errc::kMessageTooLarge);
  }
}

TEST(RequestHeader, BodyLongerThanTheFrameIsCorrupt) {
  const uint32_t frame = kRequestHeaderBytes - 4 + 100;
  EXPECT_TRUE(DecodeRequestHeader(RawRequest(frame, 0, 100), kDefaultMaxFrameBytes).has_value());
  for (uint32_t body : {101u, UINT32_MAX}) {
    auto h = DecodeRequestHeader(RawRequest(frame, 0, body), kDefaultMaxFrameBytes);
    ASSERT_FALSE(h.has_value()) << body;
    EXPECT_EQ(h.error().code(), Errc::kCorrupt);
  }
}

// Unknown keys pass the framing layer so the broker can answer them with an
// error response instead of dropping the connection.
TEST(RequestHeader, UnknownApiKeyIsLeftToTheHandler) {
  auto h = DecodeRequestHeader(RawRequest(kRequestHeaderBytes - 4, 999, 0), kDefaultMaxFrameBytes);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(static_cast<uint16_t>(h->api_key), 999);
  EXPECT_EQ(ApiKeyName(h->api_key), "unknown");
}

TEST(ApiKeyName, IsDistinctForEveryKey) {
  std::set<std::string_view> names;
  for (uint16_t key = 0; key < kApiKeyCount; ++key) names.insert(ApiKeyName(static_cast<ApiKey>(key)));
  EXPECT_EQ(names.size(), kApiKeyCount);
  EXPECT_EQ(names.count("unknown"), 0u);
}

TEST(ResponseHeader, RoundTripsEveryField) {
  ResponseBytes b;
  EncodeResponseHeader(b, 0xcafef00d, 48, 1 << 16);
  auto h = DecodeResponseHeader(b, kDefaultMaxFrameBytes);
  ASSERT_TRUE(h.has_value()) << h.error().ToString();
  EXPECT_EQ(h->correlation_id, 0xcafef00du);
  EXPECT_EQ(h->body_length, 48u);
  EXPECT_EQ(h->frame_length, kResponseHeaderBytes - 4 + 48 + (1 << 16));
  EXPECT_EQ(h->remaining(), 48u + (1 << 16));
  EXPECT_EQ(h->payload_length(), 1u << 16);
}

TEST(ResponseHeader, FrameShorterThanItsHeaderIsCorrupt) {
  for (uint32_t len : {0u, static_cast<uint32_t>(kResponseHeaderBytes - 5)}) {
    auto h = DecodeResponseHeader(RawResponse(len, 0), kDefaultMaxFrameBytes);
    ASSERT_FALSE(h.has_value()) << len;
    EXPECT_EQ(h.error().code(), Errc::kCorrupt);
  }
  EXPECT_TRUE(DecodeResponseHeader(RawResponse(kResponseHeaderBytes - 4, 0), kDefaultMaxFrameBytes).has_value());
}

TEST(ResponseHeader, LengthAboveTheLimitIsTooLarge) {
  constexpr uint32_t kLimit = 4096;
  EXPECT_TRUE(DecodeResponseHeader(RawResponse(kLimit, 0), kLimit).has_value());
  auto h = DecodeResponseHeader(RawResponse(kLimit + 1, 0), kLimit);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code(), Errc::kMessageTooLarge);
}

TEST(ResponseHeader, BodyLongerThanTheFrameIsCorrupt) {
  const uint32_t frame = kResponseHeaderBytes - 4 + 10;
  EXPECT_TRUE(DecodeResponseHeader(RawResponse(frame, 10), kDefaultMaxFrameBytes).has_value());
  auto h = DecodeResponseHeader(RawResponse(frame, 11), kDefaultMaxFrameBytes);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code(), Errc::kCorrupt);
}

}  // namespace
}  // namespace telemq::wire
