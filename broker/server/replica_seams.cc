#include "broker/server/replica_seams.h"

#include <asio/post.hpp>
#include <chrono>

namespace telemq::broker {

void StrandExecutor::Post(std::function<void()> task) { asio::post(strand_, std::move(task)); }

int64_t SystemClock::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace telemq::broker
