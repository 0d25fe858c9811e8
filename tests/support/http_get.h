#pragma once
// HttpGet: one blocking GET to an app's HTTP endpoint on 127.0.0.1, for
// end-to-end suites. A fresh connection per call, bounded timeouts; status 0
// means no answer (refused, reset or timed out).

#include <chrono>
#include <cstdint>
#include <string>

namespace telemq::testing {

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string retry_after;   // the Retry-After header, "" if absent
  std::string content_type;  // the Content-Type header
};

HttpAnswer HttpGet(uint16_t port, const std::string& target,
                   std::chrono::seconds read_timeout = std::chrono::seconds(5));

}  // namespace telemq::testing
