#include "telemq/wire/batch_header.h"

#include <algorithm>
#include <cstdint>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "telemq/wire/batch_format.h"
#include "telemq/wire/endian.h"

namespace telemq::wire {

namespace b = batch;

Codec BatchHeader::codec() const { return static_cast<Codec>(attributes & b::kCodecMask); }
bool BatchHeader::is_control() const { return (attributes & b::kControlFlag) != 0; }

Result<BatchHeader> DecodeHeader(std::span<const std::byte> bytes) {
  if (bytes.size() < b::kHeaderSize) {
    return Fail(Errc::kCorrupt, "batch header truncated: " + std::to_string(bytes.size()) + " bytes, need " +
                                    std::to_string(b::kHeaderSize));
  }
  const std::byte* p = bytes.data();
  BatchHeader h;
  h.base_offset = Offset(LoadLE<int64_t>(p + b::kBaseOffset));
  h.batch_length = LoadLE<int32_t>(p + b::kBatchLength);
  h.leader_term = Term(LoadLE<int64_t>(p + b::kLeaderTerm));
  h.magic = LoadLE<uint8_t>(p + b::kMagic);
  h.checksum = LoadLE<uint64_t>(p + b::kChecksum);
  h.attributes = LoadLE<uint16_t>(p + b::kAttributes);
  h.last_offset_delta = LoadLE<int32_t>(p + b::kLastOffsetDelta);
  h.first_timestamp_ms = LoadLE<int64_t>(p + b::kFirstTimestamp);
  h.max_timestamp_ms = LoadLE<int64_t>(p + b::kMaxTimestamp);
  h.producer_id = ProducerId(LoadLE<int64_t>(p + b::kProducerId));
  h.producer_epoch = LoadLE<int16_t>(p + b::kProducerEpoch);
  h.base_sequence = LoadLE<int32_t>(p + b::kBaseSequence);
  h.record_count = LoadLE<int32_t>(p + b::kRecordCount);
  return h;
}

uint64_t ComputeChecksum(std::span<const std::byte> batch) {
  return XXH3_64bits(batch.data() + b::kChecksummedFrom, batch.size() - b::kChecksummedFrom);
}

Result<BatchHeader> ValidateBatch(std::span<const std::byte> bytes, int32_t max_batch_bytes) {
  TELEMQ_ASSIGN_OR_RETURN(BatchHeader h, DecodeHeader(bytes));
  if (h.magic != b::kMagicV1) {
    return Fail(Errc::kCorrupt, "unknown batch magic " + std::to_string(h.magic));
  }
  const int32_t limit = std::min(max_batch_bytes, b::kMaxBatchBytes);
  if (h.batch_length < static_cast<int32_t>(b::kHeaderSize)) {
    return Fail(Errc::kCorrupt, "batch length " + std::to_string(h.batch_length) + " below header size");
  }
  if (h.batch_length > limit) {
    return Fail(Errc::kMessageTooLarge,
                "batch length " + std::to_string(h.batch_length) + " exceeds limit " + std::to_string(limit));
  }
  if (static_cast<size_t>(h.batch_length) > bytes.size()) {
    return Fail(Errc::kCorrupt, "batch length " + std::to_string(h.batch_length) + " exceeds the " +
                                    std::to_string(bytes.size()) + " bytes available");
  }
  if (h.codec() > Codec::kZstd) {
    return Fail(Errc::kCorrupt, "unknown compression codec " + std::to_string(h.attributes & b::kCodecMask));
  }
  if (h.record_count < 1 || h.last_offset_delta != h.record_count - 1) {
    return Fail(Errc::kCorrupt, "record count " + std::to_string(h.record_count) +
                                    " does not match last offset delta " + std::to_string(h.last_offset_delta));
  }
  if (h.max_timestamp_ms < h.first_timestamp_ms) {
    return Fail(Errc::kCorrupt, "max timestamp precedes first timestamp");
  }
  if (h.base_offset.value() < 0) {
    return Fail(Errc::kCorrupt, "negative base offset");
  }
  // Readers derive next_offset() and last_sequence() from these fields; a
  // range that overflows would be undefined behaviour there, not an error.
  if (h.base_offset.value() > INT64_MAX - h.record_count) {
    return Fail(Errc::kCorrupt, "offset range of the batch overflows");
  }
  if (h.base_sequence > INT32_MAX - h.last_offset_delta) {
    return Fail(Errc::kCorrupt, "sequence range of the batch overflows");
  }
  const uint64_t actual = ComputeChecksum(bytes.first(static_cast<size_t>(h.batch_length)));
  if (actual != h.checksum) {
    return Fail(Errc::kCorrupt, "batch checksum mismatch at base offset " + std::to_string(h.base_offset.value()));
  }
  return h;
}

void StampBaseOffset(std::span<std::byte> batch, Offset base_offset) {
  StoreLE<int64_t>(batch.data() + b::kBaseOffset, base_offset.value());
}

void StampLeaderTerm(std::span<std::byte> batch, Term term) {
  StoreLE<int64_t>(batch.data() + b::kLeaderTerm, term.value());
}

void RestampBaseSequence(std::span<std::byte> batch, int32_t base_sequence) {
  StoreLE<int32_t>(batch.data() + b::kBaseSequence, base_sequence);
  StoreLE<uint64_t>(batch.data() + b::kChecksum, ComputeChecksum(batch));
}

Result<std::span<const std::byte>> BatchIterator::Next(BatchHeader* header) {
  TELEMQ_ASSIGN_OR_RETURN(*header, ValidateBatch(rest_, max_batch_bytes_));
  auto batch = rest_.first(static_cast<size_t>(header->batch_length));
  rest_ = rest_.subspan(batch.size());
  return batch;
}

}  // namespace telemq::wire
