#include "broker/storage/segment.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "broker/storage/storage_format.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/endian.h"

namespace telemq::storage::detail {

namespace f = format;
using wire::LoadLE;
using wire::StoreLE;

std::string SegmentName(Offset base, std::string_view suffix) {
  char digits[32];
  std::snprintf(digits, sizeof(digits), "%020lld", static_cast<long long>(base.value()));
  std::string name(digits);
  name += suffix;
  return name;
}

std::optional<Offset> ParseSegmentName(std::string_view name, std::string_view suffix) {
  if (name.size() != f::kNameDigits + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  int64_t value = 0;
  const char* end = name.data() + f::kNameDigits;
  auto [ptr, ec] = std::from_chars(name.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return Offset(value);
}

void SegmentIndex::Add(uint64_t position, const wire::BatchHeader& header) {
  if (position > 0 && bytes_since_entry_ >= interval_bytes_) {
    entries_.push_back(IndexEntry{header.base_offset, position});
    bytes_since_entry_ = 0;
    // The running max over every batch before this one: a lookup for a
    // larger timestamp can start its scan at max_timestamp_offset_.
    if (max_timestamp_ms_ != INT64_MIN &&
        (time_entries_.empty() || time_entries_.back().timestamp_ms < max_timestamp_ms_)) {
      time_entries_.push_back(TimeIndexEntry{max_timestamp_ms_, max_timestamp_offset_});
    }
  }
  bytes_since_entry_ += static_cast<uint64_t>(header.batch_length);
  if (header.max_timestamp_ms > max_timestamp_ms_) {
    max_timestamp_ms_ = header.max_timestamp_ms;
    max_timestamp_offset_ = header.base_offset;
  }
}

void SegmentIndex::Seal() {
  if (max_timestamp_ms_ != INT64_MIN &&
      (time_entries_.empty() || time_entries_.back().timestamp_ms < max_timestamp_ms_)) {
    time_entries_.push_back(TimeIndexEntry{max_timestamp_ms_, max_timestamp_offset_});
  }
}

IndexEntry SegmentIndex::FloorByOffset(Offset offset) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), offset,
                             [](Offset o, const IndexEntry& e) { return o < e.offset; });
  if (it == entries_.begin()) return IndexEntry{base_, 0};
  return *std::prev(it);
}

IndexEntry SegmentIndex::FloorByPosition(uint64_t position) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), position,
                             [](uint64_t p, const IndexEntry& e) { return p < e.position; });
  if (it == entries_.begin()) return IndexEntry{base_, 0};
  return *std::prev(it);
}

std::optional<TimeIndexEntry> SegmentIndex::LastTimeBefore(int64_t ts_ms) const {
  auto it = std::lower_bound(time_entries_.begin(), time_entries_.end(), ts_ms,
                             [](const TimeIndexEntry& e, int64_t t) { return e.timestamp_ms < t; });
  if (it == time_entries_.begin()) return std::nullopt;
  return *std::prev(it);
}

std::vector<std::byte> SegmentIndex::EncodeIndex() const {
  std::vector<std::byte> out(entries_.size() * f::kIndexEntrySize);
  std::byte* p = out.data();
  for (const auto& e : entries_) {
    StoreLE<uint32_t>(p + f::kIndexRelativeOffset, static_cast<uint32_t>(e.offset - base_));
    StoreLE<uint32_t>(p + f::kIndexPosition, static_cast<uint32_t>(e.position));
    p += f::kIndexEntrySize;
  }
  return out;
}

std::vector<std::byte> SegmentIndex::EncodeTimeIndex() const {
  std::vector<std::byte> out(time_entries_.size() * f::kTimeIndexEntrySize);
  std::byte* p = out.data();
  for (const auto& e : time_entries_) {
    StoreLE<int64_t>(p + f::kTimeIndexTimestamp, e.timestamp_ms);
    StoreLE<uint32_t>(p + f::kTimeIndexRelativeOffset, static_cast<uint32_t>(e.offset - base_));
    p += f::kTimeIndexEntrySize;
  }
  return out;
}

Result<void> SegmentIndex::Load(std::span<const std::byte> index, std::span<const std::byte> time_index,
                                uint64_t log_size) {
  if (index.size() % f::kIndexEntrySize != 0) return Fail(Errc::kCorrupt, "index size is not whole entries");
  if (time_index.size() % f::kTimeIndexEntrySize != 0) {
    return Fail(Errc::kCorrupt, "time index size is not whole entries");
  }
  std::vector<IndexEntry> entries;
  entries.reserve(index.size() / f::kIndexEntrySize);
  IndexEntry prev{base_, 0};
  for (size_t i = 0; i < index.size(); i += f::kIndexEntrySize) {
    const IndexEntry e{base_ + LoadLE<uint32_t>(index.data() + i + f::kIndexRelativeOffset),
                       LoadLE<uint32_t>(index.data() + i + f::kIndexPosition)};
    if (e.offset <= prev.offset || e.position <= prev.position || e.position >= log_size) {
      return Fail(Errc::kCorrupt, "index entry " + std::to_string(i / f::kIndexEntrySize) + " out of order or range");
    }
    entries.push_back(e);
    prev = e;
  }
  std::vector<TimeIndexEntry> times;
  times.reserve(time_index.size() / f::kTimeIndexEntrySize);
  for (size_t i = 0; i < time_index.size(); i += f::kTimeIndexEntrySize) {
    const TimeIndexEntry e{LoadLE<int64_t>(time_index.data() + i + f::kTimeIndexTimestamp),
                           base_ + LoadLE<uint32_t>(time_index.data() + i + f::kTimeIndexRelativeOffset)};
    if (!times.empty() && (e.timestamp_ms <= times.back().timestamp_ms || e.offset < times.back().offset)) {
      return Fail(Errc::kCorrupt, "time index entry " + std::to_string(i / f::kTimeIndexEntrySize) + " out of order");
    }
    times.push_back(e);
  }
  entries_ = std::move(entries);
  time_entries_ = std::move(times);
  // Continue as if Add had just placed the last entry: the caller rescans
  // from resume_point(), which restores the byte count and the max timestamp
  // of the batches after it.
  bytes_since_entry_ = 0;
  if (!time_entries_.empty()) {
    max_timestamp_ms_ = time_entries_.back().timestamp_ms;
    max_timestamp_offset_ = time_entries_.back().offset;
  } else {
    max_timestamp_ms_ = INT64_MIN;
  }
  return Ok();
}

Result<std::span<const std::byte>> FileCursor::Get(uint64_t position, size_t length) {
  if (position + length > limit_) return Fail(Errc::kCorrupt, "range past the end of the segment data");
  if (position >= buffer_position_ && position + length <= buffer_position_ + buffer_.size()) {
    return std::span<const std::byte>(buffer_).subspan(position - buffer_position_, length);
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(length, chunk_bytes_), limit_ - position));
  buffer_.resize(want);
  buffer_position_ = position;
  TELEMQ_ASSIGN_OR_RETURN(const size_t n, file_.PRead(position, buffer_));
  buffer_.resize(n);
  if (n < length) return Fail(Errc::kCorrupt, "file shorter than the segment data");
  return std::span<const std::byte>(buffer_).first(length);
}

Result<ScanResult> ScanBatches(const ReadableFile& file, uint64_t position, Offset expected, uint64_t limit,
                               SegmentIndex* index) {
  constexpr size_t kScanChunk = 1 << 20;
  FileCursor cursor(file, limit, kScanChunk);
  ScanResult result{position, expected, {}};
  while (result.end_position < limit) {
    const uint64_t pos = result.end_position;
    if (limit - pos < wire::batch::kHeaderSize) {
      result.stop_reason = "partial header at " + std::to_string(pos);
      break;
    }
    auto header_bytes = cursor.Get(pos, wire::batch::kHeaderSize);
    if (!header_bytes) return tl::unexpected(header_bytes.error());
    const int32_t length = LoadLE<int32_t>(header_bytes->data() + wire::batch::kBatchLength);
    if (length == 0 &&
        std::all_of(header_bytes->begin(), header_bytes->end(), [](std::byte b) { return b == std::byte{0}; })) {
      result.stop_reason = "zeros at " + std::to_string(pos);
      result.zero_tail = true;
      break;
    }
    if (length < static_cast<int32_t>(wire::batch::kHeaderSize) || length > wire::batch::kMaxBatchBytes ||
        static_cast<uint64_t>(length) > limit - pos) {
      result.stop_reason = "batch length " + std::to_string(length) + " out of bounds at " + std::to_string(pos);
      break;
    }
    auto batch = cursor.Get(pos, static_cast<size_t>(length));
    if (!batch) return tl::unexpected(batch.error());
    auto header = wire::ValidateBatch(*batch);
    if (!header) {
      result.stop_reason = "invalid batch at " + std::to_string(pos) + ": " + header.error().ToString();
      break;
    }
    if (header->base_offset != result.next_offset) {
      result.stop_reason = "batch at " + std::to_string(pos) + " has base offset " +
                           std::to_string(header->base_offset.value()) + ", expected " +
                           std::to_string(result.next_offset.value());
      break;
    }
    if (index != nullptr) index->Add(pos, *header);
    result.end_position = pos + static_cast<uint64_t>(length);
    result.next_offset = header->next_offset();
  }
  return result;
}

}  // namespace telemq::storage::detail
