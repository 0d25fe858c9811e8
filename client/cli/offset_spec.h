#pragma once
// Pure helpers of the telemq CLI, kept apart so they can be unit-tested:
// parsing of reset-offsets flags and the assignment log line format that
// integration tests read. Thread-safe (pure).

#include <optional>
#include <string>
#include <vector>

#include "telemq/admin.h"
#include "telemq/common/result.h"
#include "telemq/topic_partition.h"

namespace telemq::cli {

// The raw reset-offsets flags as given; exactly one must be set.
struct ResetFlags {
  bool to_earliest = false;
  bool to_latest = false;
  std::optional<std::string> to_timestamp;  // ms since the Unix epoch
  std::optional<std::string> to_offset;
};

// kInvalidArgument when no flag or several are given, or a number is not a
// non-negative decimal integer.
[[nodiscard]] Result<OffsetResetSpec> ParseResetFlags(const ResetFlags& flags);

// Strict non-negative decimal (no sign, no spaces, no overflow).
[[nodiscard]] Result<int64_t> ParseNonNegative(const std::string& text, const std::string& what);

// "ASSIGNED 1712345678901 t:0,t:3" (kind is ASSIGNED, REVOKED or LOST).
std::string AssignmentLine(const std::string& kind, int64_t unix_ms, const std::vector<TopicPartition>& partitions);

}  // namespace telemq::cli
