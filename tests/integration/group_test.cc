// Consumer groups end to end (docs/groups.md): a real telemq-broker with a
// short heartbeat interval, real `telemq consume --group` processes whose
// ASSIGNED/REVOKED/LOST lines give an ownership timeline, and raw protocol
// members for what no well-behaved client does (stop heartbeating, commit
// with a stale identity). Checks: minimal movement on a join without gaps,
// failover time after kill -9, never two owners, offsets and assignments
// across a broker restart, fencing of expired members, and at-least-once
// delivery of 1,000,000 records while the group scales 1 → 5 → 2.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "telemq/wire/protocol.h"
#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_socket.h"

namespace telemq::testing {
namespace {

namespace fb = wire::fb;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Broker group settings: members heartbeat every kHeartbeatMs; consumers ask
// for kSessionMs sessions.
constexpr int kHeartbeatMs = 200;
constexpr int kSessionMs = 2000;
// Scheduling noise on a loaded 2-core machine, on top of protocol bounds.
constexpr int kSlackMs = 1000;

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One --log-assignments line: "ASSIGNED|REVOKED|LOST <unix_ms> t:p,...".
struct AssignmentEvent {
  std::string kind;
  int64_t unix_ms = 0;
  std::vector<int32_t> partitions;
};

std::vector<AssignmentEvent> ParseEvents(const std::string& text) {
  std::vector<AssignmentEvent> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    AssignmentEvent e;
    std::string list;
    if (!(l >> e.kind >> e.unix_ms >> list)) continue;
    if (e.kind != "ASSIGNED" && e.kind != "REVOKED" && e.kind != "LOST") continue;
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      const std::string item = list.substr(start, comma - start);
      const size_t colon = item.rfind(':');
      if (colon != std::string::npos) e.partitions.push_back(std::stoi(item.substr(colon + 1)));
      start = comma + 1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// A printed record of `consume --print-meta`: partition, offset, value.
struct PrintedRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string value;
};

// Whole lines only: a killed process may leave half a line behind.
std::vector<PrintedRecord> ParseRecords(const std::string& text) {
  std::vector<PrintedRecord> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    const char* p = text.data() + pos;
    if (*p < '0' || *p > '9') {  // the column header `--print-meta` prints first
      pos = nl + 1;
      continue;
    }
    char* end = nullptr;
    PrintedRecord r;
    r.partition = static_cast<int32_t>(std::strtol(p, &end, 10));
    r.offset = std::strtoll(end + 1, &end, 10);
    std::strtoll(end + 1, &end, 10);  // timestamp
    const size_t value_at = static_cast<size_t>(end + 1 - text.data());
    if (value_at <= nl) r.value = text.substr(value_at, nl - value_at);
    out.push_back(std::move(r));
    pos = nl + 1;
  }
  return out;
}

// A `telemq consume TOPIC --group G --log-assignments --print-meta` process.
// Records go to <name>.out, assignment lines to <name>.err (separate files,
// so a buffered stdout write can never split a stderr line).
class GroupConsumer {
 public:
  GroupConsumer(const TempDir& dir, const std::string& name)
      : name_(name), out_path_(dir.File(name + ".out")), err_path_(dir.File(name + ".err")) {}

  [[nodiscard]] Result<void> Start(const std::string& address, const std::string& topic, const std::string& group,
                                   const std::vector<std::string>& extra = {}) {
    // exec keeps the pid: signals reach telemq itself.
    std::string script = "exec \"$@\" 2>";
    script += err_path_;
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     script,
                                     "sh",
                                     TELEMQ_CLI_BIN,
                                     "-b",
                                     address,
                                     "consume",
                                     topic,
                                     "--group",
                                     group,
                                     "--log-assignments",
                                     "--print-meta",
                                     "--session-timeout-ms",
                                     std::to_string(kSessionMs)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return child_.Spawn({argv, out_path_, std::nullopt});
  }

  const std::string& name() const { return name_; }
  std::vector<AssignmentEvent> Events() const { return ParseEvents(ReadFile(err_path_)); }
  std::vector<PrintedRecord> Records() const { return ParseRecords(ReadFile(out_path_)); }
  size_t OutputBytes() const { return ReadFile(out_path_).size(); }
  std::string ErrTail() const { return ReadFileTail(err_path_, 2048); }

  // What the assignment lines say it owns now.
  std::set<int32_t> Owned() const {
    std::set<int32_t> owned;
    for (const auto& e : Events()) {
      for (int32_t p : e.partitions) {
        if (e.kind == "ASSIGNED") {
          owned.insert(p);
        } else {
          owned.erase(p);
        }
      }
    }
    return owned;
  }
  std::set<int32_t> Ever(const std::string& kind) const {
    std::set<int32_t> out;
    for (const auto& e : Events()) {
      if (e.kind == kind) out.insert(e.partitions.begin(), e.partitions.end());
    }
    return out;
  }

  void Kill9() {
    child_.Kill();  // SIGKILL and reap
    death_ms_ = UnixMs();
  }
  [[nodiscard]] Result<ExitStatus> Terminate() {
    child_.Signal(SIGTERM);
    auto st = child_.Wait(seconds(15));
    death_ms_ = UnixMs();
    return st;
  }
  bool running() const { return child_.running(); }
  // When it was seen dead (ownership ends there at the latest).
  std::optional<int64_t> death_ms() const { return death_ms_; }

 private:
  std::string name_;
  std::string out_path_;
  std::string err_path_;
  ChildProcess child_;
  std::optional<int64_t> death_ms_;
};

using Members = std::vector<std::unique_ptr<GroupConsumer>>;

// True when `members` own disjoint sets whose sizes are in `sizes` and
// whose union is partitions [0, total).
bool Settled(const std::vector<GroupConsumer*>& members, int32_t total, std::set<size_t> sizes) {
  std::set<int32_t> all;
  size_t sum = 0;
  for (const auto* m : members) {
    const auto owned = m->Owned();
    if (!sizes.count(owned.size())) return false;
    sum += owned.size();
    all.insert(owned.begin(), owned.end());
  }
  return sum == static_cast<size_t>(total) && all.size() == static_cast<size_t>(total);
}

std::vector<GroupConsumer*> Ptrs(const Members& m, size_t from = 0, size_t to = SIZE_MAX) {
  std::vector<GroupConsumer*> out;
  for (size_t i = from; i < std::min(to, m.size()); ++i) out.push_back(m[i].get());
  return out;
}

// The timeline check: member m owns p from its ASSIGNED line to its next
// REVOKED/LOST line for p, or to its death (now if alive). No two members'
// intervals for one partition may overlap.
void ExpectNeverTwoOwners(const Members& members) {
  struct Stint {
    std::string member;
    int64_t from;
    int64_t to;
  };
  std::map<int32_t, std::vector<Stint>> stints;
  const int64_t now = UnixMs();
  for (const auto& m : members) {
    std::map<int32_t, int64_t> open;
    for (const auto& e : m->Events()) {
      for (int32_t p : e.partitions) {
        if (e.kind == "ASSIGNED") {
          open[p] = e.unix_ms;
        } else if (auto it = open.find(p); it != open.end()) {
          stints[p].push_back({m->name(), it->second, e.unix_ms});
          open.erase(it);
        }
      }
    }
    for (const auto& [p, from] : open) stints[p].push_back({m->name(), from, m->death_ms().value_or(now)});
  }
  size_t checked = 0;
  for (const auto& [p, list] : stints) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        const auto& a = list[i];
        const auto& b = list[j];
        ++checked;
        EXPECT_FALSE(a.member != b.member && a.from < b.to && b.from < a.to)
            << "partition " << p << " owned by " << a.member << " [" << a.from << "," << a.to << ") and " << b.member
            << " [" << b.from << "," << b.to << ")";
      }
    }
  }
  std::printf("ownership timeline: %zu partitions, %zu stint pairs checked, no overlap\n", stints.size(), checked);
}

// Produces SequencedValue(n) with n counting per partition, at a modest
// pace (pacing, not synchronisation), until Stop().
class SequencedProducer {
 public:
  SequencedProducer(const std::string& address, std::string topic, int32_t partitions)
      : topic_(std::move(topic)), sent_(partitions, 0) {
    ProducerOptions o;
    o.client = LoopbackClient(address);
    o.linger = milliseconds(2);
    producer_ = Producer::Create(o);
  }
  ~SequencedProducer() { (void)Stop(); }
  bool ok() const { return producer_.has_value(); }

  void Start() {
    thread_ = std::thread([this] {
      while (!stop_) {
        for (size_t p = 0; p < sent_.size(); ++p) {
          if (!(*producer_)
                   ->Send(topic_, std::nullopt, SequencedValue(sent_[p]), nullptr, std::nullopt,
                          static_cast<int32_t>(p))) {
            failed_ = true;
            return;
          }
          ++sent_[p];
        }
        std::this_thread::sleep_for(milliseconds(2));
      }
    });
  }
  // Stops and flushes; the per-partition counts sent.
  Result<std::vector<int64_t>> Stop() {
    if (!thread_.joinable()) return sent_;
    stop_ = true;
    thread_.join();
    if (failed_) return Fail(Errc::kIo, "a send failed");
    TELEMQ_TRY((*producer_)->Flush(seconds(30)));
    return sent_;
  }

 private:
  std::string topic_;
  Result<std::unique_ptr<Producer>> producer_ = Fail(Errc::kInvalidArgument, "not created");
  std::vector<int64_t> sent_;  // producer thread until Stop()
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

// A group member speaking the wire protocol by hand: it heartbeats only when
// told to, so a test can let its session lapse and then act as a zombie.
class RawMember {
 public:
  static Result<std::unique_ptr<RawMember>> Connect(uint16_t port, std::string group, std::string topic,
                                                    int32_t session_ms) {
    TELEMQ_ASSIGN_OR_RETURN(auto conn, RawConnection::Connect(port));
    return std::unique_ptr<RawMember>(new RawMember(std::move(conn), std::move(group), std::move(topic), session_ms));
  }

  // One heartbeat; on success adopts the answer (owns exactly its
  // assignment from now on, as a member that drops and starts at once).
  Result<fb::ErrorCode> Heartbeat() {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<flatbuffers::String>> topics{b.CreateString(topic_)};
    std::vector<flatbuffers::Offset<fb::TopicPartitions>> owned{
        fb::CreateTopicPartitionsDirect(b, topic_.c_str(), &assignment_)};
    b.Finish(fb::CreateGroupHeartbeatRequestDirect(b, group_.c_str(), member_id_.c_str(), nullptr, epoch_, session_ms_,
                                                   60'000, &topics, nullptr, &owned));
    TELEMQ_ASSIGN_OR_RETURN(auto resp, Exchange(wire::ApiKey::kGroupHeartbeat, b));
    TELEMQ_ASSIGN_OR_RETURN(const auto* r, wire::VerifyBody<fb::GroupHeartbeatResponse>(resp.body));
    if (r->error() != fb::ErrorCode::None) return r->error();
    member_id_ = wire::Str(r->member_id());
    epoch_ = r->member_epoch();
    assignment_.clear();
    if (r->assignment()) {
      for (const auto* t : *r->assignment()) {
        if (t->partitions()) assignment_.insert(assignment_.end(), t->partitions()->begin(), t->partitions()->end());
      }
    }
    std::sort(assignment_.begin(), assignment_.end());
    return fb::ErrorCode::None;
  }

  // Commits `offset` for every partition in `partitions` as (member id,
  // `epoch`); the first error of the answer.
  Result<fb::ErrorCode> Commit(int32_t epoch, const std::vector<int32_t>& partitions, int64_t offset) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::OffsetCommitPartition>> parts;
    for (int32_t p : partitions) parts.push_back(fb::CreateOffsetCommitPartition(b, p, offset));
    std::vector<flatbuffers::Offset<fb::OffsetCommitTopic>> topics{
        fb::CreateOffsetCommitTopicDirect(b, topic_.c_str(), &parts)};
    b.Finish(fb::CreateOffsetCommitRequestDirect(b, group_.c_str(), member_id_.c_str(), epoch, &topics));
    TELEMQ_ASSIGN_OR_RETURN(auto resp, Exchange(wire::ApiKey::kOffsetCommit, b));
    TELEMQ_ASSIGN_OR_RETURN(const auto* r, wire::VerifyBody<fb::OffsetCommitResponse>(resp.body));
    if (r->error() != fb::ErrorCode::None) return r->error();
    if (r->topics()) {
      for (const auto* t : *r->topics()) {
        if (!t->partitions()) continue;
        for (const auto* p : *t->partitions()) {
          if (p->error() != fb::ErrorCode::None) return p->error();
        }
      }
    }
    return fb::ErrorCode::None;
  }

  const std::string& member_id() const { return member_id_; }
  int32_t epoch() const { return epoch_; }
  const std::vector<int32_t>& assignment() const { return assignment_; }

 private:
  RawMember(RawConnection conn, std::string group, std::string topic, int32_t session_ms)
      : conn_(std::move(conn)), group_(std::move(group)), topic_(std::move(topic)), session_ms_(session_ms) {}

  Result<RawResponse> Exchange(wire::ApiKey api, const flatbuffers::FlatBufferBuilder& b) {
    const auto* data = reinterpret_cast<const std::byte*>(b.GetBufferPointer());
    TELEMQ_TRY(conn_.Send(EncodeRequest(api, 1, ++correlation_id_, {data, b.GetSize()})));
    return conn_.ReadResponse(seconds(10));
  }

  RawConnection conn_;
  std::string group_;
  std::string topic_;
  int32_t session_ms_;
  std::string member_id_;
  int32_t epoch_ = 0;
  std::vector<int32_t> assignment_;
  uint32_t correlation_id_ = 0;
};

std::string Name(fb::ErrorCode c) { return fb::EnumNameErrorCode(c); }

class GroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerOptions o;
    o.args = {"--group-heartbeat-interval-ms", std::to_string(kHeartbeatMs), "--group-min-session-timeout-ms", "500"};
    auto b = BrokerProcess::Start(o);
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    auto a = Admin::Create(LoopbackClient(broker_->address()));
    ASSERT_TRUE(a) << a.error().ToString();
    admin_ = std::move(*a);
  }
  void TearDown() override {
    for (auto& m : members_) {
      if (HasFailure() && m) std::fprintf(stderr, "--- %s stderr tail:\n%s\n", m->name().c_str(), m->ErrTail().c_str());
    }
    members_.clear();  // kills and reaps what is still running
  }

  GroupConsumer* StartMember(const std::string& topic, const std::string& group,
                             const std::vector<std::string>& extra = {}) {
    std::string name = "m";
    name += std::to_string(members_.size());
    members_.push_back(std::make_unique<GroupConsumer>(dir_, name));
    auto r = members_.back()->Start(broker_->address(), topic, group, extra);
    EXPECT_TRUE(r) << r.error().ToString();
    return members_.back().get();
  }

  // Waits for a member with the given partitions (the first ASSIGNED line
  // after `since_ms` naming each, across `others`): the latest such time.
  static std::optional<int64_t> ReownedAt(const std::vector<GroupConsumer*>& others, const std::set<int32_t>& parts,
                                          int64_t since_ms) {
    int64_t latest = 0;
    for (int32_t p : parts) {
      std::optional<int64_t> first;
      for (const auto* m : others) {
        for (const auto& e : m->Events()) {
          if (e.kind == "ASSIGNED" && e.unix_ms >= since_ms &&
              std::count(e.partitions.begin(), e.partitions.end(), p) && (!first || e.unix_ms < *first)) {
            first = e.unix_ms;
          }
        }
      }
      if (!first) return std::nullopt;
      latest = std::max(latest, *first);
    }
    return latest;
  }

  TempDir dir_{"telemq-group-it"};
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Admin> admin_;
  Members members_;
};

TEST_F(GroupTest, JoinRevokesOnlyMovingPartitionsAndOthersConsumeWithoutGaps) {
  constexpr int32_t kParts = 12;
  ASSERT_TRUE(CreateTopic(broker_->address(), "rebal", Partitions(kParts)));
  for (int i = 0; i < 3; ++i) StartMember("rebal", "g");
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_), kParts, {4}); }, seconds(20)));
  const auto before_join = Ptrs(members_);
  std::map<int32_t, GroupConsumer*> owner;
  for (auto* m : before_join) {
    for (int32_t p : m->Owned()) owner[p] = m;
  }
  const int64_t join_ms = UnixMs();

  SequencedProducer producer(broker_->address(), "rebal", kParts);
  ASSERT_TRUE(producer.ok());
  producer.Start();
  ASSERT_TRUE(WaitFor([&] { return members_[0]->Records().size() > 300; }, seconds(10)));
  GroupConsumer* newcomer = StartMember("rebal", "g");
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_), kParts, {3}); }, seconds(20)));
  const auto moved = newcomer->Owned();
  // Consumption goes on after the join: the newcomer reads all it got.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::set<int32_t> seen;
        for (const auto& r : newcomer->Records()) seen.insert(r.partition);
        return seen == moved;
      },
      seconds(10)));
  auto sent = producer.Stop();
  ASSERT_TRUE(sent) << sent.error().ToString();

  // Everything produced is consumed by someone.
  auto all_consumed = [&] {
    std::vector<int64_t> count(kParts, 0);
    for (const auto& m : members_) {
      for (const auto& r : m->Records()) ++count[r.partition];
    }
    for (int32_t p = 0; p < kParts; ++p) {
      if (count[p] < (*sent)[p]) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor(all_consumed, seconds(20)));

  // Only the newcomer's share moved: each old member gave up exactly one
  // partition, and only one it really lost; nobody lost anything.
  // (Lines before join_ms belong to forming the group.)
  std::set<int32_t> revoked_all;
  for (auto* m : before_join) {
    std::set<int32_t> revoked;
    for (const auto& e : m->Events()) {
      EXPECT_NE(e.kind, "LOST") << m->name();
      if (e.kind == "REVOKED" && e.unix_ms >= join_ms) revoked.insert(e.partitions.begin(), e.partitions.end());
    }
    EXPECT_EQ(revoked.size(), 1u) << m->name();
    for (int32_t p : revoked) EXPECT_TRUE(moved.count(p)) << m->name() << " revoked kept partition " << p;
    revoked_all.insert(revoked.begin(), revoked.end());
  }
  EXPECT_EQ(revoked_all, moved);
  // Sequences: a partition that stayed is read by its owner as 0..n-1 with
  // no gap and no repeat; a moved one by old then new owner, together the
  // same (the revocation committed the old owner's position).
  for (int32_t p = 0; p < kParts; ++p) {
    std::vector<int64_t> seqs;
    for (const auto& m : members_) {
      if (!moved.count(p) && m.get() != owner[p]) continue;
      for (const auto& r : m->Records()) {
        if (r.partition == p) seqs.push_back(ParseSequence(r.value).value_or(-1));
      }
    }
    if (moved.count(p)) std::sort(seqs.begin(), seqs.end());
    ASSERT_EQ(static_cast<int64_t>(seqs.size()), (*sent)[p]) << "partition " << p << (moved.count(p) ? " (moved)" : "");
    for (int64_t i = 0; i < (*sent)[p]; ++i) {
      ASSERT_EQ(seqs[i], i) << "partition " << p << (moved.count(p) ? " (moved)" : " (kept)") << ": gap or repeat";
    }
  }
  std::printf("join moved %zu partitions; %d kept partitions consumed without a gap\n", moved.size(),
              kParts - static_cast<int>(moved.size()));
  ExpectNeverTwoOwners(members_);
}

TEST_F(GroupTest, Kill9dMembersPartitionsAreOwnedAgainWithinSessionTimeout) {
  constexpr int32_t kParts = 12;
  ASSERT_TRUE(CreateTopic(broker_->address(), "failover", Partitions(kParts)));
  for (int i = 0; i < 3; ++i) StartMember("failover", "g");
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_), kParts, {4}); }, seconds(20)));
  GroupConsumer* victim = members_[1].get();
  const auto lost = victim->Owned();
  const std::vector<GroupConsumer*> others = {members_[0].get(), members_[2].get()};
  const int64_t kill_ms = UnixMs();
  victim->Kill9();
  ASSERT_TRUE(WaitFor([&] { return Settled(others, kParts, {6}); }, milliseconds(kSessionMs * 5)));
  const auto at = ReownedAt(others, lost, kill_ms);
  ASSERT_TRUE(at);
  const int64_t took_ms = *at - kill_ms;
  std::printf("kill -9 → all %zu partitions owned again after %lld ms (session %d ms, heartbeat %d ms)\n", lost.size(),
              static_cast<long long>(took_ms), kSessionMs, kHeartbeatMs);
  EXPECT_LE(took_ms, kSessionMs + kHeartbeatMs + kSlackMs);
  // Not before the session could have lapsed (its last heartbeat was at
  // most one interval before the kill; the broker judges expiry every 200 ms).
  EXPECT_GE(took_ms, kSessionMs - 2 * kHeartbeatMs);
  // The survivors only gained.
  for (auto* m : others) {
    for (const auto& e : m->Events()) {
      EXPECT_FALSE(e.kind != "ASSIGNED" && e.unix_ms >= kill_ms) << m->name() << " saw " << e.kind;
    }
  }
  ExpectNeverTwoOwners(members_);
}

TEST_F(GroupTest, CommittedOffsetsAndLastAssignmentSurviveBrokerRestart) {
  ASSERT_TRUE(CreateTopic(broker_->address(), "durable", Partitions(4)));
  std::vector<std::unique_ptr<RawMember>> m;
  for (int i = 0; i < 2; ++i) {
    auto r = RawMember::Connect(broker_->port(), "g", "durable", 30'000);
    ASSERT_TRUE(r) << r.error().ToString();
    m.push_back(std::move(*r));
  }
  // Heartbeat both until each owns two partitions at the group's epoch.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& x : m) {
          auto hb = x->Heartbeat();
          if (!hb || *hb != fb::ErrorCode::None) return false;
        }
        auto d = admin_->DescribeGroup("g");
        if (!d || d->members.size() != 2) return false;
        for (const auto& x : d->members) {
          if (x.state != "stable" || x.assignment.size() != 2) return false;
        }
        return m[0]->assignment().size() == 2 && m[1]->assignment().size() == 2;
      },
      seconds(10)));
  for (size_t i = 0; i < m.size(); ++i) {
    auto c = m[i]->Commit(m[i]->epoch(), m[i]->assignment(), 100 + static_cast<int64_t>(i));
    ASSERT_TRUE(c) << c.error().ToString();
    ASSERT_EQ(*c, fb::ErrorCode::None) << Name(*c);
  }
  auto before = admin_->DescribeGroup("g");
  ASSERT_TRUE(before) << before.error().ToString();

  broker_->Kill9();  // acknowledged group records are on disk before the answer
  m.clear();
  ASSERT_TRUE(broker_->Restart());
  auto admin = Admin::Create(LoopbackClient(broker_->address()));
  ASSERT_TRUE(admin);
  Result<GroupDescription> after = Fail(Errc::kTimeout, "not described");
  // The coordinator may answer CoordinatorLoading while it replays.
  ASSERT_TRUE(WaitFor([&] { return (after = (*admin)->DescribeGroup("g")).has_value(); }, seconds(10)))
      << after.error().ToString();

  auto assignments = [](const GroupDescription& d) {
    std::map<std::string, std::vector<TopicPartition>> out;
    for (const auto& x : d.members) {
      auto a = x.assignment;
      std::sort(a.begin(), a.end());
      out[x.member_id] = a;
    }
    return out;
  };
  auto committed = [](const GroupDescription& d) {
    std::map<TopicPartition, int64_t> out;
    for (const auto& p : d.partitions) {
      if (p.committed) out[p.partition] = p.committed->value();
    }
    return out;
  };
  EXPECT_EQ(assignments(*after), assignments(*before));
  EXPECT_EQ(after->members.size(), 2u);
  EXPECT_EQ(committed(*after), committed(*before));
  EXPECT_EQ(committed(*after).size(), 4u);
  EXPECT_EQ(after->group_epoch, before->group_epoch);
}

TEST_F(GroupTest, ExpiredMembersCommitIsRejectedWhileLiveMembersSucceeds) {
  ASSERT_TRUE(CreateTopic(broker_->address(), "fence", Partitions(4)));
  auto zombie = RawMember::Connect(broker_->port(), "g", "fence", 1'000);
  auto live = RawMember::Connect(broker_->port(), "g", "fence", 30'000);
  ASSERT_TRUE(zombie && live);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = (*zombie)->Heartbeat();
        auto b = (*live)->Heartbeat();
        return a && b && *a == fb::ErrorCode::None && *b == fb::ErrorCode::None &&
               (*zombie)->assignment().size() == 2 && (*live)->assignment().size() == 2;
      },
      seconds(10)));
  const std::string zombie_id = (*zombie)->member_id();
  // The zombie stops heartbeating; the live member goes on until the
  // coordinator has expired the zombie and given everything to the live one.
  auto last_hb = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        if (std::chrono::steady_clock::now() - last_hb >= milliseconds(kHeartbeatMs)) {
          last_hb = std::chrono::steady_clock::now();
          auto b = (*live)->Heartbeat();
          if (!b || *b != fb::ErrorCode::None) return false;
        }
        auto d = admin_->DescribeGroup("g");
        return d && d->members.size() == 1 && d->members[0].member_id != zombie_id && (*live)->assignment().size() == 4;
      },
      seconds(10)));

  auto z = (*zombie)->Commit((*zombie)->epoch(), (*zombie)->assignment(), 7);
  ASSERT_TRUE(z) << z.error().ToString();
  EXPECT_TRUE(*z == fb::ErrorCode::UnknownMemberId || *z == fb::ErrorCode::FencedMemberEpoch) << Name(*z);
  // A heartbeat cannot revive it either.
  auto zh = (*zombie)->Heartbeat();
  ASSERT_TRUE(zh);
  EXPECT_TRUE(*zh == fb::ErrorCode::UnknownMemberId || *zh == fb::ErrorCode::FencedMemberEpoch) << Name(*zh);

  auto ahead = (*live)->Commit((*live)->epoch() + 1, (*live)->assignment(), 9);
  ASSERT_TRUE(ahead);
  EXPECT_EQ(*ahead, fb::ErrorCode::FencedMemberEpoch) << Name(*ahead);
  auto ok = (*live)->Commit((*live)->epoch(), (*live)->assignment(), 9);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, fb::ErrorCode::None) << Name(*ok);
  auto d = admin_->DescribeGroup("g");
  ASSERT_TRUE(d);
  for (const auto& p : d->partitions) {
    ASSERT_TRUE(p.committed) << p.partition.partition;
    EXPECT_EQ(p.committed->value(), 9) << "the zombie's commit must not land";
  }
}

// At-least-once across scaling: commit-after-print members join and leave
// while 1,000,000 records are produced. Every record is printed somewhere;
// the only repeats are the kill -9'd member's uncommitted tail.
TEST_F(GroupTest, MillionRecordsWhileScalingOneToFiveToTwoAreConsumedAtLeastOnce) {
  constexpr int32_t kParts = 8;
  constexpr int64_t kRecords = 1'000'000;
  constexpr size_t kMaxPollRecords = 100'000;  // ConsumerOptions default: one poll's worth at most
  ASSERT_TRUE(CreateTopic(broker_->address(), "million", Partitions(kParts)));
  const std::vector<std::string> extra = {"--commit-after-print"};
  StartMember("million", "g", extra);
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_), kParts, {8}); }, seconds(20)));

  ProducerOptions po;
  po.client = LoopbackClient(broker_->address());
  po.linger = milliseconds(5);
  po.batch_bytes = 256 * 1024;
  auto producer = Producer::Create(po);
  ASSERT_TRUE(producer) << producer.error().ToString();
  std::atomic<int64_t> produced{0};
  std::atomic<bool> send_failed{false};
  // Spread over ~8 s (pacing only) so that the scaling happens mid-stream.
  std::thread sender([&] {
    const auto start = std::chrono::steady_clock::now();
    constexpr int64_t kChunk = 10'000;
    for (int64_t i = 0; i < kRecords; ++i) {
      if (i % kChunk == 0) std::this_thread::sleep_until(start + milliseconds(80) * (i / kChunk));
      std::string v = "v";
      v += std::to_string(i);
      if (!(*producer)->Send("million", std::nullopt, v, nullptr, std::nullopt, static_cast<int32_t>(i % kParts))) {
        send_failed = true;
        return;
      }
      produced = i + 1;
    }
  });
  struct JoinSender {
    std::thread& t;
    ~JoinSender() {
      if (t.joinable()) t.join();
    }
  } join_sender{sender};

  ASSERT_TRUE(WaitFor([&] { return members_[0]->OutputBytes() > 1'000'000; }, seconds(20)));
  for (int i = 1; i < 5; ++i) StartMember("million", "g", extra);
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_), kParts, {1, 2}); }, seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return produced.load() >= kRecords / 2; }, seconds(30)));

  GroupConsumer* victim = members_[2].get();
  const int64_t victim_bytes = static_cast<int64_t>(victim->OutputBytes());
  victim->Kill9();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Settled({members_[0].get(), members_[1].get(), members_[3].get(), members_[4].get()}, kParts, {2});
      },
      seconds(15)));
  for (int i : {3, 4}) {
    auto st = members_[i]->Terminate();
    ASSERT_TRUE(st) << st.error().ToString();
    EXPECT_FALSE(st->signaled) << st->ToString();
    EXPECT_EQ(st->exit_code, 0) << st->ToString();
  }
  ASSERT_TRUE(WaitFor([&] { return Settled(Ptrs(members_, 0, 2), kParts, {4}); }, seconds(15)));

  sender.join();
  ASSERT_FALSE(send_failed.load());
  ASSERT_TRUE((*producer)->Flush(seconds(30)));
  // Done when the group has committed every partition's end.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = admin_->DescribeGroup("g");
        if (!d || d->partitions.size() != kParts) return false;
        int64_t total = 0;
        for (const auto& p : d->partitions) {
          if (!p.committed || p.committed->value() != p.high_watermark.value()) return false;
          total += p.high_watermark.value();
        }
        // Each partition starts with its leader's no-op (a control batch at
        // offset 0, docs/replication.md): one offset that carries no record.
        return total == kRecords + kParts;
      },
      seconds(60)));
  for (int i : {0, 1}) {
    auto st = members_[i]->Terminate();
    ASSERT_TRUE(st) << st.error().ToString();
    EXPECT_EQ(st->exit_code, 0) << st->ToString();
  }

  // Tally: occurrences per (partition, offset), and the victim's offsets per
  // partition in print order.
  const int64_t per_partition = kRecords / kParts;
  // Records sit at offsets 1..per_partition: offset 0 is the no-op.
  std::vector<std::vector<uint8_t>> seen(kParts, std::vector<uint8_t>(per_partition + 1, 0));
  std::map<int32_t, std::vector<int64_t>> victim_offsets;
  int64_t printed = 0;
  for (const auto& m : members_) {
    for (const auto& r : m->Records()) {
      ASSERT_TRUE(r.partition >= 0 && r.partition < kParts && r.offset >= 1 && r.offset <= per_partition)
          << m->name() << " printed " << r.partition << "/" << r.offset;
      if (seen[r.partition][r.offset] < 255) ++seen[r.partition][r.offset];
      if (m.get() == victim) victim_offsets[r.partition].push_back(r.offset);
      ++printed;
    }
  }
  int64_t duplicates = 0;
  for (int32_t p = 0; p < kParts; ++p) {
    // The victim's repeated offsets of p: a suffix of what it printed of p
    // (its last, uncommitted poll), printed once more by the next owner.
    const auto& vo = victim_offsets[p];
    size_t tail = 0;
    while (tail < vo.size() && seen[p][vo[vo.size() - 1 - tail]] > 1) ++tail;
    std::set<int64_t> allowed(vo.end() - static_cast<ptrdiff_t>(tail), vo.end());
    EXPECT_LE(tail, kMaxPollRecords) << "partition " << p;
    for (int64_t o = 1; o <= per_partition; ++o) {
      ASSERT_GE(seen[p][o], 1) << "record " << p << "/" << o << " never consumed";
      if (seen[p][o] > 1) {
        ++duplicates;
        ASSERT_EQ(seen[p][o], 2) << p << "/" << o;
        ASSERT_TRUE(allowed.count(o)) << "duplicate " << p << "/" << o
                                      << " is not in the kill -9'd member's uncommitted tail";
      }
    }
  }
  std::printf(
      "1M records: %lld printed, %lld duplicates (all in the kill -9'd member's tail; it had printed %lld bytes)\n",
      static_cast<long long>(printed), static_cast<long long>(duplicates), static_cast<long long>(victim_bytes));
  ExpectNeverTwoOwners(members_);
}

}  // namespace
}  // namespace telemq::testing
