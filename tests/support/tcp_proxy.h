#pragma once
// TcpProxy: forwards connections from 127.0.0.1:<ephemeral> to
// 127.0.0.1:<target_port>, and can drop every live connection at once to
// simulate a network failure in the middle of requests.
//
// One thread inside runs a poll() loop over all sockets (non-blocking, with
// bounded per-direction buffers, so a slow reader never stalls the others).
// Public methods are thread-safe. The destructor stops the thread and closes
// every socket.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "telemq/common/result.h"

namespace telemq::testing {

class TcpProxy {
 public:
  // target_port 0: connections are refused until set_target_port() (lets a
  // broker be started knowing the proxy's port, to advertise it).
  [[nodiscard]] static Result<std::unique_ptr<TcpProxy>> Start(uint16_t target_port = 0);
  void set_target_port(uint16_t port) { target_port_ = port; }
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Resets (RST) both sides of every connection open now; new connections
  // are accepted as before. Returns once done, with how many were dropped.
  int SeverAll();
  // Connections accepted so far (each client reconnect adds one).
  int accepted() const { return accepted_.load(); }

 private:
  TcpProxy() = default;
  void Loop();

  std::atomic<uint16_t> target_port_{0};
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t sever_requested_ = 0;  // guarded by mu_
  uint64_t sever_done_ = 0;       // guarded by mu_
  int last_severed_ = 0;          // guarded by mu_
};

}  // namespace telemq::testing
