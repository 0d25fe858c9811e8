#include "broker/storage/log_manager.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

using testing::MakeBatch;

class LogManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<LogManager> OpenManager() {
    auto m = LogManager::Open(fs_, tmp_.path() + "/data", LogOptions{});
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    return std::move(*m);
  }

  testing::TempDir tmp_;
  PosixFileSystem fs_;
};

TEST_F(LogManagerTest, CreatedPartitionsAreFoundAfterReopen) {
  {
    auto m = OpenManager();
    auto log = m->Create("gpu.telemetry", PartitionId(3));
    ASSERT_TRUE(log.has_value());
    auto batch = MakeBatch(4, 0);
    ASSERT_TRUE((*log)->Append(batch, Term(1), 0).has_value());
    ASSERT_TRUE(m->Create("__consumer-offsets", PartitionId(0)).has_value());
    ASSERT_TRUE(m->CloseAll());
  }
  std::filesystem::create_directories(tmp_.path() + "/data/not a partition");
  auto m = OpenManager();
  auto log = m->Get("gpu.telemetry", PartitionId(3));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->log_end_offset(), Offset(4));
  EXPECT_NE(m->Get("__consumer-offsets", PartitionId(0)), nullptr);  // '-' inside a topic name
  EXPECT_EQ(m->Get("gpu.telemetry", PartitionId(0)), nullptr);
  std::vector<std::string> seen;
  m->ForEach([&](const std::string& topic, PartitionId p, const std::shared_ptr<PartitionLog>&) {
    seen.push_back(LogManager::DirName(topic, p));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"__consumer-offsets-0", "gpu.telemetry-3"}));
}

TEST_F(LogManagerTest, CreateRejectsDuplicatesAndBadNames) {
  auto m = OpenManager();
  ASSERT_TRUE(m->Create("t", PartitionId(0)).has_value());
  auto again = m->Create("t", PartitionId(0));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Errc::kAlreadyExists);
  for (const char* bad : {"", "..", "a/b", "sp ace"}) {
    auto r = m->Create(bad, PartitionId(0));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  }
}

TEST_F(LogManagerTest, RemoveDeletesThePartitionDirectory) {
  auto m = OpenManager();
  auto log = m->Create("t", PartitionId(1));
  ASSERT_TRUE(log.has_value());
  ASSERT_TRUE(m->Remove("t", PartitionId(1)));
  EXPECT_EQ(m->Get("t", PartitionId(1)), nullptr);
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/data/t-1"));
  auto missing = m->Remove("t", PartitionId(1));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
}

}  // namespace
}  // namespace telemq::storage
