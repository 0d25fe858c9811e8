#pragma once
// The streamer's pure timing core: when each owned host emits its next
// snapshot, how fast points may go out, and the stamps they carry. No clock,
// threads or I/O inside: time enters as `now_us`, int64 microseconds since
// the Unix epoch (wall clock, because slots must line up across streamer
// processes). Not thread-safe: the streaming thread owns these objects.
//
// Interval pacing (--interval D > 0): host h emits at its slots
// phase(h) + k*D, where phase(h) = FNV-1a(hostname) mod D. Every streamer
// computes the same slots, so when a host moves (its old owner stops and
// flushes before the new one starts) the new owner begins at the first slot
// after it was assigned, and the old owner's last slot lies before that: no
// slot is emitted twice. Distinct phases also spread the hosts' snapshots
// over the interval instead of bursting them together. A snapshot emitted
// more than half an interval after its slot makes the host skip the slots
// that are less than half an interval away (a "now"-stamped source has no
// use for a backlog, and one host's snapshots stay at least half an interval
// apart); the skipped slots are counted.
//
// Rate pacing (--rate R, or --interval 0): owned hosts take turns, one
// snapshot each, and RatePacer spaces snapshots so points leave at R/s
// (R = 0: no pause at all).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace telemq::streamer {

// Stable across processes and builds (unlike std::hash).
uint64_t HostPhaseHash(std::string_view hostname);

class SlotGrid {
 public:
  // Requires interval > 0.
  explicit SlotGrid(std::chrono::microseconds interval);
  int64_t Phase(std::string_view hostname) const;
  // Smallest k >= 0 with SlotTime(phase, k) >= t.
  int64_t FirstSlotAtOrAfter(int64_t phase, int64_t t) const;
  int64_t SlotTime(int64_t phase, int64_t k) const { return phase + k * interval_us_; }
  int64_t interval_us() const { return interval_us_; }

 private:
  int64_t interval_us_;
};

class HostSchedule {
 public:
  // interval > 0: slots (see above); 0: round robin. `hosts` gives the names
  // (for phases) of host indexes 0..hosts.size()-1.
  HostSchedule(std::chrono::microseconds interval, const std::vector<std::string>& hosts);

  // Starts scheduling `host` (no-op when already owned). `limit`: emit this
  // many snapshots, then drop it (a single pass); nullopt: forever.
  void Add(size_t host, int64_t now_us, std::optional<uint64_t> limit = std::nullopt);
  // Stops scheduling `host`; its counters are kept for a later Add.
  void Remove(size_t host);
  bool Owns(size_t host) const { return hosts_[host].scheduled; }

  struct Due {
    size_t host = 0;
    int64_t due_us = 0;     // interval: the slot's time; round robin: 0 (now)
    uint64_t snapshot = 0;  // which snapshot to emit: the slot number when
                            // looping on slots (same on every streamer),
                            // else how many this host emitted before
  };
  // The host to serve next (earliest slot, or next in turn); nullopt when
  // none is scheduled.
  std::optional<Due> Next() const;
  // The host of Next() emitted at now_us. Returns how many of its slots were
  // skipped because it was late (always 0 in round robin).
  uint64_t Emitted(size_t host, int64_t now_us);
  // Nothing scheduled: nothing owned, or every single pass finished.
  bool Idle() const { return queue_.empty(); }
  size_t scheduled_count() const { return queue_.size(); }

 private:
  struct HostState {
    bool scheduled = false;
    int64_t key = 0;  // position in queue_: slot time or turn
    int64_t phase = 0;
    int64_t slot = 0;
    uint64_t emitted = 0;
    std::optional<uint64_t> limit;
  };
  std::optional<SlotGrid> grid_;
  std::vector<HostState> hosts_;
  std::set<std::pair<int64_t, size_t>> queue_;  // (key, host)
  int64_t turn_ = 0;
};

class RatePacer {
 public:
  // points_per_s <= 0: unlimited.
  explicit RatePacer(double points_per_s);
  // Earliest time the next snapshot may start (now_us when unlimited).
  int64_t NextAllowed(int64_t now_us) const;
  void Consumed(size_t points, int64_t now_us);

 private:
  // After a stall (e.g. the producer buffer was full) at most this much
  // lost time is made up by going faster.
  static constexpr double kMaxCatchUpUs = 100'000;
  double points_per_s_;
  double next_us_ = 0;
};

// Per-GPU stamps: within one snapshot every point of a GPU gets the same
// stamp, max(now, that GPU's previous stamp + 1), so a GPU's stamps strictly
// increase even if the clock stalls or steps back.
class GpuStamper {
 public:
  explicit GpuStamper(size_t gpus) : last_(gpus, INT64_MIN), stamped_in_(gpus, 0) {}
  void BeginSnapshot(int64_t now_us) {
    now_us_ = now_us;
    ++snapshot_;
  }
  int64_t Stamp(uint32_t gpu) {
    if (stamped_in_[gpu] != snapshot_) {
      stamped_in_[gpu] = snapshot_;
      if (now_us_ < last_[gpu]) {
        // The clock is behind this GPU's last stamp (it stepped back): the
        // stamp is moved past it, and the caller reports it.
        ++clamped_;
        max_behind_us_ = std::max(max_behind_us_, last_[gpu] - now_us_);
      }
      last_[gpu] = std::max(now_us_, last_[gpu] + 1);
    }
    return last_[gpu];
  }
  // Stamps moved forward since the last call, and the largest distance the
  // clock was behind; both reset.
  std::pair<uint64_t, int64_t> TakeClamped() {
    const auto r = std::make_pair(clamped_, max_behind_us_);
    clamped_ = 0;
    max_behind_us_ = 0;
    return r;
  }

 private:
  std::vector<int64_t> last_;
  std::vector<uint64_t> stamped_in_;  // snapshot_ of the last stamp
  uint64_t snapshot_ = 0;
  int64_t now_us_ = 0;
  uint64_t clamped_ = 0;
  int64_t max_behind_us_ = 0;
};

}  // namespace telemq::streamer
