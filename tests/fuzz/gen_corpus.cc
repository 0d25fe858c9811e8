// Writes the seed inputs of each fuzz target as files, for libFuzzer's
// corpus directories: gen_corpus <frame_dir> <batch_dir>.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_targets.h"

namespace {

bool WriteAll(const std::string& dir, const std::vector<telemq::fuzz::Bytes>& seeds) {
  for (size_t i = 0; i < seeds.size(); ++i) {
    const std::string path = dir + "/seed-" + std::to_string(i);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(seeds[i].data()), static_cast<std::streamsize>(seeds[i].size()));
    if (!out) {
      std::fprintf(stderr, "gen_corpus: cannot write %s\n", path.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <frame_dir> <batch_dir>\n", argv[0]);
    return 2;
  }
  return WriteAll(argv[1], telemq::fuzz::FrameSeeds()) && WriteAll(argv[2], telemq::fuzz::BatchSeeds()) ? 0 : 1;
}
