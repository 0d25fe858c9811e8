#pragma once
// Error codes of the consumer-group core and its Result alias.
//
// Choice (docs/groups.md "Errors"): the group module keeps its own Error
// type, like the per-module enums of Redpanda, because the client must tell
// "rejoin" (unknown member, fenced) from "refresh the epoch and retry"
// (stale), and the shared telemq::Errc has no such codes. The wire layer maps
// group::Errc to protocol codes with one exhaustive switch; ToCommonErrc()
// gives the nearest shared code for logs and generic callers.
// Thread-safety: values only.

#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

#include "telemq/common/result.h"

namespace telemq::group {

enum class Errc : uint16_t {
  kOk = 0,
  kUnknownMemberId,    // no such member (never joined, left, expired or replaced): rejoin with epoch 0
  kFencedMemberEpoch,  // the epoch is not one the member was given: a zombie; rejoin with epoch 0
  kStaleMemberEpoch,   // commit with an older epoch of a live member: heartbeat, then retry
  kGroupIdNotFound,    // no such group (used by the broker shell, which owns the group table)
  kInvalidRequest,     // malformed input: missing instance id on a static leave, bad timeout, ...
  kNonEmptyGroup,      // admin offset commit while the group has members
  kCorruptRecord,      // a __consumer_offsets record that does not decode
};

std::string_view ErrcName(Errc code);
// Nearest shared code (kNotFound, kInvalidArgument, kProducerFenced, ...).
telemq::Errc ToCommonErrc(Errc code);

class [[nodiscard]] Error {
 public:
  Error() = default;
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}
  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  // "fenced_member_epoch: member m-1 epoch 3, current 5"
  std::string ToString() const;

 private:
  Errc code_ = Errc::kInvalidRequest;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Fail(Errc code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

inline std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kUnknownMemberId: return "unknown_member_id";
    case Errc::kFencedMemberEpoch: return "fenced_member_epoch";
    case Errc::kStaleMemberEpoch: return "stale_member_epoch";
    case Errc::kGroupIdNotFound: return "group_id_not_found";
    case Errc::kInvalidRequest: return "invalid_request";
    case Errc::kNonEmptyGroup: return "non_empty_group";
    case Errc::kCorruptRecord: return "corrupt_record";
  }
  return "unknown";
}

inline telemq::Errc ToCommonErrc(Errc code) {
  switch (code) {
    case Errc::kOk: return telemq::Errc::kOk;
    case Errc::kUnknownMemberId: return telemq::Errc::kNotFound;
    case Errc::kFencedMemberEpoch: return telemq::Errc::kProducerFenced;
    case Errc::kStaleMemberEpoch: return telemq::Errc::kInvalidArgument;
    case Errc::kGroupIdNotFound: return telemq::Errc::kNotFound;
    case Errc::kInvalidRequest: return telemq::Errc::kInvalidArgument;
    case Errc::kNonEmptyGroup: return telemq::Errc::kAlreadyExists;
    case Errc::kCorruptRecord: return telemq::Errc::kCorrupt;
  }
  return telemq::Errc::kUnknown;
}

inline std::string Error::ToString() const {
  std::string out(ErrcName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace telemq::group
