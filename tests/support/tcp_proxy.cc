#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <string>
#include <vector>

namespace telemq::testing {

namespace {

constexpr size_t kMaxBuffered = 1 << 20;  // per direction; beyond it the proxy stops reading

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Closing with a zero linger sends RST: the peer sees "connection reset" at
// once, the harshest way a connection can die.
void CloseWithReset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(fd);
}

// One proxied connection: fd[0] the client side, fd[1] the broker side;
// out[i] holds bytes waiting to be written to fd[i].
struct Pipe {
  int fd[2] = {-1, -1};
  std::string out[2];
  bool eof[2] = {false, false};  // fd[i] has sent EOF
  bool dead = false;
};

}  // namespace

Result<std::unique_ptr<TcpProxy>> TcpProxy::Start(uint16_t target_port) {
  std::unique_ptr<TcpProxy> p(new TcpProxy());
  p->target_port_ = target_port;
  p->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return Fail(Errc::kIo, std::string("socket: ") + std::strerror(errno));
  auto addr = Loopback(0);
  if (::bind(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(p->listen_fd_, 64) != 0) {
    return Fail(Errc::kIo, std::string("bind/listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(p->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  p->port_ = ntohs(addr.sin_port);
  SetNonBlocking(p->listen_fd_);
  if (::pipe2(p->wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Fail(Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  p->thread_ = std::thread([raw = p.get()] { raw->Loop(); });
  return p;
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (wake_fds_[1] >= 0) (void)!::write(wake_fds_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

int TcpProxy::SeverAll() {
  std::unique_lock lock(mu_);
  const uint64_t ticket = ++sever_requested_;
  (void)!::write(wake_fds_[1], "x", 1);
  // The loop answers within one poll round; the bound only guards a bug.
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return sever_done_ >= ticket; });
  return last_severed_;
}

void TcpProxy::Loop() {
  std::list<Pipe> pipes;
  std::vector<char> buf(64 * 1024);
  while (!stop_) {
    std::vector<pollfd> fds{{wake_fds_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    std::vector<std::pair<Pipe*, int>> owners;
    for (auto& p : pipes) {
      for (int i = 0; i < 2; ++i) {
        short events = 0;
        // Read from side i only while the other side's buffer has room.
        if (!p.eof[i] && p.out[1 - i].size() < kMaxBuffered) events |= POLLIN;
        if (!p.out[i].empty()) events |= POLLOUT;
        fds.push_back({p.fd[i], events, 0});
        owners.emplace_back(&p, i);
      }
    }
    if (::poll(fds.data(), fds.size(), 200) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (::read(wake_fds_[0], drain, sizeof(drain)) > 0) {
      }
    }
    {
      std::lock_guard lock(mu_);
      if (sever_done_ < sever_requested_) {
        for (auto& p : pipes) {
          CloseWithReset(p.fd[0]);
          CloseWithReset(p.fd[1]);
        }
        last_severed_ = static_cast<int>(pipes.size());
        pipes.clear();
        sever_done_ = sever_requested_;
        cv_.notify_all();
        continue;  // the fds polled above are closed now
      }
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) break;
        const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const uint16_t target = target_port_.load();
        auto addr = Loopback(target);
        // A blocking connect on loopback completes or fails at once.
        if (upstream < 0 || target == 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
          if (upstream >= 0) ::close(upstream);
          CloseWithReset(client);
          continue;
        }
        int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        SetNonBlocking(client);
        SetNonBlocking(upstream);
        Pipe& p = pipes.emplace_back();
        p.fd[0] = client;
        p.fd[1] = upstream;
        ++accepted_;
      }
    }
    for (size_t k = 0; k < owners.size(); ++k) {
      auto [p, i] = owners[k];
      const short rev = fds[k + 2].revents;
      if (p->dead || rev == 0) continue;
      if (rev & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::read(p->fd[i], buf.data(), buf.size());
        if (n > 0) {
          p->out[1 - i].append(buf.data(), static_cast<size_t>(n));
        } else if (n == 0) {
          p->eof[i] = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          p->dead = true;
        }
      }
      if (!p->dead && !p->out[i].empty() && (rev & POLLOUT)) {
        const ssize_t n = ::send(p->fd[i], p->out[i].data(), p->out[i].size(), MSG_NOSIGNAL);
        if (n > 0) {
          p->out[i].erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          p->dead = true;
        }
      }
    }
    // Flush opportunistically what was just read, and retire finished pipes:
    // one side closed and everything it sent has been delivered.
    for (auto it = pipes.begin(); it != pipes.end();) {
      Pipe& p = *it;
      for (int i = 0; i < 2 && !p.dead; ++i) {
        if (p.out[i].empty()) continue;
        const ssize_t n = ::send(p.fd[i], p.out[i].data(), p.out[i].size(), MSG_NOSIGNAL);
        if (n > 0) p.out[i].erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EINTR) p.dead = true;
      }
      const bool drained = (p.eof[0] && p.out[1].empty()) || (p.eof[1] && p.out[0].empty());
      if (p.dead || drained) {
        CloseWithReset(p.fd[0]);
        CloseWithReset(p.fd[1]);
        it = pipes.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : pipes) {
    CloseWithReset(p.fd[0]);
    CloseWithReset(p.fd[1]);
  }
}

}  // namespace telemq::testing
