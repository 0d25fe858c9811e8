// telemq-collector with real processes on 127.0.0.1: a telemq-broker (three
// as one cluster, the topic replicated three times, for the recreated-topic
// test: the other tests exercise the collector, which a cluster would only
// slow down on a small machine), one or two telemq-collector members, points produced with the client Producer
// (value = EncodePoint, key = GPU uuid). Everything is checked through the
// collector's internal API (docs/collector.md): counts equal what was
// produced, points come back in (time, metric) order exactly once, a
// collector killed with SIGKILL mid-stream and restarted on its data
// directory neither loses nor duplicates a point, two members split the
// partitions (503 for the ones they do not own), a survivor takes over a
// killed member's partitions by replay, and a topic deleted and recreated
// under the same name (a new topic id) has its stores rebuilt, whether the
// collector runs through it or is down meanwhile.

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/generator.h"
#include "telemetry/identity.h"
#include "telemetry/point.h"
#include "telemq/admin.h"
#include "telemq/producer.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/http_get.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/str.h"

namespace telemq::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kTopic = "gpu.telemetry";
constexpr int32_t kPartitions = 4;
// 2 hosts x 4 GPUs, ten DCGM fields each.
constexpr int kHosts = 2;
constexpr int kGpusPerHost = 4;
constexpr int kGpus = kHosts * kGpusPerHost;
constexpr int kFields = static_cast<int>(telemetry::kDcgmFieldCount);

ClientOptions Loopback(const std::vector<std::string>& addresses) {
  ClientOptions o;
  o.bootstrap_servers = addresses;
  o.client_id = "collector-e2e";
  o.request_timeout = seconds(10);
  o.connect_timeout = seconds(2);
  o.retry_backoff = milliseconds(20);
  return o;
}

HttpAnswer Get(uint16_t port, const std::string& target) { return HttpGet(port, target); }

std::optional<json> GetJson(uint16_t port, const std::string& target) {
  const auto a = Get(port, target);
  if (a.status != 200) return std::nullopt;
  return json::parse(a.body, nullptr, false);
}

// Sends samples of a synthetic fleet, one snapshot (every GPU, every field)
// per call, at increasing whole seconds ending before now (inside the
// topic's retention), and counts what the broker acknowledged.
class FleetProducer {
 public:
  // Another seed: other GPU uuids (another fleet).
  explicit FleetProducer(const std::vector<std::string>& addresses, uint64_t seed = 7)
      : fleet_(kHosts, kGpusPerHost, seed) {
    ProducerOptions po;
    po.client = Loopback(addresses);
    po.linger = milliseconds(2);
    auto p = Producer::Create(po);
    EXPECT_TRUE(p) << (p ? "" : p.error().ToString());
    if (p) producer_ = std::move(*p);
    next_s_ = std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count() - 3600;
  }

  void Snapshot() {
    for (const auto& point : fleet_.Sample(static_cast<double>(next_s_))) {
      auto value = telemetry::EncodePoint(point);
      ASSERT_TRUE(value);
      ASSERT_TRUE(producer_->Send(kTopic, point.gpu_uuid, *value, [this](const Result<RecordMetadata>& r) {
        if (r) acked_.fetch_add(1);
      }));
    }
    ++next_s_;
    sent_ += kGpus * kFields;
  }
  void Flush() { ASSERT_TRUE(producer_->Flush(seconds(30))); }
  int64_t sent() const { return sent_; }
  int64_t acked() const { return acked_.load(); }
  std::vector<std::string> uuids() const {
    std::vector<std::string> out;
    for (const auto& g : fleet_.gpus()) out.push_back(g.uuid);
    return out;
  }

 private:
  telemetry::SyntheticFleet fleet_;
  std::unique_ptr<Producer> producer_;
  int64_t next_s_ = 0;
  int64_t sent_ = 0;
  std::atomic<int64_t> acked_{0};
};

class CollectorE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(CollectorBinary().empty()) << "telemq-collector not built";
    // Members heartbeat every 200 ms, so rebalances settle quickly. The
    // topic is replicated on every broker (the cluster's default, up to 3).
    auto c = BrokerCluster::Start({.brokers = Brokers(), .args = {"--group-heartbeat-interval-ms", "200"}});
    ASSERT_TRUE(c) << c.error().ToString();
    cluster_ = std::move(*c);
    for (const auto& a : cluster_->addresses()) bootstrap_ += (bootstrap_.empty() ? "" : ",") + a;
    auto admin = Admin::Create(Loopback(cluster_->addresses()));
    ASSERT_TRUE(admin);
    admin_ = std::move(*admin);
    ASSERT_TRUE(admin_->CreateTopic(kTopic, {.partitions = kPartitions}));
  }

  virtual int Brokers() const { return 1; }
  std::vector<std::string> brokers() const { return cluster_->addresses(); }

  std::unique_ptr<AppProcess> StartCollector(const std::string& name, const std::string& data_dir,
                                             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--bootstrap",          bootstrap_, "--topic", kTopic, "--data-dir", data_dir,
                                     "--session-timeout-ms", "2000"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto app = AppProcess::Start({.binary = CollectorBinary(), .args = args, .name = name, .data_dir = data_dir});
    EXPECT_TRUE(app) << (app ? "" : app.error().ToString());
    return app ? std::move(*app) : nullptr;
  }

  std::vector<int64_t> HighWatermarks() {
    std::vector<int64_t> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto hw = admin_->ListOffset(kTopic, p, OffsetSpec::kLatest);
      out.push_back(hw ? hw->value() : -1);
    }
    return out;
  }

  // True once the collectors together own every partition exactly once, all
  // serving and applied to the high watermark.
  bool CaughtUp(const std::vector<AppProcess*>& collectors) {
    const auto hw = HighWatermarks();
    std::map<int32_t, int64_t> applied;
    for (auto* c : collectors) {
      auto s = GetJson(c->http_port(), "/internal/v1/status");
      if (!s) return false;
      for (const auto& p : (*s)["partitions"]) {
        if (p["state"] != "serving") return false;
        if (!applied.emplace(p["partition"].get<int32_t>(), p["applied_offset"].get<int64_t>()).second) return false;
      }
    }
    if (applied.size() != static_cast<size_t>(kPartitions)) return false;
    for (const auto& [p, a] : applied) {
      if (a != hw[p]) return false;
    }
    return true;
  }

  // Every point of one GPU through the cursor, checking the order.
  std::vector<std::pair<int64_t, std::string>> AllPoints(uint16_t port, const std::string& uuid, int32_t partition,
                                                         int limit) {
    std::vector<std::pair<int64_t, std::string>> out;
    std::string cursor;
    for (int page = 0; page < 10'000; ++page) {
      const std::string target = "/internal/v1/gpus/" + uuid + "/telemetry?partition=" + std::to_string(partition) +
                                 "&limit=" + std::to_string(limit) + cursor;
      const auto a = Get(port, target);
      if (a.status != 200) {
        ADD_FAILURE() << target << " -> " << a.status << " " << a.body;
        return out;
      }
      const auto j = json::parse(a.body);
      for (const auto& p : j["points"]) {
        std::pair<int64_t, std::string> key{p["timestamp_us"].get<int64_t>(), p["metric"].get<std::string>()};
        if (!out.empty()) {
          EXPECT_LT(out.back(), key) << uuid << ": out of order or duplicated";
        }
        out.push_back(std::move(key));
      }
      if (!j["more"].get<bool>()) return out;
      const auto& last = j["points"].back();
      cursor = "&after_us=" + std::to_string(last["timestamp_us"].get<int64_t>()) +
               "&after_metric=" + last["metric"].get<std::string>();
    }
    ADD_FAILURE() << "too many pages for " << uuid;
    return out;
  }

  // Sum of the group's lag (high watermark - committed) over the partitions;
  // -1 while unknown.
  int64_t GroupLag() {
    auto d = admin_->DescribeGroup("telemq-collectors");
    if (!d || d->partitions.size() != static_cast<size_t>(kPartitions)) return -1;
    int64_t lag = 0;
    for (const auto& p : d->partitions) {
      if (!p.lag) return -1;
      lag += *p.lag;
    }
    return lag;
  }

  // Sum of "points" over the collectors' status.
  int64_t StoredPoints(const std::vector<AppProcess*>& collectors) {
    int64_t n = 0;
    for (auto* c : collectors) {
      auto s = GetJson(c->http_port(), "/internal/v1/status");
      if (!s) return -1;
      for (const auto& p : (*s)["partitions"]) n += p["points"].get<int64_t>();
    }
    return n;
  }

  // Every GPU answered by the collector owning its partition with exactly
  // `samples` x 10 points, each once.
  void ExpectEveryPointOnce(const std::vector<AppProcess*>& collectors, const std::vector<std::string>& uuids,
                            int64_t samples) {
    std::map<std::string, std::pair<int32_t, uint16_t>> listed;  // uuid -> (partition, port)
    for (auto* c : collectors) {
      auto g = GetJson(c->http_port(), "/internal/v1/gpus");
      ASSERT_TRUE(g);
      for (const auto& gpu : (*g)["gpus"]) {
        EXPECT_TRUE(listed.emplace(gpu["uuid"], std::pair{gpu["partition"].get<int32_t>(), c->http_port()}).second)
            << "gpu listed twice: " << gpu.dump();
      }
    }
    ASSERT_EQ(listed.size(), uuids.size());
    for (const auto& uuid : uuids) {
      ASSERT_TRUE(listed.count(uuid)) << uuid;
      const auto [partition, port] = listed[uuid];
      EXPECT_EQ(partition, telemetry::PartitionForGpu(uuid, kPartitions));
      const auto points = AllPoints(port, uuid, partition, 1000);
      EXPECT_EQ(static_cast<int64_t>(points.size()), samples * kFields) << uuid;
      EXPECT_EQ(std::set(points.begin(), points.end()).size(), points.size()) << uuid;
    }
  }

  std::unique_ptr<BrokerCluster> cluster_;
  std::string bootstrap_;  // every broker, comma-separated
  std::unique_ptr<Admin> admin_;
  TempDir dirs_{"telemq-collector-e2e"};
};

TEST_F(CollectorE2ETest, ProducedPointsAreQueryableInOrderWithInclusiveWindows) {
  FleetProducer producer(brokers());
  constexpr int kSamples = 60;
  for (int i = 0; i < kSamples; ++i) producer.Snapshot();
  producer.Flush();
  ASSERT_EQ(producer.acked(), kSamples * kGpus * kFields);

  auto c = StartCollector("collector", dirs_.File("c"), {"--commit-interval-ms", "200"});
  ASSERT_TRUE(c);
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({c.get()}); }, seconds(20)));
  EXPECT_EQ(StoredPoints({c.get()}), producer.sent());
  ExpectEveryPointOnce({c.get()}, producer.uuids(), kSamples);

  // One GPU in detail: its info, an inclusive window, a metric filter.
  const std::string uuid = producer.uuids().front();
  const std::string p = std::to_string(telemetry::PartitionForGpu(uuid, kPartitions));
  auto info = GetJson(c->http_port(), "/internal/v1/gpus/" + uuid + "?partition=" + p);
  ASSERT_TRUE(info);
  EXPECT_EQ((*info)["metrics"].size(), static_cast<size_t>(kFields));
  EXPECT_EQ((*info)["hostname"], "host-0001");
  const int64_t first = (*info)["first_timestamp_us"];
  const int64_t last = (*info)["last_timestamp_us"];
  EXPECT_EQ(last - first, (kSamples - 1) * 1'000'000);
  const std::string base = "/internal/v1/gpus/" + uuid + "/telemetry?partition=" + p;
  auto window = GetJson(c->http_port(), base + "&start_us=" + std::to_string(first + 10'000'000) +
                                            "&end_us=" + std::to_string(first + 19'000'000) + "&limit=10000");
  ASSERT_TRUE(window);
  EXPECT_EQ((*window)["points"].size(), static_cast<size_t>(10 * kFields));  // both ends included
  EXPECT_EQ((*window)["points"].front()["timestamp_us"], first + 10'000'000);
  EXPECT_EQ((*window)["points"].back()["timestamp_us"], first + 19'000'000);
  auto one_metric = GetJson(c->http_port(), base + "&metric=DCGM_FI_DEV_GPU_TEMP&limit=10000");
  ASSERT_TRUE(one_metric);
  EXPECT_EQ((*one_metric)["points"].size(), static_cast<size_t>(kSamples));

  // Errors: unknown GPU, malformed parameter.
  EXPECT_EQ(Get(c->http_port(), "/internal/v1/gpus/GPU-none?partition=" + p).status, 404);
  const auto bad = Get(c->http_port(), base + "&start_us=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("start_us"), std::string::npos);
  // The applied offsets reach the group (for `telemq group describe`).
  EXPECT_TRUE(WaitFor([&] { return GroupLag() == 0; }, seconds(10)));
  auto metrics = Get(c->http_port(), "/metrics");
  EXPECT_NE(metrics.body.find("telemq_collector_points_applied_total " + std::to_string(producer.sent())),
            std::string::npos);
  // The export parses strictly and follows the naming conventions.
  auto exposition = ParseExposition(metrics.body);
  ASSERT_TRUE(exposition) << exposition.error().message();
  const auto violations = ConventionViolations(*exposition);
  EXPECT_TRUE(violations.empty()) << violations.front() << "\n" << metrics.body;
}

// A store left by a collector of store format version 1 (one key per GPU,
// time and metric) is not read by this one: the collector drops it, says so,
// and rebuilds the partition from the log. The old stores claim to have
// applied the whole log, so a collector that kept them would serve nothing.
TEST_F(CollectorE2ETest, AStoreOfTheOldFormatIsDroppedAndRebuiltFromTheLog) {
  FleetProducer producer(brokers());
  constexpr int kSamples = 20;
  for (int i = 0; i < kSamples; ++i) producer.Snapshot();
  producer.Flush();
  const std::string data = dirs_.File("c");
  const auto hw = HighWatermarks();
  for (int32_t p = 0; p < kPartitions; ++p) {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    const std::string path = data + "/partition-" + std::to_string(p);
    std::filesystem::create_directories(path);
    ASSERT_TRUE(rocksdb::DB::Open(o, path, &raw).ok()) << path;
    std::unique_ptr<rocksdb::DB> db(raw);
    auto le64 = [](uint64_t v) {
      std::string out;
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
      return out;
    };
    rocksdb::WriteBatch b;
    b.Put("V", std::string(1, '\x01') + kTopic);                            // format version 1
    b.Put("O", le64(static_cast<uint64_t>(hw[p])) + le64(1));               // applied: the whole log
    b.Put(std::string("D") + std::string(14, '\0'), std::string(8, '\0'));  // a version-1 point
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  auto c = StartCollector("collector", data);
  ASSERT_TRUE(c);
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({c.get()}); }, seconds(30)));
  EXPECT_EQ(StoredPoints({c.get()}), producer.sent());
  ExpectEveryPointOnce({c.get()}, producer.uuids(), kSamples);
  const std::string log = c->LogTail(1 << 20);
  for (int32_t p = 0; p < kPartitions; ++p) {
    EXPECT_NE(
        log.find(Str("store format upgrade; dropping the store and rebuilding it from the log partition=", p, " ")),
        std::string::npos)
        << log;
  }
  EXPECT_NE(log.find("store format version 1, this collector reads 2"), std::string::npos) << log;
  EXPECT_NE(log.find("rebuilding it from the log"), std::string::npos) << log;
}

TEST_F(CollectorE2ETest, KillNineMidStreamAndRestartLosesAndDuplicatesNothing) {
  const std::string data = dirs_.File("c");
  // No periodic flush: at the kill the stores' memtables (no WAL) are lost
  // while the group's committed offsets are well ahead of what is on disk,
  // so only the stores' own offsets can say where to resume.
  const std::vector<std::string> no_flush = {"--flush-interval-ms", "600000", "--commit-interval-ms", "100"};
  auto c = StartCollector("collector", data, no_flush);
  ASSERT_TRUE(c);
  FleetProducer producer(brokers());
  for (int i = 0; i < 100; ++i) producer.Snapshot();
  producer.Flush();
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({c.get()}) && GroupLag() == 0; }, seconds(20)));
  // Kill it mid-stream, and produce more while it is down.
  for (int i = 0; i < 100; ++i) producer.Snapshot();
  std::this_thread::yield();
  c->Kill9();
  for (int i = 0; i < 100; ++i) producer.Snapshot();
  producer.Flush();

  auto restarted = StartCollector("collector-restarted", data, no_flush);
  ASSERT_TRUE(restarted);
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({restarted.get()}); }, seconds(30)));
  EXPECT_EQ(StoredPoints({restarted.get()}), producer.sent());
  ExpectEveryPointOnce({restarted.get()}, producer.uuids(), 300);

  // A clean stop keeps the stores: the next start resumes from them.
  auto stopped = restarted->Terminate();
  ASSERT_TRUE(stopped);
  EXPECT_FALSE(stopped->signaled) << stopped->ToString();
  EXPECT_EQ(stopped->exit_code, 0) << stopped->ToString();
  int64_t on_disk = 0;
  for (int64_t hw : HighWatermarks()) on_disk += hw;
  for (int i = 0; i < 50; ++i) producer.Snapshot();
  producer.Flush();
  auto again = StartCollector("collector-again", data, no_flush);
  ASSERT_TRUE(again);
  int64_t resumed_from = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = GetJson(again->http_port(), "/internal/v1/status");
        if (!s || (*s)["partitions"].size() != static_cast<size_t>(kPartitions)) return false;
        resumed_from = 0;
        for (const auto& p : (*s)["partitions"]) resumed_from += p["applied_offset"].get<int64_t>();
        return true;
      },
      seconds(20)));
  EXPECT_GE(resumed_from, on_disk);
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({again.get()}); }, seconds(30)));
  EXPECT_EQ(StoredPoints({again.get()}), producer.sent());
  ExpectEveryPointOnce({again.get()}, producer.uuids(), 350);
  // Nothing was applied twice: the redelivered records were skipped.
  const auto metrics = Get(again->http_port(), "/metrics").body;
  EXPECT_NE(metrics.find("telemq_collector_points_overwritten_total 0\n"), std::string::npos);
}

// The GPUs a collector lists, with their partitions.
std::map<std::string, int32_t> ListedGpus(uint16_t port) {
  std::map<std::string, int32_t> out;
  auto g = GetJson(port, "/internal/v1/gpus");
  if (!g) return out;
  for (const auto& gpu : (*g)["gpus"]) out[gpu["uuid"].get<std::string>()] = gpu["partition"].get<int32_t>();
  return out;
}

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// On three brokers: topic deletion and creation go through the controller,
// and the metadata the collector reads may come from any of them.
class CollectorClusterE2ETest : public CollectorE2ETest {
 protected:
  int Brokers() const override { return 3; }
};

// A topic deleted and created again under the same name is another topic
// (another topic id), even where the new log has reached the offsets the
// stores had applied (so offsets alone cannot tell): the collector drops
// every store built from the old one, says so, and serves only the new
// topic's points. Twice: while it runs (the periodic check or the
// reassignment notices), and while it is down (the store's recorded id is
// compared at assignment).
TEST_F(CollectorClusterE2ETest, ARecreatedTopicHasItsStoresRebuiltAndServesOnlyItsOwnPoints) {
  const std::string data = dirs_.File("c");
  auto c = StartCollector("collector", data);
  ASSERT_TRUE(c);
  std::vector<std::string> old_uuids;
  {
    FleetProducer producer(brokers(), /*seed=*/7);
    for (int i = 0; i < 10; ++i) producer.Snapshot();
    producer.Flush();
    old_uuids = producer.uuids();
  }
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({c.get()}); }, seconds(20)));
  ASSERT_EQ(StoredPoints({c.get()}), 10 * kGpus * kFields);
  auto first = admin_->DescribeTopic(kTopic, false);
  ASSERT_TRUE(first);

  // Recreated while the collector runs; the new topic gets more records
  // than the old one had, so every new log passes the applied offsets.
  const auto recreate = [&] {
    ASSERT_TRUE(admin_->DeleteTopic(kTopic));
    ASSERT_TRUE(
        WaitFor([&] { return admin_->CreateTopic(kTopic, {.partitions = kPartitions}).has_value(); }, seconds(20)));
  };
  recreate();
  auto second = admin_->DescribeTopic(kTopic, false);
  ASSERT_TRUE(second);
  EXPECT_NE(second->topic_id, first->topic_id);
  std::vector<std::string> new_uuids;
  {
    FleetProducer producer(brokers(), /*seed=*/8);
    for (int i = 0; i < 40; ++i) producer.Snapshot();
    producer.Flush();
    ASSERT_EQ(producer.acked(), 40 * kGpus * kFields);
    new_uuids = producer.uuids();
  }
  for (const auto& uuid : new_uuids) ASSERT_EQ(AsSet(old_uuids).count(uuid), 0u) << "fleets share " << uuid;
  // Until the collector notices, the old stores may take the new records
  // past their applied offsets: wait for the listing to hold only new GPUs.
  const auto only = [&](const std::vector<std::string>& uuids) {
    std::set<std::string> listed;
    for (const auto& [uuid, p] : ListedGpus(c->http_port())) listed.insert(uuid);
    return listed == AsSet(uuids);
  };
  ASSERT_TRUE(
      WaitFor([&] { return only(new_uuids) && CaughtUp({c.get()}) && StoredPoints({c.get()}) == 40 * kGpus * kFields; },
              seconds(30)))
      << "stored " << StoredPoints({c.get()});
  ExpectEveryPointOnce({c.get()}, new_uuids, 40);
  for (const auto& uuid : old_uuids) EXPECT_EQ(ListedGpus(c->http_port()).count(uuid), 0u) << uuid;
  std::string log = c->LogTail(1 << 20);
  EXPECT_NE(log.find("deleted and recreated"), std::string::npos) << log;
  EXPECT_NE(log.find("rebuilding it from the new topic's log"), std::string::npos) << log;

  // Recreated while the collector is down: it comes back to stores whose
  // applied offsets the new logs have passed, and must not resume them.
  auto stopped = c->Terminate();
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->exit_code, 0) << stopped->ToString();
  recreate();
  std::vector<std::string> third_uuids;
  {
    FleetProducer producer(brokers(), /*seed=*/9);
    for (int i = 0; i < 60; ++i) producer.Snapshot();
    producer.Flush();
    third_uuids = producer.uuids();
  }
  auto again = StartCollector("collector-again", data);
  ASSERT_TRUE(again);
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({again.get()}); }, seconds(30)));
  EXPECT_EQ(StoredPoints({again.get()}), 60 * kGpus * kFields);
  ExpectEveryPointOnce({again.get()}, third_uuids, 60);
  log = again->LogTail(1 << 20);
  for (int32_t p = 0; p < kPartitions; ++p) {
    EXPECT_NE(log.find(Str("store built from a topic since deleted and recreated; rebuilding it from the new topic's "
                           "log partition=",
                           p, " ")),
              std::string::npos)
        << log;
  }
}

TEST_F(CollectorE2ETest, TwoCollectorsSplitPartitionsAndTheSurvivorTakesOverByReplay) {
  FleetProducer producer(brokers());
  constexpr int kSamples = 40;
  for (int i = 0; i < kSamples; ++i) producer.Snapshot();
  producer.Flush();
  auto a = StartCollector("collector-a", dirs_.File("a"));
  auto b = StartCollector("collector-b", dirs_.File("b"));
  ASSERT_TRUE(a && b);
  // Split: each owns some partitions, together all, all serving.
  std::map<int32_t, AppProcess*> owner;
  ASSERT_TRUE(WaitFor(
      [&] {
        if (!CaughtUp({a.get(), b.get()})) return false;
        owner.clear();
        for (auto* c : {a.get(), b.get()}) {
          auto s = GetJson(c->http_port(), "/internal/v1/status");
          if (!s || (*s)["partitions"].empty()) return false;
          for (const auto& p : (*s)["partitions"]) owner[p["partition"].get<int32_t>()] = c;
        }
        return owner.size() == static_cast<size_t>(kPartitions);
      },
      seconds(30)));
  ExpectEveryPointOnce({a.get(), b.get()}, producer.uuids(), kSamples);

  // Each member advertises its endpoint, and answers 503 for the others'.
  auto group = admin_->DescribeGroup("telemq-collectors");
  ASSERT_TRUE(group);
  std::set<std::string> endpoints;
  for (const auto& m : group->members) endpoints.insert(json::parse(m.metadata)["endpoint"].get<std::string>());
  EXPECT_EQ(endpoints, (std::set<std::string>{a->http_base(), b->http_base()}));
  for (const auto& uuid : producer.uuids()) {
    const int32_t p = telemetry::PartitionForGpu(uuid, kPartitions);
    AppProcess* other = owner[p] == a.get() ? b.get() : a.get();
    const auto r = Get(other->http_port(), "/internal/v1/gpus/" + uuid + "/telemetry?partition=" + std::to_string(p));
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.retry_after, "1");
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "partition_unavailable");
    EXPECT_EQ(Get(other->http_port(), "/internal/v1/gpus/" + uuid + "?partition=" + std::to_string(p)).status, 503);
  }

  // A dies; B takes over its partitions by replaying them from the log.
  a->Kill9();
  for (int i = 0; i < 10; ++i) producer.Snapshot();
  producer.Flush();
  ASSERT_TRUE(WaitFor([&] { return CaughtUp({b.get()}); }, seconds(30)));
  EXPECT_EQ(StoredPoints({b.get()}), producer.sent());
  ExpectEveryPointOnce({b.get()}, producer.uuids(), kSamples + 10);
}

}  // namespace
}  // namespace telemq::testing
