#include "broker/replication/raft_log.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "broker/replication/replication_format.h"
#include "telemq/common/check.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/endian.h"

namespace telemq::replication {

namespace b = wire::batch;
using wire::StoreLE;

namespace {

std::string Str(Offset o) { return std::to_string(o.value()); }

// A kNormal entry's payload must be the batch the leader stamped for it.
Result<void> CheckNormalEntry(const raft::Entry& e) {
  TELEMQ_ASSIGN_OR_RETURN(const auto h, wire::DecodeHeader(e.payload.bytes()));
  const char* problem = nullptr;
  if (static_cast<size_t>(h.batch_length) != e.payload.size()) {
    problem = "its batch length differs from the payload size";
  } else if (h.base_offset != e.base_offset) {
    problem = "its batch header has another base offset";
  } else if (h.leader_term != e.term) {
    problem = "its batch header has another term";
  } else if (h.record_count != e.record_count || h.last_offset_delta != e.record_count - 1) {
    problem = "its batch header has another record count";
  } else if (h.is_control()) {
    problem = "it is a control batch";
  }
  if (problem == nullptr) return Ok();
  return Fail(Errc::kCorrupt, "entry (term " + std::to_string(e.term.value()) + ", offset " + Str(e.base_offset) +
                                  ", " + std::to_string(e.record_count) + " records) cannot be stored: " + problem +
                                  " (header: offset " + Str(h.base_offset) + ", term " +
                                  std::to_string(h.leader_term.value()) + ", " + std::to_string(h.record_count) +
                                  " records, " + std::to_string(h.batch_length) + " bytes)");
}

}  // namespace

std::vector<std::byte> BuildNoopBatch(Term term, Offset base_offset) {
  std::vector<std::byte> out(format::kNoopBatchSize);
  std::byte* h = out.data();
  StoreLE<int64_t>(h + b::kBaseOffset, base_offset.value());
  StoreLE<int32_t>(h + b::kBatchLength, static_cast<int32_t>(out.size()));
  StoreLE<int64_t>(h + b::kLeaderTerm, term.value());
  StoreLE<uint8_t>(h + b::kMagic, b::kMagicV1);
  StoreLE<uint16_t>(h + b::kAttributes, b::kControlFlag);
  StoreLE<int32_t>(h + b::kLastOffsetDelta, 0);
  StoreLE<int64_t>(h + b::kFirstTimestamp, format::kNoopTimestampMs);
  StoreLE<int64_t>(h + b::kMaxTimestamp, format::kNoopTimestampMs);
  StoreLE<int64_t>(h + b::kProducerId, -1);
  StoreLE<int16_t>(h + b::kProducerEpoch, -1);
  StoreLE<int32_t>(h + b::kBaseSequence, -1);
  StoreLE<int32_t>(h + b::kRecordCount, 1);
  std::memcpy(h + b::kHeaderSize, format::kNoopRecord, sizeof(format::kNoopRecord));
  StoreLE<uint64_t>(h + b::kChecksum, wire::ComputeChecksum(out));
  return out;
}

Result<raft::Entry> EntryFromBatch(raft::Payload payload) {
  TELEMQ_ASSIGN_OR_RETURN(const auto h, wire::DecodeHeader(payload.bytes()));
  raft::Entry e;
  e.term = h.leader_term;
  e.base_offset = h.base_offset;
  e.record_count = h.record_count;
  if (h.is_control()) {
    // Rebuilt from (term, offset) wherever it is stored: nothing to carry.
    e.type = raft::EntryType::kNoop;
  } else {
    e.type = raft::EntryType::kNormal;
    e.payload = std::move(payload);
  }
  return e;
}

RaftLog::RaftLog(std::shared_ptr<storage::PartitionLog> log, RaftLogOptions options)
    : log_(std::move(log)), options_(options) {
  TELEMQ_CHECK(log_ != nullptr, "RaftLog needs a partition log");
}

Offset RaftLog::StartOffset() const { return log_->log_start_offset(); }

Offset RaftLog::NextOffset() const { return log_->log_end_offset(); }

raft::LogPosition RaftLog::LastPosition() const {
  if (!cache_.empty()) return raft::LogPosition{cache_.back().last_offset(), cache_.back().term};
  return raft::LogPosition{log_->log_end_offset() - 1, log_->last_term()};
}

ptrdiff_t RaftLog::CacheFind(Offset offset, Offset start) const {
  if (cache_.empty() || offset < start || offset < cache_.front().base_offset || offset > cache_.back().last_offset()) {
    return -1;
  }
  auto it = std::upper_bound(cache_.begin(), cache_.end(), offset,
                             [](Offset o, const raft::Entry& e) { return o < e.base_offset; });
  return (it - cache_.begin()) - 1;
}

Result<raft::EntryMeta> RaftLog::Lookup(Offset offset) const {
  const ptrdiff_t i = CacheFind(offset, log_->log_start_offset());
  if (i >= 0) {
    const raft::Entry& e = cache_[static_cast<size_t>(i)];
    return raft::EntryMeta{e.base_offset, e.last_offset(), e.term};
  }
  TELEMQ_ASSIGN_OR_RETURN(const auto bounds, log_->BatchAt(offset));
  return raft::EntryMeta{bounds.base_offset, bounds.last_offset, bounds.term};
}

Result<std::vector<raft::Entry>> RaftLog::ReadStored(Offset from, Offset upper_bound, size_t max_bytes) const {
  TELEMQ_ASSIGN_OR_RETURN(const auto read, log_->Read(from, max_bytes, upper_bound));
  // One buffer for the whole read: every payload shares it.
  auto buffer = std::make_shared<std::vector<std::byte>>(read.total_bytes);
  size_t at = 0;
  for (const auto& range : read.ranges) {
    std::span<std::byte> dst(buffer->data() + at, range.size);
    TELEMQ_ASSIGN_OR_RETURN(const size_t n, range.file->PRead(range.position, dst));
    if (n != range.size) return Fail(Errc::kIo, "short read of " + range.file->path());
    at += range.size;
  }
  std::vector<raft::Entry> entries;
  std::span<const std::byte> rest(*buffer);
  while (!rest.empty()) {
    // Validated when appended or recovered; consumers verify checksums.
    TELEMQ_ASSIGN_OR_RETURN(const auto h, wire::DecodeHeader(rest));
    if (h.batch_length < static_cast<int32_t>(b::kHeaderSize) || static_cast<size_t>(h.batch_length) > rest.size()) {
      return Fail(Errc::kCorrupt, "batch at offset " + Str(h.base_offset) + " has a bad length");
    }
    const auto bytes = rest.first(static_cast<size_t>(h.batch_length));
    TELEMQ_ASSIGN_OR_RETURN(auto entry, EntryFromBatch(raft::Payload(buffer, bytes)));
    entries.push_back(std::move(entry));
    rest = rest.subspan(bytes.size());
  }
  return entries;
}

Result<void> RaftLog::Read(Offset from, Offset last, size_t max_bytes, std::vector<raft::Entry>* out) const {
  const Offset start = log_->log_start_offset();
  const Offset next = log_->log_end_offset();
  if (from < start || from >= next) {
    return Fail(Errc::kOffsetOutOfRange,
                "no entry starts at offset " + Str(from) + " (log [" + Str(start) + ", " + Str(next) + "))");
  }
  last = std::min(last, next - 1);
  size_t bytes = 0;
  bool first = true;
  // Same rule as MemoryLog::Read: stop before the entry that would take the
  // payload total above max_bytes, but always return one.
  auto take = [&](raft::Entry e) {
    if (e.base_offset > last) return false;
    if (!first && bytes + e.payload_bytes() > max_bytes) return false;
    bytes += e.payload_bytes();
    out->push_back(std::move(e));
    first = false;
    return true;
  };
  Offset cur = from;
  while (cur <= last) {
    const ptrdiff_t i = CacheFind(cur, start);
    if (i >= 0) {
      if (cache_[static_cast<size_t>(i)].base_offset != cur) {
        return Fail(Errc::kOffsetOutOfRange, "no entry starts at offset " + Str(cur));
      }
      for (size_t k = static_cast<size_t>(i); k < cache_.size() && take(cache_[k]); ++k) {
      }
      return Ok();
    }
    // Below the cache: read up to the cache (or to the entry covering last).
    Offset upper = last + 1;
    if (!cache_.empty() && cache_.front().base_offset > cur) upper = std::min(upper, cache_.front().base_offset);
    const size_t budget = bytes >= max_bytes ? 1 : max_bytes - bytes;
    // The entry covering `last` may end after it; PartitionLog::Read stops
    // before a batch whose last offset >= upper_bound, so bound by its end.
    if (upper == last + 1) {
      TELEMQ_ASSIGN_OR_RETURN(const auto bounds, log_->BatchAt(last));
      upper = bounds.last_offset + 1;
    }
    TELEMQ_ASSIGN_OR_RETURN(auto entries, ReadStored(cur, upper, budget));
    if (entries.empty()) break;
    if (entries.front().base_offset != cur) {
      return Fail(Errc::kOffsetOutOfRange, "no entry starts at offset " + Str(cur));
    }
    for (auto& e : entries) {
      const Offset after = e.last_offset() + 1;
      if (!take(std::move(e))) return Ok();
      cur = after;
    }
  }
  return Ok();
}

void RaftLog::CacheAppend(raft::Entry entry) {
  if (options_.cache_bytes == 0) return;
  cache_bytes_used_ += entry.payload_bytes();
  cache_.push_back(std::move(entry));
  while (!cache_.empty() && cache_bytes_used_ > options_.cache_bytes) {
    cache_bytes_used_ -= cache_.front().payload_bytes();
    cache_.pop_front();
  }
}

void RaftLog::CacheTruncateFrom(Offset from) {
  while (!cache_.empty() && cache_.back().base_offset >= from) {
    cache_bytes_used_ -= cache_.back().payload_bytes();
    cache_.pop_back();
  }
}

Result<void> RaftLog::Persist(const std::optional<raft::LogPosition>& reset, const std::vector<raft::Entry>& entries,
                              int64_t now_ms) {
  if (reset) {
    cache_.clear();
    cache_bytes_used_ = 0;
    TELEMQ_TRY(log_->ResetTo(reset->offset + 1, reset->term));
  }
  if (entries.empty()) return Ok();
  const Offset first = entries.front().base_offset;
  const Offset start = log_->log_start_offset();
  const Offset end = log_->log_end_offset();
  if (first < start || first > end) {
    return Fail(Errc::kInvalidArgument,
                "entries from offset " + Str(first) + " do not touch the log [" + Str(start) + ", " + Str(end) + ")");
  }
  if (first < end) {
    // A follower's conflicting suffix (Raft §5.3).
    CacheTruncateFrom(first);
    TELEMQ_TRY(log_->TruncateSuffix(first));
  }
  for (const raft::Entry& e : entries) {
    if (e.record_count < 1) return Fail(Errc::kInvalidArgument, "entry at " + Str(e.base_offset) + " has no offsets");
    switch (e.type) {
      case raft::EntryType::kNormal: {
        TELEMQ_TRY(CheckNormalEntry(e));
        TELEMQ_TRY(log_->AppendReplicated(e.payload.bytes(), now_ms));
        CacheAppend(e);
        break;
      }
      case raft::EntryType::kNoop: {
        if (e.record_count != 1) {
          return Fail(Errc::kInvalidArgument, "no-op entry at " + Str(e.base_offset) + " spans " +
                                                  std::to_string(e.record_count) + " offsets");
        }
        const auto batch = BuildNoopBatch(e.term, e.base_offset);
        TELEMQ_TRY(log_->AppendReplicated(batch, now_ms));
        raft::Entry stored = e;
        stored.payload = raft::Payload();  // as it reads back from disk
        CacheAppend(std::move(stored));
        break;
      }
      default:
        return Fail(Errc::kInvalidArgument,
                    "entry type " + std::to_string(static_cast<int>(e.type)) + " cannot be stored");
    }
  }
  return Ok();
}

Result<Offset> RaftLog::Sync() { return log_->Sync(); }

Result<int> RaftLog::ApplyRetention(int64_t now_ms, Offset retain_from) {
  TELEMQ_ASSIGN_OR_RETURN(const int removed, log_->ApplyRetention(now_ms, retain_from));
  const Offset start = log_->log_start_offset();
  while (!cache_.empty() && cache_.front().base_offset < start) {
    cache_bytes_used_ -= cache_.front().payload_bytes();
    cache_.pop_front();
  }
  return removed;
}

}  // namespace telemq::replication
