#include "tests/support/broker_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace telemq::testing {

namespace {

using std::chrono::milliseconds;

// Whether 127.0.0.1:port can be bound now (then released at once).
bool PortFree(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// An ephemeral port chosen by the kernel, released at once.
std::optional<uint16_t> KernelPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  std::optional<uint16_t> port;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// The lower bound of the kernel's ephemeral port range (32768 if unknown).
int EphemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (in >> low && low > 0) return low;
  return 32768;
}

milliseconds Remaining(std::chrono::steady_clock::time_point deadline) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
}

}  // namespace

Result<std::vector<uint16_t>> PickFreePorts(int count) {
  // Below the ephemeral range, no outgoing connection (ours, the brokers')
  // is given one of these ports before its broker binds it.
  constexpr int kLowest = 20000;
  const int high = EphemeralLow() - 1;
  std::mt19937 rng(std::random_device{}());
  std::set<uint16_t> chosen;
  for (int attempt = 0; attempt < 1000 && static_cast<int>(chosen.size()) < count; ++attempt) {
    std::optional<uint16_t> port;
    if (high - kLowest > 1000) {
      port = static_cast<uint16_t>(std::uniform_int_distribution<int>(kLowest, high)(rng));
      if (!PortFree(*port)) port.reset();
    } else {
      port = KernelPort();
    }
    if (port) chosen.insert(*port);
  }
  if (static_cast<int>(chosen.size()) < count) return Fail(Errc::kIo, "no free ports on 127.0.0.1");
  std::vector<uint16_t> out(chosen.begin(), chosen.end());
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

Result<std::unique_ptr<BrokerCluster>> BrokerCluster::Start(ClusterOptions options) {
  if (options.brokers < 1) return Fail(Errc::kInvalidArgument, "a cluster needs a broker");
  std::unique_ptr<BrokerCluster> cluster(new BrokerCluster(std::move(options)));
  const auto deadline = std::chrono::steady_clock::now() + cluster->options_.ready_timeout;
  Error last = Error(Errc::kIo, "not started");
  for (int attempt = 0; attempt < 3; ++attempt) {
    TELEMQ_ASSIGN_OR_RETURN(auto ports, PickFreePorts(cluster->options_.brokers));
    auto started = cluster->TryStart(ports);
    if (started) break;
    last = started.error();
    cluster->brokers_.clear();  // kills whatever did start
    cluster->proxies_.clear();
    // Only a lost port race is worth another try; a timeout is not.
    if (last.code() == Errc::kTimeout) return tl::unexpected(last);
  }
  if (cluster->brokers_.empty()) return tl::unexpected(last);
  TELEMQ_ASSIGN_OR_RETURN(cluster->admin_, Admin::Create(cluster->Client()));
  for (const auto& address : cluster->addresses()) {
    ClientOptions only = cluster->Client();
    only.bootstrap_servers = {address};
    only.request_timeout = std::chrono::seconds(2);
    TELEMQ_ASSIGN_OR_RETURN(auto observer, Admin::Create(only));
    cluster->observers_.push_back(std::move(observer));
  }
  TELEMQ_TRY(cluster->AwaitHealthy(Remaining(deadline)));
  return cluster;
}

Result<void> BrokerCluster::TryStart(const std::vector<uint16_t>& ports) {
  const int n = options_.brokers;
  ports_ = ports;
  cut_.assign(n, false);
  cut_pairs_.clear();
  proxies_.clear();
  proxies_.resize(n);
  for (int i = 0; i < n; ++i) {
    proxies_[i].resize(n);
    if (options_.links != LinkMode::kProxied) continue;
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      TELEMQ_ASSIGN_OR_RETURN(proxies_[i][j], TcpProxy::Start(ports_[j]));
    }
  }
  brokers_.clear();
  for (int i = 0; i < n; ++i) {
    std::string peers;
    for (int j = 0; j < n; ++j) {
      if (j > 0) peers += ",";
      peers += (proxies_[i][j] ? proxies_[i][j]->address() : "127.0.0.1:" + std::to_string(ports_[j]));
    }
    BrokerOptions bo;
    bo.port = ports_[i];
    bo.ready_timeout = options_.ready_timeout;
    bo.admin_http = options_.admin_http;
    bo.args = {"--node-id", std::to_string(i),      "--peers",
               peers,       "--offsets-partitions", std::to_string(options_.offsets_partitions)};
    bo.args.insert(bo.args.end(), options_.args.begin(), options_.args.end());
    TELEMQ_ASSIGN_OR_RETURN(auto broker, BrokerProcess::Spawn(std::move(bo)));
    brokers_.push_back(std::move(broker));
  }
  for (int i = 0; i < n; ++i) {
    if (auto ready = brokers_[i]->AwaitReady(); !ready) {
      return Fail(ready.error().code(), "broker " + std::to_string(i) + ": " + ready.error().ToString());
    }
  }
  return Ok();
}

BrokerCluster::~BrokerCluster() {
  observers_.clear();
  admin_.reset();
  brokers_.clear();
}

std::vector<std::string> BrokerCluster::addresses() const {
  std::vector<std::string> out;
  for (uint16_t p : ports_) out.push_back("127.0.0.1:" + std::to_string(p));
  return out;
}

ClientOptions BrokerCluster::Client() const {
  ClientOptions o;
  o.bootstrap_servers = addresses();
  o.client_id = "telemq-cluster-test";
  o.request_timeout = std::chrono::seconds(10);
  o.connect_timeout = std::chrono::seconds(2);
  o.retry_backoff = milliseconds(50);
  return o;
}

void BrokerCluster::Kill9(int i) { brokers_.at(i)->Kill9(); }

Result<ExitStatus> BrokerCluster::Terminate(int i, milliseconds timeout) { return brokers_.at(i)->Terminate(timeout); }

Result<void> BrokerCluster::Restart(int i) {
  TELEMQ_TRY(brokers_.at(i)->Restart(RestartPort::kSame));
  TELEMQ_ASSIGN_OR_RETURN(auto d, AwaitDescription(
                                      [&](const ClusterDescription& d) {
                                        return std::any_of(
                                            d.brokers.begin(), d.brokers.end(),
                                            [&](const BrokerDescription& b) { return b.id == i && b.live; });
                                      },
                                      options_.ready_timeout, "broker " + std::to_string(i) + " live again"));
  (void)d;
  return Ok();
}

void BrokerCluster::SetLink(int from, int to, bool up) {
  TcpProxy& proxy = *proxies_[from][to];
  if (up) {
    proxy.set_target_port(ports_[to]);
  } else {
    proxy.set_target_port(0);  // new connections are reset
    proxy.SeverAll();
  }
}

Result<void> BrokerCluster::CutLinks(int i) {
  if (options_.links != LinkMode::kProxied) return Fail(Errc::kInvalidArgument, "links are not proxied");
  cut_.at(i) = true;
  for (int j = 0; j < size(); ++j) {
    if (j == i) continue;
    SetLink(i, j, false);
    SetLink(j, i, false);
  }
  return Ok();
}

Result<void> BrokerCluster::HealLinks(int i) {
  if (options_.links != LinkMode::kProxied) return Fail(Errc::kInvalidArgument, "links are not proxied");
  cut_.at(i) = false;
  for (int j = 0; j < size(); ++j) {
    if (j == i || cut_[j] || cut_pairs_.count({std::min(i, j), std::max(i, j)})) continue;
    SetLink(i, j, true);
    SetLink(j, i, true);
  }
  return Ok();
}

Result<void> BrokerCluster::CutLinkBetween(int a, int b) {
  if (options_.links != LinkMode::kProxied) return Fail(Errc::kInvalidArgument, "links are not proxied");
  if (a == b || a < 0 || b < 0 || a >= size() || b >= size()) return Fail(Errc::kInvalidArgument, "not a pair");
  cut_pairs_.insert({std::min(a, b), std::max(a, b)});
  SetLink(a, b, false);
  SetLink(b, a, false);
  return Ok();
}

Result<void> BrokerCluster::HealLinkBetween(int a, int b) {
  if (options_.links != LinkMode::kProxied) return Fail(Errc::kInvalidArgument, "links are not proxied");
  if (a == b || a < 0 || b < 0 || a >= size() || b >= size()) return Fail(Errc::kInvalidArgument, "not a pair");
  cut_pairs_.erase({std::min(a, b), std::max(a, b)});
  if (cut_.at(a) || cut_.at(b)) return Ok();
  SetLink(a, b, true);
  SetLink(b, a, true);
  return Ok();
}

Result<ClusterDescription> BrokerCluster::Describe() {
  std::optional<ClusterDescription> merged;
  std::map<std::pair<std::string, int32_t>, PartitionDescription*> partitions;
  Error last(Errc::kIo, "no broker running");
  for (int i = 0; i < size(); ++i) {
    if (!brokers_[i]->running()) continue;
    const auto asked_at = std::chrono::steady_clock::now();
    auto d = observers_[i]->DescribeCluster();
    const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - asked_at);
    if (took > milliseconds(1000) && std::getenv("TELEMQ_TEST_VERBOSE") != nullptr) {
      std::fprintf(stderr, "[cluster] metadata through broker %d took %lld ms (%s)\n", i,
                   static_cast<long long>(took.count()), d ? "ok" : d.error().ToString().c_str());
    }
    if (!d) {
      last = d.error();
      continue;
    }
    if (!merged) {
      merged = std::move(*d);
      for (auto& t : merged->topics) {
        for (auto& p : t.partitions) partitions[{t.name, p.partition}] = &p;
      }
      continue;
    }
    if (d->controller_term > merged->controller_term ||
        (d->controller_term == merged->controller_term && merged->controller_id < 0)) {
      merged->controller_id = d->controller_id;
      merged->controller_term = d->controller_term;
      merged->brokers = d->brokers;
    }
    for (auto& t : d->topics) {
      auto topic = std::find_if(merged->topics.begin(), merged->topics.end(),
                                [&](const TopicDescription& m) { return m.name == t.name; });
      if (topic == merged->topics.end()) {
        merged->topics.push_back(t);
        // The vector may have moved its elements: index every partition again.
        partitions.clear();
        for (auto& mt : merged->topics) {
          for (auto& mp : mt.partitions) partitions[{mt.name, mp.partition}] = &mp;
        }
        continue;
      }
      for (auto& p : t.partitions) {
        auto it = partitions.find({t.name, p.partition});
        if (it == partitions.end()) continue;
        PartitionDescription& m = *it->second;
        const bool newer = p.leader_term > m.leader_term ||
                           (p.leader_term == m.leader_term && (m.leader < 0 || (m.isr.empty() && !p.isr.empty())));
        if (newer) m = p;
      }
    }
  }
  if (!merged) return tl::unexpected(last);
  return *merged;
}

Result<ClusterDescription> BrokerCluster::AwaitDescription(const std::function<bool(const ClusterDescription&)>& done,
                                                           milliseconds timeout, const std::string& what) {
  std::optional<ClusterDescription> found;
  std::string last = "no answer";
  // $TELEMQ_TEST_VERBOSE: print what is awaited, once a second.
  const bool verbose = std::getenv("TELEMQ_TEST_VERBOSE") != nullptr;
  const auto start = std::chrono::steady_clock::now();
  auto next_print = start + std::chrono::seconds(1);
  WaitFor(
      [&] {
        auto d = Describe();
        if (!d) {
          last = d.error().ToString();
        } else if (done(*d)) {
          found = std::move(*d);
          return true;
        } else {
          last = Format(*d);
        }
        if (verbose && std::chrono::steady_clock::now() >= next_print) {
          next_print += std::chrono::seconds(1);
          std::fprintf(stderr, "[cluster] awaiting %s for %lld ms; now:\n%s", what.c_str(),
                       static_cast<long long>(
                           std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count()),
                       last.c_str());
        }
        return false;
      },
      timeout);
  if (!found) {
    return Fail(Errc::kTimeout, "not " + what + " after " + std::to_string(timeout.count()) + " ms; last:\n" + last);
  }
  return *found;
}

bool BrokerCluster::Healthy(const ClusterDescription& d) const {
  if (d.controller_id < 0) return false;
  for (int i = 0; i < size(); ++i) {
    if (!brokers_[i]->running()) return false;
    const bool live = std::any_of(d.brokers.begin(), d.brokers.end(),
                                  [&](const BrokerDescription& b) { return b.id == i && b.live; });
    if (!live) return false;
  }
  bool offsets_topic = false;
  for (const auto& t : d.topics) {
    if (t.name == "__consumer_offsets") {
      offsets_topic = static_cast<int32_t>(t.partitions.size()) == options_.offsets_partitions;
    }
    for (const auto& p : t.partitions) {
      if (p.leader < 0 || p.leader >= size() || p.replicas.empty()) return false;
      if (p.isr.size() != p.replicas.size()) return false;
    }
  }
  return offsets_topic;
}

Result<ClusterDescription> BrokerCluster::AwaitHealthy(milliseconds timeout) {
  return AwaitDescription([&](const ClusterDescription& d) { return Healthy(d); }, timeout,
                          "healthy (all brokers live, every partition led, all replicas in sync)");
}

Result<ClusterDescription> BrokerCluster::AwaitCaughtUp(milliseconds timeout) {
  std::map<std::pair<std::string, int32_t>, std::set<int32_t>> seen_in_sync;
  return AwaitDescription(
      [&](const ClusterDescription& d) {
        if (d.controller_id < 0) return false;
        for (int i = 0; i < size(); ++i) {
          const bool live = std::any_of(d.brokers.begin(), d.brokers.end(),
                                        [&](const BrokerDescription& b) { return b.id == i && b.live; });
          if (!brokers_[i]->running() || !live) return false;
        }
        bool all = true;
        for (const auto& t : d.topics) {
          for (const auto& p : t.partitions) {
            if (p.leader < 0 || p.leader >= size() || p.replicas.empty()) return false;
            auto& seen = seen_in_sync[{t.name, p.partition}];
            seen.insert(p.isr.begin(), p.isr.end());
            for (int32_t r : p.replicas) all = all && seen.count(r) > 0;
          }
        }
        return all;
      },
      timeout, "caught up (all brokers live, every partition led, every replica seen in sync)");
}

Result<LeaderInfo> BrokerCluster::LeaderOf(const std::string& topic, int32_t partition) {
  TELEMQ_ASSIGN_OR_RETURN(auto d, Describe());
  for (const auto& t : d.topics) {
    if (t.name != topic) continue;
    for (const auto& p : t.partitions) {
      if (p.partition == partition) return LeaderInfo{p.leader, p.leader_term};
    }
  }
  return Fail(Errc::kNotFound, topic + "/" + std::to_string(partition) + " not in metadata");
}

Result<LeaderInfo> BrokerCluster::AwaitLeader(const std::string& topic, int32_t partition, milliseconds timeout,
                                              std::optional<int32_t> other_than) {
  LeaderInfo found;
  TELEMQ_ASSIGN_OR_RETURN(auto d, AwaitDescription(
                                      [&](const ClusterDescription& d) {
                                        for (const auto& t : d.topics) {
                                          if (t.name != topic) continue;
                                          for (const auto& p : t.partitions) {
                                            if (p.partition != partition || p.leader < 0 || p.leader >= size())
                                              continue;
                                            if (other_than && p.leader == *other_than) continue;
                                            if (!brokers_[p.leader]->running()) continue;
                                            found = {p.leader, p.leader_term};
                                            return true;
                                          }
                                        }
                                        return false;
                                      },
                                      timeout, "a leader of " + topic + "/" + std::to_string(partition)));
  (void)d;
  return found;
}

std::string BrokerCluster::Format(const ClusterDescription& d) {
  std::ostringstream s;
  s << "controller " << d.controller_id << " term " << d.controller_term << "\n";
  for (const auto& b : d.brokers) s << "  broker " << b.id << " " << (b.live ? "up" : "down") << "\n";
  auto ids = [](const std::vector<int32_t>& v) {
    std::ostringstream out;
    for (size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << v[i];
    return out.str();
  };
  for (const auto& t : d.topics) {
    for (const auto& p : t.partitions) {
      s << "  " << t.name << "/" << p.partition << " leader " << p.leader << " term " << p.leader_term << " replicas "
        << ids(p.replicas) << " isr " << ids(p.isr) << "\n";
    }
  }
  return s.str();
}

}  // namespace telemq::testing
