#pragma once
// Fuzz target of the Raft core's input validation: arbitrary bytes decode
// into a sequence of hostile messages, ticks, proposals and rounds of real
// traffic inside a 3-node group. raft::Node::Step must reject what it cannot
// accept and never abort (a TELEMQ_CHECK firing is a finding), whatever
// arrives. Same two drivers as the wire targets: fuzz_raft_replay
// (deterministic, any compiler, ctest) and fuzz_raft (libFuzzer, clang).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace telemq::fuzz {

int FuzzRaft(const uint8_t* data, size_t size);

// Inputs that reach deep: an election, proposals, replication, then forged
// messages of every type.
std::vector<std::vector<uint8_t>> RaftSeeds();

}  // namespace telemq::fuzz
