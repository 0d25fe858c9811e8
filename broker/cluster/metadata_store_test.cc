#include "broker/cluster/metadata_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <vector>

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

// Regression (chaos suite, disk-full fault): a synced write on a full disk
// made RocksDB abort the broker. Writes are refused with kNoSpace, as often
// as asked, and succeed again once space returns, with nothing lost.
TEST(MetadataStore, FullDiskRefusesWritesWithNoSpaceAndRecoversWhenFreed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  telemq::testing::TempDir dir("telemq-meta-full");
  if (::mount("telemq-meta-full", dir.path().c_str(), "tmpfs", 0, "size=16m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.path()};
  MetadataImage image;
  {
    auto store = MetadataStore::Open(dir.path() + "/meta");
    ASSERT_TRUE(store) << store.error().ToString();
    ASSERT_TRUE((*store)->Persist(image, Apply(image, InitCluster{"cid"}, 1)));
    const std::string ballast = dir.path() + "/ballast";
    const int fd = ::open(ballast.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::vector<char> chunk(64 << 10, 'b');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    ::close(fd);
    for (int64_t offset = 2; offset < 200; ++offset) {
      MetadataImage next = image;
      auto persisted = (*store)->Persist(next, Apply(next, RegisterBroker{{0, "b0", 9092}}, offset));
      ASSERT_FALSE(persisted) << "offset " << offset;
      EXPECT_EQ(persisted.error().code(), Errc::kNoSpace) << persisted.error().ToString();
    }
    auto id = (*store)->NextProducerId();
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().code(), Errc::kNoSpace);
    ASSERT_EQ(::unlink(ballast.c_str()), 0);
    ASSERT_TRUE((*store)->Persist(image, Apply(image, RegisterBroker{{0, "b0", 9092}}, 200)));
    EXPECT_EQ(*(*store)->NextProducerId(), 0);
  }
  auto store = MetadataStore::Open(dir.path() + "/meta");
  ASSERT_TRUE(store) << store.error().ToString();
  EXPECT_EQ((*store)->loaded(), image);
  EXPECT_EQ((*store)->loaded().applied, 200);
}

}  // namespace
}  // namespace telemq::cluster
