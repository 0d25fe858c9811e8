#include "broker/replication/hard_state_store.h"

#include <xxhash.h>

#include <vector>

#include "broker/replication/replication_format.h"
#include "telemq/common/check.h"
#include "telemq/wire/endian.h"

namespace telemq::replication {

namespace f = format;
using wire::LoadLE;
using wire::StoreLE;

HardStateStore::HardStateStore(storage::FileSystem& fs, std::string dir)
    : HardStateStore(fs, std::move(dir), f::kHardStateFileName) {}

HardStateStore::HardStateStore(storage::FileSystem& fs, std::string dir, std::string_view file_name)
    : fs_(fs), dir_(std::move(dir)), path_(dir_ + "/" + std::string(file_name)) {}

Result<raft::HardState> HardStateStore::Load() const {
  TELEMQ_ASSIGN_OR_RETURN(const bool exists, fs_.Exists(path_));
  if (!exists) return raft::HardState{};
  TELEMQ_ASSIGN_OR_RETURN(auto file, fs_.OpenReadable(path_));
  TELEMQ_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  auto corrupt = [&](const std::string& what) {
    return Fail(Errc::kCorrupt, path_ + ": " + what +
                                    "; refusing to start without the Raft term and vote (a replica that forgot "
                                    "its vote could vote twice in one term). Remove the partition directory to "
                                    "replicate it again from the others");
  };
  if (size != f::kHardStateSize) {
    return corrupt("size " + std::to_string(size) + " bytes, expected " + std::to_string(f::kHardStateSize));
  }
  std::vector<std::byte> b(f::kHardStateSize);
  TELEMQ_ASSIGN_OR_RETURN(const size_t n, file->PRead(0, b));
  if (n != b.size()) return corrupt("short read");
  if (LoadLE<uint64_t>(b.data() + f::kHardStateChecksum) != XXH3_64bits(b.data(), f::kHardStateChecksum)) {
    return corrupt("checksum mismatch");
  }
  if (LoadLE<uint64_t>(b.data() + f::kHardStateMagicAt) != f::kHardStateMagic) return corrupt("bad magic");
  const uint32_t version = LoadLE<uint32_t>(b.data() + f::kHardStateVersion);
  if (version != f::kHardStateVersionV1) return corrupt("unsupported version " + std::to_string(version));
  raft::HardState state;
  state.term = Term(LoadLE<int64_t>(b.data() + f::kHardStateTerm));
  state.vote = NodeId(LoadLE<int32_t>(b.data() + f::kHardStateVote));
  if (state.term.value() < 0 || state.vote.value() < 0) return corrupt("negative term or vote");
  return state;
}

Result<void> HardStateStore::Save(const raft::HardState& state) {
  std::vector<std::byte> b(f::kHardStateSize);
  StoreLE<uint64_t>(b.data() + f::kHardStateMagicAt, f::kHardStateMagic);
  StoreLE<uint32_t>(b.data() + f::kHardStateVersion, f::kHardStateVersionV1);
  StoreLE<int32_t>(b.data() + f::kHardStateVote, state.vote.value());
  StoreLE<int64_t>(b.data() + f::kHardStateTerm, state.term.value());
  StoreLE<uint64_t>(b.data() + f::kHardStateChecksum, XXH3_64bits(b.data(), f::kHardStateChecksum));
  // ReplaceFileAtomically: the old file is the truth until the rename; a
  // failed fdatasync aborts (STYLE.md: never retried).
  TELEMQ_TRY(storage::ReplaceFileAtomically(fs_, path_, b));
  return fs_.SyncDir(dir_);
}

Result<void> HardStateStore::CheckAgainstLog(const raft::HardState& state, Term last_log_term) {
  if (state.term >= last_log_term) return Ok();
  return Fail(Errc::kCorrupt, "Raft hard state says term " + std::to_string(state.term.value()) +
                                  " but the log holds entries of term " + std::to_string(last_log_term.value()) +
                                  ": the hard state was lost; refusing to start without the vote of that term");
}

}  // namespace telemq::replication
