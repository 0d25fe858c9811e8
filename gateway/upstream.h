#pragma once
// Upstream: GET requests to collectors' internal HTTP API over pooled
// keep-alive connections.
//
// Promises:
//  * Each endpoint has a pool of idle connections (httplib clients); a request
//    takes one or opens a new one, and gives it back when done, so concurrent
//    requests to one collector do not queue behind each other and steady
//    traffic reuses warm connections.
//  * Every request is bounded by the connect and read timeouts. Outcomes are
//    classified (connect failure, timeout, other I/O failure) so the gateway
//    can answer 503, 504 or 502 accordingly.
//  * A request that fails on a reused connection before any answer (the
//    collector closed it while idle) is retried once on a fresh connection;
//    GETs are idempotent.
// Thread-safe.

#include <chrono>
#include <memory>
#include <string>

namespace telemq::gateway {

struct UpstreamReply {
  enum class Outcome { kOk, kConnectFailed, kTimeout, kIoError };
  Outcome outcome = Outcome::kIoError;
  int status = 0;  // HTTP status when kOk
  std::string body;
  std::string error;  // when not kOk
};

struct UpstreamOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds read_timeout{5000};
  // Collectors hold a server thread per open connection: keep few idle.
  size_t max_idle_per_endpoint = 8;
};

class Upstream {
 public:
  explicit Upstream(UpstreamOptions options);
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // endpoint: "http://host:port"; target: path and query, already encoded.
  UpstreamReply Get(const std::string& endpoint, const std::string& target);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace telemq::gateway
