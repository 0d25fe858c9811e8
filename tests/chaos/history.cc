#include "tests/chaos/history.h"

#include <charconv>
#include <sstream>

namespace telemq::chaos {

std::string EncodeValue(const RecordId& id, size_t value_bytes) {
  std::ostringstream s;
  s << "p=" << id.producer << ";k=" << id.key << ";s=" << id.seq << ";";
  std::string out = s.str();
  if (out.size() < value_bytes) out.resize(value_bytes, '.');
  return out;
}

std::string EncodeKey(const RecordId& id) {
  std::ostringstream s;
  s << "p" << id.producer << "k" << id.key;
  return s.str();
}

namespace {

// Parses "<name>=<integer>;" at the front of `in`, advancing it.
template <typename T>
bool Field(std::string_view& in, std::string_view name, T* out) {
  if (in.substr(0, name.size()) != name || in.size() <= name.size() || in[name.size()] != '=') return false;
  in.remove_prefix(name.size() + 1);
  const auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), *out);
  if (ec != std::errc() || end == in.data() || end == in.data() + in.size() || *end != ';') return false;
  in.remove_prefix(static_cast<size_t>(end - in.data()) + 1);
  return true;
}

}  // namespace

std::optional<RecordId> ParseValue(std::string_view value) {
  RecordId id;
  if (!Field(value, "p", &id.producer) || !Field(value, "k", &id.key) || !Field(value, "s", &id.seq)) {
    return std::nullopt;
  }
  if (id.producer < 0 || id.key < 0 || id.seq < 0) return std::nullopt;
  return id;
}

std::string ToString(const RecordId& id) {
  std::ostringstream s;
  s << "p" << id.producer << "k" << id.key << "s" << id.seq;
  return s.str();
}

}  // namespace telemq::chaos
