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
// Threading: Handle() may be called from any I/O thread concurrently; each
// partition is guarded by its own mutex (short critical sections: the append
// itself). `reply` is called exactly once, possibly on another thread (the
// flusher after an fsync, a timer after a long poll).

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
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

class Broker {
 public:
  // Opens (or creates) the data directory: metadata store, every partition
  // log (with crash recovery), idempotence state rebuilt from the logs.
  // `file_system` (not owned; default: the process's POSIX file system) is
  // where every partition log lives; tests pass a fault-injecting one.
  static Result<std::unique_ptr<Broker>> Open(const BrokerConfig& config, asio::io_context& io,
                                              storage::FileSystem* file_system = nullptr);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Sets the address advertised in metadata (known once the listener is bound).
  void SetAdvertisedAddress(std::string host, uint16_t port);
  void Handle(const wire::RequestHeader& header, std::span<const std::byte> body, std::span<std::byte> payload,
              Reply reply);
  // Applies retention to every partition; called periodically by the server.
  void RunRetention();
  // Expires group members whose session ran out; called periodically.
  void RunGroupTick();
  // Syncs and closes every log, marking the shutdown clean. No Handle() may
  // run concurrently or afterwards.
  [[nodiscard]] Result<void> Close();

 private:
  explicit Broker(std::unique_ptr<BrokerState> state);
  std::unique_ptr<BrokerState> state_;
};

}  // namespace telemq::broker
