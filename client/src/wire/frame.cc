#include "telemq/wire/frame.h"

#include <string>

#include "telemq/wire/endian.h"

namespace telemq::wire {

std::string_view ApiKeyName(ApiKey key) {
  switch (key) {
    case ApiKey::kApiVersions: return "api_versions";
    case ApiKey::kMetadata: return "metadata";
    case ApiKey::kCreateTopics: return "create_topics";
    case ApiKey::kDeleteTopics: return "delete_topics";
    case ApiKey::kProduce: return "produce";
    case ApiKey::kFetch: return "fetch";
    case ApiKey::kListOffsets: return "list_offsets";
    case ApiKey::kInitProducerId: return "init_producer_id";
    case ApiKey::kFindCoordinator: return "find_coordinator";
    case ApiKey::kGroupHeartbeat: return "group_heartbeat";
    case ApiKey::kOffsetCommit: return "offset_commit";
    case ApiKey::kOffsetFetch: return "offset_fetch";
    case ApiKey::kListGroups: return "list_groups";
    case ApiKey::kDescribeGroup: return "describe_group";
    case ApiKey::kDeleteGroup: return "delete_group";
    case ApiKey::kPeerRaft: return "peer_raft";
  }
  return "unknown";
}

namespace {

// The length rules both frame kinds share: the frame holds at least its
// header, stays within the limit, and the body fits inside it.
Result<void> CheckLengths(uint32_t frame_length, size_t header_bytes, uint32_t body_length, uint32_t max_frame_bytes) {
  if (frame_length < header_bytes - 4) {
    return Fail(Errc::kCorrupt, "frame length " + std::to_string(frame_length) + " shorter than its header");
  }
  if (frame_length > max_frame_bytes) {
    return Fail(Errc::kMessageTooLarge,
                "frame of " + std::to_string(frame_length) + " bytes exceeds limit " + std::to_string(max_frame_bytes));
  }
  if (body_length > frame_length - (header_bytes - 4)) {
    return Fail(Errc::kCorrupt, "body length " + std::to_string(body_length) + " exceeds frame");
  }
  return Ok();
}

}  // namespace

Result<RequestHeader> DecodeRequestHeader(std::span<const std::byte, kRequestHeaderBytes> bytes,
                                          uint32_t max_frame_bytes) {
  RequestHeader h;
  h.frame_length = LoadLE<uint32_t>(bytes.data());
  h.api_key = static_cast<ApiKey>(LoadLE<uint16_t>(bytes.data() + 4));
  h.api_version = LoadLE<uint16_t>(bytes.data() + 6);
  h.correlation_id = LoadLE<uint32_t>(bytes.data() + 8);
  h.body_length = LoadLE<uint32_t>(bytes.data() + 12);
  TELEMQ_TRY(CheckLengths(h.frame_length, kRequestHeaderBytes, h.body_length, max_frame_bytes));
  return h;
}

Result<ResponseHeader> DecodeResponseHeader(std::span<const std::byte, kResponseHeaderBytes> bytes,
                                            uint32_t max_frame_bytes) {
  ResponseHeader h;
  h.frame_length = LoadLE<uint32_t>(bytes.data());
  h.correlation_id = LoadLE<uint32_t>(bytes.data() + 4);
  h.body_length = LoadLE<uint32_t>(bytes.data() + 8);
  TELEMQ_TRY(CheckLengths(h.frame_length, kResponseHeaderBytes, h.body_length, max_frame_bytes));
  return h;
}

void EncodeRequestHeader(std::span<std::byte, kRequestHeaderBytes> out, ApiKey api_key, uint16_t api_version,
                         uint32_t correlation_id, uint32_t body_length, size_t payload_length) {
  StoreLE<uint32_t>(out.data(), static_cast<uint32_t>(kRequestHeaderBytes - 4 + body_length + payload_length));
  StoreLE<uint16_t>(out.data() + 4, static_cast<uint16_t>(api_key));
  StoreLE<uint16_t>(out.data() + 6, api_version);
  StoreLE<uint32_t>(out.data() + 8, correlation_id);
  StoreLE<uint32_t>(out.data() + 12, body_length);
}

void EncodeResponseHeader(std::span<std::byte, kResponseHeaderBytes> out, uint32_t correlation_id, uint32_t body_length,
                          size_t payload_length) {
  StoreLE<uint32_t>(out.data(), static_cast<uint32_t>(kResponseHeaderBytes - 4 + body_length + payload_length));
  StoreLE<uint32_t>(out.data() + 4, correlation_id);
  StoreLE<uint32_t>(out.data() + 8, body_length);
}

}  // namespace telemq::wire
