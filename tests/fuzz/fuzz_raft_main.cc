// Drivers of the Raft fuzz target (fuzz_raft.h). With TELEMQ_LIBFUZZER:
// libFuzzer's entry point. Otherwise fuzz_raft_replay: the seeds, then
// `iterations` fixed-seed mutants of them, then any files given:
//   fuzz_raft_replay [iterations] [file...]
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_raft.h"

#ifdef TELEMQ_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return telemq::fuzz::FuzzRaft(data, size); }
#else
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  const auto seeds = telemq::fuzz::RaftSeeds();
  for (const auto& s : seeds) telemq::fuzz::FuzzRaft(s.data(), s.size());
  std::mt19937_64 rng(0x4a57);
  for (long i = 0; i < iterations; ++i) {
    std::vector<uint8_t> b = seeds[rng() % seeds.size()];
    const int rounds = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < rounds; ++k) {
      const size_t pos = b.empty() ? 0 : rng() % b.size();
      switch (rng() % 4) {
        case 0: if (!b.empty()) b[pos] = static_cast<uint8_t>(rng()); break;
        case 1: b.insert(b.begin() + static_cast<ptrdiff_t>(pos), static_cast<uint8_t>(rng())); break;
        case 2: if (!b.empty()) b[pos] = 0xff; break;  // a full 64-bit value follows
        case 3: for (int j = 0; j < 16; ++j) b.push_back(static_cast<uint8_t>(rng())); break;
      }
    }
    telemq::fuzz::FuzzRaft(b.data(), b.size());
  }
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    telemq::fuzz::FuzzRaft(b.data(), b.size());
  }
  std::printf("fuzz_raft: %zu seeds, %ld mutants: ok\n", seeds.size(), iterations);
  return 0;
}
#endif
