#pragma once
// Internals of the partition log shared by partition_log.cc, its tests and
// benchmarks: segment file names, the in-memory sparse indexes (built the
// same way by Append and by recovery), and the batch scanner recovery uses.
// Not thread-safe: PartitionLog's mutex guards every SegmentIndex. Formats:
// storage_format.h and docs/log-format.md.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/file_system.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/wire/batch_header.h"

namespace telemq::storage::detail {

// "00000000000000000042.log" for base 42 and suffix ".log".
std::string SegmentName(Offset base, std::string_view suffix);
// The base offset of a segment file name with `suffix`, or nullopt.
std::optional<Offset> ParseSegmentName(std::string_view name, std::string_view suffix);

struct IndexEntry {
  Offset offset;          // base offset of a batch
  uint64_t position = 0;  // where that batch starts in the .log
};

struct TimeIndexEntry {
  int64_t timestamp_ms = 0;  // running max of batch max timestamps
  Offset offset;             // the batch that set it
};

// The sparse .index and .timeindex of one segment, kept in memory and written
// out whole when the segment is sealed (roll, close). Entries are added every
// ~interval bytes of batches; position 0 (the segment base) is implicit.
class SegmentIndex {
 public:
  SegmentIndex(Offset base, uint32_t interval_bytes) : base_(base), interval_bytes_(interval_bytes) {}

  // Records the batch `header` starting at `position`. Batches come in order.
  void Add(uint64_t position, const wire::BatchHeader& header);
  // Adds the final .timeindex entry so that its last timestamp is the
  // segment's max timestamp. Idempotent; Add may follow (a reopened segment).
  void Seal();

  // The last entry at or before `offset` / `position` ({base, 0} if none).
  IndexEntry FloorByOffset(Offset offset) const;
  IndexEntry FloorByPosition(uint64_t position) const;
  // The last time entry whose timestamp is < ts_ms, or nullopt.
  std::optional<TimeIndexEntry> LastTimeBefore(int64_t ts_ms) const;
  int64_t max_timestamp_ms() const { return max_timestamp_ms_; }
  size_t entry_count() const { return entries_.size(); }
  size_t time_entry_count() const { return time_entries_.size(); }
  const std::vector<TimeIndexEntry>& time_entries() const { return time_entries_; }

  std::vector<std::byte> EncodeIndex() const;
  std::vector<std::byte> EncodeTimeIndex() const;
  // Loads both files' contents, checking they are well formed: whole
  // entries, strictly increasing, positions inside [1, log_size), offsets
  // above the base. kCorrupt otherwise. Afterwards Add continues from the last
  // index entry (the caller rescans from resume_point()).
  [[nodiscard]] Result<void> Load(std::span<const std::byte> index, std::span<const std::byte> time_index,
                                  uint64_t log_size);
  IndexEntry resume_point() const { return entries_.empty() ? IndexEntry{base_, 0} : entries_.back(); }

 private:
  Offset base_;
  uint32_t interval_bytes_;
  std::vector<IndexEntry> entries_;
  std::vector<TimeIndexEntry> time_entries_;
  uint64_t bytes_since_entry_ = 0;
  int64_t max_timestamp_ms_ = INT64_MIN;
  Offset max_timestamp_offset_;
};

// Reads byte ranges of a file through one reusable buffer, so walking many
// small batch headers costs one pread per chunk, not one per header.
class FileCursor {
 public:
  FileCursor(const ReadableFile& file, uint64_t limit, size_t chunk_bytes)
      : file_(file), limit_(limit), chunk_bytes_(chunk_bytes) {}
  // Bytes [position, position + length); kCorrupt if that passes `limit` or
  // the end of the file.
  [[nodiscard]] Result<std::span<const std::byte>> Get(uint64_t position, size_t length);
  uint64_t limit() const { return limit_; }

 private:
  const ReadableFile& file_;
  uint64_t limit_;
  size_t chunk_bytes_;
  std::vector<std::byte> buffer_;
  uint64_t buffer_position_ = 0;
};

struct ScanResult {
  uint64_t end_position = 0;  // after the last valid batch
  Offset next_offset;         // offset after the last valid batch
  std::string stop_reason;    // empty when the scan reached `limit` cleanly
  bool zero_tail = false;     // it stopped at a zero header: preallocated space, not damage
};

// Validates batches (bounds, checksum via wire::ValidateBatch, base offset ==
// the expected next offset) from `position`, whose batch must start at
// `expected`, up to `limit`; stops at the first bad byte. Adds each good batch
// to `index` (may be null). Errors only for I/O failures.
[[nodiscard]] Result<ScanResult> ScanBatches(const ReadableFile& file, uint64_t position, Offset expected,
                                             uint64_t limit, SegmentIndex* index);

}  // namespace telemq::storage::detail
