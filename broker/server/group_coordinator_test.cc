#include "broker/server/group_coordinator.h"

#include <gtest/gtest.h>

#include "telemq/wire/protocol.h"

namespace telemq::broker {
namespace {

namespace fb = wire::fb;

// The coordinator's I/O is two hooks; here they keep records in memory so a
// second coordinator can replay exactly what the first persisted.
class GroupCoordinatorTest : public ::testing::Test {
 protected:
  struct Stored {
    int32_t shard;
    OffsetsRecord record;
  };

  std::unique_ptr<GroupCoordinator> Make() {
    GroupCoordinator::Options o;
    o.shards = 4;
    o.heartbeat_interval = std::chrono::milliseconds(100);
    o.min_session_timeout = std::chrono::milliseconds(100);
    GroupCoordinator::Hooks h;
    h.append = [this](int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done) {
      if (fail_appends_) return done(Fail(Errc::kNoSpace, "disk full"));
      for (auto& r : records) log_.push_back({shard, std::move(r)});
      done(Ok());
    };
    h.high_watermark = [](const std::string&, int32_t p) -> int64_t { return 100 + p; };
    auto c = std::make_unique<GroupCoordinator>(o, std::move(h));
    c->UpdateTopics({{"t", 6}});
    return c;
  }

  // Sends a heartbeat and returns the verified response bytes.
  std::vector<uint8_t> Heartbeat(GroupCoordinator& c, const std::string& member_id, int32_t epoch,
                                 const std::vector<std::string>* topics) {
    flatbuffers::FlatBufferBuilder b;
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> subs;
    if (topics) subs = b.CreateVectorOfStrings(*topics);
    auto g = b.CreateString("g");
    auto m = b.CreateString(member_id);
    fb::GroupHeartbeatRequestBuilder rb(b);
    rb.add_group_id(g);
    rb.add_member_id(m);
    rb.add_member_epoch(epoch);
    rb.add_session_timeout_ms(1000);
    if (topics) rb.add_subscribed_topics(subs);
    b.Finish(rb.Finish());
    return Call<fb::GroupHeartbeatRequest>(b, [&](auto* req, Reply r) { c.Heartbeat(req, std::move(r)); });
  }

  template <typename Req, typename F>
  std::vector<uint8_t> Call(flatbuffers::FlatBufferBuilder& b, F&& f) {
    std::vector<uint8_t> out;
    auto* req = flatbuffers::GetRoot<Req>(b.GetBufferPointer());
    f(req, [&](Response r) { out.assign(r.body.data(), r.body.data() + r.body.size()); });
    return out;
  }

  template <typename T>
  const T* As(const std::vector<uint8_t>& bytes) {
    auto r = wire::VerifyBody<T>(std::as_bytes(std::span(bytes)));
    EXPECT_TRUE(r.has_value());
    return r ? *r : nullptr;
  }

  std::vector<uint8_t> Describe(GroupCoordinator& c) {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateDescribeGroupRequestDirect(b, "g"));
    return Call<fb::DescribeGroupRequest>(b, [&](auto* req, Reply r) { c.DescribeGroup(req, std::move(r)); });
  }

  std::vector<Stored> log_;
  bool fail_appends_ = false;
};

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
  fail_appends_ = true;
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
  auto commit = [&](const std::string& member, int32_t epoch) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::OffsetCommitPartition>> ps{fb::CreateOffsetCommitPartitionDirect(b, 0, 42)};
    std::vector<flatbuffers::Offset<fb::OffsetCommitTopic>> ts{fb::CreateOffsetCommitTopicDirect(b, "t", &ps)};
    b.Finish(fb::CreateOffsetCommitRequestDirect(b, "g", member.c_str(), epoch, &ts));
    return Call<fb::OffsetCommitRequest>(b, [&](auto* req, Reply r) { c->OffsetCommit(req, std::move(r)); });
  };
  // Empty group: an admin commit (no member, epoch -1) is accepted.
  auto ok = commit("", -1);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(ok)->topics()->Get(0)->partitions()->Get(0)->error(), fb::ErrorCode::None);
  // With a member, admin commits are refused and a stranger's commit is fenced.
  std::vector<std::string> topics{"t"};
  auto joined = Heartbeat(*c, "", 0, &topics);
  const std::string member = As<fb::GroupHeartbeatResponse>(joined)->member_id()->str();
  auto refused = commit("", -1);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(refused)->topics()->Get(0)->partitions()->Get(0)->error(),
            fb::ErrorCode::NonEmptyGroup);
  auto stranger = commit("m-unknown", 1);
  EXPECT_EQ(As<fb::OffsetCommitResponse>(stranger)->topics()->Get(0)->partitions()->Get(0)->error(),
            fb::ErrorCode::UnknownMemberId);
  // Leave, then delete; a replay of the log does not bring the group back.
  Heartbeat(*c, member, -1, nullptr);
  flatbuffers::FlatBufferBuilder b;
  b.Finish(fb::CreateDeleteGroupRequestDirect(b, "g"));
  auto del = Call<fb::DeleteGroupRequest>(b, [&](auto* req, Reply r) { c->DeleteGroup(req, std::move(r)); });
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

}  // namespace
}  // namespace telemq::broker
