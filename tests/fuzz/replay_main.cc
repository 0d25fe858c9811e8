// Deterministic stand-in for libFuzzer, so the harness runs in every build
// (g++ included) as a plain ctest: each target gets its seeds, then
// `iterations` mutants of them from a fixed-seed generator. No coverage
// feedback, so it finds far less than libFuzzer; its job is to keep the
// harness compiling and to catch regressions on near-valid inputs.
//
//   fuzz_replay [iterations] [file or dir...]   files (a directory: each file
//       in it) are replayed as given to both targets: the checked-in
//       regression inputs of corpus/, or a crash input to reproduce

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz_targets.h"

namespace {

using telemq::fuzz::Bytes;

// Values that sit on the decoders' boundaries.
constexpr uint32_t kInteresting[] = {0,
                                     1,
                                     4,
                                     11,
                                     12,
                                     16,
                                     68,
                                     69,
                                     70,
                                     127,
                                     128,
                                     255,
                                     256,
                                     0x7fff,
                                     0xffff,
                                     1u << 20,
                                     (1u << 20) + 1,
                                     64u << 20,
                                     0x7fffffff,
                                     0x80000000,
                                     0xffffffff};

Bytes Mutate(const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  Bytes b = seeds[rng() % seeds.size()];
  const int rounds = 1 + static_cast<int>(rng() % 6);
  for (int i = 0; i < rounds; ++i) {
    const size_t pos = b.empty() ? 0 : rng() % b.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!b.empty()) b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random byte
        if (!b.empty()) b[pos] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // a boundary value over 1, 2 or 4 bytes
        const uint32_t v = kInteresting[rng() % std::size(kInteresting)];
        const size_t width = size_t{1} << (rng() % 3);
        for (size_t k = 0; k < width && pos + k < b.size(); ++k) b[pos + k] = static_cast<uint8_t>(v >> (8 * k));
        break;
      }
      case 3:  // truncate
        b.resize(pos);
        break;
      case 4: {  // delete a range
        const size_t n = std::min<size_t>(b.size() - pos, 1 + rng() % 16);
        b.erase(b.begin() + static_cast<ptrdiff_t>(pos), b.begin() + static_cast<ptrdiff_t>(pos + n));
        break;
      }
      case 5: {  // insert random bytes
        const size_t n = 1 + rng() % 16;
        Bytes ins(n);
        for (auto& x : ins) x = static_cast<uint8_t>(rng());
        b.insert(b.begin() + static_cast<ptrdiff_t>(pos), ins.begin(), ins.end());
        break;
      }
      case 6: {  // splice in a piece of another seed
        const Bytes& other = seeds[rng() % seeds.size()];
        if (other.empty()) break;
        const size_t from = rng() % other.size();
        const size_t n = std::min<size_t>(other.size() - from, 1 + rng() % 64);
        b.insert(b.begin() + static_cast<ptrdiff_t>(pos), other.begin() + static_cast<ptrdiff_t>(from),
                 other.begin() + static_cast<ptrdiff_t>(from + n));
        break;
      }
    }
  }
  return b;
}

template <typename Target>
void Run(const char* name, Target target, std::vector<Bytes> seeds, long iterations, uint64_t seed) {
  for (const auto& s : seeds) target(s.data(), s.size());
  std::mt19937_64 rng(seed);
  for (long i = 0; i < iterations; ++i) {
    const Bytes b = Mutate(seeds, rng);
    target(b.data(), b.size());
  }
  std::printf("%s: %zu seeds, %ld mutants: ok\n", name, seeds.size(), iterations);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  std::vector<std::filesystem::path> files;
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    if (std::filesystem::is_directory(argv[i], ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i], ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz_replay: cannot read %s\n", path.c_str());
      return 1;
    }
    const Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    telemq::fuzz::FuzzFrame(b.data(), b.size());
    telemq::fuzz::FuzzBatch(b.data(), b.size());
  }
  std::printf("replayed %zu files\n", files.size());
  Run("fuzz_frame", telemq::fuzz::FuzzFrame, telemq::fuzz::FrameSeeds(), iterations, 0x7e1e);
  Run("fuzz_batch", telemq::fuzz::FuzzBatch, telemq::fuzz::BatchSeeds(), iterations, 0xba7c);
  return 0;
}
