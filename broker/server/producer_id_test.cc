// Producer ids handed out by different brokers never collide: a partition's
// idempotence table keys on the id alone, so a collision would make one
// producer's batches look like another's duplicates.

#include <gtest/gtest.h>

#include <set>

#include "broker/server/broker_state.h"
#include "tests/support/temp_dir.h"

namespace telemq::broker {
namespace {

TEST(ProducerIdTest, BrokersNeverHandOutTheSameIdAndTheBrokerIsInTheHighBits) {
  testing::TempDir dir("telemq-pid");
  std::set<int64_t> seen;
  for (int32_t broker : {0, 1, 2, 8388607}) {
    auto registry = TopicRegistry::Open(dir.path() + "/meta-" + std::to_string(broker));
    ASSERT_TRUE(registry) << registry.error().ToString();
    for (int i = 0; i < 100; ++i) {
      auto id = AllocateProducerId(**registry, broker);
      ASSERT_TRUE(id) << id.error().ToString();
      EXPECT_GE(id->value(), 0);
      EXPECT_EQ(id->value() >> kProducerIdCounterBits, broker);
      EXPECT_TRUE(seen.insert(id->value()).second) << "broker " << broker << " repeated id " << id->value();
    }
  }
}

TEST(ProducerIdTest, CounterSurvivesARestart) {
  testing::TempDir dir("telemq-pid");
  int64_t last = -1;
  {
    auto registry = TopicRegistry::Open(dir.path() + "/meta");
    ASSERT_TRUE(registry);
    for (int i = 0; i < 3; ++i) last = AllocateProducerId(**registry, 5)->value();
  }
  auto registry = TopicRegistry::Open(dir.path() + "/meta");
  ASSERT_TRUE(registry);
  auto next = AllocateProducerId(**registry, 5);
  ASSERT_TRUE(next);
  EXPECT_GT(next->value(), last);
}

}  // namespace
}  // namespace telemq::broker
