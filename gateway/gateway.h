#pragma once
// Gateway: the public REST API of telemq (docs/gateway.md), a stateless
// router in front of the collectors.
//
// Promises:
//  * Handlers are registered from the route table (api.h); every query is
//    validated against it before anything is forwarded.
//  * A per-GPU request goes to the collector owning the GPU's partition
//    (partition = telemetry::PartitionForGpu(uuid, P), owner from the cached
//    routing table, routing_cache.h); list requests fan out to every
//    collector in parallel and say which partitions are missing.
//  * No request waits on the broker. A collector that says "not mine", or
//    cannot be reached, triggers a routing refresh; the client gets 503 with
//    Retry-After meanwhile.
// Thread-safe; Start() once, Stop() once (the destructor stops too).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::gateway {

struct GatewayOptions {
  std::vector<std::string> bootstrap{"127.0.0.1:9092"};
  std::string topic = "gpu.telemetry";
  std::string collector_group = "telemq-collectors";
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8080;  // 0: ephemeral
  int http_threads = 64;      // httplib holds one per open keep-alive connection
  // Swagger UI distribution (swagger-ui-dist); /docs answers 503 when absent.
  std::string docs_dir;
  std::chrono::milliseconds routing_refresh{1000};
  std::chrono::milliseconds upstream_timeout{5000};
  std::chrono::milliseconds upstream_connect_timeout{1000};
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the HTTP port and starts serving and refreshing routes.
  [[nodiscard]] Result<void> Start();
  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::gateway
