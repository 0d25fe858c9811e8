#include "tests/support/raw_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

namespace telemq::testing {

Result<RawConnection> RawConnection::Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(Errc::kIo, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return Fail(Errc::kIo, "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(err));
  }
  return RawConnection(fd);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> RawConnection::Send(std::span<const std::byte> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errc::kDisconnected, std::string("send: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return Ok();
}

Result<void> RawConnection::ReadExactly(std::span<std::byte> out, std::chrono::steady_clock::time_point deadline) {
  size_t done = 0;
  while (done < out.size()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Fail(Errc::kTimeout, "no complete response in time");
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return Fail(Errc::kTimeout, "no complete response in time");
    const ssize_t n = ::recv(fd_, out.data() + done, out.size() - done, 0);
    if (n == 0) return Fail(Errc::kDisconnected, "connection closed by the broker");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Fail(Errc::kDisconnected, std::string("recv: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return Ok();
}

Result<RawResponse> RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<std::byte, wire::kResponseHeaderBytes> raw;
  TELEMQ_TRY(ReadExactly(raw, deadline));
  TELEMQ_ASSIGN_OR_RETURN(auto header, wire::DecodeResponseHeader(raw, wire::kDefaultMaxFrameBytes));
  RawResponse resp;
  resp.correlation_id = header.correlation_id;
  resp.body.resize(header.body_length);
  resp.payload.resize(header.payload_length());
  TELEMQ_TRY(ReadExactly(resp.body, deadline));
  TELEMQ_TRY(ReadExactly(resp.payload, deadline));
  return resp;
}

bool RawConnection::WaitForClose(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::byte sink[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(fd_, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
}

std::vector<std::byte> EncodeRequest(wire::ApiKey api_key, uint16_t api_version, uint32_t correlation_id,
                                     std::span<const std::byte> body, std::span<const std::byte> payload) {
  std::vector<std::byte> out(wire::kRequestHeaderBytes);
  wire::EncodeRequestHeader(std::span<std::byte, wire::kRequestHeaderBytes>(out.data(), wire::kRequestHeaderBytes),
                            api_key, api_version, correlation_id, static_cast<uint32_t>(body.size()), payload.size());
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace telemq::testing
