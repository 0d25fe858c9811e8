#include "broker/storage/flusher.h"

#include <algorithm>
#include <unordered_map>

namespace telemq::storage {

Flusher::Flusher(std::chrono::milliseconds interval) : interval_(interval) {}

Flusher::~Flusher() { Stop(); }

void Flusher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Flusher::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  RunOnce(true);
  std::vector<Request> left;
  {
    std::lock_guard lock(mu_);
    left.swap(pending_);
  }
  for (auto& r : left) r.done(Fail(Errc::kShuttingDown, "flusher stopped before the data was appended"));
}

void Flusher::RequestSync(std::shared_ptr<PartitionLog> log, Offset up_to, Done done) {
  {
    std::lock_guard lock(mu_);
    pending_.push_back(Request{std::move(log), up_to, std::move(done)});
    wake_ = true;
  }
  cv_.notify_one();
}

void Flusher::Register(std::shared_ptr<PartitionLog> log) {
  std::lock_guard lock(mu_);
  registered_.push_back(std::move(log));
}

void Flusher::Unregister(PartitionLog* log) {
  std::lock_guard lock(mu_);
  std::erase_if(registered_, [log](const auto& l) { return l.get() == log; });
}

int Flusher::RunOnce(bool sync_registered) {
  std::vector<Request> batch;
  std::vector<std::shared_ptr<PartitionLog>> periodic;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
    if (sync_registered) periodic = registered_;
  }
  // Group commit: one Sync per distinct log, however many requests wait on it.
  std::unordered_map<PartitionLog*, Result<Offset>> synced;
  int syncs = 0;
  auto sync = [&](PartitionLog* log) {
    if (synced.count(log) != 0) return;
    const bool needed = log->durable_offset() < log->log_end_offset();
    const auto start =
        needed && sync_observer_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    synced.emplace(log, log->Sync());
    if (needed) {
      ++syncs;
      if (sync_observer_) sync_observer_(std::chrono::steady_clock::now() - start);
    }
  };
  for (const auto& r : batch) sync(r.log.get());
  for (const auto& log : periodic) sync(log.get());

  std::vector<Request> waiting;
  for (auto& r : batch) {
    const Result<Offset>& result = synced.at(r.log.get());
    if (!result) {
      r.done(tl::unexpected(result.error()));
    } else if (*result >= r.up_to) {
      r.done(*result);
    } else {
      waiting.push_back(std::move(r));  // not appended yet: a later round
    }
  }
  if (!waiting.empty()) {
    std::lock_guard lock(mu_);
    for (auto& r : waiting) pending_.push_back(std::move(r));
  }
  return syncs;
}

void Flusher::Loop() {
  using Clock = std::chrono::steady_clock;
  const bool periodic = interval_.count() > 0;
  auto next_tick = Clock::now() + interval_;
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (periodic) {
      cv_.wait_until(lock, next_tick, [this] { return stop_ || wake_; });
    } else {
      cv_.wait(lock, [this] { return stop_ || wake_; });
    }
    if (stop_) break;
    const auto now = Clock::now();
    const bool tick = periodic && now >= next_tick;
    if (tick) next_tick = now + interval_;
    wake_ = false;
    lock.unlock();
    RunOnce(tick);
    lock.lock();
  }
}

}  // namespace telemq::storage
