#include "tests/support/http_get.h"

#include <httplib.h>

namespace telemq::testing {

HttpAnswer HttpGet(uint16_t port, const std::string& target, std::chrono::seconds read_timeout) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(read_timeout);
  auto r = client.Get(target);
  if (!r) return {};
  return {r->status, r->body, r->get_header_value("Retry-After"), r->get_header_value("Content-Type")};
}

}  // namespace telemq::testing
