#pragma once
// RawConnection: a blocking socket to 127.0.0.1 that speaks the telemq
// framing by hand (client/include/telemq/wire/frame.h), for tests that must
// send what no well-behaved client would. Every read is bounded by a timeout.
// One owner thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/wire/frame.h"

namespace telemq::testing {

struct RawResponse {
  uint32_t correlation_id = 0;
  std::vector<std::byte> body;
  std::vector<std::byte> payload;
};

class RawConnection {
 public:
  [[nodiscard]] static Result<RawConnection> Connect(uint16_t port);
  RawConnection(RawConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  RawConnection& operator=(RawConnection&&) = delete;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  [[nodiscard]] Result<void> Send(std::span<const std::byte> bytes);
  // The next response frame; kDisconnected when the peer closed or reset the
  // connection, kTimeout when nothing complete arrived in time.
  [[nodiscard]] Result<RawResponse> ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits until the peer closes (true) or `timeout` passes (false); data
  // that arrives meanwhile is discarded.
  bool WaitForClose(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  Result<void> ReadExactly(std::span<std::byte> out, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
};

// A request frame: header (with lengths filled in), body, payload.
std::vector<std::byte> EncodeRequest(wire::ApiKey api_key, uint16_t api_version, uint32_t correlation_id,
                                     std::span<const std::byte> body, std::span<const std::byte> payload = {});

}  // namespace telemq::testing
