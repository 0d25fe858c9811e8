#include "broker/server/server.h"

#include <array>
#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <thread>

#include "broker/server/admin_http.h"
#include "broker/server/broker.h"
#include "broker/server/broker_metrics.h"
#include "telemq/common/log.h"
#include "telemq/common/program.h"
#include "telemq/wire/frame.h"

namespace telemq::broker {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

// Broker-wide budget of produce bytes held in memory. A connection that
// cannot acquire waits (stops reading its socket), which pushes back on the
// producer through TCP flow control.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t bytes) : limit_(static_cast<int64_t>(bytes)), available_(limit_) {}
  bool TryAcquire(uint64_t n) {
    int64_t cur = available_.load();
    while (cur >= static_cast<int64_t>(n)) {
      if (available_.compare_exchange_weak(cur, cur - static_cast<int64_t>(n))) return true;
    }
    return false;
  }
  void Release(uint64_t n) { available_.fetch_add(static_cast<int64_t>(n)); }
  // Bytes held now (any thread; for metrics).
  uint64_t used() const { return static_cast<uint64_t>(std::max<int64_t>(0, limit_ - available_.load())); }

 private:
  const int64_t limit_;
  std::atomic<int64_t> available_;
};

// Counts a connection as waiting for produce memory while it lives.
class MemoryWait {
 public:
  explicit MemoryWait(BrokerMetrics& metrics) : metrics_(metrics) { metrics_.MemoryWaitStarted(); }
  ~MemoryWait() { metrics_.MemoryWaitEnded(); }
  MemoryWait(const MemoryWait&) = delete;
  MemoryWait& operator=(const MemoryWait&) = delete;

 private:
  BrokerMetrics& metrics_;
};

}  // namespace

// One client connection. All state below is touched only on `strand_`.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Broker& broker, const BrokerConfig& config, MemoryBudget& budget,
             BrokerMetrics& metrics)
      : socket_(std::move(socket)),
        strand_(socket_.get_executor()),
        wake_(strand_),
        broker_(broker),
        config_(config),
        budget_(budget),
        metrics_(metrics) {
    wake_.expires_at(asio::steady_timer::time_point::max());
    metrics_.ConnectionOpened();
  }
  ~Connection() { metrics_.ConnectionClosed(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start() {
    asio::co_spawn(
        strand_, [self = shared_from_this()]() { return self->ReadLoop(); }, asio::detached);
  }
  void Close() {
    asio::post(strand_, [self = shared_from_this()]() { self->Shutdown(); });
  }
  bool idle() const { return in_flight_.load() == 0; }

 private:
  struct Slot {
    bool ready = false;
    uint32_t correlation_id = 0;
    std::array<std::byte, wire::kResponseHeaderBytes> header{};
    Response response;
  };

  awaitable<void> ReadLoop() {
    try {
      for (;;) {
        std::array<std::byte, wire::kRequestHeaderBytes> raw;
        co_await asio::async_read(socket_, asio::buffer(raw), use_awaitable);
        auto header = wire::DecodeRequestHeader(raw, config_.max_frame_bytes);
        if (!header) {
          // The stream cannot be resynchronised after a bad length: close.
          log::Warn("closing connection: bad frame header", {{"remote", peer_}, {"error", header.error().ToString()}});
          Shutdown();
          co_return;
        }
        while (slots_.size() >= static_cast<size_t>(config_.max_in_flight_per_connection)) {
          co_await WaitForProgress();
        }
        const bool is_produce = header->api_key == wire::ApiKey::kProduce;
        const uint64_t frame_bytes = header->remaining();
        if (is_produce && !budget_.TryAcquire(frame_bytes)) {
          MemoryWait waiting(metrics_);
          do {
            asio::steady_timer t(strand_, std::chrono::milliseconds(1));
            co_await t.async_wait(use_awaitable);
          } while (!budget_.TryAcquire(frame_bytes));
        }
        // Shared: a produced batch is proposed, replicated and cached straight
        // from this buffer, which lives as long as anything references it.
        // Not zero-filled: every byte is read from the socket before use.
        std::shared_ptr<std::byte[]> frame = std::make_shared_for_overwrite<std::byte[]>(frame_bytes);
        std::error_code ec;
        // A peer that stops half-way through a frame (host gone, no FIN)
        // must not hold its share of the produce budget forever: the body
        // has to arrive within the request read timeout.
        auto deadline = std::make_shared<asio::steady_timer>(strand_, config_.frame_read_timeout);
        deadline->async_wait([self = shared_from_this()](const std::error_code& timer_ec) {
          if (!timer_ec) {
            log::Warn("closing connection: request body not received in time",
                      {{"remote", self->peer_}, {"timeout_ms", self->config_.frame_read_timeout.count()}});
            self->Shutdown();
          }
        });
        co_await asio::async_read(socket_, asio::buffer(frame.get(), frame_bytes),
                                  asio::redirect_error(use_awaitable, ec));
        deadline->cancel();
        if (ec) {
          if (is_produce) budget_.Release(frame_bytes);
          throw std::system_error(ec);
        }
        auto* slot = &slots_.emplace_back();
        slot->correlation_id = header->correlation_id;
        ++in_flight_;
        std::span<std::byte> all(frame.get(), frame_bytes);
        auto body = all.first(header->body_length);
        auto payload = all.subspan(header->body_length);
        metrics_.RequestReceived(header->api_key, wire::kRequestHeaderBytes + frame_bytes);
        broker_.Handle(*header, body, payload, frame,
                       [self = shared_from_this(), slot, budget = is_produce ? frame_bytes : 0, api = header->api_key,
                        start = std::chrono::steady_clock::now()](Response r) {
                         self->metrics_.RequestAnswered(api, std::chrono::steady_clock::now() - start, r);
                         // The produce budget covers a request until it is
                         // answered (committed or failed): the broker holds
                         // at most that many produce bytes in flight.
                         if (budget > 0) self->budget_.Release(budget);
                         // A protocol violation ends the connection: nothing
                         // read after it may be executed, since it would never
                         // be answered.
                         if (r.close_after) self->violated_ = true;
                         asio::post(self->strand_,
                                    [self, slot, r = std::move(r)]() mutable { self->Complete(slot, std::move(r)); });
                       });
        if (closing_ || violated_) co_return;
      }
    } catch (const std::system_error& e) {
      if (e.code() != asio::error::eof && e.code() != asio::error::operation_aborted) {
        log::Debug("connection read error", {{"remote", peer_}, {"error", e.what()}});
      }
    }
    Shutdown();
  }

  awaitable<void> WaitForProgress() {
    std::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  void Complete(Slot* slot, Response r) {
    slot->response = std::move(r);
    slot->ready = true;
    wire::EncodeResponseHeader(slot->header, slot->correlation_id, static_cast<uint32_t>(slot->response.body.size()),
                               slot->response.payload.size());
    Flush();
  }

  // Writes the ready prefix of the slot queue: responses leave in request order.
  void Flush() {
    if (writing_ || slots_.empty() || !slots_.front().ready || !socket_.is_open()) return;
    std::vector<asio::const_buffer> buffers;
    size_t count = 0;
    for (auto& s : slots_) {
      if (!s.ready || count == 64) break;
      buffers.emplace_back(asio::buffer(s.header));
      buffers.emplace_back(asio::buffer(s.response.body.data(), s.response.body.size()));
      if (!s.response.payload.empty()) buffers.emplace_back(asio::buffer(s.response.payload));
      ++count;
    }
    writing_ = true;
    asio::async_write(socket_, buffers,
                      asio::bind_executor(strand_, [self = shared_from_this(), count](std::error_code ec, size_t) {
                        self->writing_ = false;
                        bool close = false;
                        for (size_t i = 0; i < count; ++i) {
                          close |= self->slots_.front().response.close_after;
                          self->slots_.pop_front();
                          --self->in_flight_;
                        }
                        self->wake_.cancel();
                        if (ec || close) {
                          self->Shutdown();
                          return;
                        }
                        self->Flush();
                      }));
  }

  void Shutdown() {
    closing_ = true;
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    wake_.cancel();
  }

 public:
  void SetPeer(std::string peer) { peer_ = std::move(peer); }

 private:
  tcp::socket socket_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer wake_;  // cancelled whenever responses leave
  Broker& broker_;
  const BrokerConfig& config_;
  MemoryBudget& budget_;
  BrokerMetrics& metrics_;
  std::deque<Slot> slots_;  // deque: pointers to elements stay valid on push_back/pop_front
  bool writing_ = false;
  bool closing_ = false;
  std::atomic<bool> violated_{false};  // set by a reply that closes the connection
  std::atomic<int> in_flight_{0};
  std::string peer_;
};

struct Server::Impl {
  BrokerConfig config;
  // Before `io`, `broker` and `admin`: outlive them (connections, whose last
  // handlers go with `io`, the broker and the admin listener use both).
  BrokerMetrics metrics;
  MemoryBudget budget;
  asio::io_context io;
  std::unique_ptr<Broker> broker;
  std::unique_ptr<AdminHttp> admin;  // after `broker`: destroyed (stopped) first
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> retention_timer;
  std::unique_ptr<asio::steady_timer> group_timer;
  // The Raft clock has an io_context and thread of its own: it is never
  // queued behind request handling or disk work on the I/O threads (a tick
  // only posts to each replica's strand).
  asio::io_context tick_io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> tick_work;
  std::thread tick_thread;
  std::unique_ptr<asio::steady_timer> raft_timer;
  std::unique_ptr<asio::steady_timer> balance_timer;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::list<std::weak_ptr<Connection>> connections;  // guarded by mu
  std::condition_variable stopped_cv;
  bool stop_requested = false;  // guarded by mu
  bool stopped = false;         // guarded by mu
  uint16_t port = 0;

  explicit Impl(BrokerConfig c)
      : config(std::move(c)),
        metrics(config.produce_memory_bytes),
        budget(config.produce_memory_bytes),
        io(config.io_threads) {
    metrics.SetProduceMemoryUsed([this] { return budget.used(); });
  }

  awaitable<void> AcceptLoop() {
    for (;;) {
      std::error_code ec;
      tcp::socket socket(asio::make_strand(io));
      co_await acceptor->async_accept(socket, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        log::Warn("accept failed", {{"error", ec.message()}});
        // Out of descriptors (EMFILE) and the like: back off instead of spinning.
        asio::steady_timer backoff(acceptor->get_executor(), std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      // Detects peers that vanished without closing (with the kernel's probe timing).
      socket.set_option(asio::socket_base::keep_alive(true), ec);
      std::string peer;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
      auto conn = std::make_shared<Connection>(std::move(socket), *broker, config, budget, metrics);
      conn->SetPeer(peer);
      {
        std::lock_guard lock(mu);
        std::erase_if(connections, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
        connections.push_back(conn);
      }
      conn->Start();
    }
  }

  // Session expiry is judged at this granularity (and exactly on every
  // heartbeat and commit of the group concerned).
  void ScheduleGroupTick() {
    group_timer->expires_after(std::chrono::milliseconds(200));
    group_timer->async_wait([this](const std::error_code& ec) {
      if (ec) return;
      broker->RunGroupTick();
      ScheduleGroupTick();
    });
  }

  // The Raft clock of every replica, on the tick thread: disk work and
  // request handling on the I/O threads never delay it (each replica's
  // work runs on its strand).
  void ScheduleRaftTick() {
    raft_timer->expires_after(config.raft_tick);
    raft_timer->async_wait([this](const std::error_code& ec) {
      if (ec) return;
      broker->RunRaftTick();
      ScheduleRaftTick();
    });
  }

  void ScheduleLeaderBalance() {
    if (config.leader_balance_interval.count() == 0) return;
    balance_timer->expires_after(config.leader_balance_interval);
    balance_timer->async_wait([this](const std::error_code& ec) {
      if (ec) return;
      broker->BalanceLeaders();
      ScheduleLeaderBalance();
    });
  }

  void ScheduleRetention() {
    retention_timer->expires_after(config.retention_check_interval);
    retention_timer->async_wait([this](const std::error_code& ec) {
      if (ec) return;
      // Retention does file I/O; it runs on an I/O thread but touches each
      // partition only under that partition's own lock.
      broker->RunRetention();
      ScheduleRetention();
    });
  }
};

Server::Server(BrokerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Server::~Server() { IgnoreError(Stop(), "destructor: errors were already logged"); }

uint16_t Server::port() const { return impl_->port; }

Result<void> Server::Start() {
  auto& m = *impl_;
  if (m.config.http_port >= 0) {
    // Before the logs are opened: liveness answers while they recover.
    m.admin = std::make_unique<AdminHttp>();
    m.admin->ServeMetrics([&m] { return m.metrics.Render(); });
    const std::string host = m.config.http_host.empty() ? m.config.listen_host : m.config.http_host;
    TELEMQ_ASSIGN_OR_RETURN(auto http_port, m.admin->Start(host, static_cast<uint16_t>(m.config.http_port)));
    if (!m.config.http_port_file.empty()) WritePortFile(m.config.http_port_file, http_port);
    log::Info("admin http listening (/healthz, /readyz, /metrics)", {{"host", host}, {"port", http_port}});
  }
  TELEMQ_ASSIGN_OR_RETURN(m.broker, Broker::Open(m.config, m.io, nullptr, &m.metrics));
  m.config.node_id = m.broker->id();
  if (m.admin) m.admin->Attach([broker = m.broker.get()] { return broker->CheckReadiness(); });
  std::error_code ec;
  auto address = asio::ip::make_address(m.config.listen_host, ec);
  if (ec) return Fail(Errc::kInvalidArgument, "listen_host '" + m.config.listen_host + "': " + ec.message());
  m.acceptor = std::make_unique<tcp::acceptor>(m.io);
  tcp::endpoint endpoint(address, m.config.port);
  m.acceptor->open(endpoint.protocol(), ec);
  if (!ec) m.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor->bind(endpoint, ec);
  if (!ec) m.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(Errc::kIo,
                "cannot listen on " + m.config.listen_host + ":" + std::to_string(m.config.port) + ": " + ec.message());
  }
  m.port = m.acceptor->local_endpoint().port();
  m.broker->SetAdvertisedAddress(m.config.advertised_host.empty() ? m.config.listen_host : m.config.advertised_host,
                                 m.config.advertised_port != 0 ? m.config.advertised_port : m.port);
  m.work.emplace(m.io.get_executor());
  asio::co_spawn(m.io, m.AcceptLoop(), asio::detached);
  m.retention_timer = std::make_unique<asio::steady_timer>(m.io);
  m.ScheduleRetention();
  m.group_timer = std::make_unique<asio::steady_timer>(m.io);
  m.ScheduleGroupTick();
  m.raft_timer = std::make_unique<asio::steady_timer>(m.tick_io);
  m.ScheduleRaftTick();
  m.tick_work.emplace(m.tick_io.get_executor());
  m.tick_thread = std::thread([&m]() { m.tick_io.run(); });
  m.balance_timer = std::make_unique<asio::steady_timer>(m.io);
  m.ScheduleLeaderBalance();
  for (int i = 0; i < m.config.io_threads; ++i) {
    m.threads.emplace_back([&m]() { m.io.run(); });
  }
  m.broker->StartPeers();
  // Ready: registered, and every partition placed here has a leader (a
  // single broker: leads them all) before the port file announces the
  // broker. A broker of a cluster whose peers are not up yet announces
  // itself anyway after the wait (the others may be waiting for it).
  const auto ready_wait = m.config.peers.empty() ? std::chrono::seconds(30) : std::chrono::seconds(5);
  if (!m.broker->AwaitServing(ready_wait)) {
    log::Warn("not registered with every partition led in time; serving what is ready",
              {{"broker", m.config.node_id}, {"timeout_s", ready_wait.count()}});
  }
  if (!m.config.port_file.empty()) {
    // Written atomically (rename) so a reader never sees a partial number.
    const std::string tmp = m.config.port_file + ".tmp";
    std::ofstream(tmp) << m.port << "\n";
    std::rename(tmp.c_str(), m.config.port_file.c_str());
  }
  log::Info("broker listening", {{"broker", m.config.node_id}, {"host", m.config.listen_host}, {"port", m.port}});
  return Ok();
}

void Server::Wait() {
  std::unique_lock lock(impl_->mu);
  impl_->stopped_cv.wait(lock, [&] { return impl_->stop_requested; });
}

Result<void> Server::Stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopped) return Ok();
    m.stopped = true;
    m.stop_requested = true;
  }
  m.stopped_cv.notify_all();
  if (m.admin) m.admin->Detach("shutting down");
  if (!m.broker) return Ok();
  log::Info("broker shutting down", {{"broker", m.config.node_id}});
  // First hand every leadership to an in-sync follower, while this broker
  // still serves and replicates: clients move to the new leaders after a
  // retry instead of waiting out an election timeout.
  m.broker->DrainLeadership(m.config.leadership_drain_timeout);
  asio::post(m.io, [&m]() {
    std::error_code ec;
    if (m.acceptor) m.acceptor->close(ec);
    if (m.retention_timer) m.retention_timer->cancel();
    if (m.group_timer) m.group_timer->cancel();
    if (m.balance_timer) m.balance_timer->cancel();
  });
  // Let in-flight requests finish (bounded by the grace period).
  const auto deadline = std::chrono::steady_clock::now() + m.config.shutdown_grace;
  for (;;) {
    bool busy = false;
    {
      std::lock_guard lock(m.mu);
      for (auto& w : m.connections) {
        if (auto c = w.lock(); c && !c->idle()) busy = true;
      }
    }
    if (!busy || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard lock(m.mu);
    for (auto& w : m.connections) {
      if (auto c = w.lock()) c->Close();
    }
  }
  m.work.reset();
  m.io.stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  // The Raft clock last: it ticked the replicas through the drain.
  m.tick_work.reset();
  m.tick_io.stop();
  if (m.tick_thread.joinable()) m.tick_thread.join();
  if (m.admin) m.admin->Stop();
  auto closed = m.broker->Close();
  if (closed) log::Info("broker stopped cleanly", {{"broker", m.config.node_id}});
  return closed;
}

}  // namespace telemq::broker
