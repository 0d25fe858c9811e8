#pragma once
// PartitionLog: the write-ahead log of one partition replica, a directory of
// segments of record batches (docs/log-format.md is the on-disk spec). It
// assigns offsets, appends batches as received (one pwrite per batch, no
// fsync), keeps sparse offset and time indexes, rolls segments by size and
// age, serves reads as file ranges, recovers after a crash by truncating at
// the first bad byte, applies retention and truncates suffixes for Raft.
//
// Under replication the log is the Raft log (docs/replication.md): followers
// (and the leader, carrying out its own Ready) append batches whose offset and
// term the leader already stamped (AppendReplicated); the log keeps a term
// index (term -> first offset, persisted in the file `term_index` together
// with the term of the entry before the log start), answers which batch and
// term cover an offset, can restart empty at any offset (ResetTo), and
// retention never removes what the caller has not committed.
//
// Durability is the caller's: Append never syncs; Sync() (usually through
// Flusher) makes everything appended so far durable.
// Thread-safety: every method is thread-safe (one internal mutex, held only
// for in-memory bookkeeping and the append's pwrite; Sync and Read do their
// fdatasync/pread outside it). Ownership: the log owns its files; FileRanges
// it hands out share the file handles, so they stay valid after retention or
// truncation removed the segment (the bytes are those of the deleted file).

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"
#include "broker/storage/log_options.h"
#include "broker/storage/term_index.h"
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

// Boundaries and term of one batch (one Raft entry).
struct BatchBounds {
  Offset base_offset;
  Offset last_offset;
  Term term;
  bool operator==(const BatchBounds&) const = default;
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
  // `term` must be >= the term of the last batch (kInvalidArgument
  // otherwise); the first batch of a new term also rewrites the term file
  // (one synced write per term, before the batch is written).
  [[nodiscard]] Result<AppendResult> Append(std::span<std::byte> batch, Term term, int64_t now_ms);

  // Appends one batch whose base offset and term the leader already stamped
  // (a follower's append, or the leader persisting its own Raft entries):
  // nothing in `batch` is changed. The caller validated the batch (checksum
  // included) when it was received. kInvalidArgument unless the header's base
  // offset equals log_end_offset(), its length equals batch.size() and its
  // term is >= the term of the last batch; otherwise as Append.
  [[nodiscard]] Result<AppendResult> AppendReplicated(std::span<const std::byte> batch, int64_t now_ms);

  // Discards the whole log and starts it empty at `start` (next offset =
  // start); `prev_term` becomes the term of the entry before it (Raft: a
  // follower restarting from the leader's log start after retention). Durable
  // when it returns. Crash-safe: the term file records the reset before any
  // segment is removed and recovery finishes an interrupted one. If it fails
  // after that point the log refuses further calls (kShuttingDown) until it
  // is reopened, which completes the reset.
  [[nodiscard]] Result<void> ResetTo(Offset start, Term prev_term);

  // fdatasyncs everything appended before the call and returns the durable
  // end offset. The fdatasync runs outside the mutex. A failed fdatasync
  // aborts the process (STYLE.md): after a failed fsync Linux may have
  // dropped the dirty pages and cleared the error, so a retry would report
  // success for data that is gone ("fsyncgate"); only a restart that
  // recovers from what is really on disk is safe.
  [[nodiscard]] Result<Offset> Sync();

  Offset log_start_offset() const;
  // The term of the entry before log_start_offset() (0 for a log that never
  // lost its start); with it, position (start - 1, term) can still be matched
  // after retention or a reset.
  Term term_before_start() const;
  // The term of the last batch, or term_before_start() when empty.
  Term last_term() const;
  // The next offset to assign.
  Offset log_end_offset() const;
  // Everything below it has been fdatasynced.
  Offset durable_offset() const;
  // Bytes of batches in all segments.
  uint64_t size_bytes() const;
  size_t segment_count() const;
  const std::string& dir() const { return dir_; }
  // Open found no valid clean-shutdown marker over existing segments: the
  // process (or the machine) stopped without Close(). With fsync: interval
  // the machine may have lost unsynced writes it had acknowledged.
  bool recovered_after_crash() const { return recovered_after_crash_; }

  // Whole batches from the one containing `from`, up to `max_bytes` (at least
  // one whole batch when one is readable, so a consumer always progresses),
  // never a batch whose last offset >= upper_bound (the high watermark).
  // from == log_end_offset(): empty result. from outside [log_start, log_end]:
  // kOffsetOutOfRange.
  [[nodiscard]] Result<ReadResult> Read(Offset from, uint64_t max_bytes, Offset upper_bound) const;

  // The base offset of the first batch whose max timestamp >= ts_ms, or
  // nullopt when there is none.
  [[nodiscard]] Result<std::optional<Offset>> OffsetForTimestamp(int64_t ts_ms) const;

  // The term that wrote `offset`, from the in-memory term index (no I/O).
  // Defined for [log_start - 1, log_end); kOffsetOutOfRange otherwise.
  [[nodiscard]] Result<Term> TermAt(Offset offset) const;

  // The batch covering `offset`. For log_start - 1 it returns the boundary
  // {base = last = log_start - 1, term = term_before_start()}. The last
  // kRecentBatches batches are answered from memory; older ones cost an index
  // lookup and a header walk (about one index interval of pread).
  // kOffsetOutOfRange outside [log_start - 1, log_end).
  [[nodiscard]] Result<BatchBounds> BatchAt(Offset offset) const;
  static constexpr size_t kRecentBatches = 1024;

  // Calls `visit` with the header of every batch from the one containing
  // `from` to the end (used to rebuild idempotent-producer state). Headers
  // are decoded, not checksum-verified (Append and recovery did that).
  [[nodiscard]] Result<void> ScanHeaders(Offset from, const std::function<void(const wire::BatchHeader&)>& visit) const;

  // Deletes whole closed segments, oldest first, while the oldest one's max
  // timestamp is older than now_ms - retention_ms or the log holds more than
  // retention_bytes; never the active segment, and never a segment holding
  // an offset >= `retain_from` (under Raft: the end of what is committed and
  // applied, so uncommitted entries are never removed). Returns how many it
  // deleted.
  [[nodiscard]] Result<int> ApplyRetention(int64_t now_ms, Offset retain_from);
  // Without a bound: for a single-broker log, where every batch is committed
  // once appended.
  [[nodiscard]] Result<int> ApplyRetention(int64_t now_ms) {
    return ApplyRetention(now_ms, Offset(std::numeric_limits<int64_t>::max()));
  }

  // Removes every batch at or after `from`, which must be a batch boundary
  // in [log_start, log_end] (Raft log conflicts). Synced before returning;
  // terms that started at or after `from` leave the term index (and file).
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
  // Loads `term_index` (finishing an interrupted ResetTo first); the term
  // index is reconciled with the segments in RecoverTermIndex.
  Result<std::optional<detail::TermFile>> LoadTermFile();
  Result<void> FinishReset(const detail::TermFile& file);
  Result<void> RecoverTermIndex(const std::optional<detail::TermFile>& file);
  Result<detail::TermIndex> ScanTermIndex(Term prev_term) const;
  // Writes `file` atomically and durably (mu_ held, or during Open).
  Result<void> WriteTermFile(const detail::TermFile& file);
  // The term file describing the log as it is now (mu_ held).
  detail::TermFile CurrentTermFile() const;
  // The batch covering `offset` in segment `seg` (mu_ held or during Open).
  Result<BatchBounds> FindBatchIn(const Segment& seg, Offset offset) const;
  // Shared by Append and AppendReplicated (mu_ held): `batch` is stamped.
  Result<AppendResult> AppendLocked(std::span<const std::byte> batch, Term term, int64_t last_delta, int64_t now_ms);
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
  bool recovered_after_crash_ = false;              // set once by Open
  // Where each term starts; its first entry covers log_start - 1.
  detail::TermIndex terms_{Offset(0), Term(0)};  // GUARDED_BY(mu_)
  // The last batches appended, for BatchAt without I/O (Raft asks about the
  // log tail far more than about anything else).
  std::deque<BatchBounds> recent_;  // GUARDED_BY(mu_), by base offset, at most kRecentBatches
};

}  // namespace telemq::storage
