#pragma once
// Group membership on the client side (docs/groups.md, "Client contract" and
// "Client library"), in two layers:
//
//  * MembershipCore: the bookkeeping as a pure state machine. No I/O, no
//    clock (time enters as `now`), no locking; unit-tested on its own.
//  * Membership: the shell. It finds the coordinator, heartbeats on the
//    cluster's I/O thread, and hands partition changes to an owner (the
//    Consumer's Poll thread, or GroupMember's callback thread) which pulls
//    them with TakeHandoff() and confirms them with Complete(). Thread-safe.
//
// The owner's acknowledgement is what `owned` reports: a partition leaves
// `owned` only after the application finished dropping it, and enters it as
// soon as the application is asked to start it (so a partition that a newer
// answer took away while the application was starting it is still reported,
// and the coordinator waits for its release instead of handing it on).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/group_common.h"
#include "telemq/topic_partition.h"

namespace telemq::client {

class Cluster;

using SteadyTime = std::chrono::steady_clock::time_point;
using PartitionSet = std::set<TopicPartition>;

inline constexpr int32_t kJoinEpoch = 0;
inline constexpr int32_t kLeaveEpoch = -1;
inline constexpr int32_t kStaticLeaveEpoch = -2;

struct MembershipConfig {
  std::string group_id;
  std::vector<std::string> topics;
  std::optional<std::string> instance_id;
  std::string metadata;  // opaque bytes
  GroupTimeouts timeouts;
  CloseMode close_mode = CloseMode::kLeaveGroup;
  // Wait before retrying a failed heartbeat or coordinator lookup.
  std::chrono::milliseconds retry_backoff{100};
  // Used until the coordinator states its own interval.
  std::chrono::milliseconds initial_heartbeat_interval{1'000};
};

// What the application must do next: drop `revoked` (first), then start
// `assigned`. For kLost the partitions are already gone (the member was
// fenced or its session ended): no offsets can be committed for them.
struct Handoff {
  enum class Kind { kReconcile, kLost };
  Kind kind = Kind::kReconcile;
  std::vector<TopicPartition> revoked;
  std::vector<TopicPartition> assigned;
};

// One heartbeat request, as the core wants it sent.
struct HeartbeatPlan {
  std::string member_id;
  std::optional<std::string> instance_id;
  int32_t member_epoch = 0;
  std::chrono::milliseconds session_timeout{0};
  std::chrono::milliseconds rebalance_timeout{0};
  std::optional<std::vector<std::string>> subscribed_topics;  // nullopt: unchanged
  std::optional<std::string> metadata;                        // nullopt: unchanged
  std::optional<std::vector<TopicPartition>> owned;           // nullopt: unchanged
};

// A successful heartbeat answer.
struct HeartbeatAnswer {
  std::string member_id;
  int32_t member_epoch = 0;
  std::chrono::milliseconds heartbeat_interval{0};
  std::vector<TopicPartition> assignment;
};

enum class HeartbeatFailure {
  kRetry,   // transport error, coordinator moved or loading: retry after backoff
  kFenced,  // unknown member or fenced epoch: everything is lost, rejoin
};

class MembershipCore {
 public:
  explicit MembershipCore(MembershipConfig config);

  // Whether a heartbeat should be sent now (none in flight, not waiting for
  // the application to drop lost partitions, not left).
  bool HeartbeatDue(SteadyTime now) const;
  // Marks a heartbeat in flight and says what it carries.
  HeartbeatPlan BeginHeartbeat(SteadyTime now);
  void OnAnswer(const HeartbeatAnswer& answer, SteadyTime now);
  void OnFailure(HeartbeatFailure failure, SteadyTime now);
  // Session and revocation deadlines (the client contract): either one
  // passing makes every partition lost.
  void Tick(SteadyTime now);

  // The next change for the application, or nullopt (nothing to do, or one
  // handoff is already out: one at a time). Complete() must follow.
  std::optional<Handoff> TakeHandoff(SteadyTime now);
  // The application dropped `revoked` and started `assigned` (a subset of
  // the handoff's: what it could not start is offered again later).
  void Complete(const Handoff& handoff, const std::vector<TopicPartition>& assigned, SteadyTime now);

  // The leave request for Close(), or nullopt when not a member. Stops
  // heartbeats.
  std::optional<HeartbeatPlan> BeginLeave();

  // What the application holds (acknowledged).
  const PartitionSet& owned() const { return owned_; }
  // What `owned` in a heartbeat lists: held plus being started.
  std::vector<TopicPartition> ReportedOwned() const;
  const std::string& member_id() const { return member_id_; }
  int32_t member_epoch() const { return member_epoch_; }
  bool handoff_pending() const { return lost_ || taken_.has_value() || owned_ != target_; }
  bool left() const { return left_; }
  std::chrono::milliseconds heartbeat_interval() const { return interval_; }

 private:
  void MarkLost();
  // Act this much before the coordinator would, since our clock starts when
  // we send and its clock when it receives.
  std::chrono::milliseconds Margin(std::chrono::milliseconds timeout) const;

  MembershipConfig config_;
  std::string member_id_;
  int32_t member_epoch_ = kJoinEpoch;
  std::chrono::milliseconds interval_;
  SteadyTime next_heartbeat_at_{};
  bool in_flight_ = false;
  SteadyTime sent_at_{};
  // Send subscription and metadata: on join, and after a failure (the
  // coordinator may not have seen the last request).
  bool send_full_ = true;
  // Send time of the last answered heartbeat: the session clock.
  std::optional<SteadyTime> last_success_sent_;
  // Since when some held partition is no longer in the assignment.
  std::optional<SteadyTime> revoking_since_;
  PartitionSet target_;  // latest assignment from the coordinator
  PartitionSet owned_;   // acknowledged by the application
  std::optional<Handoff> taken_;
  bool lost_ = false;
  bool left_ = false;
};

// The shell: one per Consumer::Subscribe or GroupMember. `wake` runs on the
// I/O thread whenever a handoff may be ready or a fatal error appeared; it
// must not block.
class Membership : public std::enable_shared_from_this<Membership> {
 public:
  static std::shared_ptr<Membership> Start(std::shared_ptr<Cluster> cluster, MembershipConfig config,
                                           std::function<void()> wake);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  std::optional<Handoff> TakeHandoff();
  void Complete(const Handoff& handoff, const std::vector<TopicPartition>& assigned);
  std::vector<TopicPartition> Owned() const;
  bool HandoffPending() const;
  // A non-retriable error (invalid group id, broker without groups): the
  // member stopped.
  std::optional<Error> FatalError() const;

  struct Identity {
    int32_t coordinator = -1;
    std::string member_id;
    int32_t member_epoch = 0;
  };
  // For offset commits. The coordinator is looked up (blocking) when unknown;
  // not on the I/O thread.
  [[nodiscard]] Result<Identity> CurrentIdentity();
  // A commit saw NotCoordinator: look the coordinator up again.
  void CoordinatorMoved();

  // Sends the leave (epoch -1, or -2 per close_mode) and stops, waiting up to
  // `timeout` for the answer. Not on the I/O thread. Idempotent.
  void Leave(std::chrono::milliseconds timeout);

 private:
  Membership(std::shared_ptr<Cluster> cluster, MembershipConfig config, std::function<void()> wake);
  void Tick();
  void Discover();
  void SendHeartbeat(const HeartbeatPlan& plan, int32_t node);

  std::shared_ptr<Cluster> cluster_;
  const MembershipConfig config_;
  std::function<void()> wake_;
  struct Timer;
  std::unique_ptr<Timer> timer_;  // I/O thread

  mutable std::mutex mu_;
  MembershipCore core_;         // guarded by mu_
  int32_t coordinator_ = -1;    // guarded by mu_
  bool discovering_ = false;    // guarded by mu_
  SteadyTime discover_at_{};    // guarded by mu_
  std::optional<Error> fatal_;  // guarded by mu_
  bool stopped_ = false;        // guarded by mu_
};

// Blocking coordinator lookup (not on the I/O thread): node id, after
// recording its address in the cluster's broker table.
[[nodiscard]] Result<int32_t> FindCoordinator(Cluster& cluster, const std::string& group_id);

}  // namespace telemq::client
