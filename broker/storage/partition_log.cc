#include "broker/storage/partition_log.h"

#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <set>

#include "broker/storage/segment.h"
#include "broker/storage/storage_format.h"
#include "telemq/common/check.h"
#include "telemq/common/log.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/endian.h"

namespace telemq::storage {

namespace f = format;
using detail::IndexEntry;
using wire::LoadLE;
using wire::StoreLE;

namespace {

constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();
// Header walks (Read, ScanHeaders, OffsetForTimestamp) fetch this much per
// pread: a few index intervals, so a lookup is usually one syscall.
constexpr size_t kHeaderChunkBytes = 16 * 1024;

// STYLE.md: a failed fsync is fatal, never retried (see PartitionLog::Sync).
uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

Result<wire::BatchHeader> HeaderAt(detail::FileCursor& cursor, uint64_t position) {
  TELEMQ_ASSIGN_OR_RETURN(auto bytes, cursor.Get(position, wire::batch::kHeaderSize));
  TELEMQ_ASSIGN_OR_RETURN(auto header, wire::DecodeHeader(bytes));
  if (header.batch_length < static_cast<int32_t>(wire::batch::kHeaderSize) ||
      position + static_cast<uint64_t>(header.batch_length) > cursor.limit()) {
    return Fail(Errc::kCorrupt, "batch header at " + std::to_string(position) + " has a bad length");
  }
  return header;
}

// Reads a whole small file (an index); kNotFound if it does not exist.
Result<std::vector<std::byte>> ReadWholeFile(FileSystem& fs, const std::string& path) {
  TELEMQ_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  std::vector<std::byte> bytes(size);
  TELEMQ_ASSIGN_OR_RETURN(const size_t n, file->PRead(0, bytes));
  bytes.resize(n);
  return bytes;
}

// The batch covering `offset`, walking headers from `position` (a batch
// boundary at or before it) up to `limit`.
Result<BatchBounds> FindBatchInFile(const ReadableFile& file, uint64_t limit, uint64_t position, Offset offset) {
  detail::FileCursor cursor(file, limit, kHeaderChunkBytes);
  while (position < limit) {
    TELEMQ_ASSIGN_OR_RETURN(auto header, HeaderAt(cursor, position));
    if (header.next_offset() > offset) {
      if (header.base_offset > offset) break;
      return BatchBounds{header.base_offset, header.last_offset(), header.leader_term};
    }
    position += static_cast<uint64_t>(header.batch_length);
  }
  return Fail(Errc::kCorrupt, "no batch covers offset " + std::to_string(offset.value()) + " in " + file.path());
}

struct MarkerEntry {
  Offset base;
  uint64_t size_bytes;
  Offset next;
  int64_t max_timestamp_ms;
};

}  // namespace

struct PartitionLog::Segment {
  Segment(Offset b, uint32_t interval_bytes) : base(b), next(b), index(b, interval_bytes) {}
  Offset base;
  Offset next;                     // offset after the last batch
  uint64_t size_bytes = 0;         // logical end: bytes of whole batches
  uint64_t allocated_bytes = 0;    // file size (preallocated zeros beyond size_bytes)
  int64_t roll_start_ms = kUnset;  // when the segment got its first batch
  bool sealed = false;             // trimmed, synced and index files written
  std::shared_ptr<WritableFile> file;
  detail::SegmentIndex index;
};

struct PartitionLog::SegmentView {
  std::shared_ptr<WritableFile> file;
  Offset base;
  Offset next;
  uint64_t size_bytes = 0;
};

PartitionLog::PartitionLog(FileSystem& fs, std::string dir, LogOptions opts)
    : fs_(fs), dir_(std::move(dir)), opts_(opts) {}

PartitionLog::~PartitionLog() = default;

std::string PartitionLog::PathOf(Offset base, std::string_view suffix) const {
  return dir_ + "/" + detail::SegmentName(base, suffix);
}

Result<std::unique_ptr<PartitionLog>> PartitionLog::Open(FileSystem& fs, std::string dir, LogOptions opts) {
  if (opts.segment_bytes < wire::batch::kHeaderSize || opts.segment_bytes > std::numeric_limits<uint32_t>::max()) {
    return Fail(Errc::kInvalidArgument, "segment_bytes must be within [69, 4 GiB)");
  }
  if (opts.segment_ms.count() <= 0) return Fail(Errc::kInvalidArgument, "segment_ms must be positive");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  TELEMQ_TRY(fs.CreateDir(dir));
  std::unique_ptr<PartitionLog> log(new PartitionLog(fs, std::move(dir), opts));
  TELEMQ_TRY(log->Recover());
  return log;
}

// ---------------------------------------------------------------------------
// Recovery

Result<void> PartitionLog::Recover() {
  TELEMQ_ASSIGN_OR_RETURN(auto names, fs_.ListDir(dir_));
  std::vector<Offset> bases;
  for (const auto& name : names) {
    if (name.ends_with(f::kTempSuffix)) {
      TELEMQ_TRY(fs_.Remove(dir_ + "/" + name));  // an index write that did not finish
    } else if (auto base = detail::ParseSegmentName(name, f::kLogSuffix)) {
      bases.push_back(*base);
    }
  }
  // An interrupted ResetTo is finished before anything else looks at the
  // segments: the term file already describes the empty log it promised.
  TELEMQ_ASSIGN_OR_RETURN(auto term_file, LoadTermFile());
  if (term_file && term_file->reset_in_progress) {
    TELEMQ_TRY(FinishReset(*term_file));
    TELEMQ_ASSIGN_OR_RETURN(names, fs_.ListDir(dir_));
    bases.clear();
  }
  std::sort(bases.begin(), bases.end());
  const std::set<Offset> base_set(bases.begin(), bases.end());
  for (const auto& name : names) {
    for (auto suffix : {f::kIndexSuffix, f::kTimeIndexSuffix}) {
      auto base = detail::ParseSegmentName(name, suffix);
      if (base && base_set.count(*base) == 0) TELEMQ_TRY(fs_.Remove(dir_ + "/" + name));
    }
  }

  // The marker vouches for the segment ends only if it matches the segments.
  std::vector<MarkerEntry> marker;
  const std::string marker_path = dir_ + "/" + std::string(f::kCleanShutdownName);
  TELEMQ_ASSIGN_OR_RETURN(const bool has_marker, fs_.Exists(marker_path));
  if (has_marker) {
    auto bytes = ReadWholeFile(fs_, marker_path);
    if (!bytes) return tl::unexpected(bytes.error());
    const auto& b = *bytes;
    const size_t n = b.size() >= f::kMarkerHeaderSize ? LoadLE<uint32_t>(b.data() + f::kMarkerSegmentCount) : 0;
    const size_t want = f::kMarkerHeaderSize + n * f::kMarkerEntrySize + 8;
    if (b.size() == want && LoadLE<uint64_t>(b.data() + f::kMarkerMagicAt) == f::kMarkerMagic &&
        LoadLE<uint32_t>(b.data() + f::kMarkerVersion) == f::kMarkerVersionV1 &&
        LoadLE<uint64_t>(b.data() + want - 8) == XXH3_64bits(b.data(), want - 8)) {
      for (size_t i = 0; i < n; ++i) {
        const std::byte* p = b.data() + f::kMarkerHeaderSize + i * f::kMarkerEntrySize;
        marker.push_back(MarkerEntry{
            Offset(LoadLE<int64_t>(p + f::kMarkerBaseOffset)), LoadLE<uint64_t>(p + f::kMarkerSizeBytes),
            Offset(LoadLE<int64_t>(p + f::kMarkerNextOffset)), LoadLE<int64_t>(p + f::kMarkerMaxTimestamp)});
      }
    } else {
      log::Warn("clean-shutdown marker is corrupt; recovering by scanning", {{"path", dir_}});
    }
    // From now on a crash must be detected: the marker only describes a log
    // that nobody writes to.
    TELEMQ_TRY(fs_.Remove(marker_path));
    TELEMQ_TRY(fs_.SyncDir(dir_));
  }
  bool clean = !marker.empty() && marker.size() == bases.size();
  for (size_t i = 0; clean && i < bases.size(); ++i) clean = marker[i].base == bases[i];
  recovered_after_crash_ = !clean && !bases.empty();

  for (size_t i = 0; i < bases.size(); ++i) {
    const bool is_tail = i + 1 == bases.size();
    auto seg = OpenSegment(bases[i], clean, is_tail);
    if (!seg) return tl::unexpected(seg.error());
    if (clean && ((*seg)->size_bytes != marker[i].size_bytes || (*seg)->next != marker[i].next)) {
      // Damaged after a clean shutdown: what the scan found is what we have.
      log::Warn("segment end differs from the clean-shutdown marker", {{"path", dir_},
                                                                       {"segment", bases[i]},
                                                                       {"end_byte", (*seg)->size_bytes},
                                                                       {"end_offset", (*seg)->next},
                                                                       {"marker_end_byte", marker[i].size_bytes},
                                                                       {"marker_end_offset", marker[i].next}});
    }
    if (!segments_.empty() && segments_.back()->next != (*seg)->base) {
      // A hole in the offsets: an earlier segment lost its tail (a crash
      // before it was synced at roll). Everything after the hole is cut, as
      // for a torn tail; under replication the leader re-sends it.
      log::Warn("offsets jump to a segment; dropping it and later segments",
                {{"path", dir_},
                 {"expected_offset", segments_.back()->next},
                 {"segment", bases[i]},
                 {"later_segment_count", bases.size() - i - 1}});
      seg->reset();
      for (size_t j = i; j < bases.size(); ++j) TELEMQ_TRY(RemoveSegmentFiles(bases[j]));
      TELEMQ_TRY(fs_.SyncDir(dir_));
      break;
    }
    segments_.push_back(std::move(*seg));
  }

  if (segments_.empty()) {
    const Offset start = term_file ? term_file->log_start : Offset(0);
    TELEMQ_ASSIGN_OR_RETURN(auto seg, CreateSegment(start, kUnset));
    segments_.push_back(std::move(seg));
  }
  // The last segment is the active one: appendable, sealed again at roll.
  Segment& tail = *segments_.back();
  tail.sealed = false;
  TELEMQ_ASSIGN_OR_RETURN(tail.allocated_bytes, tail.file->Size());
  if (tail.size_bytes > 0) {
    // Roll-by-age restarts from the first batch's timestamp: the time of the
    // first append did not survive the restart.
    detail::FileCursor cursor(*tail.file, tail.size_bytes, wire::batch::kHeaderSize);
    TELEMQ_ASSIGN_OR_RETURN(auto first, HeaderAt(cursor, 0));
    // A control batch (Raft no-op) has timestamp 0, which would roll the
    // segment at once: let the next append start the clock instead.
    tail.roll_start_ms = first.is_control() ? kUnset : first.max_timestamp_ms;
  }
  // What recovery read may still be only in the page cache (a process
  // crash): make it durable so durable_offset() is true from the start.
  SyncOrDie(*tail.file);
  durable_offset_ = tail.next;
  return RecoverTermIndex(term_file);
}

Result<std::optional<detail::TermFile>> PartitionLog::LoadTermFile() {
  const std::string path = dir_ + "/" + std::string(f::kTermFileName);
  TELEMQ_ASSIGN_OR_RETURN(const bool exists, fs_.Exists(path));
  if (!exists) return std::optional<detail::TermFile>();
  TELEMQ_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(fs_, path));
  auto file = detail::DecodeTermFile(bytes);
  if (!file) {
    // Written by rename, so never torn by a crash: this is damage. The term
    // before the log start cannot be rebuilt from the segments, and guessing
    // it could let this replica match (or vote for) the wrong log.
    return Fail(Errc::kCorrupt, path + ": " + file.error().message() +
                                    "; refusing to guess Raft terms. Remove the partition directory to "
                                    "replicate it again, or remove this file to rebuild it from the batch "
                                    "headers (the term before the log start is then taken from the first batch)");
  }
  return std::optional<detail::TermFile>(std::move(*file));
}

Result<void> PartitionLog::FinishReset(const detail::TermFile& file) {
  log::Warn("finishing an interrupted log reset", {{"path", dir_}, {"offset", file.log_start}});
  TELEMQ_ASSIGN_OR_RETURN(auto names, fs_.ListDir(dir_));
  for (const auto& name : names) {
    for (auto suffix : {f::kLogSuffix, f::kIndexSuffix, f::kTimeIndexSuffix}) {
      if (detail::ParseSegmentName(name, suffix)) TELEMQ_TRY(fs_.Remove(dir_ + "/" + name));
    }
  }
  auto marker = fs_.Remove(dir_ + "/" + std::string(f::kCleanShutdownName));
  if (!marker && marker.error().code() != Errc::kNotFound) return marker;
  return fs_.SyncDir(dir_);
}

Result<BatchBounds> PartitionLog::FindBatchIn(const Segment& seg, Offset offset) const {
  return FindBatchInFile(*seg.file, seg.size_bytes, seg.index.FloorByOffset(offset).position, offset);
}

Result<void> PartitionLog::RecoverTermIndex(const std::optional<detail::TermFile>& file) {
  const Offset start = segments_.front()->base;
  const Offset end = segments_.back()->next;
  std::optional<BatchBounds> first, last;
  if (end > start) {
    TELEMQ_ASSIGN_OR_RETURN(first, FindBatchIn(*segments_.front(), start));
    TELEMQ_ASSIGN_OR_RETURN(last, FindBatchIn(*segments_[SegmentIndexFor(end - 1)], end - 1));
  }
  const bool file_covers_start = file && file->entries.front().first_offset <= start - 1;
  bool write = file && file->reset_in_progress;
  std::optional<Term> prev_term;
  if (file_covers_start) {
    detail::TermIndex index(file->entries);
    // Terms of a suffix lost in the crash, and terms retention removed
    // before the file was rewritten.
    const bool trimmed = index.TruncateFrom(end);
    const bool advanced = index.AdvanceStart(start);
    prev_term = index.TermAt(start - 1);
    // A cheap check that the file describes these segments: the first and
    // the last batch carry the terms it names.
    if (!first || (index.TermAt(first->base_offset) == first->term && index.TermAt(last->base_offset) == last->term)) {
      terms_ = std::move(index);
      write = write || trimmed || advanced;
    } else {
      log::Warn("term file does not match the batches; rebuilding", {{"path", dir_},
                                                                     {"first_offset", first->base_offset},
                                                                     {"first_term", first->term},
                                                                     {"last_offset", last->base_offset},
                                                                     {"last_term", last->term}});
      TELEMQ_ASSIGN_OR_RETURN(terms_, ScanTermIndex(*prev_term));
      write = true;
    }
  } else {
    if (file) {
      log::Warn("term file starts after the log start; rebuilding it from the batch headers",
                {{"path", dir_}, {"offset", start}});
    }
    // No term file: a log written before it existed, when every batch had
    // the same term, so the first batch's term stands in for the one before
    // it. A log starting at 0 has nothing before it: term 0.
    prev_term = start.value() == 0 || !first ? Term(0) : first->term;
    TELEMQ_ASSIGN_OR_RETURN(terms_, ScanTermIndex(*prev_term));
    // An empty log at 0 is what a missing file means anyway.
    write = terms_.entries().size() > 1 || start.value() != 0 || file.has_value();
  }
  recent_.clear();
  if (last) recent_.push_back(*last);
  if (write) TELEMQ_TRY(WriteTermFile(CurrentTermFile()));
  return Ok();
}

Result<detail::TermIndex> PartitionLog::ScanTermIndex(Term prev_term) const {
  detail::TermIndex index(segments_.front()->base, prev_term);
  for (const auto& seg : segments_) {
    detail::FileCursor cursor(*seg->file, seg->size_bytes, 1 << 20);
    for (uint64_t pos = 0; pos < seg->size_bytes;) {
      TELEMQ_ASSIGN_OR_RETURN(auto header, HeaderAt(cursor, pos));
      if (header.leader_term < index.last_term()) {
        return Fail(Errc::kCorrupt, dir_ + ": batch " + std::to_string(header.base_offset.value()) + " has term " +
                                        std::to_string(header.leader_term.value()) +
                                        ", lower than an earlier batch's " + std::to_string(index.last_term().value()));
      }
      index.Append(header.leader_term, header.base_offset);
      pos += static_cast<uint64_t>(header.batch_length);
    }
  }
  return index;
}

detail::TermFile PartitionLog::CurrentTermFile() const {
  return detail::TermFile{false, segments_.front()->base, terms_.entries()};
}

Result<void> PartitionLog::WriteTermFile(const detail::TermFile& term_file) {
  const auto bytes = detail::EncodeTermFile(term_file);
  TELEMQ_TRY(ReplaceFileAtomically(fs_, dir_ + "/" + std::string(f::kTermFileName), bytes));
  return fs_.SyncDir(dir_);
}

Result<std::unique_ptr<PartitionLog::Segment>> PartitionLog::OpenSegment(Offset base, bool trust_indexes,
                                                                         bool is_tail) {
  auto seg = std::make_unique<Segment>(base, opts_.index_interval_bytes);
  TELEMQ_ASSIGN_OR_RETURN(seg->file, fs_.OpenWritable(PathOf(base, f::kLogSuffix), OpenMode::kExisting));
  TELEMQ_ASSIGN_OR_RETURN(const uint64_t file_size, seg->file->Size());

  // Indexes: usable when both files exist and are well formed.
  bool index_ok = false;
  {
    auto index = ReadWholeFile(fs_, PathOf(base, f::kIndexSuffix));
    auto time_index = ReadWholeFile(fs_, PathOf(base, f::kTimeIndexSuffix));
    if (index && time_index) {
      auto loaded = seg->index.Load(*index, *time_index, file_size);
      index_ok = loaded.has_value();
      if (!loaded)
        log::Warn("rebuilding segment indexes",
                  {{"path", dir_}, {"segment", base}, {"error", loaded.error().ToString()}});
    } else if ((!index && index.error().code() != Errc::kNotFound) ||
               (!time_index && time_index.error().code() != Errc::kNotFound)) {
      return tl::unexpected(!index ? index.error() : time_index.error());
    }
  }

  bool rewrite_indexes = !index_ok;
  bool trusted = false;
  if (index_ok && (trust_indexes || !is_tail)) {
    // Closed segments were synced and trimmed at roll, so only the bytes
    // after the last index entry need checking (they also restore the byte
    // count and max timestamp the sparse index does not hold).
    const IndexEntry resume = seg->index.resume_point();
    TELEMQ_ASSIGN_OR_RETURN(auto scan,
                            detail::ScanBatches(*seg->file, resume.position, resume.offset, file_size, &seg->index));
    const auto& times = seg->index.time_entries();
    if (scan.stop_reason.empty() && (times.empty() || times.back().offset < scan.next_offset)) {
      seg->size_bytes = scan.end_position;
      seg->next = scan.next_offset;
      trusted = true;
    }
  }
  if (!trusted) {
    // Full scan: the tail after a crash, or any segment whose indexes are
    // missing or wrong. Stops at the first bad byte: torn write, garbage,
    // flipped bit, preallocated zeros.
    seg->index = detail::SegmentIndex(base, opts_.index_interval_bytes);
    TELEMQ_ASSIGN_OR_RETURN(auto scan, detail::ScanBatches(*seg->file, 0, base, file_size, &seg->index));
    seg->size_bytes = scan.end_position;
    seg->next = scan.next_offset;
    rewrite_indexes = true;
    if (!scan.stop_reason.empty() && !scan.zero_tail) {
      log::Warn("segment ends before its file does", {{"path", dir_},
                                                      {"segment", base},
                                                      {"end_byte", scan.end_position},
                                                      {"file_bytes", file_size},
                                                      {"reason", scan.stop_reason}});
    }
  }
  if (seg->size_bytes < file_size) {
    // Never serve or build on bytes past the last whole batch.
    TELEMQ_TRY(seg->file->Truncate(seg->size_bytes));
    SyncOrDie(*seg->file);
  }
  seg->allocated_bytes = seg->size_bytes;
  if (!is_tail) {
    seg->index.Seal();
    if (rewrite_indexes) TELEMQ_TRY(WriteIndexFiles(*seg));
    seg->sealed = true;
  }
  return seg;
}

// ---------------------------------------------------------------------------
// Segment files

// Segments are preallocated a chunk at a time, not whole: appends still
// overwrite allocated space (DESIGN.md §8: cheaper fdatasync), but an idle
// partition costs one chunk of disk, not a whole segment.
constexpr uint64_t kPreallocateChunkBytes = 1 << 20;

Result<std::unique_ptr<PartitionLog::Segment>> PartitionLog::CreateSegment(Offset base, int64_t now_ms) {
  auto seg = std::make_unique<Segment>(base, opts_.index_interval_bytes);
  const std::string path = PathOf(base, f::kLogSuffix);
  TELEMQ_ASSIGN_OR_RETURN(seg->file, fs_.OpenWritable(path, OpenMode::kTruncate));
  if (opts_.preallocate) {
    const uint64_t first = std::min<uint64_t>(opts_.segment_bytes, kPreallocateChunkBytes);
    auto allocated = seg->file->Allocate(first);
    if (!allocated) {
      seg->file.reset();
      IgnoreError(fs_.Remove(path), "the allocation error is what the caller needs to see");
      return tl::unexpected(allocated.error());
    }
    seg->allocated_bytes = first;
  }
  // The new name must survive a crash, or recovery would see a hole.
  TELEMQ_TRY(fs_.SyncDir(dir_));
  (void)now_ms;
  return seg;
}

Result<void> PartitionLog::WriteIndexFiles(const Segment& seg) {
  const std::pair<std::string_view, std::vector<std::byte>> files[] = {
      {f::kIndexSuffix, seg.index.EncodeIndex()}, {f::kTimeIndexSuffix, seg.index.EncodeTimeIndex()}};
  for (const auto& [suffix, bytes] : files) {
    // Write-then-rename: an index file that exists is complete.
    TELEMQ_TRY(ReplaceFileAtomically(fs_, PathOf(seg.base, suffix), bytes));
  }
  return fs_.SyncDir(dir_);
}

Result<void> PartitionLog::SealSegment(Segment& seg) {
  if (seg.sealed) return Ok();
  if (seg.allocated_bytes != seg.size_bytes) {
    // Closed segments carry no preallocated tail: their file size is their
    // data, which recovery relies on.
    TELEMQ_TRY(seg.file->Truncate(seg.size_bytes));
    seg.allocated_bytes = seg.size_bytes;
  }
  SyncOrDie(*seg.file);
  seg.index.Seal();
  TELEMQ_TRY(WriteIndexFiles(seg));
  seg.sealed = true;
  return Ok();
}

Result<void> PartitionLog::Roll(int64_t now_ms) {
  Segment& active = *segments_.back();
  TELEMQ_ASSIGN_OR_RETURN(auto next, CreateSegment(active.next, now_ms));
  auto sealed = SealSegment(active);
  if (!sealed) {
    next->file.reset();
    IgnoreError(RemoveSegmentFiles(next->base), "reporting the seal error instead");
    return tl::unexpected(sealed.error());
  }
  segments_.push_back(std::move(next));
  return Ok();
}

Result<void> PartitionLog::RemoveSegmentFiles(Offset base) {
  for (auto suffix : {f::kLogSuffix, f::kIndexSuffix, f::kTimeIndexSuffix}) {
    auto removed = fs_.Remove(PathOf(base, suffix));
    if (!removed && removed.error().code() != Errc::kNotFound) return removed;
  }
  return Ok();
}

Result<void> PartitionLog::WriteCleanMarker() {
  std::vector<std::byte> b(f::kMarkerHeaderSize + segments_.size() * f::kMarkerEntrySize + 8);
  StoreLE<uint64_t>(b.data() + f::kMarkerMagicAt, f::kMarkerMagic);
  StoreLE<uint32_t>(b.data() + f::kMarkerVersion, f::kMarkerVersionV1);
  StoreLE<uint32_t>(b.data() + f::kMarkerSegmentCount, static_cast<uint32_t>(segments_.size()));
  std::byte* p = b.data() + f::kMarkerHeaderSize;
  for (const auto& seg : segments_) {
    StoreLE<int64_t>(p + f::kMarkerBaseOffset, seg->base.value());
    StoreLE<uint64_t>(p + f::kMarkerSizeBytes, seg->size_bytes);
    StoreLE<int64_t>(p + f::kMarkerNextOffset, seg->next.value());
    StoreLE<int64_t>(p + f::kMarkerMaxTimestamp, seg->index.max_timestamp_ms());
    p += f::kMarkerEntrySize;
  }
  StoreLE<uint64_t>(p, XXH3_64bits(b.data(), b.size() - 8));
  TELEMQ_TRY(ReplaceFileAtomically(fs_, dir_ + "/" + std::string(f::kCleanShutdownName), b));
  return fs_.SyncDir(dir_);
}

// ---------------------------------------------------------------------------
// Append and Sync

Result<AppendResult> PartitionLog::Append(std::span<std::byte> batch, Term term, int64_t now_ms) {
  if (batch.size() < wire::batch::kHeaderSize || batch.size() > static_cast<size_t>(wire::batch::kMaxBatchBytes)) {
    return Fail(Errc::kInvalidArgument, "batch size out of bounds");
  }
  const int64_t last_delta = LoadLE<int32_t>(batch.data() + wire::batch::kLastOffsetDelta);
  if (last_delta < 0) return Fail(Errc::kInvalidArgument, "negative last offset delta");

  std::lock_guard lock(mu_);
  if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
  if (term < terms_.last_term()) {
    return Fail(Errc::kInvalidArgument, "term " + std::to_string(term.value()) + " is below the log's last term " +
                                            std::to_string(terms_.last_term().value()));
  }
  // The log end does not move when a roll happens, so stamping first is fine.
  wire::StampBaseOffset(batch, segments_.back()->next);
  wire::StampLeaderTerm(batch, term);
  return AppendLocked(batch, term, last_delta, now_ms);
}

Result<AppendResult> PartitionLog::AppendReplicated(std::span<const std::byte> batch, int64_t now_ms) {
  if (batch.size() < wire::batch::kHeaderSize || batch.size() > static_cast<size_t>(wire::batch::kMaxBatchBytes)) {
    return Fail(Errc::kInvalidArgument, "batch size out of bounds");
  }
  TELEMQ_ASSIGN_OR_RETURN(const auto header, wire::DecodeHeader(batch));
  if (static_cast<size_t>(header.batch_length) != batch.size()) {
    return Fail(Errc::kInvalidArgument, "batch length " + std::to_string(header.batch_length) + " but " +
                                            std::to_string(batch.size()) + " bytes given");
  }
  if (header.last_offset_delta < 0) return Fail(Errc::kInvalidArgument, "negative last offset delta");

  std::lock_guard lock(mu_);
  if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
  const Offset end = segments_.back()->next;
  if (header.base_offset != end) {
    return Fail(Errc::kInvalidArgument, "replicated batch at offset " + std::to_string(header.base_offset.value()) +
                                            " does not start at the log end " + std::to_string(end.value()));
  }
  if (header.leader_term < terms_.last_term()) {
    return Fail(Errc::kInvalidArgument, "replicated batch has term " + std::to_string(header.leader_term.value()) +
                                            ", below the log's last term " +
                                            std::to_string(terms_.last_term().value()));
  }
  return AppendLocked(batch, header.leader_term, header.last_offset_delta, now_ms);
}

Result<AppendResult> PartitionLog::AppendLocked(std::span<const std::byte> batch, Term term, int64_t last_delta,
                                                int64_t now_ms) {
  const uint64_t length = batch.size();
  Segment* seg = segments_.back().get();
  if (seg->size_bytes > 0) {
    const bool full = seg->size_bytes + length > opts_.segment_bytes ||
                      seg->size_bytes + length > std::numeric_limits<uint32_t>::max();
    const bool old = seg->roll_start_ms != kUnset && now_ms - seg->roll_start_ms >= opts_.segment_ms.count();
    // .index stores offsets relative to the base in 32 bits.
    const bool offsets_exhausted =
        (seg->next - seg->base) + last_delta >= static_cast<int64_t>(std::numeric_limits<uint32_t>::max());
    if (full || old || offsets_exhausted) {
      TELEMQ_TRY(Roll(now_ms));
      seg = segments_.back().get();
    }
  }
  const uint64_t position = seg->size_bytes;
  if (opts_.preallocate && position + length > seg->allocated_bytes) {
    const uint64_t want = std::max<uint64_t>(
        position + length, std::min<uint64_t>(seg->allocated_bytes + kPreallocateChunkBytes, opts_.segment_bytes));
    TELEMQ_TRY(seg->file->Allocate(want));
    seg->allocated_bytes = want;
  }
  const Offset base = seg->next;
  // A new term is on disk in the term file before its first batch is, so
  // recovery never finds a batch of a term the file does not know; if the
  // batch is then lost, recovery drops the term again (it starts at the end).
  const bool new_term = terms_.Append(term, base);
  if (new_term) {
    auto saved = WriteTermFile(CurrentTermFile());
    if (!saved) {
      terms_.TruncateFrom(base);
      return tl::unexpected(saved.error());
    }
  }
  auto written = seg->file->PWrite(position, batch);
  if (!written) {
    // Cut off whatever part of the batch reached the file, so that neither a
    // reader nor recovery can ever see it. If even that fails, the bytes sit
    // past the logical end, where the next append overwrites them and
    // recovery stops at them.
    IgnoreError(seg->file->Truncate(position), "the write error is reported; see comment");
    seg->allocated_bytes = position;
    // The term file may keep the new term: it starts at the log end, which
    // recovery ignores, and the next term file write drops it.
    if (new_term) terms_.TruncateFrom(base);
    return tl::unexpected(written.error());
  }
  TELEMQ_ASSIGN_OR_RETURN(const auto header, wire::DecodeHeader(batch));
  seg->index.Add(position, header);
  seg->size_bytes = position + length;
  seg->next = header.next_offset();
  if (seg->roll_start_ms == kUnset) seg->roll_start_ms = now_ms;
  if (recent_.size() == kRecentBatches) recent_.pop_front();
  recent_.push_back(BatchBounds{base, header.last_offset(), term});
  return AppendResult{base, header.last_offset()};
}

Result<Offset> PartitionLog::Sync() {
  std::shared_ptr<WritableFile> file;
  Offset target;
  uint64_t epoch;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
    target = segments_.back()->next;
    if (durable_offset_ >= target) return durable_offset_;
    // Closed segments were synced when they were sealed; only the active one
    // can hold unsynced batches.
    file = segments_.back()->file;
    epoch = truncate_epoch_;
  }
  SyncOrDie(*file);
  std::lock_guard lock(mu_);
  // A TruncateSuffix during the fdatasync may have replaced what we synced.
  if (epoch == truncate_epoch_ && target > durable_offset_) durable_offset_ = target;
  return durable_offset_;
}

Offset PartitionLog::log_start_offset() const {
  std::lock_guard lock(mu_);
  return segments_.front()->base;
}

Term PartitionLog::term_before_start() const {
  std::lock_guard lock(mu_);
  return terms_.TermAt(segments_.front()->base - 1);
}

Term PartitionLog::last_term() const {
  std::lock_guard lock(mu_);
  return terms_.TermAt(segments_.back()->next - 1);
}

Result<Term> PartitionLog::TermAt(Offset offset) const {
  std::lock_guard lock(mu_);
  if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
  if (offset < segments_.front()->base - 1 || offset >= segments_.back()->next) {
    return Fail(Errc::kOffsetOutOfRange, "no term for offset " + std::to_string(offset.value()) + " outside [" +
                                             std::to_string(segments_.front()->base.value() - 1) + ", " +
                                             std::to_string(segments_.back()->next.value()) + ")");
  }
  return terms_.TermAt(offset);
}

Result<BatchBounds> PartitionLog::BatchAt(Offset offset) const {
  std::shared_ptr<WritableFile> file;
  uint64_t limit = 0;
  uint64_t position = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
    const Offset start = segments_.front()->base;
    if (offset == start - 1) return BatchBounds{offset, offset, terms_.TermAt(offset)};
    if (offset < start || offset >= segments_.back()->next) {
      return Fail(Errc::kOffsetOutOfRange, "no batch covers offset " + std::to_string(offset.value()) + " outside [" +
                                               std::to_string(start.value()) + ", " +
                                               std::to_string(segments_.back()->next.value()) + ")");
    }
    if (!recent_.empty() && offset >= recent_.front().base_offset) {
      auto it = std::upper_bound(recent_.begin(), recent_.end(), offset,
                                 [](Offset o, const BatchBounds& b) { return o < b.base_offset; });
      return *std::prev(it);
    }
    const Segment& seg = *segments_[SegmentIndexFor(offset)];
    file = seg.file;
    limit = seg.size_bytes;
    position = seg.index.FloorByOffset(offset).position;
  }
  // Bytes below the logical end change only by TruncateSuffix or ResetTo;
  // the owner of a Raft log does not race those with its own lookups.
  return FindBatchInFile(*file, limit, position, offset);
}

Offset PartitionLog::log_end_offset() const {
  std::lock_guard lock(mu_);
  return segments_.back()->next;
}

Offset PartitionLog::durable_offset() const {
  std::lock_guard lock(mu_);
  return durable_offset_;
}

uint64_t PartitionLog::size_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& seg : segments_) total += seg->size_bytes;
  return total;
}

size_t PartitionLog::segment_count() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}

size_t PartitionLog::SegmentIndexFor(Offset offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](Offset o, const std::unique_ptr<Segment>& s) { return o < s->base; });
  return it == segments_.begin() ? 0 : static_cast<size_t>(std::prev(it) - segments_.begin());
}

// ---------------------------------------------------------------------------
// Reads

Result<ReadResult> PartitionLog::Read(Offset from, uint64_t max_bytes, Offset upper_bound) const {
  ReadResult result;
  result.next_offset = from;
  uint64_t remaining = max_bytes;
  bool first = true;
  Offset cur = from;
  for (;;) {
    SegmentView view;
    IndexEntry start_hint, size_hint, bound_hint;
    {
      std::lock_guard lock(mu_);
      if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
      if (first && (from < segments_.front()->base || from > segments_.back()->next)) {
        return Fail(Errc::kOffsetOutOfRange, "offset " + std::to_string(from.value()) + " outside [" +
                                                 std::to_string(segments_.front()->base.value()) + ", " +
                                                 std::to_string(segments_.back()->next.value()) + "]");
      }
      if (cur >= segments_.back()->next || cur >= upper_bound) break;
      const Segment& seg = *segments_[SegmentIndexFor(cur)];
      if (cur >= seg.next) break;  // unreachable with continuous offsets
      view = SegmentView{seg.file, seg.base, seg.next, seg.size_bytes};
      // Index lookups happen here; the preads below run without the mutex.
      // Bytes below size_bytes never change except by TruncateSuffix.
      start_hint = seg.index.FloorByOffset(cur);
      size_hint = seg.index.FloorByPosition(SaturatingAdd(start_hint.position, remaining));
      bound_hint = upper_bound < seg.next ? seg.index.FloorByOffset(upper_bound) : IndexEntry{seg.next, seg.size_bytes};
    }
    detail::FileCursor cursor(*view.file, view.size_bytes, kHeaderChunkBytes);
    uint64_t start = start_hint.position;
    wire::BatchHeader header;
    for (;;) {
      TELEMQ_ASSIGN_OR_RETURN(header, HeaderAt(cursor, start));
      if (header.next_offset() > cur) break;
      start += static_cast<uint64_t>(header.batch_length);
    }
    if (header.last_offset() >= upper_bound) break;
    if (!first && static_cast<uint64_t>(header.batch_length) > remaining) break;
    uint64_t end = start + static_cast<uint64_t>(header.batch_length);
    Offset next = header.next_offset();
    const uint64_t budget_end = SaturatingAdd(start, remaining);
    if (view.next <= upper_bound && view.size_bytes <= budget_end) {
      end = view.size_bytes;  // the common tailing read: the rest of the segment
      next = view.next;
    } else {
      // Jump to the furthest batch boundary the index vouches for, then walk.
      for (const IndexEntry& hint : {size_hint, bound_hint}) {
        if (hint.position > end && hint.position <= budget_end && hint.offset <= upper_bound) {
          end = hint.position;
          next = hint.offset;
        }
      }
      while (end < view.size_bytes) {
        TELEMQ_ASSIGN_OR_RETURN(header, HeaderAt(cursor, end));
        const uint64_t batch_end = end + static_cast<uint64_t>(header.batch_length);
        if (header.last_offset() >= upper_bound || batch_end > budget_end) break;
        end = batch_end;
        next = header.next_offset();
      }
    }
    const uint64_t bytes = end - start;
    result.ranges.push_back(FileRange{view.file, start, bytes});
    result.total_bytes += bytes;
    result.next_offset = next;
    remaining = bytes >= remaining ? 0 : remaining - bytes;
    cur = next;
    first = false;
    if (end < view.size_bytes || remaining == 0) break;
  }
  return result;
}

Result<std::optional<Offset>> PartitionLog::OffsetForTimestamp(int64_t ts_ms) const {
  size_t i = 0;
  for (;;) {
    SegmentView view;
    IndexEntry start;
    {
      std::lock_guard lock(mu_);
      if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
      // Segments hold their max timestamp: skip whole segments first.
      while (i < segments_.size() && segments_[i]->index.max_timestamp_ms() < ts_ms) ++i;
      if (i >= segments_.size()) return std::optional<Offset>();
      const Segment& seg = *segments_[i];
      view = SegmentView{seg.file, seg.base, seg.next, seg.size_bytes};
      // Every batch up to the entry's batch has max timestamp < ts_ms.
      auto entry = seg.index.LastTimeBefore(ts_ms);
      start = entry ? seg.index.FloorByOffset(entry->offset) : IndexEntry{seg.base, 0};
    }
    detail::FileCursor cursor(*view.file, view.size_bytes, kHeaderChunkBytes);
    for (uint64_t pos = start.position; pos < view.size_bytes;) {
      TELEMQ_ASSIGN_OR_RETURN(auto header, HeaderAt(cursor, pos));
      if (header.max_timestamp_ms >= ts_ms) return std::optional<Offset>(header.base_offset);
      pos += static_cast<uint64_t>(header.batch_length);
    }
    // Only if a retention or truncation raced with us: look further.
    ++i;
  }
}

Result<void> PartitionLog::ScanHeaders(Offset from, const std::function<void(const wire::BatchHeader&)>& visit) const {
  std::vector<SegmentView> views;
  IndexEntry start;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
    if (from < segments_.front()->base || from > segments_.back()->next) {
      return Fail(Errc::kOffsetOutOfRange, "offset " + std::to_string(from.value()) + " outside the log");
    }
    const size_t first = SegmentIndexFor(from);
    for (size_t i = first; i < segments_.size(); ++i) {
      const Segment& seg = *segments_[i];
      views.push_back(SegmentView{seg.file, seg.base, seg.next, seg.size_bytes});
    }
    start = segments_[first]->index.FloorByOffset(from);
  }
  for (size_t i = 0; i < views.size(); ++i) {
    detail::FileCursor cursor(*views[i].file, views[i].size_bytes, 256 * 1024);
    for (uint64_t pos = i == 0 ? start.position : 0; pos < views[i].size_bytes;) {
      TELEMQ_ASSIGN_OR_RETURN(auto header, HeaderAt(cursor, pos));
      if (header.next_offset() > from) visit(header);
      pos += static_cast<uint64_t>(header.batch_length);
    }
  }
  return Ok();
}

// ---------------------------------------------------------------------------
// Retention, truncation, close

Result<int> PartitionLog::ApplyRetention(int64_t now_ms, Offset retain_from) {
  std::vector<Offset> removed;
  bool terms_changed = false;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
    uint64_t total = 0;
    for (const auto& seg : segments_) total += seg->size_bytes;
    while (segments_.size() > 1) {
      const Segment& oldest = *segments_.front();
      const bool expired =
          opts_.retention_ms.count() >= 0 && oldest.index.max_timestamp_ms() < now_ms - opts_.retention_ms.count();
      const bool oversize = opts_.retention_bytes >= 0 && total > static_cast<uint64_t>(opts_.retention_bytes);
      if (!expired && !oversize) break;
      // Raft: entries not yet committed and applied must stay.
      if (oldest.next > retain_from) break;
      total -= oldest.size_bytes;
      removed.push_back(oldest.base);
      segments_.erase(segments_.begin());  // readers holding its file keep it open
    }
    if (!removed.empty()) {
      const Offset start = segments_.front()->base;
      while (!recent_.empty() && recent_.front().base_offset < start) recent_.pop_front();
      terms_changed = terms_.AdvanceStart(start);
    }
  }
  // File removal needs no mutex: the segments are no longer reachable.
  for (Offset base : removed) TELEMQ_TRY(RemoveSegmentFiles(base));
  if (!removed.empty()) TELEMQ_TRY(fs_.SyncDir(dir_));
  if (terms_changed) {
    // After the segments are gone: until then the old file, whose terms
    // cover the removed offsets too, is still right.
    std::lock_guard lock(mu_);
    if (!closed_) TELEMQ_TRY(WriteTermFile(CurrentTermFile()));
  }
  return static_cast<int>(removed.size());
}

Result<void> PartitionLog::TruncateSuffix(Offset from) {
  std::lock_guard lock(mu_);
  if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
  if (from < segments_.front()->base || from > segments_.back()->next) {
    return Fail(Errc::kOffsetOutOfRange, "truncation point " + std::to_string(from.value()) + " outside the log");
  }
  if (from == segments_.back()->next) return Ok();
  const size_t i = SegmentIndexFor(from);
  Segment& seg = *segments_[i];
  // Find the byte position of the batch starting at `from`. Rare (Raft
  // conflicts), so the I/O under the mutex is acceptable.
  uint64_t position = seg.index.FloorByOffset(from).position;
  {
    detail::FileCursor cursor(*seg.file, seg.size_bytes, kHeaderChunkBytes);
    while (position < seg.size_bytes) {
      TELEMQ_ASSIGN_OR_RETURN(auto header, HeaderAt(cursor, position));
      if (header.base_offset == from) break;
      if (header.next_offset() > from) {
        return Fail(Errc::kInvalidArgument, "offset " + std::to_string(from.value()) + " is inside a batch");
      }
      position += static_cast<uint64_t>(header.batch_length);
    }
  }
  TELEMQ_TRY(seg.file->Truncate(position));
  detail::SegmentIndex index(seg.base, opts_.index_interval_bytes);
  TELEMQ_ASSIGN_OR_RETURN(auto scan, detail::ScanBatches(*seg.file, 0, seg.base, position, &index));
  TELEMQ_CHECK(scan.end_position == position, "a segment prefix that was valid no longer validates");
  SyncOrDie(*seg.file);
  seg.index = std::move(index);
  seg.size_bytes = position;
  seg.allocated_bytes = position;
  seg.next = from;
  seg.sealed = false;
  std::vector<Offset> dropped;
  for (size_t j = i + 1; j < segments_.size(); ++j) dropped.push_back(segments_[j]->base);
  segments_.resize(i + 1);
  // The segment is active again; its old index files would be stale.
  for (auto suffix : {f::kIndexSuffix, f::kTimeIndexSuffix}) {
    auto r = fs_.Remove(PathOf(seg.base, suffix));
    if (!r && r.error().code() != Errc::kNotFound) return r;
  }
  for (Offset base : dropped) TELEMQ_TRY(RemoveSegmentFiles(base));
  TELEMQ_TRY(fs_.SyncDir(dir_));
  // Every segment before is sealed (synced), and this one was just synced.
  durable_offset_ = from;
  ++truncate_epoch_;
  while (!recent_.empty() && recent_.back().base_offset >= from) recent_.pop_back();
  // After the truncation is durable: a crash in between leaves terms that
  // start at or after the log end, which recovery drops.
  if (terms_.TruncateFrom(from)) TELEMQ_TRY(WriteTermFile(CurrentTermFile()));
  return Ok();
}

Result<void> PartitionLog::ResetTo(Offset start, Term prev_term) {
  if (start.value() < 0) return Fail(Errc::kInvalidArgument, "reset to a negative offset");
  std::lock_guard lock(mu_);
  if (closed_) return Fail(Errc::kShuttingDown, dir_ + " is closed");
  detail::TermFile reset{true, start, {detail::TermStart{prev_term, start - 1}}};
  // The commit point: from here on recovery finishes the reset. A failure
  // before it leaves the log as it was.
  TELEMQ_TRY(WriteTermFile(reset));
  std::vector<Offset> bases;
  for (const auto& seg : segments_) bases.push_back(seg->base);
  segments_.clear();  // readers holding a file keep it open
  recent_.clear();
  terms_ = detail::TermIndex(start, prev_term);
  ++truncate_epoch_;
  auto finish = [&]() -> Result<void> {
    // Newest first, although recovery deletes whatever is left anyway.
    for (auto it = bases.rbegin(); it != bases.rend(); ++it) TELEMQ_TRY(RemoveSegmentFiles(*it));
    TELEMQ_TRY(fs_.SyncDir(dir_));
    TELEMQ_ASSIGN_OR_RETURN(auto seg, CreateSegment(start, kUnset));
    segments_.push_back(std::move(seg));
    reset.reset_in_progress = false;
    return WriteTermFile(reset);
  };
  auto done = finish();
  if (!done) {
    // Appending now would put batches where recovery deletes them: refuse
    // every call until a reopen has finished the reset.
    log::Error("log reset failed half way; the log must be reopened",
               {{"path", dir_}, {"offset", start}, {"error", done.error().ToString()}});
    if (segments_.empty()) segments_.push_back(std::make_unique<Segment>(start, opts_.index_interval_bytes));
    closed_ = true;
    return done;
  }
  durable_offset_ = start;
  return Ok();
}

Result<void> PartitionLog::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return Ok();
  TELEMQ_TRY(SealSegment(*segments_.back()));
  TELEMQ_TRY(WriteCleanMarker());
  durable_offset_ = segments_.back()->next;
  closed_ = true;
  for (auto& seg : segments_) seg->file.reset();
  return Ok();
}

}  // namespace telemq::storage
