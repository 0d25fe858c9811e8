#pragma once
// What the chaos suite does to a broker's data directory, and how it reads
// one back. Each function works on the files of a broker that is stopped
// (killed), except the ballast, which fills the file system under a running
// broker. Layout of the directory: docs/log-format.md.

#include <cstdint>
#include <map>
#include <string>

#include "telemq/common/result.h"
#include "tests/chaos/history.h"

namespace telemq::chaos {

// Whether this process may mount file systems (root, and the container
// allows it); checked once by mounting a small tmpfs.
bool CanMount();

// Puts a stopped broker's data directory on a tmpfs of `bytes` mounted at
// the same path (its contents copied over), so that a ballast can fill it
// without touching other brokers. Idempotent: a directory already on its
// tmpfs stays. Needs CanMount().
[[nodiscard]] Result<void> MoveOntoTmpfs(const std::string& data_dir, uint64_t bytes);
// Unmounts what MoveOntoTmpfs mounted (lazily: a broker still holding a file
// cannot keep it mounted).
void UnmountTmpfs(const std::string& data_dir);

// Fills the file system holding `dir` with `dir`/chaos-ballast until a write
// fails with ENOSPC; returns the bytes written. FreeBallast removes it.
[[nodiscard]] Result<uint64_t> FillWithBallast(const std::string& dir);
void FreeBallast(const std::string& dir);

// On a stopped broker: in one partition of `topic` (picked with `param`),
// the active segment's data is cut at a random point of its last batches
// (kTruncate), or one byte inside the checksummed part of one of its last
// batches is flipped (kFlipByte). Returns what was done, for the log.
enum class Damage { kTruncate, kFlipByte };
[[nodiscard]] Result<std::string> DamageSegment(const std::string& data_dir, const std::string& topic,
                                                int32_t partitions, Damage damage, uint64_t param);

// A power loss of a stopped broker: every segment of its data directory
// loses what it holds past the last size the sync shim recorded in
// `sync_log` (sync_shim.cc), except a random prefix of that unsynced part
// (pages the kernel happened to write back; the cut falls anywhere, tearing
// a batch). Then the recorded boot id is replaced, so the broker knows the
// machine "rebooted". Returns a summary (files touched, bytes dropped).
[[nodiscard]] Result<std::string> DropUnsynced(const std::string& data_dir, const std::string& sync_log,
                                               uint64_t param);

// Every partition of `topic` as the broker's files hold it (history.h's
// ReplicaLog), read batch by batch up to the first invalid byte.
[[nodiscard]] Result<std::map<int32_t, ReplicaLog>> ReadReplica(const std::string& data_dir, const std::string& topic);

}  // namespace telemq::chaos
