#pragma once
// On-disk format of one collector partition store (a RocksDB database per
// owned partition). docs/collector.md, "Store format", is the prose spec;
// this header is its single source of constants and codecs. Pure functions,
// no RocksDB types: safe from any thread.
//
// Keys of format version 2 (one column family; the first byte names the
// kind of key):
//   'D' | gpu u32 BE | timestamp_us biased u64 BE  -> row: every metric of the GPU at that time (EncodeRow)
//   'G' | gpu uuid                                 -> GpuRecord (see EncodeGpuRecord)
//   'M' | metric name                              -> metric u16 (LE)
//   'O'                                            -> applied offset i64 LE | points u64 LE
//   'V'                                            -> format version u8 | topic (bytes)
//   'T'                                            -> topic id u64 LE (the topic incarnation the store was built from)
// Data keys sort by store-local GPU id, then time, so one GPU's time window
// is one contiguous key range, and one key holds a whole snapshot (a day of
// one GPU at 1 s is 86,400 keys, not 864,000 as in version 1, which had one
// key per metric). Timestamps are biased (sign bit flipped) so negative ones
// sort before positive ones as unsigned big-endian bytes. 'T' is optional
// (a store written before topic ids has none; a format-2 reader that does not
// know it ignores it), so it needs no new format version.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::collector::format {

// Version 1 (one key per GPU, time and metric) is not read: a store of it is
// dropped and rebuilt from the log (docs/collector.md, "Store format").
inline constexpr uint8_t kFormatVersion = 2;
// The 'G' record's own encoding version (unchanged since format 1).
inline constexpr uint8_t kGpuRecordVersion = 1;

inline constexpr char kDataPrefix = 'D';
inline constexpr char kGpuPrefix = 'G';
inline constexpr char kMetricPrefix = 'M';
inline constexpr std::string_view kOffsetKey = "O";
inline constexpr std::string_view kVersionKey = "V";
inline constexpr std::string_view kTopicIdKey = "T";

// 'D' + gpu (4) + timestamp (8).
inline constexpr size_t kDataKeySize = 13;

// Store-local dictionary ids: a GPU uuid maps to a u32, a metric name to a
// u16, so a data key is 13 bytes and a row spends 10 bytes per metric
// whatever the names' lengths.
using GpuSid = uint32_t;
using MetricId = uint16_t;
inline constexpr uint32_t kMaxMetrics = 0x10000;

struct DataKey {
  GpuSid gpu = 0;
  int64_t timestamp_us = 0;
  friend bool operator==(const DataKey&, const DataKey&) = default;
};

// Order-preserving: signed order of timestamps = unsigned order of the result.
inline uint64_t BiasTimestamp(int64_t ts) { return static_cast<uint64_t>(ts) ^ (uint64_t{1} << 63); }
inline int64_t UnbiasTimestamp(uint64_t v) { return static_cast<int64_t>(v ^ (uint64_t{1} << 63)); }

void EncodeDataKey(const DataKey& key, char out[kDataKeySize]);
std::string DataKeyString(const DataKey& key);
// nullopt when `bytes` is not a well-formed data key.
std::optional<DataKey> DecodeDataKey(std::string_view bytes);

// The data key of `gpu` at `timestamp_us` (an inclusive lower bound).
std::string DataLowerBound(GpuSid gpu, int64_t timestamp_us);
// A key greater than every data key of `gpu` at or before `timestamp_us` and
// smaller than every later one: an exclusive upper bound for an inclusive end.
std::string DataUpperBoundInclusive(GpuSid gpu, int64_t timestamp_us);
// All keys of `gpu`: [DataLowerBound(gpu, INT64_MIN), GpuDataEnd(gpu)).
std::string GpuDataEnd(GpuSid gpu);

// A row: the values of one GPU at one time, one per metric.
//   u16 n (LE, n >= 1) | n x metric u16 (LE, strictly ascending) | n x f64 (LE IEEE-754)
// Ids before values, so a scan for one metric reads the ids only, and the
// id run (the same in nearly every row) compresses to almost nothing.
struct RowEntry {
  MetricId metric = 0;
  double value = 0;
  friend bool operator==(const RowEntry&, const RowEntry&) = default;
};
inline constexpr size_t kRowEntryBytes = 10;
inline constexpr size_t kMaxRowEntries = 0xFFFF;
// `entries` must be strictly ascending by metric, 1..kMaxRowEntries of them.
void EncodeRow(std::span<const RowEntry> entries, std::string* out);

// A read-only view of an encoded row (no allocation: the scans' hot path).
// Valid while the bytes it was parsed from are.
class RowView {
 public:
  // nullopt when `bytes` is not a well-formed row (size, order of ids).
  static std::optional<RowView> Parse(std::string_view bytes);
  size_t size() const { return n_; }
  MetricId metric(size_t i) const {
    const auto* p = reinterpret_cast<const uint8_t*>(data_ + 2 + 2 * i);
    return static_cast<MetricId>(p[0] | (p[1] << 8));
  }
  double value(size_t i) const;
  // Index of `metric`, or -1.
  ptrdiff_t Find(MetricId metric) const;

 private:
  RowView(const char* data, size_t n) : data_(data), n_(n) {}
  const char* data_;
  size_t n_;
};
// The number of entries of a row from its first two bytes (0 if too short):
// retention counts the points it deletes without parsing rows.
size_t RowSize(std::string_view bytes);

// What a store keeps about one GPU besides its points. first/last timestamps
// are not stored: they are read from the data keys when the store opens, so
// the record changes only when a GPU's identity or metric set changes.
struct GpuRecord {
  GpuSid sid = 0;
  int32_t gpu_id = 0;
  std::string device;
  std::string model_name;
  std::string hostname;
  std::vector<MetricId> metrics;  // ascending, no duplicates
  friend bool operator==(const GpuRecord&, const GpuRecord&) = default;
};

// u8 version | u32 sid | i32 gpu_id | str device | str model | str hostname |
// u16 n | n x u16 metric (all little-endian; str = u16 length + bytes).
std::string EncodeGpuRecord(const GpuRecord& record);
[[nodiscard]] Result<GpuRecord> DecodeGpuRecord(std::string_view bytes);

std::string GpuKey(std::string_view uuid);
std::string MetricKey(std::string_view name);
std::string EncodeMetricId(MetricId id);
[[nodiscard]] Result<MetricId> DecodeMetricId(std::string_view bytes);

struct OffsetRecord {
  Offset applied{0};    // next offset to apply
  uint64_t points = 0;  // data keys in the store
  friend bool operator==(const OffsetRecord&, const OffsetRecord&) = default;
};
std::string EncodeOffsetRecord(const OffsetRecord& record);
[[nodiscard]] Result<OffsetRecord> DecodeOffsetRecord(std::string_view bytes);

struct VersionRecord {
  uint8_t version = kFormatVersion;
  std::string topic;
};
std::string EncodeVersionRecord(const VersionRecord& record);
[[nodiscard]] Result<VersionRecord> DecodeVersionRecord(std::string_view bytes);

// The topic id (Admin::DescribeTopic's topic_id: new for every creation of
// a topic under the same name; never 0 once recorded).
std::string EncodeTopicId(uint64_t topic_id);
[[nodiscard]] Result<uint64_t> DecodeTopicId(std::string_view bytes);

}  // namespace telemq::collector::format
