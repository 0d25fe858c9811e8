#include "broker/cluster/metadata_store.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace telemq::cluster {
namespace {

TEST(MetadataStore, PersistedImageAndAppliedOffsetComeBackTogether) {
  telemq::testing::TempDir dir("telemq-meta");
  MetadataImage image;
  {
    auto store = MetadataStore::Open(dir.path() + "/meta");
    ASSERT_TRUE(store) << store.error().ToString();
    EXPECT_EQ((*store)->loaded(), MetadataImage{});
    for (const auto& [offset, command] : std::vector<std::pair<int64_t, Command>>{
             {1, InitCluster{"cid"}},
             {2, RegisterBroker{{0, "b0", 9092}}},
             {3, RegisterBroker{{1, "b1", 9093}}},
             {4, CreateTopic{"keep", TopicSpec{2, 2, 5, 6, 7, 8}, {{0, 1}, {1, 0}}}},
             {5, CreateTopic{"gone", TopicSpec{1, 1}, {{1}}}},
             {6, DeleteTopic{"gone", 5}},
             {7, RegisterBroker{{1, "b1-moved", 9094}}},
         }) {
      auto applied = Apply(image, command, offset);
      ASSERT_TRUE((*store)->Persist(image, applied));
    }
    EXPECT_EQ(*(*store)->NextProducerId(), 0);
    EXPECT_EQ(*(*store)->NextProducerId(), 1);
  }
  auto store = MetadataStore::Open(dir.path() + "/meta");
  ASSERT_TRUE(store);
  EXPECT_EQ((*store)->loaded(), image);
  EXPECT_EQ((*store)->loaded().applied, 7);
  EXPECT_EQ((*store)->loaded().brokers.at(1).host, "b1-moved");
  EXPECT_EQ(*(*store)->NextProducerId(), 2);
}

}  // namespace
}  // namespace telemq::cluster
