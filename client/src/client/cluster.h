#pragma once
// Internal to the client library: one I/O thread (Asio) per client object,
// connections to brokers with pipelined requests, and the metadata cache
// (topic → partition → leader, broker id → address). Everything inside runs
// on the I/O thread; public methods post to it and are thread-safe.

#include <flatbuffers/flatbuffers.h>

#include <asio.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/wire/frame.h"

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

struct PartitionInfo {
  int32_t leader = -1;
};
struct TopicInfo {
  std::vector<PartitionInfo> partitions;
};

class Connection;

class Cluster : public std::enable_shared_from_this<Cluster> {
 public:
  static Result<std::shared_ptr<Cluster>> Create(const ClientOptions& options);
  ~Cluster();
  void Shutdown();

  asio::io_context& io() { return io_; }
  const ClientOptions& options() const { return options_; }

  // Sends to broker `node` (-1: any bootstrap broker). I/O thread or not.
  void Send(int32_t node, Request request, FrameCallback done);
  // Blocking variant for admin-style calls (not from the I/O thread).
  Result<Frame> Call(int32_t node, Request request);

  // Refreshes metadata for `topics` (empty: all) and calls `done` on the I/O
  // thread. Concurrent refreshes are coalesced.
  void RefreshMetadata(std::vector<std::string> topics, std::function<void(Result<void>)> done);
  // Blocking: ensures `topic` is known; kNotFound if the broker says it does not exist.
  Result<TopicInfo> WaitForTopic(const std::string& topic, std::chrono::milliseconds timeout);
  // Snapshot of the cache (thread-safe).
  std::optional<TopicInfo> Topic(const std::string& topic) const;
  int32_t LeaderOf(const std::string& topic, int32_t partition) const;
  // Blocking list-offsets for one partition: timestamp -2 earliest, -1
  // latest (high watermark), else the first offset at or after it (-1: none).
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
  void ApplyMetadata(const Frame& frame, const std::vector<std::string>& asked, Result<void>* status);

  ClientOptions options_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  // I/O-thread state.
  std::map<std::pair<int32_t, Lane>, std::shared_ptr<Connection>> connections_;
  size_t next_bootstrap_ = 0;
  // Set by Shutdown(): no new connections or requests, so the I/O thread
  // runs out of work and ends.
  std::atomic<bool> stopping_{false};  // written under send_mu_
  std::mutex send_mu_;
  // Shared with callers; guarded by mu_.
  mutable std::mutex mu_;
  std::map<std::string, TopicInfo> topics_;
  std::map<std::string, std::string> missing_;  // topic → error message
  std::map<int32_t, std::pair<std::string, uint16_t>> brokers_;
};

// "host:port" → pair; kInvalidArgument otherwise.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& address);

}  // namespace telemq::client
