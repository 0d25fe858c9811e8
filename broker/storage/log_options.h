#pragma once
// Configuration of one partition log (documented like RocksDB's options.h:
// meaning, default, whether it can change at run time). The operator-facing
// names are the topic configs of docs/operations.md; the on-disk effects are
// described in docs/log-format.md.

#include <chrono>
#include <cstdint>

namespace telemq::storage {

enum class FsyncPolicy {
  kAlways,    // a produce is acknowledged only after fdatasync (group commit through Flusher)
  kInterval,  // fdatasync at most `fsync_interval` after an append (Flusher timer)
};

struct LogOptions {
  // Roll to a new segment when appending a batch would make the active
  // segment exceed this many bytes (a single larger batch gets a segment of
  // its own). At most 4 GiB - 1 (index positions are 32 bit).
  // Default 128 MiB. Fixed at Open (no setter yet: reopen the log to change).
  uint64_t segment_bytes = 128ull << 20;
  // Roll when the active segment's first append is this old (judged by the
  // `now_ms` passed to Append). Default 7 days. Fixed at Open.
  std::chrono::milliseconds segment_ms{7LL * 24 * 3600 * 1000};
  // One sparse .index entry (and at most one .timeindex entry) per about this
  // many bytes of log. Smaller: faster lookups, bigger indexes (8 bytes and 12
  // bytes per entry). Default 4096. Fixed at Open (indexes built with it).
  uint32_t index_interval_bytes = 4096;
  // Durability policy; enforced by the broker through Flusher, PartitionLog
  // itself never syncs on Append. Default kInterval. The broker may switch how
  // it drives the Flusher at run time; the log does not read this field.
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  // Bound on unsynced time under kInterval. Default 100 ms. It is the
  // Flusher's period (set when the Flusher is made).
  std::chrono::milliseconds fsync_interval{100};
  // Delete the oldest closed segments while the log holds more than this many
  // bytes. -1: unlimited (default). Fixed at Open.
  int64_t retention_bytes = -1;
  // Delete closed segments whose newest batch timestamp is older than
  // now - retention_ms. -1: unlimited (default). Fixed at Open.
  std::chrono::milliseconds retention_ms{-1};
  // fallocate each new segment to segment_bytes: overwriting allocated
  // blocks makes fdatasync cheaper (DESIGN §8: ~16k vs ~11k syncs/s) and
  // keeps segments contiguous. Closed segments are trimmed to their data.
  // Default true. Fixed at Open.
  bool preallocate = true;
};

}  // namespace telemq::storage
