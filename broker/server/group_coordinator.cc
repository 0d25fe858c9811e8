#include "broker/server/group_coordinator.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <random>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "broker/group/records.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

namespace fb = wire::fb;
using fb::ErrorCode;
using group::Millis;

namespace {

// Group deletion is a tombstone under a key no group record can have (group
// record keys start with the non-empty group id).
const std::string kDeletePrefix = std::string("\0delete\0", 8);

Millis Now() { return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch()); }

std::string NewMemberId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  std::snprintf(buf, sizeof(buf), "m-%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

ErrorCode ToWire(group::Errc code) {
  switch (code) {
    case group::Errc::kOk: return ErrorCode::None;
    case group::Errc::kUnknownMemberId: return ErrorCode::UnknownMemberId;
    case group::Errc::kFencedMemberEpoch: return ErrorCode::FencedMemberEpoch;
    case group::Errc::kStaleMemberEpoch: return ErrorCode::StaleMemberEpoch;
    case group::Errc::kGroupIdNotFound: return ErrorCode::GroupIdNotFound;
    case group::Errc::kInvalidRequest: return ErrorCode::InvalidRequest;
    case group::Errc::kNonEmptyGroup: return ErrorCode::NonEmptyGroup;
    case group::Errc::kCorruptRecord: return ErrorCode::CorruptMessage;
  }
  return ErrorCode::Unknown;
}

Result<void> ValidateGroupId(const flatbuffers::String* id) {
  if (id == nullptr || id->size() == 0 || id->size() > 255) {
    return Fail(Errc::kInvalidArgument, "group id must be 1..255 bytes");
  }
  return Ok();
}

group::Assignment ToAssignment(const flatbuffers::Vector<flatbuffers::Offset<fb::TopicPartitions>>* v) {
  group::Assignment a;
  if (!v) return a;
  for (const auto* tp : *v) {
    auto& parts = a[wire::Str(tp->topic())];
    if (tp->partitions()) {
      for (int32_t p : *tp->partitions()) parts.push_back(PartitionId(p));
    }
  }
  return group::Canonical(a);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::TopicPartitions>>> FromAssignment(
    flatbuffers::FlatBufferBuilder& b, const group::Assignment& a) {
  std::vector<flatbuffers::Offset<fb::TopicPartitions>> out;
  for (const auto& [topic, parts] : a) {
    std::vector<int32_t> ids;
    for (auto p : parts) ids.push_back(p.value());
    out.push_back(fb::CreateTopicPartitionsDirect(b, topic.c_str(), &ids));
  }
  return b.CreateVector(out);
}

Response HeartbeatFailure(ErrorCode code, const std::string& message) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateGroupHeartbeatResponseDirect(b, code, message.c_str()));
  return FinishResponse(b);
}

Response CommitFailure(ErrorCode code, const std::string& message) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateOffsetCommitResponseDirect(b, code, message.c_str()));
  return FinishResponse(b);
}

std::vector<OffsetsRecord> ToOffsetsRecords(const std::vector<group::GroupRecord>& records) {
  std::vector<OffsetsRecord> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back({group::RecordKey(r), group::EncodeRecord(r)});
  return out;
}

}  // namespace

struct GroupCoordinator::Shard {
  std::mutex mu;
  std::map<std::string, group::Group> groups;  // guarded by mu
};

struct GroupCoordinator::Impl {
  Options options;
  Hooks hooks;
  std::vector<std::unique_ptr<Shard>> shards;
  std::mutex topics_mu;
  group::TopicMetadata topics;  // guarded by topics_mu

  group::GroupConfig ConfigFor() const {
    group::GroupConfig c;
    c.heartbeat_interval = options.heartbeat_interval;
    c.min_session_timeout = options.min_session_timeout;
    c.max_session_timeout = options.max_session_timeout;
    c.new_member_id = NewMemberId;
    return c;
  }

  // Shard lock held.
  group::Group& GetOrCreate(Shard& shard, const std::string& id) {
    auto it = shard.groups.find(id);
    if (it != shard.groups.end()) return it->second;
    auto [created, _] = shard.groups.emplace(id, group::Group(id, ConfigFor()));
    group::TopicMetadata t;
    {
      std::lock_guard lock(topics_mu);
      t = topics;
    }
    created->second.UpdateTopicMetadata(t);
    return created->second;
  }

  // Persists what `g` changed, then replies `ok`, or `failed(code, message)`
  // if the records could not be committed. Shard lock held while the append
  // is handed to the shard's replica (posted to its strand, so records keep
  // the order of the changes); the commit is awaited without it.
  void PersistThenReply(int32_t shard, group::Group& g, Response ok,
                        std::function<Response(ErrorCode, const std::string&)> failed, Reply reply) {
    auto records = ToOffsetsRecords(g.TakeRecords());
    if (records.empty()) {
      reply(std::move(ok));
      return;
    }
    auto shared_ok = std::make_shared<Response>(std::move(ok));
    hooks.append(
        shard, std::move(records), [shared_ok, failed = std::move(failed), reply = std::move(reply)](Result<void> r) {
          if (r) {
            reply(std::move(*shared_ok));
            return;
          }
          spdlog::error("group state not persisted: {}", r.error().ToString());
          reply(failed(wire::ToWireError(r.error().code()), "group state not persisted: " + r.error().message()));
        });
  }
};

GroupCoordinator::GroupCoordinator(Options options, Hooks hooks) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->hooks = std::move(hooks);
  for (int32_t i = 0; i < options.shards; ++i) impl_->shards.push_back(std::make_unique<Shard>());
}

GroupCoordinator::~GroupCoordinator() = default;

int32_t GroupCoordinator::ShardOf(std::string_view group_id) const {
  return static_cast<int32_t>(XXH3_64bits(group_id.data(), group_id.size()) %
                              static_cast<uint64_t>(impl_->options.shards));
}

Result<void> GroupCoordinator::Replay(int32_t shard_index, std::string_view key,
                                      std::optional<std::string_view> value) {
  if (shard_index < 0 || shard_index >= static_cast<int32_t>(impl_->shards.size())) {
    return Fail(Errc::kCorrupt, "group record in unknown shard " + std::to_string(shard_index));
  }
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  if (!value) {
    if (key.substr(0, kDeletePrefix.size()) == kDeletePrefix)
      shard.groups.erase(std::string(key.substr(kDeletePrefix.size())));
    return Ok();
  }
  auto record = group::DecodeRecord(*value);
  if (!record) return Fail(Errc::kCorrupt, "group record: " + record.error().ToString());
  auto& g = impl_->GetOrCreate(shard, record->group_id);
  if (auto r = g.Replay(*record); !r) return Fail(Errc::kCorrupt, "group replay: " + r.error().ToString());
  (void)g.TakeRecords();  // replayed state is already in the log
  return Ok();
}

void GroupCoordinator::UpdateTopics(const group::TopicMetadata& topics) {
  {
    std::lock_guard lock(impl_->topics_mu);
    impl_->topics = topics;
  }
  for (int32_t s = 0; s < static_cast<int32_t>(impl_->shards.size()); ++s) {
    Shard& shard = *impl_->shards[s];
    std::lock_guard lock(shard.mu);
    for (auto& [id, g] : shard.groups) {
      g.UpdateTopicMetadata(topics);
      auto records = ToOffsetsRecords(g.TakeRecords());
      if (!records.empty()) {
        impl_->hooks.append(s, std::move(records), [id = id](Result<void> r) {
          if (!r) spdlog::error("group {}: topic change not persisted: {}", id, r.error().ToString());
        });
      }
    }
  }
}

void GroupCoordinator::Tick() {
  const Millis now = Now();
  for (int32_t s = 0; s < static_cast<int32_t>(impl_->shards.size()); ++s) {
    Shard& shard = *impl_->shards[s];
    std::lock_guard lock(shard.mu);
    for (auto& [id, g] : shard.groups) {
      for (const auto& expired : g.Tick(now)) spdlog::info("group {}: member {} expired", id, expired);
      auto records = ToOffsetsRecords(g.TakeRecords());
      if (!records.empty()) {
        impl_->hooks.append(s, std::move(records), [id = id](Result<void> r) {
          if (!r) spdlog::error("group {}: expiry not persisted: {}", id, r.error().ToString());
        });
      }
    }
  }
}

void GroupCoordinator::Heartbeat(const fb::GroupHeartbeatRequest* req, Reply reply) {
  flatbuffers::FlatBufferBuilder b(512);
  auto fail = [&](ErrorCode code, const std::string& msg) {
    b.Finish(fb::CreateGroupHeartbeatResponseDirect(b, code, msg.c_str()));
    reply(FinishResponse(b));
  };
  if (auto v = ValidateGroupId(req->group_id()); !v) return fail(ErrorCode::InvalidGroupId, v.error().message());
  group::HeartbeatRequest hb;
  hb.member_id = wire::Str(req->member_id());
  if (req->instance_id()) hb.instance_id = req->instance_id()->str();
  hb.member_epoch = group::MemberEpoch(req->member_epoch());
  hb.session_timeout = Millis(req->session_timeout_ms());
  hb.rebalance_timeout = Millis(req->rebalance_timeout_ms());
  if (req->subscribed_topics()) {
    std::vector<std::string> topics;
    for (const auto* t : *req->subscribed_topics()) topics.push_back(t->str());
    hb.subscribed_topics = std::move(topics);
  }
  if (req->metadata())
    hb.metadata = std::string(reinterpret_cast<const char*>(req->metadata()->data()), req->metadata()->size());
  if (req->owned()) hb.owned = ToAssignment(req->owned());

  const std::string group_id = req->group_id()->str();
  const int32_t shard_index = ShardOf(group_id);
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  auto& g = impl_->GetOrCreate(shard, group_id);
  const Millis now = Now();
  (void)g.Tick(now);
  auto resp = g.Heartbeat(hb, now);
  if (!resp) {
    // A rejected heartbeat may still have changed state (expiry): persist it.
    b.Finish(fb::CreateGroupHeartbeatResponseDirect(b, ToWire(resp.error().code()), resp.error().message().c_str()));
    impl_->PersistThenReply(shard_index, g, FinishResponse(b), HeartbeatFailure, std::move(reply));
    return;
  }
  auto assignment = FromAssignment(b, resp->assignment);
  b.Finish(fb::CreateGroupHeartbeatResponse(b, ErrorCode::None, 0, b.CreateString(resp->member_id),
                                            resp->member_epoch.value(),
                                            static_cast<int32_t>(resp->heartbeat_interval.count()), assignment));
  impl_->PersistThenReply(shard_index, g, FinishResponse(b), HeartbeatFailure, std::move(reply));
}

void GroupCoordinator::OffsetCommit(const fb::OffsetCommitRequest* req, Reply reply) {
  flatbuffers::FlatBufferBuilder b(512);
  if (auto v = ValidateGroupId(req->group_id()); !v) {
    b.Finish(fb::CreateOffsetCommitResponseDirect(b, ErrorCode::InvalidGroupId, v.error().message().c_str()));
    return reply(FinishResponse(b));
  }
  const std::string group_id = req->group_id()->str();
  const std::string member_id = wire::Str(req->member_id());
  const bool admin = member_id.empty() && req->member_epoch() == -1;
  const int32_t shard_index = ShardOf(group_id);
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end() && !admin) {
    b.Finish(fb::CreateOffsetCommitResponseDirect(b, ErrorCode::UnknownMemberId,
                                                  ("group '" + group_id + "' has no member " + member_id).c_str()));
    return reply(FinishResponse(b));
  }
  auto& g = impl_->GetOrCreate(shard, group_id);
  (void)g.Tick(Now());  // exact expiry before judging the member's epoch
  std::vector<flatbuffers::Offset<fb::OffsetCommitTopicResult>> topics;
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      std::vector<flatbuffers::Offset<fb::OffsetCommitPartitionResult>> parts;
      const std::string topic = wire::Str(t->name());
      if (t->partitions()) {
        for (const auto* p : *t->partitions()) {
          group::Result<void> r = {};
          if (p->offset() < 0) {
            r = tl::unexpected(group::Error(group::Errc::kInvalidRequest, "offset must be >= 0"));
          } else if (admin) {
            r = g.AdminCommitOffset(topic, PartitionId(p->partition()), Offset(p->offset()), wire::Str(p->metadata()));
          } else {
            r = g.CommitOffset(member_id, group::MemberEpoch(req->member_epoch()), topic, PartitionId(p->partition()),
                               Offset(p->offset()), wire::Str(p->metadata()));
          }
          parts.push_back(fb::CreateOffsetCommitPartitionResultDirect(b, p->partition(),
                                                                      r ? ErrorCode::None : ToWire(r.error().code()),
                                                                      r ? nullptr : r.error().message().c_str()));
        }
      }
      topics.push_back(fb::CreateOffsetCommitTopicResultDirect(b, topic.c_str(), &parts));
    }
  }
  b.Finish(fb::CreateOffsetCommitResponseDirect(b, ErrorCode::None, nullptr, &topics));
  impl_->PersistThenReply(shard_index, g, FinishResponse(b), CommitFailure, std::move(reply));
}

namespace {

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::OffsetFetchTopicResult>>> CommittedOffsets(
    flatbuffers::FlatBufferBuilder& b, const group::Group* g, const fb::OffsetFetchRequest* req,
    const GroupCoordinator::Hooks& hooks) {
  // (topic, partition) → committed, for the partitions asked (or all committed).
  std::map<std::string, std::vector<std::pair<int32_t, std::optional<group::OffsetAndMetadata>>>> wanted;
  if (req && req->topics()) {
    for (const auto* t : *req->topics()) {
      auto& list = wanted[wire::Str(t->name())];
      if (!t->partitions()) continue;
      for (int32_t p : *t->partitions()) {
        list.emplace_back(p, g ? g->CommittedOffset(t->name()->str(), PartitionId(p)) : std::nullopt);
      }
    }
  } else if (g) {
    for (const auto& [tp, om] : g->committed_offsets()) wanted[tp.topic].emplace_back(tp.partition.value(), om);
  }
  std::vector<flatbuffers::Offset<fb::OffsetFetchTopicResult>> out;
  for (const auto& [topic, list] : wanted) {
    std::vector<flatbuffers::Offset<fb::OffsetFetchPartitionResult>> parts;
    for (const auto& [p, om] : list) {
      parts.push_back(fb::CreateOffsetFetchPartitionResultDirect(
          b, p, ErrorCode::None, nullptr, om ? om->offset.value() : -1, om ? om->metadata.c_str() : nullptr,
          hooks.high_watermark(topic, p)));
    }
    out.push_back(fb::CreateOffsetFetchTopicResultDirect(b, topic.c_str(), &parts));
  }
  return b.CreateVector(out);
}

}  // namespace

void GroupCoordinator::OffsetFetch(const fb::OffsetFetchRequest* req, Reply reply) {
  flatbuffers::FlatBufferBuilder b(512);
  if (auto v = ValidateGroupId(req->group_id()); !v) {
    b.Finish(fb::CreateOffsetFetchResponseDirect(b, ErrorCode::InvalidGroupId, v.error().message().c_str()));
    return reply(FinishResponse(b));
  }
  const std::string group_id = req->group_id()->str();
  Shard& shard = *impl_->shards[ShardOf(group_id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.groups.find(group_id);
  // An unknown group has committed nothing: -1 offsets, not an error, so a
  // consumer joining a new group needs no special case.
  auto topics = CommittedOffsets(b, it == shard.groups.end() ? nullptr : &it->second, req, impl_->hooks);
  b.Finish(fb::CreateOffsetFetchResponse(b, ErrorCode::None, 0, topics));
  reply(FinishResponse(b));
}

void GroupCoordinator::ListGroups(Reply reply) {
  flatbuffers::FlatBufferBuilder b(512);
  std::vector<flatbuffers::Offset<fb::GroupListing>> out;
  for (auto& shard : impl_->shards) {
    std::lock_guard lock(shard->mu);
    for (auto& [id, g] : shard->groups) {
      const auto d = g.Describe();
      out.push_back(fb::CreateGroupListingDirect(b, id.c_str(), std::string(group::GroupStateName(d.state)).c_str(),
                                                 static_cast<int32_t>(d.members.size())));
    }
  }
  b.Finish(fb::CreateListGroupsResponseDirect(b, ErrorCode::None, nullptr, &out));
  reply(FinishResponse(b));
}

void GroupCoordinator::DescribeGroup(const fb::DescribeGroupRequest* req, Reply reply) {
  flatbuffers::FlatBufferBuilder b(1024);
  if (auto v = ValidateGroupId(req->group_id()); !v) {
    b.Finish(fb::CreateDescribeGroupResponseDirect(b, ErrorCode::InvalidGroupId, v.error().message().c_str()));
    return reply(FinishResponse(b));
  }
  const std::string group_id = req->group_id()->str();
  Shard& shard = *impl_->shards[ShardOf(group_id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end()) {
    b.Finish(fb::CreateDescribeGroupResponseDirect(b, ErrorCode::GroupIdNotFound,
                                                   ("group '" + group_id + "' does not exist").c_str()));
    return reply(FinishResponse(b));
  }
  const auto d = it->second.Describe();
  std::vector<flatbuffers::Offset<fb::GroupMemberDescription>> members;
  for (const auto& m : d.members) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> subs;
    for (const auto& t : m.subscribed_topics) subs.push_back(b.CreateString(t));
    auto subs_v = b.CreateVector(subs);
    auto assigned = FromAssignment(b, m.assignment);
    auto pending = FromAssignment(b, m.pending_revocation);
    auto meta = b.CreateVector(reinterpret_cast<const uint8_t*>(m.metadata.data()), m.metadata.size());
    auto mid = b.CreateString(m.member_id);
    auto iid = m.instance_id ? b.CreateString(*m.instance_id) : 0;
    auto state = b.CreateString(std::string(group::MemberStateName(m.state)));
    members.push_back(fb::CreateGroupMemberDescription(b, mid, iid, meta, m.member_epoch.value(), state,
                                                       m.presence == group::Presence::kStaticLeft, subs_v, assigned,
                                                       pending));
  }
  auto offsets = CommittedOffsets(b, &it->second, nullptr, impl_->hooks);
  auto members_v = b.CreateVector(members);
  auto gid = b.CreateString(group_id);
  auto state = b.CreateString(std::string(group::GroupStateName(d.state)));
  b.Finish(fb::CreateDescribeGroupResponse(b, ErrorCode::None, 0, gid, state, d.group_epoch.value(),
                                           d.assignment_epoch.value(), members_v, offsets));
  reply(FinishResponse(b));
}

void GroupCoordinator::DeleteGroup(const fb::DeleteGroupRequest* req, Reply reply) {
  flatbuffers::FlatBufferBuilder b(128);
  if (auto v = ValidateGroupId(req->group_id()); !v) {
    b.Finish(fb::CreateDeleteGroupResponseDirect(b, ErrorCode::InvalidGroupId, v.error().message().c_str()));
    return reply(FinishResponse(b));
  }
  const std::string group_id = req->group_id()->str();
  const int32_t shard_index = ShardOf(group_id);
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end()) {
    b.Finish(fb::CreateDeleteGroupResponseDirect(b, ErrorCode::GroupIdNotFound,
                                                 ("group '" + group_id + "' does not exist").c_str()));
    return reply(FinishResponse(b));
  }
  (void)it->second.Tick(Now());
  if (it->second.member_count() > 0) {
    b.Finish(fb::CreateDeleteGroupResponseDirect(
        b, ErrorCode::NonEmptyGroup,
        ("group '" + group_id + "' has " + std::to_string(it->second.member_count()) + " member(s)").c_str()));
    return reply(FinishResponse(b));
  }
  // Whatever the group still had to persist is superseded by the tombstone.
  (void)it->second.TakeRecords();
  shard.groups.erase(it);
  b.Finish(fb::CreateDeleteGroupResponseDirect(b, ErrorCode::None));
  auto ok = std::make_shared<Response>(FinishResponse(b));
  impl_->hooks.append(shard_index, {{kDeletePrefix + group_id, std::nullopt}}, [ok, reply](Result<void> r) {
    if (r) return reply(std::move(*ok));
    flatbuffers::FlatBufferBuilder fb_builder(128);
    fb_builder.Finish(
        fb::CreateDeleteGroupResponseDirect(fb_builder, wire::ToWireError(r.error().code()),
                                            ("group deletion not persisted: " + r.error().message()).c_str()));
    reply(FinishResponse(fb_builder));
  });
}

}  // namespace telemq::broker
