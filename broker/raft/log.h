#pragma once
// The Raft core's view of durable storage: a read-only interface over the
// replicated log, and MemoryLog, an in-memory implementation for tests, the
// simulator and the benchmark. The broker's partition log will implement
// LogReader later; it must reflect exactly what the caller persisted from
// Ready bundles (and what retention removed from the front).
//
// Model: the log holds contiguous entries covering offsets [Start, Next).
// Offsets below Start were removed by retention and are committed by
// definition (retention never removes uncommitted or unapplied entries). The
// log also remembers the term of the entry that ended at Start - 1, so the
// position (Start - 1, term) can still be matched after retention.
//
// Thread-safety: none; the owner of the Raft node owns its log.

#include <cstddef>
#include <deque>
#include <vector>

#include "broker/raft/types.h"
#include "telemq/common/result.h"

namespace telemq::raft {

// Boundaries and term of one entry.
struct EntryMeta {
  Offset base_offset;
  Offset last_offset;
  Term term;
};

class LogReader {
 public:
  virtual ~LogReader() = default;

  // First offset still held; equals NextOffset() when the log is empty.
  virtual Offset StartOffset() const = 0;
  // One past the last offset held (the log end offset).
  virtual Offset NextOffset() const = 0;
  // The entry covering `offset`. For StartOffset() - 1 it returns the
  // boundary {base = last = StartOffset() - 1, term = term before start}.
  // kOffsetOutOfRange for anything else outside [Start - 1, Next).
  [[nodiscard]] virtual Result<EntryMeta> Lookup(Offset offset) const = 0;
  // Appends to *out whole entries from `from` (an entry's base offset) up to
  // and including the one covering `last`, stopping before the entry that
  // would take the payload total above `max_bytes` (always at least one).
  [[nodiscard]] virtual Result<void> Read(Offset from, Offset last, size_t max_bytes,
                                          std::vector<Entry>* out) const = 0;
};

// In-memory log. Mutations are the caller's side of the persistence contract:
// Reset, Append and TruncatePrefix stand for durable writes.
class MemoryLog final : public LogReader {
 public:
  MemoryLog() = default;
  MemoryLog(const MemoryLog&) = default;
  MemoryLog& operator=(const MemoryLog&) = default;
  MemoryLog(MemoryLog&&) = default;
  MemoryLog& operator=(MemoryLog&&) = default;

  Offset StartOffset() const override { return start_; }
  Offset NextOffset() const override;
  [[nodiscard]] Result<EntryMeta> Lookup(Offset offset) const override;
  [[nodiscard]] Result<void> Read(Offset from, Offset last, size_t max_bytes, std::vector<Entry>* out) const override;

  // Ready::entries: drops stored entries at offsets >= entries.front()
  // .base_offset, then appends. The first entry must start at or below
  // NextOffset() and on an entry boundary.
  void Append(const std::vector<Entry>& entries);
  // Ready::log_reset: empties the log; the next entry goes at position.offset + 1.
  void Reset(LogPosition position);
  // Retention: removes whole entries below `new_start` (an entry boundary or
  // NextOffset()). The caller guarantees they are committed and applied.
  void TruncatePrefix(Offset new_start);

  const std::deque<Entry>& entries() const { return entries_; }
  LogPosition LastPosition() const;

 private:
  // Index into entries_ of the entry covering `offset`, or -1.
  ptrdiff_t Find(Offset offset) const;

  Offset start_{0};
  Term prev_term_{0};  // term of the entry ending at start_ - 1
  std::deque<Entry> entries_;
};

}  // namespace telemq::raft
