#pragma once
// Framing of the telemq protocol (docs/protocol.md). Every message on a
// connection is a frame:
//
//   request:  u32 frame_length | u16 api_key | u16 api_version | u32 correlation_id | u32 body_length | body | payload
//   response: u32 frame_length | u32 correlation_id | u32 body_length | body | payload
//
// frame_length counts the bytes after itself; body is a FlatBuffer (one of
// the tables of protocol.fbs); payload is raw record-batch bytes. All
// integers little endian. Decoders check sizes before anyone allocates.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "telemq/common/result.h"

namespace telemq::wire {

enum class ApiKey : uint16_t {
  kApiVersions = 0,
  kMetadata = 1,
  kCreateTopics = 2,
  kDeleteTopics = 3,
  kProduce = 4,
  kFetch = 5,
  kListOffsets = 6,
  kInitProducerId = 7,
  kFindCoordinator = 8,
  kGroupHeartbeat = 9,
  kOffsetCommit = 10,
  kOffsetFetch = 11,
  kListGroups = 12,
  kDescribeGroup = 13,
  kDeleteGroup = 14,
  kPeerRaft = 15,  // between brokers only (docs/replication.md §8)
};
inline constexpr uint16_t kApiKeyCount = 16;
std::string_view ApiKeyName(ApiKey key);

inline constexpr size_t kRequestHeaderBytes = 16;
inline constexpr size_t kResponseHeaderBytes = 12;
// Default bound on one frame; brokers and clients may configure it.
inline constexpr uint32_t kDefaultMaxFrameBytes = 100u << 20;

struct RequestHeader {
  uint32_t frame_length = 0;
  ApiKey api_key = ApiKey::kApiVersions;
  uint16_t api_version = 0;
  uint32_t correlation_id = 0;
  uint32_t body_length = 0;
  // Bytes that follow the header: body + payload.
  size_t remaining() const { return frame_length - (kRequestHeaderBytes - 4); }
  size_t payload_length() const { return remaining() - body_length; }
};

struct ResponseHeader {
  uint32_t frame_length = 0;
  uint32_t correlation_id = 0;
  uint32_t body_length = 0;
  size_t remaining() const { return frame_length - (kResponseHeaderBytes - 4); }
  size_t payload_length() const { return remaining() - body_length; }
};

// Validates lengths (frame within [header, max_frame_bytes], body within the
// frame). The api key is not checked here: an unknown key gets an error
// response, not a dropped connection.
[[nodiscard]] Result<RequestHeader> DecodeRequestHeader(std::span<const std::byte, kRequestHeaderBytes> bytes,
                                                        uint32_t max_frame_bytes);
[[nodiscard]] Result<ResponseHeader> DecodeResponseHeader(std::span<const std::byte, kResponseHeaderBytes> bytes,
                                                          uint32_t max_frame_bytes);

void EncodeRequestHeader(std::span<std::byte, kRequestHeaderBytes> out, ApiKey api_key, uint16_t api_version,
                         uint32_t correlation_id, uint32_t body_length, size_t payload_length);
void EncodeResponseHeader(std::span<std::byte, kResponseHeaderBytes> out, uint32_t correlation_id, uint32_t body_length,
                          size_t payload_length);

}  // namespace telemq::wire
