#pragma once
// On-disk and on-wire layout of a record batch, version 1 (magic = 1).
// The prose spec, with the record encoding, is docs/log-format.md.
//
// A batch is the unit of I/O, replication and fetch. Its header is fixed-size
// and little endian. The checksum covers every byte after the checksum field,
// so the leader can stamp base_offset and leader_term (and batch_length never
// changes) without recomputing it; producer, broker and consumer all verify it.

#include <cstddef>
#include <cstdint>

namespace telemq::wire::batch {

inline constexpr size_t kBaseOffset = 0;        // i64 offset of the first record, stamped by the leader
inline constexpr size_t kBatchLength = 8;       // i32 bytes of the whole batch, header included
inline constexpr size_t kLeaderTerm = 12;       // i64 term of the leader that appended it, stamped by the leader
inline constexpr size_t kMagic = 20;            // u8  format version, kMagicV1
inline constexpr size_t kChecksum = 21;         // u64 XXH3-64 of bytes [kChecksummedFrom, batch_length)
inline constexpr size_t kAttributes = 29;       // u16 bits 0-2 codec, bit 4 control batch
inline constexpr size_t kLastOffsetDelta = 31;  // i32 last record's offset minus base_offset
inline constexpr size_t kFirstTimestamp = 35;   // i64 ms since the Unix epoch of the first record
inline constexpr size_t kMaxTimestamp = 43;     // i64 ms, the largest record timestamp
inline constexpr size_t kProducerId = 51;       // i64 idempotent producer id, -1 if none
inline constexpr size_t kProducerEpoch = 59;    // i16 producer epoch, -1 if none
inline constexpr size_t kBaseSequence = 61;     // i32 sequence of the first record, -1 if none
inline constexpr size_t kRecordCount = 65;      // i32 number of records
inline constexpr size_t kHeaderSize = 69;       // records (possibly compressed) follow

inline constexpr size_t kChecksummedFrom = kAttributes;
inline constexpr uint8_t kMagicV1 = 1;

inline constexpr uint16_t kCodecMask = 0x7;
inline constexpr uint16_t kControlFlag = 0x10;

// Upper bound on one batch, enforced before any allocation. Brokers and
// topics may configure smaller limits.
inline constexpr int32_t kMaxBatchBytes = 64 << 20;

}  // namespace telemq::wire::batch
