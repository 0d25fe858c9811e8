#pragma once
// The broker's side of the replication seams (broker/replication/replica.h):
// each replica runs on its own Asio strand, syncs through the broker's one
// Flusher (group commit across partitions) and reads the system clock; Raft
// messages travel through the PeerTransport (peer_transport.h).
//
// Thread-safety: StrandExecutor::Post, FlusherSyncer::RequestSync and
// SystemClock::NowMs may be called from any thread.

#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <functional>
#include <memory>

#include "broker/replication/replica.h"
#include "broker/storage/flusher.h"

namespace telemq::broker {

class StrandExecutor final : public replication::Executor {
 public:
  explicit StrandExecutor(asio::io_context& io) : strand_(asio::make_strand(io)) {}
  void Post(std::function<void()> task) override;

 private:
  asio::strand<asio::io_context::executor_type> strand_;
};

class FlusherSyncer final : public replication::Syncer {
 public:
  explicit FlusherSyncer(storage::Flusher& flusher) : flusher_(flusher) {}
  void RequestSync(std::shared_ptr<storage::PartitionLog> log, Offset up_to,
                   std::function<void(Result<Offset>)> done) override {
    flusher_.RequestSync(std::move(log), up_to, std::move(done));
  }

 private:
  storage::Flusher& flusher_;
};

class SystemClock final : public replication::Clock {
 public:
  int64_t NowMs() const override;
};

}  // namespace telemq::broker
