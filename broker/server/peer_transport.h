#pragma once
// PeerTransport: the Raft messages of every replica on this broker, carried
// to the other brokers (docs/replication.md §8). One outgoing connection per
// peer broker carries the messages of all partitions; the peer answers each
// frame with a small acknowledgement, and its own messages come back over
// its own connection to us. Messages queue per peer while a frame is on the
// wire and leave together in the next one (at most kMaxInFlight frames
// unacknowledged), so many partitions' heartbeats of one tick share a frame
// and a busy link batches appends naturally. Entry bytes are written from the
// entries' own buffers (scatter-gather), never copied.
//
// Best effort, as Raft expects: a message for a peer that is unreachable, or
// beyond the bounded queue, is dropped (Raft retransmits). Peers are
// `host:port` names resolved at every connection attempt (a StatefulSet
// pod's name may not resolve until it starts); a peer not in the
// configuration is learned from the address in its own frames.
//
// Liveness: a peer is live while its acknowledgements keep arriving (every
// frame is acknowledged, and an idle link carries a keepalive frame per
// second, which also carries the complete list of partitions this broker
// leads).
//
// Thread-safety: Send, IsLive, LiveBrokers, Learn and SetIdentity may be
// called from any thread; Start/Stop from the owner.

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/cluster/peer_codec.h"
#include "broker/replication/replica.h"

namespace telemq::broker {

class PeerTransport final : public replication::Transport {
 public:
  struct Options {
    int32_t self = 0;
    // "host:port" per broker id (index = id); this broker's own entry and
    // empty entries are skipped.
    std::vector<std::string> peers;
    std::chrono::milliseconds liveness_timeout{3000};
    std::chrono::milliseconds keepalive_interval{1000};
    // Messages (bytes of entries) queued per peer beyond which new ones are dropped.
    size_t max_queued_bytes = 64u << 20;
    // A frame's payload is cut at about this many bytes.
    size_t max_frame_payload_bytes = 8u << 20;
    uint32_t max_frame_bytes = 64u << 20;
    // The partitions this broker leads (called on a transport thread for
    // each keepalive).
    std::function<std::vector<cluster::Leadership>()> leaderships;
  };

  PeerTransport(asio::io_context& io, Options options);
  ~PeerTransport() override;
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  void Start();
  // Closes every connection; later Sends are dropped.
  void Stop();

  // replication::Transport: queues `message` for the broker of message.to.
  void Send(const replication::PartitionKey& partition, uint64_t topic_id, const raft::Message& message) override;

  // What this broker says about itself in every frame.
  void SetIdentity(std::string cluster_id, std::string host, uint16_t port);
  // A broker heard from (its frames name its address): connects to it if it
  // is not configured.
  void Learn(int32_t broker, const std::string& host, uint16_t port);
  // This broker, and every peer whose acknowledgement arrived within the
  // liveness timeout.
  bool IsLive(int32_t broker) const;
  std::vector<int32_t> LiveBrokers() const;
  // Frames and messages sent so far (tests, metrics).
  uint64_t frames_sent() const { return frames_sent_.load(std::memory_order_relaxed); }
  uint64_t messages_sent() const { return messages_sent_.load(std::memory_order_relaxed); }
  uint64_t messages_dropped() const { return messages_dropped_.load(std::memory_order_relaxed); }

  class Peer;

 private:
  std::shared_ptr<Peer> PeerFor(int32_t broker);
  std::shared_ptr<Peer> AddPeerLocked(int32_t broker, std::string address);

  asio::io_context& io_;
  Options options_;
  mutable std::mutex mu_;
  std::map<int32_t, std::shared_ptr<Peer>> peers_;  // guarded by mu_
  bool started_ = false;                            // guarded by mu_
  bool stopped_ = false;                            // guarded by mu_
  std::mutex identity_mu_;
  std::string cluster_id_, host_;  // guarded by identity_mu_
  uint16_t port_ = 0;              // guarded by identity_mu_
  std::atomic<uint64_t> frames_sent_{0};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> messages_dropped_{0};

  friend class Peer;
  cluster::PeerHeader Header(int32_t to, bool with_leaderships);
};

}  // namespace telemq::broker
