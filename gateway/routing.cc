#include "gateway/routing.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace telemq::gateway {

Result<std::string> ParseMemberEndpoint(std::string_view metadata) {
  if (metadata.empty()) return Fail(Errc::kInvalidArgument, "no metadata");
  const auto doc = nlohmann::json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Fail(Errc::kInvalidArgument, "metadata is not a JSON object");
  const auto it = doc.find("endpoint");
  if (it == doc.end() || !it->is_string()) return Fail(Errc::kInvalidArgument, "metadata has no \"endpoint\" string");
  const std::string endpoint = it->get<std::string>();
  constexpr std::string_view kScheme = "http://";
  if (endpoint.rfind(kScheme, 0) != 0)
    return Fail(Errc::kInvalidArgument, "endpoint '" + endpoint + "' is not http://");
  const std::string_view rest = std::string_view(endpoint).substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Fail(Errc::kInvalidArgument, "endpoint '" + endpoint + "' has no host:port");
  }
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == '[' || c == ']' || c == ':';
    if (!ok) return Fail(Errc::kInvalidArgument, "endpoint '" + endpoint + "' has a bad host");
  }
  int port_number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (ec != std::errc() || end != port.data() + port.size() || port_number < 1 || port_number > 65535) {
    return Fail(Errc::kInvalidArgument, "endpoint '" + endpoint + "' has a bad port");
  }
  return endpoint;
}

RoutingTable RoutingTable::Build(const std::string& topic, int32_t partitions, const GroupDescription& group,
                                 std::vector<std::string>* warnings) {
  RoutingTable t;
  t.owners_.resize(static_cast<size_t>(std::max(partitions, 0)));
  auto claim = [&](const std::vector<TopicPartition>& tps, const std::string& endpoint, bool overwrite) {
    for (const auto& tp : tps) {
      if (tp.topic != topic || tp.partition < 0 || tp.partition >= partitions) continue;
      auto& owner = t.owners_[static_cast<size_t>(tp.partition)];
      if (overwrite || !owner) owner = endpoint;
    }
  };
  std::vector<std::pair<const GroupMemberInfo*, std::string>> members;
  for (const auto& m : group.members) {
    auto endpoint = ParseMemberEndpoint(m.metadata);
    if (!endpoint) {
      if (warnings) warnings->push_back("member " + m.member_id + " ignored: " + endpoint.error().message());
      continue;
    }
    members.emplace_back(&m, std::move(*endpoint));
  }
  // Pending revocations first, so an assignment (the newer fact) wins.
  for (const auto& [m, endpoint] : members) claim(m->pending_revocation, endpoint, false);
  for (const auto& [m, endpoint] : members) claim(m->assignment, endpoint, true);
  for (const auto& owner : t.owners_) {
    if (owner) t.endpoints_.push_back(*owner);
  }
  std::sort(t.endpoints_.begin(), t.endpoints_.end());
  t.endpoints_.erase(std::unique(t.endpoints_.begin(), t.endpoints_.end()), t.endpoints_.end());
  return t;
}

const std::string* RoutingTable::OwnerOf(int32_t partition) const {
  if (partition < 0 || partition >= partitions()) return nullptr;
  const auto& owner = owners_[static_cast<size_t>(partition)];
  return owner ? &*owner : nullptr;
}

std::vector<int32_t> RoutingTable::UnownedPartitions() const {
  std::vector<int32_t> out;
  for (int32_t p = 0; p < partitions(); ++p) {
    if (!owners_[static_cast<size_t>(p)]) out.push_back(p);
  }
  return out;
}

}  // namespace telemq::gateway
