#include "telemq/group_member.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "client/cluster.h"
#include "client/membership.h"

namespace telemq {

struct GroupMember::Impl {
  GroupMemberOptions opts;
  std::shared_ptr<GroupMemberListener> listener;
  std::shared_ptr<client::Cluster> cluster;
  std::shared_ptr<client::Membership> membership;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false;     // guarded by mu
  bool closing = false;  // guarded by mu
  std::once_flag close_once;

  // The listener thread: applies handoffs one at a time, acknowledging each
  // after its callbacks returned.
  void Run() {
    for (;;) {
      {
        std::unique_lock lock(mu);
        // The timeout covers a wake that raced with the previous pass.
        cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return wake || closing; });
        wake = false;
        if (closing) break;
      }
      while (auto h = membership->TakeHandoff()) {
        if (h->kind == client::Handoff::Kind::kLost) {
          listener->OnLost(h->revoked);
          membership->Complete(*h, {});
          continue;
        }
        if (!h->revoked.empty()) listener->OnRevoked(h->revoked);
        if (!h->assigned.empty()) listener->OnAssigned(h->assigned);
        membership->Complete(*h, h->assigned);
      }
    }
    // Closing: give everything back before leaving.
    auto owned = membership->Owned();
    if (!owned.empty()) {
      listener->OnRevoked(owned);
      client::Handoff all;
      all.revoked = owned;
      membership->Complete(all, {});
    }
  }
};

GroupMember::GroupMember(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
GroupMember::~GroupMember() { Close(); }

Result<std::unique_ptr<GroupMember>> GroupMember::Create(GroupMemberOptions options,
                                                         std::shared_ptr<GroupMemberListener> listener) {
  if (options.group_id.empty()) return Fail(Errc::kInvalidArgument, "group id is empty");
  if (options.topics.empty()) return Fail(Errc::kInvalidArgument, "no topics to subscribe to");
  if (!listener) return Fail(Errc::kInvalidArgument, "a listener is required");
  auto impl = std::make_shared<Impl>();
  impl->opts = options;
  impl->listener = std::move(listener);
  TELEMQ_ASSIGN_OR_RETURN(impl->cluster, client::Cluster::Create(options.client));
  client::MembershipConfig config;
  config.group_id = options.group_id;
  config.topics = options.topics;
  config.instance_id = options.instance_id;
  config.metadata = options.metadata;
  config.timeouts = options.timeouts;
  config.close_mode = options.close_mode;
  config.retry_backoff = options.client.retry_backoff;
  std::weak_ptr<Impl> weak = impl;
  impl->membership = client::Membership::Start(impl->cluster, std::move(config), [weak]() {
    if (auto i = weak.lock()) {
      {
        std::lock_guard lock(i->mu);
        i->wake = true;
      }
      i->cv.notify_all();
    }
  });
  impl->thread = std::thread([raw = impl.get()]() { raw->Run(); });
  return std::unique_ptr<GroupMember>(new GroupMember(std::move(impl)));
}

std::vector<TopicPartition> GroupMember::Assignment() const { return impl_->membership->Owned(); }

std::optional<Error> GroupMember::FatalError() const { return impl_->membership->FatalError(); }

void GroupMember::Close() {
  if (!impl_) return;
  std::call_once(impl_->close_once, [impl = impl_]() {
    {
      std::lock_guard lock(impl->mu);
      impl->closing = true;
    }
    impl->cv.notify_all();
    if (impl->thread.joinable()) impl->thread.join();
    impl->membership->Leave(impl->opts.client.request_timeout);
    impl->cluster->Shutdown();
  });
}

}  // namespace telemq
