// HardStateStore: durable, atomic, and loud when damaged (Raft §5.2: a
// replica must never forget whom it voted for in a term).

#include "broker/replication/hard_state_store.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "broker/replication/replication_format.h"
#include "broker/storage/fault_injection_file_system.h"
#include "broker/storage/test_util.h"

namespace telemq::replication {
namespace {

class HardStateStoreTest : public ::testing::Test {
 protected:
  HardStateStoreTest() : fault_fs_(posix_), store_(fault_fs_, tmp_.path()) {}

  void Save(int64_t term, int32_t vote) {
    auto r = store_.Save(raft::HardState{Term(term), NodeId(vote)});
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
  }
  void FlipByte(size_t at) {
    std::fstream f(store_.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.read(&c, 1);
    c ^= 0x01;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  }

  storage::testing::TempDir tmp_;
  storage::PosixFileSystem posix_;
  storage::FaultInjectionFileSystem fault_fs_;
  HardStateStore store_;
};

TEST_F(HardStateStoreTest, NoFileMeansTheInitialState) {
  auto state = store_.Load();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(*state, raft::HardState{});
}

TEST_F(HardStateStoreTest, SavedStateLoadsBack) {
  Save(3, 2);
  Save(4, 0);
  EXPECT_EQ(*store_.Load(), (raft::HardState{Term(4), raft::kNoNode}));
  Save(9, 5);
  EXPECT_EQ(*store_.Load(), (raft::HardState{Term(9), NodeId(5)}));
}

TEST_F(HardStateStoreTest, SavedStateSurvivesACrash) {
  Save(7, 3);
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  EXPECT_EQ(*store_.Load(), (raft::HardState{Term(7), NodeId(3)}));
}

TEST_F(HardStateStoreTest, FailedSaveKeepsThePreviousState) {
  Save(7, 3);
  fault_fs_.FailNth(storage::FaultOp::kWrite, 1, ENOSPC);
  auto r = store_.Save(raft::HardState{Term(8), NodeId(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  ASSERT_TRUE(fault_fs_.Crash().has_value());
  EXPECT_EQ(*store_.Load(), (raft::HardState{Term(7), NodeId(3)}));
  EXPECT_FALSE(std::filesystem::exists(store_.path() + ".tmp"));
}

TEST_F(HardStateStoreTest, TornFileIsCorruptNotForgotten) {
  Save(7, 3);
  std::filesystem::resize_file(store_.path(), 20);
  auto state = store_.Load();
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code(), Errc::kCorrupt);
  EXPECT_NE(state.error().message().find(store_.path()), std::string::npos);
  std::filesystem::resize_file(store_.path(), 0);
  EXPECT_EQ(store_.Load().error().code(), Errc::kCorrupt);
}

TEST_F(HardStateStoreTest, FlippedBitAnywhereIsCorrupt) {
  for (size_t at : {format::kHardStateMagicAt, format::kHardStateVote, format::kHardStateTerm,
                    format::kHardStateChecksum + 7}) {
    Save(7, 3);
    FlipByte(at);
    auto state = store_.Load();
    ASSERT_FALSE(state.has_value()) << "byte " << at;
    EXPECT_EQ(state.error().code(), Errc::kCorrupt);
  }
}

TEST_F(HardStateStoreTest, LostHardStateIsDetectedAgainstTheLog) {
  // The log holds entries of term 3, so the node had saved term >= 3 first.
  EXPECT_TRUE(HardStateStore::CheckAgainstLog(raft::HardState{Term(3), NodeId(1)}, Term(3)).has_value());
  EXPECT_TRUE(HardStateStore::CheckAgainstLog(raft::HardState{}, Term(0)).has_value());
  Save(3, 1);
  std::filesystem::remove(store_.path());
  auto lost = store_.Load();
  ASSERT_TRUE(lost.has_value());
  auto check = HardStateStore::CheckAgainstLog(*lost, Term(3));
  ASSERT_FALSE(check.has_value());
  EXPECT_EQ(check.error().code(), Errc::kCorrupt);
}

TEST_F(HardStateStoreTest, FailedFsyncIsFatal) {
  fault_fs_.FailNth(storage::FaultOp::kSync, 1, EIO);
  EXPECT_DEATH(IgnoreError(store_.Save(raft::HardState{Term(1), NodeId(1)}), "dies first"), "fdatasync");
}

}  // namespace
}  // namespace telemq::replication
