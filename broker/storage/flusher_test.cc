#include "broker/storage/flusher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

using testing::MakeBatch;

class FlusherTest : public ::testing::Test {
 protected:
  FlusherTest() : fs_(posix_) {}

  std::shared_ptr<PartitionLog> OpenLog(const std::string& name) {
    auto log = PartitionLog::Open(fs_, tmp_.path() + "/" + name, LogOptions{});
    EXPECT_TRUE(log.has_value());
    return std::shared_ptr<PartitionLog>(std::move(*log));
  }

  static Offset Append(PartitionLog& log) {
    auto batch = MakeBatch(1, 0);
    auto r = log.Append(batch, Term(1), 0);
    EXPECT_TRUE(r.has_value());
    return r->last_offset + 1;
  }

  testing::TempDir tmp_;
  PosixFileSystem posix_;
  FaultInjectionFileSystem fs_;  // counts syncs
};

TEST_F(FlusherTest, ConcurrentRequestsForOneLogShareOneSync) {
  auto log = OpenLog("a-0");
  Flusher flusher(std::chrono::milliseconds(0));
  int completed = 0;
  for (int i = 0; i < 100; ++i) {
    const Offset end = Append(*log);
    flusher.RequestSync(log, end, [&, end](Result<Offset> r) {
      ASSERT_TRUE(r.has_value());
      EXPECT_GE(*r, end);
      ++completed;
    });
  }
  const int64_t syncs_before = fs_.sync_count();
  EXPECT_EQ(flusher.RunOnce(false), 1);
  EXPECT_EQ(fs_.sync_count() - syncs_before, 1);
  EXPECT_EQ(completed, 100);
  EXPECT_EQ(log->durable_offset(), Offset(100));
}

TEST_F(FlusherTest, EachDistinctLogIsSyncedOncePerRound) {
  auto a = OpenLog("a-0");
  auto b = OpenLog("a-1");
  Flusher flusher(std::chrono::milliseconds(0));
  int completed = 0;
  for (int i = 0; i < 10; ++i) {
    flusher.RequestSync(a, Append(*a), [&](Result<Offset> r) { completed += r.has_value(); });
    flusher.RequestSync(b, Append(*b), [&](Result<Offset> r) { completed += r.has_value(); });
  }
  EXPECT_EQ(flusher.RunOnce(false), 2);
  EXPECT_EQ(completed, 20);
}

TEST_F(FlusherTest, RequestBeyondTheAppendedDataWaitsForALaterRound) {
  auto log = OpenLog("a-0");
  Flusher flusher(std::chrono::milliseconds(0));
  Append(*log);
  std::optional<Offset> got;
  flusher.RequestSync(log, Offset(2), [&](Result<Offset> r) { got = *r; });
  flusher.RunOnce(false);
  EXPECT_FALSE(got.has_value());
  Append(*log);
  flusher.RunOnce(false);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Offset(2));
}

TEST_F(FlusherTest, RegisteredLogsAreSyncedOnTheIntervalRound) {
  auto log = OpenLog("a-0");
  Flusher flusher(std::chrono::milliseconds(100));
  flusher.Register(log);
  Append(*log);
  EXPECT_EQ(flusher.RunOnce(false), 0);
  EXPECT_EQ(log->durable_offset(), Offset(0));
  EXPECT_EQ(flusher.RunOnce(true), 1);
  EXPECT_EQ(log->durable_offset(), Offset(1));
  EXPECT_EQ(flusher.RunOnce(true), 0);  // nothing new: no fdatasync
  flusher.Unregister(log.get());
  Append(*log);
  EXPECT_EQ(flusher.RunOnce(true), 0);
}

TEST_F(FlusherTest, StopCompletesPendingRequestsAndFailsUncoverableOnes) {
  auto log = OpenLog("a-0");
  Flusher flusher(std::chrono::milliseconds(0));
  std::optional<Result<Offset>> covered, uncovered;
  flusher.RequestSync(log, Append(*log), [&](Result<Offset> r) { covered = r; });
  flusher.RequestSync(log, Offset(50), [&](Result<Offset> r) { uncovered = r; });
  flusher.Stop();
  ASSERT_TRUE(covered.has_value() && covered->has_value());
  EXPECT_EQ(**covered, Offset(1));
  ASSERT_TRUE(uncovered.has_value());
  ASSERT_FALSE(uncovered->has_value());
  EXPECT_EQ(uncovered->error().code(), Errc::kShuttingDown);
}

TEST_F(FlusherTest, BackgroundThreadGroupCommitsRequestsFromManyThreads) {
  auto log = OpenLog("a-0");
  Flusher flusher(std::chrono::milliseconds(0));
  flusher.Start();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> completed{0};
  const int64_t syncs_before = fs_.sync_count();
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<Result<Offset>> done;
        auto future = done.get_future();
        const Offset end = Append(*log);
        flusher.RequestSync(log, end, [&done](Result<Offset> r) { done.set_value(std::move(r)); });
        auto r = future.get();  // acks=all style: wait for durability
        ASSERT_TRUE(r.has_value());
        EXPECT_GE(*r, end);
        ++completed;
      }
    });
  }
  for (auto& p : producers) p.join();
  flusher.Stop();
  EXPECT_EQ(completed.load(), kThreads * kPerThread);
  EXPECT_EQ(log->durable_offset(), Offset(kThreads * kPerThread));
  EXPECT_LE(fs_.sync_count() - syncs_before, kThreads * kPerThread);
}

}  // namespace
}  // namespace telemq::storage
