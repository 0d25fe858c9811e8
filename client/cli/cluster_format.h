#pragma once
// Pure formatting for `telemq cluster status` and `telemq topic describe`:
// descriptions in, text (aligned columns, as the other commands print) or
// JSON (one document) out. No I/O, so the output is unit-tested.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "telemq/admin.h"
#include "telemq/common/result.h"

namespace telemq::cli {

enum class TableFormat { kText, kJson };
// "text" (or empty) | "json"; kInvalidArgument otherwise.
Result<TableFormat> ParseTableFormat(const std::string& text);

// Exit code of `cluster status` when some partition has no leader.
inline constexpr int kExitOfflinePartitions = 3;

// What `cluster status` judges.
struct ClusterHealth {
  int32_t partitions = 0;
  // isr smaller than replicas (only where the leader reported its isr).
  std::vector<std::pair<std::string, PartitionDescription>> under_replicated;
  // No leader.
  std::vector<std::pair<std::string, PartitionDescription>> offline;
  // A leader whose isr nobody reported (its broker did not answer).
  int32_t isr_unknown = 0;
  std::map<int32_t, int32_t> leaders_per_broker;  // broker id → partitions it leads
};
ClusterHealth Summarize(const ClusterDescription& cluster);

// 0 when every partition has a leader, else kExitOfflinePartitions.
int ClusterStatusExitCode(const ClusterDescription& cluster);

// Brokers up/down with the partitions each leads, the controller, the
// counts, then the under-replicated and offline partitions.
std::string FormatClusterStatus(const ClusterDescription& cluster, TableFormat format);

// Each partition's leader, term, replicas, isr and (when with_offsets) log
// start and high watermark.
std::string FormatTopicDescription(const TopicDescription& topic, TableFormat format, bool with_offsets);

// Broker ids as "1,2,3"; "-" for none.
std::string IdList(const std::vector<int32_t>& ids);

}  // namespace telemq::cli
