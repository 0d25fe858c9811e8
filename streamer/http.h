#pragma once
// The streamer's HTTP endpoint (cpp-httplib behind a pimpl, so only http.cc
// pays for its header):
//   GET /metrics  Prometheus text (metrics::Registry::Render)
//   GET /status   {"member_assignment":[shards...],"hosts":["host-0001",...]}
//                 (both sorted): what this streamer streams now
//   GET /healthz  "ok"
// Serves on its own threads until Stop().

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "streamer/streamer.h"
#include "telemq/common/metrics.h"
#include "telemq/common/result.h"

namespace telemq::streamer {

class HttpServer {
 public:
  // Binds host:port (0 = ephemeral) and starts serving. kIo when the
  // address cannot be bound.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> Start(const std::string& host, uint16_t port,
                                                                 const metrics::Registry& registry,
                                                                 std::function<StreamerStatus()> status);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  void Stop();

 private:
  struct Impl;
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// The /status body.
std::string StatusJson(const StreamerStatus& status);

}  // namespace telemq::streamer
