#pragma once
// The storage module's only door to the operating system's file API, so that
// tests can swap in a fault-injecting twin (fault_injection_file_system.h).
//
// Promises: every call returns a Result; errno is mapped once, here
// (ENOSPC/EDQUOT -> kNoSpace, EROFS/EACCES/EPERM -> kReadOnly, ENOENT ->
// kNotFound, anything else -> kIo) with the path and strerror in the message.
// Thread-safety: FileSystem implementations are thread-safe; a file object may
// be read (PRead) from many threads at once, while writes to one file must be
// serialised by its owner (PartitionLog's mutex does that). Ownership: files
// are handed out as shared_ptr and close their descriptor when the last owner
// lets go, so a reader can finish with a segment that retention has deleted.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::storage {

// Maps an errno value to an Error: "<what> <path>: <strerror>".
Error ErrnoError(int err, std::string_view what, std::string_view path);

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to out.size() bytes at `position`; fewer only at end of file.
  [[nodiscard]] virtual Result<size_t> PRead(uint64_t position, std::span<std::byte> out) const = 0;
  // Current size of the file in bytes (preallocated bytes included).
  [[nodiscard]] virtual Result<uint64_t> Size() const = 0;
  // The POSIX descriptor for sendfile, or -1 when the file is not a real one.
  virtual int NativeHandle() const = 0;
  virtual const std::string& path() const = 0;
};

class WritableFile : public ReadableFile {
 public:
  // Writes all of `data` at `position` (retrying short writes and EINTR).
  // On error some prefix of `data` may have reached the file.
  [[nodiscard]] virtual Result<void> PWrite(uint64_t position, std::span<const std::byte> data) = 0;
  // Reserves disk blocks so that [0, size_bytes) is allocated; the file size
  // grows to size_bytes and the new bytes read as zeros (fallocate mode 0).
  [[nodiscard]] virtual Result<void> Allocate(uint64_t size_bytes) = 0;
  [[nodiscard]] virtual Result<void> Truncate(uint64_t size_bytes) = 0;
  // fdatasync: data and the metadata needed to read it back (size) are durable.
  [[nodiscard]] virtual Result<void> Sync() = 0;
};

enum class OpenMode {
  kCreateOrOpen,  // create if absent, keep the contents otherwise
  kTruncate,      // create if absent, empty it otherwise
  kExisting,      // fail with kNotFound if absent
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  [[nodiscard]] virtual Result<std::shared_ptr<WritableFile>> OpenWritable(const std::string& path, OpenMode mode) = 0;
  [[nodiscard]] virtual Result<std::shared_ptr<ReadableFile>> OpenReadable(const std::string& path) = 0;
  // Atomic replacement of `to` (rename(2)).
  [[nodiscard]] virtual Result<void> Rename(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual Result<void> Remove(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", unsorted.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; success if it already exists.
  [[nodiscard]] virtual Result<void> CreateDir(const std::string& dir) = 0;
  // Removes an empty directory.
  [[nodiscard]] virtual Result<void> RemoveDir(const std::string& dir) = 0;
  // Makes creations, renames and removals inside `dir` durable.
  [[nodiscard]] virtual Result<void> SyncDir(const std::string& dir) = 0;
  [[nodiscard]] virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  [[nodiscard]] virtual Result<bool> Exists(const std::string& path) = 0;
  [[nodiscard]] virtual Result<bool> IsDirectory(const std::string& path) = 0;
};

// The real thing: POSIX calls on Linux (fallocate, fdatasync, pread/pwrite).
class PosixFileSystem final : public FileSystem {
 public:
  PosixFileSystem() = default;
  // A process-wide instance; PosixFileSystem has no state.
  static PosixFileSystem& Default();

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
};

// fdatasyncs `file`; a failure aborts the process (STYLE.md: after a failed
// fsync the kernel may have dropped the dirty pages and cleared the error,
// so a retry could report success for data that is gone).
void SyncOrDie(WritableFile& file);

// Makes `path` hold exactly `bytes`, atomically across a crash: writes
// `path` + ".tmp" (a name PartitionLog::Open deletes as an unfinished
// write), fdatasyncs it (SyncOrDie) and renames it over `path`. On a failed
// write the temp file is removed and the old file stays. The caller syncs the
// directory to make the rename itself durable.
[[nodiscard]] Result<void> ReplaceFileAtomically(FileSystem& fs, const std::string& path,
                                                 std::span<const std::byte> bytes);

// Removes every file in `dir` and then `dir` itself (one level: partition
// directories hold no subdirectories). Missing `dir` is success.
[[nodiscard]] Result<void> RemoveDirRecursively(FileSystem& fs, const std::string& dir);

}  // namespace telemq::storage
