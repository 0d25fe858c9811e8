#pragma once
// Template definitions of process.h.

#include <thread>

namespace telemq::testing {

template <typename Condition>
bool WaitFor(Condition&& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(pause);
    // Back off to 10 ms so long waits do not spin on a 2-core machine.
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

}  // namespace telemq::testing
