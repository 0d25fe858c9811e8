#include "telemetry/identity.h"

#include <gtest/gtest.h>

#include "telemq/producer.h"

namespace telemq::telemetry {
namespace {

TEST(IdentityTest, PartitionMatchesTheProducersPartitioner) {
  for (std::string uuid :
       {"GPU-5fd4f087-86f3-7a43-b711-4771313afc50", "GPU-bc7a12ab-4998-fdc5-0785-2678a929a142", ""}) {
    for (int32_t n : {1, 3, 8, 64}) {
      int32_t p = PartitionForGpu(uuid, n);
      EXPECT_EQ(p, telemq::PartitionForKey(uuid, n));
      EXPECT_GE(p, 0);
      EXPECT_LT(p, n);
    }
  }
}

TEST(IdentityTest, KeyIsTheUuid) {
  TelemetryPoint p;
  p.gpu_uuid = "GPU-1";
  p.gpu_id = 0;
  EXPECT_EQ(GpuKey(p), "GPU-1");
}

}  // namespace
}  // namespace telemq::telemetry
