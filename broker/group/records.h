#pragma once
// The records a group writes to its partition of __consumer_offsets, and
// their encoding (docs/groups.md "Records"). The group core emits them from
// each state change (Group::TakeRecords) and rebuilds its state from them
// (Group::Replay); the broker shell appends them through Raft and replays
// them on failover or restart.
//
// Every record is a full upsert of one key (RecordKey), so a compacted
// partition keeps only the latest record per key and replaying it gives the
// same state as replaying the whole history. A member tombstone deletes its
// member key.
//
// Encoding, version 1, little-endian, every length checked on decode:
//   u8 version (=1) | u8 type | str group_id | body
//   str = u32 length + bytes; assignment = u32 topics, then per topic
//   str topic + u32 n + n * i32 partition; optional str = u8 present + str.
// Bodies by type: see kRecordType* and records.cc. Unknown versions and
// types are kCorruptRecord, so a newer writer is never half-understood.
// Thread-safety: values and pure functions.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/group/errc.h"
#include "broker/group/types.h"

namespace telemq::group {

// Group epoch and the topic metadata the target was computed from.
struct GroupMetadataRecord {
  GroupEpoch group_epoch;
  TopicMetadata topics;
  bool operator==(const GroupMetadataRecord&) const = default;
};

// One member's persisted state. Session and revocation deadlines are not
// persisted: after a replay they restart at the first Tick (a coordinator
// failover gives every member a fresh session rather than expiring them all).
struct MemberRecord {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::vector<std::string> subscribed_topics;  // sorted, unique
  std::string metadata;                        // opaque to the broker
  std::chrono::milliseconds session_timeout{0};
  std::chrono::milliseconds rebalance_timeout{0};
  MemberEpoch member_epoch;
  MemberEpoch previous_member_epoch;
  MemberState state = MemberState::kStable;
  Presence presence = Presence::kActive;
  Assignment assigned;            // what the member was told to own
  Assignment pending_revocation;  // told to drop, not yet confirmed
  bool operator==(const MemberRecord&) const = default;
};

struct MemberTombstone {
  std::string member_id;
  bool operator==(const MemberTombstone&) const = default;
};

// The whole target assignment (a few KiB for 1000 partitions; one record
// keeps the target consistent without a multi-record transaction).
struct TargetAssignmentRecord {
  GroupEpoch assignment_epoch;
  TargetAssignment target;
  bool operator==(const TargetAssignmentRecord&) const = default;
};

struct OffsetCommitRecord {
  std::string topic;
  PartitionId partition;
  Offset offset;
  std::string metadata;
  bool operator==(const OffsetCommitRecord&) const = default;
};

struct GroupRecord {
  std::string group_id;
  std::variant<GroupMetadataRecord, MemberRecord, MemberTombstone, TargetAssignmentRecord, OffsetCommitRecord> body;
  bool operator==(const GroupRecord&) const = default;
};

inline constexpr uint8_t kRecordVersion = 1;
inline constexpr uint8_t kRecordTypeGroupMetadata = 1;
inline constexpr uint8_t kRecordTypeMember = 2;
inline constexpr uint8_t kRecordTypeMemberTombstone = 3;
inline constexpr uint8_t kRecordTypeTargetAssignment = 4;
inline constexpr uint8_t kRecordTypeOffsetCommit = 5;

[[nodiscard]] std::string EncodeRecord(const GroupRecord& record);
// kCorruptRecord on truncation, trailing bytes, unknown version/type or an
// out-of-range enum value.
[[nodiscard]] Result<GroupRecord> DecodeRecord(std::string_view bytes);
// The compaction key: records with the same key supersede each other
// ("<group>\0m\0<member>", a tombstone shares its member's key).
[[nodiscard]] std::string RecordKey(const GroupRecord& record);

}  // namespace telemq::group
