#pragma once
// GPU identity: a GPU is its UUID (DCGM "uuid" / label "UUID"). gpu_id and
// device are per-host indexes and hostnames can be reused, so neither
// identifies a GPU across the fleet. The UUID is the record key on the
// telemetry topic, so all points of one GPU land, in order, on one partition.
//
// PartitionForGpu calls telemq::PartitionForKey (client/producer.h), the
// producer's default partitioner, rather than re-implementing the hash: a
// reader that wants one GPU's history computes the same partition the
// streamer's producer chose. This is why telemq_telemetry links
// telemq_client (privately; only this function is used).

#include <cstdint>
#include <string_view>

#include "telemetry/point.h"

namespace telemq::telemetry {

inline std::string_view GpuKey(const TelemetryPoint& point) { return point.gpu_uuid; }

// Requires partitions > 0.
int32_t PartitionForGpu(std::string_view gpu_uuid, int32_t partitions);

}  // namespace telemq::telemetry
