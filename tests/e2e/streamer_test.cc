// telemq-streamer end to end: real telemq-broker processes and
// telemq-streamer processes on 127.0.0.1, the topic read back with the
// client Consumer. The one pass over the export runs on three brokers as one
// cluster (the topic replicated three times); the others exercise the
// streamer's own group logic on one broker, which keeps the suite fast on a
// small machine (three brokers cost ~2.5x the run time there).
//
//  * One pass over the real DCGM export: every row arrives once, keyed by
//    its GPU, decodable, stamped with processing time, one stamp per GPU and
//    CSV snapshot.
//  * One pass over a CSV with bad rows: only the good rows are sent, the
//    others are logged with their line numbers, and the streamer exits 0.
//  * Three looping streamers on a synthetic fleet: their host sets are
//    disjoint and cover the fleet, also after one leaves; in the topic no
//    GPU metric is ever emitted twice within half an interval (no host was
//    streamed by two streamers at once, before, during or after handovers).
//  * Streamers sending as fast as they can hand hosts over within seconds
//    when a third joins (the revocation waits only for the points sent
//    before it), and per GPU the stamps in the topic still strictly increase.
//  * SIGTERM while every broker is gone (kill -9) and the producer buffer is
//    full: the streamer still exits 0 within a bound.
//
// The export lives outside the repository (../shared/data); its test skips
// without it.

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/dcgm_csv.h"
#include "telemetry/identity.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/common/program.h"
#include "telemq/consumer.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/prometheus_text.h"

namespace telemq::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Point {
  int32_t partition = 0;
  int64_t record_timestamp_ms = 0;
  std::string key;
  telemetry::TelemetryPoint point;
};

// `bootstrap`: comma-separated, as the streamer's flag.
ClientOptions Client(const std::string& bootstrap) {
  return ClientOptions{.bootstrap_servers = SplitCommaList(bootstrap),
                       .client_id = "streamer-e2e",
                       .request_timeout = seconds(5),
                       .retry_backoff = milliseconds(50)};
}

// Every record of `topic` up to the high watermarks at the time of the call,
// in offset order per partition. Values that do not decode fail the test.
std::vector<Point> ReadTopic(const std::string& bootstrap, const std::string& topic) {
  std::vector<Point> out;
  auto admin = Admin::Create(Client(bootstrap));
  EXPECT_TRUE(admin);
  if (!admin) return out;
  auto described = (*admin)->DescribeTopic(topic, /*with_offsets=*/true);
  EXPECT_TRUE(described) << described.error().ToString();
  if (!described) return out;
  std::map<int32_t, int64_t> end;
  std::vector<TopicPartition> tps;
  for (const auto& p : described->partitions) {
    end[p.partition] = p.high_watermark.value();
    tps.push_back({topic, p.partition});
  }
  auto consumer = Consumer::Create({.client = Client(bootstrap), .fetch_max_wait = milliseconds(100)});
  EXPECT_TRUE(consumer);
  if (!consumer) return out;
  EXPECT_TRUE((*consumer)->Assign(tps));
  std::map<int32_t, int64_t> next;
  for (const auto& tp : tps) next[tp.partition] = 0;
  auto caught_up = [&] {
    for (const auto& [p, e] : end) {
      if (next[p] < e) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!caught_up() && std::chrono::steady_clock::now() < deadline) {
    auto records = (*consumer)->Poll(milliseconds(200));
    EXPECT_TRUE(records) << records.error().ToString();
    if (!records) break;
    // Positions, not record offsets: a partition's log may end with a
    // control batch (a leader's no-op) that holds no record.
    for (const auto& tp : tps) {
      if (auto pos = (*consumer)->Position(tp)) next[tp.partition] = pos->value();
    }
    for (const auto& r : *records) {
      if (r.offset.value() >= end[r.partition]) continue;
      Point p{.partition = r.partition, .record_timestamp_ms = r.timestamp_ms, .key = std::string(r.key.value_or(""))};
      auto decoded = telemetry::DecodePoint(r.value.value_or(""));
      EXPECT_TRUE(decoded) << "partition " << r.partition << " offset " << r.offset.value() << ": "
                           << decoded.error().ToString();
      if (!decoded) continue;
      p.point = std::move(*decoded);
      out.push_back(std::move(p));
    }
  }
  EXPECT_TRUE(caught_up()) << "topic " << topic << " not read to its end in time";
  return out;
}

// A single-pass streamer, waited for until it exits (bounded).
std::optional<ExitStatus> RunOnce(const std::string& bootstrap, std::vector<std::string> args, std::string* log) {
  args.insert(args.end(), {"--bootstrap", bootstrap});
  auto streamer = AppProcess::Start({.binary = StreamerBinary(), .args = args, .name = "streamer"});
  EXPECT_TRUE(streamer) << streamer.error().ToString();
  if (!streamer) return std::nullopt;
  std::optional<ExitStatus> exit;
  EXPECT_TRUE(WaitFor([&] { return (exit = (*streamer)->Poll()).has_value(); }, seconds(60))) << (*streamer)->LogTail();
  *log = (*streamer)->LogTail(64 * 1024);
  return exit;
}

class StreamerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (StreamerBinary().empty()) GTEST_SKIP() << "telemq-streamer not built";
    auto cluster = BrokerCluster::Start({.brokers = Brokers(), .args = {"--group-heartbeat-interval-ms", "100"}});
    ASSERT_TRUE(cluster) << cluster.error().ToString();
    cluster_ = std::move(*cluster);
    for (const auto& a : cluster_->addresses()) bootstrap_ += (bootstrap_.empty() ? "" : ",") + a;
  }
  virtual int Brokers() const { return 1; }
  // Every broker, comma-separated.
  std::string bootstrap() const { return bootstrap_; }

  void CreateTopic(const std::string& topic, int32_t partitions) {
    auto admin = Admin::Create(Client(bootstrap()));
    ASSERT_TRUE(admin);
    ASSERT_TRUE((*admin)->CreateTopic(topic, {.partitions = partitions}));
  }

  // A streamer on this broker's `topic`, with `args` after the connection flags.
  std::unique_ptr<AppProcess> StartStreamer(const std::string& name, const std::string& topic,
                                            const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"--bootstrap", bootstrap(), "--topic", topic};
    argv.insert(argv.end(), args.begin(), args.end());
    auto s = AppProcess::Start({.binary = StreamerBinary(), .args = argv, .name = name});
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }

  std::unique_ptr<BrokerCluster> cluster_;
  std::string bootstrap_;
  TempDir dir_{"telemq-streamer-e2e"};
};

class StreamerClusterE2eTest : public StreamerE2eTest {
 protected:
  int Brokers() const override { return 3; }
};

TEST_F(StreamerClusterE2eTest, OnePassOverTheExportSendsEveryRowOnceStampedWithProcessingTime) {
  const std::string csv = TELEMQ_DCGM_SAMPLE_CSV;
  if (!std::filesystem::exists(csv)) GTEST_SKIP() << "no " << csv;
  // What the export holds, per GPU: its rows and its distinct CSV timestamps
  // (= the snapshots its host is streamed in).
  std::map<std::string, std::set<std::string>> csv_snapshots;
  std::map<std::string, int> csv_rows;
  {
    std::ifstream in(csv);
    ASSERT_TRUE(telemetry::ReadDcgmCsv(in, [&](telemetry::DcgmRow&& row) {
      csv_snapshots[row.point.gpu_uuid].insert(row.source_timestamp);
      ++csv_rows[row.point.gpu_uuid];
    }));
  }
  ASSERT_EQ(csv_rows.size(), 247u);

  const int64_t started_us = NowUs();
  std::string log;
  // The topic does not exist: the streamer creates it with --partitions and
  // --replication-factor.
  auto exit =
      RunOnce(bootstrap(),
              {"--source", "csv:" + csv, "--interval", "0", "--partitions", "4", "--replication-factor", "3"}, &log);
  const int64_t finished_us = NowUs();
  ASSERT_TRUE(exit);
  ASSERT_FALSE(exit->signaled) << exit->ToString();
  ASSERT_EQ(exit->exit_code, 0) << log;

  auto points = ReadTopic(bootstrap(), "gpu.telemetry");
  ASSERT_EQ(points.size(), 2470u);
  std::map<std::string, int> rows;
  std::map<std::string, std::set<int64_t>> stamps;
  std::set<std::tuple<std::string, int64_t, std::string>> identities;
  for (const auto& p : points) {
    EXPECT_EQ(p.key, p.point.gpu_uuid);
    EXPECT_EQ(p.partition, telemetry::PartitionForGpu(p.key, 4));
    EXPECT_GE(p.point.timestamp_us, started_us);
    EXPECT_LE(p.point.timestamp_us, finished_us);
    EXPECT_EQ(p.record_timestamp_ms, p.point.timestamp_us / 1000);
    EXPECT_FALSE(p.point.labels.empty());
    ++rows[p.key];
    stamps[p.key].insert(p.point.timestamp_us);
    EXPECT_TRUE(identities.insert({p.key, p.point.timestamp_us, p.point.metric_name}).second)
        << "(gpu, timestamp, metric) twice: " << p.key << " " << p.point.timestamp_us << " " << p.point.metric_name;
  }
  EXPECT_EQ(rows.size(), 247u);
  EXPECT_EQ(rows, csv_rows);
  // One stamp per GPU and snapshot; a GPU's stamps strictly increase.
  for (const auto& [uuid, s] : stamps) EXPECT_EQ(s.size(), csv_snapshots[uuid].size()) << uuid;
  std::map<std::string, int64_t> last;
  for (const auto& p : points) {  // offset order within a partition = send order per GPU
    auto [it, fresh] = last.try_emplace(p.key, p.point.timestamp_us);
    if (!fresh) {
      EXPECT_GE(p.point.timestamp_us, it->second) << p.key;
      it->second = p.point.timestamp_us;
    }
  }
}

TEST_F(StreamerE2eTest, BadRowsAreSkippedCountedAndLoggedNeverSent) {
  const std::string path = dir_.File("bad.csv");
  {
    std::ofstream out(path);
    out << "timestamp,metric_name,gpu_id,device,uuid,modelName,Hostname,container,pod,namespace,value,labels_raw\n"
        << "t1,DCGM_FI_DEV_GPU_UTIL,0,nvidia0,GPU-aaaa,H100,host-a,,,,42,\n"                   // line 2: good
        << "t1,DCGM_FI_DEV_GPU_UTIL,1,nvidia1,,H100,host-a,,,,42,\n"                           // 3: no uuid
        << "t1,DCGM_FI_DEV_GPU_TEMP,0,nvidia0,GPU-aaaa,H100,host-a,,,,hot,\n"                  // 4: value
        << "t1,DCGM_FI_DEV_GPU_TEMP,0,nvidia0,GPU-aaaa,H100,host-a,,,\n"                       // 5: columns
        << "t1,DCGM_FI_DEV_GPU_TEMP,zero,nvidia0,GPU-aaaa,H100,host-a,,,,40,\n"                // 6: gpu_id
        << "t1,DCGM_FI_DEV_GPU_TEMP,0,nvidia0,GPU-aaaa,H100,host-a,,,,40,\"job=\"\"x\"\"\"\n"  // 7: good
        << "t2,DCGM_FI_DEV_GPU_UTIL,0,nvidia0,GPU-bbbb,H100,host-b,,,,7.5,\n";                 // 8: good
  }
  std::string log;
  auto exit = RunOnce(bootstrap(), {"--source", "csv:" + path, "--interval", "0", "--topic", "bad.rows"}, &log);
  ASSERT_TRUE(exit);
  ASSERT_EQ(exit->exit_code, 0) << log;
  for (const char* expected : {"row skipped line=3 reason=missing_uuid", "row skipped line=4 reason=bad_value",
                               "row skipped line=5 reason=wrong_column_count", "row skipped line=6 reason=bad_gpu_id",
                               "skipped_row_count=4"}) {
    EXPECT_NE(log.find(expected), std::string::npos) << "log lacks '" << expected << "':\n" << log;
  }
  auto points = ReadTopic(bootstrap(), "bad.rows");
  ASSERT_EQ(points.size(), 3u);
  std::multiset<std::pair<std::string, double>> got;
  for (const auto& p : points) got.insert({p.point.gpu_uuid, p.point.value});
  EXPECT_EQ(got,
            (std::multiset<std::pair<std::string, double>>{{"GPU-aaaa", 42}, {"GPU-aaaa", 40}, {"GPU-bbbb", 7.5}}));
}

struct HostStatus {
  std::set<int32_t> partitions;
  std::set<std::string> hosts;
};

std::optional<HostStatus> GetStatus(uint16_t port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(2);
  auto r = client.Get("/status");
  if (!r || r->status != 200) return std::nullopt;
  auto j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  HostStatus s;
  for (const auto& p : j["member_assignment"]) s.partitions.insert(p.get<int32_t>());
  for (const auto& h : j["hosts"]) s.hosts.insert(h.get<std::string>());
  return s;
}

// Settled: every streamer has shards, their shards cover every shard (one
// per host, streamer/shard.h) once, their /status host sets are pairwise
// disjoint, cover `hosts`, and are within one of each other in size.
bool SplitIsComplete(const std::vector<AppProcess*>& streamers, int hosts, int partitions, std::string* why,
                     std::vector<std::set<std::string>>* split = nullptr) {
  std::map<std::string, int> host_owners;
  std::map<int32_t, int> partition_owners;
  size_t fewest = SIZE_MAX, most = 0;
  if (split) split->clear();
  for (AppProcess* s : streamers) {
    auto status = GetStatus(s->http_port());
    if (!status) {
      *why = "no /status";
      return false;
    }
    if (status->partitions.empty()) {
      *why = "a streamer without shards";
      return false;
    }
    fewest = std::min(fewest, status->hosts.size());
    most = std::max(most, status->hosts.size());
    if (split) split->push_back(status->hosts);
    for (const auto& h : status->hosts) ++host_owners[h];
    for (int32_t p : status->partitions) ++partition_owners[p];
  }
  *why = std::to_string(host_owners.size()) + " hosts and " + std::to_string(partition_owners.size()) +
         " partitions owned";
  for (const auto& [h, n] : host_owners) {
    if (n != 1) *why += "; " + h + " owned " + std::to_string(n) + " times";
  }
  for (const auto& [p, n] : partition_owners) {
    if (n != 1) *why += "; partition " + std::to_string(p) + " owned " + std::to_string(n) + " times";
  }
  if (static_cast<int>(host_owners.size()) != hosts || static_cast<int>(partition_owners.size()) != partitions) {
    return false;
  }
  for (const auto& [h, n] : host_owners) {
    if (n != 1) return false;
  }
  for (const auto& [p, n] : partition_owners) {
    if (n != 1) return false;
  }
  if (most - fewest > 1) {
    *why += "; hosts per streamer from " + std::to_string(fewest) + " to " + std::to_string(most);
    return false;
  }
  return true;
}

double Metric(uint16_t port, const std::string& name) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(2);
  auto r = client.Get("/metrics");
  if (!r) return -1;
  const size_t at = r->body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(r->body.substr(at + name.size() + 2));
}

TEST_F(StreamerE2eTest, LoopingStreamersSplitTheFleetAndHandHostsOverWithoutDuplicates) {
  constexpr int kHosts = 12;
  constexpr int kPartitions = 8;
  constexpr int64_t kIntervalUs = 200'000;
  const std::string topic = "elastic";
  ASSERT_NO_FATAL_FAILURE(CreateTopic(topic, kPartitions));
  auto start = [&](const std::string& name) {
    return StartStreamer(name, topic,
                         {"--source", "synthetic:hosts=12,gpus=2,seed=3", "--loop", "--interval", "200ms",
                          "--session-timeout-ms", "3000", "--linger-ms", "1"});
  };
  auto a = start("streamer-a");
  auto b = start("streamer-b");
  auto c = start("streamer-c");
  ASSERT_TRUE(a && b && c);

  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] {
        return SplitIsComplete({a.get(), b.get(), c.get()}, kHosts, /*shards=*/kHosts, &why);
      },
      seconds(20)))
      << why;

  // One leaves: SIGTERM hands its hosts over (after their points are
  // acknowledged) and exits 0.
  auto exited = b->Terminate(seconds(20));
  ASSERT_TRUE(exited) << exited.error().ToString();
  EXPECT_EQ(exited->exit_code, 0) << b->LogTail();
  ASSERT_TRUE(WaitFor(
      [&] {
        return SplitIsComplete({a.get(), c.get()}, kHosts, /*shards=*/kHosts, &why);
      },
      seconds(20)))
      << why;
  const int64_t settled_us = NowUs();

  // Let the two survivors stream a while, then read everything.
  auto metric = [](uint16_t port, const std::string& name) -> double {
    httplib::Client client("127.0.0.1", port);
    auto r = client.Get("/metrics");
    if (!r) return -1;
    const size_t at = r->body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(r->body.substr(at + name.size() + 2));
  };
  // The split can settle before a survivor's first interval has passed:
  // wait for its first acknowledged points (bounded) rather than expect them.
  double acked_a = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        acked_a = metric(a->http_port(), "telemq_streamer_points_acked_total");
        return acked_a > 0;
      },
      seconds(10)))
      << "streamer-a acknowledged no point";
  ASSERT_TRUE(WaitFor([&] { return NowUs() > settled_us + 2 * 1'000'000; }, seconds(5)));
  ASSERT_GT(metric(a->http_port(), "telemq_streamer_points_acked_total"), acked_a);

  auto points = ReadTopic(bootstrap(), topic);
  ASSERT_FALSE(points.empty());
  // Per GPU metric, in offset order: stamps strictly increase, and two
  // points are never closer than half an interval (a second streamer on
  // the same host would put them arbitrarily close).
  std::map<std::pair<std::string, std::string>, int64_t> last;
  std::map<std::string, int64_t> host_last;
  int checked = 0;
  for (const auto& p : points) {
    host_last[p.point.hostname] = std::max(host_last[p.point.hostname], p.point.timestamp_us);
    auto [it, fresh] = last.try_emplace({p.key, p.point.metric_name}, p.point.timestamp_us);
    if (fresh) continue;
    const int64_t gap = p.point.timestamp_us - it->second;
    EXPECT_GE(gap, kIntervalUs / 2) << p.point.hostname << " " << p.key << " " << p.point.metric_name << " at "
                                    << p.point.timestamp_us;
    it->second = p.point.timestamp_us;
    ++checked;
  }
  EXPECT_GT(checked, kHosts * 2 * 10 * 5);
  // Every host, including those of the streamer that left, is still streamed.
  ASSERT_EQ(host_last.size(), static_cast<size_t>(kHosts));
  for (const auto& [host, ts] : host_last) EXPECT_GT(ts, settled_us + 1'000'000) << host << " stopped";
}

// Issue #15: with 16 hosts two streamers got 12 and 4 (hosts hashed onto
// the topic's partitions). Now within one of even for any host count, and a
// streamer joining or leaving moves only its own hosts.
TEST_F(StreamerE2eTest, HostsSplitWithinOneOfEvenAndOnlyTheNewcomersOrLeaversHostsMove) {
  for (const int hosts : {16, 7}) {
    const std::string topic = "fair-" + std::to_string(hosts);
    ASSERT_NO_FATAL_FAILURE(CreateTopic(topic, 16));
    const std::string group = "fair-group-" + std::to_string(hosts);
    auto start = [&](const std::string& name) {
      return StartStreamer(name, topic,
                           {"--source", "synthetic:hosts=" + std::to_string(hosts) + ",gpus=1,seed=11", "--loop",
                            "--interval", "500ms", "--group", group, "--session-timeout-ms", "3000"});
    };
    auto a = start("streamer-a");
    auto b = start("streamer-b");
    ASSERT_TRUE(a && b);
    std::string why;
    std::vector<std::set<std::string>> two, three, back;
    ASSERT_TRUE(WaitFor(
        [&] {
          return SplitIsComplete({a.get(), b.get()}, hosts, hosts, &why, &two);
        },
        seconds(20)))
        << hosts << " hosts: " << why;
    auto c = start("streamer-c");
    ASSERT_TRUE(c);
    ASSERT_TRUE(WaitFor(
        [&] {
          return SplitIsComplete({a.get(), b.get(), c.get()}, hosts, hosts, &why, &three);
        },
        seconds(20)))
        << hosts << " hosts: " << why;
    // The newcomer took hosts from the others; none moved between a and b.
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(std::includes(two[i].begin(), two[i].end(), three[i].begin(), three[i].end()))
          << hosts << " hosts: streamer " << i << " gained a host from its peer";
    }
    auto exited = c->Terminate(seconds(20));
    ASSERT_TRUE(exited) << exited.error().ToString();
    ASSERT_TRUE(WaitFor(
        [&] {
          return SplitIsComplete({a.get(), b.get()}, hosts, hosts, &why, &back);
        },
        seconds(20)))
        << hosts << " hosts: " << why;
    // The leaver's hosts went to a and b; each kept what it had.
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(std::includes(back[i].begin(), back[i].end(), three[i].begin(), three[i].end()))
          << hosts << " hosts: streamer " << i << " lost a host although only c left";
    }
  }
}

TEST_F(StreamerE2eTest, StreamersAtFullSpeedHandHostsOverWithinSeconds) {
  constexpr int kHosts = 12;
  constexpr int kPartitions = 8;
  const std::string topic = "busy";
  ASSERT_NO_FATAL_FAILURE(CreateTopic(topic, kPartitions));
  auto start = [&](const std::string& name) {
    return StartStreamer(name, topic,
                         {"--source", "synthetic:hosts=12,gpus=1,seed=5", "--loop", "--rate", "0",
                          "--session-timeout-ms", "3000", "--buffer-bytes", "4194304"});
  };
  auto a = start("streamer-a");
  auto b = start("streamer-b");
  ASSERT_TRUE(a && b);
  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] {
        return SplitIsComplete({a.get(), b.get()}, kHosts, /*shards=*/kHosts, &why);
      },
      seconds(20)))
      << why;
  // Both are busy: the producer keeps batches outstanding all the time.
  const double acked = Metric(a->http_port(), "telemq_streamer_points_acked_total");
  ASSERT_TRUE(WaitFor([&] { return Metric(a->http_port(), "telemq_streamer_points_acked_total") > acked + 10'000; },
                      seconds(10)));

  const auto joined = std::chrono::steady_clock::now();
  auto c = start("streamer-c");
  ASSERT_TRUE(c);
  // A revocation that waited for every later point too would time out
  // (30 s) here instead.
  ASSERT_TRUE(WaitFor(
      [&] {
        return SplitIsComplete({a.get(), b.get(), c.get()}, kHosts, /*shards=*/kHosts, &why);
      },
      seconds(12)))
      << why << "\n"
      << a->LogTail() << b->LogTail();
  const auto took = std::chrono::steady_clock::now() - joined;
  EXPECT_LT(took, seconds(10));
  for (AppProcess* s : {a.get(), b.get()}) {
    EXPECT_EQ(s->LogTail(64 * 1024).find("acknowledgements not complete"), std::string::npos) << s->LogTail();
  }
  // Stop all three (each hands its hosts back after their points are
  // acknowledged), then check the topic: per GPU, in offset order, stamps
  // strictly increase (two streamers on one host at full speed would
  // interleave their stamps).
  for (AppProcess* s : {c.get(), b.get(), a.get()}) {
    auto exited = s->Terminate(seconds(20));
    ASSERT_TRUE(exited) << exited.error().ToString();
    EXPECT_EQ(exited->exit_code, 0) << s->LogTail();
  }
  auto points = ReadTopic(bootstrap(), topic);
  ASSERT_FALSE(points.empty());
  std::map<std::pair<std::string, std::string>, int64_t> last;
  std::set<std::string> hosts;
  for (const auto& p : points) {
    hosts.insert(p.point.hostname);
    auto [it, fresh] = last.try_emplace({p.key, p.point.metric_name}, p.point.timestamp_us);
    if (fresh) continue;
    ASSERT_GT(p.point.timestamp_us, it->second) << p.point.hostname << " " << p.key << " " << p.point.metric_name;
    it->second = p.point.timestamp_us;
  }
  EXPECT_EQ(hosts.size(), static_cast<size_t>(kHosts));
}

TEST_F(StreamerE2eTest, SigtermWhileTheBrokerIsGoneExitsWithinABound) {
  const std::string topic = "gone";
  ASSERT_NO_FATAL_FAILURE(CreateTopic(topic, 2));
  auto s = StartStreamer(
      "streamer", topic,
      {"--source", "synthetic:hosts=4,gpus=2,seed=9", "--loop", "--rate", "0", "--buffer-bytes", "1048576"});
  ASSERT_TRUE(s);
  ASSERT_TRUE(WaitFor([&] { return Metric(s->http_port(), "telemq_streamer_points_acked_total") > 0; }, seconds(20)))
      << s->LogTail();
  {
    // The export parses strictly and follows the naming conventions.
    httplib::Client client("127.0.0.1", s->http_port());
    auto r = client.Get("/metrics");
    ASSERT_TRUE(r);
    auto exposition = ParseExposition(r->body);
    ASSERT_TRUE(exposition) << exposition.error().message();
    const auto violations = ConventionViolations(*exposition);
    EXPECT_TRUE(violations.empty()) << violations.front() << "\n" << r->body;
  }
  for (int i = 0; i < cluster_->size(); ++i) cluster_->Kill9(i);
  // The buffer fills and the streaming thread waits for space.
  ASSERT_TRUE(WaitFor([&] { return s->LogTail().find("producer buffer full") != std::string::npos; }, seconds(20)))
      << s->LogTail();
  const auto signalled = std::chrono::steady_clock::now();
  auto exited = s->Terminate(seconds(30));
  ASSERT_TRUE(exited) << exited.error().ToString() << "\n" << s->LogTail();
  EXPECT_EQ(exited->exit_code, 0) << s->LogTail();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, seconds(20)) << s->LogTail(16 * 1024);
}

// Every pod of a fresh Kubernetes install starts at once: a streamer may ask
// for its topic before the brokers have registered with their controller,
// when a replication factor of 3 is refused ("exceeds the 0 live
// broker(s)"). That is a broker not ready yet, not a bad flag: the streamer
// waits and retries (it exited 2 before, and crash-looped).
TEST(StreamerStartupE2eTest, WaitsForBrokersToRegisterInsteadOfExiting) {
  if (StreamerBinary().empty()) GTEST_SKIP() << "telemq-streamer not built";
  // One live broker where three are needed: the same refusal a fresh
  // cluster gives until its brokers have registered.
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  auto s = AppProcess::Start({.binary = StreamerBinary(),
                              .args = {"--bootstrap", (*broker)->address(), "--source", "synthetic:hosts=2,gpus=1",
                                       "--loop", "--replication-factor", "3"},
                              .name = "streamer"});
  ASSERT_TRUE(s) << s.error().ToString();
  ASSERT_TRUE(WaitFor([&] { return (*s)->LogTail().find("live broker") != std::string::npos; }, seconds(15)))
      << (*s)->LogTail();
  std::this_thread::sleep_for(seconds(2));
  EXPECT_FALSE((*s)->Poll().has_value()) << "the streamer exited:\n" << (*s)->LogTail();
  auto exited = (*s)->Terminate(seconds(10));
  ASSERT_TRUE(exited) << exited.error().ToString();
  EXPECT_EQ(exited->exit_code, 0) << (*s)->LogTail();
}

}  // namespace
}  // namespace telemq::testing
