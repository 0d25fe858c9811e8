#pragma once
// The broker's network front end: accepts TCP connections on a small fixed
// pool of Asio threads (never a thread per connection), reads frames with
// size limits before allocation, applies backpressure (per-connection
// in-flight limit, broker-wide produce-memory budget: a connection over
// budget simply stops reading), and answers pipelined requests strictly in
// order. Start()/Stop(); Stop() stops accepting, lets in-flight requests
// finish within the grace period, then closes the broker's logs cleanly.

#include <cstdint>
#include <memory>

#include "broker/server/config.h"
#include "telemq/common/result.h"

namespace telemq::broker {

class Server {
 public:
  explicit Server(BrokerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the broker state, binds the listener, starts the I/O threads.
  [[nodiscard]] Result<void> Start();
  // Blocks until Stop() is called from another thread or a signal arrives.
  void Wait();
  // Graceful stop: no new connections, in-flight requests answered, logs
  // synced and marked clean. Idempotent.
  [[nodiscard]] Result<void> Stop();
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::broker
