#pragma once
// Options shared by Producer, Consumer and Admin: where the cluster is and
// how patiently to talk to it. Defaults suit a cluster on a local network.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace telemq {

struct ClientOptions {
  // "host:port" of one or more brokers; any one is enough to learn the rest.
  std::vector<std::string> bootstrap_servers{"127.0.0.1:9092"};
  std::string client_id = "telemq-client";
  // A request without an answer after this long fails with kTimeout and its
  // connection is dropped.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  // Largest response frame accepted (bounds client memory per response).
  uint32_t max_frame_bytes = 100u << 20;
  // Backoff between retries of a retriable failure, and metadata refreshes.
  std::chrono::milliseconds retry_backoff{100};
};

}  // namespace telemq
