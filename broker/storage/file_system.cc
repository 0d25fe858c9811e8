#include "broker/storage/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "broker/storage/storage_format.h"
#include "telemq/common/check.h"

namespace telemq::storage {

void SyncOrDie(WritableFile& file) {
  auto r = file.Sync();
  if (!r) {
    std::fprintf(stderr, "telemq: fdatasync of %s failed, data may be lost; aborting so recovery runs: %s\n",
                 file.path().c_str(), r.error().ToString().c_str());
  }
  TELEMQ_CHECK(r.has_value(), "fdatasync failed");
}

Result<void> ReplaceFileAtomically(FileSystem& fs, const std::string& path, std::span<const std::byte> bytes) {
  const std::string tmp = path + std::string(format::kTempSuffix);
  TELEMQ_ASSIGN_OR_RETURN(auto file, fs.OpenWritable(tmp, OpenMode::kTruncate));
  auto written = file->PWrite(0, bytes);
  if (!written) {
    file.reset();
    IgnoreError(fs.Remove(tmp), "reporting the write error instead");
    return tl::unexpected(written.error());
  }
  SyncOrDie(*file);
  return fs.Rename(tmp, path);
}

Error ErrnoError(int err, std::string_view what, std::string_view path) {
  Errc code = Errc::kIo;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:  // past RLIMIT_FSIZE or the file system's largest file: no room for it either way
      code = Errc::kNoSpace;
      break;
    case EROFS:
    case EACCES:
    case EPERM: code = Errc::kReadOnly; break;
    case ENOENT: code = Errc::kNotFound; break;
    default: break;
  }
  std::string msg(what);
  msg += ' ';
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  return Error(code, std::move(msg));
}

namespace {

tl::unexpected<Error> FailErrno(std::string_view what, std::string_view path) {
  return tl::unexpected<Error>(ErrnoError(errno, what, path));
}

class PosixFile final : public WritableFile {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;
  ~PosixFile() override { ::close(fd_); }

  Result<size_t> PRead(uint64_t position, std::span<std::byte> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(position + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return FailErrno("pread", path_);
      }
      if (n == 0) break;  // end of file
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return FailErrno("fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  int NativeHandle() const override { return fd_; }
  const std::string& path() const override { return path_; }

  Result<void> PWrite(uint64_t position, std::span<const std::byte> data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(position + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return FailErrno("pwrite", path_);
      }
      done += static_cast<size_t>(n);
    }
    return Ok();
  }

  Result<void> Allocate(uint64_t size_bytes) override {
    int rc;
    do {
      rc = ::fallocate(fd_, 0, 0, static_cast<off_t>(size_bytes));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return Ok();
    if (errno == EOPNOTSUPP) {
      // tmpfs and some network file systems: fall back to growing the file,
      // which keeps the "size grows, tail reads as zeros" contract.
      TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, Size());
      if (size >= size_bytes) return Ok();
      if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) return FailErrno("ftruncate", path_);
      return Ok();
    }
    return FailErrno("fallocate", path_);
  }

  Result<void> Truncate(uint64_t size_bytes) override {
    if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) return FailErrno("ftruncate", path_);
    return Ok();
  }

  Result<void> Sync() override {
    if (::fdatasync(fd_) != 0) return FailErrno("fdatasync", path_);
    return Ok();
  }

 private:
  const int fd_;
  const std::string path_;
};

}  // namespace

PosixFileSystem& PosixFileSystem::Default() {
  static PosixFileSystem fs;
  return fs;
}

Result<std::shared_ptr<WritableFile>> PosixFileSystem::OpenWritable(const std::string& path, OpenMode mode) {
  int flags = O_RDWR | O_CLOEXEC;
  if (mode == OpenMode::kCreateOrOpen) flags |= O_CREAT;
  if (mode == OpenMode::kTruncate) flags |= O_CREAT | O_TRUNC;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return FailErrno("open", path);
  return std::make_shared<PosixFile>(fd, path);
}

Result<std::shared_ptr<ReadableFile>> PosixFileSystem::OpenReadable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailErrno("open", path);
  return std::make_shared<PosixFile>(fd, path);
}

Result<void> PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return FailErrno("rename", from + " -> " + to);
  return Ok();
}

Result<void> PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return FailErrno("unlink", path);
  return Ok();
}

Result<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return FailErrno("opendir", dir);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return tl::unexpected<Error>(ErrnoError(err, "readdir", dir));
  return names;
}

Result<void> PosixFileSystem::CreateDir(const std::string& dir) {
  // mkdir -p: create each missing component in turn.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return FailErrno("mkdir", part);
  }
  TELEMQ_ASSIGN_OR_RETURN(const bool is_dir, IsDirectory(dir));
  if (!is_dir) return Fail(Errc::kIo, "mkdir " + dir + ": exists and is not a directory");
  return Ok();
}

Result<void> PosixFileSystem::RemoveDir(const std::string& dir) {
  if (::rmdir(dir.c_str()) != 0) return FailErrno("rmdir", dir);
  return Ok();
}

Result<void> PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailErrno("open", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return tl::unexpected<Error>(ErrnoError(err, "fsync", dir));
  return Ok();
}

Result<uint64_t> PosixFileSystem::FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FailErrno("stat", path);
  return static_cast<uint64_t>(st.st_size);
}

Result<bool> PosixFileSystem::Exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return FailErrno("stat", path);
}

Result<bool> PosixFileSystem::IsDirectory(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  if (errno == ENOENT) return false;
  return FailErrno("stat", path);
}

Result<void> RemoveDirRecursively(FileSystem& fs, const std::string& dir) {
  TELEMQ_ASSIGN_OR_RETURN(const bool exists, fs.Exists(dir));
  if (!exists) return Ok();
  TELEMQ_ASSIGN_OR_RETURN(const auto names, fs.ListDir(dir));
  for (const auto& name : names) TELEMQ_TRY(fs.Remove(dir + "/" + name));
  return fs.RemoveDir(dir);
}

}  // namespace telemq::storage
