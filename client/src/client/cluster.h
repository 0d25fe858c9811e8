#pragma once
// Internal to the client library: one I/O thread (Asio) per client object,
// connections to brokers with pipelined requests, and the metadata cache
// (MetadataCache: topic → partition → leader and term, broker id → address,
// the controller). Everything inside runs on the I/O thread; public methods
// post to it and are thread-safe.
//
// Node ids: a broker id (>= 0) is dialled at its address from metadata (or
// a coordinator lookup); kAnyBroker picks any broker (known live ones, then
// the bootstrap list) for requests every broker answers (metadata,
// coordinator lookup, producer ids). Requests for a partition go to its
// leader only; with none known the caller waits, it never guesses.

#include <flatbuffers/flatbuffers.h>

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "client/metadata_cache.h"
#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol_generated.h"

namespace telemq::client {

// A whole response frame: body (a FlatBuffer, not yet verified) then payload.
struct Frame {
  std::shared_ptr<std::vector<std::byte>> bytes;
  uint32_t body_length = 0;
  std::span<const std::byte> body() const { return std::span<const std::byte>(*bytes).first(body_length); }
  std::span<const std::byte> payload() const { return std::span<const std::byte>(*bytes).subspan(body_length); }
};
using FrameCallback = std::function<void(Result<Frame>)>;

// What a request sends: a FlatBuffer body plus raw payload pieces, which must
// stay alive until the callback runs (the owner keeps them in `keepalive`).
struct Request {
  wire::ApiKey api_key;
  flatbuffers::DetachedBuffer body;
  std::vector<std::span<const std::byte>> payload;
  std::shared_ptr<void> keepalive;
};

inline constexpr int32_t kAnyBroker = -1;

class Connection;

class Cluster : public std::enable_shared_from_this<Cluster> {
 public:
  static Result<std::shared_ptr<Cluster>> Create(const ClientOptions& options);
  ~Cluster();
  void Shutdown();

  asio::io_context& io() { return io_; }
  const ClientOptions& options() const { return options_; }

  // Sends to broker `node` (kAnyBroker: any). A broker id without a known
  // address fails with kDisconnected (the caller refreshes metadata and
  // retries). I/O thread or not.
  void Send(int32_t node, Request request, FrameCallback done);
  // Blocking variant for admin-style calls (not from the I/O thread).
  Result<Frame> Call(int32_t node, Request request);

  // Refreshes metadata for `topics` (empty: all) and calls `done` on the I/O
  // thread.
  void RefreshMetadata(std::vector<std::string> topics, std::function<void(Result<void>)> done);
  // Blocking RefreshMetadata (not on the I/O thread).
  Result<void> RefreshMetadataSync(std::vector<std::string> topics);
  // Fire and forget, for the I/O thread's retry paths: refreshes `topics`
  // soon, coalescing requests so that at most one refresh is in flight and
  // refreshes start at most once per retry_backoff. Thread-safe.
  void RequestMetadataRefresh(const std::vector<std::string>& topics);
  // Blocking: ensures `topic` is known; kNotFound if the broker says it does not exist.
  Result<TopicInfo> WaitForTopic(const std::string& topic, std::chrono::milliseconds timeout);
  // Blocking: the leader of a partition, refreshing metadata with backoff
  // while none is known, until `timeout` (then kNotLeader).
  Result<int32_t> WaitForLeader(const std::string& topic, int32_t partition, std::chrono::milliseconds timeout);
  // Snapshot of the cache (thread-safe).
  std::optional<TopicInfo> Topic(const std::string& topic) const;
  // The topic's partition count as cached (nullopt: not known): the
  // producer's per-record question, without copying the topic's metadata.
  std::optional<int32_t> PartitionCount(const std::string& topic) const;
  int32_t LeaderOf(const std::string& topic, int32_t partition) const;
  // The controller leader (kNoBroker: none known) and forgetting it after a
  // NotController from `from`.
  int32_t Controller() const;
  void ForgetController(int32_t from);
  // A NotLeader / LeaderNotAvailable answer from broker `from` with the
  // broker's leader hint and term (MetadataCache::ApplyNotLeader).
  MetadataCache::HintOutcome OnNotLeader(const std::string& topic, int32_t partition, int32_t from, int32_t hint,
                                         int64_t term);
  // Blocking list-offsets for one partition: timestamp -2 earliest, -1
  // latest (high watermark), else the first offset at or after it (-1: none).
  // Goes to the partition's leader, following leader changes until the
  // request timeout.
  Result<int64_t> ListOffset(const std::string& topic, int32_t partition, int64_t timestamp);
  // Records a broker's address learned outside metadata (a group
  // coordinator lookup), so Send(node) can reach it. Thread-safe.
  void AddBroker(int32_t id, std::string host, uint16_t port);

 private:
  // Responses on a connection leave in request order, so a long-poll fetch
  // holds everything queued behind it for up to fetch_max_wait. Fetches get
  // a connection of their own; heartbeats, commits and offset lookups use
  // the other one and are never delayed by them.
  enum class Lane { kDefault, kFetch };

  explicit Cluster(const ClientOptions& options);
  std::shared_ptr<Connection> ConnectionTo(int32_t node, Lane lane);
  // A metadata answer that names no controller or leaves a partition
  // without a leader.
  static bool IncompleteMetadata(const Frame& frame);
  // The next any-broker request goes to the next broker (I/O thread).
  void RotateAnyBroker();
  void ApplyMetadata(const Frame& frame, const std::vector<std::string>& asked, Result<void>* status);
  void StartRequestedRefresh();  // I/O thread

  ClientOptions options_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  // I/O-thread state.
  std::map<std::pair<int32_t, Lane>, std::shared_ptr<Connection>> connections_;
  size_t next_any_ = 0;  // rotation over live brokers, then the bootstrap list
  // RequestMetadataRefresh state.
  std::set<std::string> refresh_topics_;  // I/O thread
  bool refresh_all_ = false;              // I/O thread
  bool refresh_in_flight_ = false;        // I/O thread
  bool refresh_timer_armed_ = false;      // I/O thread
  std::chrono::steady_clock::time_point next_refresh_at_{};
  std::optional<asio::steady_timer> refresh_timer_;  // I/O thread
  // Set by Shutdown(): no new connections or requests, so the I/O thread
  // runs out of work and ends.
  std::atomic<bool> stopping_{false};  // written under send_mu_
  std::mutex send_mu_;
  // Shared with callers; guarded by mu_.
  mutable std::mutex mu_;
  MetadataCache cache_;
  std::map<std::string, std::string> missing_;  // topic → error message
};

// One topic of a metadata answer as the cache keeps it (leader -1 for a
// partition without one).
TopicInfo TopicInfoOf(const wire::fb::TopicMetadata& topic);
// Merges a whole metadata answer's brokers and controller into `cache`.
void MergeBrokersAndController(const wire::fb::MetadataResponse& response, MetadataCache* cache);

// "host:port" → pair; kInvalidArgument otherwise.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& address);

}  // namespace telemq::client
