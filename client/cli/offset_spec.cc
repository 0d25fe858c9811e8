#include "offset_spec.h"

#include <limits>

namespace telemq::cli {

Result<int64_t> ParseNonNegative(const std::string& text, const std::string& what) {
  if (text.empty()) return Fail(Errc::kInvalidArgument, what + " is empty");
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Fail(Errc::kInvalidArgument, what + " '" + text + "' is not a non-negative integer");
    const int d = c - '0';
    if (v > (std::numeric_limits<int64_t>::max() - d) / 10) {
      return Fail(Errc::kInvalidArgument, what + " '" + text + "' is too large");
    }
    v = v * 10 + d;
  }
  return v;
}

Result<OffsetResetSpec> ParseResetFlags(const ResetFlags& flags) {
  const int given = int(flags.to_earliest) + int(flags.to_latest) + int(flags.to_timestamp.has_value()) +
                    int(flags.to_offset.has_value());
  if (given != 1) {
    return Fail(Errc::kInvalidArgument,
                "give exactly one of --to-earliest, --to-latest, --to-timestamp MS, --to-offset N");
  }
  OffsetResetSpec spec;
  if (flags.to_earliest) {
    spec.kind = OffsetResetSpec::Kind::kEarliest;
  } else if (flags.to_latest) {
    spec.kind = OffsetResetSpec::Kind::kLatest;
  } else if (flags.to_timestamp) {
    spec.kind = OffsetResetSpec::Kind::kTimestamp;
    TELEMQ_ASSIGN_OR_RETURN(spec.value, ParseNonNegative(*flags.to_timestamp, "--to-timestamp"));
  } else {
    spec.kind = OffsetResetSpec::Kind::kOffset;
    TELEMQ_ASSIGN_OR_RETURN(spec.value, ParseNonNegative(*flags.to_offset, "--to-offset"));
  }
  return spec;
}

std::string AssignmentLine(const std::string& kind, int64_t unix_ms, const std::vector<TopicPartition>& partitions) {
  std::string line = kind + " " + std::to_string(unix_ms) + " ";
  for (size_t i = 0; i < partitions.size(); ++i) {
    if (i) line += ',';
    line += ToString(partitions[i]);
  }
  return line;
}

}  // namespace telemq::cli
