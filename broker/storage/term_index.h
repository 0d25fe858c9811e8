#pragma once
// The term index of a partition log: which Raft term wrote each offset, kept
// as the offsets where a new term starts (Kafka's leader-epoch cache), plus
// its file `term_index` in the partition directory (docs/log-format.md §5a).
//
// Promises: terms and first offsets strictly increase; the first entry always
// covers log_start - 1, so the term of the entry before the log start (the
// Raft "prev term" of an empty or retained log) is never lost. Not
// thread-safe: PartitionLog's mutex guards its TermIndex. Pure (no I/O): the
// caller writes the encoded file.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::storage::detail {

// Offsets [first_offset, next entry's first_offset) were written in `term`.
struct TermStart {
  Term term;
  Offset first_offset;
  bool operator==(const TermStart&) const = default;
};

class TermIndex {
 public:
  // An empty log starting at `start` whose previous entry had `prev_term`.
  TermIndex(Offset start, Term prev_term) : entries_{{prev_term, start - 1}} {}
  // Entries as loaded from the file; `entries` must satisfy IsWellFormed.
  explicit TermIndex(std::vector<TermStart> entries) : entries_(std::move(entries)) {}

  // The term of `offset`; offset >= entries().front().first_offset.
  Term TermAt(Offset offset) const;
  Term last_term() const { return entries_.back().term; }

  // The batch at `base` (the log end) was written in `term` >= last_term().
  // Returns true when that starts a new term (the file must be rewritten).
  bool Append(Term term, Offset base);
  // Forgets terms that start at or after `from` (suffix truncation); the
  // entry covering from - 1 stays. Returns true when something was dropped.
  bool TruncateFrom(Offset from);
  // Drops entries wholly below new_start - 1 (retention); the entry covering
  // new_start - 1 stays. Returns true when something was dropped.
  bool AdvanceStart(Offset new_start);

  const std::vector<TermStart>& entries() const { return entries_; }
  // Non-empty, strictly increasing in both fields.
  static bool IsWellFormed(const std::vector<TermStart>& entries);

 private:
  std::vector<TermStart> entries_;
};

// Contents of the `term_index` file.
struct TermFile {
  // A ResetTo committed to this state but may not have removed the old
  // segments yet: recovery must finish it (delete every segment, start empty
  // at log_start).
  bool reset_in_progress = false;
  // The log start when the file was written (retention may since have moved
  // the real start up, never down, except by a reset).
  Offset log_start;
  std::vector<TermStart> entries;
};

std::vector<std::byte> EncodeTermFile(const TermFile& file);
// kCorrupt for a wrong size, magic, version or checksum, or entries that are
// not well formed or do not cover log_start - 1.
[[nodiscard]] Result<TermFile> DecodeTermFile(std::span<const std::byte> bytes);

}  // namespace telemq::storage::detail
