#pragma once
// Internal to the client library: encoding and decoding of the group APIs
// (api 8..14, docs/groups.md) shared by Membership, Consumer and Admin.
// Pure functions except the blocking Call* helpers (not on the I/O thread).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/cluster.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/topic_partition.h"
#include "telemq/wire/protocol.h"

namespace telemq::client {

// Verifies a response body as T; an ErrorResponse (unknown api, unsupported
// version) becomes its error.
template <typename T>
Result<const T*> ResponseBody(const Result<Frame>& frame) {
  if (!frame) return tl::unexpected(frame.error());
  if (auto body = wire::VerifyBody<T>(frame->body())) return body;
  if (auto err = wire::VerifyBody<wire::fb::ErrorResponse>(frame->body());
      err && (*err)->error() != wire::fb::ErrorCode::None) {
    return Fail(wire::FromWireError((*err)->error()),
                std::string(wire::fb::EnumNameErrorCode((*err)->error())) + ": " + wire::Str((*err)->message()));
  }
  return Fail(Errc::kCorrupt, "response failed verification");
}

// A wire error as a client Error whose message names the group-specific code
// (the shared Errc cannot tell "rejoin" from "retry").
Error GroupError(wire::fb::ErrorCode code, const std::string& message, const std::string& context);

struct CommittedOffset {
  std::optional<Offset> offset;  // nullopt: nothing committed
  Offset high_watermark{-1};
};

Request OffsetCommitRequest(const std::string& group_id, const std::string& member_id, int32_t member_epoch,
                            const std::map<TopicPartition, Offset>& offsets);
// Ok, or the first per-partition (or top-level) error; `code` receives its
// wire code when non-null.
Result<void> ParseOffsetCommit(const Result<Frame>& frame, wire::fb::ErrorCode* code);

// `partitions` empty: every committed offset of the group.
Request OffsetFetchRequest(const std::string& group_id, const std::vector<TopicPartition>& partitions);
Result<std::map<TopicPartition, CommittedOffset>> ParseOffsetFetch(const Result<Frame>& frame,
                                                                   wire::fb::ErrorCode* code);
void ReadOffsets(const flatbuffers::Vector<flatbuffers::Offset<wire::fb::OffsetFetchTopicResult>>* topics,
                 std::map<TopicPartition, CommittedOffset>* out);

std::vector<TopicPartition> ReadPartitions(
    const flatbuffers::Vector<flatbuffers::Offset<wire::fb::TopicPartitions>>* v);

// Whether a failed FindCoordinator is worth another try after a backoff
// (transport errors, no coordinator elected yet, CoordinatorNotAvailable).
bool LookupRetriable(const Error& e);

// Blocking, with coordinator lookup and retries of NotCoordinator /
// CoordinatorLoading / CoordinatorNotAvailable / transport errors (each
// retry looks the coordinator up again) until `timeout`.
[[nodiscard]] Result<void> CallOffsetCommit(Cluster& cluster, const std::string& group_id, const std::string& member_id,
                                            int32_t member_epoch, const std::map<TopicPartition, Offset>& offsets,
                                            std::chrono::milliseconds timeout);
[[nodiscard]] Result<std::map<TopicPartition, CommittedOffset>> CallOffsetFetch(
    Cluster& cluster, const std::string& group_id, const std::vector<TopicPartition>& partitions,
    std::chrono::milliseconds timeout);

}  // namespace telemq::client
