#pragma once
// Settings shared by the two ways of joining a consumer group: Consumer::
// Subscribe (membership plus records) and GroupMember (membership only).
// docs/groups.md, "Client library", describes the protocol they follow.

#include <chrono>

namespace telemq {

// What Close() tells the coordinator.
enum class CloseMode {
  // Epoch -1: the member leaves now; its partitions move at once.
  kLeaveGroup,
  // Epoch -2, static members only (an instance id is set): the coordinator
  // keeps the slot and its partitions for one session timeout, so a
  // restarted process with the same instance id resumes without a
  // rebalance. Without an instance id this acts as kLeaveGroup.
  kKeepStaticSlot,
};

struct GroupTimeouts {
  // The coordinator expires a member it has not heard from for this long,
  // and the member itself drops all partitions slightly earlier. The
  // coordinator bounds it (default 1 s .. 5 min). Default 45 s.
  std::chrono::milliseconds session_timeout{45'000};
  // How long the member may take to drop a revoked partition (the
  // revocation callback plus, for a Consumer, the next Poll) before it is
  // expired. Default 60 s.
  std::chrono::milliseconds rebalance_timeout{60'000};
};

}  // namespace telemq
