#include "tests/sim/memory_file_system.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace telemq::sim {

struct MemoryFileSystem::Inode {
  mutable std::mutex mu;
  std::vector<std::byte> data;  // GUARDED_BY(mu)
};

namespace {

tl::unexpected<Error> Fail(int err, std::string_view what, std::string_view path) {
  return tl::unexpected<Error>(storage::ErrnoError(err, what, path));
}

class MemoryFile final : public storage::WritableFile {
 public:
  MemoryFile(std::shared_ptr<MemoryFileSystem::Inode> inode, std::string path)
      : inode_(std::move(inode)), path_(std::move(path)) {}

  Result<size_t> PRead(uint64_t position, std::span<std::byte> out) const override {
    std::lock_guard lock(inode_->mu);
    const auto& d = inode_->data;
    if (position >= d.size()) return size_t{0};
    const size_t n = std::min<size_t>(out.size(), d.size() - position);
    std::memcpy(out.data(), d.data() + position, n);
    return n;
  }
  Result<uint64_t> Size() const override {
    std::lock_guard lock(inode_->mu);
    return static_cast<uint64_t>(inode_->data.size());
  }
  int NativeHandle() const override { return -1; }
  const std::string& path() const override { return path_; }

  Result<void> PWrite(uint64_t position, std::span<const std::byte> data) override {
    std::lock_guard lock(inode_->mu);
    auto& d = inode_->data;
    if (d.size() < position + data.size()) d.resize(position + data.size());
    if (!data.empty()) std::memcpy(d.data() + position, data.data(), data.size());
    return Ok();
  }
  Result<void> Allocate(uint64_t size_bytes) override {
    std::lock_guard lock(inode_->mu);
    if (inode_->data.size() < size_bytes) inode_->data.resize(size_bytes);
    return Ok();
  }
  Result<void> Truncate(uint64_t size_bytes) override {
    std::lock_guard lock(inode_->mu);
    inode_->data.resize(size_bytes);
    return Ok();
  }
  Result<void> Sync() override { return Ok(); }

 private:
  std::shared_ptr<MemoryFileSystem::Inode> inode_;
  std::string path_;
};

}  // namespace

std::string MemoryFileSystem::Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

Result<std::shared_ptr<storage::WritableFile>> MemoryFileSystem::OpenWritable(const std::string& path,
                                                                              storage::OpenMode mode) {
  std::lock_guard lock(mu_);
  if (dirs_.count(path)) return Fail(EISDIR, "open", path);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (mode == storage::OpenMode::kExisting) return Fail(ENOENT, "open", path);
    if (!dirs_.count(Parent(path))) return Fail(ENOENT, "open", path);
    it = files_.emplace(path, std::make_shared<Inode>()).first;
  } else if (mode == storage::OpenMode::kTruncate) {
    std::lock_guard file_lock(it->second->mu);
    it->second->data.clear();
  }
  return std::make_shared<MemoryFile>(it->second, path);
}

Result<std::shared_ptr<storage::ReadableFile>> MemoryFileSystem::OpenReadable(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Fail(ENOENT, "open", path);
  return std::make_shared<MemoryFile>(it->second, path);
}

Result<void> MemoryFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return Fail(ENOENT, "rename", from);
  if (!dirs_.count(Parent(to))) return Fail(ENOENT, "rename", to);
  auto inode = it->second;
  files_.erase(it);
  files_[to] = std::move(inode);
  return Ok();
}

Result<void> MemoryFileSystem::Remove(const std::string& path) {
  std::lock_guard lock(mu_);
  if (files_.erase(path) == 0) return Fail(ENOENT, "unlink", path);
  return Ok();
}

Result<std::vector<std::string>> MemoryFileSystem::ListDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (!dirs_.count(dir)) return Fail(ENOENT, "opendir", dir);
  std::vector<std::string> names;
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  auto child = [&](const std::string& p) {
    if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
        p.find('/', prefix.size()) == std::string::npos) {
      names.push_back(p.substr(prefix.size()));
    }
  };
  for (const auto& [p, inode] : files_) child(p);
  for (const auto& d : dirs_) child(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<void> MemoryFileSystem::CreateDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  for (std::string d = dir; d != "/" && !d.empty(); d = Parent(d)) {
    if (files_.count(d)) return Fail(ENOTDIR, "mkdir", d);
    dirs_.insert(d);
  }
  return Ok();
}

Result<void> MemoryFileSystem::RemoveDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (!dirs_.count(dir)) return Fail(ENOENT, "rmdir", dir);
  const std::string prefix = dir + "/";
  auto inside = [&](const std::string& p) { return p.compare(0, prefix.size(), prefix) == 0; };
  if (std::any_of(files_.begin(), files_.end(), [&](const auto& f) { return inside(f.first); }) ||
      std::any_of(dirs_.begin(), dirs_.end(), inside)) {
    return Fail(ENOTEMPTY, "rmdir", dir);
  }
  dirs_.erase(dir);
  return Ok();
}

Result<void> MemoryFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (!dirs_.count(dir)) return Fail(ENOENT, "open", dir);
  return Ok();
}

Result<uint64_t> MemoryFileSystem::FileSize(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Fail(ENOENT, "stat", path);
  std::lock_guard file_lock(it->second->mu);
  return static_cast<uint64_t>(it->second->data.size());
}

Result<bool> MemoryFileSystem::Exists(const std::string& path) {
  std::lock_guard lock(mu_);
  return files_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<bool> MemoryFileSystem::IsDirectory(const std::string& path) {
  std::lock_guard lock(mu_);
  return dirs_.count(path) > 0;
}

uint64_t MemoryFileSystem::total_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [p, inode] : files_) {
    std::lock_guard file_lock(inode->mu);
    total += inode->data.size();
  }
  return total;
}

}  // namespace telemq::sim
