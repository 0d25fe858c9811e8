#include "broker/storage/term_index.h"

#include <xxhash.h>

#include <algorithm>
#include <string>

#include "broker/storage/storage_format.h"
#include "telemq/common/check.h"
#include "telemq/wire/endian.h"

namespace telemq::storage::detail {

namespace f = format;
using wire::LoadLE;
using wire::StoreLE;

Term TermIndex::TermAt(Offset offset) const {
  // Last entry whose first offset is <= offset. The common question is about
  // the last term, so look there first.
  if (offset >= entries_.back().first_offset) return entries_.back().term;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), offset,
                             [](Offset o, const TermStart& e) { return o < e.first_offset; });
  TELEMQ_CHECK(it != entries_.begin(), "term asked for an offset before the term index");
  return std::prev(it)->term;
}

bool TermIndex::Append(Term term, Offset base) {
  TELEMQ_CHECK(term >= entries_.back().term, "terms in a log never decrease");
  if (term == entries_.back().term) return false;
  TELEMQ_CHECK(base > entries_.back().first_offset, "a new term starts after the previous one");
  entries_.push_back(TermStart{term, base});
  return true;
}

bool TermIndex::TruncateFrom(Offset from) {
  const size_t before = entries_.size();
  // The first entry covers log_start - 1 < from, so it always stays.
  while (entries_.size() > 1 && entries_.back().first_offset >= from) entries_.pop_back();
  return entries_.size() != before;
}

bool TermIndex::AdvanceStart(Offset new_start) {
  // Keep the last entry starting at or before new_start - 1 and all after it.
  size_t keep_from = 0;
  while (keep_from + 1 < entries_.size() && entries_[keep_from + 1].first_offset <= new_start - 1) ++keep_from;
  if (keep_from == 0) return false;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(keep_from));
  return true;
}

bool TermIndex::IsWellFormed(const std::vector<TermStart>& entries) {
  if (entries.empty()) return false;
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].term <= entries[i - 1].term || entries[i].first_offset <= entries[i - 1].first_offset) return false;
  }
  return true;
}

std::vector<std::byte> EncodeTermFile(const TermFile& file) {
  std::vector<std::byte> b(f::kTermHeaderSize + file.entries.size() * f::kTermEntrySize + 8);
  StoreLE<uint64_t>(b.data() + f::kTermMagicAt, f::kTermMagic);
  StoreLE<uint32_t>(b.data() + f::kTermVersion, f::kTermVersionV1);
  StoreLE<uint32_t>(b.data() + f::kTermFlags, file.reset_in_progress ? f::kTermFlagResetInProgress : 0u);
  StoreLE<int64_t>(b.data() + f::kTermLogStart, file.log_start.value());
  StoreLE<uint32_t>(b.data() + f::kTermEntryCount, static_cast<uint32_t>(file.entries.size()));
  StoreLE<uint32_t>(b.data() + f::kTermReserved, 0);
  std::byte* p = b.data() + f::kTermHeaderSize;
  for (const auto& e : file.entries) {
    StoreLE<int64_t>(p + f::kTermEntryTerm, e.term.value());
    StoreLE<int64_t>(p + f::kTermEntryFirstOffset, e.first_offset.value());
    p += f::kTermEntrySize;
  }
  StoreLE<uint64_t>(p, XXH3_64bits(b.data(), b.size() - 8));
  return b;
}

Result<TermFile> DecodeTermFile(std::span<const std::byte> b) {
  if (b.size() < f::kTermHeaderSize + 8) {
    return Fail(Errc::kCorrupt, "term file has " + std::to_string(b.size()) + " bytes, too short");
  }
  const size_t n = LoadLE<uint32_t>(b.data() + f::kTermEntryCount);
  const size_t want = f::kTermHeaderSize + n * f::kTermEntrySize + 8;
  if (b.size() != want) {
    return Fail(Errc::kCorrupt, "term file has " + std::to_string(b.size()) + " bytes, its header says " +
                                    std::to_string(want) + " (torn or truncated)");
  }
  if (LoadLE<uint64_t>(b.data() + want - 8) != XXH3_64bits(b.data(), want - 8)) {
    return Fail(Errc::kCorrupt, "term file checksum mismatch");
  }
  if (LoadLE<uint64_t>(b.data() + f::kTermMagicAt) != f::kTermMagic) return Fail(Errc::kCorrupt, "term file magic");
  const uint32_t version = LoadLE<uint32_t>(b.data() + f::kTermVersion);
  if (version != f::kTermVersionV1) {
    return Fail(Errc::kCorrupt, "term file version " + std::to_string(version) + " is not supported");
  }
  TermFile file;
  file.reset_in_progress = (LoadLE<uint32_t>(b.data() + f::kTermFlags) & f::kTermFlagResetInProgress) != 0;
  file.log_start = Offset(LoadLE<int64_t>(b.data() + f::kTermLogStart));
  file.entries.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::byte* p = b.data() + f::kTermHeaderSize + i * f::kTermEntrySize;
    file.entries.push_back(
        TermStart{Term(LoadLE<int64_t>(p + f::kTermEntryTerm)), Offset(LoadLE<int64_t>(p + f::kTermEntryFirstOffset))});
  }
  if (!TermIndex::IsWellFormed(file.entries)) return Fail(Errc::kCorrupt, "term file entries out of order");
  if (file.log_start.value() < 0 || file.entries.front().first_offset > file.log_start - 1) {
    return Fail(Errc::kCorrupt, "term file does not cover the offset before its log start");
  }
  return file;
}

}  // namespace telemq::storage::detail
