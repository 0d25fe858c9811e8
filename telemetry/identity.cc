#include "telemetry/identity.h"

#include "telemq/common/check.h"
#include "telemq/producer.h"

namespace telemq::telemetry {

int32_t PartitionForGpu(std::string_view gpu_uuid, int32_t partitions) {
  TELEMQ_CHECK(partitions > 0, "PartitionForGpu needs at least one partition");
  return telemq::PartitionForKey(gpu_uuid, partitions);
}

}  // namespace telemq::telemetry
