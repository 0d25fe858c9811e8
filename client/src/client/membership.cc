#include "client/membership.h"

#include <algorithm>
#include <future>
#include <thread>

#include "client/cluster.h"
#include "client/group_rpc.h"
#include "telemq/wire/protocol.h"

namespace telemq::client {

namespace fb = wire::fb;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::vector<TopicPartition> Minus(const PartitionSet& a, const PartitionSet& b) {
  std::vector<TopicPartition> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- core

MembershipCore::MembershipCore(MembershipConfig config)
    : config_(std::move(config)), interval_(config_.initial_heartbeat_interval) {}

milliseconds MembershipCore::Margin(milliseconds timeout) const {
  // A tenth of the timeout, at most 2 s: enough for a request's transit and
  // scheduling jitter, small against any sensible timeout.
  return std::min(timeout / 10, milliseconds(2'000));
}

bool MembershipCore::HeartbeatDue(SteadyTime now) const {
  return !in_flight_ && !lost_ && !left_ && now >= next_heartbeat_at_;
}

std::vector<TopicPartition> MembershipCore::ReportedOwned() const {
  PartitionSet reported = owned_;
  if (taken_) reported.insert(taken_->assigned.begin(), taken_->assigned.end());
  return {reported.begin(), reported.end()};
}

HeartbeatPlan MembershipCore::BeginHeartbeat(SteadyTime now) {
  in_flight_ = true;
  sent_at_ = now;
  HeartbeatPlan plan;
  plan.member_id = member_id_;
  plan.instance_id = config_.instance_id;
  plan.member_epoch = member_epoch_;
  plan.session_timeout = config_.timeouts.session_timeout;
  plan.rebalance_timeout = config_.timeouts.rebalance_timeout;
  if (send_full_ || member_epoch_ == kJoinEpoch) {
    plan.subscribed_topics = config_.topics;
    plan.metadata = config_.metadata;
  }
  // Always sent: a lost answer must not leave the coordinator believing we
  // still hold a partition we released (or the reverse). It is small.
  plan.owned = ReportedOwned();
  return plan;
}

void MembershipCore::OnAnswer(const HeartbeatAnswer& answer, SteadyTime now) {
  in_flight_ = false;
  // Lost while the request was out (session deadline): the answer does not
  // undo that, since the application may already be dropping everything.
  if (lost_ || left_) return;
  member_id_ = answer.member_id;
  member_epoch_ = answer.member_epoch;
  if (answer.heartbeat_interval.count() > 0) interval_ = answer.heartbeat_interval;
  target_ = PartitionSet(answer.assignment.begin(), answer.assignment.end());
  last_success_sent_ = sent_at_;
  next_heartbeat_at_ = sent_at_ + interval_;
  send_full_ = false;
  if (Minus(owned_, target_).empty()) {
    revoking_since_.reset();
  } else if (!revoking_since_) {
    revoking_since_ = now;
  }
}

void MembershipCore::OnFailure(HeartbeatFailure failure, SteadyTime now) {
  in_flight_ = false;
  if (lost_ || left_) return;
  switch (failure) {
    case HeartbeatFailure::kRetry:
      send_full_ = true;
      next_heartbeat_at_ = now + config_.retry_backoff;
      return;
    case HeartbeatFailure::kFenced: MarkLost(); return;
  }
}

void MembershipCore::Tick(SteadyTime now) {
  if (lost_ || left_) return;
  const auto session = config_.timeouts.session_timeout;
  if (last_success_sent_ && now >= *last_success_sent_ + session - Margin(session)) {
    MarkLost();
    return;
  }
  const auto rebalance = config_.timeouts.rebalance_timeout;
  if (revoking_since_ && now >= *revoking_since_ + rebalance - Margin(rebalance)) MarkLost();
}

void MembershipCore::MarkLost() {
  lost_ = true;
  // Keep the member id: the coordinator takes a known id with epoch 0 as a
  // rejoin of a member that holds nothing, an unknown one as a new member.
  member_epoch_ = kJoinEpoch;
  target_.clear();
  send_full_ = true;
  last_success_sent_.reset();
  revoking_since_.reset();
}

std::optional<Handoff> MembershipCore::TakeHandoff(SteadyTime now) {
  if (taken_ || left_) return std::nullopt;
  if (lost_) {
    if (owned_.empty()) {
      // Nothing to drop: rejoin right away.
      lost_ = false;
      next_heartbeat_at_ = now;
      return std::nullopt;
    }
    Handoff h;
    h.kind = Handoff::Kind::kLost;
    h.revoked.assign(owned_.begin(), owned_.end());
    taken_ = h;
    return h;
  }
  Handoff h;
  h.revoked = Minus(owned_, target_);
  h.assigned = Minus(target_, owned_);
  if (h.revoked.empty() && h.assigned.empty()) return std::nullopt;
  taken_ = h;
  return h;
}

void MembershipCore::Complete(const Handoff& handoff, const std::vector<TopicPartition>& assigned, SteadyTime now) {
  taken_.reset();
  if (handoff.kind == Handoff::Kind::kLost) {
    owned_.clear();
    // The contract: a member that joins with epoch 0 holds nothing, which is
    // now true.
    lost_ = false;
    next_heartbeat_at_ = now;
    return;
  }
  for (const auto& tp : handoff.revoked) owned_.erase(tp);
  owned_.insert(assigned.begin(), assigned.end());
  if (lost_) return;  // the next TakeHandoff drops everything
  if (Minus(owned_, target_).empty()) revoking_since_.reset();
  // Released partitions are waiting for their next owner: say so now rather
  // than after a full interval.
  if (!handoff.revoked.empty()) next_heartbeat_at_ = now;
}

std::optional<HeartbeatPlan> MembershipCore::BeginLeave() {
  if (left_) return std::nullopt;
  left_ = true;
  if (member_id_.empty() || lost_ || member_epoch_ == kJoinEpoch) return std::nullopt;
  HeartbeatPlan plan;
  plan.member_id = member_id_;
  plan.instance_id = config_.instance_id;
  plan.member_epoch =
      config_.close_mode == CloseMode::kKeepStaticSlot && config_.instance_id ? kStaticLeaveEpoch : kLeaveEpoch;
  plan.session_timeout = config_.timeouts.session_timeout;
  plan.rebalance_timeout = config_.timeouts.rebalance_timeout;
  return plan;
}

// ---------------------------------------------------------------- shell

namespace {

constexpr milliseconds kTickPeriod{50};

Request HeartbeatRequest(const std::string& group_id, const HeartbeatPlan& plan) {
  flatbuffers::FlatBufferBuilder b(512);
  auto gid = b.CreateString(group_id);
  auto mid = b.CreateString(plan.member_id);
  flatbuffers::Offset<flatbuffers::String> iid;
  if (plan.instance_id) iid = b.CreateString(*plan.instance_id);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> topics;
  if (plan.subscribed_topics) topics = b.CreateVectorOfStrings(*plan.subscribed_topics);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> metadata;
  if (plan.metadata) {
    metadata = b.CreateVector(reinterpret_cast<const uint8_t*>(plan.metadata->data()), plan.metadata->size());
  }
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::TopicPartitions>>> owned;
  if (plan.owned) {
    std::vector<flatbuffers::Offset<fb::TopicPartitions>> list;
    const auto& v = *plan.owned;  // sorted by topic
    for (size_t i = 0; i < v.size();) {
      std::vector<int32_t> ps;
      size_t j = i;
      for (; j < v.size() && v[j].topic == v[i].topic; ++j) ps.push_back(v[j].partition);
      list.push_back(fb::CreateTopicPartitionsDirect(b, v[i].topic.c_str(), &ps));
      i = j;
    }
    owned = b.CreateVector(list);
  }
  b.Finish(fb::CreateGroupHeartbeatRequest(
      b, gid, mid, iid, plan.member_epoch, static_cast<int32_t>(plan.session_timeout.count()),
      static_cast<int32_t>(plan.rebalance_timeout.count()), topics, metadata, owned));
  return Request{wire::ApiKey::kGroupHeartbeat, b.Release(), {}, nullptr};
}

}  // namespace

struct Membership::Timer {
  explicit Timer(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
};

Result<int32_t> FindCoordinator(Cluster& cluster, const std::string& group_id) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateFindCoordinatorRequestDirect(b, group_id.c_str()));
  auto frame = cluster.Call(kAnyBroker, Request{wire::ApiKey::kFindCoordinator, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, ResponseBody<fb::FindCoordinatorResponse>(frame));
  if (resp->error() != fb::ErrorCode::None) {
    return tl::unexpected(GroupError(resp->error(), wire::Str(resp->message()), "find coordinator of " + group_id));
  }
  if (resp->node_id() < 0) return Fail(Errc::kNotLeader, "group " + group_id + " has no coordinator yet");
  cluster.AddBroker(resp->node_id(), wire::Str(resp->host()), resp->port());
  return resp->node_id();
}

Membership::Membership(std::shared_ptr<Cluster> cluster, MembershipConfig config, std::function<void()> wake)
    : cluster_(std::move(cluster)), config_(config), wake_(std::move(wake)), core_(std::move(config)) {}

std::shared_ptr<Membership> Membership::Start(std::shared_ptr<Cluster> cluster, MembershipConfig config,
                                              std::function<void()> wake) {
  std::shared_ptr<Membership> m(new Membership(std::move(cluster), std::move(config), std::move(wake)));
  m->timer_ = std::make_unique<Timer>(m->cluster_->io());
  asio::post(m->cluster_->io(), [m]() { m->Tick(); });
  return m;
}

void Membership::Tick() {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    const auto now = Clock::now();
    const bool had_pending = core_.handoff_pending();
    core_.Tick(now);
    wake = !had_pending && core_.handoff_pending();
    if (!fatal_) {
      if (coordinator_ < 0) {
        if (!discovering_ && now >= discover_at_) Discover();
      } else if (core_.HeartbeatDue(now)) {
        SendHeartbeat(core_.BeginHeartbeat(now), coordinator_);
      }
    }
  }
  if (wake) wake_();
  timer_->timer.expires_after(kTickPeriod);
  timer_->timer.async_wait([self = shared_from_this()](std::error_code ec) {
    if (!ec) self->Tick();
  });
}

// mu_ held, I/O thread.
void Membership::Discover() {
  discovering_ = true;
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateFindCoordinatorRequestDirect(b, config_.group_id.c_str()));
  cluster_->Send(kAnyBroker, Request{wire::ApiKey::kFindCoordinator, b.Release(), {}, nullptr},
                 [self = shared_from_this()](Result<Frame> frame) {
                   auto resp = ResponseBody<fb::FindCoordinatorResponse>(frame);
                   std::lock_guard lock(self->mu_);
                   self->discovering_ = false;
                   if (resp && (*resp)->error() == fb::ErrorCode::None && (*resp)->node_id() >= 0) {
                     self->cluster_->AddBroker((*resp)->node_id(), wire::Str((*resp)->host()), (*resp)->port());
                     self->coordinator_ = (*resp)->node_id();
                     return;
                   }
                   if (resp && (*resp)->error() == fb::ErrorCode::InvalidGroupId) {
                     self->fatal_ = GroupError((*resp)->error(), wire::Str((*resp)->message()),
                                               "group '" + self->config_.group_id + "'");
                   } else if (!resp && resp.error().code() == Errc::kUnsupportedVersion) {
                     self->fatal_ = Error(Errc::kUnsupportedVersion,
                                          "the broker does not serve consumer groups: " + resp.error().message());
                   }
                   self->discover_at_ = Clock::now() + self->config_.retry_backoff;
                 });
}

// mu_ held, I/O thread.
void Membership::SendHeartbeat(const HeartbeatPlan& plan, int32_t node) {
  cluster_->Send(node, HeartbeatRequest(config_.group_id, plan), [self = shared_from_this()](Result<Frame> frame) {
    auto resp = ResponseBody<fb::GroupHeartbeatResponse>(frame);
    const auto now = Clock::now();
    {
      std::lock_guard lock(self->mu_);
      if (self->stopped_) return;
      const fb::ErrorCode code = resp ? (*resp)->error() : fb::ErrorCode::None;
      if (resp && code == fb::ErrorCode::None) {
        HeartbeatAnswer a;
        a.member_id = wire::Str((*resp)->member_id());
        a.member_epoch = (*resp)->member_epoch();
        a.heartbeat_interval = milliseconds((*resp)->heartbeat_interval_ms());
        a.assignment = ReadPartitions((*resp)->assignment());
        std::sort(a.assignment.begin(), a.assignment.end());
        self->core_.OnAnswer(a, now);
      } else if (code == fb::ErrorCode::UnknownMemberId || code == fb::ErrorCode::FencedMemberEpoch) {
        self->core_.OnFailure(HeartbeatFailure::kFenced, now);
      } else if (code == fb::ErrorCode::InvalidGroupId || code == fb::ErrorCode::InvalidRequest ||
                 code == fb::ErrorCode::InvalidConfig || (!resp && resp.error().code() == Errc::kUnsupportedVersion)) {
        self->fatal_ = resp ? GroupError(code, wire::Str((*resp)->message()), "heartbeat of " + self->config_.group_id)
                            : resp.error();
        self->core_.OnFailure(HeartbeatFailure::kRetry, now);
      } else {
        // Transport error, NotCoordinator, CoordinatorLoading, or anything
        // else transient: find the coordinator again (the cluster reconnects
        // on the next send) and retry; the session clock keeps running.
        self->coordinator_ = -1;
        self->discover_at_ = now + self->config_.retry_backoff;
        self->core_.OnFailure(HeartbeatFailure::kRetry, now);
      }
    }
    self->wake_();
  });
}

std::optional<Handoff> Membership::TakeHandoff() {
  std::lock_guard lock(mu_);
  return core_.TakeHandoff(Clock::now());
}

void Membership::Complete(const Handoff& handoff, const std::vector<TopicPartition>& assigned) {
  {
    std::lock_guard lock(mu_);
    core_.Complete(handoff, assigned, Clock::now());
  }
  // Send the shrunken `owned` (or the rejoin) now instead of at the next tick.
  asio::post(cluster_->io(), [self = shared_from_this()]() {
    std::lock_guard lock(self->mu_);
    if (self->stopped_ || self->fatal_ || self->coordinator_ < 0) return;
    const auto now = Clock::now();
    if (self->core_.HeartbeatDue(now)) self->SendHeartbeat(self->core_.BeginHeartbeat(now), self->coordinator_);
  });
}

std::vector<TopicPartition> Membership::Owned() const {
  std::lock_guard lock(mu_);
  return {core_.owned().begin(), core_.owned().end()};
}

bool Membership::HandoffPending() const {
  std::lock_guard lock(mu_);
  return core_.handoff_pending();
}

std::optional<Error> Membership::FatalError() const {
  std::lock_guard lock(mu_);
  return fatal_;
}

Result<Membership::Identity> Membership::CurrentIdentity() {
  Identity id;
  {
    std::lock_guard lock(mu_);
    id.coordinator = coordinator_;
    id.member_id = core_.member_id();
    id.member_epoch = core_.member_epoch();
  }
  if (id.member_epoch <= 0) return Fail(Errc::kNotFound, "not a member of group " + config_.group_id + " yet");
  if (id.coordinator < 0) {
    TELEMQ_ASSIGN_OR_RETURN(id.coordinator, FindCoordinator(*cluster_, config_.group_id));
  }
  return id;
}

void Membership::CoordinatorMoved() {
  std::lock_guard lock(mu_);
  coordinator_ = -1;
}

void Membership::Leave(milliseconds timeout) {
  std::optional<HeartbeatPlan> plan;
  int32_t node = -1;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    plan = core_.BeginLeave();
    node = coordinator_;
  }
  if (plan) {
    // Best effort within `timeout`: without an answer the coordinator
    // expires us after the session timeout instead. A coordinator that moved
    // (a failover) is looked up again, so the partitions are released at
    // once rather than a whole session later.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int attempt = 0; attempt < 30 && std::chrono::steady_clock::now() < deadline; ++attempt) {
      if (node < 0) {
        auto found = FindCoordinator(*cluster_, config_.group_id);
        if (!found) {
          // No broker reachable: the session timeout will expire us; do not
          // hold the caller's Close() for it. A broker that answered "no
          // coordinator yet" (an election) is asked again.
          const Errc code = found.error().code();
          if (code == Errc::kDisconnected || code == Errc::kTimeout || code == Errc::kCancelled) break;
          std::this_thread::sleep_for(config_.retry_backoff);
          continue;
        }
        node = *found;
      }
      {
        auto promise = std::make_shared<std::promise<Result<Frame>>>();
        auto answer = promise->get_future();
        cluster_->Send(node, HeartbeatRequest(config_.group_id, *plan),
                       [promise](Result<Frame> r) { promise->set_value(std::move(r)); });
        if (answer.wait_until(deadline) != std::future_status::ready) break;
        auto resp = ResponseBody<fb::GroupHeartbeatResponse>(answer.get());
        if (resp) {
          const auto code = (*resp)->error();
          const bool moved = code == fb::ErrorCode::NotCoordinator || code == fb::ErrorCode::CoordinatorLoading ||
                             code == fb::ErrorCode::CoordinatorNotAvailable;
          if (!moved) break;  // left, or the member is already gone (unknown, fenced)
        }
        node = -1;  // the coordinator moved or did not answer: find it again
      }
      std::this_thread::sleep_for(std::min<milliseconds>(
          config_.retry_backoff,
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now())));
    }
  }
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  asio::post(cluster_->io(), [self = shared_from_this()]() { self->timer_->timer.cancel(); });
}

}  // namespace telemq::client
