#pragma once
// Entry points of the wire-decoder fuzz targets and their seed inputs.
//
// Each target is a plain function so the same harness runs under libFuzzer
// (libfuzzer_main.cc, clang) and under the deterministic replay driver
// (replay_main.cc, any compiler, a regular ctest). A target returns normally
// for every input; a crash, a sanitizer report or a failed TELEMQ_CHECK is a
// finding. Thread-compatible: one input at a time per process.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace telemq::fuzz {

// Input: one selector byte (bit 0 clear: request stream, as the broker reads
// it; set: response stream, as a client reads it), then back-to-back frames.
int FuzzFrame(const uint8_t* data, size_t size);

// Input: raw bytes, used three ways: as back-to-back record batches
// (validated and decoded), as a compressed records section of every codec,
// and as a script that builds a batch whose round trip must be exact.
int FuzzBatch(const uint8_t* data, size_t size);

// Rewrites the checksum of each whole batch in `bytes` (back to back, from
// the start, until one does not fit); true if any changed. The checksum
// guards against damage, not against a hostile or buggy producer, which can
// compute it over anything; without this the fuzzer would almost never get a
// mutated record section past ValidateBatch.
bool FixChecksums(std::span<std::byte> bytes);

using Bytes = std::vector<uint8_t>;

// Valid inputs that reach deep into each target: frames of every api in both
// directions (produce and fetch with record payloads), batches of every codec.
std::vector<Bytes> FrameSeeds();
std::vector<Bytes> BatchSeeds();

}  // namespace telemq::fuzz
