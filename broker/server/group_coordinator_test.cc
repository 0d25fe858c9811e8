#include "broker/server/group_coordinator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "broker/group/records.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {
namespace {

namespace fb = wire::fb;
using std::chrono::milliseconds;
using Mode = GroupCoordinator::InitialShards;
using State = GroupCoordinator::ShardState;

// The coordinator's I/O is its hooks; here they keep records in memory (the
// shard logs) so a second coordinator can replay exactly what the first
// persisted, and time is a manual clock.
class GroupCoordinatorTest : public ::testing::Test {
 protected:
  struct Stored {
    int32_t shard;
    OffsetsRecord record;
  };

  GroupCoordinator::Options BaseOptions(Mode mode) {
    GroupCoordinator::Options o;
    o.shards = 4;
    o.heartbeat_interval = milliseconds(100);
    o.min_session_timeout = milliseconds(100);
    o.initial_shards = mode;
    return o;
  }

  // kAllActive uses the term-less append hook (as the single broker does),
  // kInactive the term-fenced one.
  std::unique_ptr<GroupCoordinator> Make(GroupCoordinator::Options o) {
    GroupCoordinator::Hooks h;
    auto store = [this](int32_t shard, std::vector<OffsetsRecord> records, GroupCoordinator::Done done) {
      ++appends_;
      if (defer_) return deferred_.push_back(std::move(done));
      if (fail_with_) return done(Fail(*fail_with_, "append refused"));
      for (auto& r : records) log_.push_back({shard, std::move(r)});
      done(Ok());
    };
    if (o.initial_shards == Mode::kAllActive) {
      h.append = store;
    } else {
      h.append_in_term = [this, store](int32_t shard, Term term, std::vector<OffsetsRecord> records,
                                       GroupCoordinator::Done done) {
        append_terms_.insert(term.value());
        store(shard, std::move(records), std::move(done));
      };
    }
    h.high_watermark = [](const std::string&, int32_t p) -> int64_t { return 100 + p; };
    h.clock = [this] { return now_; };
    auto c = std::make_unique<GroupCoordinator>(o, std::move(h));
    c->UpdateTopics({{"t", 6}});
    return c;
  }
  std::unique_ptr<GroupCoordinator> Make(Mode mode = Mode::kAllActive) { return Make(BaseOptions(mode)); }

  // Leadership of `shard` in `term`: replays log_[from..] of that shard.
  void Load(GroupCoordinator& c, int32_t shard, int64_t term, size_t from = 0) {
    c.BeginLoading(shard, Term(term));
    for (size_t i = from; i < log_.size(); ++i) {
      if (log_[i].shard != shard) continue;
      auto r = c.Replay(shard, Term(term), log_[i].record.key, log_[i].record.value);
      ASSERT_TRUE(r.has_value()) << r.error().ToString();
    }
    c.FinishLoading(shard, Term(term));
  }
  void LoadAll(GroupCoordinator& c, int64_t term, size_t from = 0) {
    for (int32_t s = 0; s < 4; ++s) Load(c, s, term, from);
  }

  // Sends a heartbeat and returns the verified response bytes.
  std::vector<uint8_t> Heartbeat(GroupCoordinator& c, const std::string& member_id, int32_t epoch,
                                 const std::vector<std::string>* topics, const std::string& group = "g") {
    flatbuffers::FlatBufferBuilder b;
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> subs;
    if (topics) subs = b.CreateVectorOfStrings(*topics);
    auto g = b.CreateString(group);
    auto m = b.CreateString(member_id);
    fb::GroupHeartbeatRequestBuilder rb(b);
    rb.add_group_id(g);
    rb.add_member_id(m);
    rb.add_member_epoch(epoch);
    rb.add_session_timeout_ms(10'000);
    if (topics) rb.add_subscribed_topics(subs);
    b.Finish(rb.Finish());
    return Call<fb::GroupHeartbeatRequest>(b, [&](auto* req, Reply r) { c.Heartbeat(req, std::move(r)); });
  }
  // Joins a member subscribed to "t"; returns its id and epoch.
  std::pair<std::string, int32_t> Join(GroupCoordinator& c, const std::string& group = "g") {
    std::vector<std::string> topics{"t"};
    auto bytes = Heartbeat(c, "", 0, &topics, group);
    auto* h = As<fb::GroupHeartbeatResponse>(bytes);
    EXPECT_EQ(h->error(), fb::ErrorCode::None);
    return {h->member_id()->str(), h->member_epoch()};
  }

  std::vector<uint8_t> Commit(GroupCoordinator& c, const std::string& group, const std::string& member, int32_t epoch,
                              int32_t partition, int64_t offset) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::OffsetCommitPartition>> ps{
        fb::CreateOffsetCommitPartitionDirect(b, partition, offset)};
    std::vector<flatbuffers::Offset<fb::OffsetCommitTopic>> ts{fb::CreateOffsetCommitTopicDirect(b, "t", &ps)};
    b.Finish(fb::CreateOffsetCommitRequestDirect(b, group.c_str(), member.c_str(), epoch, &ts));
    return Call<fb::OffsetCommitRequest>(b, [&](auto* req, Reply r) { c.OffsetCommit(req, std::move(r)); });
  }
  // An operator's reset-offsets: needs no member.
  void AdminCommit(GroupCoordinator& c, const std::string& group, int32_t partition, int64_t offset) {
    auto bytes = Commit(c, group, "", -1, partition, offset);
    auto* resp = As<fb::OffsetCommitResponse>(bytes);
    ASSERT_EQ(resp->error(), fb::ErrorCode::None);
    ASSERT_EQ(resp->topics()->Get(0)->partitions()->Get(0)->error(), fb::ErrorCode::None);
  }

  // Every committed offset of `group`.
  std::vector<uint8_t> Fetch(GroupCoordinator& c, const std::string& group) {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateOffsetFetchRequestDirect(b, group.c_str()));
    return Call<fb::OffsetFetchRequest>(b, [&](auto* req, Reply r) { c.OffsetFetch(req, std::move(r)); });
  }
  std::vector<uint8_t> Describe(GroupCoordinator& c, const std::string& group = "g") {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateDescribeGroupRequestDirect(b, group.c_str()));
    return Call<fb::DescribeGroupRequest>(b, [&](auto* req, Reply r) { c.DescribeGroup(req, std::move(r)); });
  }
  std::vector<uint8_t> Delete(GroupCoordinator& c, const std::string& group) {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateDeleteGroupRequestDirect(b, group.c_str()));
    return Call<fb::DeleteGroupRequest>(b, [&](auto* req, Reply r) { c.DeleteGroup(req, std::move(r)); });
  }
  std::set<std::string> ListedGroups(GroupCoordinator& c) {
    std::vector<uint8_t> bytes;
    c.ListGroups([&](Response r) { bytes.assign(r.body.data(), r.body.data() + r.body.size()); });
    std::set<std::string> out;
    auto* resp = As<fb::ListGroupsResponse>(bytes);
    if (resp && resp->groups()) {
      for (const auto* g : *resp->groups()) out.insert(g->group_id()->str());
    }
    return out;
  }

  template <typename Req, typename F>
  std::vector<uint8_t> Call(flatbuffers::FlatBufferBuilder& b, F&& f) {
    std::vector<uint8_t> out;
    bool answered = false;
    auto* req = flatbuffers::GetRoot<Req>(b.GetBufferPointer());
    f(req, [&](Response r) {
      answered = true;
      out.assign(r.body.data(), r.body.data() + r.body.size());
    });
    EXPECT_TRUE(answered);  // the in-memory log commits at once
    return out;
  }

  template <typename T>
  const T* As(const std::vector<uint8_t>& bytes) {
    auto r = wire::VerifyBody<T>(std::as_bytes(std::span(bytes)));
    EXPECT_TRUE(r.has_value());
    return r ? *r : nullptr;
  }

  // Groups named g0, g1, ... that all live in shard `shard`.
  std::vector<std::string> GroupsOfShard(GroupCoordinator& c, int32_t shard, size_t n) {
    std::vector<std::string> out;
    for (int i = 0; out.size() < n; ++i) {
      std::string id = std::to_string(i);
      id.insert(id.begin(), 'g');
      if (c.ShardOf(id) == shard) out.push_back(id);
    }
    return out;
  }

  std::vector<Stored> log_;
  std::optional<Errc> fail_with_;
  // Appends waiting for their commit (not written to log_) while defer_.
  bool defer_ = false;
  std::vector<GroupCoordinator::Done> deferred_;
  int appends_ = 0;
  std::set<int64_t> append_terms_;
  milliseconds now_{1'000'000};
};

// --- The single-broker behaviour (kAllActive) ------------------------------

TEST_F(GroupCoordinatorTest, JoinedMembersShareThePartitionsAndSurviveReplay) {
  auto c = Make();
  std::vector<std::string> topics{"t"};
  auto r1 = Heartbeat(*c, "", 0, &topics);
  auto* h1 = As<fb::GroupHeartbeatResponse>(r1);
  ASSERT_EQ(h1->error(), fb::ErrorCode::None);
  const std::string m1 = h1->member_id()->str();
  auto r2 = Heartbeat(*c, "", 0, &topics);
  auto* h2 = As<fb::GroupHeartbeatResponse>(r2);
  ASSERT_EQ(h2->error(), fb::ErrorCode::None);
  EXPECT_NE(h2->member_id()->str(), m1);
  ASSERT_FALSE(log_.empty());

  const auto before = Describe(*c);
  auto replayed = Make();
  for (const auto& s : log_) {
    ASSERT_TRUE(replayed->Replay(s.shard, s.record.key, s.record.value).has_value());
  }
  EXPECT_EQ(Describe(*replayed), before);
  auto* d = As<fb::DescribeGroupResponse>(before);
  EXPECT_EQ(d->members()->size(), 2u);
}

TEST_F(GroupCoordinatorTest, UnpersistedHeartbeatGetsTheStorageError) {
  auto c = Make();
  fail_with_ = Errc::kNoSpace;
  std::vector<std::string> topics{"t"};
  auto r = Heartbeat(*c, "", 0, &topics);
  auto* h = As<fb::GroupHeartbeatResponse>(r);
  EXPECT_EQ(h->error(), fb::ErrorCode::DiskFull);
}

TEST_F(GroupCoordinatorTest, UnknownGroupHasNoCommittedOffsets) {
  auto c = Make();
  flatbuffers::FlatBufferBuilder b;
  std::vector<int32_t> parts{0, 1};
  std::vector<flatbuffers::Offset<fb::OffsetFetchTopic>> topics{fb::CreateOffsetFetchTopicDirect(b, "t", &parts)};
  b.Finish(fb::CreateOffsetFetchRequestDirect(b, "nobody", &topics));
  auto bytes = Call<fb::OffsetFetchRequest>(b, [&](auto* req, Reply r) { c->OffsetFetch(req, std::move(r)); });
  auto* resp = As<fb::OffsetFetchResponse>(bytes);
  ASSERT_EQ(resp->error(), fb::ErrorCode::None);
  ASSERT_EQ(resp->topics()->size(), 1u);
  for (const auto* p : *resp->topics()->Get(0)->partitions()) {
    EXPECT_EQ(p->offset(), -1);
    EXPECT_EQ(p->high_watermark(), 100 + p->partition());
  }
}

TEST_F(GroupCoordinatorTest, AdminCommitNeedsAnEmptyGroupAndDeleteIsPersisted) {
  auto c = Make();
  // Empty group: an admin commit (no member, epoch -1) is accepted.
  AdminCommit(*c, "g", 0, 42);
  // With a member, admin commits are refused and a stranger's commit is fenced.
  const auto [member, epoch] = Join(*c);
  auto refused = Commit(*c, "g", "", -1, 0, 42);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(refused)->topics()->Get(0)->partitions()->Get(0)->error(),
            fb::ErrorCode::NonEmptyGroup);
  auto stranger = Commit(*c, "g", "m-unknown", 1, 0, 42);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(stranger)->topics()->Get(0)->partitions()->Get(0)->error(),
            fb::ErrorCode::UnknownMemberId);
  // Leave, then delete; a replay of the log does not bring the group back.
  Heartbeat(*c, member, -1, nullptr);
  auto del = Delete(*c, "g");
  EXPECT_EQ(As<fb::DeleteGroupResponse>(del)->error(), fb::ErrorCode::None);
  auto replayed = Make();
  for (const auto& s : log_) ASSERT_TRUE(replayed->Replay(s.shard, s.record.key, s.record.value).has_value());
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*replayed))->error(), fb::ErrorCode::GroupIdNotFound);
}

TEST_F(GroupCoordinatorTest, CorruptRecordFailsReplayWithAClearError) {
  auto c = Make();
  auto r = c->Replay(0, "g", std::string_view("\x07garbage", 8));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kCorrupt);
}

// --- Leadership (kInactive) ------------------------------------------------

TEST_F(GroupCoordinatorTest, InactiveShardAnswersNotCoordinatorNamingTheShard) {
  auto c = Make(Mode::kInactive);
  const std::string shard = "shard " + std::to_string(c->ShardOf("g"));
  EXPECT_EQ(c->StateOf(c->ShardOf("g")), State::kInactive);

  std::vector<std::string> topics{"t"};
  auto hb = Heartbeat(*c, "", 0, &topics);
  EXPECT_EQ(As<fb::GroupHeartbeatResponse>(hb)->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_NE(As<fb::GroupHeartbeatResponse>(hb)->message()->str().find(shard), std::string::npos);
  auto commit = Commit(*c, "g", "", -1, 0, 1);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(commit)->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_NE(As<fb::OffsetCommitResponse>(commit)->message()->str().find(shard), std::string::npos);
  EXPECT_EQ(As<fb::OffsetFetchResponse>(Fetch(*c, "g"))->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*c))->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_EQ(As<fb::DeleteGroupResponse>(Delete(*c, "g"))->error(), fb::ErrorCode::NotCoordinator);
  c->Tick();
  EXPECT_TRUE(log_.empty());  // nothing of an inactive shard is written
  EXPECT_EQ(appends_, 0);
  // The term-less (compatibility) replay is refused too.
  auto replay = c->Replay(c->ShardOf("g"), "k", std::nullopt);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code(), Errc::kNotLeader);
}

TEST_F(GroupCoordinatorTest, LoadingShardAnswersCoordinatorLoading) {
  auto c = Make(Mode::kInactive);
  const int32_t s = c->ShardOf("g");
  c->BeginLoading(s, Term(1));
  EXPECT_EQ(c->StateOf(s), State::kLoading);
  std::vector<std::string> topics{"t"};
  EXPECT_EQ(As<fb::GroupHeartbeatResponse>(Heartbeat(*c, "", 0, &topics))->error(), fb::ErrorCode::CoordinatorLoading);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(Commit(*c, "g", "", -1, 0, 1))->error(), fb::ErrorCode::CoordinatorLoading);
  EXPECT_EQ(As<fb::OffsetFetchResponse>(Fetch(*c, "g"))->error(), fb::ErrorCode::CoordinatorLoading);
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*c))->error(), fb::ErrorCode::CoordinatorLoading);
  c->UpdateTopics({{"t", 8}});
  c->Tick();
  EXPECT_EQ(appends_, 0);
  c->FinishLoading(s, Term(1));
  EXPECT_EQ(c->StateOf(s), State::kActive);
  Join(*c);
}

TEST_F(GroupCoordinatorTest, LoadRestoresGroupsAndCommittedOffsets) {
  auto a = Make(Mode::kInactive);
  LoadAll(*a, 3);
  const auto [m1, e1] = Join(*a);
  const auto [m2, e2] = Join(*a);
  // Settle both members, then commit.
  Heartbeat(*a, m1, e1, nullptr);
  Heartbeat(*a, m2, e2, nullptr);
  const auto description = Describe(*a);
  auto* described = As<fb::DescribeGroupResponse>(description);
  const int32_t epoch = described->members()->Get(0)->member_epoch();
  const std::string first = described->members()->Get(0)->member_id()->str();
  auto ok = Commit(*a, "g", first, epoch, 2, 77);
  ASSERT_EQ(As<fb::OffsetCommitResponse>(ok)->topics()->Get(0)->partitions()->Get(0)->error(), fb::ErrorCode::None);
  AdminCommit(*a, "other", 1, 5);
  EXPECT_EQ(append_terms_, std::set<int64_t>{3});  // every append fenced by the load's term

  auto b = Make(Mode::kInactive);
  LoadAll(*b, 4);
  EXPECT_EQ(Describe(*b), Describe(*a));
  EXPECT_EQ(Fetch(*b, "g"), Fetch(*a, "g"));
  EXPECT_EQ(Fetch(*b, "other"), Fetch(*a, "other"));
  EXPECT_EQ(ListedGroups(*b), (std::set<std::string>{"g", "other"}));
  const auto fetched = Fetch(*b, "g");
  auto* f = As<fb::OffsetFetchResponse>(fetched);
  ASSERT_EQ(f->topics()->size(), 1u);
  EXPECT_EQ(f->topics()->Get(0)->partitions()->Get(0)->offset(), 77);
  // The restored member carries on at its epoch.
  auto again = Commit(*b, "g", first, epoch, 2, 78);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(again)->topics()->Get(0)->partitions()->Get(0)->error(), fb::ErrorCode::None);
}

TEST_F(GroupCoordinatorTest, ResignDropsTheShardsGroups) {
  auto c = Make(Mode::kInactive);
  const int32_t s = c->ShardOf("g");
  LoadAll(*c, 1);
  AdminCommit(*c, "g", 0, 9);
  ASSERT_EQ(ListedGroups(*c).count("g"), 1u);

  c->Resign(s);
  EXPECT_EQ(c->StateOf(s), State::kInactive);
  EXPECT_EQ(As<fb::OffsetFetchResponse>(Fetch(*c, "g"))->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_EQ(ListedGroups(*c).count("g"), 0u);
  // Leadership again without replaying anything: the old state is gone.
  c->BeginLoading(s, Term(2));
  c->FinishLoading(s, Term(2));
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*c))->error(), fb::ErrorCode::GroupIdNotFound);
  // BeginLoading alone clears too: a replay of the log brings it back once.
  Load(*c, s, 3);
  const auto fetched = Fetch(*c, "g");
  auto* f = As<fb::OffsetFetchResponse>(fetched);
  EXPECT_EQ(f->topics()->Get(0)->partitions()->Get(0)->offset(), 9);
}

TEST_F(GroupCoordinatorTest, StaleFinishLoadingDoesNotActivate) {
  auto c = Make(Mode::kInactive);
  const int32_t s = c->ShardOf("g");
  c->BeginLoading(s, Term(1));
  c->BeginLoading(s, Term(2));
  c->FinishLoading(s, Term(1));
  EXPECT_EQ(c->StateOf(s), State::kLoading);
  // A replay of the superseded load is refused, so it cannot mix into term 2.
  auto r = c->Replay(s, Term(1), "k", std::nullopt);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNotLeader);
  // Leadership of an older term arriving late is ignored.
  c->BeginLoading(s, Term(1));
  c->FinishLoading(s, Term(2));
  EXPECT_EQ(c->StateOf(s), State::kActive);

  // A load that a step-down overtook does not activate either.
  c->BeginLoading(s, Term(3));
  c->Resign(s);
  c->FinishLoading(s, Term(3));
  EXPECT_EQ(c->StateOf(s), State::kInactive);
}

TEST_F(GroupCoordinatorTest, SnapshotReplayedAloneRebuildsOffsetsAndDescriptions) {
  auto o = BaseOptions(Mode::kInactive);
  o.snapshot_interval = milliseconds(1000);
  o.snapshot_append_bytes = 256;  // force a snapshot over several appends
  auto a = Make(o);
  LoadAll(*a, 1);
  a->Tick();  // the activation snapshots (nothing to write yet)
  const int32_t s = 1;
  const auto groups = GroupsOfShard(*a, s, 3);
  for (const auto& g : groups) {
    const auto [m, e] = Join(*a, g);
    for (int32_t p = 0; p < 6; ++p) {
      auto ok = Commit(*a, g, m, e, p, 1000 + p);
      ASSERT_EQ(As<fb::OffsetCommitResponse>(ok)->topics()->Get(0)->partitions()->Get(0)->error(), fb::ErrorCode::None);
    }
  }
  AdminCommit(*a, "elsewhere", 0, 1);
  const size_t history = log_.size();

  now_ += milliseconds(999);
  a->Tick();
  EXPECT_EQ(log_.size(), history);  // not due yet
  now_ += milliseconds(1);
  const int appends_before = appends_;
  a->Tick();
  const size_t snapshot_start = history;
  ASSERT_GT(log_.size(), snapshot_start);
  EXPECT_GT(appends_ - appends_before, 4);  // split: 256 bytes per append
  // Changes after the snapshot are part of the suffix too.
  AdminCommit(*a, "fresh-" + groups[0], 0, 3);

  // The log cut at the snapshot's start, or anywhere before it, replays to
  // the same answers.
  for (size_t cut : {snapshot_start, snapshot_start / 2, size_t{1}, size_t{0}}) {
    auto b = Make(o);
    LoadAll(*b, 2, cut);
    for (const auto& g : groups) {
      EXPECT_EQ(Describe(*b, g), Describe(*a, g)) << g << " cut at " << cut;
      EXPECT_EQ(Fetch(*b, g), Fetch(*a, g)) << g << " cut at " << cut;
    }
    EXPECT_EQ(ListedGroups(*b), ListedGroups(*a)) << "cut at " << cut;
  }
}

TEST_F(GroupCoordinatorTest, ReplayOfRecordsOfAnAbsentGroupSucceeds) {
  auto c = Make(Mode::kInactive);
  // The records that created these groups were removed by retention.
  const group::GroupRecord member_tombstone{"left", group::MemberTombstone{"m-1"}};
  const int32_t s = c->ShardOf("left");
  c->BeginLoading(s, Term(1));
  ASSERT_TRUE(
      c->Replay(s, Term(1), group::RecordKey(member_tombstone), group::EncodeRecord(member_tombstone)).has_value());
  c->FinishLoading(s, Term(1));
  const int32_t t = c->ShardOf("deleted");
  c->BeginLoading(t, Term(1));
  ASSERT_TRUE(c->Replay(t, Term(1), std::string("\0delete\0deleted", 15), std::nullopt).has_value());
  c->FinishLoading(t, Term(1));
  // Neither creates a group.
  EXPECT_EQ(ListedGroups(*c), std::set<std::string>{});
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*c, "left"))->error(), fb::ErrorCode::GroupIdNotFound);
}

TEST_F(GroupCoordinatorTest, AppendFailingWithNotLeaderAnswersNotCoordinator) {
  auto c = Make(Mode::kInactive);
  LoadAll(*c, 1);
  AdminCommit(*c, "empty", 0, 1);
  fail_with_ = Errc::kNotLeader;  // the replica stepped down under the coordinator
  std::vector<std::string> topics{"t"};
  EXPECT_EQ(As<fb::GroupHeartbeatResponse>(Heartbeat(*c, "", 0, &topics))->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(Commit(*c, "x", "", -1, 0, 1))->error(), fb::ErrorCode::NotCoordinator);
  EXPECT_EQ(As<fb::DeleteGroupResponse>(Delete(*c, "empty"))->error(), fb::ErrorCode::NotCoordinator);
}

TEST_F(GroupCoordinatorTest, CommitInFlightAtResignIsAnsweredNotCoordinator) {
  auto c = Make(Mode::kInactive);
  const int32_t s = c->ShardOf("g");
  LoadAll(*c, 1);
  defer_ = true;
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fb::OffsetCommitPartition>> ps{fb::CreateOffsetCommitPartitionDirect(b, 0, 5)};
  std::vector<flatbuffers::Offset<fb::OffsetCommitTopic>> ts{fb::CreateOffsetCommitTopicDirect(b, "t", &ps)};
  b.Finish(fb::CreateOffsetCommitRequestDirect(b, "g", "", -1, &ts));
  std::optional<std::vector<uint8_t>> answer;
  c->OffsetCommit(flatbuffers::GetRoot<fb::OffsetCommitRequest>(b.GetBufferPointer()),
                  [&](Response r) { answer.emplace(r.body.data(), r.body.data() + r.body.size()); });
  ASSERT_FALSE(answer.has_value());  // waits for the majority
  ASSERT_EQ(deferred_.size(), 1u);
  c->Resign(s);
  EXPECT_FALSE(answer.has_value());
  deferred_[0](Fail(Errc::kNotLeader, "stepped down"));  // the replica fails what it could not commit
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(As<fb::OffsetCommitResponse>(*answer)->error(), fb::ErrorCode::NotCoordinator);
}

TEST_F(GroupCoordinatorTest, EmptyGroupExpiresWithATombstoneAndStaysGoneAfterReplay) {
  auto o = BaseOptions(Mode::kInactive);
  o.empty_group_retention = std::chrono::hours(1);
  auto c = Make(o);
  const int32_t s = c->ShardOf("g");
  LoadAll(*c, 1);
  AdminCommit(*c, "g", 0, 42);
  now_ += std::chrono::minutes(59);
  c->Tick();
  AdminCommit(*c, "g", 1, 43);  // a commit restarts the clock
  now_ += std::chrono::minutes(59);
  c->Tick();
  ASSERT_EQ(ListedGroups(*c).count("g"), 1u);
  // A group with a member never expires (until the member leaves).
  auto [m, epoch] = Join(*c, "busy");
  for (int i = 0; i < 12 * 70; ++i) {  // 70 minutes of heartbeats every 5 s
    now_ += milliseconds(5000);
    auto hb = Heartbeat(*c, m, epoch, nullptr, "busy");
    ASSERT_EQ(As<fb::GroupHeartbeatResponse>(hb)->error(), fb::ErrorCode::None);
    epoch = As<fb::GroupHeartbeatResponse>(hb)->member_epoch();
    c->Tick();
  }
  EXPECT_EQ(ListedGroups(*c), (std::set<std::string>{"busy"}));
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*c))->error(), fb::ErrorCode::GroupIdNotFound);
  int tombstones = 0;
  for (const auto& r : log_) {
    if (r.record.key != std::string("\0delete\0g", 9)) continue;
    ++tombstones;
    EXPECT_EQ(r.shard, s);
    EXPECT_FALSE(r.record.value.has_value());
  }
  EXPECT_EQ(tombstones, 1);

  auto replayed = Make(o);
  LoadAll(*replayed, 2);
  EXPECT_EQ(As<fb::DescribeGroupResponse>(Describe(*replayed))->error(), fb::ErrorCode::GroupIdNotFound);
  const auto fetched = Fetch(*replayed, "g");
  auto* f = As<fb::OffsetFetchResponse>(fetched);
  EXPECT_EQ(f->topics()->size(), 0u);
  EXPECT_EQ(ListedGroups(*replayed), (std::set<std::string>{"busy"}));
}

}  // namespace
}  // namespace telemq::broker
