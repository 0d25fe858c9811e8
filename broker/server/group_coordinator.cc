#include "broker/server/group_coordinator.h"

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <utility>
#include <variant>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "broker/group/records.h"
#include "telemq/common/check.h"
#include "telemq/common/log.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

namespace fb = wire::fb;
using fb::ErrorCode;
using group::Millis;

namespace {

// Group deletion is a tombstone under a key no group record can have (group
// record keys start with the non-empty group id).
const std::string kDeletePrefix = std::string("\0delete\0", 8);

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

// A group and when its persisted state last changed (for empty-group expiry).
struct GroupEntry {
  group::Group group;
  Millis last_change{0};
};

struct GroupCoordinator::Shard {
  mutable std::mutex mu;
  ShardState state = ShardState::kInactive;  // guarded by mu
  // The term of the last BeginLoading (0: active from construction).
  Term term{0};  // guarded by mu
  // Active from construction and never given to BeginLoading: accepts the
  // term-less Replay (kAllActive compatibility).
  bool legacy = false;                       // guarded by mu
  std::map<std::string, GroupEntry> groups;  // guarded by mu
  Millis next_snapshot{0};                   // guarded by mu
  // Set by a failed snapshot append (on the replica's strand, which must not
  // take mu: the append may complete inline); the next Tick snapshots again.
  std::shared_ptr<std::atomic<bool>> snapshot_failed = std::make_shared<std::atomic<bool>>(false);
};

namespace {

// The answer for a request whose shard does not serve: nullopt when active.
std::optional<std::pair<ErrorCode, std::string>> Unavailable(GroupCoordinator::ShardState state, int32_t shard,
                                                             const std::string& group_id) {
  switch (state) {
    case GroupCoordinator::ShardState::kActive: return std::nullopt;
    case GroupCoordinator::ShardState::kLoading:
      return std::pair{ErrorCode::CoordinatorLoading, "group '" + group_id + "': shard " + std::to_string(shard) +
                                                          " of " + std::string(kOffsetsTopic) +
                                                          " is loading on this broker, retry"};
    case GroupCoordinator::ShardState::kInactive:
      return std::pair{ErrorCode::NotCoordinator, "group '" + group_id + "': this broker does not lead shard " +
                                                      std::to_string(shard) + " of " + std::string(kOffsetsTopic) +
                                                      ", find the coordinator again"};
  }
  return std::pair{ErrorCode::Unknown, std::string("bad shard state")};
}

// A failed append as the client should see it: a replica that lost its
// leadership means the coordinator moved.
ErrorCode AppendErrorToWire(const Error& e) {
  return e.code() == Errc::kNotLeader ? ErrorCode::NotCoordinator : wire::ToWireError(e.code());
}

}  // namespace

struct GroupCoordinator::Impl {
  Options options;
  Hooks hooks;
  std::vector<std::unique_ptr<Shard>> shards;
  std::mutex topics_mu;
  group::TopicMetadata topics;  // guarded by topics_mu

  Millis Now() const {
    if (hooks.clock) return hooks.clock();
    return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch());
  }

  group::TopicMetadata Topics() {
    std::lock_guard lock(topics_mu);
    return topics;
  }

  Shard& ShardAt(int32_t index) {
    TELEMQ_CHECK(index >= 0 && index < static_cast<int32_t>(shards.size()), "shard index out of range");
    return *shards[index];
  }

  group::GroupConfig ConfigFor() const {
    group::GroupConfig c;
    c.heartbeat_interval = options.heartbeat_interval;
    c.min_session_timeout = options.min_session_timeout;
    c.max_session_timeout = options.max_session_timeout;
    c.new_member_id = NewMemberId;
    return c;
  }

  // Shard lock held. Hands `records` to the shard's replica in the shard's
  // term (see Hooks::append_in_term).
  void Append(int32_t index, const Shard& shard, std::vector<OffsetsRecord> records, Done done) {
    if (hooks.append_in_term) return hooks.append_in_term(index, shard.term, std::move(records), std::move(done));
    hooks.append(index, std::move(records), std::move(done));
  }

  // Shard lock held. Appends what `entry` changed (logging a failure).
  void AppendChanges(int32_t index, Shard& shard, const std::string& id, GroupEntry& entry, Millis now,
                     const char* what) {
    auto records = ToOffsetsRecords(entry.group.TakeRecords());
    if (records.empty()) return;
    entry.last_change = now;
    Append(index, shard, std::move(records), [id, what](Result<void> r) {
      if (!r)
        log::Error("group change not persisted", {{"group", id}, {"change", what}, {"error", r.error().ToString()}});
    });
  }

  // Shard lock held. A group for a request: created with the current topics.
  GroupEntry& GetOrCreate(Shard& shard, const std::string& id, Millis now) {
    auto it = shard.groups.find(id);
    if (it != shard.groups.end()) return it->second;
    auto [created, _] = shard.groups.emplace(id, GroupEntry{group::Group(id, ConfigFor()), now});
    created->second.group.UpdateTopicMetadata(Topics());
    return created->second;
  }

  // Shard lock held. Drops the shard's groups; nothing is appended.
  static void Clear(Shard& shard) {
    shard.groups.clear();
    shard.snapshot_failed->store(false);
  }

  // Shard lock held: one record of the shard's log.
  Result<void> ReplayRecord(Shard& shard, std::string_view key, std::optional<std::string_view> value) {
    if (!value) {
      // Group deletion; other tombstones (none are written) mean nothing.
      if (key.substr(0, kDeletePrefix.size()) == kDeletePrefix) {
        shard.groups.erase(std::string(key.substr(kDeletePrefix.size())));
      }
      return Ok();
    }
    auto record = group::DecodeRecord(*value);
    if (!record) return Fail(Errc::kCorrupt, "group record: " + record.error().ToString());
    auto it = shard.groups.find(record->group_id);
    if (it == shard.groups.end()) {
      // A log cut by retention may start after the records that created the
      // group: a member tombstone of an absent group changes nothing and
      // must not create it.
      if (std::holds_alternative<group::MemberTombstone>(record->body)) return Ok();
      // Topics are applied once the load finishes (FinishLoading).
      it = shard.groups.emplace(record->group_id, GroupEntry{group::Group(record->group_id, ConfigFor()), Now()}).first;
    }
    if (auto r = it->second.group.Replay(*record); !r) {
      return Fail(Errc::kCorrupt, "group replay: " + r.error().ToString());
    }
    (void)it->second.group.TakeRecords();  // replayed state is already in the log
    return Ok();
  }

  // Shard lock held. Appends every record of every group of the shard, in
  // appends of about options.snapshot_append_bytes, all handed off under
  // this one lock hold so that nothing falls between them.
  void WriteSnapshot(int32_t index, Shard& shard) {
    std::vector<OffsetsRecord> batch;
    size_t batch_bytes = 0;
    size_t total_records = 0;
    int appends = 0;
    auto flush = [&] {
      if (batch.empty()) return;
      ++appends;
      Append(index, shard, std::exchange(batch, {}), [index, failed = shard.snapshot_failed](Result<void> r) {
        if (r) return;
        failed->store(true);
        log::Error("offsets shard snapshot not persisted; retried at the next tick",
                   {{"shard", index}, {"error", r.error().ToString()}});
      });
      batch_bytes = 0;
    };
    for (const auto& [id, entry] : shard.groups) {
      for (const auto& record : entry.group.SnapshotRecords()) {
        OffsetsRecord out{group::RecordKey(record), group::EncodeRecord(record)};
        const size_t bytes = out.key.size() + out.value->size();
        if (!batch.empty() && batch_bytes + bytes > options.snapshot_append_bytes) flush();
        batch_bytes += bytes;
        batch.push_back(std::move(out));
        ++total_records;
      }
    }
    flush();
    if (total_records > 0) {
      log::Debug("offsets shard snapshot written", {{"shard", index},
                                                    {"group_count", shard.groups.size()},
                                                    {"record_count", total_records},
                                                    {"append_count", appends}});
    }
  }

  // Persists what `entry` changed, then replies `ok`, or `failed(code, message)`
  // if the records could not be committed. Shard lock held while the append
  // is handed to the shard's replica (posted to its strand, so records keep
  // the order of the changes); the commit is awaited without it.
  void PersistThenReply(int32_t index, Shard& shard, GroupEntry& entry, Millis now, Response ok,
                        std::function<Response(ErrorCode, const std::string&)> failed, Reply reply) {
    auto records = ToOffsetsRecords(entry.group.TakeRecords());
    if (records.empty()) {
      reply(std::move(ok));
      return;
    }
    entry.last_change = now;
    auto shared_ok = std::make_shared<Response>(std::move(ok));
    Append(index, shard, std::move(records),
           [shared_ok, failed = std::move(failed), reply = std::move(reply)](Result<void> r) {
             if (r) {
               reply(std::move(*shared_ok));
               return;
             }
             log::Warn("group state not persisted", {{"error", r.error().ToString()}});
             reply(failed(AppendErrorToWire(r.error()), "group state not persisted: " + r.error().message()));
           });
  }
};

GroupCoordinator::GroupCoordinator(Options options, Hooks hooks) : impl_(std::make_unique<Impl>()) {
  TELEMQ_CHECK(options.shards > 0, "Options::shards must be positive");
  TELEMQ_CHECK(static_cast<bool>(hooks.append) || static_cast<bool>(hooks.append_in_term),
               "Hooks::append or Hooks::append_in_term is required");
  impl_->options = options;
  impl_->hooks = std::move(hooks);
  const Millis now = impl_->Now();
  for (int32_t i = 0; i < options.shards; ++i) {
    auto shard = std::make_unique<Shard>();
    if (options.initial_shards == InitialShards::kAllActive) {
      shard->state = ShardState::kActive;
      shard->legacy = true;
      shard->next_snapshot = now + options.snapshot_interval;
    }
    impl_->shards.push_back(std::move(shard));
  }
}

GroupCoordinator::~GroupCoordinator() = default;

int32_t GroupCoordinator::ShardOf(std::string_view group_id) const {
  return static_cast<int32_t>(XXH3_64bits(group_id.data(), group_id.size()) %
                              static_cast<uint64_t>(impl_->options.shards));
}

GroupCoordinator::ShardState GroupCoordinator::StateOf(int32_t index) const {
  const Shard& shard = impl_->ShardAt(index);
  std::lock_guard lock(shard.mu);
  return shard.state;
}

void GroupCoordinator::BeginLoading(int32_t index, Term term) {
  Shard& shard = impl_->ShardAt(index);
  std::lock_guard lock(shard.mu);
  if (term < shard.term) {
    log::Warn("offsets shard: ignoring leadership of an older term",
              {{"shard", index}, {"term", term}, {"seen_term", shard.term}});
    return;
  }
  Impl::Clear(shard);
  shard.term = term;
  shard.legacy = false;
  shard.state = ShardState::kLoading;
}

Result<void> GroupCoordinator::Replay(int32_t index, Term term, std::string_view key,
                                      std::optional<std::string_view> value) {
  if (index < 0 || index >= static_cast<int32_t>(impl_->shards.size())) {
    return Fail(Errc::kCorrupt, "group record in unknown shard " + std::to_string(index));
  }
  Shard& shard = *impl_->shards[index];
  std::lock_guard lock(shard.mu);
  if (shard.state != ShardState::kLoading || shard.term != term) {
    return Fail(Errc::kNotLeader,
                "shard " + std::to_string(index) + " is not loading in term " + std::to_string(term.value()));
  }
  return impl_->ReplayRecord(shard, key, value);
}

Result<void> GroupCoordinator::Replay(int32_t index, std::string_view key, std::optional<std::string_view> value) {
  if (index < 0 || index >= static_cast<int32_t>(impl_->shards.size())) {
    return Fail(Errc::kCorrupt, "group record in unknown shard " + std::to_string(index));
  }
  Shard& shard = *impl_->shards[index];
  std::lock_guard lock(shard.mu);
  const bool accepted = shard.state == ShardState::kLoading || (shard.state == ShardState::kActive && shard.legacy);
  if (!accepted) return Fail(Errc::kNotLeader, "shard " + std::to_string(index) + " is not loading");
  return impl_->ReplayRecord(shard, key, value);
}

void GroupCoordinator::FinishLoading(int32_t index, Term term) {
  Shard& shard = impl_->ShardAt(index);
  std::lock_guard lock(shard.mu);
  if (shard.state != ShardState::kLoading || shard.term != term) {
    log::Info("offsets shard load superseded", {{"shard", index}, {"term", term}});
    return;
  }
  const Millis now = impl_->Now();
  const group::TopicMetadata topics = impl_->Topics();
  for (auto& [id, entry] : shard.groups) {
    entry.last_change = now;  // expiry clocks restart with the coordinator
    entry.group.UpdateTopicMetadata(topics);
    impl_->AppendChanges(index, shard, id, entry, now, "topic change");
  }
  shard.state = ShardState::kActive;
  shard.next_snapshot = now;  // the first Tick writes one
  log::Info("offsets shard coordinating", {{"shard", index}, {"group_count", shard.groups.size()}, {"term", term}});
}

void GroupCoordinator::Resign(int32_t index) {
  Shard& shard = impl_->ShardAt(index);
  std::lock_guard lock(shard.mu);
  if (shard.state != ShardState::kInactive) {
    log::Info("offsets shard no longer coordinating", {{"shard", index}, {"term", shard.term}});
  }
  Impl::Clear(shard);
  shard.legacy = false;
  shard.state = ShardState::kInactive;
}

void GroupCoordinator::UpdateTopics(const group::TopicMetadata& topics) {
  {
    std::lock_guard lock(impl_->topics_mu);
    impl_->topics = topics;
  }
  const Millis now = impl_->Now();
  for (int32_t s = 0; s < static_cast<int32_t>(impl_->shards.size()); ++s) {
    Shard& shard = *impl_->shards[s];
    std::lock_guard lock(shard.mu);
    if (shard.state != ShardState::kActive) continue;  // a loading shard applies them when it finishes
    for (auto& [id, entry] : shard.groups) {
      entry.group.UpdateTopicMetadata(topics);
      impl_->AppendChanges(s, shard, id, entry, now, "topic change");
    }
  }
}

void GroupCoordinator::Tick() {
  const Millis now = impl_->Now();
  const Options& o = impl_->options;
  for (int32_t s = 0; s < static_cast<int32_t>(impl_->shards.size()); ++s) {
    Shard& shard = *impl_->shards[s];
    std::lock_guard lock(shard.mu);
    if (shard.state != ShardState::kActive) continue;
    for (auto it = shard.groups.begin(); it != shard.groups.end();) {
      const std::string& id = it->first;
      GroupEntry& entry = it->second;
      for (const auto& expired : entry.group.Tick(now)) {
        log::Info("group member expired", {{"group", id}, {"member", expired}});
      }
      impl_->AppendChanges(s, shard, id, entry, now, "expiry");
      if (entry.group.member_count() > 0 || now - entry.last_change < o.empty_group_retention) {
        ++it;
        continue;
      }
      log::Info("empty group deleted", {{"group", id}, {"empty_ms", (now - entry.last_change).count()}});
      impl_->Append(s, shard, {{kDeletePrefix + id, std::nullopt}}, [id = id](Result<void> r) {
        if (!r) log::Error("expiry of an empty group not persisted", {{"group", id}, {"error", r.error().ToString()}});
      });
      it = shard.groups.erase(it);
    }
    const bool retry = shard.snapshot_failed->exchange(false);
    if (o.snapshot_interval > Millis(0) && (now >= shard.next_snapshot || retry)) {
      impl_->WriteSnapshot(s, shard);
      shard.next_snapshot = now + o.snapshot_interval;
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
  if (auto u = Unavailable(shard.state, shard_index, group_id)) return fail(u->first, u->second);
  const Millis now = impl_->Now();
  auto& entry = impl_->GetOrCreate(shard, group_id, now);
  auto& g = entry.group;
  (void)g.Tick(now);
  auto resp = g.Heartbeat(hb, now);
  if (!resp) {
    // A rejected heartbeat may still have changed state (expiry): persist it.
    b.Finish(fb::CreateGroupHeartbeatResponseDirect(b, ToWire(resp.error().code()), resp.error().message().c_str()));
    impl_->PersistThenReply(shard_index, shard, entry, now, FinishResponse(b), HeartbeatFailure, std::move(reply));
    return;
  }
  auto assignment = FromAssignment(b, resp->assignment);
  b.Finish(fb::CreateGroupHeartbeatResponse(b, ErrorCode::None, 0, b.CreateString(resp->member_id),
                                            resp->member_epoch.value(),
                                            static_cast<int32_t>(resp->heartbeat_interval.count()), assignment));
  impl_->PersistThenReply(shard_index, shard, entry, now, FinishResponse(b), HeartbeatFailure, std::move(reply));
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
  if (auto u = Unavailable(shard.state, shard_index, group_id)) return reply(CommitFailure(u->first, u->second));
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end() && !admin) {
    b.Finish(fb::CreateOffsetCommitResponseDirect(b, ErrorCode::UnknownMemberId,
                                                  ("group '" + group_id + "' has no member " + member_id).c_str()));
    return reply(FinishResponse(b));
  }
  const Millis now = impl_->Now();
  auto& entry = impl_->GetOrCreate(shard, group_id, now);
  auto& g = entry.group;
  (void)g.Tick(now);  // exact expiry before judging the member's epoch
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
  impl_->PersistThenReply(shard_index, shard, entry, now, FinishResponse(b), CommitFailure, std::move(reply));
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
  const int32_t shard_index = ShardOf(group_id);
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  if (auto u = Unavailable(shard.state, shard_index, group_id)) {
    b.Finish(fb::CreateOffsetFetchResponseDirect(b, u->first, u->second.c_str()));
    return reply(FinishResponse(b));
  }
  auto it = shard.groups.find(group_id);
  // An unknown group has committed nothing: -1 offsets, not an error, so a
  // consumer joining a new group needs no special case.
  auto topics = CommittedOffsets(b, it == shard.groups.end() ? nullptr : &it->second.group, req, impl_->hooks);
  b.Finish(fb::CreateOffsetFetchResponse(b, ErrorCode::None, 0, topics));
  reply(FinishResponse(b));
}

void GroupCoordinator::ListGroups(Reply reply) {
  flatbuffers::FlatBufferBuilder b(512);
  std::vector<flatbuffers::Offset<fb::GroupListing>> out;
  for (auto& shard : impl_->shards) {
    std::lock_guard lock(shard->mu);
    if (shard->state != ShardState::kActive) continue;
    for (auto& [id, entry] : shard->groups) {
      const auto d = entry.group.Describe();
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
  const int32_t shard_index = ShardOf(group_id);
  Shard& shard = *impl_->shards[shard_index];
  std::lock_guard lock(shard.mu);
  if (auto u = Unavailable(shard.state, shard_index, group_id)) {
    b.Finish(fb::CreateDescribeGroupResponseDirect(b, u->first, u->second.c_str()));
    return reply(FinishResponse(b));
  }
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end()) {
    b.Finish(fb::CreateDescribeGroupResponseDirect(b, ErrorCode::GroupIdNotFound,
                                                   ("group '" + group_id + "' does not exist").c_str()));
    return reply(FinishResponse(b));
  }
  const auto d = it->second.group.Describe();
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
  auto offsets = CommittedOffsets(b, &it->second.group, nullptr, impl_->hooks);
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
  if (auto u = Unavailable(shard.state, shard_index, group_id)) {
    b.Finish(fb::CreateDeleteGroupResponseDirect(b, u->first, u->second.c_str()));
    return reply(FinishResponse(b));
  }
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end()) {
    b.Finish(fb::CreateDeleteGroupResponseDirect(b, ErrorCode::GroupIdNotFound,
                                                 ("group '" + group_id + "' does not exist").c_str()));
    return reply(FinishResponse(b));
  }
  group::Group& g = it->second.group;
  (void)g.Tick(impl_->Now());
  if (g.member_count() > 0) {
    // The tick may have expired someone: persist that, then refuse.
    b.Finish(fb::CreateDeleteGroupResponseDirect(
        b, ErrorCode::NonEmptyGroup,
        ("group '" + group_id + "' has " + std::to_string(g.member_count()) + " member(s)").c_str()));
    impl_->AppendChanges(shard_index, shard, group_id, it->second, impl_->Now(), "expiry");
    return reply(FinishResponse(b));
  }
  // Whatever the group still had to persist is superseded by the tombstone.
  (void)g.TakeRecords();
  shard.groups.erase(it);
  b.Finish(fb::CreateDeleteGroupResponseDirect(b, ErrorCode::None));
  auto ok = std::make_shared<Response>(FinishResponse(b));
  impl_->Append(shard_index, shard, {{kDeletePrefix + group_id, std::nullopt}}, [ok, reply](Result<void> r) {
    if (r) return reply(std::move(*ok));
    flatbuffers::FlatBufferBuilder fb_builder(128);
    fb_builder.Finish(fb::CreateDeleteGroupResponseDirect(
        fb_builder, AppendErrorToWire(r.error()), ("group deletion not persisted: " + r.error().message()).c_str()));
    reply(FinishResponse(fb_builder));
  });
}

std::vector<GroupCoordinator::GroupStats> GroupCoordinator::Stats() const {
  std::vector<GroupStats> out;
  for (const auto& shard : impl_->shards) {
    std::lock_guard lock(shard->mu);
    if (shard->state != ShardState::kActive) continue;
    for (const auto& [id, entry] : shard->groups) {
      GroupStats& g = out.emplace_back();
      g.group_id = id;
      g.members = entry.group.member_count();
      g.committed.reserve(entry.group.committed_offsets().size());
      for (const auto& [tp, om] : entry.group.committed_offsets()) g.committed.emplace_back(tp, om.offset);
    }
  }
  return out;
}

}  // namespace telemq::broker
