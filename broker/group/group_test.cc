// Scenario and simulation tests of the group state machine (group.h). Each
// simulated client follows the contract of docs/groups.md: it adopts every
// response before its next heartbeat and reports in `owned` all it holds,
// including partitions it has not finished dropping.
#include "broker/group/group.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace telemq::group {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kSession{10000};
constexpr milliseconds kRebalance{20000};

Assignment Parts(const std::string& topic, std::vector<int32_t> ids) {
  Assignment a;
  for (int32_t id : ids) a[topic].emplace_back(id);
  return Canonical(std::move(a));
}

// One consumer process as the coordinator sees it through heartbeats.
struct Client {
  std::string instance_id;  // empty: dynamic member
  std::vector<std::string> topics = {"t"};
  std::string member_id;
  MemberEpoch epoch{0};
  Assignment owned;  // what the process holds (and reports)
  Assignment told;   // the last assignment it received
  bool alive = true;
  // Client-side timers of the contract (docs/groups.md): a member whose last
  // successful heartbeat is a session timeout old treats its partitions as
  // lost and rejoins; one that cannot finish dropping partitions within the
  // rebalance timeout abandons them.
  std::chrono::milliseconds last_ok{0};
  std::optional<std::chrono::milliseconds> revoking_since;
};

class GroupTest : public ::testing::Test {
 protected:
  GroupTest() : group_("g", Config()) { group_.UpdateTopicMetadata({{"t", 12}}); }

  GroupConfig Config() {
    GroupConfig c;
    c.heartbeat_interval = milliseconds(1000);
    c.new_member_id = [this] { return "member-" + std::to_string(++next_id_); };
    return c;
  }

  // One heartbeat. `drop_revoked` false models a client still busy dropping
  // partitions: it keeps (and reports) what it was told to give up.
  Result<HeartbeatResponse> Beat(Client& c, bool drop_revoked = true) {
    HeartbeatRequest req;
    req.member_id = c.member_id;
    req.member_epoch = c.epoch;
    if (!c.instance_id.empty()) req.instance_id = c.instance_id;
    if (c.epoch == kJoinEpoch) req.subscribed_topics = c.topics;
    req.owned = c.owned;
    req.session_timeout = kSession;
    req.rebalance_timeout = kRebalance;
    auto resp = group_.Heartbeat(req, now_);
    if (!resp) return resp;
    c.member_id = resp->member_id;
    c.epoch = resp->member_epoch;
    c.told = resp->assignment;
    c.owned = drop_revoked ? resp->assignment : Union(c.owned, resp->assignment);
    c.last_ok = now_;
    if (c.owned == c.told) {
      c.revoking_since.reset();
    } else if (!c.revoking_since) {
      c.revoking_since = now_;
    }
    return resp;
  }

  Client Join(std::string instance_id = "") {
    Client c;
    c.instance_id = std::move(instance_id);
    EXPECT_TRUE(Beat(c).has_value());
    return c;
  }

  // Heartbeats everyone until nothing changes (bounded).
  void Settle(std::vector<Client*> clients) {
    for (int round = 0; round < 10; ++round) {
      for (Client* c : clients) ASSERT_TRUE(Beat(*c).has_value()) << c->member_id;
    }
  }

  // Never two owners: across clients, what each holds or was told to hold is
  // disjoint; and inside the coordinator, assigned ∪ pending are disjoint.
  void ExpectSingleOwners(const std::vector<Client*>& clients) {
    std::map<TopicPartition, std::string> seen;
    for (const Client* c : clients) {
      if (!c->alive) continue;
      for (const auto& tp : Flatten(Union(c->owned, c->told))) {
        auto [it, inserted] = seen.emplace(tp, c->member_id);
        ASSERT_TRUE(inserted) << tp.topic << "/" << tp.partition << " held by " << it->second << " and "
                              << c->member_id;
      }
    }
    std::map<TopicPartition, std::string> coordinator;
    for (const auto& m : group_.Describe().members) {
      for (const auto& tp : Flatten(Union(m.assignment, m.pending_revocation))) {
        auto [it, inserted] = coordinator.emplace(tp, m.member_id);
        ASSERT_TRUE(inserted) << "coordinator gave " << tp.topic << "/" << tp.partition << " to two members";
      }
    }
  }

  MemberDescription DescribeMember(const std::string& id) {
    for (auto& m : group_.Describe().members) {
      if (m.member_id == id) return m;
    }
    return {};
  }

  // A leave that may find the member already expired (the client has not
  // heard yet): both outcomes are fine for the simulation.
  void LeaveTolerant(const Client& c, MemberEpoch how) {
    HeartbeatRequest leave;
    leave.member_id = c.member_id;
    leave.member_epoch = how;
    auto resp = group_.Heartbeat(leave, now_);
    if (!resp) {
      EXPECT_EQ(resp.error().code(), Errc::kUnknownMemberId) << resp.error().ToString();
    }
  }

  // The client-side timers, run whenever time may have passed.
  void RunClientTimers(Client& c) {
    if (c.epoch != kJoinEpoch && now_ >= c.last_ok + kSession) {
      ForgetMembership(c);
    } else if (c.revoking_since && now_ >= *c.revoking_since + kRebalance) {
      c.owned = c.told;
      c.revoking_since.reset();
    }
  }

  // Lost session or fenced: drop everything, rejoin from scratch.
  static void ForgetMembership(Client& c) {
    c.owned.clear();
    c.told.clear();
    c.member_id.clear();
    c.epoch = kJoinEpoch;
    c.revoking_since.reset();
  }

  int next_id_ = 0;
  milliseconds now_{1000000};
  Group group_;
};

TEST_F(GroupTest, ThreeMembersOnTwelvePartitionsGetFourEach) {
  Client a = Join(), b = Join(), c = Join();
  Settle({&a, &b, &c});
  for (Client* m : {&a, &b, &c}) EXPECT_EQ(PartitionCount(m->owned), 4u) << m->member_id;
  EXPECT_EQ(group_.Describe().state, GroupState::kStable);
  ExpectSingleOwners({&a, &b, &c});
}

TEST_F(GroupTest, FirstJoinGetsAFreshMemberIdAndTheCurrentEpoch) {
  Client a = Join();
  EXPECT_EQ(a.member_id, "member-1");
  EXPECT_EQ(a.epoch.value(), group_.group_epoch().value());
  EXPECT_EQ(PartitionCount(a.owned), 12u);
}

TEST_F(GroupTest, FourthJoinRevokesOnlyMovingPartitionsAndWaitsForRelease) {
  Client a = Join(), b = Join(), c = Join();
  Settle({&a, &b, &c});
  std::map<std::string, Assignment> before = {{a.member_id, a.owned}, {b.member_id, b.owned}, {c.member_id, c.owned}};
  Client d = Join();
  EXPECT_TRUE(d.owned.empty()) << "nothing is free until an old owner lets go";
  // Old members are told to shrink; they are slow and still hold the revoked partition.
  for (Client* m : {&a, &b, &c}) {
    ASSERT_TRUE(Beat(*m, /*drop_revoked=*/false).has_value());
    EXPECT_EQ(PartitionCount(m->told), 3u);
    EXPECT_TRUE(Subtract(m->told, before[m->member_id]).empty()) << "an old member was given something new";
    ExpectSingleOwners({&a, &b, &c, &d});
  }
  ASSERT_TRUE(Beat(d).has_value());
  EXPECT_TRUE(d.owned.empty()) << "revoked partitions must not move before the owners confirm";
  // Now they confirm one by one; d gets each partition only after its release.
  size_t expected = 0;
  for (Client* m : {&a, &b, &c}) {
    m->owned = m->told;  // finished dropping; the next heartbeat says so
    ASSERT_TRUE(Beat(*m).has_value());
    ASSERT_TRUE(Beat(d).has_value());
    EXPECT_EQ(PartitionCount(d.owned), ++expected);
    ExpectSingleOwners({&a, &b, &c, &d});
  }
  Settle({&a, &b, &c, &d});
  EXPECT_EQ(group_.Describe().state, GroupState::kStable);
}

TEST_F(GroupTest, MembersWhoseAssignmentDoesNotChangeAreNeverPaused) {
  group_.UpdateTopicMetadata({{"t", 12}, {"u", 2}});
  Client a = Join(), b = Join();
  Settle({&a, &b});
  const Assignment a_before = a.owned, b_before = b.owned;
  group_.UpdateTopicMetadata({{"t", 12}, {"u", 2}, {"v", 2}});  // a member-neutral change: nobody subscribes to v
  for (Client* m : {&a, &b}) {
    ASSERT_TRUE(Beat(*m).has_value());
    EXPECT_EQ(m->epoch.value(), group_.group_epoch().value()) << "epoch advances";
  }
  EXPECT_EQ(a.owned, a_before);
  EXPECT_EQ(b.owned, b_before);
}

TEST_F(GroupTest, RandomInterleavingOfAJoinNeverHasTwoOwners) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    Group fresh("g", Config());
    std::swap(group_, fresh);
    group_.UpdateTopicMetadata({{"t", 12}});
    std::mt19937_64 rng(seed);
    std::vector<Client> clients(3);
    for (auto& c : clients) ASSERT_TRUE(Beat(c).has_value());
    std::vector<Client*> all;
    for (auto& c : clients) all.push_back(&c);
    Settle(all);
    Client d;
    ASSERT_TRUE(Beat(d).has_value());
    all.push_back(&d);
    for (int step = 0; step < 60; ++step) {
      Client* c = all[rng() % all.size()];
      ASSERT_TRUE(Beat(*c, /*drop_revoked=*/rng() % 3 != 0).has_value());
      ExpectSingleOwners(all);
    }
    Settle(all);
    for (Client* c : all) EXPECT_EQ(PartitionCount(c->owned), 3u);
  }
}

TEST_F(GroupTest, MemberThatMissesHeartbeatsExpiresAndItsPartitionsMove) {
  Client a = Join(), b = Join(), c = Join();
  Settle({&a, &b, &c});
  now_ += kSession - milliseconds(1);
  ASSERT_TRUE(Beat(a).has_value());
  ASSERT_TRUE(Beat(b).has_value());
  EXPECT_TRUE(group_.Tick(now_).empty()) << "still within the session";
  now_ += milliseconds(2);
  EXPECT_EQ(group_.Tick(now_), std::vector<std::string>{c.member_id});
  c.alive = false;
  Settle({&a, &b});
  EXPECT_EQ(PartitionCount(a.owned), 6u);
  EXPECT_EQ(PartitionCount(b.owned), 6u);
  EXPECT_EQ(Beat(c).error().code(), Errc::kUnknownMemberId);
}

TEST_F(GroupTest, MemberThatDoesNotRevokeWithinRebalanceTimeoutIsExpired) {
  Client a = Join();
  Client b = Join();
  ASSERT_TRUE(Beat(a, /*drop_revoked=*/false).has_value());  // told to give 6 to b, keeps them
  for (int i = 0; i < 3; ++i) {
    now_ += kRebalance / 4;
    ASSERT_TRUE(Beat(a, false).has_value());
    ASSERT_TRUE(Beat(b).has_value());
    EXPECT_TRUE(group_.Tick(now_).empty());
  }
  now_ += kRebalance / 4 + milliseconds(1);
  ASSERT_TRUE(Beat(b).has_value());
  EXPECT_EQ(group_.Tick(now_), std::vector<std::string>{a.member_id});
  ASSERT_TRUE(Beat(b).has_value());
  EXPECT_EQ(PartitionCount(b.owned), 12u);
}

TEST_F(GroupTest, StaticMemberRejoiningWithinSessionTimeoutKeepsPartitionsWithoutEpochBump) {
  Client a = Join("pod-0"), b = Join("pod-1"), c = Join("pod-2");
  Settle({&a, &b, &c});
  const Assignment kept = b.owned;
  const GroupEpoch epoch = group_.group_epoch();
  // Rolling restart of pod-1: static leave, then a new process with a new member id.
  HeartbeatRequest leave;
  leave.member_id = b.member_id;
  leave.instance_id = "pod-1";
  leave.member_epoch = kStaticLeaveEpoch;
  leave.session_timeout = kSession;
  leave.rebalance_timeout = kRebalance;
  ASSERT_TRUE(group_.Heartbeat(leave, now_).has_value());
  const std::string old_id = b.member_id;
  now_ += kSession / 2;
  EXPECT_TRUE(group_.Tick(now_).empty());
  Client b2 = Join("pod-1");
  EXPECT_NE(b2.member_id, old_id);
  EXPECT_EQ(b2.owned, kept);
  EXPECT_EQ(group_.group_epoch(), epoch) << "no rebalance";
  EXPECT_EQ(group_.ValidateCommit(old_id, b.epoch).error().code(), Errc::kUnknownMemberId) << "old process fenced";
  Settle({&a, &b2, &c});
  EXPECT_EQ(b2.owned, kept);
  EXPECT_EQ(group_.group_epoch(), epoch);
}

TEST_F(GroupTest, StaticSlotIsReleasedAfterItsSessionTimeout) {
  Client a = Join("pod-0"), b = Join("pod-1");
  Settle({&a, &b});
  HeartbeatRequest leave;
  leave.member_id = b.member_id;
  leave.member_epoch = kStaticLeaveEpoch;
  leave.session_timeout = kSession;
  ASSERT_TRUE(group_.Heartbeat(leave, now_).has_value());
  now_ += kSession / 2;
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(PartitionCount(a.owned), 6u) << "the slot keeps its partitions";
  now_ += kSession / 2 + milliseconds(1);
  EXPECT_EQ(group_.Tick(now_), std::vector<std::string>{b.member_id});
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(PartitionCount(a.owned), 12u);
}

TEST_F(GroupTest, CrashedStaticMemberIsReplacedByItsSuccessorWithoutRebalance) {
  Client a = Join("pod-0"), b = Join("pod-1");
  Settle({&a, &b});
  const GroupEpoch epoch = group_.group_epoch();
  const Client zombie = b;  // crashed without leaving
  Client b2 = Join("pod-1");
  EXPECT_EQ(b2.owned, zombie.owned);
  EXPECT_EQ(group_.group_epoch(), epoch);
  Client z = zombie;
  EXPECT_EQ(Beat(z).error().code(), Errc::kUnknownMemberId);
}

TEST_F(GroupTest, ExpiredMemberCannotCommit) {
  Client a = Join(), b = Join();
  Settle({&a, &b});
  ASSERT_TRUE(group_.CommitOffset(b.member_id, b.epoch, "t", PartitionId(0), Offset(10), "").has_value());
  now_ += kSession + milliseconds(1);
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(group_.Tick(now_), std::vector<std::string>{b.member_id});
  auto commit = group_.CommitOffset(b.member_id, b.epoch, "t", PartitionId(0), Offset(99), "");
  ASSERT_FALSE(commit.has_value());
  EXPECT_EQ(commit.error().code(), Errc::kUnknownMemberId);
  EXPECT_EQ(group_.CommittedOffset("t", PartitionId(0))->offset, Offset(10));
}

TEST_F(GroupTest, CommitWithAnOlderEpochIsStaleAndWithAnUnknownEpochIsFenced) {
  Client a = Join();
  const MemberEpoch first = a.epoch;
  Client b = Join();
  Settle({&a, &b});
  EXPECT_EQ(group_.ValidateCommit(a.member_id, first).error().code(), Errc::kStaleMemberEpoch);
  EXPECT_EQ(group_.ValidateCommit(a.member_id, a.epoch + 5).error().code(), Errc::kFencedMemberEpoch);
  EXPECT_TRUE(group_.ValidateCommit(a.member_id, a.epoch).has_value());
  Client wrong = a;
  wrong.epoch = a.epoch + 7;
  EXPECT_EQ(Beat(wrong).error().code(), Errc::kFencedMemberEpoch);
}

TEST_F(GroupTest, AdminCommitIsRefusedWhileTheGroupHasMembers) {
  EXPECT_TRUE(group_.AdminCommitOffset("t", PartitionId(1), Offset(5), "reset").has_value());
  Client a = Join();
  EXPECT_EQ(group_.AdminCommitOffset("t", PartitionId(1), Offset(0), "").error().code(), Errc::kNonEmptyGroup);
  EXPECT_EQ(*group_.CommittedOffset("t", PartitionId(1)), (OffsetAndMetadata{Offset(5), "reset"}));
}

TEST_F(GroupTest, PartitionCountIncreaseIsAssigned) {
  Client a = Join(), b = Join();
  Settle({&a, &b});
  group_.UpdateTopicMetadata({{"t", 16}});
  Settle({&a, &b});
  EXPECT_EQ(PartitionCount(a.owned), 8u);
  EXPECT_EQ(PartitionCount(b.owned), 8u);
  EXPECT_EQ(PartitionCount(Union(a.owned, b.owned)), 16u);
}

TEST_F(GroupTest, TopicCreationMatchingTheSubscriptionIsAssignedAndDeletionRemovesIt) {
  Client a;
  a.topics = {"t", "later"};
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(PartitionCount(a.owned), 12u);
  group_.UpdateTopicMetadata({{"t", 12}, {"later", 3}});
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(a.owned.at("later"), Parts("later", {0, 1, 2}).at("later"));
  group_.UpdateTopicMetadata({{"later", 3}});
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_FALSE(a.owned.contains("t"));
  EXPECT_EQ(PartitionCount(a.owned), 3u);
}

TEST_F(GroupTest, LeaveHandsPartitionsToTheOthersAtOnce) {
  Client a = Join(), b = Join();
  Settle({&a, &b});
  HeartbeatRequest leave;
  leave.member_id = b.member_id;
  leave.member_epoch = kLeaveEpoch;
  ASSERT_EQ(group_.Heartbeat(leave, now_)->member_epoch, kLeaveEpoch);
  ASSERT_TRUE(Beat(a).has_value());
  EXPECT_EQ(PartitionCount(a.owned), 12u);
}

TEST_F(GroupTest, MetadataIsVisibleInDescribeAndCausesNoRebalance) {
  Client a = Join();
  const GroupEpoch epoch = group_.group_epoch();
  HeartbeatRequest req;
  req.member_id = a.member_id;
  req.member_epoch = a.epoch;
  req.metadata = "http://collector-0:8081";
  ASSERT_TRUE(group_.Heartbeat(req, now_).has_value());
  EXPECT_EQ(group_.Describe().members.at(0).metadata, "http://collector-0:8081");
  EXPECT_EQ(group_.group_epoch(), epoch);
}

TEST_F(GroupTest, BadRequestsAreRejected) {
  HeartbeatRequest req;
  req.member_epoch = kJoinEpoch;
  EXPECT_EQ(group_.Heartbeat(req, now_).error().code(), Errc::kInvalidRequest) << "join without subscription";
  req.subscribed_topics = std::vector<std::string>{"t"};
  req.session_timeout = milliseconds(1);
  EXPECT_EQ(group_.Heartbeat(req, now_).error().code(), Errc::kInvalidRequest) << "session timeout too short";
  HeartbeatRequest unknown;
  unknown.member_id = "nobody";
  unknown.member_epoch = MemberEpoch(3);
  EXPECT_EQ(group_.Heartbeat(unknown, now_).error().code(), Errc::kUnknownMemberId);
}

TEST_F(GroupTest, ReplayingRecordsReproducesState) {
  Client a = Join("pod-0"), b = Join(), c = Join();
  Settle({&a, &b, &c});
  ASSERT_TRUE(group_.CommitOffset(a.member_id, a.epoch, "t", PartitionId(3), Offset(42), "m").has_value());
  group_.UpdateTopicMetadata({{"t", 14}});
  ASSERT_TRUE(Beat(b, /*drop_revoked=*/false).has_value());  // leave something mid-reconciliation
  Client d = Join();
  HeartbeatRequest leave;
  leave.member_id = a.member_id;
  leave.member_epoch = kStaticLeaveEpoch;
  ASSERT_TRUE(group_.Heartbeat(leave, now_).has_value());
  ASSERT_TRUE(Beat(c).has_value());

  std::vector<GroupRecord> records = group_.TakeRecords();
  ASSERT_FALSE(records.empty());
  Group replayed("g", Config());
  for (const GroupRecord& r : records) {
    auto decoded = DecodeRecord(EncodeRecord(r));  // through the wire format, as after a restart
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    ASSERT_TRUE(replayed.Replay(*decoded).has_value());
  }
  EXPECT_EQ(replayed.Describe(), group_.Describe());
  EXPECT_EQ(replayed.committed_offsets(), group_.committed_offsets());

  // Compaction keeps the last record per key; replaying that gives the same state.
  std::map<std::string, GroupRecord> compacted;
  for (const GroupRecord& r : records) compacted.insert_or_assign(RecordKey(r), r);
  Group from_compacted("g", Config());
  for (const auto& [key, r] : compacted) ASSERT_TRUE(from_compacted.Replay(r).has_value());
  EXPECT_EQ(from_compacted.Describe(), group_.Describe());

  // The replayed coordinator carries on: the static member comes back to its slot.
  std::swap(group_, replayed);
  group_.Tick(now_);
  Client a2 = Join("pod-0");
  EXPECT_EQ(a2.owned, DescribeMember(a2.member_id).assignment);
  Settle({&a2, &b, &c, &d});
  EXPECT_EQ(group_.Describe().state, GroupState::kStable);
  ExpectSingleOwners({&a2, &b, &c, &d});
}

TEST_F(GroupTest, SnapshotRecordsAloneReproduceState) {
  Client a = Join("pod-0"), b = Join(), c = Join();
  Settle({&a, &b, &c});
  ASSERT_TRUE(group_.CommitOffset(a.member_id, a.epoch, "t", PartitionId(3), Offset(42), "m").has_value());
  ASSERT_TRUE(group_.CommitOffset(b.member_id, b.epoch, "t", PartitionId(5), Offset(7), "").has_value());
  group_.UpdateTopicMetadata({{"t", 14}});
  ASSERT_TRUE(Beat(b, /*drop_revoked=*/false).has_value());  // mid-reconciliation
  HeartbeatRequest leave;
  leave.member_id = a.member_id;
  leave.member_epoch = kStaticLeaveEpoch;
  ASSERT_TRUE(group_.Heartbeat(leave, now_).has_value());
  const std::vector<GroupRecord> history = group_.TakeRecords();

  Group from_snapshot("g", Config());
  for (const GroupRecord& r : group_.SnapshotRecords()) {
    auto decoded = DecodeRecord(EncodeRecord(r));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    ASSERT_TRUE(from_snapshot.Replay(*decoded).has_value());
  }
  EXPECT_EQ(from_snapshot.Describe(), group_.Describe());
  EXPECT_EQ(from_snapshot.committed_offsets(), group_.committed_offsets());
  EXPECT_TRUE(group_.TakeRecords().empty());  // a snapshot is not a change

  // A log cut anywhere before the snapshot replays to the same state.
  for (size_t cut = 0; cut <= history.size(); cut += 3) {
    Group g("g", Config());
    for (size_t i = cut; i < history.size(); ++i) ASSERT_TRUE(g.Replay(history[i]).has_value());
    for (const GroupRecord& r : group_.SnapshotRecords()) ASSERT_TRUE(g.Replay(r).has_value());
    EXPECT_EQ(g.Describe(), group_.Describe()) << "cut at " << cut;
  }
}

TEST_F(GroupTest, HeartbeatsThatChangeNothingWriteNoRecords) {
  Client a = Join(), b = Join();
  Settle({&a, &b});
  (void)group_.TakeRecords();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Beat(a).has_value());
  EXPECT_TRUE(group_.TakeRecords().empty());
}

TEST_F(GroupTest, RecordsOfAnotherGroupAreRefused) {
  Group other("other", Config());
  EXPECT_EQ(other.Replay(GroupRecord{"g", MemberTombstone{"x"}}).error().code(), Errc::kInvalidRequest);
}

// Randomised simulation: joins, clean leaves, crashes (no leave), static
// restarts, slow revocations and arbitrary heartbeat orders, with time
// advancing and Tick expiring the dead. After every step nobody shares a
// partition; once membership is quiet the group converges to a balanced,
// complete assignment. Rerun a failing seed with TELEMQ_GROUP_SEED=<seed>.
class GroupSimulationTest : public GroupTest {};

TEST_F(GroupSimulationTest, RandomChurnNeverHasTwoOwnersAndConverges) {
  std::vector<uint64_t> seeds;
  if (const char* fixed = std::getenv("TELEMQ_GROUP_SEED")) {
    seeds.push_back(std::strtoull(fixed, nullptr, 10));
  } else {
    for (uint64_t s = 1; s <= 40; ++s) seeds.push_back(s);
  }
  for (uint64_t seed : seeds) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (TELEMQ_GROUP_SEED to replay)");
    Group fresh("g", Config());
    std::swap(group_, fresh);
    std::mt19937_64 rng(seed);
    const int partitions = 1 + static_cast<int>(rng() % 60);
    group_.UpdateTopicMetadata({{"t", partitions}});
    std::vector<std::unique_ptr<Client>> clients;
    int next_instance = 0;
    auto live = [&] {
      std::vector<Client*> out;
      for (auto& c : clients) {
        if (c->alive) out.push_back(c.get());
      }
      return out;
    };
    for (int step = 0; step < 400; ++step) {
      const int action = static_cast<int>(rng() % 100);
      std::vector<Client*> running = live();
      if (action < 8 || running.empty()) {  // join, half of them static
        auto c = std::make_unique<Client>();
        if (rng() % 2) c->instance_id = "pod-" + std::to_string(next_instance++);
        ASSERT_TRUE(Beat(*c).has_value());
        clients.push_back(std::move(c));
      } else if (action < 11) {  // clean leave
        Client* c = running[rng() % running.size()];
        LeaveTolerant(*c, kLeaveEpoch);
        c->alive = false;
      } else if (action < 14) {  // crash: the process and its partitions are gone, the coordinator does not know
        running[rng() % running.size()]->alive = false;
      } else if (action < 17) {  // static restart within the session: new process, same instance id
        Client* c = running[rng() % running.size()];
        if (c->instance_id.empty()) continue;
        LeaveTolerant(*c, kStaticLeaveEpoch);
        c->alive = false;
        auto next = std::make_unique<Client>();
        next->instance_id = c->instance_id;
        ASSERT_TRUE(Beat(*next).has_value());
        clients.push_back(std::move(next));
      } else if (action < 22) {  // time passes
        now_ += milliseconds(rng() % 4000);
        for (Client* c : running) RunClientTimers(*c);
        group_.Tick(now_);
      } else {  // a heartbeat from a random live client, sometimes slow to drop
        Client* c = running[rng() % running.size()];
        auto resp = Beat(*c, /*drop_revoked=*/rng() % 4 != 0);
        if (!resp) {
          // Expired or fenced: the client drops everything and rejoins, as a real one would.
          ASSERT_TRUE(resp.error().code() == Errc::kUnknownMemberId || resp.error().code() == Errc::kFencedMemberEpoch)
              << resp.error().ToString();
          ForgetMembership(*c);
        }
      }
      ExpectSingleOwners(live());
      if (HasFatalFailure()) return;
    }
    // Quiet period: the dead expire, the living heartbeat until stable.
    for (int round = 0; round < 30; ++round) {
      now_ += milliseconds(1000);
      for (Client* c : live()) RunClientTimers(*c);
      for (Client* c : live()) {
        auto resp = Beat(*c);
        if (!resp) ForgetMembership(*c);
        ExpectSingleOwners(live());
      }
      group_.Tick(now_);
    }
    std::vector<Client*> survivors = live();
    GroupDescription d = group_.Describe();
    ASSERT_EQ(d.members.size(), survivors.size());
    if (survivors.empty()) continue;
    EXPECT_EQ(d.state, GroupState::kStable);
    size_t lo = SIZE_MAX, hi = 0, total = 0;
    for (Client* c : survivors) {
      lo = std::min(lo, PartitionCount(c->owned));
      hi = std::max(hi, PartitionCount(c->owned));
      total += PartitionCount(c->owned);
    }
    EXPECT_LE(hi - lo, 1u);
    EXPECT_EQ(total, static_cast<size_t>(partitions));
  }
}

}  // namespace
}  // namespace telemq::group
