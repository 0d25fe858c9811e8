#include "client/cluster.h"

#include <deque>
#include <future>
#include <thread>

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
  // Takes no new requests (the caller forgets it) and closes once every
  // request on it is answered.
  void Retire() {
    retired_ = true;
    CloseIfIdle();
  }

 private:
  struct Outgoing {
    Request request;
    FrameCallback done;
    uint32_t correlation_id = 0;
    std::array<std::byte, wire::kRequestHeaderBytes> header{};
    std::chrono::steady_clock::time_point deadline;
    bool answered = false;  // in outbox_ only: answered while its write was still completing
  };

  // The oldest request not answered yet: the one the next response must
  // match. A response can arrive before the completion of the write that
  // carried its request has run (the broker answered the first requests of
  // a long gathered write), so that request may still be in outbox_.
  Outgoing* Oldest() {
    if (!pending_.empty()) return &pending_.front();
    for (size_t i = 0; i < writing_count_ && i < outbox_.size(); ++i) {
      if (!outbox_[i].answered) return &outbox_[i];
    }
    return nullptr;
  }

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
    writing_count_ = count;
    auto self = shared_from_this();
    asio::async_write(socket_, buffers, [self, count](std::error_code ec, size_t) {
      self->writing_ = false;
      self->writing_count_ = 0;
      // Fail() may have run while this completion was queued (a read error,
      // a timeout): it already answered and cleared every request.
      if (self->dead_) return;
      if (ec) return self->Fail(Errc::kDisconnected, "write to " + self->host_ + ": " + ec.message());
      const auto deadline = std::chrono::steady_clock::now() + self->options_.request_timeout;
      const bool was_idle = self->pending_.empty();
      for (size_t i = 0; i < count; ++i) {
        auto o = std::move(self->outbox_.front());
        self->outbox_.pop_front();
        if (o.answered) continue;
        o.deadline = deadline;
        // The bytes are on the wire; keep only what the answer needs.
        o.request.body = flatbuffers::DetachedBuffer();
        o.request.payload.clear();
        self->pending_.push_back(std::move(o));
      }
      if (was_idle && !self->pending_.empty()) self->ArmTimer(self->pending_.front().deadline);
      if (self->CloseIfIdle()) return;  // retired, and every request was answered during the write
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
      const Outgoing* oldest = self->Oldest();
      if (oldest == nullptr || oldest->correlation_id != h->correlation_id) {
        return self->Fail(Errc::kCorrupt, "response correlation id " + std::to_string(h->correlation_id) +
                                              " does not match the oldest request");
      }
      auto bytes = std::make_shared<std::vector<std::byte>>(h->remaining());
      const uint32_t body_length = h->body_length;
      asio::async_read(self->socket_, asio::buffer(*bytes), [self, bytes, body_length](std::error_code ec, size_t) {
        if (self->dead_) return;
        if (ec) return self->Fail(Errc::kDisconnected, "read from " + self->host_ + ": " + ec.message());
        // The request the header matched: still the oldest, now in pending_
        // or (its write not yet completed) in outbox_.
        FrameCallback done;
        if (!self->pending_.empty()) {
          done = std::move(self->pending_.front().done);
          self->pending_.pop_front();
          if (!self->pending_.empty()) self->ArmTimer(self->pending_.front().deadline);
        } else {
          Outgoing* o = self->Oldest();
          o->answered = true;  // its buffers stay until the write completes
          done = std::move(o->done);
        }
        done(Frame{bytes, body_length});
        if (self->CloseIfIdle()) return;
        self->ReadHeader();
      });
    });
  }

  bool CloseIfIdle() {
    if (!retired_ || dead_ || !pending_.empty() || !outbox_.empty()) return false;
    Fail(Errc::kCancelled, "connection retired");
    return true;
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
    for (auto& o : outbox) {
      if (!o.answered) o.done(telemq::Fail(code, message));
    }
  }

  bool retired_ = false;
  asio::io_context& io_;
  const ClientOptions& options_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::string host_;
  uint16_t port_;
  bool connected_ = false;
  bool writing_ = false;
  size_t writing_count_ = 0;  // the first requests of outbox_ being written
  bool dead_ = false;
  uint32_t next_correlation_id_ = 1;
  std::array<std::byte, wire::kResponseHeaderBytes> header_{};
  std::deque<Outgoing> outbox_;   // not yet written (the first writing_count_ being written)
  std::deque<Outgoing> pending_;  // written, awaiting the answer (in order)
};

Cluster::Cluster(const ClientOptions& options) : options_(options) {}

Result<std::shared_ptr<Cluster>> Cluster::Create(const ClientOptions& options) {
  if (options.bootstrap_servers.empty()) return Fail(Errc::kInvalidArgument, "no bootstrap servers given");
  for (const auto& s : options.bootstrap_servers) TELEMQ_TRY(ParseHostPort(s));
  std::shared_ptr<Cluster> c(new Cluster(options));
  c->work_.emplace(c->io_.get_executor());
  c->refresh_timer_.emplace(c->io_);
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
    refresh_timer_->cancel();
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
    auto b = cache_.Broker(node);
    if (!b) return nullptr;
    address = {b->host, b->port};
  } else {
    // Any broker answers these requests. Rotate through every known broker
    // (live ones first: `live` is one broker's view, and a broker cut off
    // from the others calls them all down), then the bootstrap list (kept
    // for when every known address is gone, e.g. pods rescheduled under a
    // service name), so one dead or isolated broker does not stall the
    // client.
    std::vector<std::pair<std::string, uint16_t>> candidates;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, b] : cache_.brokers()) {
        if (b.live) candidates.emplace_back(b.host, b.port);
      }
      for (const auto& [id, b] : cache_.brokers()) {
        if (!b.live) candidates.emplace_back(b.host, b.port);
      }
    }
    for (const auto& s : options_.bootstrap_servers) candidates.push_back(*ParseHostPort(s));
    address = candidates[next_any_++ % candidates.size()];
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
                   if (!conn) {
                     // Never another broker instead: a partition's request
                     // belongs to its leader. Answered later, not from
                     // inside the caller's Send.
                     asio::post(self->io_, [node, done = std::move(done)]() {
                       done(Fail(Errc::kDisconnected, "no address known for broker " + std::to_string(node)));
                     });
                     return;
                   }
                   conn->Send(std::move(request), std::move(done));
                 });
}

Result<Frame> Cluster::Call(int32_t node, Request request) {
  auto promise = std::make_shared<std::promise<Result<Frame>>>();
  auto future = promise->get_future();
  Send(node, std::move(request), [promise](Result<Frame> r) { promise->set_value(std::move(r)); });
  return future.get();
}

TopicInfo TopicInfoOf(const fb::TopicMetadata& t) {
  TopicInfo info;
  info.topic_id = t.topic_id();
  if (!t.partitions()) return info;
  info.partitions.resize(t.partitions()->size());
  for (const auto* p : *t.partitions()) {
    if (p->partition() < 0 || p->partition() >= static_cast<int32_t>(info.partitions.size())) continue;
    PartitionInfo& pi = info.partitions[p->partition()];
    // A partition in an election comes with LeaderNotAvailable (or
    // NotLeader) and leader -1: the cache then holds its requests.
    pi.leader = p->leader() >= 0 ? p->leader() : kNoBroker;
    pi.leader_term = p->leader_term();
    if (p->replicas()) pi.replicas.assign(p->replicas()->begin(), p->replicas()->end());
    if (p->isr()) pi.isr.assign(p->isr()->begin(), p->isr()->end());
  }
  return info;
}

void MergeBrokersAndController(const fb::MetadataResponse& resp, MetadataCache* cache) {
  if (resp.brokers()) {
    std::map<int32_t, BrokerAddress> brokers;
    for (const auto* b : *resp.brokers()) {
      if (b->id() < 0) continue;
      brokers[b->id()] = BrokerAddress{wire::Str(b->host()), b->port(), b->live()};
    }
    cache->MergeBrokers(brokers);
  }
  cache->MergeController(resp.controller_id(), resp.controller_term());
}

void Cluster::ApplyMetadata(const Frame& frame, const std::vector<std::string>& asked, Result<void>* status) {
  auto resp = wire::VerifyBody<fb::MetadataResponse>(frame.body());
  if (!resp) {
    *status = tl::unexpected(resp.error());
    return;
  }
  std::lock_guard lock(mu_);
  MergeBrokersAndController(**resp, &cache_);
  std::set<std::string> named;
  if ((*resp)->topics()) {
    for (const auto* t : *(*resp)->topics()) {
      const std::string name = wire::Str(t->name());
      named.insert(name);
      if (t->error() != fb::ErrorCode::None) {
        cache_.EraseTopic(name);
        missing_[name] = wire::Str(t->message());
        continue;
      }
      missing_.erase(name);
      cache_.MergeTopic(name, TopicInfoOf(*t));
    }
  }
  if (asked.empty()) cache_.RetainOnly(named);
}

bool Cluster::IncompleteMetadata(const Frame& frame) {
  auto resp = wire::VerifyBody<fb::MetadataResponse>(frame.body());
  if (!resp) return true;
  if ((*resp)->controller_id() < 0) return true;
  if (const auto* topics = (*resp)->topics()) {
    for (const auto* t : *topics) {
      if (!t->partitions()) continue;
      for (const auto* p : *t->partitions()) {
        if (p->leader() < 0) return true;
      }
    }
  }
  return false;
}

void Cluster::RotateAnyBroker() {
  auto it = connections_.find({kAnyBroker, Lane::kDefault});
  if (it == connections_.end()) return;
  it->second->Retire();
  connections_.erase(it);
}

void Cluster::RefreshMetadata(std::vector<std::string> topics, std::function<void(Result<void>)> done) {
  flatbuffers::FlatBufferBuilder b(128);
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  for (const auto& t : topics) names.push_back(b.CreateString(t));
  b.Finish(fb::CreateMetadataRequest(b, b.CreateVector(names)));
  Request req{wire::ApiKey::kMetadata, b.Release(), {}, nullptr};
  Send(kAnyBroker, std::move(req), [self = shared_from_this(), topics, done](Result<Frame> r) {
    Result<void> status = Ok();
    if (!r) {
      status = tl::unexpected(r.error());
    } else {
      self->ApplyMetadata(*r, topics, &status);
      // A broker that names no controller, or no leader for a partition
      // asked about, may be the one cut off from the others: the next
      // refresh asks another broker (a healthy one during an election just
      // answers the same).
      if (IncompleteMetadata(*r)) self->RotateAnyBroker();
    }
    done(status);
  });
}

Result<void> Cluster::RefreshMetadataSync(std::vector<std::string> topics) {
  auto promise = std::make_shared<std::promise<Result<void>>>();
  auto future = promise->get_future();
  RefreshMetadata(std::move(topics), [promise](Result<void> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void Cluster::RequestMetadataRefresh(const std::vector<std::string>& topics) {
  std::lock_guard lock(send_mu_);
  // Nothing may be queued once the I/O thread may have ended: the handler
  // would keep the Cluster alive forever.
  if (stopping_) return;
  asio::post(io_, [self = shared_from_this(), topics]() {
    if (topics.empty()) {
      self->refresh_all_ = true;
    } else {
      self->refresh_topics_.insert(topics.begin(), topics.end());
    }
    self->StartRequestedRefresh();
  });
}

void Cluster::StartRequestedRefresh() {
  if (stopping_ || refresh_in_flight_ || (!refresh_all_ && refresh_topics_.empty())) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_refresh_at_) {
    if (refresh_timer_armed_) return;
    refresh_timer_armed_ = true;
    refresh_timer_->expires_at(next_refresh_at_);
    refresh_timer_->async_wait([self = shared_from_this()](std::error_code ec) {
      self->refresh_timer_armed_ = false;
      if (!ec) self->StartRequestedRefresh();
    });
    return;
  }
  std::vector<std::string> topics;
  if (!refresh_all_) topics.assign(refresh_topics_.begin(), refresh_topics_.end());
  refresh_all_ = false;
  refresh_topics_.clear();
  refresh_in_flight_ = true;
  RefreshMetadata(std::move(topics), [self = shared_from_this()](Result<void>) {
    // A failed refresh is retried by whoever still lacks a leader.
    self->refresh_in_flight_ = false;
    self->next_refresh_at_ = std::chrono::steady_clock::now() + self->options_.retry_backoff;
    self->StartRequestedRefresh();
  });
}

Result<TopicInfo> Cluster::WaitForTopic(const std::string& topic, std::chrono::milliseconds timeout) {
  if (auto t = Topic(topic)) return *t;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Error last(Errc::kTimeout, "metadata for topic '" + topic + "' not available");
  for (;;) {
    auto r = RefreshMetadataSync({topic});
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

Result<int32_t> Cluster::WaitForLeader(const std::string& topic, int32_t partition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const int32_t leader = LeaderOf(topic, partition); leader >= 0) return leader;
    IgnoreError(RefreshMetadataSync({topic}), "retried until the deadline");
    if (const int32_t leader = LeaderOf(topic, partition); leader >= 0) return leader;
    if (std::chrono::steady_clock::now() + options_.retry_backoff > deadline) {
      return Fail(Errc::kNotLeader, topic + "/" + std::to_string(partition) + " has no leader (election under way?)");
    }
    std::this_thread::sleep_for(options_.retry_backoff);
  }
}

std::optional<TopicInfo> Cluster::Topic(const std::string& topic) const {
  std::lock_guard lock(mu_);
  const TopicInfo* t = cache_.Topic(topic);
  if (!t) return std::nullopt;
  return *t;
}

std::optional<int32_t> Cluster::PartitionCount(const std::string& topic) const {
  std::lock_guard lock(mu_);
  const TopicInfo* t = cache_.Topic(topic);
  if (!t) return std::nullopt;
  return static_cast<int32_t>(t->partitions.size());
}

void Cluster::AddBroker(int32_t id, std::string host, uint16_t port) {
  std::lock_guard lock(mu_);
  cache_.AddBroker(id, BrokerAddress{std::move(host), port, true});
}

int32_t Cluster::LeaderOf(const std::string& topic, int32_t partition) const {
  std::lock_guard lock(mu_);
  return cache_.LeaderOf(topic, partition);
}

int32_t Cluster::Controller() const {
  std::lock_guard lock(mu_);
  return cache_.controller();
}

void Cluster::ForgetController(int32_t from) {
  std::lock_guard lock(mu_);
  cache_.ForgetController(from);
}

MetadataCache::HintOutcome Cluster::OnNotLeader(const std::string& topic, int32_t partition, int32_t from, int32_t hint,
                                                int64_t term) {
  std::lock_guard lock(mu_);
  return cache_.ApplyNotLeader(topic, partition, from, hint, term);
}

Result<int64_t> Cluster::ListOffset(const std::string& topic, int32_t partition, int64_t timestamp) {
  const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
  auto remaining = [&]() {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  TELEMQ_ASSIGN_OR_RETURN(auto info, WaitForTopic(topic, options_.request_timeout));
  (void)info;
  for (;;) {
    TELEMQ_ASSIGN_OR_RETURN(const int32_t leader, WaitForLeader(topic, partition, remaining()));
    flatbuffers::FlatBufferBuilder b(128);
    std::vector<flatbuffers::Offset<fb::ListOffsetsPartition>> parts{
        fb::CreateListOffsetsPartition(b, partition, timestamp)};
    std::vector<flatbuffers::Offset<fb::ListOffsetsTopic>> topics{
        fb::CreateListOffsetsTopicDirect(b, topic.c_str(), &parts)};
    b.Finish(fb::CreateListOffsetsRequestDirect(b, &topics));
    auto frame = Call(leader, Request{wire::ApiKey::kListOffsets, b.Release(), {}, nullptr});
    Error failure(Errc::kUnknown, "");
    if (!frame) {
      if (frame.error().code() != Errc::kDisconnected && frame.error().code() != Errc::kTimeout) {
        return tl::unexpected(frame.error());
      }
      failure = frame.error();
    } else {
      TELEMQ_ASSIGN_OR_RETURN(auto resp, wire::VerifyBody<fb::ListOffsetsResponse>(frame->body()));
      if (!resp->topics() || resp->topics()->size() != 1 || !resp->topics()->Get(0)->partitions() ||
          resp->topics()->Get(0)->partitions()->size() != 1) {
        return Fail(Errc::kCorrupt, "list offsets: malformed answer");
      }
      const auto* p = resp->topics()->Get(0)->partitions()->Get(0);
      if (p->error() == fb::ErrorCode::None) return p->offset();
      failure = Error(wire::FromWireError(p->error()), wire::Str(p->message()));
      if (!wire::IsRetriable(p->error())) return tl::unexpected(failure);
      if (p->error() == fb::ErrorCode::NotLeader || p->error() == fb::ErrorCode::LeaderNotAvailable) {
        // ListOffsets answers carry no hint: forget the leader and ask again.
        OnNotLeader(topic, partition, leader, kNoBroker, 0);
      }
    }
    if (std::chrono::steady_clock::now() + options_.retry_backoff > deadline) return tl::unexpected(failure);
    IgnoreError(RefreshMetadataSync({topic}), "retried until the deadline");
    std::this_thread::sleep_for(options_.retry_backoff);
  }
}

}  // namespace telemq::client
