// Replica behaviour with deterministic seams: a queue executor per replica,
// a syncer completed by the test, and a transport that routes messages
// between replicas of one group. The randomised fault campaign over the same
// code is tests/sim/replica_sim.

#include "broker/replication/replica.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/file_system.h"
#include "broker/storage/partition_log.h"
#include "broker/storage/test_util.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"

namespace telemq::replication {
namespace {

class QueueExecutor final : public Executor {
 public:
  void Post(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  bool RunOne() {
    if (tasks_.empty()) return false;
    auto t = std::move(tasks_.front());
    tasks_.pop_front();
    t();
    return true;
  }

 private:
  std::deque<std::function<void()>> tasks_;
};

// Syncs when the test says so (or at once with `immediate`).
class ManualSyncer final : public Syncer {
 public:
  void RequestSync(std::shared_ptr<storage::PartitionLog> log, Offset up_to,
                   std::function<void(Result<Offset>)> done) override {
    pending_.push_back({std::move(log), up_to, std::move(done)});
  }
  // Completes every pending sync; returns how many.
  int CompleteAll() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& p : pending) p.done(p.log->Sync());
    return static_cast<int>(pending.size());
  }
  size_t pending() const { return pending_.size(); }

 private:
  struct Req {
    std::shared_ptr<storage::PartitionLog> log;
    Offset up_to;
    std::function<void(Result<Offset>)> done;
  };
  std::vector<Req> pending_;
};

class FixedClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms; }
  int64_t now_ms = 1'700'000'000'000;
};

// A group of N replicas of partition t/0 on one machine. Messages queue in
// a network the test delivers (and may cut).
class Group : public Transport {
 public:
  explicit Group(int n, storage::FsyncPolicy fsync = storage::FsyncPolicy::kAlways) : n_(n), fsync_(fsync) {
    for (int i = 1; i <= n; ++i) voters_.push_back(NodeId(i));
    for (int i = 1; i <= n; ++i) Open(i);
  }

  void Send(const PartitionKey&, uint64_t, const raft::Message& m) override {
    if (cut_.count(m.from.value()) || cut_.count(m.to.value())) return;
    network_.push_back(m);
  }

  void Open(int id, bool machine_rebooted = false) {
    auto r = TryOpen(id, machine_rebooted);
    ASSERT_TRUE(r) << r.error().ToString();
  }

  Result<void> TryOpen(int id, bool machine_rebooted = false) {
    auto& slot = replicas_[id];
    auto* executor = new QueueExecutor;
    std::unique_ptr<Executor> owned(executor);
    TELEMQ_ASSIGN_OR_RETURN(auto log, storage::PartitionLog::Open(fs_, PartitionDir(id), LogOpts()));
    ReplicaOptions o;
    o.key = {"t", PartitionId(0)};
    o.self = NodeId(id);
    o.voters = voters_;
    o.fsync = fsync_;
    o.election_ticks = 5;
    o.seed = static_cast<uint64_t>(id) * 7919;
    o.unsynced_writes_may_be_lost = machine_rebooted;
    TELEMQ_ASSIGN_OR_RETURN(auto r, Replica::Open(o, std::shared_ptr<storage::PartitionLog>(std::move(log)), fs_,
                                                  std::move(owned), syncer_, *this, clock_));
    slot.executor = executor;
    slot.replica = std::move(r);
    return Ok();
  }

  std::string PartitionDir(int id) const { return dir_.path() + "/b" + std::to_string(id) + "/t-0"; }

  // Drops replica `id` as a crash would (unsynced writes survive here: the
  // page cache is not lost by a process crash).
  void Crash(int id) {
    syncer_.CompleteAll();
    RunExecutors();
    replicas_[id].replica.reset();
  }

  storage::LogOptions LogOpts() const {
    storage::LogOptions o;
    o.fsync = fsync_;
    return o;
  }

  void RunExecutors() {
    for (bool any = true; any;) {
      any = false;
      for (auto& [id, s] : replicas_) {
        if (s.replica) any |= s.executor->RunOne();
      }
    }
  }

  // One round: executors, syncs, deliveries, until quiet.
  void Settle() {
    for (int guard = 0; guard < 10'000; ++guard) {
      RunExecutors();
      const bool synced = syncer_.CompleteAll() > 0;
      RunExecutors();
      if (network_.empty() && !synced) return;
      auto msgs = std::move(network_);
      network_.clear();
      for (auto& m : msgs) {
        auto& s = replicas_[m.to.value()];
        if (s.replica) s.executor->Post([r = s.replica, m] { r->Step(m); });
      }
    }
    FAIL() << "the group did not settle";
  }

  void Tick(int times = 1) {
    for (int t = 0; t < times; ++t) {
      for (auto& [id, s] : replicas_) {
        if (s.replica) s.executor->Post([r = s.replica] { r->Tick(); });
      }
      Settle();
    }
  }

  // Ticks until some replica serves as leader; returns its id.
  int ElectLeader() {
    for (int i = 0; i < 200; ++i) {
      if (int l = Leader(); l != 0) return l;
      Tick();
    }
    return 0;
  }
  int Leader() const {
    for (const auto& [id, s] : replicas_) {
      if (s.replica && s.replica->serving()) return id;
    }
    return 0;
  }

  Replica& replica(int id) { return *replicas_.at(id).replica; }
  QueueExecutor& executor(int id) { return *replicas_.at(id).executor; }
  ManualSyncer& syncer() { return syncer_; }
  FixedClock& clock() { return clock_; }
  storage::FaultInjectionFileSystem& fs() { return fs_; }
  void Cut(int id) { cut_.insert(id); }
  void Heal() { cut_.clear(); }

 private:
  struct Slot {
    QueueExecutor* executor = nullptr;  // owned by the replica
    std::shared_ptr<Replica> replica;
  };
  storage::testing::TempDir dir_;
  storage::FaultInjectionFileSystem fs_{storage::PosixFileSystem::Default()};
  int n_;
  storage::FsyncPolicy fsync_;
  std::vector<NodeId> voters_;
  ManualSyncer syncer_;
  FixedClock clock_;
  std::map<int, Slot> replicas_;
  std::vector<raft::Message> network_;
  std::set<int> cut_;
};

// An idempotent batch of `records` records from producer `pid` starting at `seq`.
struct OwnedBatch {
  std::shared_ptr<std::vector<std::byte>> bytes;
  ProduceBatch batch;
};
OwnedBatch MakeBatch(int records, int64_t pid = -1, int32_t seq = -1) {
  wire::BatchBuilder b;
  for (int i = 0; i < records; ++i) b.Add(1000 + i, std::string_view("k"), std::string_view("value"));
  auto built = b.Finish(ProducerId(pid), pid >= 0 ? 0 : -1, seq);
  EXPECT_TRUE(built);
  OwnedBatch out;
  out.bytes = std::make_shared<std::vector<std::byte>>(std::move(*built));
  auto h = wire::ValidateBatch(*out.bytes);
  EXPECT_TRUE(h);
  out.batch = ProduceBatch{std::span<std::byte>(*out.bytes), *h};
  return out;
}

// Produces one batch at replica `id`; returns the result once answered.
std::optional<ProduceResult> ProduceAndSettle(Group& g, int id, const OwnedBatch& b, Acks acks = Acks::kAll) {
  std::optional<ProduceResult> out;
  g.executor(id).Post([&g, id, &b, acks, &out] {
    g.replica(id).Produce({b.batch}, b.bytes, acks, [&out](ProduceResult r) { out = std::move(r); });
  });
  g.Settle();
  return out;
}

TEST(ReplicaTest, SingleReplicaLeadsAtOnceAndAnswersAfterTheSync) {
  Group g(1);
  g.RunExecutors();
  EXPECT_FALSE(g.replica(1).serving()) << "the no-op is not durable yet";
  g.Settle();
  ASSERT_TRUE(g.replica(1).serving());
  EXPECT_EQ(g.replica(1).high_watermark(), Offset(1)) << "the leader's no-op occupies offset 0";

  auto b = MakeBatch(3);
  std::optional<ProduceResult> answer;
  g.executor(1).Post(
      [&] { g.replica(1).Produce({b.batch}, b.bytes, Acks::kAll, [&](ProduceResult r) { answer = r; }); });
  g.RunExecutors();
  EXPECT_FALSE(answer) << "acks=all must wait for the fdatasync";
  EXPECT_EQ(g.syncer().pending(), 1u);
  g.Settle();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->error, Errc::kOk) << answer->message;
  EXPECT_EQ(answer->base_offset, Offset(1));
  EXPECT_EQ(g.replica(1).high_watermark(), Offset(4));
  EXPECT_EQ(g.replica(1).log().durable_offset(), Offset(4));
}

TEST(ReplicaTest, ProposalsDuringASyncShareTheNextOne) {
  Group g(1);
  g.Settle();
  std::vector<OwnedBatch> batches;
  int answered = 0;
  for (int i = 0; i < 10; ++i) batches.push_back(MakeBatch(2));
  for (auto& b : batches) {
    g.executor(1).Post(
        [&] { g.replica(1).Produce({b.batch}, b.bytes, Acks::kAll, [&](ProduceResult) { ++answered; }); });
  }
  g.RunExecutors();
  // The first proposal started a Ready and its sync; the other nine joined
  // the node's log meanwhile and go out together in the next one.
  EXPECT_EQ(g.syncer().CompleteAll(), 1);
  g.RunExecutors();
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(g.syncer().CompleteAll(), 1);
  g.RunExecutors();
  EXPECT_EQ(answered, 10);
}

TEST(ReplicaTest, RetriedIdempotentBatchIsAnsweredWithTheFirstOffsetAndNotWrittenTwice) {
  Group g(1);
  g.Settle();
  auto first = MakeBatch(2, /*pid=*/7, /*seq=*/0);
  auto r1 = ProduceAndSettle(g, 1, first);
  ASSERT_TRUE(r1 && r1->error == Errc::kOk);
  auto retry = MakeBatch(2, 7, 0);
  auto r2 = ProduceAndSettle(g, 1, retry);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->error, Errc::kOk);
  EXPECT_EQ(r2->base_offset, r1->base_offset);
  EXPECT_EQ(g.replica(1).log().log_end_offset(), Offset(3));
  auto gap = MakeBatch(1, 7, 5);
  auto r3 = ProduceAndSettle(g, 1, gap);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->error, Errc::kOutOfOrderSequence);
}

// Found by tests/sim/replica_sim: a produce that arrived between a failed
// write and the node's restart was proposed to the doomed node, left waiting,
// and later answered kOk with the offset of another batch the new node
// committed there.
TEST(ReplicaTest, ProduceBetweenAWriteErrorAndTheRestartIsRefusedNeverAcknowledgedLater) {
  Group g(1);
  g.Settle();
  ASSERT_TRUE(g.replica(1).serving());
  g.fs().FailNth(storage::FaultOp::kWrite, 1, EIO);  // the next batch's pwrite
  auto first = MakeBatch(1, /*pid=*/5, /*seq=*/0);
  auto r1 = ProduceAndSettle(g, 1, first);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->error, Errc::kIo) << r1->message;

  // No tick yet: the replica restarts its node from the disk at the next one.
  auto retry = MakeBatch(1, 5, 0);
  std::optional<ProduceResult> answer;
  g.executor(1).Post(
      [&] { g.replica(1).Produce({retry.batch}, retry.bytes, Acks::kAll, [&](ProduceResult r) { answer = r; }); });
  g.Settle();
  ASSERT_TRUE(answer) << "refused at once, not parked on the node being replaced";
  EXPECT_EQ(answer->error, Errc::kNotLeader) << answer->message;

  g.Tick();  // restart: a single replica campaigns at once
  ASSERT_TRUE(g.replica(1).serving());
  auto other = MakeBatch(1, /*pid=*/6, /*seq=*/0);
  auto r2 = ProduceAndSettle(g, 1, other);
  ASSERT_TRUE(r2 && r2->error == Errc::kOk);
  EXPECT_EQ(answer->error, Errc::kNotLeader) << "answered once";
  auto again = MakeBatch(1, 5, 0);
  auto r3 = ProduceAndSettle(g, 1, again);
  ASSERT_TRUE(r3);
  ASSERT_EQ(r3->error, Errc::kOk) << r3->message;
  auto read = g.replica(1).log().Read(Offset(0), 1 << 20, g.replica(1).log().log_end_offset());
  ASSERT_TRUE(read);
  int of_pid5 = 0;
  for (const auto& h : storage::testing::Headers(*read)) {
    if (h.producer_id == ProducerId(5)) {
      ++of_pid5;
      EXPECT_EQ(h.base_offset, r3->base_offset);
    }
  }
  EXPECT_EQ(of_pid5, 1);
}

TEST(ReplicaTest, ThreeReplicasCommitOnAMajorityAndFollowersLearnProducers) {
  Group g(3);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  auto b = MakeBatch(5, /*pid=*/9, /*seq=*/0);
  auto r = ProduceAndSettle(g, leader, b);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->error, Errc::kOk) << r->message;
  const Offset end = g.replica(leader).log().log_end_offset();
  for (int id = 1; id <= 3; ++id) {
    EXPECT_EQ(g.replica(id).log().log_end_offset(), end) << "replica " << id;
    // A follower that becomes leader must reject a duplicate of the batch.
    EXPECT_EQ(g.replica(id).producers().size(), 1u) << "replica " << id;
  }
}

// The in-sync set (metadata isr, under-replicated partitions) needs each
// follower to keep answering: on an idle partition a follower that went
// silent still holds everything committed, and must still drop out.
TEST(ReplicaTest, SilentFollowerLeavesTheInSyncSetOfAnIdlePartitionAndReturnsWhenHeard) {
  Group g(3);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  auto b = MakeBatch(2);
  auto r = ProduceAndSettle(g, leader, b);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->error, Errc::kOk) << r->message;
  g.Tick(3);
  EXPECT_EQ(g.replica(leader).in_sync().size(), 3u);

  const int silent = leader == 1 ? 2 : 1;
  g.Cut(silent);
  g.clock().now_ms += ReplicaOptions{}.in_sync_lag_ms + 1;
  g.Tick(3);  // heartbeats: only the other follower answers
  std::vector<NodeId> in_sync = g.replica(leader).in_sync();
  EXPECT_EQ(in_sync.size(), 2u);
  EXPECT_EQ(std::count(in_sync.begin(), in_sync.end(), NodeId(silent)), 0);

  g.Heal();
  g.Tick(3);
  EXPECT_EQ(g.replica(leader).in_sync().size(), 3u);
}

TEST(ReplicaTest, FollowerRefusesProduceNamingTheLeader) {
  Group g(3);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  const int follower = leader == 1 ? 2 : 1;
  auto b = MakeBatch(1);
  auto r = ProduceAndSettle(g, follower, b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, Errc::kNotLeader);
  EXPECT_EQ(r->leader_hint, NodeId(leader));
}

TEST(ReplicaTest, IsolatedLeaderFailsItsPendingProduceAndNewLeaderDeduplicatesTheRetry) {
  Group g(3);
  const int old_leader = g.ElectLeader();
  ASSERT_NE(old_leader, 0);
  auto b = MakeBatch(4, /*pid=*/11, /*seq=*/0);
  g.Cut(old_leader);
  std::optional<ProduceResult> answer;
  g.executor(old_leader).Post([&] {
    g.replica(old_leader).Produce({b.batch}, b.bytes, Acks::kAll, [&](ProduceResult r) { answer = r; });
  });
  g.Settle();
  EXPECT_FALSE(answer) << "nothing it cannot commit may be acknowledged";
  // The majority elects another leader; the old one steps down (check-quorum)
  // and fails the request.
  for (int i = 0; i < 100 && !answer; ++i) g.Tick();
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->error, Errc::kNotLeader) << answer->message;
  g.Heal();
  int leader = 0;
  for (int i = 0; i < 100 && (leader == 0 || leader == old_leader); ++i) {
    g.Tick();
    leader = g.Leader();
  }
  ASSERT_NE(leader, 0);
  auto retry = MakeBatch(4, 11, 0);
  auto r = ProduceAndSettle(g, leader, retry);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, Errc::kOk) << r->message;
  g.Tick(5);
  // Exactly one copy everywhere: the uncommitted one on the old leader was
  // truncated when it rejoined.
  for (int id = 1; id <= 3; ++id) {
    auto read = g.replica(id).log().Read(Offset(0), 1 << 20, g.replica(id).log().log_end_offset());
    ASSERT_TRUE(read);
    int data_batches = 0;
    for (const auto& h : storage::testing::Headers(*read)) data_batches += h.is_control() ? 0 : 1;
    EXPECT_EQ(data_batches, 1) << "replica " << id;
  }
}

// Regression (chaos suite, seed 3: disk-full of a leader): a leader whose own
// write fails has already sent the batch to its followers, which may commit
// it without the leader. Answering no_space ("not written") let the producer
// reuse the sequence, and the next leader acknowledged the producer's next
// batch as a duplicate of this one: a record acknowledged, never written. The
// answer is retriable (NotLeader), and the unchanged retry is deduplicated.
TEST(ReplicaTest, LeaderWhoseWriteFailsAnswersRetriableBecauseFollowersMayCommitTheBatch) {
  Group g(3);
  const int old_leader = g.ElectLeader();
  ASSERT_NE(old_leader, 0);
  g.fs().FailNth(storage::FaultOp::kWrite, 1, ENOSPC);  // the leader's own write of the batch
  auto batch = MakeBatch(1, /*pid=*/7, /*seq=*/0);
  auto first = ProduceAndSettle(g, old_leader, batch);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->error, Errc::kNotLeader) << first->message;
  int leader = 0;
  for (int i = 0; i < 200 && leader == 0; ++i) {
    g.Tick();
    leader = g.Leader();
  }
  ASSERT_NE(leader, 0);
  auto retry = MakeBatch(1, 7, 0);
  auto again = ProduceAndSettle(g, leader, retry);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->error, Errc::kOk) << again->message;
  g.Tick(5);
  for (int id = 1; id <= 3; ++id) {
    auto read = g.replica(id).log().Read(Offset(0), 1 << 20, g.replica(id).log().log_end_offset());
    ASSERT_TRUE(read);
    int copies = 0;
    for (const auto& h : storage::testing::Headers(*read)) {
      if (h.producer_id != ProducerId(7)) continue;
      ++copies;
      EXPECT_EQ(h.base_offset, again->base_offset) << "replica " << id;
    }
    EXPECT_EQ(copies, 1) << "replica " << id;
  }
}

// A lone replica whose write fails: the batch is not in its log and nobody
// else has it, so the storage error itself is the answer (a full disk says
// no_space, and the producer may reuse the sequence).
TEST(ReplicaTest, LoneReplicaAnswersNoSpaceForABatchItDidNotWrite) {
  Group g(1);
  g.Settle();
  ASSERT_TRUE(g.replica(1).serving());
  g.fs().FailNth(storage::FaultOp::kWrite, 1, ENOSPC);
  auto batch = MakeBatch(1, /*pid=*/8, /*seq=*/0);
  auto r = ProduceAndSettle(g, 1, batch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, Errc::kNoSpace) << r->message;
}

// A data directory from before the Raft state existed: a log written in
// some term, no `raft_state` file. A single replica adopts the log's term (no
// other voter can have been promised a vote) and deduplicates retries of
// what the log holds.
TEST(ReplicaTest, SingleReplicaAdoptsALogThatHasNoRaftStateYet) {
  Group g(1);
  g.Settle();
  auto b = MakeBatch(2, /*pid=*/3, /*seq=*/0);
  auto first = ProduceAndSettle(g, 1, b);
  ASSERT_TRUE(first && first->error == Errc::kOk);
  g.Crash(1);
  ASSERT_TRUE(std::filesystem::remove(g.PartitionDir(1) + "/raft_state"));
  g.Open(1);
  g.Settle();
  ASSERT_TRUE(g.replica(1).serving());
  auto retry = MakeBatch(2, 3, 0);
  auto again = ProduceAndSettle(g, 1, retry);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->error, Errc::kOk) << again->message;
  EXPECT_EQ(again->base_offset, first->base_offset);
}

// With other voters a missing `raft_state` next to a log is a lost vote
// record: the replica refuses to start rather than risk voting twice.
TEST(ReplicaTest, GroupMemberWithALostRaftStateRefusesToStart) {
  Group g(3);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  auto b = MakeBatch(1);
  ASSERT_TRUE(ProduceAndSettle(g, leader, b));
  const int victim = leader == 1 ? 2 : 1;
  g.Crash(victim);
  ASSERT_TRUE(std::filesystem::remove(g.PartitionDir(victim) + "/raft_state"));
  auto r = g.TryOpen(victim);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kCorrupt) << r.error().ToString();
}

// fsync: interval (docs/replication.md §7): after a reboot a replica whose log
// was not closed cleanly may have lost entries it acknowledged, so it
// abstains from elections until a newer leader reaches it; after a mere
// process crash (page cache intact) it votes at once.
TEST(ReplicaTest, IntervalReplicaAbstainsAfterARebootButNotAfterAProcessCrash) {
  Group g(3, storage::FsyncPolicy::kInterval);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  auto b = MakeBatch(3);
  ASSERT_TRUE(ProduceAndSettle(g, leader, b));
  const int follower = leader == 1 ? 2 : 1;
  g.Crash(follower);
  g.Open(follower, /*machine_rebooted=*/false);
  EXPECT_FALSE(g.replica(follower).node().abstaining());
  g.Crash(follower);
  g.Open(follower, /*machine_rebooted=*/true);
  EXPECT_TRUE(g.replica(follower).node().abstaining());
  // With the leader cut off, the third replica alone cannot be elected: the
  // abstaining one does not vote (the liveness price of the guarantee).
  const int third = 6 - leader - follower;
  g.Cut(leader);
  g.Tick(60);
  EXPECT_EQ(g.Leader(), 0);
  g.Heal();
  // A newer leader's entry ends the abstention: the leader hands over to the
  // third replica, whose no-op reaches the abstaining one.
  ASSERT_NE(g.ElectLeader(), 0);
  const int current = g.Leader();
  const int target = current == third ? leader : third;
  g.executor(current).Post([&] { IgnoreError(g.replica(current).TransferLeadership(NodeId(target)), "test"); });
  int new_leader = 0;
  for (int i = 0; i < 100 && (new_leader == 0 || new_leader == current); ++i) {
    g.Tick();
    new_leader = g.Leader();
  }
  ASSERT_EQ(new_leader, target);
  g.Tick(3);
  EXPECT_FALSE(g.replica(follower).node().abstaining());
}

// fsync: interval (docs/replication.md §2): a replica whose machine lost
// power may have lost entries it acknowledged, so it abstains from elections
// until a newer leader reaches it. The broker notices the reboot only at the
// first start after it; a process crash before the replica recovered must
// not end the abstention (replica_sim, fsync: interval power loss, seed 3203:
// the replica, reopened without the flag, voted for a leader that lacked
// acknowledged entries).
TEST(ReplicaTest, AbstentionAfterAPowerLossOutlivesAProcessCrashUntilANewerLeaderReachesIt) {
  Group g(3, storage::FsyncPolicy::kInterval);
  const int leader = g.ElectLeader();
  ASSERT_NE(leader, 0);
  auto b = MakeBatch(2, /*pid=*/9, /*seq=*/0);
  auto r = ProduceAndSettle(g, leader, b);
  ASSERT_TRUE(r && r->error == Errc::kOk);
  const int follower = leader == 1 ? 2 : 1;
  const int other = 6 - leader - follower;

  g.Crash(follower);
  g.Open(follower, /*unsynced_writes_may_be_lost=*/true);  // the machine rebooted
  EXPECT_TRUE(g.replica(follower).node().abstaining());
  g.Crash(follower);
  g.Open(follower);  // a process crash since: same boot, the broker passes false
  EXPECT_TRUE(g.replica(follower).node().abstaining()) << "a process crash ended the abstention";

  // Without the leader, the other replica cannot win: the abstaining one
  // gives no vote.
  g.Cut(leader);
  g.Tick(60);
  EXPECT_NE(g.replica(other).node().role(), raft::Role::kLeader);
  EXPECT_NE(g.replica(follower).node().role(), raft::Role::kLeader);

  // A leader of a newer term (elected without it) reaches it: it votes again,
  // and a later process crash does not bring the abstention back.
  g.Heal();
  int now_leader = 0;
  for (int i = 0; i < 200 && now_leader == 0; ++i) {
    g.Tick();
    now_leader = g.Leader();
  }
  ASSERT_NE(now_leader, 0);
  g.Tick(5);
  EXPECT_FALSE(g.replica(follower).node().abstaining());
  g.Crash(follower);
  g.Open(follower);
  EXPECT_FALSE(g.replica(follower).node().abstaining());
}

}  // namespace
}  // namespace telemq::replication
