#pragma once
// BrokerCluster: N real telemq-broker processes on 127.0.0.1 forming one Raft
// cluster, for integration tests of replication and failover.
//
// Start() picks N free ports below the kernel's ephemeral range (so no
// outgoing connection can take one before its broker binds it), gives broker
// i `--node-id i --peers <N addresses> --port P_i`, spawns all N at once (a
// broker of a cluster waits for its peers before it announces its port) and
// returns once every broker is ready and Admin::DescribeCluster shows them
// all live, a controller leader, and every partition (__consumer_offsets
// included) led with all its replicas in sync. A port taken meanwhile fails
// a broker's start; the whole start is then retried on fresh ports.
//
// Links (LinkMode::kProxied): broker i dials peer j through its own TcpProxy
// (one per directed link i->j), so CutLinks(i) can isolate broker i from
// every peer (both directions) while clients still reach it directly: the
// proxies refuse new connections and reset the open ones until HealLinks(i).
//
// Ownership: the object owns the brokers (BrokerProcess: killed, reaped and
// their directories removed by the destructor, their log tails printed when
// the test failed) and the proxies. One owner thread: start, restart and
// destroy it on the same thread (the brokers' parent-death signal is tied to
// it). Every wait is bounded.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "telemq/admin.h"
#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "tests/support/broker_process.h"
#include "tests/support/tcp_proxy.h"

namespace telemq::testing {

// How brokers reach each other.
enum class LinkMode { kDirect, kProxied };

struct ClusterOptions {
  int brokers = 3;
  LinkMode links = LinkMode::kDirect;
  // Extra flags for every broker, e.g. {"--leader-balance-interval-ms", "0"}.
  std::vector<std::string> args;
  // Partitions of __consumer_offsets (fewer than the broker's 16: faster
  // start and readiness on a loaded machine).
  int32_t offsets_partitions = 4;
  // Every broker starts its HTTP admin listener (BrokerOptions::admin_http).
  bool admin_http = false;
  // Bound on Start() and Restart(): processes ready and the cluster healthy.
  std::chrono::milliseconds ready_timeout{40'000};
};

// A partition's leader as the cluster reports it.
struct LeaderInfo {
  int32_t broker = -1;
  int64_t term = 0;
};

class BrokerCluster {
 public:
  [[nodiscard]] static Result<std::unique_ptr<BrokerCluster>> Start(ClusterOptions options = {});
  ~BrokerCluster();
  BrokerCluster(const BrokerCluster&) = delete;
  BrokerCluster& operator=(const BrokerCluster&) = delete;

  int size() const { return static_cast<int>(brokers_.size()); }
  BrokerProcess& broker(int i) { return *brokers_.at(i); }
  // Every broker's "127.0.0.1:<port>", by id.
  std::vector<std::string> addresses() const;
  // Client options listing every broker as bootstrap server, with short
  // timeouts and backoffs suited to loopback (failures surface within a
  // test's budget; leader moves are followed quickly).
  ClientOptions Client() const;
  // An Admin over Client(), created at Start().
  Admin& admin() { return *admin_; }

  // SIGKILL of broker i, as a crash.
  void Kill9(int i);
  // SIGTERM (the broker hands its leaderships to in-sync followers, then
  // exits) and waits for its exit status.
  [[nodiscard]] Result<ExitStatus> Terminate(int i, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Starts broker i again on its port and data directory, and waits until
  // it is ready and the controller sees it live.
  [[nodiscard]] Result<void> Restart(int i);

  // kProxied only: cuts (heals) every link between broker i and its peers,
  // both directions. A link is up while neither of its ends is cut.
  [[nodiscard]] Result<void> CutLinks(int i);
  [[nodiscard]] Result<void> HealLinks(int i);
  // kProxied only: cuts (heals) the two links between brokers a and b and
  // no other (with three brokers, cutting 0-1 leaves 2 a bridge that still
  // reaches both). A link is up while neither end is cut by CutLinks and
  // its pair is not cut here.
  [[nodiscard]] Result<void> CutLinkBetween(int a, int b);
  [[nodiscard]] Result<void> HealLinkBetween(int a, int b);

  // The cluster as every running broker sees it, merged by Raft terms: the
  // controller of the highest controller term (with its broker liveness),
  // and per partition the entry of the highest leader term. Each broker is
  // asked through an Admin bootstrapped at it alone, so one broker cut off
  // from the others (whose metadata is stale and calls its peers down)
  // cannot hide the majority's view.
  [[nodiscard]] Result<ClusterDescription> Describe();
  // Polls Describe() until `done` holds for an answer; returns that answer,
  // or kTimeout naming `what` and the last answer (or error).
  [[nodiscard]] Result<ClusterDescription> AwaitDescription(const std::function<bool(const ClusterDescription&)>& done,
                                                            std::chrono::milliseconds timeout, const std::string& what);
  // Every broker running and live, a controller leader, and every partition
  // led by a broker with all its replicas in sync.
  [[nodiscard]] Result<ClusterDescription> AwaitHealthy(std::chrono::milliseconds timeout);
  // Like AwaitHealthy, but under load: each replica of each partition needs
  // to be seen in the isr in some answer since the call, not all in one
  // (a leader publishes its isr per instant, and under steady writes a
  // follower one append behind is missing from most single answers).
  [[nodiscard]] Result<ClusterDescription> AwaitCaughtUp(std::chrono::milliseconds timeout);
  // The leader of `topic`/`partition` once one is reported that is running
  // and is not `other_than` (the broker just killed or isolated).
  [[nodiscard]] Result<LeaderInfo> AwaitLeader(const std::string& topic, int32_t partition,
                                               std::chrono::milliseconds timeout,
                                               std::optional<int32_t> other_than = std::nullopt);
  // The leader now, as Describe() reports it (-1: none).
  [[nodiscard]] Result<LeaderInfo> LeaderOf(const std::string& topic, int32_t partition);

  // Whether `d` is healthy in the sense of AwaitHealthy.
  bool Healthy(const ClusterDescription& d) const;
  // One line per broker and partition, for failure messages.
  static std::string Format(const ClusterDescription& d);

 private:
  explicit BrokerCluster(ClusterOptions options) : options_(std::move(options)) {}
  Result<void> TryStart(const std::vector<uint16_t>& ports);
  void SetLink(int from, int to, bool up);

  ClusterOptions options_;
  std::vector<uint16_t> ports_;
  // proxies_[i][j]: what broker i dials to reach broker j (kProxied; null on i == j).
  std::vector<std::vector<std::unique_ptr<TcpProxy>>> proxies_;
  std::vector<bool> cut_;
  std::set<std::pair<int, int>> cut_pairs_;  // (lower id, higher id)
  // Declared after the proxies: destroyed first, so no broker dials a gone proxy.
  std::vector<std::unique_ptr<BrokerProcess>> brokers_;
  std::unique_ptr<Admin> admin_;
  std::vector<std::unique_ptr<Admin>> observers_;  // [i]: bootstrapped at broker i only
};

// Free TCP ports on 127.0.0.1, below the ephemeral range when possible
// (bound once to check, then released: a later bind may still lose a race).
[[nodiscard]] Result<std::vector<uint16_t>> PickFreePorts(int count);

}  // namespace telemq::testing
