#include "telemq/wire/record_batch.h"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "telemq/wire/batch_format.h"
#include "telemq/wire/endian.h"
#include "telemq/wire/varint.h"

namespace telemq::wire {

namespace b = batch;

namespace {

std::byte* PutBytes(std::byte* p, std::optional<std::string_view> s) {
  if (!s) return PutSignedVarint(p, -1);
  p = PutSignedVarint(p, static_cast<int64_t>(s->size()));
  std::memcpy(p, s->data(), s->size());
  return p + s->size();
}

size_t BytesFieldSize(size_t n) { return VarintSize(ZigZag(static_cast<int64_t>(n))) + n; }

// Compressed sections start with the uncompressed size (u32), so the reader
// can bound its allocation before decompressing.
constexpr size_t kSizePrefix = 4;

// Reads a length-prefixed (zigzag varint, -1 = null) byte string.
const std::byte* GetBytes(const std::byte* p, const std::byte* end, std::optional<std::string_view>* out) {
  int64_t len;
  p = GetSignedVarint(p, end, &len);
  if (p == nullptr || len < -1) return nullptr;
  if (len == -1) {
    out->reset();
    return p;
  }
  if (len > end - p) return nullptr;
  *out = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
  return p + len;
}

}  // namespace

BatchBuilder::BatchBuilder(Codec codec, size_t reserve_bytes) : codec_(codec), reserve_bytes_(reserve_bytes) {
  buffer_.reserve(reserve_bytes_);
  buffer_.resize(b::kHeaderSize);
}

size_t BatchBuilder::RecordSizeUpperBound(size_t key_bytes, size_t value_bytes,
                                          std::span<const RecordHeaderView> headers) {
  size_t n = 1 + 3 * kMaxVarintBytes + BytesFieldSize(key_bytes) + BytesFieldSize(value_bytes);
  for (const auto& h : headers) {
    n += BytesFieldSize(h.key.size()) + BytesFieldSize(h.value ? h.value->size() : 0);
  }
  return n + kMaxVarintBytes;  // the record's own length prefix
}

void BatchBuilder::Add(int64_t timestamp_ms, std::optional<std::string_view> key, std::optional<std::string_view> value,
                       std::span<const RecordHeaderView> headers) {
  if (record_count_ == 0) {
    if (buffer_.capacity() < reserve_bytes_) buffer_.reserve(reserve_bytes_);
    first_timestamp_ms_ = timestamp_ms;
    max_timestamp_ms_ = timestamp_ms;
  }
  // Batch timestamps must stay ordered (first <= max); a record older than
  // the first keeps its own timestamp through a negative delta.
  max_timestamp_ms_ = std::max(max_timestamp_ms_, timestamp_ms);

  size_t body = 1 + VarintSize(ZigZag(timestamp_ms - first_timestamp_ms_)) +
                VarintSize(static_cast<uint64_t>(record_count_)) + (key ? BytesFieldSize(key->size()) : 1) +
                (value ? BytesFieldSize(value->size()) : 1) + VarintSize(headers.size());
  for (const auto& h : headers) {
    body += BytesFieldSize(h.key.size()) + (h.value ? BytesFieldSize(h.value->size()) : 1);
  }
  const size_t start = buffer_.size();
  buffer_.resize(start + VarintSize(body) + body);
  std::byte* p = buffer_.data() + start;
  p = PutVarint(p, body);
  *p++ = std::byte{0};  // record attributes, reserved
  p = PutSignedVarint(p, timestamp_ms - first_timestamp_ms_);
  p = PutVarint(p, static_cast<uint64_t>(record_count_));
  p = PutBytes(p, key);
  p = PutBytes(p, value);
  p = PutVarint(p, headers.size());
  for (const auto& h : headers) {
    p = PutBytes(p, h.key);
    p = PutBytes(p, h.value);
  }
  ++record_count_;
}

Result<std::vector<std::byte>> BatchBuilder::Finish(ProducerId producer_id, int16_t producer_epoch,
                                                    int32_t base_sequence) {
  if (record_count_ == 0) return Fail(Errc::kInvalidArgument, "cannot finish an empty batch");
  std::vector<std::byte> out;
  if (codec_ == Codec::kNone) {
    out = std::move(buffer_);
  } else {
    auto records = std::span<const std::byte>(buffer_).subspan(b::kHeaderSize);
    TELEMQ_ASSIGN_OR_RETURN(auto compressed, Compress(codec_, records));
    out.resize(b::kHeaderSize + compressed.size());
    std::memcpy(out.data() + b::kHeaderSize, compressed.data(), compressed.size());
  }
  if (out.size() > static_cast<size_t>(b::kMaxBatchBytes)) {
    return Fail(Errc::kMessageTooLarge, "batch of " + std::to_string(out.size()) + " bytes exceeds the format limit");
  }
  std::byte* h = out.data();
  StoreLE<int64_t>(h + b::kBaseOffset, 0);
  StoreLE<int32_t>(h + b::kBatchLength, static_cast<int32_t>(out.size()));
  StoreLE<int64_t>(h + b::kLeaderTerm, 0);
  StoreLE<uint8_t>(h + b::kMagic, b::kMagicV1);
  StoreLE<uint16_t>(h + b::kAttributes, static_cast<uint16_t>(codec_));
  StoreLE<int32_t>(h + b::kLastOffsetDelta, record_count_ - 1);
  StoreLE<int64_t>(h + b::kFirstTimestamp, first_timestamp_ms_);
  StoreLE<int64_t>(h + b::kMaxTimestamp, max_timestamp_ms_);
  StoreLE<int64_t>(h + b::kProducerId, producer_id.value());
  StoreLE<int16_t>(h + b::kProducerEpoch, producer_epoch);
  StoreLE<int32_t>(h + b::kBaseSequence, base_sequence);
  StoreLE<int32_t>(h + b::kRecordCount, record_count_);
  StoreLE<uint64_t>(h + b::kChecksum, ComputeChecksum(out));

  // The next batch's buffer is reserved by its first Add, not here: most
  // builders (the producer's) are finished once and dropped, and a reserve
  // here was one large allocation per batch for nothing.
  buffer_ = {};
  buffer_.resize(b::kHeaderSize);
  record_count_ = 0;
  return out;
}

Result<std::vector<std::byte>> Compress(Codec codec, std::span<const std::byte> input) {
  if (input.size() > static_cast<size_t>(b::kMaxBatchBytes)) {
    return Fail(Errc::kMessageTooLarge, "input too large to compress");
  }
  std::vector<std::byte> out;
  switch (codec) {
    case Codec::kNone: out.assign(input.begin(), input.end()); return out;
    case Codec::kLz4: {
      const int bound = LZ4_compressBound(static_cast<int>(input.size()));
      out.resize(kSizePrefix + static_cast<size_t>(bound));
      const int n = LZ4_compress_default(reinterpret_cast<const char*>(input.data()),
                                         reinterpret_cast<char*>(out.data() + kSizePrefix),
                                         static_cast<int>(input.size()), bound);
      if (n <= 0) return Fail(Errc::kUnknown, "lz4 compression failed");
      out.resize(kSizePrefix + static_cast<size_t>(n));
      break;
    }
    case Codec::kZstd: {
      const size_t bound = ZSTD_compressBound(input.size());
      out.resize(kSizePrefix + bound);
      const size_t n = ZSTD_compress(out.data() + kSizePrefix, bound, input.data(), input.size(), 3);
      if (ZSTD_isError(n)) return Fail(Errc::kUnknown, std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
      out.resize(kSizePrefix + n);
      break;
    }
    default: return Fail(Errc::kInvalidArgument, "unknown codec");
  }
  StoreLE<uint32_t>(out.data(), static_cast<uint32_t>(input.size()));
  return out;
}

Result<void> Decompress(Codec codec, std::span<const std::byte> input, size_t max_output_bytes,
                        std::vector<std::byte>* output) {
  if (codec == Codec::kNone) {
    output->assign(input.begin(), input.end());
    return Ok();
  }
  if (input.size() < kSizePrefix) return Fail(Errc::kCorrupt, "compressed section shorter than its size prefix");
  const uint32_t size = LoadLE<uint32_t>(input.data());
  if (size > max_output_bytes) {
    return Fail(Errc::kCorrupt, "declared uncompressed size " + std::to_string(size) + " exceeds limit " +
                                    std::to_string(max_output_bytes));
  }
  output->resize(size);
  auto src = input.subspan(kSizePrefix);
  if (codec == Codec::kLz4) {
    const int n =
        LZ4_decompress_safe(reinterpret_cast<const char*>(src.data()), reinterpret_cast<char*>(output->data()),
                            static_cast<int>(src.size()), static_cast<int>(size));
    if (n < 0 || static_cast<uint32_t>(n) != size) return Fail(Errc::kCorrupt, "lz4 section does not decompress");
    return Ok();
  }
  if (codec == Codec::kZstd) {
    const size_t n = ZSTD_decompress(output->data(), size, src.data(), src.size());
    if (ZSTD_isError(n) || n != size) return Fail(Errc::kCorrupt, "zstd section does not decompress");
    return Ok();
  }
  return Fail(Errc::kCorrupt, "unknown codec");
}

Result<void> BatchReader::Decode(std::span<const std::byte> batch, const BatchHeader& header, const Visitor& visit) {
  auto section = batch.subspan(b::kHeaderSize, static_cast<size_t>(header.batch_length) - b::kHeaderSize);
  if (header.codec() != Codec::kNone) {
    // A record takes at least 7 bytes; a decompressed section claiming more
    // than that per record, or more than the format limit, is garbage.
    TELEMQ_TRY(Decompress(header.codec(), section, static_cast<size_t>(b::kMaxBatchBytes), &decompressed_));
    section = decompressed_;
  }
  return DecodeRecordSection(section, header, &scratch_, visit);
}

Result<void> DecodeRecordSection(std::span<const std::byte> section, const BatchHeader& header, RecordView* scratch,
                                 const BatchReader::Visitor& visit) {
  const std::byte* p = section.data();
  const std::byte* end = p + section.size();
  for (int32_t i = 0; i < header.record_count; ++i) {
    uint64_t len;
    p = GetVarint(p, end, &len);
    if (p == nullptr || len > static_cast<uint64_t>(end - p) || len < 1) {
      return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " length out of bounds");
    }
    const std::byte* rec_end = p + len;
    ++p;  // attributes
    int64_t ts_delta;
    uint64_t offset_delta, header_count;
    RecordView& r = *scratch;
    r.headers.clear();
    if ((p = GetSignedVarint(p, rec_end, &ts_delta)) == nullptr ||
        (p = GetVarint(p, rec_end, &offset_delta)) == nullptr || (p = GetBytes(p, rec_end, &r.key)) == nullptr ||
        (p = GetBytes(p, rec_end, &r.value)) == nullptr || (p = GetVarint(p, rec_end, &header_count)) == nullptr) {
      return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " is malformed");
    }
    if (offset_delta > static_cast<uint64_t>(header.last_offset_delta)) {
      return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " offset delta beyond the batch");
    }
    if (header_count > len) return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " header count too large");
    for (uint64_t k = 0; k < header_count; ++k) {
      std::optional<std::string_view> hk, hv;
      if ((p = GetBytes(p, rec_end, &hk)) == nullptr || !hk || (p = GetBytes(p, rec_end, &hv)) == nullptr) {
        return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " header malformed");
      }
      r.headers.push_back({*hk, hv});
    }
    if (p != rec_end) return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " has trailing bytes");
    // The delta comes off the wire: an overflowing sum is corruption, not UB.
    if (__builtin_add_overflow(header.first_timestamp_ms, ts_delta, &r.timestamp_ms)) {
      return Fail(Errc::kCorrupt, "record " + std::to_string(i) + " timestamp overflows");
    }
    r.offset = header.base_offset + static_cast<int64_t>(offset_delta);
    // Control batches (a Raft leader's no-op) hold offsets, not data: their
    // records are checked like any others but never reach an application.
    if (!header.is_control()) visit(r);
  }
  if (p != end) return Fail(Errc::kCorrupt, "bytes after the last record");
  return Ok();
}

}  // namespace telemq::wire
