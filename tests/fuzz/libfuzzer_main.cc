// libFuzzer entry point; TELEMQ_FUZZ_ENTRY (set by CMake) names the target.

#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return telemq::fuzz::TELEMQ_FUZZ_ENTRY(data, size);
}
