#pragma once
// Translation between the collectors' internal JSON (times in microseconds,
// common contract in docs/gateway.md) and the public API's JSON (RFC 3339
// times), and the merge of per-collector GPU lists into fleet-wide views.
//
// Promises:
//  * Telemetry pages are translated in one streaming pass over the
//    collector's body (no document tree, values copied as the collector
//    wrote them), since a page can hold 10,000 points.
//  * A collector body that does not follow the contract is an error
//    (kCorrupt), never a partial answer.
//  * A merged GPU list takes each partition from exactly one collector (its
//    routed owner when that one serves it), so a partition that is moving
//    between collectors never shows its GPUs twice.
// Pure functions, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/cursor.h"
#include "gateway/routing.h"
#include "telemq/common/result.h"

namespace telemq::gateway {

struct PageSummary {
  size_t count = 0;
  bool more = false;
  std::optional<CursorPosition> last;  // the last point appended
};

// Appends the points of a collector telemetry reply as public JSON objects
// separated by commas (no brackets), e.g.
//   {"timestamp":"2025-07-18T20:42:34.000000Z","metric":"DCGM_FI_DEV_GPU_UTIL","value":45}
[[nodiscard]] Result<PageSummary> AppendPublicPoints(std::string_view collector_body, std::string& out);

struct GpuInfo {
  std::string uuid;
  int64_t gpu_id = 0;
  std::string device;
  std::string model_name;
  std::string hostname;
  int32_t partition = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  std::vector<std::string> metrics;
};

struct CollectorGpus {
  std::vector<GpuInfo> gpus;
  std::vector<int32_t> serving;
  std::vector<int32_t> restoring;
};

[[nodiscard]] Result<GpuInfo> ParseCollectorGpu(std::string_view body);
[[nodiscard]] Result<CollectorGpus> ParseCollectorGpus(std::string_view body);

// The reply of one collector endpoint to /internal/v1/gpus, or nullopt when
// it failed.
struct EndpointReply {
  std::string endpoint;
  std::optional<CollectorGpus> reply;
};

struct FleetView {
  std::vector<GpuInfo> gpus;  // sorted by uuid, unique
  int32_t partitions = 0;
  std::vector<int32_t> unavailable;  // sorted
  bool partial() const { return !unavailable.empty(); }
  bool nothing_available() const { return partitions == 0 || static_cast<int32_t>(unavailable.size()) == partitions; }
};

FleetView MergeFleet(const RoutingTable& routing, const std::vector<EndpointReply>& replies);

std::string GpuJson(const GpuInfo& gpu);
std::string GpuListJson(const FleetView& view);
std::string HostListJson(const FleetView& view);
std::string MetricListJson(const FleetView& view);
// GET /api/v1/hosts/{hostname}/gpus: the GPU list of one host (view already
// filtered to it).
std::string HostGpusJson(const FleetView& view, std::string_view hostname);
// GET /api/v1/telemetry/latest. A collector's /internal/v1/latest reply is
// read in one pass into its GPUs' public JSON objects, rendered into one
// buffer; the merge picks each partition's source as MergeFleet does, sorts
// the GPUs by uuid and concatenates their objects (no document tree: the
// fleet view of 1,000 GPUs is ~1 MB).
struct CollectorLatest {
  struct Gpu {
    std::string uuid;  // unescaped, for the order and duplicates
    int32_t partition = 0;
    size_t begin = 0, end = 0;  // its public object: json[begin, end)
    size_t points = 0;
  };
  std::string json;
  std::vector<Gpu> gpus;
  std::vector<int32_t> serving;
  std::vector<int32_t> restoring;
};
[[nodiscard]] Result<CollectorLatest> ParseCollectorLatest(std::string_view body);

struct LatestReply {
  std::string endpoint;
  std::optional<CollectorLatest> reply;
};

struct LatestView {
  std::string body;  // the whole public answer
  int32_t partitions = 0;
  std::vector<int32_t> unavailable;  // sorted
  bool partial() const { return !unavailable.empty(); }
  bool nothing_available() const { return partitions == 0 || static_cast<int32_t>(unavailable.size()) == partitions; }
};
LatestView MergeLatest(const RoutingTable& routing, const std::vector<LatestReply>& replies);

// Appends `s` as a JSON string literal (quotes included).
void AppendJsonString(std::string_view s, std::string& out);

}  // namespace telemq::gateway
