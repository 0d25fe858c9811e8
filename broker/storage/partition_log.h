#pragma once
// PartitionLog: the write-ahead log of one partition replica, a directory of
// segments of record batches (docs/log-format.md is the on-disk spec). It
// assigns offsets, appends batches as received (one pwrite per batch, no
// fsync), keeps sparse offset and time indexes, rolls segments by size and
// age, serves reads as file ranges, recovers after a crash by truncating at
// the first bad byte, applies retention and truncates suffixes for Raft.
//
// Durability is the caller's: Append never syncs; Sync() (usually through
// Flusher) makes everything appended so far durable.
// Thread-safety: every method is thread-safe (one internal mutex, held only
// for in-memory bookkeeping and the append's pwrite; Sync and Read do their
// fdatasync/pread outside it). Ownership: the log owns its files; FileRanges
// it hands out share the file handles, so they stay valid after retention or
// truncation removed the segment (the bytes are those of the deleted file).

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"
#include "broker/storage/log_options.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/wire/batch_header.h"

namespace telemq::storage {

struct AppendResult {
  Offset base_offset;  // assigned to the batch's first record
  Offset last_offset;  // of its last record
};

// A byte range of a segment file holding whole batches, back to back.
struct FileRange {
  std::shared_ptr<ReadableFile> file;
  uint64_t position = 0;
  uint64_t size = 0;
};

struct ReadResult {
  std::vector<FileRange> ranges;  // in offset order; empty when nothing is readable
  uint64_t total_bytes = 0;
  Offset next_offset;  // where the next read should start
};

class PartitionLog {
 public:
  // Opens the log in `dir` (created if missing), recovering it if it was not
  // closed cleanly. Fails with kInvalidArgument for bad options, kCorrupt if
  // the directory holds something unrecoverable, or the I/O error.
  [[nodiscard]] static Result<std::unique_ptr<PartitionLog>> Open(FileSystem& fs, std::string dir, LogOptions opts);

  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;
  // Releases the files without syncing or writing the clean-shutdown marker:
  // to the disk this looks like a crash. Call Close() for a clean shutdown.
  ~PartitionLog();

  // Appends one batch already validated by wire::ValidateBatch: assigns its
  // base offset (log_end_offset()), stamps it and `term` into `batch` in
  // place, writes it, updates the indexes, rolls segments. kNoSpace /
  // kReadOnly / kIo leave the log exactly as before (the file is cut back;
  // everything appended earlier stays readable) and later appends may
  // succeed. `now_ms` drives age-based rolling. kShuttingDown after Close.
  [[nodiscard]] Result<AppendResult> Append(std::span<std::byte> batch, Term term, int64_t now_ms);

  // fdatasyncs everything appended before the call and returns the durable
  // end offset. The fdatasync runs outside the mutex. A failed fdatasync
  // aborts the process (STYLE.md): after a failed fsync Linux may have
  // dropped the dirty pages and cleared the error, so a retry would report
  // success for data that is gone ("fsyncgate"); only a restart that
  // recovers from what is really on disk is safe.
  [[nodiscard]] Result<Offset> Sync();

  Offset log_start_offset() const;
  // The next offset to assign.
  Offset log_end_offset() const;
  // Everything below it has been fdatasynced.
  Offset durable_offset() const;
  // Bytes of batches in all segments.
  uint64_t size_bytes() const;
  size_t segment_count() const;
  const std::string& dir() const { return dir_; }

  // Whole batches from the one containing `from`, up to `max_bytes` (at least
  // one whole batch when one is readable, so a consumer always progresses),
  // never a batch whose last offset >= upper_bound (the high watermark).
  // from == log_end_offset(): empty result. from outside [log_start, log_end]:
  // kOffsetOutOfRange.
  [[nodiscard]] Result<ReadResult> Read(Offset from, uint64_t max_bytes, Offset upper_bound) const;

  // The base offset of the first batch whose max timestamp >= ts_ms, or
  // nullopt when there is none.
  [[nodiscard]] Result<std::optional<Offset>> OffsetForTimestamp(int64_t ts_ms) const;

  // Calls `visit` with the header of every batch from the one containing
  // `from` to the end (used to rebuild idempotent-producer state). Headers
  // are decoded, not checksum-verified (Append and recovery did that).
  [[nodiscard]] Result<void> ScanHeaders(Offset from, const std::function<void(const wire::BatchHeader&)>& visit) const;

  // Deletes whole closed segments, oldest first, while the oldest one's max
  // timestamp is older than now_ms - retention_ms or the log holds more than
  // retention_bytes; never the active segment. Returns how many it deleted.
  [[nodiscard]] Result<int> ApplyRetention(int64_t now_ms);

  // Removes every batch at or after `from`, which must be a batch boundary
  // in [log_start, log_end] (Raft log conflicts). Synced before returning.
  [[nodiscard]] Result<void> TruncateSuffix(Offset from);

  // Syncs, trims and seals the active segment, writes the clean-shutdown
  // marker and closes the files. Later calls fail with kShuttingDown.
  [[nodiscard]] Result<void> Close();

 private:
  struct Segment;
  // What a reader needs from one segment, copied under the mutex.
  struct SegmentView;

  PartitionLog(FileSystem& fs, std::string dir, LogOptions opts);

  Result<void> Recover();
  Result<std::unique_ptr<Segment>> OpenSegment(Offset base, bool trust_indexes, bool is_tail);
  Result<std::unique_ptr<Segment>> CreateSegment(Offset base, int64_t now_ms);
  Result<void> SealSegment(Segment& seg);
  Result<void> WriteIndexFiles(const Segment& seg);
  Result<void> Roll(int64_t now_ms);
  Result<void> RemoveSegmentFiles(Offset base);
  Result<void> WriteCleanMarker();
  std::string PathOf(Offset base, std::string_view suffix) const;
  // Index into segments_ of the segment holding `offset` (mu_ held).
  size_t SegmentIndexFor(Offset offset) const;

  FileSystem& fs_;
  const std::string dir_;
  const LogOptions opts_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Segment>> segments_;  // GUARDED_BY(mu_), by base offset; back() is active
  Offset durable_offset_;                           // GUARDED_BY(mu_)
  uint64_t truncate_epoch_ = 0;                     // GUARDED_BY(mu_), bumped by TruncateSuffix
  bool closed_ = false;                             // GUARDED_BY(mu_)
};

}  // namespace telemq::storage
