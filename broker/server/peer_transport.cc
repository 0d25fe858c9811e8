#include "broker/server/peer_transport.h"

#include <array>
#include <asio.hpp>
#include <deque>

#include "telemq/common/log.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Unacknowledged frames per peer: while they are out, new messages queue
// and leave together in the next frame.
constexpr int kMaxInFlight = 4;
constexpr std::chrono::milliseconds kConnectTimeout{1000};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// "host:port" → (host, port); nullopt if malformed.
std::optional<std::pair<std::string, std::string>> SplitAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return std::nullopt;
  return std::make_pair(address.substr(0, colon), address.substr(colon + 1));
}

}  // namespace

class PeerTransport::Peer : public std::enable_shared_from_this<Peer> {
 public:
  Peer(PeerTransport& owner, int32_t id, std::string address)
      : owner_(owner), id_(id), address_(std::move(address)), strand_(asio::make_strand(owner.io_)), wake_(strand_) {}

  void Start() {
    asio::co_spawn(
        strand_, [self = shared_from_this()] { return self->Run(); }, asio::detached);
  }
  void Stop() {
    asio::post(strand_, [self = shared_from_this()] {
      self->stopping_ = true;
      if (self->socket_) {
        std::error_code ignored;
        self->socket_->close(ignored);
      }
      self->wake_.cancel();
    });
  }
  // What a queued message counts against max_queued_bytes.
  static size_t QueuedBytes(const cluster::PeerEnvelope& envelope) {
    size_t bytes = sizeof(wire::fb::PeerMessage);
    for (const auto& e : envelope.message.entries) bytes += e.payload.size() + sizeof(wire::fb::PeerEntry);
    return bytes;
  }

  void Enqueue(cluster::PeerEnvelope envelope) {
    const size_t bytes = QueuedBytes(envelope);
    bool post = false;
    {
      std::lock_guard lock(mu_);
      if (!connected_ || queued_bytes_ + bytes > owner_.options_.max_queued_bytes) {
        owner_.messages_dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queue_.push_back(std::move(envelope));
      queued_bytes_ += bytes;
      post = !wake_posted_;
      wake_posted_ = true;
    }
    if (post) {
      asio::post(strand_, [self = shared_from_this()] {
        {
          std::lock_guard lock(self->mu_);
          self->wake_posted_ = false;
        }
        self->wake_.cancel();
      });
    }
  }
  int64_t last_ack_ms() const { return last_ack_ms_.load(std::memory_order_acquire); }
  const std::string& address() const { return address_; }

 private:
  awaitable<void> Run() {
    auto backoff = std::chrono::milliseconds(50);
    while (!stopping_) {
      std::error_code ec;
      auto socket = co_await Connect(ec);
      if (!socket) {
        log::Debug("peer not reachable", {{"peer", id_}, {"address", address_}, {"error", ec.message()}});
        asio::steady_timer t(strand_, backoff);
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      log::Info("peer connected", {{"peer", id_}, {"address", address_}});
      acked_ = false;
      socket_ = socket;
      in_flight_ = 0;
      ++generation_;
      {
        std::lock_guard lock(mu_);
        connected_ = true;
      }
      asio::co_spawn(
          strand_, [self = shared_from_this(), socket, g = generation_] { return self->ReadAcks(socket, g); },
          asio::detached);
      co_await WriteLoop(socket);
      {
        std::lock_guard lock(mu_);
        connected_ = false;
        owner_.messages_dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
        queue_.clear();
        queued_bytes_ = 0;
      }
      socket->close(ec);
      // Down at once: a broker that stopped (or was killed) is not live,
      // whatever its last acknowledgement.
      last_ack_ms_.store(0, std::memory_order_release);
      if (stopping_) break;
      log::Info("peer connection lost", {{"peer", id_}, {"address", address_}});
      // A connection that never got an acknowledgement (the peer refuses
      // our frames: another cluster, another id) backs off like a failed
      // connect instead of reconnecting at once, forever.
      if (acked_) {
        backoff = std::chrono::milliseconds(50);
      } else {
        asio::steady_timer t(strand_, backoff);
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        backoff = std::min(backoff * 2, kMaxBackoff);
      }
    }
  }

  awaitable<std::shared_ptr<tcp::socket>> Connect(std::error_code& ec) {
    auto parts = SplitAddress(address_);
    if (!parts) {
      ec = asio::error::invalid_argument;
      co_return nullptr;
    }
    tcp::resolver resolver(strand_);
    auto endpoints =
        co_await resolver.async_resolve(parts->first, parts->second, asio::redirect_error(use_awaitable, ec));
    if (ec || stopping_) co_return nullptr;
    auto socket = std::make_shared<tcp::socket>(strand_);
    socket_ = socket;  // Stop() closes it
    asio::steady_timer deadline(strand_, kConnectTimeout);
    deadline.async_wait([socket](const std::error_code& e) {
      std::error_code ignored;
      if (!e) socket->close(ignored);
    });
    co_await asio::async_connect(*socket, endpoints, asio::redirect_error(use_awaitable, ec));
    deadline.cancel();
    if (!ec && !socket->is_open()) ec = asio::error::timed_out;
    if (ec || stopping_) co_return nullptr;
    std::error_code ignored;
    socket->set_option(tcp::no_delay(true), ignored);
    socket->set_option(asio::socket_base::keep_alive(true), ignored);
    co_return socket;
  }

  awaitable<void> WriteLoop(std::shared_ptr<tcp::socket> socket) {
    const auto keepalive = owner_.options_.keepalive_interval;
    const auto connected_at = Clock::now();
    auto last_send = Clock::time_point();  // the first frame goes at once (it carries the leaderships)
    auto last_leaderships = Clock::time_point();
    for (;;) {
      if (stopping_ || !socket->is_open()) co_return;
      const auto now = Clock::now();
      std::vector<cluster::PeerEnvelope> batch;
      if (in_flight_ < kMaxInFlight) {
        std::lock_guard lock(mu_);
        size_t bytes = 0;
        while (!queue_.empty() && (batch.empty() || bytes < owner_.options_.max_frame_payload_bytes)) {
          const size_t counted = QueuedBytes(queue_.front());
          bytes += counted;
          queued_bytes_ -= std::min(queued_bytes_, counted);
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      // A peer that stopped acknowledging (its host gone without a reset)
      // would hold this connection until the kernel gives up, minutes
      // later: after the liveness timeout without an acknowledgement for
      // frames in flight, reconnect (and resolve its name again).
      const auto silent_since = std::max(last_progress_, connected_at);
      if (in_flight_ > 0 && now - silent_since > owner_.options_.liveness_timeout) {
        log::Warn("peer silent; reconnecting",
                  {{"peer", id_}, {"address", address_}, {"timeout_ms", owner_.options_.liveness_timeout.count()}});
        co_return;
      }
      const bool due = now - last_send >= keepalive;
      if (in_flight_ >= kMaxInFlight || (batch.empty() && !due)) {
        auto wake_at = in_flight_ >= kMaxInFlight ? Clock::time_point::max() : last_send + keepalive;
        if (in_flight_ > 0) wake_at = std::min(wake_at, silent_since + owner_.options_.liveness_timeout);
        wake_.expires_at(wake_at);
        std::error_code ec;
        co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      const bool with_leaderships = now - last_leaderships >= keepalive;
      if (with_leaderships) last_leaderships = now;
      auto encoded = cluster::EncodePeerRequest(owner_.Header(id_, with_leaderships), batch);
      std::array<std::byte, wire::kRequestHeaderBytes> header;
      wire::EncodeRequestHeader(header, wire::ApiKey::kPeerRaft, 1, ++correlation_id_,
                                static_cast<uint32_t>(encoded.body.size()), encoded.payload_bytes);
      std::vector<asio::const_buffer> buffers;
      buffers.reserve(2 + encoded.payload.size());
      buffers.emplace_back(asio::buffer(header));
      buffers.emplace_back(asio::buffer(encoded.body.data(), encoded.body.size()));
      for (auto piece : encoded.payload) buffers.emplace_back(asio::buffer(piece.data(), piece.size()));
      ++in_flight_;
      last_send = now;
      std::error_code ec;
      co_await asio::async_write(*socket, buffers, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      owner_.frames_sent_.fetch_add(1, std::memory_order_relaxed);
      owner_.messages_sent_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
  }

  awaitable<void> ReadAcks(std::shared_ptr<tcp::socket> socket, uint64_t generation) {
    std::error_code ec;
    for (;;) {
      std::array<std::byte, wire::kResponseHeaderBytes> raw;
      co_await asio::async_read(*socket, asio::buffer(raw), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      auto header = wire::DecodeResponseHeader(raw, owner_.options_.max_frame_bytes);
      if (!header) {
        log::Warn("bad response from peer",
                  {{"peer", id_}, {"address", address_}, {"error", header.error().ToString()}});
        break;
      }
      std::vector<std::byte> rest(header->remaining());
      co_await asio::async_read(*socket, asio::buffer(rest), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      auto body = std::span<const std::byte>(rest).first(std::min<size_t>(header->body_length, rest.size()));
      auto response = wire::VerifyBody<wire::fb::PeerRaftResponse>(body);
      if (!response) {
        // An error answer (ErrorResponse) or garbage: the peer does not take our frames.
        auto error = wire::VerifyBody<wire::fb::ErrorResponse>(body);
        log::Warn("peer refused our frames",
                  {{"peer", id_},
                   {"address", address_},
                   {"error", error ? wire::Str((*error)->message()) : response.error().ToString()}});
        break;
      }
      if ((*response)->error() != wire::fb::ErrorCode::None) {
        log::Warn("peer refused our frames",
                  {{"peer", id_}, {"address", address_}, {"error", wire::Str((*response)->message())}});
        break;
      }
      if (generation != generation_) co_return;
      --in_flight_;
      last_progress_ = Clock::now();
      acked_ = true;
      last_ack_ms_.store(NowMs(), std::memory_order_release);
      wake_.cancel();
    }
    if (generation == generation_) {
      socket->close(ec);
      wake_.cancel();
    }
  }

  PeerTransport& owner_;
  const int32_t id_;
  const std::string address_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer wake_;  // the write loop waits here; cancelled by new messages and acks
  // Strand state.
  std::shared_ptr<tcp::socket> socket_;
  bool stopping_ = false;
  int in_flight_ = 0;
  uint64_t generation_ = 0;
  uint32_t correlation_id_ = 0;
  Clock::time_point last_progress_{};  // the last acknowledgement
  bool acked_ = false;                 // the current connection got one
  // Shared with senders.
  std::mutex mu_;
  std::deque<cluster::PeerEnvelope> queue_;  // guarded by mu_
  size_t queued_bytes_ = 0;                  // guarded by mu_
  bool connected_ = false;                   // guarded by mu_
  bool wake_posted_ = false;                 // guarded by mu_
  std::atomic<int64_t> last_ack_ms_{0};
};

PeerTransport::PeerTransport(asio::io_context& io, Options options) : io_(io), options_(std::move(options)) {
  std::lock_guard lock(mu_);
  for (size_t id = 0; id < options_.peers.size(); ++id) {
    if (static_cast<int32_t>(id) == options_.self || options_.peers[id].empty()) continue;
    AddPeerLocked(static_cast<int32_t>(id), options_.peers[id]);
  }
}

PeerTransport::~PeerTransport() { Stop(); }

std::shared_ptr<PeerTransport::Peer> PeerTransport::AddPeerLocked(int32_t broker, std::string address) {
  auto peer = std::make_shared<Peer>(*this, broker, std::move(address));
  peers_[broker] = peer;
  if (started_ && !stopped_) peer->Start();
  return peer;
}

void PeerTransport::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  for (auto& [id, peer] : peers_) peer->Start();
}

void PeerTransport::Stop() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& [id, peer] : peers_) peer->Stop();
}

std::shared_ptr<PeerTransport::Peer> PeerTransport::PeerFor(int32_t broker) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(broker);
  return it == peers_.end() || stopped_ ? nullptr : it->second;
}

void PeerTransport::Send(const replication::PartitionKey& partition, uint64_t topic_id, const raft::Message& message) {
  const int32_t broker = cluster::BrokerOf(message.to);
  auto peer = PeerFor(broker);
  if (!peer) {
    messages_dropped_.fetch_add(1, std::memory_order_relaxed);
    log::Debug("no connection to the broker; dropped a Raft message",
               {{"topic", partition.topic}, {"partition", partition.partition}, {"peer", broker}});
    return;
  }
  peer->Enqueue(cluster::PeerEnvelope{topic_id, partition.partition.value(), message});
}

void PeerTransport::SetIdentity(std::string cluster_id, std::string host, uint16_t port) {
  std::lock_guard lock(identity_mu_);
  cluster_id_ = std::move(cluster_id);
  host_ = std::move(host);
  port_ = port;
}

void PeerTransport::Learn(int32_t broker, const std::string& host, uint16_t port) {
  if (broker == options_.self || host.empty() || port == 0) return;
  std::lock_guard lock(mu_);
  if (peers_.count(broker) || stopped_) return;
  const std::string address = host + ":" + std::to_string(port);
  log::Info("learned of a broker", {{"peer", broker}, {"address", address}});
  AddPeerLocked(broker, address);
}

bool PeerTransport::IsLive(int32_t broker) const {
  if (broker == options_.self) return true;
  std::shared_ptr<Peer> peer;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(broker);
    if (it == peers_.end()) return false;
    peer = it->second;
  }
  return NowMs() - peer->last_ack_ms() <= options_.liveness_timeout.count();
}

std::vector<int32_t> PeerTransport::LiveBrokers() const {
  std::vector<int32_t> ids{options_.self};
  std::vector<std::pair<int32_t, std::shared_ptr<Peer>>> peers;
  {
    std::lock_guard lock(mu_);
    peers.assign(peers_.begin(), peers_.end());
  }
  const int64_t now = NowMs();
  for (const auto& [id, peer] : peers) {
    if (now - peer->last_ack_ms() <= options_.liveness_timeout.count()) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

cluster::PeerHeader PeerTransport::Header(int32_t to, bool with_leaderships) {
  cluster::PeerHeader h;
  {
    std::lock_guard lock(identity_mu_);
    h.cluster_id = cluster_id_;
    h.host = host_;
    h.port = port_;
  }
  h.from_broker = options_.self;
  h.to_broker = to;
  if (with_leaderships && options_.leaderships) h.leaderships = options_.leaderships();
  return h;
}

}  // namespace telemq::broker
