// telemq-chaos: a Jepsen-style run against three real brokers on 127.0.0.1
// (docs/chaos.md). Idempotent acks=all producers write keyed, sequenced
// records; a consumer group reads and commits; a reader samples high
// watermarks; a nemesis runs a seeded schedule of faults (kill -9, SIGSTOP,
// partitions through the cluster's TcpProxy links, a full disk, damaged
// segments, power loss), one at a time, and measures how long the cluster
// takes to serve every partition again after each heal. Then everything is
// read back (every partition from its start, and each broker's files with
// the brokers stopped) and the checker (checker.h) judges the history.
//
// Exit status: 0 valid (or, with --expect-invalid, the checker reported a
// loss), 1 the checker found an anomaly, 2 the run itself could not proceed.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "telemq/admin.h"
#include "telemq/consumer.h"
#include "telemq/producer.h"
#include "tests/chaos/checker.h"
#include "tests/chaos/disk.h"
#include "tests/chaos/history.h"
#include "tests/chaos/nemesis.h"
#include "tests/chaos/schedule.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/str.h"

namespace telemq::chaos {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kTopic = "chaos";
constexpr const char* kGroup = "chaos-group";

int64_t NowMs() { return SteadyMs(); }

// printf to stdout with the run's elapsed time in front, flushed at once.
void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* format, ...) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::printf("[%8.3fs] ", static_cast<double>(NowMs()) / 1000.0);
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::printf("\n");
  std::fflush(stdout);
}

using ::telemq::testing::Str;

struct Options {
  std::optional<uint64_t> seed;
  std::string schedule_file;
  int64_t duration_s = 100;
  std::string out_dir;
  std::vector<FaultKind> kinds{std::begin(kAllFaultKinds), std::end(kAllFaultKinds)};
  int producers = 3;
  int keys = 4;  // per producer
  int32_t partitions = 4;
  int rate = 1500;  // records per second, all producers together
  int members = 2;
  std::string fsync = "interval";
  int64_t recovery_bound_ms = 30'000;
  uint64_t tmpfs_bytes = 256ull << 20;
  std::string bug;  // TELEMQ_CHAOS_BUG for the brokers (needs a TELEMQ_CHAOS_BUGS build)
  bool expect_invalid = false;
};

constexpr const char* kUsage =
    "usage: telemq-chaos [--seed N] [--schedule FILE] [--duration SECONDS] [--out DIR]\n"
    "                    [--faults kill,pause,isolate,bridge,disk-full,truncate,flip-byte,power-loss]\n"
    "                    [--producers N] [--keys N] [--partitions N] [--rate REC_PER_S] [--members N]\n"
    "                    [--fsync always|interval] [--recovery-bound-ms MS] [--tmpfs-mb MB]\n"
    "                    [--bug ack-before-commit --expect-invalid]\n";

Result<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return Fail(Errc::kInvalidArgument, a + " needs a value");
      return std::string(argv[++i]);
    };
    auto number = [&]() -> Result<int64_t> {
      TELEMQ_ASSIGN_OR_RETURN(auto v, value());
      try {
        size_t used = 0;
        const long long n = std::stoll(v, &used);
        if (used != v.size() || n < 0) throw std::invalid_argument(v);
        return static_cast<int64_t>(n);
      } catch (...) {
        return Fail(Errc::kInvalidArgument, a + ": not a number: " + v);
      }
    };
    if (a == "--seed") {
      TELEMQ_ASSIGN_OR_RETURN(auto v, value());
      try {
        o.seed = std::stoull(v);
      } catch (...) {
        return Fail(Errc::kInvalidArgument, "--seed: not a number: " + v);
      }
    } else if (a == "--schedule") {
      TELEMQ_ASSIGN_OR_RETURN(o.schedule_file, value());
    } else if (a == "--duration") {
      TELEMQ_ASSIGN_OR_RETURN(o.duration_s, number());
    } else if (a == "--out") {
      TELEMQ_ASSIGN_OR_RETURN(o.out_dir, value());
    } else if (a == "--faults") {
      TELEMQ_ASSIGN_OR_RETURN(auto list, value());
      o.kinds.clear();
      std::istringstream in(list);
      std::string name;
      while (std::getline(in, name, ',')) {
        const auto k = ParseFaultKind(name);
        if (!k) return Fail(Errc::kInvalidArgument, "--faults: unknown kind " + name);
        o.kinds.push_back(*k);
      }
    } else if (a == "--producers") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.producers = static_cast<int>(std::max<int64_t>(1, n));
    } else if (a == "--keys") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.keys = static_cast<int>(std::max<int64_t>(1, n));
    } else if (a == "--partitions") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.partitions = static_cast<int32_t>(std::max<int64_t>(1, n));
    } else if (a == "--rate") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.rate = static_cast<int>(std::max<int64_t>(1, n));
    } else if (a == "--members") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.members = static_cast<int>(std::max<int64_t>(1, n));
    } else if (a == "--fsync") {
      TELEMQ_ASSIGN_OR_RETURN(o.fsync, value());
      if (o.fsync != "always" && o.fsync != "interval") return Fail(Errc::kInvalidArgument, "--fsync always|interval");
    } else if (a == "--recovery-bound-ms") {
      TELEMQ_ASSIGN_OR_RETURN(o.recovery_bound_ms, number());
    } else if (a == "--tmpfs-mb") {
      TELEMQ_ASSIGN_OR_RETURN(auto n, number());
      o.tmpfs_bytes = static_cast<uint64_t>(n) << 20;
    } else if (a == "--bug") {
      TELEMQ_ASSIGN_OR_RETURN(o.bug, value());
    } else if (a == "--expect-invalid") {
      o.expect_invalid = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      return Fail(Errc::kInvalidArgument, "unknown argument " + a);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// The workload: producers, the group, the high-watermark reader.

class Producers {
 public:
  Producers(ClientOptions client, const Options& o)
      : client_(std::move(client)), o_(o), last_acked_sent_(static_cast<size_t>(o.partitions)) {
    for (auto& a : last_acked_sent_) a.store(-1);
  }
  ~Producers() { Stop(seconds(1)); }

  [[nodiscard]] Result<void> Start() {
    ProducerOptions po;
    po.client = client_;
    po.acks = Acks::kAll;
    po.idempotence = Idempotence::kEnabled;
    po.linger = milliseconds(2);
    po.batch_bytes = 16 * 1024;
    po.max_block = seconds(10);
    po.delivery_timeout = seconds(30);
    for (int p = 0; p < o_.producers; ++p) {
      auto producer = std::make_unique<PerProducer>();
      TELEMQ_ASSIGN_OR_RETURN(producer->producer, Producer::Create(po));
      producers_.push_back(std::move(producer));
    }
    for (int p = 0; p < o_.producers; ++p) threads_.emplace_back([this, p] { Run(p); });
    return Ok();
  }

  // Stops sending, then flushes each producer within `flush`; what is still
  // pending then stays "unknown".
  void Stop(milliseconds flush) {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    for (auto& p : producers_) {
      if (!p->producer) continue;
      IgnoreError(p->producer->Flush(flush), "pending records stay unknown");
      p->producer->Close(milliseconds(100));
      p->producer.reset();
    }
  }

  // The steady-clock ms (NowMs) at which the newest acknowledged record of
  // `partition` was sent; -1 before any.
  int64_t LastAckedSent(int32_t partition) const { return last_acked_sent_[static_cast<size_t>(partition)].load(); }

  std::vector<ProduceOp> Ops() {
    std::vector<ProduceOp> out;
    for (auto& p : producers_) {
      std::lock_guard lock(p->mu);
      out.insert(out.end(), p->ops.begin(), p->ops.end());
    }
    return out;
  }
  int64_t sent() const { return sent_.load(); }
  int64_t acked() const { return acked_.load(); }

 private:
  struct PerProducer {
    std::unique_ptr<Producer> producer;
    std::mutex mu;
    std::deque<ProduceOp> ops;  // guarded by mu (callbacks on the client's I/O thread)
  };

  void Run(int p) {
    PerProducer& me = *producers_[static_cast<size_t>(p)];
    const double per_ms = static_cast<double>(o_.rate) / o_.producers / 1000.0;
    std::vector<int64_t> next_seq(static_cast<size_t>(o_.keys), 0);
    const int64_t start = NowMs();
    int64_t i = 0;
    while (!stop_.load()) {
      if (i >= static_cast<int64_t>(per_ms * static_cast<double>(NowMs() - start + 1))) {
        std::this_thread::sleep_for(milliseconds(2));
        continue;
      }
      const int32_t k = static_cast<int32_t>(i % o_.keys);
      ++i;
      const RecordId id{p, k, next_seq[static_cast<size_t>(k)]++};
      // Keys are spread over the partitions explicitly, so every partition
      // has writers (a key stays in its partition).
      const int32_t partition = (p * o_.keys + k) % o_.partitions;
      size_t index;
      {
        std::lock_guard lock(me.mu);
        index = me.ops.size();
        me.ops.push_back({id, partition, Outcome::kUnknown, -1});
      }
      const int64_t sent_at = NowMs();
      auto queued = me.producer->Send(
          kTopic, EncodeKey(id), EncodeValue(id, 100),
          [this, &me, index, partition, sent_at](const Result<RecordMetadata>& md) {
            std::lock_guard lock(me.mu);
            ProduceOp& op = me.ops[index];
            if (!md) return;  // stays unknown: it may have been written
            op.outcome = Outcome::kAcked;
            op.offset = md->offset.value();
            ++acked_;
            auto& last = last_acked_sent_[static_cast<size_t>(partition)];
            int64_t seen = last.load();
            while (sent_at > seen && !last.compare_exchange_weak(seen, sent_at)) {
            }
          },
          std::nullopt, partition);
      if (!queued) {
        std::lock_guard lock(me.mu);
        me.ops[index].outcome = Outcome::kFailed;
        continue;
      }
      ++sent_;
    }
  }

  ClientOptions client_;
  Options o_;
  std::vector<std::unique_ptr<PerProducer>> producers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> acked_{0};
  std::vector<std::atomic<int64_t>> last_acked_sent_;
};

// Counts a member's assignment changes (callbacks run inside its Poll).
class GenerationListener : public RebalanceListener {
 public:
  explicit GenerationListener(int64_t* generation) : generation_(generation) {}
  void OnPartitionsAssigned(const std::vector<TopicPartition>&) override { ++*generation_; }
  void OnPartitionsRevoked(const std::vector<TopicPartition>&) override { ++*generation_; }
  void OnPartitionsLost(const std::vector<TopicPartition>&) override { ++*generation_; }

 private:
  int64_t* generation_;
};

class Group {
 public:
  Group(ClientOptions client, int members) : client_(std::move(client)) {
    for (int m = 0; m < members; ++m) threads_.emplace_back([this, m] { Run(m); });
  }
  ~Group() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<GroupDelivery> Deliveries() {
    std::lock_guard lock(mu_);
    return deliveries_;
  }
  int64_t commit_failures() const { return commit_failures_.load(); }

 private:
  void Run(int m) {
    ConsumerOptions co;
    co.client = client_;
    co.fetch_max_wait = milliseconds(200);
    co.max_poll_records = 1000;
    auto consumer = Consumer::Create(co);
    if (!consumer) {
      Log("group member %d: %s", m, consumer.error().ToString().c_str());
      return;
    }
    GroupOptions go;
    go.group_id = kGroup;
    go.auto_commit = AutoCommit::kDisabled;
    go.timeouts.session_timeout = seconds(8);
    go.timeouts.rebalance_timeout = seconds(15);
    int64_t generation = 0;
    if (auto s = (*consumer)->Subscribe({kTopic}, go, std::make_shared<GenerationListener>(&generation)); !s) {
      Log("group member %d: subscribe: %s", m, s.error().ToString().c_str());
      return;
    }
    int64_t last_commit = NowMs();
    while (!stop_.load()) {
      auto records = (*consumer)->Poll(milliseconds(100));
      if (records) {
        std::lock_guard lock(mu_);
        for (const auto& r : *records) {
          deliveries_.push_back({m, generation, r.partition, r.offset.value(), r.value ? std::string(*r.value) : ""});
        }
      }
      if (NowMs() - last_commit >= 500) {
        if (!(*consumer)->CommitSync()) ++commit_failures_;
        last_commit = NowMs();
      }
    }
    if (!(*consumer)->CommitSync()) ++commit_failures_;
    (*consumer)->Close();
  }

  ClientOptions client_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> commit_failures_{0};
  std::mutex mu_;
  std::vector<GroupDelivery> deliveries_;  // guarded by mu_
};

// Asks for every partition's leader term and high watermark every 250 ms.
class WatermarkReader {
 public:
  explicit WatermarkReader(ClientOptions client) {
    client.request_timeout = seconds(2);
    auto admin = Admin::Create(client);
    if (admin) admin_ = std::move(*admin);
    thread_ = std::thread([this] { Run(); });
  }
  ~WatermarkReader() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<WatermarkSample> Samples() {
    std::lock_guard lock(mu_);
    return samples_;
  }

 private:
  void Run() {
    while (!stop_.load() && admin_) {
      if (auto t = admin_->DescribeTopic(kTopic, true)) {
        std::lock_guard lock(mu_);
        for (const auto& p : t->partitions) {
          if (p.leader >= 0 && p.high_watermark.value() >= 0) {
            samples_.push_back({0, p.partition, p.leader_term, p.high_watermark.value()});
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
  }

  std::unique_ptr<Admin> admin_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<WatermarkSample> samples_;  // guarded by mu_
};

// ---------------------------------------------------------------------------
// Reading back.

// Leader term and high watermark of every partition, retried until all
// answer or `timeout`; then the partitions that did (the others had no
// serving leader: their records cannot be read back, and are not judged).
std::map<int32_t, int64_t> HighWatermarks(Admin& admin, int32_t partitions, milliseconds timeout,
                                          std::vector<WatermarkSample>* samples) {
  const auto deadline = Clock::now() + timeout;
  std::map<int32_t, int64_t> best;
  while (Clock::now() < deadline) {
    if (auto t = admin.DescribeTopic(kTopic, true)) {
      std::map<int32_t, int64_t> out;
      std::vector<WatermarkSample> seen;
      for (const auto& p : t->partitions) {
        if (p.leader < 0 || p.high_watermark.value() < 0) continue;
        out[p.partition] = p.high_watermark.value();
        seen.push_back({1, p.partition, p.leader_term, p.high_watermark.value()});
      }
      if (out.size() >= best.size()) {
        best = out;
        if (static_cast<int32_t>(best.size()) == partitions) {
          samples->insert(samples->end(), seen.begin(), seen.end());
          return best;
        }
      }
    } else {
      // One partition without a leader fails the whole description: ask
      // each partition on its own.
      std::map<int32_t, int64_t> out;
      for (int32_t p = 0; p < partitions; ++p) {
        if (auto end = admin.ListOffset(kTopic, p, OffsetSpec::kLatest); end && end->value() >= 0) {
          out[p] = end->value();
        }
      }
      if (out.size() > best.size()) best = out;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  return best;
}

// Every partition from its first offset up to `hw`.
Result<std::map<int32_t, std::vector<std::pair<int64_t, std::string>>>> ReadAll(const ClientOptions& client,
                                                                                const std::map<int32_t, int64_t>& hw,
                                                                                milliseconds timeout) {
  ConsumerOptions co;
  co.client = client;
  co.fetch_max_wait = milliseconds(100);
  TELEMQ_ASSIGN_OR_RETURN(auto consumer, Consumer::Create(co));
  std::vector<TopicPartition> tps;
  for (const auto& [p, end] : hw) tps.push_back({kTopic, p});
  TELEMQ_TRY(consumer->Assign(tps));
  TELEMQ_TRY(consumer->SeekToBeginning(tps));
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> out;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    bool done = true;
    for (const auto& tp : tps) {
      auto pos = consumer->Position(tp);
      done = done && pos && pos->value() >= hw.at(tp.partition);
    }
    if (done) break;
    if (Clock::now() > deadline) return Fail(Errc::kTimeout, "final read did not reach the high watermarks");
    TELEMQ_ASSIGN_OR_RETURN(auto records, consumer->Poll(milliseconds(200)));
    for (const auto& r : records) {
      if (r.offset.value() >= hw.at(r.partition)) continue;
      out[r.partition].push_back({r.offset.value(), r.value ? std::string(*r.value) : ""});
    }
  }
  consumer->Close();
  return out;
}

// Waits until the group committed past the last record of every partition.
Result<std::map<int32_t, int64_t>> AwaitGroupDrained(
    Admin& admin, const std::map<int32_t, std::vector<std::pair<int64_t, std::string>>>& read,
    const std::map<int32_t, int64_t>& partitions, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::map<int32_t, int64_t> committed;
  while (Clock::now() < deadline) {
    committed.clear();
    if (auto g = admin.DescribeGroup(kGroup)) {
      for (const auto& p : g->partitions) {
        if (p.partition.topic == kTopic && p.committed) committed[p.partition.partition] = p.committed->value();
      }
      bool drained = true;
      for (const auto& [p, hw] : partitions) {
        const auto it = read.find(p);
        const int64_t need = it == read.end() || it->second.empty() ? 0 : it->second.back().first + 1;
        drained = drained && committed.count(p) && committed[p] >= need;
      }
      if (drained) return committed;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
  return Fail(Errc::kTimeout, Str("the group did not commit past every record within ", timeout.count(), " ms"));
}

// ---------------------------------------------------------------------------

int RunChaos(Options o) {
  Schedule schedule;
  if (!o.schedule_file.empty()) {
    std::ifstream in(o.schedule_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      Log("cannot read %s", o.schedule_file.c_str());
      return 2;
    }
    auto parsed = ParseSchedule(text.str());
    if (!parsed) {
      Log("%s", parsed.error().ToString().c_str());
      return 2;
    }
    schedule = std::move(*parsed);
    if (o.seed) schedule.seed = *o.seed;
  } else {
    ScheduleOptions so;
    so.seed = o.seed ? *o.seed : std::random_device{}();
    so.kinds = o.kinds;
    so.partitions = o.partitions;
    so.duration = seconds(o.duration_s);
    schedule = Generate(so);
  }
  if (o.out_dir.empty()) o.out_dir = Str("chaos-", schedule.seed);
  std::error_code ec;
  fs::remove_all(o.out_dir, ec);
  fs::create_directories(o.out_dir, ec);
  if (ec) {
    Log("cannot create %s: %s", o.out_dir.c_str(), ec.message().c_str());
    return 2;
  }
  { std::ofstream(o.out_dir + "/schedule.txt") << Serialize(schedule); }
  std::ofstream trace(o.out_dir + "/faults.log");

  std::printf("telemq-chaos: seed %" PRIu64 ", %zu faults; replay: telemq-chaos --schedule %s/schedule.txt\n%s",
              schedule.seed, schedule.faults.size(), o.out_dir.c_str(), Serialize(schedule).c_str());
  std::fflush(stdout);

  // The brokers inherit these: the power-loss recorder and the planted bug.
  std::string sync_log;
#ifdef TELEMQ_CHAOS_SHIM
  sync_log = fs::absolute(o.out_dir + "/sync.log").string();
  ::setenv("LD_PRELOAD", TELEMQ_CHAOS_SHIM, 1);
  ::setenv("TELEMQ_CHAOS_SYNC_LOG", sync_log.c_str(), 1);
#endif
  if (!o.bug.empty()) ::setenv("TELEMQ_CHAOS_BUG", o.bug.c_str(), 1);
  if (!CanMount()) Log("disk-full faults will be skipped: mounting a tmpfs needs root");

  testing::ClusterOptions co;
  co.links = testing::LinkMode::kProxied;
  co.args = {"--segment-bytes", "1048576", "--group-heartbeat-interval-ms", "200", "--fsync", o.fsync};
  co.ready_timeout = seconds(60);
  // (LD_PRELOAD stays set: restarted brokers are spawned by this process
  // too, and it spawns nothing else.)
  auto cluster = testing::BrokerCluster::Start(co);
  if (!cluster) {
    Log("cluster start: %s", cluster.error().ToString().c_str());
    return 2;
  }
  auto& c = **cluster;
  Log("cluster up: %s",
      [&] {
        std::string s;
        for (const auto& a : c.addresses()) s += a + " ";
        return s;
      }()
          .c_str());
  NewTopic spec;
  spec.partitions = o.partitions;
  spec.replication_factor = 3;
  if (auto r = c.admin().CreateTopic(kTopic, spec); !r) {
    Log("create topic: %s", r.error().ToString().c_str());
    return 2;
  }
  if (auto r = c.AwaitHealthy(seconds(30)); !r) {
    Log("topic not healthy: %s", r.error().ToString().c_str());
    return 2;
  }

  ClientOptions client = c.Client();
  Producers producers(client, o);
  if (auto r = producers.Start(); !r) {
    Log("producers: %s", r.error().ToString().c_str());
    return 2;
  }
  Group group(client, o.members);
  WatermarkReader watermarks(client);
  std::this_thread::sleep_for(seconds(2));
  Log("workload running: %d producers x %d keys at %d rec/s, %d group members", o.producers, o.keys, o.rate, o.members);

  NemesisOptions no;
  no.topic = kTopic;
  no.partitions = o.partitions;
  no.recovery_bound_ms = o.recovery_bound_ms;
  no.tmpfs_bytes = o.tmpfs_bytes;
  no.sync_log = sync_log;
  no.served_since = [&](int64_t since) {
    for (int32_t p = 0; p < o.partitions; ++p) {
      if (producers.LastAckedSent(p) < since) return false;
    }
    return true;
  };
  no.log = [&](const std::string& line) {
    Log("%s", line.c_str());
    trace << line << "\n";
    trace.flush();
  };
  Nemesis nemesis(c, no);
  const int64_t faults_start = NowMs();
  std::string aborted;
  for (size_t i = 0; i < schedule.faults.size(); ++i) {
    if (auto r = nemesis.Run(i, schedule.faults[i]); !r) {
      aborted = r.error().ToString();
      Log("run aborted: %s", aborted.c_str());
      break;
    }
  }
  const int64_t faults_ms = NowMs() - faults_start;
  // The last heal already waited for recovery; run a little more without faults.
  std::this_thread::sleep_for(seconds(2));
  Log("faults done after %" PRId64 " ms; stopping the producers (sent %" PRId64 ", acknowledged %" PRId64 ")",
      faults_ms, producers.sent(), producers.acked());
  producers.Stop(seconds(45));

  History h;
  h.partitions = o.partitions;
  h.recovery_bound_ms = o.recovery_bound_ms;
  h.ops = producers.Ops();
  h.recoveries = nemesis.recoveries();
  std::vector<std::string> errors;
  if (!aborted.empty()) errors.push_back("aborted: " + aborted);

  const int64_t final_from = NowMs();
  nemesis.RestartDead();
  if (auto r = c.AwaitCaughtUp(milliseconds(o.recovery_bound_ms)); !r) {
    errors.push_back("not caught up at the end: " + r.error().ToString());
    h.recoveries.push_back({"the end of the run", -1});
  }
  std::vector<WatermarkSample> final_samples;
  const auto hw = HighWatermarks(c.admin(), o.partitions, seconds(30), &final_samples);
  if (static_cast<int32_t>(hw.size()) < o.partitions) {
    std::string missing;
    for (int32_t p = 0; p < o.partitions; ++p) {
      if (!hw.count(p)) missing += Str(" ", p);
    }
    errors.push_back(Str("no serving leader at the end for partition(s)", missing,
                         ": their records were not read back (counted as not judged)"));
  }
  h.final_high_watermark = hw;
  if (!hw.empty()) {
    auto read = ReadAll(client, hw, seconds(90));
    if (read) {
      h.final_read = std::move(*read);
      if (auto drained = AwaitGroupDrained(c.admin(), h.final_read, hw, seconds(60))) {
        h.group_committed = *drained;
      } else {
        errors.push_back(drained.error().ToString());
      }
    } else {
      errors.push_back("final read: " + read.error().ToString());
      h.final_high_watermark.clear();
    }
  }
  Log("final read done in %" PRId64 " ms", NowMs() - final_from);
  group.Stop();
  watermarks.Stop();
  h.group = group.Deliveries();
  h.watermarks = watermarks.Samples();
  h.watermarks.insert(h.watermarks.end(), final_samples.begin(), final_samples.end());

  // The brokers' own files, with the brokers stopped.
  for (int i = 0; i < c.size(); ++i) {
    if (!c.Terminate(i, seconds(20))) c.Kill9(i);
  }
  for (int i = 0; i < c.size(); ++i) {
    auto replica = ReadReplica(c.broker(i).data_dir(), kTopic);
    if (replica) {
      h.replicas[i] = std::move(*replica);
    } else {
      errors.push_back(Str("broker ", i, "'s files: ", replica.error().ToString()));
    }
  }

  const Report report = Check(h);
  std::ostringstream out;
  out << "\n==== telemq-chaos result ====\n"
      << "seed " << schedule.seed << "; schedule " << o.out_dir << "/schedule.txt (replay: telemq-chaos --schedule "
      << o.out_dir << "/schedule.txt)\n"
      << "fsync " << o.fsync << "; faults " << faults_ms / 1000 << " s; " << o.producers << " producers x " << o.keys
      << " keys, " << o.partitions << " partitions, RF3, " << o.members << " group members\n";
  out << "faults injected:";
  int total = 0;
  for (const auto& [kind, n] : nemesis.injected()) {
    out << " " << kind << " " << n;
    total += n;
  }
  out << " (total " << total << ")\n";
  if (!nemesis.skipped().empty()) {
    out << "faults skipped:";
    for (const auto& [kind, n] : nemesis.skipped()) out << " " << kind << " " << n;
    out << "\n";
  }
  out << "per fault: served again during the fault after (ms) / after the heal (ms):\n";
  for (const auto& r : h.recoveries) {
    out << "  " << r.fault << ": " << (r.failover_ms < 0 ? std::string("-") : std::to_string(r.failover_ms)) << " / "
        << r.ms << "\n";
  }
  out << "replicas read from the brokers' files (offsets per broker):";
  for (const auto& [broker, partitions] : h.replicas) {
    size_t offsets = 0;
    for (const auto& [p, log] : partitions) offsets += log.size();
    out << " " << broker << ": " << offsets;
  }
  out << "\n";
  out << "group commit failures (retried): " << group.commit_failures() << "\n";
  out << Format(report);
  for (const auto& f : nemesis.findings()) out << "FINDING: " << f << "\n";
  for (const auto& e : errors) out << "ERROR: " << e << "\n";
  std::fputs(out.str().c_str(), stdout);
  std::ofstream(o.out_dir + "/report.txt") << out.str();

  const bool valid = report.valid() && errors.empty() && nemesis.findings().empty();
  if (!valid || o.expect_invalid) {
    // Keep the evidence: each broker's log and files.
    for (int i = 0; i < c.size(); ++i) {
      const std::string dest = Str(o.out_dir, "/broker-", i);
      fs::create_directories(dest, ec);
      fs::copy(c.broker(i).log_path(), dest + "/broker.log", fs::copy_options::overwrite_existing, ec);
      fs::copy(c.broker(i).data_dir(), dest + "/data", fs::copy_options::recursive, ec);
    }
  }
  nemesis.UnmountAll();

  if (o.expect_invalid) {
    const bool caught = report.lost > 0;
    std::printf("%s\n", caught ? "expected an anomaly and the checker reported the loss: PASS"
                               : "expected the checker to report a loss, it did not: FAIL");
    return caught ? 0 : 1;
  }
  if (!errors.empty() || !nemesis.findings().empty()) return report.valid() ? 2 : 1;
  return report.valid() ? 0 : 1;
}

}  // namespace
}  // namespace telemq::chaos

int main(int argc, char** argv) {
  try {
    auto options = telemq::chaos::ParseArgs(argc, argv);
    if (!options) {
      std::fprintf(stderr, "telemq-chaos: %s\n%s", options.error().ToString().c_str(), telemq::chaos::kUsage);
      return 2;
    }
    return telemq::chaos::RunChaos(std::move(*options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq-chaos: %s\n", e.what());
    return 2;
  }
}
