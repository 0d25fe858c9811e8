#include "collector/store_format.h"

#include <bit>
#include <cstring>
#include <limits>

namespace telemq::collector::format {
namespace {

void PutBE32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (24 - 8 * i));
}
void PutBE64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (56 - 8 * i));
}
uint64_t GetBE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void AppendLE(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Bounds-checked little-endian reader for the small metadata records.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool Int(uint64_t* v, int n) {
    if (bytes_.size() - pos_ < static_cast<size_t>(n)) return false;
    uint64_t r = 0;
    for (int i = 0; i < n; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += n;
    *v = r;
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n = 0;
    if (!Int(&n, 2) || bytes_.size() - pos_ < n) return false;
    s->assign(bytes_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  std::string_view Rest() {
    auto r = bytes_.substr(pos_);
    pos_ = bytes_.size();
    return r;
  }
  bool Done() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

void AppendStr(std::string* out, std::string_view s) {
  // Point strings are at most 65535 bytes (telemetry/point.h), so they fit.
  const size_t n = std::min<size_t>(s.size(), 0xFFFF);
  AppendLE(out, n, 2);
  out->append(s.substr(0, n));
}

}  // namespace

void EncodeDataKey(const DataKey& key, char out[kDataKeySize]) {
  out[0] = kDataPrefix;
  PutBE32(out + 1, key.gpu);
  PutBE64(out + 5, BiasTimestamp(key.timestamp_us));
}

std::string DataKeyString(const DataKey& key) {
  std::string s(kDataKeySize, '\0');
  EncodeDataKey(key, s.data());
  return s;
}

std::optional<DataKey> DecodeDataKey(std::string_view bytes) {
  if (bytes.size() != kDataKeySize || bytes[0] != kDataPrefix) return std::nullopt;
  DataKey k;
  k.gpu = static_cast<GpuSid>(GetBE(bytes.data() + 1, 4));
  k.timestamp_us = UnbiasTimestamp(GetBE(bytes.data() + 5, 8));
  return k;
}

std::string DataLowerBound(GpuSid gpu, int64_t timestamp_us) { return DataKeyString({gpu, timestamp_us}); }

std::string DataUpperBoundInclusive(GpuSid gpu, int64_t timestamp_us) {
  // The key of (gpu, ts) is a proper prefix of this 14-byte string, and
  // every 13-byte key before it is smaller; every later key is greater.
  std::string s = DataKeyString({gpu, timestamp_us});
  s.push_back('\0');
  return s;
}

std::string GpuDataEnd(GpuSid gpu) { return DataUpperBoundInclusive(gpu, std::numeric_limits<int64_t>::max()); }

void EncodeRow(std::span<const RowEntry> entries, std::string* out) {
  out->clear();
  out->reserve(2 + kRowEntryBytes * entries.size());
  AppendLE(out, entries.size(), 2);
  for (const RowEntry& e : entries) AppendLE(out, e.metric, 2);
  for (const RowEntry& e : entries) AppendLE(out, std::bit_cast<uint64_t>(e.value), 8);
}

std::optional<RowView> RowView::Parse(std::string_view bytes) {
  const size_t n = RowSize(bytes);
  if (n == 0 || bytes.size() != 2 + kRowEntryBytes * n) return std::nullopt;
  const RowView row(bytes.data(), n);
  for (size_t i = 1; i < n; ++i) {
    if (row.metric(i) <= row.metric(i - 1)) return std::nullopt;
  }
  return row;
}

double RowView::value(size_t i) const {
  uint64_t bits;
  std::memcpy(&bits, data_ + 2 + 2 * n_ + 8 * i, sizeof bits);
  if constexpr (std::endian::native == std::endian::big) bits = __builtin_bswap64(bits);
  return std::bit_cast<double>(bits);
}

ptrdiff_t RowView::Find(MetricId metric) const {
  // Rows hold a few dozen metrics at most: a linear scan beats a search.
  for (size_t i = 0; i < n_; ++i) {
    const MetricId m = this->metric(i);
    if (m == metric) return static_cast<ptrdiff_t>(i);
    if (m > metric) break;
  }
  return -1;
}

size_t RowSize(std::string_view bytes) {
  if (bytes.size() < 2) return 0;
  return static_cast<uint8_t>(bytes[0]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[1])) << 8);
}

std::string EncodeGpuRecord(const GpuRecord& r) {
  std::string out;
  out.reserve(16 + r.device.size() + r.model_name.size() + r.hostname.size() + 2 * r.metrics.size());
  AppendLE(&out, kGpuRecordVersion, 1);
  AppendLE(&out, r.sid, 4);
  AppendLE(&out, static_cast<uint32_t>(r.gpu_id), 4);
  AppendStr(&out, r.device);
  AppendStr(&out, r.model_name);
  AppendStr(&out, r.hostname);
  AppendLE(&out, r.metrics.size(), 2);
  for (MetricId m : r.metrics) AppendLE(&out, m, 2);
  return out;
}

Result<GpuRecord> DecodeGpuRecord(std::string_view bytes) {
  Reader in(bytes);
  GpuRecord r;
  uint64_t version = 0, sid = 0, gpu_id = 0, n = 0;
  if (!in.Int(&version, 1)) return Fail(Errc::kCorrupt, "gpu record: empty");
  if (version != kGpuRecordVersion) {
    return Fail(Errc::kUnsupportedVersion, "gpu record: version " + std::to_string(version));
  }
  if (!in.Int(&sid, 4) || !in.Int(&gpu_id, 4) || !in.Str(&r.device) || !in.Str(&r.model_name) || !in.Str(&r.hostname) ||
      !in.Int(&n, 2)) {
    return Fail(Errc::kCorrupt, "gpu record: truncated");
  }
  r.sid = static_cast<GpuSid>(sid);
  r.gpu_id = static_cast<int32_t>(static_cast<uint32_t>(gpu_id));
  r.metrics.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t m = 0;
    if (!in.Int(&m, 2)) return Fail(Errc::kCorrupt, "gpu record: truncated metric list");
    if (!r.metrics.empty() && m <= r.metrics.back()) return Fail(Errc::kCorrupt, "gpu record: metrics not ascending");
    r.metrics.push_back(static_cast<MetricId>(m));
  }
  if (!in.Done()) return Fail(Errc::kCorrupt, "gpu record: trailing bytes");
  return r;
}

std::string GpuKey(std::string_view uuid) {
  std::string k(1, kGpuPrefix);
  k.append(uuid);
  return k;
}

std::string MetricKey(std::string_view name) {
  std::string k(1, kMetricPrefix);
  k.append(name);
  return k;
}

std::string EncodeMetricId(MetricId id) {
  std::string out;
  AppendLE(&out, id, 2);
  return out;
}

Result<MetricId> DecodeMetricId(std::string_view bytes) {
  if (bytes.size() != 2) return Fail(Errc::kCorrupt, "metric id: expected 2 bytes");
  Reader in(bytes);
  uint64_t v = 0;
  (void)in.Int(&v, 2);
  return static_cast<MetricId>(v);
}

std::string EncodeOffsetRecord(const OffsetRecord& r) {
  std::string out;
  AppendLE(&out, static_cast<uint64_t>(r.applied.value()), 8);
  AppendLE(&out, r.points, 8);
  return out;
}

Result<OffsetRecord> DecodeOffsetRecord(std::string_view bytes) {
  if (bytes.size() != 16) return Fail(Errc::kCorrupt, "offset record: expected 16 bytes");
  Reader in(bytes);
  uint64_t applied = 0, points = 0;
  (void)in.Int(&applied, 8);
  (void)in.Int(&points, 8);
  const auto offset = static_cast<int64_t>(applied);
  if (offset < 0) return Fail(Errc::kCorrupt, "offset record: negative offset");
  return OffsetRecord{Offset(offset), points};
}

std::string EncodeVersionRecord(const VersionRecord& r) {
  std::string out;
  AppendLE(&out, r.version, 1);
  out.append(r.topic);
  return out;
}

Result<VersionRecord> DecodeVersionRecord(std::string_view bytes) {
  Reader in(bytes);
  uint64_t v = 0;
  if (!in.Int(&v, 1)) return Fail(Errc::kCorrupt, "version record: empty");
  VersionRecord r;
  r.version = static_cast<uint8_t>(v);
  r.topic = std::string(in.Rest());
  return r;
}

std::string EncodeTopicId(uint64_t topic_id) {
  std::string out;
  AppendLE(&out, topic_id, 8);
  return out;
}

Result<uint64_t> DecodeTopicId(std::string_view bytes) {
  if (bytes.size() != 8) return Fail(Errc::kCorrupt, "topic id: expected 8 bytes");
  Reader in(bytes);
  uint64_t v = 0;
  (void)in.Int(&v, 8);
  if (v == 0) return Fail(Errc::kCorrupt, "topic id: 0");
  return v;
}

}  // namespace telemq::collector::format
