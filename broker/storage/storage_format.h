#pragma once
// On-disk layout of the files beside the record batches in a partition
// directory: the sparse indexes and the clean-shutdown marker. One comment
// line per field; the prose spec is docs/log-format.md. All little endian.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace telemq::storage::format {

// Segment file names: base offset as 20 zero-padded decimal digits + suffix.
inline constexpr int kNameDigits = 20;
inline constexpr std::string_view kLogSuffix = ".log";
inline constexpr std::string_view kIndexSuffix = ".index";
inline constexpr std::string_view kTimeIndexSuffix = ".timeindex";
// Index files are written to <name>.tmp, synced, then renamed into place.
inline constexpr std::string_view kTempSuffix = ".tmp";

// .index entry: where a batch starts. Entries strictly increase in both fields.
inline constexpr size_t kIndexRelativeOffset = 0;  // u32 batch base offset - segment base offset
inline constexpr size_t kIndexPosition = 4;        // u32 byte position of the batch in the .log
inline constexpr size_t kIndexEntrySize = 8;

// .timeindex entry: every batch up to and including the one at the offset has
// max_timestamp <= the timestamp; timestamps strictly increase.
inline constexpr size_t kTimeIndexTimestamp = 0;       // i64 ms, running max of batch max timestamps
inline constexpr size_t kTimeIndexRelativeOffset = 8;  // u32 base offset of the batch that set it - segment base
inline constexpr size_t kTimeIndexEntrySize = 12;

// The clean-shutdown marker, file `clean_shutdown` in the partition directory.
inline constexpr std::string_view kCleanShutdownName = "clean_shutdown";
inline constexpr uint64_t kMarkerMagic = 0x4e41454c43514d54ull;  // "TMQCLEAN"
inline constexpr size_t kMarkerMagicAt = 0;                      // u64 kMarkerMagic
inline constexpr size_t kMarkerVersion = 8;                      // u32 1
inline constexpr size_t kMarkerSegmentCount = 12;                // u32 number of segment entries
inline constexpr size_t kMarkerHeaderSize = 16;
// Then per segment, in base-offset order:
inline constexpr size_t kMarkerBaseOffset = 0;     // i64 segment base offset
inline constexpr size_t kMarkerSizeBytes = 8;      // u64 bytes of batches in the .log (= its file size)
inline constexpr size_t kMarkerNextOffset = 16;    // i64 offset after the segment's last batch
inline constexpr size_t kMarkerMaxTimestamp = 24;  // i64 ms, largest batch max timestamp (INT64_MIN if empty)
inline constexpr size_t kMarkerEntrySize = 32;
// Then a u64 XXH3-64 of every byte before it.
inline constexpr uint32_t kMarkerVersionV1 = 1;

// The term index, file `term_index` in the partition directory: where each
// Raft term starts, and the term of the entry before the log start. Written
// whole (to term_index.tmp, synced, renamed, directory synced) whenever a new
// term starts, and after truncation, retention and reset.
inline constexpr std::string_view kTermFileName = "term_index";
inline constexpr uint64_t kTermMagic = 0x534d524554514d54ull;  // "TMQTERMS"
inline constexpr size_t kTermMagicAt = 0;                      // u64 kTermMagic
inline constexpr size_t kTermVersion = 8;                      // u32 1
inline constexpr size_t kTermFlags = 12;                       // u32 bit 0: a reset is in progress
inline constexpr size_t kTermLogStart = 16;                    // i64 log start offset when written
inline constexpr size_t kTermEntryCount = 24;                  // u32 number of entries (>= 1)
inline constexpr size_t kTermReserved = 28;                    // u32 0
inline constexpr size_t kTermHeaderSize = 32;
// Then per term, in increasing order (the first covers log_start - 1):
inline constexpr size_t kTermEntryTerm = 0;         // i64 term
inline constexpr size_t kTermEntryFirstOffset = 8;  // i64 first offset written in it (-1 for the empty log at 0)
inline constexpr size_t kTermEntrySize = 16;
// Then a u64 XXH3-64 of every byte before it.
inline constexpr uint32_t kTermVersionV1 = 1;
inline constexpr uint32_t kTermFlagResetInProgress = 1;

}  // namespace telemq::storage::format
