#pragma once
// Building and reading record batches (format: batch_format.h,
// docs/log-format.md). The producer builds, the consumer reads; the broker
// uses neither (it works on headers only). Not thread-safe: one builder or
// reader per thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/wire/batch_header.h"

namespace telemq::wire {

struct RecordHeaderView {
  std::string_view key;
  std::optional<std::string_view> value;
};

// One decoded record. The views point into the batch (or into the reader's
// decompression buffer) and live until the next decode call.
struct RecordView {
  Offset offset;
  int64_t timestamp_ms = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<RecordHeaderView> headers;
};

// Accumulates records into one batch. Encoding happens in Add (no per-record
// allocation: records are appended to one growing buffer).
class BatchBuilder {
 public:
  explicit BatchBuilder(Codec codec = Codec::kNone, size_t reserve_bytes = 16 * 1024);
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;
  BatchBuilder(BatchBuilder&&) = default;
  BatchBuilder& operator=(BatchBuilder&&) = default;

  void Add(int64_t timestamp_ms, std::optional<std::string_view> key, std::optional<std::string_view> value,
           std::span<const RecordHeaderView> headers = {});

  int32_t record_count() const { return record_count_; }
  bool empty() const { return record_count_ == 0; }
  // Bytes of the batch if it were finished uncompressed now.
  size_t size_bytes() const { return buffer_.size(); }
  // Encoded size a record would add (for "does it fit" decisions).
  static size_t RecordSizeUpperBound(size_t key_bytes, size_t value_bytes, std::span<const RecordHeaderView> headers);

  // Completes the batch: header fields, optional compression, checksum.
  // base_offset and leader_term are left 0 for the leader to stamp. The
  // builder is empty afterwards and can be reused.
  [[nodiscard]] Result<std::vector<std::byte>> Finish(ProducerId producer_id = ProducerId(-1),
                                                      int16_t producer_epoch = -1, int32_t base_sequence = -1);

 private:
  Codec codec_;
  size_t reserve_bytes_;
  std::vector<std::byte> buffer_;  // kHeaderSize bytes reserved, then records
  int32_t record_count_ = 0;
  int64_t first_timestamp_ms_ = 0;
  int64_t max_timestamp_ms_ = 0;
};

// Decodes every record of one validated batch (see ValidateBatch). Checks
// that each record lies within the batch and that the records match the
// header's count; anything else is kCorrupt. A control batch
// (BatchHeader::is_control, e.g. a Raft no-op) visits no record: it occupies
// offsets but carries nothing for consumers.
class BatchReader {
 public:
  using Visitor = std::function<void(const RecordView&)>;
  [[nodiscard]] Result<void> Decode(std::span<const std::byte> batch, const BatchHeader& header, const Visitor& visit);

 private:
  std::vector<std::byte> decompressed_;
  RecordView scratch_;
};

// Decodes the (already decompressed) records section of a batch; visits
// nothing for a control batch.
[[nodiscard]] Result<void> DecodeRecordSection(std::span<const std::byte> section, const BatchHeader& header,
                                               RecordView* scratch, const BatchReader::Visitor& visit);

// Compression of the records section, exposed for tests and benchmarks.
[[nodiscard]] Result<std::vector<std::byte>> Compress(Codec codec, std::span<const std::byte> input);
[[nodiscard]] Result<void> Decompress(Codec codec, std::span<const std::byte> input, size_t max_output_bytes,
                                      std::vector<std::byte>* output);

}  // namespace telemq::wire
