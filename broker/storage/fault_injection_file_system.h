#pragma once
// A FileSystem wrapper for tests that makes the failures real disks have
// happen on purpose (the RocksDB FaultInjectionFileSystem idea):
//   * fail the Nth write / sync / allocate / truncate with a chosen errno,
//   * a full disk: writes and allocations fail with ENOSPC once more than a
//     budget of bytes has been written (a write that crosses the budget is
//     partial: the bytes that fit reach the file, like a real short write),
//   * read-only: every mutation fails with EROFS,
//   * Crash(): every file written through this wrapper goes back to its
//     content at its last successful Sync() (data written after it is lost,
//     preallocation included),
//   * CrashTearing(): a power loss that cut the disk mid-way: per file, the
//     oldest unsynced writes (and truncations) survive in order, the next
//     write survives in part (torn), the rest is lost.
// It also counts syncs, so tests can see group commit at work.
// Thread-safe (one internal mutex). Files opened through it must be opened
// through it for Crash() to know about them.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"

namespace telemq::storage {

enum class FaultOp { kWrite, kSync, kAllocate, kTruncate };

class FaultInjectionFileSystem final : public FileSystem {
 public:
  explicit FaultInjectionFileSystem(FileSystem& base) : base_(base) {}
  FaultInjectionFileSystem(const FaultInjectionFileSystem&) = delete;
  FaultInjectionFileSystem& operator=(const FaultInjectionFileSystem&) = delete;

  // The nth (1-based) next operation of kind `op` fails with `err`.
  void FailNth(FaultOp op, int nth, int err);
  // After `bytes` more bytes written or allocated, fail with ENOSPC.
  void SetSpaceBudget(uint64_t bytes);
  void SetReadOnly(bool read_only);
  // Removes every armed fault, the space budget and read-only mode.
  void ClearFaults();
  // Rolls every file back to its state at its last successful Sync().
  [[nodiscard]] Result<void> Crash();

  // How much of one file's unsynced operations (PWrite and Truncate since its
  // last Sync, oldest first) a CrashTearing keeps: the first `whole_ops`
  // entirely, then, if the next one is a PWrite, its first `torn_bytes`
  // bytes; everything later is undone. {0, 0} is what Crash() does.
  struct Kept {
    size_t whole_ops = 0;
    uint64_t torn_bytes = 0;
  };
  // Crash() where `keep(path, op_bytes)` decides, per file with unsynced
  // operations, what survives; op_bytes[i] is the length of unsynced
  // operation i if it is a PWrite, 0 for a Truncate. The file's size becomes
  // what it was after the kept operations (the synced size if none is kept).
  // Called in path order, so a seeded `keep` makes a deterministic crash.
  using KeepFn = std::function<Kept(const std::string& path, const std::vector<uint64_t>& op_bytes)>;
  [[nodiscard]] Result<void> CrashTearing(const KeepFn& keep);
  int64_t sync_count() const { return sync_count_.load(); }

  Result<std::shared_ptr<WritableFile>> OpenWritable(const std::string& path, OpenMode mode) override;
  Result<std::shared_ptr<ReadableFile>> OpenReadable(const std::string& path) override;
  Result<void> Rename(const std::string& from, const std::string& to) override;
  Result<void> Remove(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Result<void> CreateDir(const std::string& dir) override;
  Result<void> RemoveDir(const std::string& dir) override;
  Result<void> SyncDir(const std::string& dir) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<bool> IsDirectory(const std::string& path) override;

 private:
  friend class FaultFile;
  struct Undo {
    uint64_t position;
    std::vector<std::byte> old_bytes;  // what was at position (up to the old end of file)
    uint64_t written_bytes;            // bytes the PWrite wrote; 0 for a Truncate
    uint64_t size_before;              // file size before the operation
  };
  // What a file looked like at its last sync, as an undo log since then.
  struct FileState {
    uint64_t synced_size = 0;
    std::vector<Undo> undo;
  };

  // Returns an errno to fail with, or 0. Consumes armed faults.
  int CheckFault(FaultOp op);
  // How many of `want` bytes may still be written (space budget).
  uint64_t TakeSpace(uint64_t want);
  void RecordUndo(const std::string& path, Undo undo);
  void MarkSynced(const std::string& path, uint64_t size);

  FileSystem& base_;
  std::mutex mu_;
  std::map<std::string, FileState> files_;  // GUARDED_BY(mu_)
  int fail_countdown_[4] = {0, 0, 0, 0};    // GUARDED_BY(mu_)
  int fail_errno_[4] = {0, 0, 0, 0};        // GUARDED_BY(mu_)
  bool has_budget_ = false;                 // GUARDED_BY(mu_)
  uint64_t budget_bytes_ = 0;               // GUARDED_BY(mu_)
  bool read_only_ = false;                  // GUARDED_BY(mu_)
  std::atomic<int64_t> sync_count_{0};
};

}  // namespace telemq::storage
