// The broker's GET /metrics (docs/operations.md, "Broker metrics"), scraped
// from a real broker after produce, fetch and group activity: the values
// follow what the clients did (end offsets and high watermarks the records
// produced, a group's lag what it did not consume, requests, bytes and
// error codes per API), and the exposition parses strictly and follows the
// Prometheus naming conventions (tests/support/prometheus_text.h).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "telemq/wire/protocol.h"
#include "tests/integration/integration_util.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/broker_process.h"
#include "tests/support/http_get.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/raw_socket.h"

namespace telemq::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;
using LabelSet = std::map<std::string, std::string>;

constexpr size_t kValueBytes = 200;

class BrokerMetrics : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> args = {}) {
    auto b = BrokerProcess::Start({.args = std::move(args), .admin_http = true});
    ASSERT_TRUE(b) << b.error().ToString();
    broker_ = std::move(*b);
    const auto deadline = Clock::now() + seconds(10);
    while (broker_->http_port() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
    ASSERT_NE(broker_->http_port(), 0);
    address_ = broker_->address();
  }

  // One scrape, parsed; fails the test when it does not parse or breaks a
  // naming convention.
  Exposition Scrape() {
    const HttpAnswer a = HttpGet(broker_->http_port(), "/metrics");
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto e = ParseExposition(a.body);
    EXPECT_TRUE(e) << e.error().message();
    if (!e) return {};
    EXPECT_THAT(ConventionViolations(*e), IsEmpty()) << a.body;
    return std::move(*e);
  }

  // The value of one series; -1e300 (fails any comparison the tests make)
  // when absent, with a test failure naming it.
  static double Get(const Exposition& e, const std::string& name, const LabelSet& labels = {}) {
    auto v = e.Value(name, labels);
    if (!v) {
      ADD_FAILURE() << "no series " << name << " with the labels asked";
      return -1e300;
    }
    return *v;
  }

  // Produces `count` records of kValueBytes to `partition` of `topic`, acks=all.
  void Produce(const std::string& topic, int32_t partition, int count) {
    ProducerOptions popts;
    popts.client = LoopbackClient(address_);
    auto producer = Producer::Create(popts);
    ASSERT_TRUE(producer) << producer.error().ToString();
    const std::string value(kValueBytes, 'v');
    for (int i = 0; i < count; ++i) {
      const std::string key = std::to_string(i);
      ASSERT_TRUE((*producer)->Send(topic, key, value, nullptr, std::nullopt, partition));
    }
    ASSERT_TRUE((*producer)->Flush(seconds(30)));
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::string address_;
};

TEST_F(BrokerMetrics, ValuesFollowProduceFetchAndGroupActivity) {
  StartBroker();
  ASSERT_TRUE(CreateTopic(address_, "m", Partitions(2)));
  Produce("m", 0, 30);
  Produce("m", 1, 12);

  // A new partition starts with its leader's no-op at offset 0: the records
  // follow it, so the log ends one past them.
  Exposition e = Scrape();
  for (auto [p, records] : {std::pair{0, 30}, std::pair{1, 12}}) {
    const LabelSet tp{{"topic", "m"}, {"partition", std::to_string(p)}};
    EXPECT_EQ(Get(e, "telemq_broker_partition_log_start_offset", tp), 0);
    EXPECT_EQ(Get(e, "telemq_broker_partition_log_end_offset", tp), records + 1);
    EXPECT_EQ(Get(e, "telemq_broker_partition_high_watermark", tp), records + 1);
    EXPECT_EQ(Get(e, "telemq_broker_partition_leader", tp), 1);
    EXPECT_EQ(Get(e, "telemq_broker_partition_replicas", tp), 1);
    EXPECT_EQ(Get(e, "telemq_broker_partition_in_sync_replicas", tp), 1);
  }
  // One broker: it leads everything, nothing is under-replicated or offline.
  EXPECT_EQ(Get(e, "telemq_broker_under_replicated_partitions"), 0);
  EXPECT_EQ(Get(e, "telemq_broker_offline_partitions"), 0);
  EXPECT_EQ(Get(e, "telemq_broker_partitions_led", {{"broker", "0"}}), 2 + 16);  // m and __consumer_offsets
  EXPECT_EQ(Get(e, "telemq_broker_controller_leader_id"), 0);
  EXPECT_EQ(Get(e, "telemq_broker_controller_is_leader"), 1);
  EXPECT_GE(Get(e, "telemq_broker_raft_elections_started_total"), 1);
  EXPECT_GE(Get(e, "telemq_broker_raft_leader_changes_total"), 1);
  EXPECT_GE(Get(e, "telemq_broker_raft_commit_latency_seconds_count"), 2);  // at least one per produce request
  // Produce requests carried the records' bytes; every one was answered.
  const LabelSet produce{{"api", "produce"}};
  EXPECT_GE(Get(e, "telemq_broker_requests_total", produce), 2);
  EXPECT_EQ(Get(e, "telemq_broker_request_duration_seconds_count", produce),
            Get(e, "telemq_broker_requests_total", produce));
  EXPECT_GT(Get(e, "telemq_broker_request_bytes_total", produce), 42 * kValueBytes);
  EXPECT_GT(Get(e, "telemq_broker_response_bytes_total", produce), 0);
  EXPECT_EQ(Get(e, "telemq_broker_produce_memory_used_bytes"), 0);
  EXPECT_EQ(Get(e, "telemq_broker_produce_memory_blocked_connections"), 0);
  EXPECT_EQ(Get(e, "telemq_broker_produce_memory_limit_bytes"), 256 << 20);

  // A request that fails is counted under its API and error code.
  {
    auto admin = Admin::Create(LoopbackClient(address_));
    ASSERT_TRUE(admin);
    EXPECT_FALSE((*admin)->CreateTopic("m", Partitions(2)));
  }
  e = Scrape();
  EXPECT_GE(Get(e, "telemq_broker_request_errors_total", {{"api", "create_topics"}, {"error", "TopicAlreadyExists"}}),
            1);

  // A group member reads everything, then commits as if it had processed
  // all of partition 1 but the last 7 records of partition 0.
  GroupOptions gopts;
  gopts.group_id = "readers";
  gopts.auto_commit = AutoCommit::kDisabled;
  ConsumerOptions copts;
  copts.client = LoopbackClient(address_);
  copts.fetch_max_wait = milliseconds(100);
  auto consumer = Consumer::Create(copts);
  ASSERT_TRUE(consumer) << consumer.error().ToString();
  ASSERT_TRUE((*consumer)->Subscribe({"m"}, gopts));
  size_t consumed = 0;
  const auto deadline = Clock::now() + seconds(30);
  while (consumed < 42 && Clock::now() < deadline) {
    auto records = (*consumer)->Poll(milliseconds(100));
    ASSERT_TRUE(records) << records.error().ToString();
    consumed += records->size();
  }
  ASSERT_EQ(consumed, 42u);
  ASSERT_TRUE(
      (*consumer)->CommitSync(std::map<TopicPartition, Offset>{{{"m", 0}, Offset(31 - 7)}, {{"m", 1}, Offset(13)}}));
  e = Scrape();
  EXPECT_EQ(Get(e, "telemq_broker_group_members", {{"group", "readers"}}), 1);
  EXPECT_EQ(Get(e, "telemq_broker_group_committed_offset", {{"group", "readers"}, {"topic", "m"}, {"partition", "0"}}),
            24);
  EXPECT_EQ(Get(e, "telemq_broker_group_lag", {{"group", "readers"}, {"topic", "m"}, {"partition", "0"}}), 7);
  EXPECT_EQ(Get(e, "telemq_broker_group_lag", {{"group", "readers"}, {"topic", "m"}, {"partition", "1"}}), 0);
  EXPECT_EQ(Get(e, "telemq_broker_group_lag_unknown_partitions", {{"group", "readers"}}), 0);
  EXPECT_GE(Get(e, "telemq_broker_connections"), 1);
  const LabelSet fetch{{"api", "fetch"}};
  EXPECT_GE(Get(e, "telemq_broker_requests_total", fetch), 1);
  EXPECT_GT(Get(e, "telemq_broker_response_bytes_total", fetch), 42 * kValueBytes);
  EXPECT_GE(Get(e, "telemq_broker_requests_total", {{"api", "offset_commit"}}), 1);

  // Records produced after the commit are lag, and move the end offsets.
  Produce("m", 1, 5);
  e = Scrape();
  EXPECT_EQ(Get(e, "telemq_broker_partition_log_end_offset", {{"topic", "m"}, {"partition", "1"}}), 18);
  EXPECT_EQ(Get(e, "telemq_broker_group_lag", {{"group", "readers"}, {"topic", "m"}, {"partition", "1"}}), 5);
  (*consumer)->Close();

  // The flusher synced what fsync: interval left unsynced (within its 100 ms).
  const auto fsync_deadline = Clock::now() + seconds(5);
  while (Clock::now() < fsync_deadline && Get(Scrape(), "telemq_broker_log_fsync_duration_seconds_count") == 0) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(Get(Scrape(), "telemq_broker_log_fsync_duration_seconds_count"), 0);
}

TEST_F(BrokerMetrics, PerTopicSeriesWhenPerPartitionMetricsAreOff) {
  StartBroker({"--metrics-per-partition", "false"});
  ASSERT_TRUE(CreateTopic(address_, "wide", Partitions(3)));
  Produce("wide", 0, 10);
  Produce("wide", 2, 4);
  const Exposition e = Scrape();
  // Summed over the topic's partitions: three no-ops and the records.
  EXPECT_EQ(Get(e, "telemq_broker_partition_log_end_offset", {{"topic", "wide"}}), 3 + 14);
  EXPECT_EQ(Get(e, "telemq_broker_partition_high_watermark", {{"topic", "wide"}}), 3 + 14);
  EXPECT_EQ(Get(e, "telemq_broker_partition_leader", {{"topic", "wide"}}), 3);
  EXPECT_EQ(Get(e, "telemq_broker_partition_replicas", {{"topic", "wide"}}), 3);
  for (const auto* s : e.Samples("telemq_broker_partition_log_end_offset")) {
    EXPECT_EQ(s->labels.count("partition"), 0u) << "a per-partition series with metrics_per_partition: false";
  }
}

// A frame the broker cannot answer in kind gets an ErrorResponse: its code
// counts under the API the frame named ("unknown" for an unknown key).
TEST_F(BrokerMetrics, FrameLevelFailuresAreCountedUnderTheirApi) {
  StartBroker();
  {
    auto conn = RawConnection::Connect(broker_->port());
    ASSERT_TRUE(conn) << conn.error().ToString();
    const std::vector<std::byte> garbage(16, std::byte{0x7f});
    ASSERT_TRUE(conn->Send(EncodeRequest(wire::ApiKey::kMetadata, 1, 1, garbage)));
    ASSERT_TRUE(conn->ReadResponse());
  }
  {
    auto conn = RawConnection::Connect(broker_->port());
    ASSERT_TRUE(conn) << conn.error().ToString();
    flatbuffers::FlatBufferBuilder b;
    b.Finish(wire::fb::CreateMetadataRequest(b));
    const auto body = std::as_bytes(std::span(b.GetBufferPointer(), b.GetSize()));
    ASSERT_TRUE(conn->Send(EncodeRequest(static_cast<wire::ApiKey>(99), 1, 2, body)));
    ASSERT_TRUE(conn->ReadResponse());
  }
  const Exposition e = Scrape();
  EXPECT_EQ(Get(e, "telemq_broker_request_errors_total", {{"api", "metadata"}, {"error", "CorruptMessage"}}), 1);
  EXPECT_EQ(Get(e, "telemq_broker_request_errors_total", {{"api", "unknown"}, {"error", "UnsupportedVersion"}}), 1);
  EXPECT_EQ(Get(e, "telemq_broker_requests_total", {{"api", "unknown"}}), 1);
}

TEST_F(BrokerMetrics, MetricsAnswerWithoutAnyTraffic) {
  StartBroker();
  const Exposition e = Scrape();
  EXPECT_NE(e.Find("telemq_broker_requests_total"), nullptr);
  EXPECT_NE(e.Find("telemq_broker_group_lag"), nullptr);
  EXPECT_EQ(Get(e, "telemq_broker_produce_memory_used_bytes"), 0);

  // The data directory's file system, as statvfs(3) sees it from here (free
  // space moves between the two calls: within 64 MiB).
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(broker_->data_dir().c_str(), &fs), 0);
  EXPECT_EQ(Get(e, "telemq_broker_data_dir_size_bytes"), static_cast<double>(fs.f_blocks) * fs.f_frsize);
  const double free_bytes = Get(e, "telemq_broker_data_dir_free_bytes");
  EXPECT_NEAR(free_bytes, static_cast<double>(fs.f_bavail) * fs.f_frsize, 64 << 20);
  EXPECT_LE(free_bytes, Get(e, "telemq_broker_data_dir_size_bytes"));
}

// Scrapes broker `port`; an empty exposition (with a test failure) when it
// does not parse or breaks a convention.
Exposition ScrapePort(uint16_t port) {
  const HttpAnswer a = HttpGet(port, "/metrics");
  auto e = ParseExposition(a.body);
  EXPECT_TRUE(e) << "status " << a.status << ": " << (e ? "" : e.error().message());
  if (!e) return {};
  EXPECT_THAT(ConventionViolations(*e), IsEmpty());
  return std::move(*e);
}

double ValueOr(const Exposition& e, const std::string& name, const LabelSet& labels, double absent) {
  return e.Value(name, labels).value_or(absent);
}

// Three brokers, RF 3: each broker's view of the cluster, a group's lag as
// its coordinator computes it from replicas it does not lead, and what a
// broker's death does to under-replicated and offline partitions.
TEST(BrokerMetricsCluster, ClusterViewLagAndUnderReplicatedPartitions) {
  auto cluster = BrokerCluster::Start({.admin_http = true});
  ASSERT_TRUE(cluster) << cluster.error().ToString();
  auto& c = **cluster;
  ASSERT_TRUE(c.admin().CreateTopic("c", {.partitions = 3, .replication_factor = 3}));
  ASSERT_TRUE(c.AwaitHealthy(seconds(30)));
  {
    ProducerOptions popts;
    popts.client = c.Client();
    auto producer = Producer::Create(popts);
    ASSERT_TRUE(producer) << producer.error().ToString();
    for (int32_t p = 0; p < 3; ++p) {
      for (int i = 0; i < 10; ++i) ASSERT_TRUE((*producer)->Send("c", std::nullopt, "v", nullptr, std::nullopt, p));
    }
    ASSERT_TRUE((*producer)->Flush(seconds(30)));
  }
  // A group without members whose committed offsets sit just after each
  // partition's first batch (the leader's no-op): 10 records of lag each.
  for (int32_t p = 0; p < 3; ++p) {
    auto reset = c.admin().ResetOffsets("idle", "c", {.kind = OffsetResetSpec::Kind::kOffset, .value = 1}, p);
    ASSERT_TRUE(reset) << reset.error().ToString();
  }

  // Exactly one broker coordinates the group; it knows every partition's
  // lag (each has a replica there, led or followed) once its followers'
  // high watermarks caught up.
  const auto deadline = Clock::now() + seconds(20);
  int coordinators = 0;
  double lag = 0;
  for (;;) {
    coordinators = 0;
    lag = 0;
    for (int b = 0; b < 3; ++b) {
      const Exposition e = ScrapePort(c.broker(b).http_port());
      if (!e.Value("telemq_broker_group_members", {{"group", "idle"}})) continue;
      ++coordinators;
      EXPECT_EQ(ValueOr(e, "telemq_broker_group_members", {{"group", "idle"}}, -1), 0);
      EXPECT_EQ(ValueOr(e, "telemq_broker_group_lag_unknown_partitions", {{"group", "idle"}}, -1), 0);
      for (int32_t p = 0; p < 3; ++p) {
        lag += ValueOr(e, "telemq_broker_group_lag",
                       {{"group", "idle"}, {"topic", "c"}, {"partition", std::to_string(p)}}, 0);
      }
    }
    if ((coordinators == 1 && lag == 30) || Clock::now() > deadline) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(coordinators, 1);
  EXPECT_EQ(lag, 30);

  // Every broker sees the 3 + 4 partitions (c and __consumer_offsets) led,
  // by someone; nothing offline or under-replicated; one controller leader.
  int controller_leaders = 0;
  for (int b = 0; b < 3; ++b) {
    const Exposition e = ScrapePort(c.broker(b).http_port());
    double led = 0;
    for (const auto* s : e.Samples("telemq_broker_partitions_led")) led += s->value;
    EXPECT_EQ(led, 7) << "broker " << b;
    EXPECT_EQ(ValueOr(e, "telemq_broker_offline_partitions", {}, -1), 0) << "broker " << b;
    EXPECT_EQ(ValueOr(e, "telemq_broker_under_replicated_partitions", {}, -1), 0) << "broker " << b;
    controller_leaders += static_cast<int>(ValueOr(e, "telemq_broker_controller_is_leader", {}, 0));
    EXPECT_EQ(ValueOr(e, "telemq_broker_partition_replicas", {{"topic", "c"}, {"partition", "0"}}, -1), 3);
  }
  EXPECT_EQ(controller_leaders, 1);

  // Broker 2 dies: the survivors take over its leaderships, and every
  // partition (each has a replica on broker 2), the controller log's too,
  // turns under-replicated on its leader once broker 2 falls out of the
  // in-sync window (10 s).
  c.Kill9(2);
  const auto after = Clock::now() + seconds(30);
  double under = 0, offline = 0, led_by_2 = 0;
  for (;;) {
    under = offline = led_by_2 = 0;
    for (int b = 0; b < 2; ++b) {
      const Exposition e = ScrapePort(c.broker(b).http_port());
      under += ValueOr(e, "telemq_broker_under_replicated_partitions", {}, 0);
      offline += ValueOr(e, "telemq_broker_offline_partitions", {}, 0);
      led_by_2 += ValueOr(e, "telemq_broker_partitions_led", {{"broker", "2"}}, 0);
    }
    if ((under == 7 + 1 && offline == 0 && led_by_2 == 0) || Clock::now() > after) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(under, 7 + 1);
  EXPECT_EQ(offline, 0);
  EXPECT_EQ(led_by_2, 0);
}

}  // namespace
}  // namespace telemq::testing
