#include "streamer/schedule.h"

#include <algorithm>

#include "telemq/common/check.h"

namespace telemq::streamer {

uint64_t HostPhaseHash(std::string_view hostname) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : hostname) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

SlotGrid::SlotGrid(std::chrono::microseconds interval) : interval_us_(interval.count()) {
  TELEMQ_CHECK(interval_us_ > 0, "slot interval must be positive");
}

int64_t SlotGrid::Phase(std::string_view hostname) const {
  return static_cast<int64_t>(HostPhaseHash(hostname) % static_cast<uint64_t>(interval_us_));
}

int64_t SlotGrid::FirstSlotAtOrAfter(int64_t phase, int64_t t) const {
  if (t <= phase) return 0;
  return (t - phase + interval_us_ - 1) / interval_us_;
}

HostSchedule::HostSchedule(std::chrono::microseconds interval, const std::vector<std::string>& hosts)
    : hosts_(hosts.size()) {
  if (interval.count() > 0) {
    grid_.emplace(interval);
    for (size_t i = 0; i < hosts.size(); ++i) hosts_[i].phase = grid_->Phase(hosts[i]);
  }
}

void HostSchedule::Add(size_t host, int64_t now_us, std::optional<uint64_t> limit) {
  HostState& h = hosts_[host];
  if (h.scheduled) return;
  h.limit = limit;
  if (h.limit && h.emitted >= *h.limit) return;
  if (grid_) {
    h.slot = grid_->FirstSlotAtOrAfter(h.phase, now_us);
    h.key = grid_->SlotTime(h.phase, h.slot);
  } else {
    h.key = turn_++;
  }
  h.scheduled = true;
  queue_.emplace(h.key, host);
}

void HostSchedule::Remove(size_t host) {
  HostState& h = hosts_[host];
  if (!h.scheduled) return;
  queue_.erase({h.key, host});
  h.scheduled = false;
}

std::optional<HostSchedule::Due> HostSchedule::Next() const {
  if (queue_.empty()) return std::nullopt;
  const auto [key, host] = *queue_.begin();
  const HostState& h = hosts_[host];
  Due due{.host = host, .due_us = grid_ ? key : 0, .snapshot = h.emitted};
  if (grid_ && !h.limit) due.snapshot = static_cast<uint64_t>(h.slot);
  return due;
}

uint64_t HostSchedule::Emitted(size_t host, int64_t now_us) {
  HostState& h = hosts_[host];
  TELEMQ_CHECK(h.scheduled, "Emitted for a host that is not scheduled");
  queue_.erase({h.key, host});
  ++h.emitted;
  if (h.limit && h.emitted >= *h.limit) {
    h.scheduled = false;
    return 0;
  }
  uint64_t missed = 0;
  if (grid_) {
    int64_t next = h.slot + 1;
    const int64_t earliest = now_us + grid_->interval_us() / 2;
    if (grid_->SlotTime(h.phase, next) < earliest) {
      const int64_t caught_up = grid_->FirstSlotAtOrAfter(h.phase, earliest);
      missed = static_cast<uint64_t>(caught_up - next);
      next = caught_up;
    }
    h.slot = next;
    h.key = grid_->SlotTime(h.phase, next);
  } else {
    h.key = turn_++;
  }
  queue_.emplace(h.key, host);
  return missed;
}

RatePacer::RatePacer(double points_per_s) : points_per_s_(points_per_s) {}

int64_t RatePacer::NextAllowed(int64_t now_us) const {
  if (points_per_s_ <= 0) return now_us;
  return std::max(now_us, static_cast<int64_t>(next_us_));
}

void RatePacer::Consumed(size_t points, int64_t now_us) {
  if (points_per_s_ <= 0) return;
  next_us_ = std::max(next_us_, static_cast<double>(now_us) - kMaxCatchUpUs);
  next_us_ += static_cast<double>(points) * 1e6 / points_per_s_;
}

}  // namespace telemq::streamer
