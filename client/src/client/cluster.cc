#include "client/cluster.h"

#include <deque>
#include <future>

#include "telemq/wire/protocol.h"

namespace telemq::client {

using asio::ip::tcp;
namespace fb = wire::fb;

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Fail(Errc::kInvalidArgument, "broker address '" + address + "' is not host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return Fail(Errc::kInvalidArgument, "bad port in '" + address + "'");
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return Fail(Errc::kInvalidArgument, "port out of range in '" + address + "'");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

// One TCP connection to one broker, pipelined: requests are written as they
// come and answered in order. I/O thread only.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, const ClientOptions& options, std::string host, uint16_t port)
      : io_(io), options_(options), socket_(io), resolver_(io), timer_(io), host_(std::move(host)), port_(port) {}

  bool dead() const { return dead_; }

  void Start() {
    auto self = shared_from_this();
    ArmTimer(std::chrono::steady_clock::now() + options_.connect_timeout);
    resolver_.async_resolve(host_, std::to_string(port_), [self](std::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->Fail(Errc::kDisconnected, "resolve " + self->host_ + ": " + ec.message());
      asio::async_connect(self->socket_, r, [self](std::error_code ec, const tcp::endpoint&) {
        if (ec) {
          return self->Fail(Errc::kDisconnected,
                            "connect " + self->host_ + ":" + std::to_string(self->port_) + ": " + ec.message());
        }
        std::error_code ignored;
        self->socket_.set_option(tcp::no_delay(true), ignored);
        self->connected_ = true;
        self->ReadHeader();
        self->WriteMore();
      });
    });
  }

  void Send(Request request, FrameCallback done) {
    if (dead_) {
      done(telemq::Fail(Errc::kDisconnected, "connection to " + host_ + ":" + std::to_string(port_) + " is closed"));
      return;
    }
    Outgoing out;
    out.request = std::move(request);
    out.done = std::move(done);
    out.correlation_id = next_correlation_id_++;
    size_t payload = 0;
    for (auto& p : out.request.payload) payload += p.size();
    wire::EncodeRequestHeader(out.header, out.request.api_key, 1, out.correlation_id,
                              static_cast<uint32_t>(out.request.body.size()), payload);
    outbox_.push_back(std::move(out));
    if (connected_) WriteMore();
  }

  void Close() { Fail(Errc::kCancelled, "client closed"); }

 private:
  struct Outgoing {
    Request request;
    FrameCallback done;
    uint32_t correlation_id = 0;
    std::array<std::byte, wire::kRequestHeaderBytes> header{};
    std::chrono::steady_clock::time_point deadline;
  };

  void WriteMore() {
    if (writing_ || outbox_.empty() || dead_) return;
    std::vector<asio::const_buffer> buffers;
    size_t count = 0;
    for (auto& o : outbox_) {
      buffers.emplace_back(asio::buffer(o.header));
      buffers.emplace_back(asio::buffer(o.request.body.data(), o.request.body.size()));
      for (auto& p : o.request.payload) buffers.emplace_back(asio::buffer(p.data(), p.size()));
      if (++count == 32) break;
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(socket_, buffers, [self, count](std::error_code ec, size_t) {
      self->writing_ = false;
      // Fail() may have run while this completion was queued (a read error,
      // a timeout): it already answered and cleared every request.
      if (self->dead_) return;
      if (ec) return self->Fail(Errc::kDisconnected, "write to " + self->host_ + ": " + ec.message());
      const auto deadline = std::chrono::steady_clock::now() + self->options_.request_timeout;
      for (size_t i = 0; i < count; ++i) {
        auto o = std::move(self->outbox_.front());
        self->outbox_.pop_front();
        o.deadline = deadline;
        // The bytes are on the wire; keep only what the answer needs.
        o.request.body = flatbuffers::DetachedBuffer();
        o.request.payload.clear();
        self->pending_.push_back(std::move(o));
      }
      if (self->pending_.size() == count) self->ArmTimer(self->pending_.front().deadline);
      self->WriteMore();
    });
  }

  void ReadHeader() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(header_), [self](std::error_code ec, size_t) {
      if (self->dead_) return;  // see WriteMore: pending_ is already answered and empty
      if (ec) return self->Fail(Errc::kDisconnected, "read from " + self->host_ + ": " + ec.message());
      auto h = wire::DecodeResponseHeader(self->header_, self->options_.max_frame_bytes);
      if (!h) return self->Fail(h.error().code(), h.error().message());
      if (self->pending_.empty() || self->pending_.front().correlation_id != h->correlation_id) {
        return self->Fail(Errc::kCorrupt, "response correlation id " + std::to_string(h->correlation_id) +
                                              " does not match the oldest request");
      }
      auto bytes = std::make_shared<std::vector<std::byte>>(h->remaining());
      const uint32_t body_length = h->body_length;
      asio::async_read(self->socket_, asio::buffer(*bytes), [self, bytes, body_length](std::error_code ec, size_t) {
        if (self->dead_) return;
        if (ec) return self->Fail(Errc::kDisconnected, "read from " + self->host_ + ": " + ec.message());
        auto o = std::move(self->pending_.front());
        self->pending_.pop_front();
        if (!self->pending_.empty()) self->ArmTimer(self->pending_.front().deadline);
        o.done(Frame{bytes, body_length});
        self->ReadHeader();
      });
    });
  }

  void ArmTimer(std::chrono::steady_clock::time_point when) {
    timer_.expires_at(when);
    auto self = shared_from_this();
    timer_.async_wait([self](std::error_code ec) {
      if (ec || self->dead_) return;
      const auto now = std::chrono::steady_clock::now();
      if (!self->connected_) {
        return self->Fail(Errc::kTimeout,
                          "connect to " + self->host_ + ":" + std::to_string(self->port_) + " timed out");
      }
      if (!self->pending_.empty() && self->pending_.front().deadline <= now) {
        return self->Fail(Errc::kTimeout, "request to " + self->host_ + " timed out");
      }
      if (!self->pending_.empty()) self->ArmTimer(self->pending_.front().deadline);
    });
  }

  void Fail(Errc code, const std::string& message) {
    if (dead_) return;
    dead_ = true;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    resolver_.cancel();
    auto pending = std::move(pending_);
    auto outbox = std::move(outbox_);
    for (auto& o : pending) o.done(telemq::Fail(code, message));
    for (auto& o : outbox) o.done(telemq::Fail(code, message));
  }

  asio::io_context& io_;
  const ClientOptions& options_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::string host_;
  uint16_t port_;
  bool connected_ = false;
  bool writing_ = false;
  bool dead_ = false;
  uint32_t next_correlation_id_ = 1;
  std::array<std::byte, wire::kResponseHeaderBytes> header_{};
  std::deque<Outgoing> outbox_;   // not yet written
  std::deque<Outgoing> pending_;  // written, awaiting the answer (in order)
};

Cluster::Cluster(const ClientOptions& options) : options_(options) {}

Result<std::shared_ptr<Cluster>> Cluster::Create(const ClientOptions& options) {
  if (options.bootstrap_servers.empty()) return Fail(Errc::kInvalidArgument, "no bootstrap servers given");
  for (const auto& s : options.bootstrap_servers) TELEMQ_TRY(ParseHostPort(s));
  std::shared_ptr<Cluster> c(new Cluster(options));
  c->work_.emplace(c->io_.get_executor());
  c->thread_ = std::thread([raw = c.get()]() { raw->io_.run(); });
  return c;
}

Cluster::~Cluster() { Shutdown(); }

void Cluster::Shutdown() {
  {
    // After this, Send fails at once instead of queueing work for an I/O
    // thread that may already have finished (a Call would wait forever).
    std::lock_guard lock(send_mu_);
    stopping_ = true;
  }
  if (!thread_.joinable()) return;
  asio::post(io_, [this]() {
    for (auto& [_, c] : connections_) c->Close();
    connections_.clear();
  });
  work_.reset();
  if (std::this_thread::get_id() == thread_.get_id()) {
    thread_.detach();
    return;
  }
  thread_.join();
}

std::shared_ptr<Connection> Cluster::ConnectionTo(int32_t node, Lane lane) {
  auto it = connections_.find({node, lane});
  if (it != connections_.end() && !it->second->dead()) return it->second;
  std::pair<std::string, uint16_t> address;
  if (node >= 0) {
    std::lock_guard lock(mu_);
    auto b = brokers_.find(node);
    if (b == brokers_.end()) return nullptr;
    address = b->second;
  } else {
    // Bootstrap connections rotate through the list so one dead broker does
    // not stall a client that lists several.
    address = *ParseHostPort(options_.bootstrap_servers[next_bootstrap_++ % options_.bootstrap_servers.size()]);
  }
  auto conn = std::make_shared<Connection>(io_, options_, address.first, address.second);
  connections_[{node, lane}] = conn;
  conn->Start();
  return conn;
}

void Cluster::Send(int32_t node, Request request, FrameCallback done) {
  std::unique_lock lock(send_mu_);
  if (stopping_) {
    lock.unlock();
    done(Fail(Errc::kShuttingDown, "client is shutting down"));
    return;
  }
  asio::dispatch(io_,
                 [self = shared_from_this(), node, request = std::move(request), done = std::move(done)]() mutable {
                   if (self->stopping_) {
                     done(Fail(Errc::kShuttingDown, "client is shutting down"));
                     return;
                   }
                   const Lane lane = request.api_key == wire::ApiKey::kFetch ? Lane::kFetch : Lane::kDefault;
                   auto conn = self->ConnectionTo(node, lane);
                   if (!conn) conn = self->ConnectionTo(-1, lane);
                   conn->Send(std::move(request), std::move(done));
                 });
}

Result<Frame> Cluster::Call(int32_t node, Request request) {
  auto promise = std::make_shared<std::promise<Result<Frame>>>();
  auto future = promise->get_future();
  Send(node, std::move(request), [promise](Result<Frame> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void Cluster::ApplyMetadata(const Frame& frame, const std::vector<std::string>& asked, Result<void>* status) {
  auto resp = wire::VerifyBody<fb::MetadataResponse>(frame.body());
  if (!resp) {
    *status = tl::unexpected(resp.error());
    return;
  }
  std::lock_guard lock(mu_);
  if ((*resp)->brokers()) {
    for (const auto* b : *(*resp)->brokers()) brokers_[b->id()] = {wire::Str(b->host()), b->port()};
  }
  if (asked.empty()) topics_.clear();
  if ((*resp)->topics()) {
    for (const auto* t : *(*resp)->topics()) {
      const std::string name = wire::Str(t->name());
      if (t->error() != fb::ErrorCode::None) {
        topics_.erase(name);
        missing_[name] = wire::Str(t->message());
        continue;
      }
      missing_.erase(name);
      TopicInfo info;
      if (t->partitions()) {
        info.partitions.resize(t->partitions()->size());
        for (const auto* p : *t->partitions()) {
          if (p->partition() >= 0 && p->partition() < static_cast<int32_t>(info.partitions.size())) {
            info.partitions[p->partition()].leader = p->leader();
          }
        }
      }
      topics_[name] = std::move(info);
    }
  }
}

void Cluster::RefreshMetadata(std::vector<std::string> topics, std::function<void(Result<void>)> done) {
  flatbuffers::FlatBufferBuilder b(128);
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  for (const auto& t : topics) names.push_back(b.CreateString(t));
  b.Finish(fb::CreateMetadataRequest(b, b.CreateVector(names)));
  Request req{wire::ApiKey::kMetadata, b.Release(), {}, nullptr};
  Send(-1, std::move(req), [self = shared_from_this(), topics, done](Result<Frame> r) {
    Result<void> status = Ok();
    if (!r) {
      status = tl::unexpected(r.error());
    } else {
      self->ApplyMetadata(*r, topics, &status);
    }
    done(status);
  });
}

Result<TopicInfo> Cluster::WaitForTopic(const std::string& topic, std::chrono::milliseconds timeout) {
  if (auto t = Topic(topic)) return *t;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Error last(Errc::kTimeout, "metadata for topic '" + topic + "' not available");
  for (;;) {
    auto promise = std::make_shared<std::promise<Result<void>>>();
    auto future = promise->get_future();
    RefreshMetadata({topic}, [promise](Result<void> r) { promise->set_value(std::move(r)); });
    auto r = future.get();
    if (auto t = Topic(topic)) return *t;
    if (r) {
      std::lock_guard lock(mu_);
      auto m = missing_.find(topic);
      if (m != missing_.end()) return Fail(Errc::kNotFound, m->second);
    } else {
      last = r.error();
    }
    if (std::chrono::steady_clock::now() + options_.retry_backoff > deadline) return tl::unexpected(last);
    std::this_thread::sleep_for(options_.retry_backoff);
  }
}

std::optional<TopicInfo> Cluster::Topic(const std::string& topic) const {
  std::lock_guard lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

void Cluster::AddBroker(int32_t id, std::string host, uint16_t port) {
  std::lock_guard lock(mu_);
  brokers_[id] = {std::move(host), port};
}

int32_t Cluster::LeaderOf(const std::string& topic, int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition < 0 || partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return -1;
  }
  return it->second.partitions[partition].leader;
}

Result<int64_t> Cluster::ListOffset(const std::string& topic, int32_t partition, int64_t timestamp) {
  TELEMQ_ASSIGN_OR_RETURN(auto info, WaitForTopic(topic, options_.request_timeout));
  (void)info;
  flatbuffers::FlatBufferBuilder b(128);
  std::vector<flatbuffers::Offset<fb::ListOffsetsPartition>> parts{
      fb::CreateListOffsetsPartition(b, partition, timestamp)};
  std::vector<flatbuffers::Offset<fb::ListOffsetsTopic>> topics{
      fb::CreateListOffsetsTopicDirect(b, topic.c_str(), &parts)};
  b.Finish(fb::CreateListOffsetsRequestDirect(b, &topics));
  auto frame = Call(LeaderOf(topic, partition), Request{wire::ApiKey::kListOffsets, b.Release(), {}, nullptr});
  if (!frame) return tl::unexpected(frame.error());
  TELEMQ_ASSIGN_OR_RETURN(auto resp, wire::VerifyBody<fb::ListOffsetsResponse>(frame->body()));
  if (!resp->topics() || resp->topics()->size() != 1 || !resp->topics()->Get(0)->partitions() ||
      resp->topics()->Get(0)->partitions()->size() != 1) {
    return Fail(Errc::kCorrupt, "list offsets: malformed answer");
  }
  const auto* p = resp->topics()->Get(0)->partitions()->Get(0);
  if (p->error() != fb::ErrorCode::None) return Fail(wire::FromWireError(p->error()), wire::Str(p->message()));
  return p->offset();
}

}  // namespace telemq::client
