#pragma once
// Reading DCGM exporter CSV (as in shared/data/dcgm_metrics_*.csv) into
// telemetry points.
//
// Promises:
//  * Columns are found by header name, case-insensitively, so "Hostname" and
//    "hostname" both work and column order does not matter. uuid,
//    metric_name, gpu_id and value are required in the header; the rest
//    (timestamp, device, modelName, Hostname, labels_raw) are optional.
//  * Records follow RFC 4180: quoted fields, doubled quotes inside them,
//    embedded commas, CRLF or LF line ends. One record per line: a quoted
//    field spanning lines is reported as an unterminated quote.
//  * A bad row is never turned into a point. It is skipped, counted by
//    reason, and logged (warning) with its 1-based line number.
//  * The point's timestamp_us is left 0: the streamer stamps processing time.
//    The CSV's own timestamp string is kept in DcgmRow::source_timestamp so
//    rows can be grouped into snapshots.
// A DcgmCsvReader is a plain value with no I/O; one reader per thread.

#include <array>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "telemetry/point.h"
#include "telemq/common/result.h"

namespace telemq::telemetry {

// Splits one CSV record (without or with its trailing "\n" / "\r\n") into
// unquoted fields. kInvalidArgument for an unterminated quote or characters
// after a closing quote.
[[nodiscard]] Result<std::vector<std::string>> SplitCsvRecord(std::string_view line);

// Parses labels_raw (already CSV-unquoted), e.g.
//   DCGM_FI_DRIVER_VERSION="535.129.03",Hostname="mtv5-dgx1-hgpu-031"
// into key/value pairs in source order. Values may be quoted or bare; inside
// quotes, "" and \" are a literal quote and \\ a backslash. An empty input
// yields no labels. kInvalidArgument for a pair without '=', an empty key or
// an unterminated quote.
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> ParseLabels(std::string_view raw);

enum class SkipReason : uint8_t {
  kWrongColumnCount = 0,
  kUnterminatedQuote,  // also: garbage after a closing quote
  kMissingUuid,
  kMissingMetric,
  kBadGpuId,  // missing or not a base-10 int32
  kBadValue,  // missing, not fully numeric, NaN or infinite
};
inline constexpr size_t kSkipReasonCount = 6;
std::string_view SkipReasonName(SkipReason reason);

struct RowSkip {
  int64_t line_number = 0;  // 1-based; the header is line 1
  SkipReason reason = SkipReason::kWrongColumnCount;
  std::string detail;  // for the log
};

struct DcgmRow {
  TelemetryPoint point;          // timestamp_us == 0
  std::string source_timestamp;  // the CSV's timestamp field, verbatim ("" when absent)
};

struct SkipCounts {
  std::array<uint64_t, kSkipReasonCount> by_reason{};
  uint64_t Total() const;
  uint64_t Of(SkipReason r) const { return by_reason[static_cast<size_t>(r)]; }
};

class DcgmCsvReader {
 public:
  // kInvalidArgument when the header cannot be split or lacks a required column.
  [[nodiscard]] static Result<DcgmCsvReader> Create(std::string_view header_line);

  // Parses one data line. On a skip, counts it and logs a warning.
  std::variant<DcgmRow, RowSkip> ParseLine(std::string_view line, int64_t line_number);

  const SkipCounts& skips() const { return skips_; }
  // Rows whose labels_raw could not be parsed: kept, with empty labels.
  uint64_t malformed_labels() const { return malformed_labels_; }

 private:
  DcgmCsvReader() = default;
  RowSkip Skip(int64_t line, SkipReason reason, std::string detail);

  size_t column_count_ = 0;
  int uuid_ = -1, metric_ = -1, gpu_id_ = -1, value_ = -1;                       // required column indexes
  int timestamp_ = -1, device_ = -1, model_ = -1, hostname_ = -1, labels_ = -1;  // optional, -1 if absent
  SkipCounts skips_;
  uint64_t malformed_labels_ = 0;
};

struct DcgmReadSummary {
  uint64_t rows = 0;  // points handed to on_row
  SkipCounts skips;
  uint64_t malformed_labels = 0;
};

// Reads a whole export: line 1 is the header; blank lines are ignored (not
// counted). on_row gets each good row in file order. Errors only when the
// header is missing or unusable.
[[nodiscard]] Result<DcgmReadSummary> ReadDcgmCsv(std::istream& in, const std::function<void(DcgmRow&&)>& on_row);

}  // namespace telemq::telemetry
