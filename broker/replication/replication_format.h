#pragma once
// On-disk layout of what broker/replication adds to a partition directory:
// the Raft hard-state file and the no-op control batch. One comment line per
// field; the prose spec is docs/log-format.md (§5b, §2.1). All little endian.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace telemq::replication::format {

// The Raft hard state (term, vote), file `raft_state` in the partition
// directory. Written whole to raft_state.tmp, fdatasynced, renamed over the
// old one, directory fsynced.
inline constexpr std::string_view kHardStateFileName = "raft_state";
inline constexpr uint64_t kHardStateMagic = 0x5344524148514d54ull;  // "TMQHARDS"
inline constexpr size_t kHardStateMagicAt = 0;                      // u64 kHardStateMagic
inline constexpr size_t kHardStateVersion = 8;                      // u32 1
inline constexpr size_t kHardStateVote = 12;                        // i32 node voted for in `term`, 0 if none
inline constexpr size_t kHardStateTerm = 16;                        // i64 current term
inline constexpr size_t kHardStateChecksum = 24;                    // u64 XXH3-64 of bytes [0, 24)
inline constexpr size_t kHardStateSize = 32;
inline constexpr uint32_t kHardStateVersionV1 = 1;

// fsync: interval: the abstention marker (docs/replication.md §2, §7), file
// `raft_abstain` in the partition directory, in the layout of `raft_state`
// (vote 0, term = the term through which the replica abstains; 0 or no file:
// it does not). Saved before a replica that may have lost unsynced writes
// starts its node, so that a later process crash does not forget it;
// cleared once its log holds an entry of a newer term.
inline constexpr std::string_view kAbstainFileName = "raft_abstain";

// The no-op entry a new leader appends (Raft §8) is stored as a control batch
// that depends only on (term, base offset): base_offset and leader_term
// stamped, attributes = control flag (no compression), last_offset_delta 0,
// both timestamps 0, producer id/epoch/sequence -1, record_count 1, and one
// empty record (no key, no value, no headers):
inline constexpr uint8_t kNoopRecord[] = {
    0x06,  // varint record length: 6 bytes follow
    0x00,  // record attributes
    0x00,  // zigzag timestamp delta 0
    0x00,  // varint offset delta 0
    0x01,  // key: zigzag length -1 (null)
    0x01,  // value: zigzag length -1 (null)
    0x00,  // header count 0
};
inline constexpr int64_t kNoopTimestampMs = 0;
inline constexpr size_t kNoopBatchSize = 69 + sizeof(kNoopRecord);  // 76

}  // namespace telemq::replication::format
