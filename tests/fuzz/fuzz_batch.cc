// Fuzz target for record batches: the broker's view (validate and iterate
// headers), the consumer's view (decompress and decode every record), the
// codecs on their own, and the producer's view (build a batch and read it
// back). The first three must reject garbage without crashing; the last must
// be an exact round trip, and any mismatch aborts.

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_targets.h"
#include "telemq/common/check.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/endian.h"
#include "telemq/wire/record_batch.h"

namespace telemq::fuzz {
namespace {

using wire::Codec;

constexpr int32_t kMaxBatchBytes = 1 << 20;
// Bound for the bare codec calls: far above anything a 64 KiB input
// legitimately expands to in this harness, far below the RSS limit.
constexpr size_t kMaxDecompressedBytes = 4u << 20;
constexpr std::array<Codec, 3> kCodecs = {Codec::kNone, Codec::kLz4, Codec::kZstd};

volatile uint64_t g_sink;

void Touch(std::string_view s) {
  uint64_t h = 0;
  for (char c : s) h = h * 31 + static_cast<uint8_t>(c);
  g_sink = g_sink + h;
}

// Broker and consumer: every valid batch in the input, decoded in full.
void ValidateAndDecode(std::span<const std::byte> in) {
  wire::BatchIterator it(in, kMaxBatchBytes);
  wire::BatchReader reader;
  while (!it.Done()) {
    wire::BatchHeader h;
    auto batch = it.Next(&h);
    if (!batch) break;
    TELEMQ_CHECK(static_cast<size_t>(h.batch_length) == batch->size() && h.record_count >= 1 &&
                     h.last_offset_delta == h.record_count - 1 && h.first_timestamp_ms <= h.max_timestamp_ms,
                 "ValidateBatch accepted an inconsistent header");
    // What the broker's idempotence check and the consumer's position read.
    g_sink = g_sink + static_cast<uint64_t>(h.last_sequence()) + static_cast<uint64_t>(h.next_offset().value());
    int32_t seen = 0;
    auto decoded = reader.Decode(*batch, h, [&](const wire::RecordView& r) {
      TELEMQ_CHECK(r.offset >= h.base_offset && r.offset <= h.last_offset(), "record offset outside its batch");
      ++seen;
      if (r.key) Touch(*r.key);
      if (r.value) Touch(*r.value);
      for (const auto& hd : r.headers) {
        Touch(hd.key);
        if (hd.value) Touch(*hd.value);
      }
    });
    // A control batch (a leader's no-op) occupies its offsets but hands
    // consumers no record.
    if (decoded) {
      TELEMQ_CHECK(seen == (h.is_control() ? 0 : h.record_count), "decoded record count differs from the header");
    }
  }
  // A small limit must turn into an error, never an out-of-limit batch.
  if (auto h = wire::ValidateBatch(in, 128)) TELEMQ_CHECK(h->batch_length <= 128, "batch limit not enforced");
}

// The codecs alone: bounded output, and whatever decompresses must survive
// compress + decompress unchanged.
void Codecs(std::span<const std::byte> in) {
  for (Codec codec : kCodecs) {
    std::vector<std::byte> out;
    if (!wire::Decompress(codec, in, kMaxDecompressedBytes, &out)) continue;
    if (codec != Codec::kNone) TELEMQ_CHECK(out.size() <= kMaxDecompressedBytes, "decompression bound ignored");
    auto again = wire::Compress(codec, out);
    TELEMQ_CHECK(again.has_value(), "cannot compress what was just decompressed");
    std::vector<std::byte> back;
    auto r = wire::Decompress(codec, *again, out.size(), &back);
    TELEMQ_CHECK(r.has_value() && back == out, "codec round trip differs");
  }
}

// Reads the round-trip script: each call consumes bytes; past the end it
// yields zeros, so every input is a complete script.
class Script {
 public:
  explicit Script(std::span<const uint8_t> bytes) : rest_(bytes) {}
  bool empty() const { return rest_.empty(); }
  uint64_t Uint(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(U8()) << (8 * i);
    return v;
  }
  uint8_t U8() {
    if (rest_.empty()) return 0;
    const uint8_t b = rest_[0];
    rest_ = rest_.subspan(1);
    return b;
  }
  std::string Take(size_t n) {
    n = std::min(n, rest_.size());
    std::string s(reinterpret_cast<const char*>(rest_.data()), n);
    rest_ = rest_.subspan(n);
    return s;
  }

 private:
  std::span<const uint8_t> rest_;
};

struct Header {
  std::string key;
  std::optional<std::string> value;
};
struct Record {
  int64_t timestamp_ms = 0;
  std::optional<std::string> key, value;
  std::vector<Header> headers;
};

void RoundTrip(std::span<const uint8_t> bytes) {
  Script in(bytes);
  const Codec codec = kCodecs[in.U8() % kCodecs.size()];
  // Timestamps come from the application, which the builder trusts to stay
  // within a sane range; keep them within +-2^61 ms so deltas cannot overflow.
  const int64_t base_ts = static_cast<int64_t>(in.Uint(8)) >> 3;
  const ProducerId producer_id(static_cast<int64_t>(in.Uint(8)));
  const auto epoch = static_cast<int16_t>(in.Uint(2));
  const auto sequence = static_cast<int32_t>(in.Uint(4));

  wire::BatchBuilder builder(codec, in.U8() * 16u);
  std::vector<Record> expected;
  size_t bound = wire::batch::kHeaderSize;
  while (!in.empty() && expected.size() < 2000) {
    const uint8_t flags = in.U8();
    Record r;
    r.timestamp_ms = base_ts + static_cast<int32_t>(in.Uint(4));
    auto length = [&](bool wide) { return wide ? in.Uint(2) : in.U8(); };
    if (!(flags & 1)) r.key = in.Take(length(flags & 4));
    if (!(flags & 2)) r.value = in.Take(length(flags & 8));
    for (int k = 0; k < ((flags >> 4) & 3); ++k) {
      Header h{in.Take(in.U8() % 32), std::nullopt};
      if (!(flags & 0x40)) h.value = in.Take(in.U8());
      r.headers.push_back(std::move(h));
    }
    std::vector<wire::RecordHeaderView> views;
    for (const auto& h : r.headers) views.push_back({h.key, h.value});
    auto opt = [](const std::optional<std::string>& s) -> std::optional<std::string_view> {
      if (!s) return std::nullopt;
      return std::string_view(*s);
    };
    bound += wire::BatchBuilder::RecordSizeUpperBound(r.key ? r.key->size() : 0, r.value ? r.value->size() : 0, views);
    builder.Add(r.timestamp_ms, opt(r.key), opt(r.value), views);
    expected.push_back(std::move(r));
    TELEMQ_CHECK(builder.size_bytes() <= bound, "RecordSizeUpperBound underestimates");
  }

  auto batch = builder.Finish(producer_id, epoch, sequence);
  if (expected.empty()) {
    TELEMQ_CHECK(!batch.has_value(), "an empty batch was finished");
    return;
  }
  TELEMQ_CHECK(batch.has_value(), "Finish failed on a small batch");
  TELEMQ_CHECK(builder.empty(), "builder not reset by Finish");

  auto header = wire::ValidateBatch(*batch);
  const auto count = static_cast<int32_t>(expected.size());
  if (sequence > INT32_MAX - (count - 1)) {
    // The builder trusts its caller; validation must catch the overflow.
    TELEMQ_CHECK(!header.has_value() && header.error().code() == Errc::kCorrupt,
                 "a batch whose sequence range overflows was accepted");
    return;
  }
  TELEMQ_CHECK(header.has_value(), "a built batch does not validate");
  const auto& h = *header;
  int64_t first_ts = expected[0].timestamp_ms, max_ts = first_ts;
  for (const auto& r : expected) max_ts = std::max(max_ts, r.timestamp_ms);
  TELEMQ_CHECK(h.codec() == codec && !h.is_control() && h.base_offset == Offset(0) &&
                   h.record_count == static_cast<int32_t>(expected.size()) && h.producer_id == producer_id &&
                   h.producer_epoch == epoch && h.base_sequence == sequence && h.first_timestamp_ms == first_ts &&
                   h.max_timestamp_ms == max_ts,
               "built header fields differ from what was put in");

  // The leader stamps positions outside the checksum: still valid after.
  std::vector<std::byte> stamped = *batch;
  wire::StampBaseOffset(stamped, Offset(1000));
  wire::StampLeaderTerm(stamped, Term(7));
  auto restamped = wire::ValidateBatch(stamped);
  TELEMQ_CHECK(restamped.has_value() && restamped->base_offset == Offset(1000) && restamped->leader_term == Term(7),
               "stamping broke the batch");

  size_t i = 0;
  wire::BatchReader reader;
  auto decoded = reader.Decode(stamped, *restamped, [&](const wire::RecordView& v) {
    TELEMQ_CHECK(i < expected.size(), "more records decoded than built");
    const Record& r = expected[i];
    auto same = [](const std::optional<std::string_view>& a, const std::optional<std::string>& b) {
      return a.has_value() == b.has_value() && (!a || *a == *b);
    };
    TELEMQ_CHECK(v.offset == Offset(1000 + static_cast<int64_t>(i)) && v.timestamp_ms == r.timestamp_ms &&
                     same(v.key, r.key) && same(v.value, r.value) && v.headers.size() == r.headers.size(),
                 "decoded record differs from the built one");
    for (size_t k = 0; k < r.headers.size(); ++k) {
      TELEMQ_CHECK(v.headers[k].key == r.headers[k].key && same(v.headers[k].value, r.headers[k].value),
                   "decoded record header differs from the built one");
    }
    ++i;
  });
  TELEMQ_CHECK(decoded.has_value() && i == expected.size(), "a built batch does not decode in full");
}

}  // namespace

bool FixChecksums(std::span<std::byte> bytes) {
  bool changed = false;
  while (bytes.size() >= wire::batch::kHeaderSize) {
    const auto length = wire::LoadLE<int32_t>(bytes.data() + wire::batch::kBatchLength);
    if (length < static_cast<int32_t>(wire::batch::kHeaderSize) || static_cast<size_t>(length) > bytes.size()) break;
    auto batch = bytes.first(static_cast<size_t>(length));
    const uint64_t sum = wire::ComputeChecksum(batch);
    changed |= wire::LoadLE<uint64_t>(batch.data() + wire::batch::kChecksum) != sum;
    wire::StoreLE<uint64_t>(batch.data() + wire::batch::kChecksum, sum);
    bytes = bytes.subspan(batch.size());
  }
  return changed;
}

int FuzzBatch(const uint8_t* data, size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  ValidateAndDecode(in);
  std::vector<std::byte> fixed(in.begin(), in.end());
  if (FixChecksums(fixed)) ValidateAndDecode(fixed);
  Codecs(in);
  // Seeds are whole batches: their records section is the interesting codec input.
  if (in.size() > wire::batch::kHeaderSize) Codecs(in.subspan(wire::batch::kHeaderSize));
  RoundTrip(std::span<const uint8_t>(data, size));
  return 0;
}

}  // namespace telemq::fuzz
