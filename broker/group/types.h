#pragma once
// Value types of the consumer-group core (docs/groups.md): epochs, topic
// partitions and assignments, plus the small set algebra the reconciliation
// needs.
//
// Promises: plain values with one canonical form, so that two equal
// assignments compare equal: an Assignment maps topic -> strictly increasing
// partition ids and never holds an empty list. Every helper here returns the
// canonical form when given it. No I/O, no hidden sharing; thread-safety:
// none needed (values).

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/strong_id.h"

namespace telemq::group {

// A member's epoch: the group epoch of the target assignment it last
// reconciled to. Commits and heartbeats carry it so that a member that lost
// its session (a zombie) is fenced. Two request values are sentinels.
using MemberEpoch = StrongId<struct MemberEpochTag, int32_t>;
// Bumped on every change of membership, subscriptions or topic metadata.
using GroupEpoch = StrongId<struct GroupEpochTag, int32_t>;

// A member that reconciled to the target of group epoch E has member epoch E.
constexpr MemberEpoch MemberEpochOf(GroupEpoch e) { return MemberEpoch(e.value()); }

// Heartbeat request sentinels (docs/groups.md "Member lifecycle").
inline constexpr MemberEpoch kJoinEpoch{0};          // first heartbeat of a process
inline constexpr MemberEpoch kLeaveEpoch{-1};        // leave; partitions go to others now
inline constexpr MemberEpoch kStaticLeaveEpoch{-2};  // static member pauses; slot kept for its session timeout

// Where a member stands in reconciling to the target assignment.
enum class MemberState : uint8_t {
  kStable = 0,                // owns its whole target at the current assignment epoch
  kUnrevokedPartitions = 1,   // was told to drop partitions and has not confirmed yet
  kUnreleasedPartitions = 2,  // waits for partitions other members have not released yet
};

// Whether the member's process is there. A static member that left with
// kStaticLeaveEpoch keeps its slot and assignment until its session timeout.
enum class Presence : uint8_t {
  kActive = 0,
  kStaticLeft = 1,
};

std::string_view MemberStateName(MemberState state);

struct TopicPartition {
  std::string topic;
  PartitionId partition;
  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

// topic -> strictly increasing partition ids; no empty lists (canonical form).
using Assignment = std::map<std::string, std::vector<PartitionId>>;
// member id -> that member's assignment.
using TargetAssignment = std::map<std::string, Assignment>;
// topic -> partition count (partitions 0..count-1). From the controller.
using TopicMetadata = std::map<std::string, int32_t>;

// Number of partitions in `a`.
size_t PartitionCount(const Assignment& a);
// Partitions in `a` and not in `b`.
Assignment Subtract(const Assignment& a, const Assignment& b);
// Partitions in both.
Assignment Intersect(const Assignment& a, const Assignment& b);
// Partitions in either.
Assignment Union(const Assignment& a, const Assignment& b);
bool Contains(const Assignment& a, const std::string& topic, PartitionId partition);
// Builds the canonical form from any list (sorts, removes duplicates and empty topics).
Assignment Canonical(Assignment a);
// Flat list in (topic, partition) order.
std::vector<TopicPartition> Flatten(const Assignment& a);

}  // namespace telemq::group
