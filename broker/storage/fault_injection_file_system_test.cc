#include "broker/storage/fault_injection_file_system.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "broker/storage/test_util.h"

namespace telemq::storage {
namespace {

std::vector<std::byte> Bytes(const char* s) {
  std::vector<std::byte> out(std::strlen(s));
  std::memcpy(out.data(), s, out.size());
  return out;
}

std::string Contents(FileSystem& fs, const std::string& path) {
  auto file = fs.OpenReadable(path);
  EXPECT_TRUE(file.has_value());
  std::vector<std::byte> buf(4096);
  auto n = (*file)->PRead(0, buf);
  EXPECT_TRUE(n.has_value());
  return std::string(reinterpret_cast<const char*>(buf.data()), *n);
}

class FaultInjectionFileSystemTest : public ::testing::Test {
 protected:
  FaultInjectionFileSystemTest() : fs_(posix_) {}
  std::string path() const { return tmp_.path() + "/f"; }
  testing::TempDir tmp_;
  PosixFileSystem posix_;
  FaultInjectionFileSystem fs_;
};

TEST_F(FaultInjectionFileSystemTest, CrashRestoresEachFileToItsLastSync) {
  auto file = fs_.OpenWritable(path(), OpenMode::kTruncate);
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->PWrite(0, Bytes("hello world")));
  ASSERT_TRUE((*file)->Sync());
  ASSERT_TRUE((*file)->PWrite(0, Bytes("HELLO")));       // overwrite in place
  ASSERT_TRUE((*file)->PWrite(11, Bytes(" and more")));  // extend
  ASSERT_TRUE((*file)->Allocate(1000));
  EXPECT_EQ(Contents(posix_, path()).substr(0, 20), std::string("HELLO world and more"));
  ASSERT_TRUE(fs_.Crash());
  EXPECT_EQ(Contents(posix_, path()), "hello world");
}

TEST_F(FaultInjectionFileSystemTest, TearingCrashKeepsTheOldestUnsyncedWritesAndPartOfTheNext) {
  auto file = fs_.OpenWritable(path(), OpenMode::kTruncate);
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->PWrite(0, Bytes("synced.")));
  ASSERT_TRUE((*file)->Sync());
  ASSERT_TRUE((*file)->PWrite(7, Bytes("first.")));
  ASSERT_TRUE((*file)->PWrite(0, Bytes("SYNCED")));  // overwrite in place
  ASSERT_TRUE((*file)->PWrite(13, Bytes("third.")));
  std::vector<uint64_t> seen;
  ASSERT_TRUE(fs_.CrashTearing([&](const std::string& p, const std::vector<uint64_t>& op_bytes) {
    EXPECT_EQ(p, path());
    seen = op_bytes;
    return FaultInjectionFileSystem::Kept{1, 3};  // "first." whole, "SYN" of the overwrite
  }));
  EXPECT_EQ(seen, (std::vector<uint64_t>{6, 6, 6}));
  EXPECT_EQ(Contents(posix_, path()), "SYNced.first.");
  // What survived counts as synced: a plain crash now keeps it.
  ASSERT_TRUE((*file)->PWrite(13, Bytes("more")));
  ASSERT_TRUE(fs_.Crash());
  EXPECT_EQ(Contents(posix_, path()), "SYNced.first.");
}

TEST_F(FaultInjectionFileSystemTest, TearingCrashCutsAnAppendAndUndoesALaterTruncate) {
  auto file = fs_.OpenWritable(path(), OpenMode::kTruncate);
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->PWrite(0, Bytes("base")));
  ASSERT_TRUE((*file)->Sync());
  ASSERT_TRUE((*file)->PWrite(4, Bytes("-appended")));
  ASSERT_TRUE((*file)->Truncate(2));
  ASSERT_TRUE(fs_.CrashTearing([](const std::string&, const std::vector<uint64_t>& op_bytes) {
    EXPECT_EQ(op_bytes, (std::vector<uint64_t>{9, 0}));
    return FaultInjectionFileSystem::Kept{0, 4};
  }));
  EXPECT_EQ(Contents(posix_, path()), "base-app");
  ASSERT_TRUE((*file)->PWrite(8, Bytes("ended")));
  ASSERT_TRUE((*file)->Truncate(1));
  ASSERT_TRUE(fs_.CrashTearing([](const std::string&, const std::vector<uint64_t>&) {
    return FaultInjectionFileSystem::Kept{2, 0};  // both survive
  }));
  EXPECT_EQ(Contents(posix_, path()), "b");
}

TEST_F(FaultInjectionFileSystemTest, NthOperationFailsWithTheChosenErrno) {
  auto file = fs_.OpenWritable(path(), OpenMode::kTruncate);
  ASSERT_TRUE(file.has_value());
  fs_.FailNth(FaultOp::kWrite, 2, EIO);
  EXPECT_TRUE((*file)->PWrite(0, Bytes("a")));
  auto second = (*file)->PWrite(1, Bytes("b"));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), Errc::kIo);
  EXPECT_NE(second.error().message().find(path()), std::string::npos);
  EXPECT_TRUE((*file)->PWrite(1, Bytes("c")));
  fs_.FailNth(FaultOp::kSync, 1, EDQUOT);
  auto sync = (*file)->Sync();
  ASSERT_FALSE(sync.has_value());
  EXPECT_EQ(sync.error().code(), Errc::kNoSpace);
}

TEST_F(FaultInjectionFileSystemTest, FullDiskWritesWhatFitsThenFails) {
  auto file = fs_.OpenWritable(path(), OpenMode::kTruncate);
  ASSERT_TRUE(file.has_value());
  fs_.SetSpaceBudget(4);
  auto r = (*file)->PWrite(0, Bytes("abcdefgh"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNoSpace);
  EXPECT_EQ(Contents(posix_, path()), "abcd");
  fs_.SetReadOnly(true);
  auto ro = (*file)->Truncate(0);
  ASSERT_FALSE(ro.has_value());
  EXPECT_EQ(ro.error().code(), Errc::kReadOnly);
}

TEST(PosixFileSystemTest, MapsErrnoToErrorCodes) {
  EXPECT_EQ(ErrnoError(ENOSPC, "write", "/x").code(), Errc::kNoSpace);
  EXPECT_EQ(ErrnoError(EDQUOT, "write", "/x").code(), Errc::kNoSpace);
  EXPECT_EQ(ErrnoError(EROFS, "write", "/x").code(), Errc::kReadOnly);
  EXPECT_EQ(ErrnoError(EACCES, "open", "/x").code(), Errc::kReadOnly);
  EXPECT_EQ(ErrnoError(EIO, "fsync", "/x").code(), Errc::kIo);
  auto missing = PosixFileSystem::Default().OpenReadable("/nonexistent/telemq");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent/telemq"), std::string::npos);
}

}  // namespace
}  // namespace telemq::storage
