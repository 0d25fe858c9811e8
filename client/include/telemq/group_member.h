#pragma once
// GroupMember: membership in a consumer group without consuming records.
// For processes that only need to know which partitions are theirs, e.g.
// streamers that split their sources by partition (docs/groups.md, "Client
// library"). Same protocol and guarantees as Consumer::Subscribe: a
// partition is handed to this member only after its previous owner let it
// go, and this member lets a partition go only after OnRevoked returns.
//
// Threads: heartbeats run on the client's I/O thread; the listener runs on
// one internal thread of this object, one call at a time, so a slow callback
// delays only this member's own rebalance (up to the rebalance timeout).
// Every public method is thread-safe; do not call Close() from the listener.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/group_common.h"
#include "telemq/topic_partition.h"

namespace telemq {

struct GroupMemberOptions {
  ClientOptions client;
  std::string group_id;
  std::vector<std::string> topics;
  // Static membership (see GroupOptions::instance_id in consumer.h).
  std::optional<std::string> instance_id;
  // Opaque bytes visible in DescribeGroup (e.g. a query endpoint).
  std::string metadata;
  GroupTimeouts timeouts;
  CloseMode close_mode = CloseMode::kLeaveGroup;
};

class GroupMemberListener {
 public:
  virtual ~GroupMemberListener() = default;
  // Start working on these partitions.
  virtual void OnAssigned(const std::vector<TopicPartition>& added) = 0;
  // Stop working on these; they move to another member once this returns.
  virtual void OnRevoked(const std::vector<TopicPartition>& removed) = 0;
  // These are already gone (fenced, or no heartbeat for a session timeout);
  // stop at once. Default: OnRevoked.
  virtual void OnLost(const std::vector<TopicPartition>& lost) { OnRevoked(lost); }
};

class GroupMember {
 public:
  // Starts joining at once; the listener hears of partitions as they come.
  [[nodiscard]] static Result<std::unique_ptr<GroupMember>> Create(GroupMemberOptions options,
                                                                   std::shared_ptr<GroupMemberListener> listener);
  // Close()s.
  ~GroupMember();
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  // The partitions whose OnAssigned has returned and OnRevoked/OnLost not
  // yet been called: what this member owns now.
  std::vector<TopicPartition> Assignment() const;
  // A non-retriable failure that stopped the member (invalid group id, a
  // broker without groups), if any.
  std::optional<Error> FatalError() const;
  // Calls OnRevoked for everything owned (on the internal thread), leaves the
  // group per close_mode, and stops. Idempotent.
  void Close();

 private:
  struct Impl;
  explicit GroupMember(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace telemq
