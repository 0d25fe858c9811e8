#include "broker/storage/fault_injection_file_system.h"

#include <algorithm>
#include <cerrno>

namespace telemq::storage {

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultInjectionFileSystem& fs, std::shared_ptr<WritableFile> base) : fs_(fs), base_(std::move(base)) {}

  Result<size_t> PRead(uint64_t position, std::span<std::byte> out) const override {
    return base_->PRead(position, out);
  }
  Result<uint64_t> Size() const override { return base_->Size(); }
  int NativeHandle() const override { return base_->NativeHandle(); }
  const std::string& path() const override { return base_->path(); }

  Result<void> PWrite(uint64_t position, std::span<const std::byte> data) override {
    if (const int err = fs_.CheckFault(FaultOp::kWrite)) return tl::unexpected(ErrnoError(err, "pwrite", path()));
    const uint64_t allowed = fs_.TakeSpace(data.size());
    TELEMQ_TRY(SaveOldBytes(position, allowed, allowed));
    TELEMQ_TRY(base_->PWrite(position, data.first(allowed)));
    if (allowed < data.size()) return tl::unexpected(ErrnoError(ENOSPC, "pwrite", path()));
    return Ok();
  }

  Result<void> Allocate(uint64_t size_bytes) override {
    if (const int err = fs_.CheckFault(FaultOp::kAllocate)) {
      return tl::unexpected(ErrnoError(err, "fallocate", path()));
    }
    TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, base_->Size());
    if (size_bytes > size) {
      const uint64_t want = size_bytes - size;
      if (fs_.TakeSpace(want) < want) return tl::unexpected(ErrnoError(ENOSPC, "fallocate", path()));
    }
    return base_->Allocate(size_bytes);
  }

  Result<void> Truncate(uint64_t size_bytes) override {
    if (const int err = fs_.CheckFault(FaultOp::kTruncate)) {
      return tl::unexpected(ErrnoError(err, "ftruncate", path()));
    }
    TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, base_->Size());
    if (size_bytes < size) TELEMQ_TRY(SaveOldBytes(size_bytes, size - size_bytes, 0));
    return base_->Truncate(size_bytes);
  }

  Result<void> Sync() override {
    if (const int err = fs_.CheckFault(FaultOp::kSync)) return tl::unexpected(ErrnoError(err, "fdatasync", path()));
    TELEMQ_TRY(base_->Sync());
    fs_.sync_count_.fetch_add(1);
    TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, base_->Size());
    fs_.MarkSynced(path(), size);
    return Ok();
  }

 private:
  // Before a PWrite of `written` bytes (or a Truncate: 0) changes `length`
  // bytes at `position`.
  Result<void> SaveOldBytes(uint64_t position, uint64_t length, uint64_t written) {
    TELEMQ_ASSIGN_OR_RETURN(const uint64_t size_before, base_->Size());
    std::vector<std::byte> old(length);
    TELEMQ_ASSIGN_OR_RETURN(const size_t n, base_->PRead(position, old));
    old.resize(n);  // bytes beyond the old end need no undo: the crash truncates them
    fs_.RecordUndo(path(), FaultInjectionFileSystem::Undo{position, std::move(old), written, size_before});
    return Ok();
  }

  FaultInjectionFileSystem& fs_;
  std::shared_ptr<WritableFile> base_;
};

void FaultInjectionFileSystem::FailNth(FaultOp op, int nth, int err) {
  std::lock_guard lock(mu_);
  fail_countdown_[static_cast<int>(op)] = nth;
  fail_errno_[static_cast<int>(op)] = err;
}

void FaultInjectionFileSystem::SetSpaceBudget(uint64_t bytes) {
  std::lock_guard lock(mu_);
  has_budget_ = true;
  budget_bytes_ = bytes;
}

void FaultInjectionFileSystem::SetReadOnly(bool read_only) {
  std::lock_guard lock(mu_);
  read_only_ = read_only;
}

void FaultInjectionFileSystem::ClearFaults() {
  std::lock_guard lock(mu_);
  std::fill(std::begin(fail_countdown_), std::end(fail_countdown_), 0);
  has_budget_ = false;
  read_only_ = false;
}

int FaultInjectionFileSystem::CheckFault(FaultOp op) {
  std::lock_guard lock(mu_);
  if (read_only_) return EROFS;
  int& countdown = fail_countdown_[static_cast<int>(op)];
  if (countdown > 0 && --countdown == 0) return fail_errno_[static_cast<int>(op)];
  return 0;
}

uint64_t FaultInjectionFileSystem::TakeSpace(uint64_t want) {
  std::lock_guard lock(mu_);
  if (!has_budget_) return want;
  const uint64_t allowed = std::min(want, budget_bytes_);
  budget_bytes_ -= allowed;
  return allowed;
}

void FaultInjectionFileSystem::RecordUndo(const std::string& path, Undo undo) {
  std::lock_guard lock(mu_);
  files_[path].undo.push_back(std::move(undo));
}

void FaultInjectionFileSystem::MarkSynced(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  FileState& st = files_[path];
  st.synced_size = size;
  st.undo.clear();
}

Result<void> FaultInjectionFileSystem::Crash() {
  return CrashTearing([](const std::string&, const std::vector<uint64_t>&) { return Kept{}; });
}

Result<void> FaultInjectionFileSystem::CrashTearing(const KeepFn& keep) {
  std::lock_guard lock(mu_);
  for (auto& [path, st] : files_) {
    TELEMQ_ASSIGN_OR_RETURN(const bool exists, base_.Exists(path));
    if (!exists) continue;
    const size_t n = st.undo.size();
    Kept kept;
    if (n > 0) {
      std::vector<uint64_t> op_bytes;
      op_bytes.reserve(n);
      for (const auto& u : st.undo) op_bytes.push_back(u.written_bytes);
      kept = keep(path, op_bytes);
    }
    const size_t k = std::min(kept.whole_ops, n);
    const uint64_t torn = k < n ? std::min(kept.torn_bytes, st.undo[k].written_bytes) : 0;
    TELEMQ_ASSIGN_OR_RETURN(auto file, base_.OpenWritable(path, OpenMode::kExisting));
    // Undo newest first down to operation k; of a torn write, only the bytes
    // past what survived.
    for (size_t i = n; i-- > k;) {
      const Undo& u = st.undo[i];
      const uint64_t skip = i == k ? std::min<uint64_t>(torn, u.old_bytes.size()) : 0;
      TELEMQ_TRY(file->PWrite(u.position + skip, std::span(u.old_bytes).subspan(skip)));
    }
    if (k == n) {
      // Everything kept: the size stays (preallocation included).
    } else if (k == 0 && torn == 0) {
      TELEMQ_TRY(file->Truncate(st.synced_size));
    } else {
      const Undo& u = st.undo[k];
      TELEMQ_TRY(file->Truncate(torn > 0 ? std::max(u.size_before, u.position + torn) : u.size_before));
    }
    // What survived is now what is on the platter.
    TELEMQ_ASSIGN_OR_RETURN(st.synced_size, file->Size());
    st.undo.clear();
  }
  return Ok();
}

Result<std::shared_ptr<WritableFile>> FaultInjectionFileSystem::OpenWritable(const std::string& path, OpenMode mode) {
  {
    std::lock_guard lock(mu_);
    if (read_only_ && mode != OpenMode::kExisting) return tl::unexpected(ErrnoError(EROFS, "open", path));
  }
  TELEMQ_ASSIGN_OR_RETURN(const bool existed, base_.Exists(path));
  uint64_t old_size = 0;
  if (existed) {
    TELEMQ_ASSIGN_OR_RETURN(old_size, base_.FileSize(path));
  }
  TELEMQ_ASSIGN_OR_RETURN(auto file, base_.OpenWritable(path, mode));
  {
    std::lock_guard lock(mu_);
    if (files_.find(path) == files_.end()) {
      // A file we have not seen counts as synced as it is now; a new one as
      // empty (its directory entry is kept: Crash() models lost data, not
      // lost names).
      files_[path].synced_size = existed ? old_size : 0;
    }
  }
  return std::make_shared<FaultFile>(*this, std::move(file));
}

Result<std::shared_ptr<ReadableFile>> FaultInjectionFileSystem::OpenReadable(const std::string& path) {
  return base_.OpenReadable(path);
}

Result<void> FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  {
    std::lock_guard lock(mu_);
    if (read_only_) return tl::unexpected(ErrnoError(EROFS, "rename", from));
    auto it = files_.find(from);
    if (it != files_.end()) {
      files_[to] = std::move(it->second);
      files_.erase(from);
    } else {
      files_.erase(to);
    }
  }
  return base_.Rename(from, to);
}

Result<void> FaultInjectionFileSystem::Remove(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (read_only_) return tl::unexpected(ErrnoError(EROFS, "unlink", path));
    files_.erase(path);
  }
  return base_.Remove(path);
}

Result<std::vector<std::string>> FaultInjectionFileSystem::ListDir(const std::string& dir) {
  return base_.ListDir(dir);
}

Result<void> FaultInjectionFileSystem::CreateDir(const std::string& dir) {
  {
    std::lock_guard lock(mu_);
    if (read_only_) return tl::unexpected(ErrnoError(EROFS, "mkdir", dir));
  }
  return base_.CreateDir(dir);
}

Result<void> FaultInjectionFileSystem::RemoveDir(const std::string& dir) { return base_.RemoveDir(dir); }

// Directory syncs do not consume kSync faults: those target data syncs.
Result<void> FaultInjectionFileSystem::SyncDir(const std::string& dir) { return base_.SyncDir(dir); }

Result<uint64_t> FaultInjectionFileSystem::FileSize(const std::string& path) { return base_.FileSize(path); }
Result<bool> FaultInjectionFileSystem::Exists(const std::string& path) { return base_.Exists(path); }
Result<bool> FaultInjectionFileSystem::IsDirectory(const std::string& path) { return base_.IsDirectory(path); }

}  // namespace telemq::storage
