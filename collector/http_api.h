#pragma once
// The collector's internal HTTP API (docs/collector.md, "Internal API"), as
// handlers from a parsed request to a status and a JSON body. No sockets
// here: http_server.cc adapts them to cpp-httplib, and tests call them
// directly. Handlers are thread-safe; they read partitions through a
// PartitionDirectory, which the consumer loop changes concurrently.
//
// Errors are {"error":{"code":"...","message":"..."}}: 400 invalid_parameter
// (naming the parameter), 404 gpu_not_found, 503 partition_unavailable (with
// Retry-After: 1) for a partition that is not owned here or still restoring,
// 500 internal for a store failure.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/partition_store.h"

namespace telemq::collector {

enum class PartitionState : uint8_t { kRestoring, kServing };
std::string_view PartitionStateName(PartitionState state);

// One owned partition as handlers see it: a snapshot of its state and a
// reference to its store (null while the store cannot be opened). A store
// closed after the snapshot fails reads with kShuttingDown: answered 503.
struct PartitionHandle {
  int32_t partition = 0;
  PartitionState state = PartitionState::kRestoring;
  std::shared_ptr<PartitionStore> store;
};

class PartitionDirectory {
 public:
  virtual ~PartitionDirectory() = default;
  // The group member id ("" until known).
  virtual std::string MemberId() const = 0;
  // Owned partitions, ascending.
  virtual std::vector<PartitionHandle> Partitions() const = 0;
  virtual std::optional<PartitionHandle> Find(int32_t partition) const = 0;
};

// Query string parameters (the same type as httplib::Params).
using QueryParams = std::multimap<std::string, std::string>;

struct ApiResponse {
  int status = 200;
  std::string body;          // JSON
  bool retry_after = false;  // send Retry-After: 1
};

// Largest and default page size of the telemetry route.
inline constexpr int64_t kMaxQueryLimit = 10'000;
inline constexpr int64_t kDefaultQueryLimit = 1'000;

ApiResponse HandleStatus(const PartitionDirectory& dir);
ApiResponse HandleGpus(const PartitionDirectory& dir);
ApiResponse HandleGpu(const PartitionDirectory& dir, std::string_view uuid, const QueryParams& params);
// GET /internal/v1/latest?hostname&metric: {"gpus":[{...GPU fields...,
// "latest":[{"metric","timestamp_us","value"}]}],"serving":[..],"restoring":[..]}
// over every serving partition (the fleet view; PartitionStore::Latest).
ApiResponse HandleLatest(const PartitionDirectory& dir, const QueryParams& params);
ApiResponse HandleTelemetry(const PartitionDirectory& dir, std::string_view uuid, const QueryParams& params);

// The error body, for routes outside the handlers (404 for unknown paths).
std::string ErrorBody(std::string_view code, std::string_view message);

}  // namespace telemq::collector
