#include <gtest/gtest.h>

#include <set>

#include "broker/server/broker_state.h"
#include "tests/support/temp_dir.h"

namespace telemq::broker {
namespace {

// Ids from different brokers never collide, whatever their counters.
TEST(ProducerId, BrokerIdInTheHighBitsKeepsIdsUniqueAcrossBrokers) {
  telemq::testing::TempDir dir("telemq-pid");
  std::set<int64_t> seen;
  for (int32_t broker : {0, 1, 2, 8388607}) {
    auto store = cluster::MetadataStore::Open(dir.path() + "/meta-" + std::to_string(broker));
    ASSERT_TRUE(store) << store.error().ToString();
    for (int i = 0; i < 100; ++i) {
      auto id = AllocateProducerId(**store, broker);
      ASSERT_TRUE(id);
      EXPECT_EQ(id->value() >> kProducerIdCounterBits, broker);
      EXPECT_TRUE(seen.insert(id->value()).second) << "duplicate producer id " << id->value();
    }
  }
}

// The counter survives a restart: an id is never handed out twice.
TEST(ProducerId, CounterPersistsAcrossRestarts) {
  telemq::testing::TempDir dir("telemq-pid");
  int64_t last = -1;
  {
    auto store = cluster::MetadataStore::Open(dir.path() + "/meta");
    ASSERT_TRUE(store);
    for (int i = 0; i < 3; ++i) last = AllocateProducerId(**store, 5)->value();
  }
  auto store = cluster::MetadataStore::Open(dir.path() + "/meta");
  ASSERT_TRUE(store);
  auto next = AllocateProducerId(**store, 5);
  ASSERT_TRUE(next);
  EXPECT_GT(next->value(), last);
}

}  // namespace
}  // namespace telemq::broker
