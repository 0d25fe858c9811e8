#include "streamer/streamer.h"

#include <algorithm>

#include "streamer/shard.h"
#include "telemq/common/log.h"

namespace telemq::streamer {
namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Failures are logged in full for the first few, then every 10,000th, so a
// broker outage does not flood the log (the counter has the exact number).
bool ShouldLog(std::atomic<uint64_t>& n) {
  const uint64_t i = n.fetch_add(1, std::memory_order_relaxed);
  return i < 10 || i % 10'000 == 0;
}

std::atomic<uint64_t> g_logged_ack_errors{0};

}  // namespace

StreamerMetrics::StreamerMetrics(metrics::Registry& r)
    : points_sent(r.AddCounter("telemq_streamer_points_sent_total", "Points handed to the producer")),
      points_acked(r.AddCounter("telemq_streamer_points_acked_total", "Points acknowledged by the broker")),
      send_errors(r.AddCounter("telemq_streamer_send_errors_total",
                               "Points that could not be delivered (the producer gave up); lost, not re-sent")),
      snapshots(r.AddCounter("telemq_streamer_snapshots_total", "Host snapshots emitted")),
      slots_missed(r.AddCounter("telemq_streamer_snapshot_slots_missed_total",
                                "Interval slots skipped because the streamer ran more than an interval late")),
      points_abandoned(r.AddCounter("telemq_streamer_points_abandoned_total",
                                    "Points not sent: the producer buffer stayed full while stopping or while hosts "
                                    "were being handed over")),
      stamps_clamped(r.AddCounter("telemq_streamer_stamps_clamped_total",
                                  "GPU stamps moved past the GPU's previous stamp because the clock was behind it")),
      hosts_owned(r.AddGauge("telemq_streamer_hosts_owned", "Hosts this streamer streams now")),
      partitions_owned(r.AddGauge("telemq_streamer_partitions_owned",
                                  "Host shards (partitions of the group's coordination topic, one per host) assigned")),
      send_latency(r.AddHistogram("telemq_streamer_send_latency_seconds", "From Send to the broker's acknowledgement",
                                  metrics::LatencyBuckets())) {}

Streamer::Streamer(StreamerOptions options, std::unique_ptr<Source> source, Producer& producer,
                   StreamerMetrics& metrics)
    : options_(std::move(options)),
      source_(std::move(source)),
      producer_(producer),
      metrics_(metrics),
      shards_of_hosts_(source_->hosts()),
      schedule_(options_.interval, source_->hosts()),
      pacer_(options_.interval.count() > 0 ? 0 : options_.rate),
      stamper_(source_->gpu_count()) {}

Streamer::~Streamer() { Stop(); }

void Streamer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Streamer::RequestStop() {
  stop_ = true;
  cv_.notify_all();
}

void Streamer::Stop() {
  stop_ = true;
  {
    // Taking the lock once after setting stop_ means the thread is either
    // past its check of stop_ and waiting (and gets the notify below) or has
    // yet to check it. Waits at most one snapshot (Send retries every
    // max_block, then sees stop_).
    std::lock_guard lock(mu_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::unique_lock<std::mutex> Streamer::LockForChange() {
  waiters_.fetch_add(1);
  std::unique_lock lock(mu_);
  waiters_.fetch_sub(1);
  return lock;
}

void Streamer::AssignShards(const std::vector<int32_t>& shards) {
  {
    auto lock = LockForChange();
    const int64_t now = NowUs();
    shards_.insert(shards.begin(), shards.end());
    const std::set<int32_t> added(shards.begin(), shards.end());
    for (size_t host : shards_of_hosts_.HostsIn(added)) {
      schedule_.Add(host, now);
    }
    PublishStatusLocked();
  }
  cv_.notify_all();
}

void Streamer::RevokeShards(const std::vector<int32_t>& shards, bool lost) {
  size_t removed = 0;
  {
    auto lock = LockForChange();
    for (int32_t s : shards) shards_.erase(s);
    const std::set<int32_t> gone(shards.begin(), shards.end());
    for (size_t host : shards_of_hosts_.HostsIn(gone)) {
      if (schedule_.Owns(host)) ++removed;
      schedule_.Remove(host);
    }
    PublishStatusLocked();
  }
  cv_.notify_all();
  // Nothing of these hosts is sent from here on; wait until what was sent
  // is acknowledged, so the next owner's points follow ours.
  const auto started = std::chrono::steady_clock::now();
  auto flushed = producer_.Flush(stop_ ? std::min(options_.revoke_flush_timeout, options_.stop_flush_timeout)
                                       : options_.revoke_flush_timeout);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!flushed) {
    log::Error("shards handed over before their points were acknowledged", {{"change", lost ? "lost" : "revoked"},
                                                                            {"shard_count", shards.size()},
                                                                            {"host_count", removed},
                                                                            {"elapsed_ms", ms},
                                                                            {"error", flushed.error().ToString()}});
  } else {
    log::Info("shards handed over; earlier points acknowledged", {{"change", lost ? "lost" : "revoked"},
                                                                  {"shard_count", shards.size()},
                                                                  {"host_count", removed},
                                                                  {"elapsed_ms", ms}});
  }
}

void Streamer::AssignAllHosts() {
  {
    auto lock = LockForChange();
    const int64_t now = NowUs();
    for (size_t host = 0; host < source_->hosts().size(); ++host) {
      std::optional<uint64_t> limit = options_.snapshots_per_host;
      if (!options_.loop && !limit) limit = source_->snapshot_count(host);
      schedule_.Add(host, now, options_.loop ? std::nullopt : limit);
    }
    all_assigned_ = true;
    PublishStatusLocked();
  }
  cv_.notify_all();
}

bool Streamer::WaitDone(std::chrono::milliseconds timeout) {
  std::unique_lock lock(done_mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return done_; });
}

StreamerStatus Streamer::Status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

void Streamer::PublishStatusLocked() {
  StreamerStatus s;
  s.partitions.assign(shards_.begin(), shards_.end());
  for (size_t host = 0; host < source_->hosts().size(); ++host) {
    if (schedule_.Owns(host)) s.hosts.push_back(source_->hosts()[host]);
  }
  std::sort(s.hosts.begin(), s.hosts.end());
  metrics_.hosts_owned.Set(static_cast<double>(s.hosts.size()));
  metrics_.partitions_owned.Set(static_cast<double>(s.partitions.size()));
  std::lock_guard lock(status_mu_);
  status_ = std::move(s);
}

void Streamer::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Ownership changes go first: they wait for the lock only as long as one
    // snapshot takes.
    if (waiters_.load() > 0) {
      cv_.wait(lock, [&] { return waiters_.load() == 0 || stop_; });
      continue;
    }
    auto due = schedule_.Next();
    if (!due) {
      if (all_assigned_ && !done_) {
        {
          std::lock_guard done_lock(done_mu_);
          done_ = true;
        }
        done_cv_.notify_all();
        // Single-pass hosts leave the schedule when finished: keep the
        // status (and /status) honest.
        PublishStatusLocked();
      }
      cv_.wait(lock);
      continue;
    }
    const int64_t now = NowUs();
    const int64_t start = std::max(due->due_us, pacer_.NextAllowed(now));
    if (start > now) {
      cv_.wait_for(lock, std::chrono::microseconds(start - now));
      continue;
    }
    EmitSnapshot(*due, now);
  }
}

void Streamer::EmitSnapshot(const HostSchedule::Due& due, int64_t now_us) {
  Snapshot snapshot = source_->Get(due.host, due.snapshot, now_us);
  stamper_.BeginSnapshot(now_us);
  // The snapshot is finished even when a stop is requested meanwhile (it
  // takes milliseconds while the broker takes points).
  for (size_t i = 0; i < snapshot.points.size(); ++i) {
    telemetry::TelemetryPoint& p = snapshot.points[i];
    p.timestamp_us = stamper_.Stamp(snapshot.gpus[i]);
    auto value = encoder_.Encode(p);
    if (!value) {
      metrics_.send_errors.Inc();
      if (ShouldLog(logged_errors_)) {
        log::Error("point not encodable, dropped", {{"host", p.hostname},
                                                    {"gpu", p.gpu_uuid},
                                                    {"metric", p.metric_name},
                                                    {"error", value.error().ToString()}});
      }
      continue;
    }
    // Latency is sampled: the first point of each snapshot (reading the
    // clock twice per point costs more than the rest of the bookkeeping).
    if (SendPoint(p, *value, i == 0 ? SteadyNs() : -1) == Sent::kGiveUp) {
      const size_t rest = snapshot.points.size() - i;
      metrics_.points_abandoned.Inc(rest);
      log::Warn("snapshot points abandoned: the producer buffer stays full (broker slow or unreachable)",
                {{"host", p.hostname}, {"point_count", rest}, {"because", stop_ ? "stopping" : "handing hosts over"}});
      break;
    }
  }
  if (const auto [clamped, behind_us] = stamper_.TakeClamped(); clamped > 0) {
    metrics_.stamps_clamped.Inc(clamped);
    if (ShouldLog(logged_clamps_)) {
      log::Warn("clock behind the last stamp; stamped after it instead",
                {{"host", snapshot.points.empty() ? std::string("?") : snapshot.points[0].hostname},
                 {"behind_us", behind_us},
                 {"gpu_count", clamped}});
    }
  }
  metrics_.snapshots.Inc();
  metrics_.slots_missed.Inc(schedule_.Emitted(due.host, now_us));
  pacer_.Consumed(snapshot.points.size(), now_us);
}

Streamer::Sent Streamer::SendPoint(const telemetry::TelemetryPoint& p, std::string_view value, int64_t sent_ns) {
  StreamerMetrics* m = &metrics_;
  // Captures two words, so std::function keeps it inline (no allocation).
  auto on_ack = [m, sent_ns](const Result<RecordMetadata>& r) {
    if (r) {
      m->points_acked.Inc();
      if (sent_ns >= 0) m->send_latency.Observe(static_cast<double>(SteadyNs() - sent_ns) / 1e9);
      return;
    }
    m->send_errors.Inc();
    if (ShouldLog(g_logged_ack_errors)) log::Error("point not delivered (lost)", {{"error", r.error().ToString()}});
  };
  // Record timestamps are ms; floor keeps the record's ms within the point's.
  const int64_t ts_ms = p.timestamp_us >= 0 ? p.timestamp_us / 1000 : 0;
  for (;;) {
    auto sent = producer_.Send(options_.topic, p.gpu_uuid, value, on_ack, ts_ms);
    if (sent) {
      metrics_.points_sent.Inc();
      return Sent::kOk;
    }
    if (sent.error().code() == Errc::kBufferFull) {
      // The producer's buffer stayed full for max_block. A stop or an
      // ownership change must not wait on the broker forever (it holds mu_
      // here); otherwise wait on: dropping would lose data for nothing.
      if (stop_ || waiters_.load() > 0) return Sent::kGiveUp;
      log::Warn("producer buffer full (broker slow or unreachable); still waiting to send");
      continue;
    }
    metrics_.send_errors.Inc();
    if (ShouldLog(logged_errors_)) {
      log::Error("send failed, point lost",
                 {{"host", p.hostname}, {"gpu", p.gpu_uuid}, {"error", sent.error().ToString()}});
    }
    return Sent::kFailed;
  }
}

}  // namespace telemq::streamer
