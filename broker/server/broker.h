#pragma once
// The broker's request handling: topics and their partitions, produce (with
// idempotence and group-committed fsync), fetch (long poll), list offsets,
// metadata, topic admin and producer ids. Transport-agnostic: the network
// server (server.h) hands it verified frames and sends what it replies.
//
// Threading: Handle() may be called from any I/O thread concurrently; each
// partition is guarded by its own mutex (short critical sections: the append
// itself). `reply` is called exactly once, possibly on another thread (the
// flusher after an fsync, a timer after a long poll).

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "broker/server/config.h"
#include "telemq/common/result.h"
#include "telemq/wire/frame.h"

namespace asio {
class io_context;
}

namespace telemq::broker {

struct Response {
  flatbuffers::DetachedBuffer body;
  std::vector<std::byte> payload;  // raw record batches after the body
  bool close_after = false;        // protocol violation: close once sent
};
using Reply = std::function<void(Response)>;

class Broker {
 public:
  // Opens (or creates) the data directory: metadata store, every partition
  // log (with crash recovery), idempotence state rebuilt from the logs.
  static Result<std::unique_ptr<Broker>> Open(const BrokerConfig& config, asio::io_context& io);
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

  struct Impl;  // opaque; public so helpers in broker.cc can name it

 private:
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A response whose body is the message just finished in `b` (no payload).
Response FinishResponse(flatbuffers::FlatBufferBuilder& b);

// Builds the body of an ErrorResponse (frame-level failures).
Response MakeErrorResponse(Errc code, const std::string& message, bool close_after);

}  // namespace telemq::broker
