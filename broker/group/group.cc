#include "broker/group/group.h"

#include <algorithm>
#include <utility>

#include "broker/group/assignor.h"
#include "telemq/common/check.h"

namespace telemq::group {
namespace {

const Assignment kNoAssignment;

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

std::string_view GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kEmpty: return "empty";
    case GroupState::kStable: return "stable";
    case GroupState::kReconciling: return "reconciling";
  }
  return "unknown";
}

Group::Group(std::string group_id, GroupConfig config) : group_id_(std::move(group_id)), config_(std::move(config)) {}

Result<HeartbeatResponse> Group::Heartbeat(const HeartbeatRequest& request, Millis now) {
  if (request.session_timeout < config_.min_session_timeout || request.session_timeout > config_.max_session_timeout) {
    return Fail(Errc::kInvalidRequest,
                "session timeout " + std::to_string(request.session_timeout.count()) + " ms outside the allowed range");
  }
  if (request.rebalance_timeout <= Millis(0)) return Fail(Errc::kInvalidRequest, "rebalance timeout must be positive");
  if (request.instance_id && request.instance_id->empty()) {
    return Fail(Errc::kInvalidRequest, "instance id must not be empty");
  }
  EnsureOwners();
  Result<HeartbeatResponse> out;
  if (request.member_epoch == kJoinEpoch) {
    out = Join(request, now);
  } else if (request.member_epoch == kLeaveEpoch || request.member_epoch == kStaticLeaveEpoch) {
    out = Leave(request, now);
  } else {
    auto it = members_.find(request.member_id);
    if (it == members_.end() || it->second.r.presence == Presence::kStaticLeft) {
      return Fail(Errc::kUnknownMemberId, "member '" + request.member_id + "' is not in group " + group_id_);
    }
    Member& m = it->second;
    // The previous epoch is accepted too: the last response may have been lost.
    if (request.member_epoch != m.r.member_epoch && request.member_epoch != m.r.previous_member_epoch) {
      return Fail(Errc::kFencedMemberEpoch, "member '" + m.r.member_id + "' sent epoch " +
                                                std::to_string(request.member_epoch.value()) + ", current is " +
                                                std::to_string(m.r.member_epoch.value()));
    }
    if (request.instance_id != m.r.instance_id && request.instance_id) {
      return Fail(Errc::kInvalidRequest, "instance id does not match member '" + m.r.member_id + "'");
    }
    m.session_deadline = now + request.session_timeout;
    if (request.session_timeout != m.r.session_timeout || request.rebalance_timeout != m.r.rebalance_timeout) {
      m.r.session_timeout = request.session_timeout;
      m.r.rebalance_timeout = request.rebalance_timeout;
      MarkDirty(m.r.member_id);
    }
    if (request.metadata && *request.metadata != m.r.metadata) {
      m.r.metadata = *request.metadata;  // visible in Describe; no rebalance
      MarkDirty(m.r.member_id);
    }
    if (request.subscribed_topics) {
      std::vector<std::string> topics = SortedUnique(*request.subscribed_topics);
      if (topics != m.r.subscribed_topics) {
        m.r.subscribed_topics = std::move(topics);
        MarkDirty(m.r.member_id);
        RecomputeTarget();
      }
    }
    Reconcile(m, request.owned, now);
    out = ResponseFor(m);
  }
  Flush();
  return out;
}

Result<std::string> Group::FreshMemberId() {
  TELEMQ_CHECK(static_cast<bool>(config_.new_member_id), "GroupConfig::new_member_id is required");
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string id = config_.new_member_id();
    if (!id.empty() && !members_.contains(id)) return id;
  }
  return Fail(Errc::kInvalidRequest, "member id generator keeps returning ids in use");
}

Result<HeartbeatResponse> Group::Join(const HeartbeatRequest& request, Millis now) {
  if (!request.subscribed_topics) return Fail(Errc::kInvalidRequest, "a join must carry the subscription");
  if (request.instance_id) {
    auto slot = instances_.find(*request.instance_id);
    if (slot != instances_.end()) return TakeOverStaticSlot(slot->second, request, now);
  }
  std::vector<std::string> topics = SortedUnique(*request.subscribed_topics);
  auto existing = request.member_id.empty() ? members_.end() : members_.find(request.member_id);
  bool membership_changed = false;
  if (existing != members_.end()) {
    // A known member rejoining with epoch 0 lost its state (it was fenced or
    // restarted): by contract it holds nothing, so its partitions are free
    // and reconciliation hands its target back.
    Member& m = existing->second;
    if (m.r.instance_id && m.r.instance_id != request.instance_id) {
      return Fail(Errc::kInvalidRequest, "member '" + m.r.member_id + "' is static; rejoin with its instance id");
    }
    Release(m.r.assigned);
    Release(m.r.pending_revocation);
    m.r.assigned.clear();
    m.r.pending_revocation.clear();
    m.r.previous_member_epoch = m.r.member_epoch;
    m.r.member_epoch = kJoinEpoch;
    m.r.state = MemberState::kStable;
    m.revocation_deadline.reset();
  } else {
    std::string id = request.member_id;
    if (id.empty()) {
      auto fresh_id = FreshMemberId();
      if (!fresh_id) return tl::unexpected(fresh_id.error());
      id = std::move(*fresh_id);
    }
    Member fresh;
    fresh.r.member_id = id;
    fresh.r.instance_id = request.instance_id;
    fresh.r.member_epoch = kJoinEpoch;
    fresh.r.previous_member_epoch = kJoinEpoch;
    existing = members_.emplace(id, std::move(fresh)).first;
    removed_members_.erase(id);
    if (request.instance_id) instances_[*request.instance_id] = id;
    membership_changed = true;
  }
  Member& m = existing->second;
  m.r.session_timeout = request.session_timeout;
  m.r.rebalance_timeout = request.rebalance_timeout;
  m.r.metadata = request.metadata.value_or(m.r.metadata);
  m.session_deadline = now + request.session_timeout;
  MarkDirty(m.r.member_id);
  if (membership_changed || topics != m.r.subscribed_topics) {
    m.r.subscribed_topics = std::move(topics);
    RecomputeTarget();
  }
  Reconcile(m, Assignment{}, now);
  return ResponseFor(m);
}

Result<HeartbeatResponse> Group::TakeOverStaticSlot(std::string old_id, const HeartbeatRequest& request, Millis now) {
  // Static membership: a new process with the same instance id replaces the
  // old one (which left with -2, or crashed and has not expired yet). The
  // slot keeps its epoch and assignment, so nothing is rebalanced; the old
  // member id becomes unknown, which fences a zombie of the old process.
  Member slot = std::move(members_.at(old_id));
  members_.erase(old_id);
  std::string id = request.member_id;
  if (id.empty() || (id != old_id && members_.contains(id))) {
    auto fresh_id = FreshMemberId();
    if (!fresh_id) {
      members_.emplace(old_id, std::move(slot));  // leave the group as it was
      return tl::unexpected(fresh_id.error());
    }
    id = std::move(*fresh_id);
  }
  if (id != old_id) {
    removed_members_.insert(old_id);
    dirty_members_.erase(old_id);
    auto t = target_.find(old_id);
    if (t != target_.end()) {
      Assignment a = std::move(t->second);
      target_.erase(t);
      target_[id] = std::move(a);
      target_dirty_ = true;
    }
    owners_valid_ = false;  // entries name the old id
  }
  removed_members_.erase(id);
  // The new process holds nothing: whatever the slot was revoking is free.
  Release(slot.r.pending_revocation);
  slot.r.pending_revocation.clear();
  slot.r.member_id = id;
  slot.r.presence = Presence::kActive;
  slot.r.session_timeout = request.session_timeout;
  slot.r.rebalance_timeout = request.rebalance_timeout;
  if (request.metadata) slot.r.metadata = *request.metadata;
  slot.session_deadline = now + request.session_timeout;
  slot.revocation_deadline.reset();
  std::vector<std::string> topics = SortedUnique(*request.subscribed_topics);
  const bool subscription_changed = topics != slot.r.subscribed_topics;
  slot.r.subscribed_topics = std::move(topics);
  Member& m = members_.emplace(id, std::move(slot)).first->second;
  instances_[*request.instance_id] = id;
  MarkDirty(id);
  EnsureOwners();
  if (subscription_changed) RecomputeTarget();
  // The slot's partitions are handed over as they are; the new process owns
  // none of them yet, which is what `owned` = {} says.
  Reconcile(m, Assignment{}, now);
  return ResponseFor(m);
}

Result<HeartbeatResponse> Group::Leave(const HeartbeatRequest& request, Millis now) {
  auto it = members_.find(request.member_id);
  if (it == members_.end()) {
    return Fail(Errc::kUnknownMemberId, "member '" + request.member_id + "' is not in group " + group_id_);
  }
  Member& m = it->second;
  HeartbeatResponse out{m.r.member_id, request.member_epoch, config_.heartbeat_interval, {}};
  if (request.member_epoch == kStaticLeaveEpoch) {
    if (!m.r.instance_id) return Fail(Errc::kInvalidRequest, "a static leave needs a static member");
    // Keep the slot and its assignment for one session timeout; the process
    // stopped consuming, so what it was revoking is released now.
    Release(m.r.pending_revocation);
    m.r.pending_revocation.clear();
    if (m.r.state == MemberState::kUnrevokedPartitions) m.r.state = MemberState::kStable;
    m.r.presence = Presence::kStaticLeft;
    m.session_deadline = now + m.r.session_timeout;
    m.revocation_deadline.reset();
    MarkDirty(m.r.member_id);
    return out;
  }
  RemoveMember(m.r.member_id);
  RecomputeTarget();
  return out;
}

void Group::Reconcile(Member& m, const std::optional<Assignment>& owned, Millis now) {
  // 1. Confirmed revocations free their partitions.
  if (!m.r.pending_revocation.empty() && owned) {
    Assignment released = Subtract(m.r.pending_revocation, *owned);
    if (!released.empty()) {
      Release(released);
      m.r.pending_revocation = Intersect(m.r.pending_revocation, *owned);
      MarkDirty(m.r.member_id);
    }
  }
  if (!m.r.pending_revocation.empty()) {
    if (!m.revocation_deadline) m.revocation_deadline = now + m.r.rebalance_timeout;
    return;  // still kUnrevokedPartitions; the epoch waits for the revocation
  }
  m.revocation_deadline.reset();
  if (m.r.member_epoch == MemberEpochOf(assignment_epoch_) && m.r.state == MemberState::kStable)
    return;  // the common case

  // 2. Shrink to the target first; what the member still holds waits for
  //    its confirmation and keeps the member at its old epoch.
  const Assignment& target = TargetOf(m.r.member_id);
  Assignment revoke = Subtract(m.r.assigned, target);
  if (!revoke.empty()) {
    m.r.assigned = Intersect(m.r.assigned, target);
    Assignment held = owned ? Intersect(revoke, *owned) : revoke;
    Release(Subtract(revoke, held));
    m.r.pending_revocation = std::move(held);
    MarkDirty(m.r.member_id);
    if (!m.r.pending_revocation.empty()) {
      m.r.state = MemberState::kUnrevokedPartitions;
      m.revocation_deadline = now + m.r.rebalance_timeout;
      return;
    }
  }

  // 3. Advance to the target's epoch and take every partition that is free.
  const MemberState before = m.r.state;
  if (m.r.member_epoch != MemberEpochOf(assignment_epoch_)) {
    m.r.previous_member_epoch = m.r.member_epoch;
    m.r.member_epoch = MemberEpochOf(assignment_epoch_);
    MarkDirty(m.r.member_id);
  }
  Assignment wanted = Subtract(target, m.r.assigned);
  Assignment granted;
  bool waiting = false;
  for (auto& [topic, parts] : wanted) {
    for (PartitionId p : parts) {
      auto [it, inserted] = owners_.try_emplace(TopicPartition{topic, p}, m.r.member_id);
      if (inserted) {
        granted[topic].push_back(p);
      } else {
        waiting = true;
      }
    }
  }
  if (!granted.empty()) {
    m.r.assigned = Union(m.r.assigned, granted);
    MarkDirty(m.r.member_id);
  }
  m.r.state = waiting ? MemberState::kUnreleasedPartitions : MemberState::kStable;
  if (m.r.state != before) MarkDirty(m.r.member_id);
}

void Group::RecomputeTarget() {
  ++group_epoch_;
  std::vector<AssignorMember> input;
  input.reserve(members_.size());
  for (const auto& [id, m] : members_) input.push_back({id, m.r.subscribed_topics});
  target_ = ComputeTargetAssignment(input, topics_, target_);
  assignment_epoch_ = group_epoch_;
  metadata_dirty_ = true;
  target_dirty_ = true;
  // A static slot whose process is away holds nothing physically: it gives
  // up and takes partitions at once, as if it heartbeated with owned = {}.
  for (auto& [id, m] : members_) {
    if (m.r.presence == Presence::kStaticLeft) Reconcile(m, Assignment{}, Millis(0));
  }
}

void Group::RemoveMember(std::string member_id) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  // Leaving, expiring or being fenced ends the member's claim on everything.
  Release(it->second.r.assigned);
  Release(it->second.r.pending_revocation);
  if (it->second.r.instance_id) {
    auto slot = instances_.find(*it->second.r.instance_id);
    if (slot != instances_.end() && slot->second == member_id) instances_.erase(slot);
  }
  members_.erase(it);
  dirty_members_.erase(member_id);
  removed_members_.insert(member_id);
}

void Group::Release(const Assignment& a) {
  for (const auto& [topic, parts] : a) {
    for (PartitionId p : parts) owners_.erase(TopicPartition{topic, p});
  }
}

void Group::EnsureOwners() {
  if (owners_valid_) return;
  owners_.clear();
  // A well-formed record stream never gives a partition to two members; if a
  // damaged one did, the first member in id order keeps it.
  for (const auto& [id, m] : members_) {
    for (const Assignment* a : {&m.r.assigned, &m.r.pending_revocation}) {
      for (const auto& [topic, parts] : *a) {
        for (PartitionId p : parts) owners_.try_emplace(TopicPartition{topic, p}, id);
      }
    }
  }
  owners_valid_ = true;
}

const Assignment& Group::TargetOf(const std::string& member_id) const {
  auto it = target_.find(member_id);
  return it == target_.end() ? kNoAssignment : it->second;
}

HeartbeatResponse Group::ResponseFor(const Member& m) const {
  return HeartbeatResponse{m.r.member_id, m.r.member_epoch, config_.heartbeat_interval, m.r.assigned};
}

std::vector<std::string> Group::Tick(Millis now) {
  EnsureOwners();
  std::vector<std::string> expired;
  for (auto& [id, m] : members_) {
    if (!m.session_deadline) m.session_deadline = now + m.r.session_timeout;  // first Tick after a replay
    if (m.r.state == MemberState::kUnrevokedPartitions && !m.revocation_deadline) {
      m.revocation_deadline = now + m.r.rebalance_timeout;
    }
    const bool session_over = now > *m.session_deadline;
    const bool revocation_over = m.revocation_deadline && now > *m.revocation_deadline;
    if (session_over || revocation_over) expired.push_back(id);
  }
  for (const std::string& id : expired) RemoveMember(id);
  if (!expired.empty()) RecomputeTarget();
  Flush();
  return expired;
}

void Group::UpdateTopicMetadata(TopicMetadata topics) {
  for (auto it = topics.begin(); it != topics.end();) {
    it = it->second <= 0 ? topics.erase(it) : std::next(it);  // a topic with no partitions is no topic
  }
  if (topics == topics_) return;
  EnsureOwners();
  topics_ = std::move(topics);
  RecomputeTarget();
  Flush();
}

Result<void> Group::ValidateCommit(std::string_view member_id, MemberEpoch member_epoch) const {
  auto it = members_.find(std::string(member_id));
  if (it == members_.end() || it->second.r.presence == Presence::kStaticLeft) {
    return Fail(Errc::kUnknownMemberId, "member '" + std::string(member_id) + "' is not in group " + group_id_);
  }
  const MemberEpoch current = it->second.r.member_epoch;
  if (member_epoch > current) {
    return Fail(Errc::kFencedMemberEpoch, "epoch " + std::to_string(member_epoch.value()) +
                                              " was never given (current " + std::to_string(current.value()) + ")");
  }
  if (member_epoch < current) {
    return Fail(Errc::kStaleMemberEpoch, "epoch " + std::to_string(member_epoch.value()) + " is stale (current " +
                                             std::to_string(current.value()) + ")");
  }
  return {};
}

Result<void> Group::CommitOffset(std::string_view member_id, MemberEpoch member_epoch, const std::string& topic,
                                 PartitionId partition, Offset offset, std::string metadata) {
  auto valid = ValidateCommit(member_id, member_epoch);
  if (!valid) return valid;
  return AdminCommitOffsetUnchecked(topic, partition, offset, std::move(metadata));
}

Result<void> Group::AdminCommitOffset(const std::string& topic, PartitionId partition, Offset offset,
                                      std::string metadata) {
  if (!members_.empty()) {
    return Fail(Errc::kNonEmptyGroup, "group " + group_id_ + " has " + std::to_string(members_.size()) + " members");
  }
  return AdminCommitOffsetUnchecked(topic, partition, offset, std::move(metadata));
}

Result<void> Group::AdminCommitOffsetUnchecked(const std::string& topic, PartitionId partition, Offset offset,
                                               std::string metadata) {
  if (topic.empty() || partition.value() < 0 || offset.value() < 0) {
    return Fail(Errc::kInvalidRequest, "bad offset commit for '" + topic + "'");
  }
  OffsetAndMetadata value{offset, std::move(metadata)};
  records_.push_back(GroupRecord{group_id_, OffsetCommitRecord{topic, partition, offset, value.metadata}});
  offsets_[TopicPartition{topic, partition}] = std::move(value);
  return {};
}

std::optional<OffsetAndMetadata> Group::CommittedOffset(const std::string& topic, PartitionId partition) const {
  auto it = offsets_.find(TopicPartition{topic, partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

GroupDescription Group::Describe() const {
  GroupDescription d;
  d.group_id = group_id_;
  d.group_epoch = group_epoch_;
  d.assignment_epoch = assignment_epoch_;
  d.topics = topics_;
  d.state = members_.empty() ? GroupState::kEmpty : GroupState::kStable;
  for (const auto& [id, m] : members_) {
    if (m.r.member_epoch != MemberEpochOf(assignment_epoch_) || m.r.state != MemberState::kStable)
      d.state = GroupState::kReconciling;
    d.members.push_back(MemberDescription{id, m.r.instance_id, m.r.metadata, m.r.subscribed_topics, m.r.member_epoch,
                                          m.r.previous_member_epoch, m.r.state, m.r.presence, m.r.assigned,
                                          m.r.pending_revocation, TargetOf(id)});
  }
  return d;
}

void Group::Flush() {
  if (metadata_dirty_) records_.push_back(GroupRecord{group_id_, GroupMetadataRecord{group_epoch_, topics_}});
  if (target_dirty_) records_.push_back(GroupRecord{group_id_, TargetAssignmentRecord{assignment_epoch_, target_}});
  for (const std::string& id : removed_members_) records_.push_back(GroupRecord{group_id_, MemberTombstone{id}});
  for (const std::string& id : dirty_members_) {
    auto it = members_.find(id);
    if (it != members_.end()) records_.push_back(GroupRecord{group_id_, it->second.r});
  }
  metadata_dirty_ = target_dirty_ = false;
  removed_members_.clear();
  dirty_members_.clear();
}

std::vector<GroupRecord> Group::TakeRecords() { return std::exchange(records_, {}); }

std::vector<GroupRecord> Group::SnapshotRecords() const {
  std::vector<GroupRecord> out;
  out.reserve(2 + members_.size() + offsets_.size());
  out.push_back(GroupRecord{group_id_, GroupMetadataRecord{group_epoch_, topics_}});
  out.push_back(GroupRecord{group_id_, TargetAssignmentRecord{assignment_epoch_, target_}});
  for (const auto& [id, m] : members_) out.push_back(GroupRecord{group_id_, m.r});
  for (const auto& [tp, om] : offsets_) {
    out.push_back(GroupRecord{group_id_, OffsetCommitRecord{tp.topic, tp.partition, om.offset, om.metadata}});
  }
  return out;
}

Result<void> Group::Replay(const GroupRecord& record) {
  if (record.group_id != group_id_) {
    return Fail(Errc::kInvalidRequest, "record of group '" + record.group_id + "' replayed into '" + group_id_ + "'");
  }
  struct Visitor {
    Group& g;
    void operator()(const GroupMetadataRecord& r) {
      g.group_epoch_ = r.group_epoch;
      g.topics_ = r.topics;
    }
    void operator()(const TargetAssignmentRecord& r) {
      g.assignment_epoch_ = r.assignment_epoch;
      g.target_ = r.target;
    }
    void operator()(const MemberRecord& r) {
      auto it = g.members_.find(r.member_id);
      if (it != g.members_.end() && it->second.r.instance_id && it->second.r.instance_id != r.instance_id) {
        g.instances_.erase(*it->second.r.instance_id);
      }
      Member& m = g.members_[r.member_id];
      m.r = r;
      if (r.instance_id) g.instances_[*r.instance_id] = r.member_id;
      g.owners_valid_ = false;
    }
    void operator()(const MemberTombstone& r) {
      auto it = g.members_.find(r.member_id);
      if (it == g.members_.end()) return;
      if (it->second.r.instance_id) {
        auto slot = g.instances_.find(*it->second.r.instance_id);
        if (slot != g.instances_.end() && slot->second == r.member_id) g.instances_.erase(slot);
      }
      g.members_.erase(it);
      g.owners_valid_ = false;
    }
    void operator()(const OffsetCommitRecord& r) {
      g.offsets_[TopicPartition{r.topic, r.partition}] = OffsetAndMetadata{r.offset, r.metadata};
    }
  };
  std::visit(Visitor{*this}, record.body);
  return {};
}

}  // namespace telemq::group
