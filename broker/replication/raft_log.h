#pragma once
// RaftLog: one partition's segment log seen as its Raft log. The read side is
// raft::LogReader (broker/raft/log.h), the write side carries out the log
// parts of a raft::Ready (Persist, Sync). Entries are record batches: a
// kNormal entry's payload is the whole batch exactly as stored (header
// included, offset and term stamped by the leader); a kNoop entry is stored
// as a control batch built from (term, base offset) alone, identical on every
// replica, and reads back with an empty payload (replication_format.h).
//
// Promises: Lookup/Read reflect exactly what Persist wrote and what retention
// removed. Recent entries are served from a bounded in-memory cache (the
// leader does not pread what it just wrote); older ones are pread into a
// buffer the returned payloads own. Payloads never dangle: cached ones keep
// the bytes they were persisted from alive (for a proposal, the received
// frame), read ones keep their read buffer.
// Thread-safety: none; the partition's executor owns the RaftLog. The
// PartitionLog underneath is thread-safe, so fetch handlers may read it
// concurrently, but every mutation (append, truncate, reset, retention) must
// go through this class so that the cache stays right.
// Ownership: shares the PartitionLog (partition_log()); does not close it.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "broker/raft/log.h"
#include "broker/raft/types.h"
#include "broker/storage/partition_log.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::replication {

struct RaftLogOptions {
  // Payload bytes of the most recent entries kept in memory for Read and
  // Lookup (a cached entry may pin more: its payload's owner, e.g. the
  // request frame it came in). 0 disables the cache. Default 8 MiB. Fixed at
  // construction.
  size_t cache_bytes = 8u << 20;
};

class RaftLog final : public raft::LogReader {
 public:
  explicit RaftLog(std::shared_ptr<storage::PartitionLog> log, RaftLogOptions options = {});
  RaftLog(const RaftLog&) = delete;
  RaftLog& operator=(const RaftLog&) = delete;

  // raft::LogReader (contract in broker/raft/log.h).
  Offset StartOffset() const override;
  Offset NextOffset() const override;
  [[nodiscard]] Result<raft::EntryMeta> Lookup(Offset offset) const override;
  [[nodiscard]] Result<void> Read(Offset from, Offset last, size_t max_bytes,
                                  std::vector<raft::Entry>* out) const override;

  // Last entry's (last offset, term); (start - 1, term before start) if empty.
  raft::LogPosition LastPosition() const;

  // Carries out Ready::log_reset and Ready::entries, in that order: reset
  // (discard everything; next offset = reset->offset + 1, term before it =
  // reset->term), then truncate any stored suffix from
  // entries.front().base_offset, then append each entry. A kNormal entry's
  // payload must be one batch whose header carries the entry's base offset,
  // term and record count (kCorrupt otherwise; a control batch is not a
  // kNormal entry; payload checksums are not verified here, the receiver
  // runs wire::ValidateBatch on arrival). A kNoop entry must span one
  // offset. Does not sync (see Sync). Persist the Ready's hard state before
  // calling this (HardStateStore::CheckAgainstLog relies on that order). On
  // error a prefix of `entries` may be stored: NextOffset() says how far it
  // got.
  [[nodiscard]] Result<void> Persist(const std::optional<raft::LogPosition>& reset,
                                     const std::vector<raft::Entry>& entries, int64_t now_ms);

  // fdatasyncs what Persist wrote; returns the durable end offset
  // (PartitionLog::Sync: a failed fdatasync aborts the process).
  [[nodiscard]] Result<Offset> Sync();

  // Retention that never removes an entry at or above `retain_from` (the
  // end of what is committed and applied); drops cached entries below the
  // new start. Returns the number of segments deleted.
  [[nodiscard]] Result<int> ApplyRetention(int64_t now_ms, Offset retain_from);

  storage::PartitionLog& partition_log() const { return *log_; }
  const std::shared_ptr<storage::PartitionLog>& shared_partition_log() const { return log_; }
  size_t cached_entries() const { return cache_.size(); }
  size_t cached_bytes() const { return cache_bytes_used_; }

 private:
  // Index in cache_ of the entry covering `offset`, or -1.
  ptrdiff_t CacheFind(Offset offset, Offset start) const;
  void CacheAppend(raft::Entry entry);
  void CacheTruncateFrom(Offset from);
  // Whole entries from `from` (an entry's base offset) read from the
  // segments: PartitionLog::Read semantics (at least one entry, about
  // max_bytes, none whose last offset >= upper_bound), one buffer for all.
  [[nodiscard]] Result<std::vector<raft::Entry>> ReadStored(Offset from, Offset upper_bound, size_t max_bytes) const;

  std::shared_ptr<storage::PartitionLog> log_;
  const RaftLogOptions options_;
  // A contiguous run of the newest entries, ending at NextOffset() (may
  // begin below the log start after retention; lookups check the start).
  std::deque<raft::Entry> cache_;
  size_t cache_bytes_used_ = 0;
};

// The no-op control batch of `term` at `base_offset`: same bytes on every
// replica, valid checksum, wire::BatchHeader::is_control().
std::vector<std::byte> BuildNoopBatch(Term term, Offset base_offset);

// The entry a stored batch stands for: kNoop for a control batch (empty
// payload), else kNormal with `payload`. kCorrupt if the header is short.
[[nodiscard]] Result<raft::Entry> EntryFromBatch(raft::Payload payload);

}  // namespace telemq::replication
