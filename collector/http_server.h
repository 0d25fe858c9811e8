#pragma once
// HttpServer: the collector's HTTP endpoint (cpp-httplib, a thread pool):
// the internal API of http_api.h under /internal/v1/, /metrics (Prometheus)
// and /healthz. Reads run on the pool's threads, concurrently with the
// consumer loop. Bind() before the group join, so the advertised endpoint
// names a port that already accepts connections.
//
// Threads: Bind/Start/Stop from one owner thread; handlers on the pool.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "collector/http_api.h"
#include "telemq/common/metrics.h"
#include "telemq/common/result.h"

namespace telemq::collector {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: ephemeral
  // Concurrent connections served: httplib gives each kept-alive connection a
  // thread while it is open, so this should exceed the gateways' pooled
  // connections to this collector.
  int threads = 32;
};

class HttpServer {
 public:
  // `healthy` answers /healthz (200 when true, 503 otherwise). `dir`,
  // `registry` and `healthy` must outlive the server.
  HttpServer(const PartitionDirectory& dir, metrics::Registry& registry, std::function<bool()> healthy);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the bound port. Connections queue until Start.
  [[nodiscard]] Result<uint16_t> Bind(const HttpServerOptions& options);
  // Serves on a background thread.
  void Start();
  // Stops accepting, finishes requests in progress, joins. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::collector
