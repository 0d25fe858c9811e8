#pragma once
// The broker's HTTP admin listener, for orchestrators and operators:
//
//   GET /healthz  200 "ok" while the process serves requests, including
//                 while it is still recovering its logs at start (a liveness
//                 probe must not kill a broker that is busy recovering).
//   GET /readyz   200 once Broker::CheckReadiness() holds: registered,
//                 a controller leader known, every replica placed here caught
//                 up and able to lead; else 503. Both answer JSON naming the
//                 reason, so `curl` tells an operator what it waits for.
//   GET /metrics  Prometheus text format 0.0.4 (broker_metrics.h), from the
//                 start: the partition, cluster and group families appear
//                 once the logs are open.
//
// It runs on its own small thread pool (cpp-httplib), never on the broker's
// I/O threads, and binds before the logs are opened.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "broker/server/broker.h"
#include "telemq/common/result.h"

namespace telemq::broker {

class AdminHttp {
 public:
  // Answers what the broker reports; `readiness` is called on the HTTP
  // threads and must be safe there. Before Attach() (logs still being
  // recovered) and after Detach() (shutting down) /readyz is 503.
  AdminHttp();
  ~AdminHttp();
  AdminHttp(const AdminHttp&) = delete;
  AdminHttp& operator=(const AdminHttp&) = delete;

  // What GET /metrics answers (called on the HTTP threads; must be safe
  // there). Set before Start(); without it /metrics is 404.
  void ServeMetrics(std::function<std::string()> render);
  // Binds host:port (0: an ephemeral port) and starts serving; returns the
  // bound port.
  [[nodiscard]] Result<uint16_t> Start(const std::string& host, uint16_t port);
  void Attach(std::function<Readiness()> readiness);
  // Readiness turns 503 with `reason` (e.g. "shutting down") from now on.
  void Detach(std::string reason);
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::broker
