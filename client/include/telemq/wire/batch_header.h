#pragma once
// Decoding, validation and stamping of record batch headers without touching
// the records themselves: the broker's hot path (append, recovery, fetch)
// works per batch through this header and never decodes individual records.
// Layout: batch_format.h. Thread-safe (pure functions).

#include <cstddef>
#include <cstdint>
#include <span>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::wire {

enum class Codec : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

struct BatchHeader {
  Offset base_offset;
  int32_t batch_length = 0;
  Term leader_term;
  uint8_t magic = 0;
  uint64_t checksum = 0;
  uint16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t first_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
  ProducerId producer_id{-1};
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t record_count = 0;

  Codec codec() const;
  bool is_control() const;
  Offset last_offset() const { return base_offset + last_offset_delta; }
  Offset next_offset() const { return base_offset + last_offset_delta + 1; }
  // Sequence of the last record, for idempotence.
  int32_t last_sequence() const { return base_sequence + last_offset_delta; }
};

// Decodes the fixed header. Checks only that `bytes` holds a whole header;
// use ValidateBatch for everything else.
[[nodiscard]] Result<BatchHeader> DecodeHeader(std::span<const std::byte> bytes);

// Full structural validation of the batch at the start of `bytes`: the whole
// header is present, magic is known, batch_length is within
// [kHeaderSize, min(kMaxBatchBytes, max_batch_bytes)] and fits in `bytes`,
// codec is known, record_count >= 1 and equals last_offset_delta + 1,
// timestamps are ordered, and the checksum matches. Returns the header.
[[nodiscard]] Result<BatchHeader> ValidateBatch(std::span<const std::byte> bytes, int32_t max_batch_bytes = INT32_MAX);

// XXH3-64 over bytes [kChecksummedFrom, size). `batch` is one whole batch.
uint64_t ComputeChecksum(std::span<const std::byte> batch);

// The leader assigns positions in place: these change only fields outside the
// checksummed range, so the checksum stays valid.
void StampBaseOffset(std::span<std::byte> batch, Offset base_offset);
void StampLeaderTerm(std::span<std::byte> batch, Term term);
// The producer moves a finished batch to another sequence (an earlier batch
// of its partition was rejected, so its sequences are free again): the
// field is checksummed, so this recomputes the checksum (one pass over the
// batch).
void RestampBaseSequence(std::span<std::byte> batch, int32_t base_sequence);

// Walks a buffer holding zero or more whole batches back to back (a fetched
// range, a produce payload). Validates each one; stops at the first error.
class BatchIterator {
 public:
  explicit BatchIterator(std::span<const std::byte> bytes, int32_t max_batch_bytes = INT32_MAX)
      : rest_(bytes), max_batch_bytes_(max_batch_bytes) {}
  bool Done() const { return rest_.empty(); }
  // The next batch's header and bytes; an error if what remains is not a valid batch.
  [[nodiscard]] Result<std::span<const std::byte>> Next(BatchHeader* header);

 private:
  std::span<const std::byte> rest_;
  int32_t max_batch_bytes_;
};

}  // namespace telemq::wire
