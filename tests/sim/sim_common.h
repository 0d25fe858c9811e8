#pragma once
// What both simulators (raft_sim, replica_sim) share: the seeded random
// generator every decision of a run derives from, and the note a run prints
// when an invariant check inside the code under test aborts the process.
//
// Thread-safety: none; one simulation per thread, one campaign per process.

#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

namespace telemq::sim {

// std:: distributions differ between standard libraries; map the raw 64-bit
// output ourselves so a seed means the same run everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Next() { return gen_(); }
  // Uniform in [lo, hi]; the modulo bias is irrelevant here.
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // True with probability p.
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::mt19937_64 gen_;
};

// A TELEMQ_CHECK inside the code under test aborts the process; the abort
// handler names the seed that was running so it can be replayed. Only
// async-signal-safe calls happen in the handler (write of a prepared note).
class AbortNote {
 public:
  // Installs the SIGABRT handler; `program` names the binary in the note.
  static void Install(const char* program) {
    program_ = program;
    std::signal(SIGABRT, OnAbort);
  }
  static void SetSeed(uint64_t seed) {
    std::snprintf(note_, sizeof(note_), "%s: aborted in seed %llu; replay with: %s --seed %llu --verbose\n", program_,
                  static_cast<unsigned long long>(seed), program_, static_cast<unsigned long long>(seed));
    valid_ = 1;
  }
  static void Clear() { valid_ = 0; }

 private:
  static void OnAbort(int) {
    if (valid_) {
      ssize_t ignored = write(STDERR_FILENO, note_, std::strlen(note_));
      (void)ignored;
    }
  }
  static inline const char* program_ = "sim";
  static inline volatile std::sig_atomic_t valid_ = 0;
  static inline char note_[192] = {};
};

}  // namespace telemq::sim
