#pragma once
// RoutingTable: which collector serves which partition of the telemetry
// topic, built from the broker's description of the collector group.
//
// Promises:
//  * A partition's owner is the member whose assignment holds it; while a
//    partition is being revoked (still in a member's pending revocation and
//    nobody's assignment) that member keeps serving it and stays its owner.
//  * A member's endpoint comes from its metadata, the JSON
//    {"endpoint":"http://host:port"} (common contract). A member with missing
//    or malformed metadata owns nothing here: its partitions read as unowned
//    and a warning names it, so one bad member cannot misroute queries.
// A RoutingTable is an immutable value once built; share it freely.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/admin.h"
#include "telemq/common/result.h"

namespace telemq::gateway {

// "http://host:port" with a port in 1..65535 and nothing after it.
[[nodiscard]] Result<std::string> ParseMemberEndpoint(std::string_view metadata);

class RoutingTable {
 public:
  RoutingTable() = default;
  // `warnings` gets one line per member whose metadata was ignored.
  static RoutingTable Build(const std::string& topic, int32_t partitions, const GroupDescription& group,
                            std::vector<std::string>* warnings = nullptr);

  int32_t partitions() const { return static_cast<int32_t>(owners_.size()); }
  // Endpoint of the partition's owner; nullptr when unowned or out of range.
  const std::string* OwnerOf(int32_t partition) const;
  // Distinct owner endpoints, sorted.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  std::vector<int32_t> UnownedPartitions() const;

 private:
  std::vector<std::optional<std::string>> owners_;  // by partition
  std::vector<std::string> endpoints_;
};

}  // namespace telemq::gateway
