#pragma once
// The broker's request handling: topics and their partitions, produce (with
// idempotence and group-committed fsync), fetch (long poll), list offsets,
// metadata, topic admin and producer ids. Transport-agnostic: the network
// server (server.h) hands it verified frames and sends what it replies.
//
// Handle() verifies the frame body and dispatches it through a table (ApiKey
// → handler); the handlers live in handlers/, one file per API family, and
// share the broker's state (broker_state.h).
//
// Threading: Handle() may be called from any I/O thread concurrently. Each
// partition is a replication::Replica on its own strand; handlers post to it.
// `reply` is called exactly once, possibly on another thread (a replica's
// strand once the batch is committed, a timer after a long poll).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "broker/server/config.h"
#include "broker/server/reply.h"
#include "telemq/common/result.h"
#include "telemq/wire/frame.h"

namespace asio {
class io_context;
}

namespace telemq::storage {
class FileSystem;
}

namespace telemq::broker {

struct BrokerState;
class BrokerMetrics;

// What the HTTP admin listener's /readyz reports (Broker::CheckReadiness).
struct Readiness {
  bool ready = false;
  std::string reason;     // why not ready; empty when ready
  int replicas = 0;       // partition replicas placed on this broker
  int leading = 0;        // of them, led (and served) here
  int not_caught_up = 0;  // of them, without a leader or behind their leader
  std::string example;    // one of those, e.g. "gpu.telemetry/3"
};

class Broker {
 public:
  // Opens (or creates) the data directory: metadata store, every partition
  // log (with crash recovery), idempotence state rebuilt from the logs.
  // `file_system` (not owned; default: the process's POSIX file system) is
  // where every partition log lives; tests pass a fault-injecting one.
  // `metrics` (not owned, must outlive the broker; default: a private one)
  // receives the broker's instruments and its state collector.
  static Result<std::unique_ptr<Broker>> Open(const BrokerConfig& config, asio::io_context& io,
                                              storage::FileSystem* file_system = nullptr,
                                              BrokerMetrics* metrics = nullptr);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Sets the address advertised in metadata (known once the listener is bound).
  void SetAdvertisedAddress(std::string host, uint16_t port);
  // Handles one request. `frame` owns the bytes `body` and `payload` point
  // into; handlers keep it alive for as long as they need them (a produced
  // batch is replicated straight from it).
  void Handle(const wire::RequestHeader& header, std::span<const std::byte> body, std::span<std::byte> payload,
              std::shared_ptr<const void> frame, Reply reply);
  // Applies retention to every partition; called periodically by the server.
  void RunRetention();
  // Expires group members whose session ran out; called periodically.
  void RunGroupTick();
  // One tick of every replica's Raft clock; called every raft tick, from the
  // server's tick thread (it only posts to strands).
  void RunRaftTick();
  // This broker's id (resolved at Open: configured, recorded or derived).
  int32_t id() const;
  // Starts the connections to the other brokers (the I/O threads run).
  void StartPeers();
  // Waits until the metadata names this broker and every partition placed
  // here has a leader (a single broker: leads them all, each one's no-op
  // durable), at most `timeout`. The I/O threads must be running. Returns
  // whether it got there.
  bool AwaitServing(std::chrono::milliseconds timeout);
  // Ready to take a share of the cluster's work: registered with the
  // controller, a controller leader known, and every partition replica
  // placed here caught up with its leader and able to lead (the leader
  // itself serving). Any thread; does not wait.
  Readiness CheckReadiness() const;
  // Hands leadership of every partition partition led here to an in-sync
  // follower; waits until none is led here, at most `timeout`. Takes no
  // leadership afterwards (group shards are not loaded, leaders are not
  // balanced back). Returns whether all were handed off.
  bool DrainLeadership(std::chrono::milliseconds timeout);
  // Hands leadership back to the preferred replica of each partition whose
  // preferred broker is up; called periodically.
  void BalanceLeaders();
  // Syncs and closes every log, marking the shutdown clean. No Handle() may
  // run concurrently or afterwards.
  [[nodiscard]] Result<void> Close();

 private:
  explicit Broker(std::unique_ptr<BrokerState> state);
  std::unique_ptr<BrokerState> state_;
};

}  // namespace telemq::broker
