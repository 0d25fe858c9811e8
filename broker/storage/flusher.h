#pragma once
// Flusher: the one background thread that makes partition logs durable.
//   * fsync=always: the server calls RequestSync after an append and answers
//     the producer from `done`. Group commit: the thread takes every pending
//     request at once, fdatasyncs each distinct log once, and completes every
//     request that sync covers, so N concurrent produces cost one fdatasync.
//   * fsync=interval: Register the log; every `interval` the thread syncs each
//     registered log that has unsynced batches.
// Thread-safety: every method may be called from any thread. `done` runs on
// the flusher thread (or in Stop/RunOnce's caller) without locks held; it
// must not block. Ownership: the Flusher holds shared references to logs
// with pending requests or registrations until they complete or unregister.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "broker/storage/partition_log.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::storage {

class Flusher {
 public:
  using Done = std::function<void(Result<Offset>)>;

  // `interval`: period of the fsync=interval syncs; <= 0 disables them.
  explicit Flusher(std::chrono::milliseconds interval);
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;
  ~Flusher();  // Stop()

  // Called with the duration of every fdatasync the Flusher does (not the
  // no-op syncs of logs with nothing unsynced), on the flusher thread (or
  // RunOnce's caller); must be cheap and thread-safe. Set before Start().
  void SetSyncObserver(std::function<void(std::chrono::nanoseconds)> observer) { sync_observer_ = std::move(observer); }

  void Start();
  // Completes what is pending (one last sync round), fails requests the
  // round does not cover with kShuttingDown, joins the thread. Idempotent.
  void Stop();

  // Calls done(durable end offset) once `log` is durable at least up to
  // `up_to` (exclusive end offset), or done(error) if syncing it fails or the
  // Flusher stops first. A request beyond what has been appended waits for a
  // later round.
  void RequestSync(std::shared_ptr<PartitionLog> log, Offset up_to, Done done);
  void Register(std::shared_ptr<PartitionLog> log);
  void Unregister(PartitionLog* log);

  // One round of work on the caller's thread: every pending request, plus
  // the registered logs if `sync_registered`. Returns the fdatasyncs done.
  // The thread calls it; tests call it directly to stay deterministic.
  int RunOnce(bool sync_registered);

 private:
  struct Request {
    std::shared_ptr<PartitionLog> log;
    Offset up_to;
    Done done;
  };
  void Loop();

  const std::chrono::milliseconds interval_;
  std::function<void(std::chrono::nanoseconds)> sync_observer_;  // set before Start
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> pending_;                           // GUARDED_BY(mu_)
  std::vector<std::shared_ptr<PartitionLog>> registered_;  // GUARDED_BY(mu_)
  bool wake_ = false;                                      // GUARDED_BY(mu_): new requests arrived
  bool stop_ = false;                                      // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace telemq::storage
