// The broker's HTTP admin listener (/healthz, /readyz), as Kubernetes probes
// use it: liveness answers whenever the process serves; readiness only once
// the broker is registered and every replica placed on it is caught up with
// its leader, and never for a broker cut off from its peers.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_cluster.h"
#include "tests/support/http_get.h"

namespace telemq::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Polls `port`'s `path` until it answers `status`; returns the last answer.
HttpAnswer AwaitStatus(uint16_t port, const std::string& path, int status, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  HttpAnswer a;
  for (;;) {
    a = HttpGet(port, path, seconds(2));
    if (a.status == status || Clock::now() >= deadline) return a;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

uint16_t AwaitHttpPort(const BrokerProcess& b) {
  const auto deadline = Clock::now() + seconds(10);
  while (b.http_port() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  return b.http_port();
}

TEST(AdminHttp, SingleBrokerIsLiveAndReady) {
  auto broker = BrokerProcess::Start({.admin_http = true});
  ASSERT_TRUE(broker) << broker.error().ToString();
  const uint16_t port = AwaitHttpPort(**broker);
  ASSERT_NE(port, 0);
  ASSERT_TRUE(CreateTopic((*broker)->address(), "t", {.partitions = 3}));

  const HttpAnswer live = HttpGet(port, "/healthz");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.content_type, "application/json");
  const HttpAnswer ready = AwaitStatus(port, "/readyz", 200, seconds(10));
  ASSERT_EQ(ready.status, 200) << ready.body;
  const auto body = nlohmann::json::parse(ready.body);
  EXPECT_TRUE(body["ready"].get<bool>());
  // The three partitions of t and the __consumer_offsets partitions, all led here.
  EXPECT_GE(body["replicas"].get<int>(), 4);
  EXPECT_EQ(body["leading"].get<int>(), body["replicas"].get<int>());
  EXPECT_EQ(body["not_caught_up"].get<int>(), 0);

  const HttpAnswer unknown = HttpGet(port, "/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("no route for GET /nope"), std::string::npos) << unknown.body;
}

TEST(AdminHttp, BrokerWithoutItsPeersIsLiveButNotReady) {
  // Broker 0 of a three-broker cluster whose peers never start: it cannot
  // register (no controller quorum), so it must not be ready, yet it is live
  // (a liveness probe must not restart it while it waits).
  auto broker = BrokerProcess::Spawn(
      {.args = {"--node-id", "0", "--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"}, .admin_http = true});
  ASSERT_TRUE(broker) << broker.error().ToString();
  const uint16_t port = AwaitHttpPort(**broker);
  ASSERT_NE(port, 0) << (*broker)->LogTail();
  EXPECT_EQ(AwaitStatus(port, "/healthz", 200, seconds(10)).status, 200);
  // Give it a few election timeouts to prove it stays unready.
  std::this_thread::sleep_for(seconds(3));
  const HttpAnswer ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  const auto body = nlohmann::json::parse(ready.body);
  EXPECT_FALSE(body["ready"].get<bool>());
  EXPECT_NE(body["reason"].get<std::string>().find("not registered"), std::string::npos) << ready.body;
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
}

TEST(AdminHttp, IsolatedBrokerTurnsUnreadyAndBackAfterHealing) {
  auto cluster = BrokerCluster::Start({.links = LinkMode::kProxied, .admin_http = true});
  ASSERT_TRUE(cluster) << cluster.error().ToString();
  auto& c = **cluster;
  ASSERT_TRUE(c.admin().CreateTopic("t", {.partitions = 3, .replication_factor = 3}));
  ASSERT_TRUE(c.AwaitHealthy(seconds(30))) << "cluster not healthy";
  for (int i = 0; i < 3; ++i) {
    const HttpAnswer a = AwaitStatus(c.broker(i).http_port(), "/readyz", 200, seconds(20));
    EXPECT_EQ(a.status, 200) << "broker " << i << ": " << a.body;
  }

  // Cut off from its peers, broker 2 loses every leader (its partitions'
  // followers time out; what it led steps down by check-quorum): unready,
  // still live. The other two stay ready: they hold a majority.
  ASSERT_TRUE(c.CutLinks(2));
  const HttpAnswer cut = AwaitStatus(c.broker(2).http_port(), "/readyz", 503, seconds(20));
  EXPECT_EQ(cut.status, 503) << cut.body;
  EXPECT_EQ(HttpGet(c.broker(2).http_port(), "/healthz").status, 200);
  for (int i = 0; i < 2; ++i) {
    const HttpAnswer a = AwaitStatus(c.broker(i).http_port(), "/readyz", 200, seconds(20));
    EXPECT_EQ(a.status, 200) << "broker " << i << ": " << a.body;
  }

  ASSERT_TRUE(c.HealLinks(2));
  const HttpAnswer healed = AwaitStatus(c.broker(2).http_port(), "/readyz", 200, seconds(30));
  EXPECT_EQ(healed.status, 200) << healed.body;
}

}  // namespace
}  // namespace telemq::testing
