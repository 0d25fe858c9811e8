#pragma once
// MemoryFileSystem: a storage::FileSystem that keeps every file in memory, for
// the replica simulation (tests/sim/replica_sim.cc) and any test that wants a
// disk with no I/O and no cleanup. Wrap it in storage::FaultInjectionFileSystem
// to lose unsynced writes on a simulated crash: this class itself treats every
// write as durable at once (it is the "platter").
//
// Semantics follow POSIX where PartitionLog relies on them: an open file keeps
// its contents after Remove or a Rename over it (the handle owns the inode),
// OpenMode::kTruncate empties the existing inode in place, files need their
// parent directory, ListDir lists files and subdirectories (sorted, so runs
// are deterministic), RemoveDir needs an empty directory. NativeHandle() is -1.
// Errors carry the same codes as PosixFileSystem (ErrnoError).
// Thread-safe: one mutex for the namespace, one per file for its bytes.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"

namespace telemq::sim {

class MemoryFileSystem final : public storage::FileSystem {
 public:
  MemoryFileSystem() = default;
  MemoryFileSystem(const MemoryFileSystem&) = delete;
  MemoryFileSystem& operator=(const MemoryFileSystem&) = delete;

  Result<std::shared_ptr<storage::WritableFile>> OpenWritable(const std::string& path, storage::OpenMode mode) override;
  Result<std::shared_ptr<storage::ReadableFile>> OpenReadable(const std::string& path) override;
  Result<void> Rename(const std::string& from, const std::string& to) override;
  Result<void> Remove(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Result<void> CreateDir(const std::string& dir) override;
  Result<void> RemoveDir(const std::string& dir) override;
  Result<void> SyncDir(const std::string& dir) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<bool> IsDirectory(const std::string& path) override;

  // Bytes held by all files (for tests of the simulation itself).
  uint64_t total_bytes() const;

  struct Inode;

 private:
  static std::string Parent(const std::string& path);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Inode>> files_;  // GUARDED_BY(mu_)
  std::set<std::string> dirs_{"/"};                      // GUARDED_BY(mu_)
};

}  // namespace telemq::sim
