#include "gateway/cursor.h"

#include <algorithm>
#include <array>

namespace telemq::gateway {
namespace {

constexpr uint8_t kCursorVersion = 1;
constexpr size_t kMaxCursorChars = 1024;  // far above any real cursor; bounds work on garbage
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct Fnv1a64 {
  uint64_t h = 14695981039346656037ull;
  void Add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  void AddU64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Add(std::string_view(reinterpret_cast<const char*>(&v) + i, 1));
  }
  // Presence is hashed too, so "no start" and "start = 0" differ.
  void AddOptional(const std::optional<int64_t>& v) {
    AddU64(v.has_value() ? 1 : 0);
    AddU64(static_cast<uint64_t>(v.value_or(0)));
  }
};

uint64_t Check(std::string_view payload, const CursorScope& scope) {
  Fnv1a64 f;
  f.Add(payload);
  f.AddU64(scope.uuid.size());
  f.Add(scope.uuid);
  f.AddOptional(scope.start_us);
  f.AddOptional(scope.end_us);
  f.AddU64(scope.metric.size());
  f.Add(scope.metric);
  if (scope.step_us) {
    f.AddU64(static_cast<uint64_t>(*scope.step_us));
    f.AddU64(scope.agg.size());
    f.Add(scope.agg);
  }
  return f.h;
}

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    return v;
  }();
  if (text.size() % 4 == 1) return Fail(Errc::kInvalidArgument, "not base64url (bad length)");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int8_t v = kValue[static_cast<unsigned char>(c)];
    if (v < 0) return Fail(Errc::kInvalidArgument, "not base64url (unexpected character)");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, so every byte string has exactly one encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return Fail(Errc::kInvalidArgument, "not base64url (trailing bits)");
  return out;
}

std::string EncodeCursor(const CursorPosition& position, const CursorScope& scope) {
  std::string payload;
  payload.reserve(1 + 8 + 2 + position.after_metric.size() + 8);
  payload.push_back(static_cast<char>(kCursorVersion));
  PutLe(payload, static_cast<uint64_t>(position.after_us), 8);
  const size_t len = std::min<size_t>(position.after_metric.size(), 0xFFFF);
  PutLe(payload, len, 2);
  payload.append(position.after_metric, 0, len);
  PutLe(payload, Check(payload, scope), 8);
  return Base64UrlEncode(payload);
}

Result<CursorPosition> DecodeCursor(std::string_view text, const CursorScope& scope) {
  if (text.empty()) return Fail(Errc::kInvalidArgument, "empty cursor");
  if (text.size() > kMaxCursorChars) return Fail(Errc::kInvalidArgument, "cursor too long");
  auto bytes = Base64UrlDecode(text);
  if (!bytes) return Fail(Errc::kInvalidArgument, "not a cursor: " + bytes.error().message());
  const std::string_view b = *bytes;
  if (b.size() < 1 + 8 + 2 + 8) return Fail(Errc::kInvalidArgument, "not a cursor (too short)");
  if (static_cast<uint8_t>(b[0]) != kCursorVersion) return Fail(Errc::kInvalidArgument, "unknown cursor version");
  const size_t len = GetLe(b, 9, 2);
  if (b.size() != 1 + 8 + 2 + len + 8) return Fail(Errc::kInvalidArgument, "not a cursor (bad length)");
  const std::string_view payload = b.substr(0, 11 + len);
  if (GetLe(b, 11 + len, 8) != Check(payload, scope)) {
    return Fail(Errc::kInvalidArgument,
                "cursor does not belong to this query (it was altered, or start_time, end_time, metric or the GPU "
                "differ from the request that returned it)");
  }
  // The check is no secret, so a forged cursor passes it: refuse what no
  // page can have produced (every point has a metric name).
  if (len == 0) return Fail(Errc::kInvalidArgument, "not a cursor (no metric name)");
  CursorPosition p;
  p.after_us = static_cast<int64_t>(GetLe(b, 1, 8));
  p.after_metric.assign(b.substr(11, len));
  return p;
}

}  // namespace telemq::gateway
