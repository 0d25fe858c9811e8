#include "telemetry/point.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace telemq::telemetry {
namespace {

// Explicit byte-by-byte little-endian so the format does not depend on the
// host's endianness.
void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>(v >> 8));
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

Result<void> PutStr(std::string* out, std::string_view s, const char* what) {
  if (s.size() > kMaxPointStringBytes) {
    return Fail(Errc::kInvalidArgument, std::string(what) + " longer than 65535 bytes");
  }
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
  return Ok();
}

// A bounds-checked cursor: every read checks what is left first.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool U8(uint8_t* v) {
    if (left() < 1) return false;
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v) {
    if (left() < 2) return false;
    *v = static_cast<uint16_t>(Byte(0) | (Byte(1) << 8));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (left() < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(Byte(i)) << (8 * i);
    *v = r;
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (left() < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(Byte(i)) << (8 * i);
    *v = r;
    pos_ += 8;
    return true;
  }
  bool Str(std::string* s) {
    uint16_t n = 0;
    if (!U16(&n) || left() < n) return false;
    s->assign(bytes_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  uint32_t Byte(size_t i) const { return static_cast<uint8_t>(bytes_[pos_ + i]); }
  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::string> EncodePoint(const TelemetryPoint& p) {
  if (p.labels.size() > kMaxPointLabels) return Fail(Errc::kInvalidArgument, "more than 65535 labels");
  std::string out;
  out.reserve(64 + p.gpu_uuid.size() + p.device.size() + p.model_name.size() + p.hostname.size() +
              p.metric_name.size());
  out.push_back(static_cast<char>(kPointEncodingVersion));
  TELEMQ_TRY(PutStr(&out, p.gpu_uuid, "gpu_uuid"));
  PutU32(&out, static_cast<uint32_t>(p.gpu_id));
  TELEMQ_TRY(PutStr(&out, p.device, "device"));
  TELEMQ_TRY(PutStr(&out, p.model_name, "model_name"));
  TELEMQ_TRY(PutStr(&out, p.hostname, "hostname"));
  TELEMQ_TRY(PutStr(&out, p.metric_name, "metric_name"));
  PutU64(&out, std::bit_cast<uint64_t>(p.value));
  PutU64(&out, static_cast<uint64_t>(p.timestamp_us));
  PutU16(&out, static_cast<uint16_t>(p.labels.size()));
  for (const auto& [k, v] : p.labels) {
    TELEMQ_TRY(PutStr(&out, k, "label key"));
    TELEMQ_TRY(PutStr(&out, v, "label value"));
  }
  return out;
}

Result<TelemetryPoint> DecodePoint(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version = 0;
  if (!r.U8(&version)) return Fail(Errc::kCorrupt, "telemetry point: empty value");
  if (version != kPointEncodingVersion) {
    return Fail(Errc::kUnsupportedVersion, "telemetry point: version " + std::to_string(version));
  }
  TelemetryPoint p;
  uint32_t gpu_id = 0;
  uint64_t value_bits = 0;
  uint64_t ts = 0;
  uint16_t label_count = 0;
  if (!r.Str(&p.gpu_uuid) || !r.U32(&gpu_id) || !r.Str(&p.device) || !r.Str(&p.model_name) || !r.Str(&p.hostname) ||
      !r.Str(&p.metric_name) || !r.U64(&value_bits) || !r.U64(&ts) || !r.U16(&label_count)) {
    return Fail(Errc::kCorrupt, "telemetry point: truncated");
  }
  p.gpu_id = static_cast<int32_t>(gpu_id);
  p.value = std::bit_cast<double>(value_bits);
  p.timestamp_us = static_cast<int64_t>(ts);
  if (!std::isfinite(p.value)) return Fail(Errc::kCorrupt, "telemetry point: non-finite value");
  // Each label needs at least 4 bytes; checking first keeps a corrupt count
  // from reserving memory the value cannot back.
  if (r.left() < 4u * label_count) return Fail(Errc::kCorrupt, "telemetry point: truncated labels");
  p.labels.resize(label_count);
  for (auto& [k, v] : p.labels) {
    if (!r.Str(&k) || !r.Str(&v)) return Fail(Errc::kCorrupt, "telemetry point: truncated labels");
  }
  if (r.left() != 0) return Fail(Errc::kCorrupt, "telemetry point: trailing bytes");
  return p;
}

}  // namespace telemq::telemetry
