#pragma once
// group::Group: one consumer group as a pure state machine, in the style of
// server-side incremental rebalancing (docs/groups.md).
//
// Promises:
//  * Never two owners: at every moment each partition is in at most one
//    member's (assigned ∪ pending_revocation). A partition moves only after
//    its previous owner's heartbeat stops listing it among owned partitions,
//    or the owner left or expired. This relies on the client contract in
//    docs/groups.md: a member adopts each response before its next
//    heartbeat, and lists in `owned` every partition it still holds.
//  * Members whose target does not change keep their partitions without a
//    pause; only their member epoch advances.
//  * Zombies are fenced: a member that expired, left or was replaced by a
//    newer process with its instance id is unknown; a wrong epoch is fenced
//    (heartbeat) or stale (commit).
//  * Deterministic: the same calls with the same `now` values and the same
//    id generator produce the same state and records.
//  * Persistable: every change of persisted state is drained as records by
//    TakeRecords(); Replay() of those records into a fresh Group reproduces
//    Describe() and the committed offsets exactly.
//
// No I/O, clocks, threads or randomness: time enters as `now` (milliseconds
// since an arbitrary epoch of the caller's steady clock), member ids come from
// the injected generator. Thread-safety: none; one owner (in the broker, the
// strand of the __consumer_offsets partition leader) calls everything.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/group/errc.h"
#include "broker/group/records.h"
#include "broker/group/types.h"

namespace telemq::group {

using Millis = std::chrono::milliseconds;

struct GroupConfig {
  // Returned to members in every response: how often to heartbeat. Default 2 s.
  Millis heartbeat_interval{2000};
  // Bounds on the session timeout a member may ask for. Defaults 1 s .. 5 min.
  Millis min_session_timeout{1000};
  Millis max_session_timeout{300000};
  // Source of fresh member ids for first joins (the broker uses a UUID
  // generator; tests a counter). Must not return an id in use; a few
  // collisions are retried. Required.
  std::function<std::string()> new_member_id;
};

struct HeartbeatRequest {
  // Empty on a first join: the coordinator assigns one.
  std::string member_id;
  // Static membership: a stable name of the process (the pod name).
  std::optional<std::string> instance_id;
  // kJoinEpoch, kLeaveEpoch, kStaticLeaveEpoch, or the epoch last received.
  MemberEpoch member_epoch{0};
  // Required on join; later nullopt means unchanged.
  std::optional<std::vector<std::string>> subscribed_topics;
  // Opaque bytes (a collector's query endpoint); nullopt means unchanged.
  std::optional<std::string> metadata;
  // Partitions the member holds now, including ones it is still dropping;
  // nullopt means "as last reported" (the coordinator then assumes it still
  // holds everything it was told to drop).
  std::optional<Assignment> owned;
  Millis session_timeout{45000};
  // How long the member may take to drop revoked partitions before it is
  // expired.
  Millis rebalance_timeout{60000};
};

struct HeartbeatResponse {
  std::string member_id;
  MemberEpoch member_epoch;
  Millis heartbeat_interval{0};
  // What the member should own now: its target minus partitions that other
  // members have not released yet. Empty after a leave.
  Assignment assignment;
};

struct OffsetAndMetadata {
  Offset offset;
  std::string metadata;
  bool operator==(const OffsetAndMetadata&) const = default;
};

enum class GroupState : uint8_t {
  kEmpty,        // no members (offsets may remain)
  kStable,       // every member owns exactly its target at the current epoch
  kReconciling,  // some member is still revoking or waiting for partitions
};

std::string_view GroupStateName(GroupState state);

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string metadata;
  std::vector<std::string> subscribed_topics;
  MemberEpoch member_epoch;
  MemberEpoch previous_member_epoch;
  MemberState state = MemberState::kStable;
  Presence presence = Presence::kActive;
  Assignment assignment;          // what it was told to own
  Assignment pending_revocation;  // told to drop, not yet confirmed
  Assignment target;              // where reconciliation is heading
  bool operator==(const MemberDescription&) const = default;
};

struct GroupDescription {
  std::string group_id;
  GroupState state = GroupState::kEmpty;
  GroupEpoch group_epoch;
  GroupEpoch assignment_epoch;
  TopicMetadata topics;
  std::vector<MemberDescription> members;  // by member id
  bool operator==(const GroupDescription&) const = default;
};

class Group {
 public:
  Group(std::string group_id, GroupConfig config);
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  Group(Group&&) = default;
  Group& operator=(Group&&) = default;

  // Join, heartbeat, leave or static leave (by request.member_epoch).
  // Errors: kUnknownMemberId, kFencedMemberEpoch, kInvalidRequest.
  [[nodiscard]] Result<HeartbeatResponse> Heartbeat(const HeartbeatRequest& request, Millis now);

  // Expires members whose session ended (last heartbeat + session timeout <
  // now), static slots left longer than their session timeout, and members
  // that did not confirm a revocation within their rebalance timeout. Their
  // partitions go to the others. Returns the expired member ids. After a
  // Replay, the first Tick starts every session and revocation clock.
  std::vector<std::string> Tick(Millis now);

  // Partition counts of the topics the group may subscribe to (all topics,
  // or only the subscribed ones: unknown topics are simply not assigned).
  // Growth, creation and deletion all bump the group epoch if they change
  // anything.
  void UpdateTopicMetadata(TopicMetadata topics);

  // kUnknownMemberId (unknown, expired, left), kFencedMemberEpoch (an epoch
  // this member never had), kStaleMemberEpoch (an older epoch: heartbeat and
  // retry). Expiry happens in Tick: call Tick(now) first for exactness.
  [[nodiscard]] Result<void> ValidateCommit(std::string_view member_id, MemberEpoch member_epoch) const;
  [[nodiscard]] Result<void> CommitOffset(std::string_view member_id, MemberEpoch member_epoch,
                                          const std::string& topic, PartitionId partition, Offset offset,
                                          std::string metadata);
  // Offset reset by an operator: only while the group has no members
  // (kNonEmptyGroup otherwise), like an admin tool's reset-offsets.
  [[nodiscard]] Result<void> AdminCommitOffset(const std::string& topic, PartitionId partition, Offset offset,
                                               std::string metadata);
  std::optional<OffsetAndMetadata> CommittedOffset(const std::string& topic, PartitionId partition) const;
  const std::map<TopicPartition, OffsetAndMetadata>& committed_offsets() const { return offsets_; }

  GroupDescription Describe() const;
  const std::string& group_id() const { return group_id_; }
  GroupEpoch group_epoch() const { return group_epoch_; }
  size_t member_count() const { return members_.size(); }

  // Records of every persisted change since the last call, in the order to
  // append them. Heartbeats that change nothing persisted produce none.
  std::vector<GroupRecord> TakeRecords();
  // Applies one record (of this group) to the state, as on failover. Records
  // of another group are kInvalidRequest. Produces no records.
  [[nodiscard]] Result<void> Replay(const GroupRecord& record);
  // Every record of the persisted state as it is now: group metadata, target
  // assignment, one record per member, one per committed offset. Replayed
  // alone into a fresh Group, they reproduce Describe() and the committed
  // offsets; replayed after any older records of this group, the same (each
  // record is a full upsert of its key). The broker writes them periodically
  // so that older records of the log become redundant (docs/groups.md
  // "Bounded __consumer_offsets"). Does not touch TakeRecords().
  std::vector<GroupRecord> SnapshotRecords() const;

 private:
  struct Member {
    MemberRecord r;  // the persisted part
    // Volatile: restarted by Tick after a replay.
    std::optional<Millis> session_deadline;
    std::optional<Millis> revocation_deadline;
  };

  Result<HeartbeatResponse> Join(const HeartbeatRequest& request, Millis now);
  Result<HeartbeatResponse> Leave(const HeartbeatRequest& request, Millis now);
  Result<HeartbeatResponse> TakeOverStaticSlot(std::string old_id, const HeartbeatRequest& request, Millis now);
  Result<std::string> FreshMemberId();
  Result<void> AdminCommitOffsetUnchecked(const std::string& topic, PartitionId partition, Offset offset,
                                          std::string metadata);
  void Reconcile(Member& m, const std::optional<Assignment>& owned, Millis now);
  void RecomputeTarget();
  void RemoveMember(std::string member_id);  // by value: callers pass the member's own id
  void Release(const Assignment& a);
  void EnsureOwners();
  const Assignment& TargetOf(const std::string& member_id) const;
  HeartbeatResponse ResponseFor(const Member& m) const;
  void MarkDirty(const std::string& member_id) { dirty_members_.insert(member_id); }
  void Flush();

  std::string group_id_;
  GroupConfig config_;
  GroupEpoch group_epoch_{0};
  GroupEpoch assignment_epoch_{0};
  TopicMetadata topics_;
  std::map<std::string, Member> members_;         // by member id: the assignor's order
  std::map<std::string, std::string> instances_;  // instance id -> member id
  TargetAssignment target_;
  // partition -> member holding it (assigned or pending revocation).
  // Derived from members_; rebuilt lazily after Replay.
  std::map<TopicPartition, std::string> owners_;
  bool owners_valid_ = true;
  std::map<TopicPartition, OffsetAndMetadata> offsets_;

  // Pending records.
  bool metadata_dirty_ = false;
  bool target_dirty_ = false;
  std::set<std::string> dirty_members_;
  std::set<std::string> removed_members_;
  std::vector<GroupRecord> records_;
};

}  // namespace telemq::group
