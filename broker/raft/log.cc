#include "broker/raft/log.h"

#include <algorithm>
#include <string>

#include "telemq/common/check.h"

namespace telemq::raft {

Offset MemoryLog::NextOffset() const { return entries_.empty() ? start_ : entries_.back().last_offset() + 1; }

LogPosition MemoryLog::LastPosition() const {
  if (entries_.empty()) return LogPosition{start_ - 1, prev_term_};
  return LogPosition{entries_.back().last_offset(), entries_.back().term};
}

ptrdiff_t MemoryLog::Find(Offset offset) const {
  if (offset < start_ || offset >= NextOffset()) return -1;
  // Last entry whose base is <= offset.
  auto it = std::upper_bound(entries_.begin(), entries_.end(), offset,
                             [](Offset o, const Entry& e) { return o < e.base_offset; });
  return (it - entries_.begin()) - 1;
}

Result<EntryMeta> MemoryLog::Lookup(Offset offset) const {
  if (offset == start_ - 1) return EntryMeta{offset, offset, prev_term_};
  ptrdiff_t i = Find(offset);
  if (i < 0) {
    return Fail(Errc::kOffsetOutOfRange, "offset " + std::to_string(offset.value()) + " outside log [" +
                                             std::to_string(start_.value()) + ", " +
                                             std::to_string(NextOffset().value()) + ")");
  }
  const Entry& e = entries_[i];
  return EntryMeta{e.base_offset, e.last_offset(), e.term};
}

Result<void> MemoryLog::Read(Offset from, Offset last, size_t max_bytes, std::vector<Entry>* out) const {
  ptrdiff_t i = Find(from);
  if (i < 0 || entries_[i].base_offset != from) {
    return Fail(Errc::kOffsetOutOfRange, "no entry starts at offset " + std::to_string(from.value()));
  }
  size_t bytes = 0;
  bool first = true;
  for (; i < static_cast<ptrdiff_t>(entries_.size()); ++i) {
    const Entry& e = entries_[i];
    if (e.base_offset > last) break;
    bytes += e.payload_bytes();
    if (!first && bytes > max_bytes) break;
    out->push_back(e);
    first = false;
  }
  return Ok();
}

void MemoryLog::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  Offset base = entries.front().base_offset;
  TELEMQ_CHECK(base >= start_ && base <= NextOffset(), "append must touch the log");
  if (base < NextOffset()) {
    ptrdiff_t i = Find(base);
    TELEMQ_CHECK(i >= 0 && entries_[i].base_offset == base, "append must start on an entry boundary");
    entries_.erase(entries_.begin() + i, entries_.end());
  }
  for (const Entry& e : entries) {
    TELEMQ_CHECK(e.base_offset == NextOffset(), "appended entries must be contiguous");
    TELEMQ_CHECK(e.record_count >= 1, "an entry occupies at least one offset");
    entries_.push_back(e);
  }
}

void MemoryLog::Reset(LogPosition position) {
  entries_.clear();
  start_ = position.offset + 1;
  prev_term_ = position.term;
}

void MemoryLog::TruncatePrefix(Offset new_start) {
  if (new_start <= start_) return;
  TELEMQ_CHECK(new_start <= NextOffset(), "retention beyond the log end");
  if (new_start == NextOffset()) {
    prev_term_ = entries_.back().term;
    entries_.clear();
    start_ = new_start;
    return;
  }
  ptrdiff_t i = Find(new_start);
  TELEMQ_CHECK(i >= 1 && entries_[i].base_offset == new_start, "retention on an entry boundary");
  prev_term_ = entries_[i - 1].term;
  entries_.erase(entries_.begin(), entries_.begin() + i);
  start_ = new_start;
}

}  // namespace telemq::raft
