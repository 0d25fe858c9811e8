#pragma once
// HardStateStore: the durable Raft hard state (current term, vote) of one
// partition replica, the file `raft_state` in the partition directory
// (format: replication_format.h, docs/log-format.md §5b).
//
// Promises: Save is durable and atomic when it returns (write a temp file,
// fdatasync, rename over the old one, fsync the directory), so after a crash
// Load returns the last saved state or, if the crash came before the rename,
// the one before. A damaged file (torn, flipped bits, wrong magic or version)
// is never read as "no vote": Load fails with kCorrupt, because a replica
// that forgot its vote could vote twice in one term (Raft §5.2). A failed
// fdatasync aborts the process (STYLE.md).
// Thread-safety: none; owned by the partition's executor. Ownership: borrows
// the FileSystem, which must outlive it.

#include <string>
#include <string_view>

#include "broker/raft/types.h"
#include "broker/storage/file_system.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::replication {

class HardStateStore {
 public:
  // `dir` is the partition directory; it must exist before Save. The file
  // is `raft_state` unless `file_name` names another (the abstention marker,
  // replication_format.h, uses the same layout).
  HardStateStore(storage::FileSystem& fs, std::string dir);
  HardStateStore(storage::FileSystem& fs, std::string dir, std::string_view file_name);
  HardStateStore(const HardStateStore&) = delete;
  HardStateStore& operator=(const HardStateStore&) = delete;

  // The last saved state; HardState{} when none was ever saved (no file).
  // kCorrupt (with the path and what is wrong) for a damaged file.
  [[nodiscard]] Result<raft::HardState> Load() const;
  // Durably replaces the saved state.
  [[nodiscard]] Result<void> Save(const raft::HardState& state);

  // A log holding entries of term T was written by a node whose current term
  // was >= T, saved before the entries (RaftLog::Persist's order). So a
  // state with term < `last_log_term` means the hard state was lost (file
  // deleted, directory restored from elsewhere): kCorrupt rather than
  // starting again with no memory of votes.
  [[nodiscard]] static Result<void> CheckAgainstLog(const raft::HardState& state, Term last_log_term);

  const std::string& path() const { return path_; }

 private:
  storage::FileSystem& fs_;
  std::string dir_;
  std::string path_;
};

}  // namespace telemq::replication
