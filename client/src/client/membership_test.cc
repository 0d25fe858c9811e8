// MembershipCore against the client contract of docs/groups.md: what `owned`
// reports, when partitions are handed to the application, and when they are
// lost. Pure: no sockets, time is an explicit `now`.

#include "client/membership.h"

#include <gtest/gtest.h>

namespace telemq::client {
namespace {

using std::chrono::milliseconds;
using TPs = std::vector<TopicPartition>;

TopicPartition T(int p) { return {"t", p}; }

class MembershipCoreTest : public ::testing::Test {
 protected:
  MembershipCoreTest() : core_(Config()) {}

  static MembershipConfig Config() {
    MembershipConfig c;
    c.group_id = "g";
    c.topics = {"t"};
    c.metadata = "endpoint";
    c.timeouts.session_timeout = milliseconds(10'000);
    c.timeouts.rebalance_timeout = milliseconds(20'000);
    c.retry_backoff = milliseconds(100);
    return c;
  }

  // One heartbeat round trip answered with `assignment` at `epoch`.
  HeartbeatPlan Beat(const TPs& assignment, int32_t epoch) {
    EXPECT_TRUE(core_.HeartbeatDue(now_));
    auto plan = core_.BeginHeartbeat(now_);
    core_.OnAnswer({"m1", epoch, milliseconds(1'000), assignment}, now_);
    return plan;
  }

  // Applies every pending handoff as an application would.
  void ApplyAll() {
    while (auto h = core_.TakeHandoff(now_)) core_.Complete(*h, h->assigned, now_);
  }

  void Advance(milliseconds d) { now_ += d; }

  MembershipCore core_;
  SteadyTime now_ = SteadyTime() + std::chrono::hours(1);
};

TEST_F(MembershipCoreTest, JoinSendsSubscriptionAndMetadataAndOwnsNothing) {
  auto plan = core_.BeginHeartbeat(now_);
  EXPECT_EQ(plan.member_epoch, kJoinEpoch);
  EXPECT_EQ(plan.member_id, "");
  ASSERT_TRUE(plan.subscribed_topics);
  EXPECT_EQ(*plan.subscribed_topics, std::vector<std::string>{"t"});
  EXPECT_EQ(plan.metadata, "endpoint");
  ASSERT_TRUE(plan.owned);
  EXPECT_TRUE(plan.owned->empty());
}

TEST_F(MembershipCoreTest, OnlyOneHeartbeatInFlight) {
  core_.BeginHeartbeat(now_);
  EXPECT_FALSE(core_.HeartbeatDue(now_ + milliseconds(5'000)));
}

TEST_F(MembershipCoreTest, SteadyHeartbeatOmitsSubscriptionAndWaitsOneInterval) {
  Beat({T(0)}, 1);
  ApplyAll();
  // Completing an assignment (no revocation) does not hurry the next beat.
  EXPECT_FALSE(core_.HeartbeatDue(now_));
  Advance(milliseconds(1'000));
  auto plan = core_.BeginHeartbeat(now_);
  EXPECT_EQ(plan.member_id, "m1");
  EXPECT_EQ(plan.member_epoch, 1);
  EXPECT_FALSE(plan.subscribed_topics);
  EXPECT_FALSE(plan.metadata);
  EXPECT_EQ(*plan.owned, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, AssignmentIsHandedOverAsAdditions) {
  Beat({T(0), T(1)}, 1);
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, Handoff::Kind::kReconcile);
  EXPECT_EQ(h->assigned, (TPs{T(0), T(1)}));
  EXPECT_TRUE(h->revoked.empty());
  core_.Complete(*h, h->assigned, now_);
  EXPECT_EQ(core_.owned(), (PartitionSet{T(0), T(1)}));
  EXPECT_FALSE(core_.TakeHandoff(now_));
}

TEST_F(MembershipCoreTest, PartitionsBeingStartedAreReportedOwned) {
  Beat({T(0)}, 1);
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  // The application is inside OnAssigned; a heartbeat goes out meanwhile.
  Advance(milliseconds(1'000));
  auto plan = core_.BeginHeartbeat(now_);
  EXPECT_EQ(*plan.owned, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, OneHandoffAtATime) {
  Beat({T(0)}, 1);
  ASSERT_TRUE(core_.TakeHandoff(now_));
  EXPECT_FALSE(core_.TakeHandoff(now_));
}

TEST_F(MembershipCoreTest, RevokedPartitionStaysOwnedUntilTheApplicationConfirms) {
  Beat({T(0), T(1)}, 1);
  ApplyAll();
  Advance(milliseconds(1'000));
  Beat({T(0)}, 1);  // T(1) goes to someone else
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->revoked, (TPs{T(1)}));
  EXPECT_TRUE(h->assigned.empty());
  Advance(milliseconds(1'000));
  auto during = core_.BeginHeartbeat(now_);
  EXPECT_EQ(*during.owned, (TPs{T(0), T(1)}));
  core_.OnAnswer({"m1", 1, milliseconds(1'000), {T(0)}}, now_);
  core_.Complete(*h, {}, now_);
  // The release is reported at once, not after a full interval.
  EXPECT_TRUE(core_.HeartbeatDue(now_));
  EXPECT_EQ(*core_.BeginHeartbeat(now_).owned, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, DiffIsAgainstTheLatestAnswer) {
  Beat({T(0)}, 1);
  ApplyAll();
  Advance(milliseconds(1'000));
  Beat({T(0), T(1)}, 2);
  Advance(milliseconds(1'000));
  Beat({T(2)}, 3);  // before the application saw epoch 2
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->revoked, (TPs{T(0)}));
  EXPECT_EQ(h->assigned, (TPs{T(2)}));  // T(1) was never started
}

TEST_F(MembershipCoreTest, PartitionTakenAwayWhileStartingIsRevokedAfterwards) {
  Beat({T(0)}, 1);
  auto h = core_.TakeHandoff(now_);
  Advance(milliseconds(1'000));
  Beat({}, 2);
  core_.Complete(*h, h->assigned, now_);
  auto next = core_.TakeHandoff(now_);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->revoked, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, UnstartedAssignmentIsOfferedAgain) {
  Beat({T(0)}, 1);
  auto h = core_.TakeHandoff(now_);
  core_.Complete(*h, {}, now_);  // e.g. the committed offset could not be read
  auto again = core_.TakeHandoff(now_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->assigned, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, FencedMemberLosesEverythingThenRejoinsHoldingNothing) {
  Beat({T(0), T(1)}, 1);
  ApplyAll();
  Advance(milliseconds(1'000));
  core_.BeginHeartbeat(now_);
  core_.OnFailure(HeartbeatFailure::kFenced, now_);
  EXPECT_FALSE(core_.HeartbeatDue(now_));  // not before the application dropped them
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, Handoff::Kind::kLost);
  EXPECT_EQ(h->revoked, (TPs{T(0), T(1)}));
  core_.Complete(*h, {}, now_);
  EXPECT_TRUE(core_.owned().empty());
  ASSERT_TRUE(core_.HeartbeatDue(now_));
  auto join = core_.BeginHeartbeat(now_);
  EXPECT_EQ(join.member_epoch, kJoinEpoch);
  EXPECT_EQ(join.member_id, "m1");
  EXPECT_TRUE(join.subscribed_topics);
  EXPECT_TRUE(join.owned->empty());
}

TEST_F(MembershipCoreTest, FencedWhileStartingLosesThePartitionsBeingStarted) {
  Beat({T(0)}, 1);
  auto h = core_.TakeHandoff(now_);
  core_.BeginHeartbeat(now_);
  core_.OnFailure(HeartbeatFailure::kFenced, now_);
  core_.Complete(*h, h->assigned, now_);
  auto lost = core_.TakeHandoff(now_);
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->kind, Handoff::Kind::kLost);
  EXPECT_EQ(lost->revoked, (TPs{T(0)}));
}

TEST_F(MembershipCoreTest, SessionEndsBeforeTheCoordinatorWould) {
  Beat({T(0)}, 1);
  ApplyAll();
  const auto sent = now_;
  // Heartbeats keep failing (coordinator unreachable).
  for (int i = 0; i < 85; ++i) {
    Advance(milliseconds(100));
    core_.Tick(now_);
    if (core_.HeartbeatDue(now_)) {
      core_.BeginHeartbeat(now_);
      core_.OnFailure(HeartbeatFailure::kRetry, now_);
    }
  }
  EXPECT_FALSE(core_.TakeHandoff(now_));  // 8.5 s: still a member
  Advance(milliseconds(600));             // 9.1 s >= 10 s - 1 s margin
  core_.Tick(now_);
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, Handoff::Kind::kLost);
  EXPECT_LT(now_ - sent, milliseconds(10'000));
}

TEST_F(MembershipCoreTest, RetryAfterFailureResendsSubscription) {
  Beat({}, 1);
  Advance(milliseconds(1'000));
  core_.BeginHeartbeat(now_);
  core_.OnFailure(HeartbeatFailure::kRetry, now_);
  EXPECT_FALSE(core_.HeartbeatDue(now_));
  Advance(milliseconds(100));
  auto plan = core_.BeginHeartbeat(now_);
  EXPECT_EQ(plan.member_epoch, 1);
  EXPECT_TRUE(plan.subscribed_topics);
}

TEST_F(MembershipCoreTest, RevocationNotConfirmedWithinRebalanceTimeoutIsLost) {
  Beat({T(0)}, 1);
  ApplyAll();
  Advance(milliseconds(1'000));
  Beat({}, 1);
  // The application never polls; heartbeats go on.
  for (int i = 0; i < 19; ++i) {
    Advance(milliseconds(1'000));
    core_.Tick(now_);
    if (core_.HeartbeatDue(now_)) Beat({}, 1);
  }
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, Handoff::Kind::kLost);
}

TEST_F(MembershipCoreTest, AnswerArrivingAfterLossIsIgnored) {
  Beat({T(0)}, 1);
  ApplyAll();
  Advance(milliseconds(1'000));
  core_.BeginHeartbeat(now_);
  Advance(milliseconds(9'500));
  core_.Tick(now_);
  core_.OnAnswer({"m1", 2, milliseconds(1'000), {T(0)}}, now_);
  auto h = core_.TakeHandoff(now_);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, Handoff::Kind::kLost);
}

TEST_F(MembershipCoreTest, LeaveUsesEpochMinusOne) {
  Beat({}, 3);
  auto plan = core_.BeginLeave();
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->member_epoch, kLeaveEpoch);
  EXPECT_FALSE(core_.HeartbeatDue(now_ + std::chrono::hours(1)));
  EXPECT_FALSE(core_.BeginLeave());
}

TEST(MembershipCoreStaticTest, StaticMemberKeepingItsSlotLeavesWithEpochMinusTwo) {
  MembershipConfig c;
  c.group_id = "g";
  c.topics = {"t"};
  c.instance_id = "pod-0";
  c.close_mode = CloseMode::kKeepStaticSlot;
  MembershipCore core(c);
  const SteadyTime now{};
  auto join = core.BeginHeartbeat(now);
  EXPECT_EQ(join.instance_id, "pod-0");
  core.OnAnswer({"m1", 1, milliseconds(1'000), {}}, now);
  auto plan = core.BeginLeave();
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->member_epoch, kStaticLeaveEpoch);
}

TEST(MembershipCoreStaticTest, NeverJoinedMemberSendsNoLeave) {
  MembershipConfig c;
  c.group_id = "g";
  c.topics = {"t"};
  MembershipCore core(c);
  EXPECT_FALSE(core.BeginLeave());
}

}  // namespace
}  // namespace telemq::client
