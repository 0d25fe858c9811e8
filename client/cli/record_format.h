#pragma once
// How `telemq consume` prints records, and how `telemq group describe`
// prints assignments. Pure functions (no I/O), unit-tested.
//
//   --format telemetry  one aligned line per telemetry point (decoded from
//                       its FlatBuffers value): time (UTC, µs), host, GPU,
//                       metric, value; a header line first. The default for
//                       the telemetry topic (gpu.telemetry), so an operator
//                       can tail GPU points without a decoder.
//   --format json       one JSON object per record (JSON Lines): partition,
//                       offset, timestamp_ms, key, and the decoded "point"
//                       when the value is a telemetry point, else "value"
//                       (text; invalid UTF-8 replaced by U+FFFD).
//   --format raw        the value's bytes as they are (the default for other
//                       topics), as Kafka's console consumer prints them.
//
// --print-meta adds partition, offset and record timestamp columns (named
// in the header line); --print-key the key.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"
#include "telemq/topic_partition.h"

namespace telemq::cli {

enum class RecordFormat { kTelemetry, kJson, kRaw };

// "telemetry", "json", "raw"; "" (not given): the default for `topic`.
[[nodiscard]] Result<RecordFormat> ParseRecordFormat(std::string_view text, std::string_view topic);

struct RecordView {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

struct PrintOptions {
  RecordFormat format = RecordFormat::kRaw;
  bool print_meta = false;
  bool print_key = false;
};

// The header line (with '\n'), or "" when the format has none (json; raw
// without --print-meta).
std::string HeaderLine(const PrintOptions& options);
// One record as printed, '\n' included.
std::string FormatRecord(const RecordView& record, const PrintOptions& options);

// Partitions as ranges per topic, sorted: "gpu.telemetry[0-3,8,10-11]"; "-"
// when empty. For one member's assignment in `group describe`.
std::string AssignmentRanges(std::vector<TopicPartition> partitions);

// "2026-11-22T09:00:00.123456Z" for microseconds since the Unix epoch.
std::string FormatUtcMicros(int64_t unix_us);

}  // namespace telemq::cli
