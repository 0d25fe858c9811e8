// MemoryFileSystem keeps the POSIX behaviours PartitionLog relies on, and
// FaultInjectionFileSystem crashes work on top of it as on a real disk.
#include "tests/sim/memory_file_system.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "broker/storage/fault_injection_file_system.h"

namespace telemq::sim {
namespace {

std::vector<std::byte> Bytes(const char* s) {
  std::vector<std::byte> out(std::strlen(s));
  std::memcpy(out.data(), s, out.size());
  return out;
}

std::string Contents(const storage::ReadableFile& file) {
  std::vector<std::byte> buf(4096);
  auto n = file.PRead(0, buf);
  EXPECT_TRUE(n.has_value());
  return std::string(reinterpret_cast<const char*>(buf.data()), n.value_or(0));
}

TEST(MemoryFileSystemTest, FilesNeedTheirDirectoryAndListSorted) {
  MemoryFileSystem fs;
  auto missing = fs.OpenWritable("/d/a", storage::OpenMode::kCreateOrOpen);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
  ASSERT_TRUE(fs.CreateDir("/d/sub"));
  for (const char* name : {"/d/b", "/d/a"}) ASSERT_TRUE(fs.OpenWritable(name, storage::OpenMode::kTruncate));
  auto names = fs.ListDir("/d");
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "sub"}));
  EXPECT_FALSE(fs.RemoveDir("/d").has_value()) << "not empty";
  EXPECT_EQ(fs.OpenWritable("/d/x", storage::OpenMode::kExisting).error().code(), Errc::kNotFound);
  EXPECT_TRUE(*fs.IsDirectory("/d/sub"));
  EXPECT_FALSE(*fs.Exists("/d/x"));
}

TEST(MemoryFileSystemTest, AnOpenFileOutlivesRemoveAndRenameAndTruncateEmptiesInPlace) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/d"));
  auto f = fs.OpenWritable("/d/f", storage::OpenMode::kTruncate);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE((*f)->PWrite(2, Bytes("xy")));
  EXPECT_EQ(*(*f)->Size(), 4u) << "a write past the end fills the gap with zeros";
  ASSERT_TRUE((*f)->Allocate(10));
  EXPECT_EQ(*fs.FileSize("/d/f"), 10u);
  ASSERT_TRUE((*f)->Truncate(4));
  ASSERT_TRUE(fs.Rename("/d/f", "/d/g"));
  ASSERT_TRUE((*f)->PWrite(0, Bytes("ab")));
  EXPECT_EQ(Contents(**fs.OpenReadable("/d/g")), "abxy") << "the handle follows the renamed file";
  auto again = fs.OpenWritable("/d/g", storage::OpenMode::kTruncate);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*(*f)->Size(), 0u) << "kTruncate empties the same file";
  ASSERT_TRUE((*f)->PWrite(0, Bytes("kept")));
  ASSERT_TRUE(fs.Remove("/d/g"));
  EXPECT_EQ(Contents(**f), "kept") << "a removed file stays readable through its handle";
  EXPECT_EQ(fs.Remove("/d/g").error().code(), Errc::kNotFound);
}

TEST(MemoryFileSystemTest, FaultInjectionCrashOnTopLosesUnsyncedWrites) {
  MemoryFileSystem disk;
  storage::FaultInjectionFileSystem fs(disk);
  ASSERT_TRUE(fs.CreateDir("/d"));
  auto f = fs.OpenWritable("/d/f", storage::OpenMode::kTruncate);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE((*f)->PWrite(0, Bytes("synced")));
  ASSERT_TRUE((*f)->Sync());
  ASSERT_TRUE((*f)->PWrite(6, Bytes("+lost")));
  ASSERT_TRUE(fs.Crash());
  EXPECT_EQ(Contents(**disk.OpenReadable("/d/f")), "synced");
}

}  // namespace
}  // namespace telemq::sim
