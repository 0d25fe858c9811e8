#pragma once
// Str(a, b, ...): the arguments written with operator<< into one string, for
// test and tool messages. (g++ 12 at -O3 misreports `"lit" +
// std::to_string(...)` under -Werror=restrict; this sidesteps it.)

#include <sstream>
#include <string>

namespace telemq::testing {

template <typename... T>
std::string Str(const T&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

}  // namespace telemq::testing
