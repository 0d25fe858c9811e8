#include "broker/cluster/metadata.h"

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>

namespace telemq::cluster {

namespace {

using nlohmann::json;

json SpecToJson(const TopicSpec& s) {
  return json{{"partitions", s.partitions},       {"replication_factor", s.replication_factor},
              {"retention_ms", s.retention_ms},   {"retention_bytes", s.retention_bytes},
              {"segment_bytes", s.segment_bytes}, {"segment_ms", s.segment_ms}};
}

TopicSpec SpecFromJson(const json& j) {
  TopicSpec s;
  s.partitions = j.at("partitions").get<int32_t>();
  s.replication_factor = j.at("replication_factor").get<int16_t>();
  s.retention_ms = j.at("retention_ms").get<int64_t>();
  s.retention_bytes = j.at("retention_bytes").get<int64_t>();
  s.segment_bytes = j.at("segment_bytes").get<int64_t>();
  s.segment_ms = j.value("segment_ms", int64_t{0});
  return s;
}

// Checks what JSON types cannot: a replica set per partition, each of
// replication_factor distinct non-negative broker ids.
Result<void> ValidateReplicas(const TopicSpec& spec, const std::vector<std::vector<int32_t>>& replicas) {
  if (spec.partitions < 1) return Fail(Errc::kCorrupt, "a topic needs at least one partition");
  if (replicas.size() != static_cast<size_t>(spec.partitions)) {
    return Fail(Errc::kCorrupt, "replica sets do not match the partition count");
  }
  for (const auto& set : replicas) {
    if (set.empty() || set.size() != static_cast<size_t>(spec.replication_factor)) {
      return Fail(Errc::kCorrupt, "a replica set does not match the replication factor");
    }
    std::set<int32_t> distinct(set.begin(), set.end());
    if (distinct.size() != set.size() || *distinct.begin() < 0) {
      return Fail(Errc::kCorrupt, "a replica set repeats a broker or names a negative id");
    }
  }
  return Ok();
}

}  // namespace

const TopicRecord* MetadataImage::Find(std::string_view name) const {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

const TopicRecord* MetadataImage::FindById(uint64_t id) const {
  for (const auto& [name, t] : topics) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string EncodeCommand(const Command& command) {
  json j;
  std::visit(
      [&j](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, InitCluster>) {
          j = json{{"type", "init_cluster"}, {"cluster_id", c.cluster_id}};
        } else if constexpr (std::is_same_v<T, RegisterBroker>) {
          j = json{{"type", "register_broker"}, {"id", c.broker.id}, {"host", c.broker.host}, {"port", c.broker.port}};
        } else if constexpr (std::is_same_v<T, CreateTopic>) {
          j = json{{"type", "create_topic"}, {"name", c.name}, {"spec", SpecToJson(c.spec)}, {"replicas", c.replicas}};
        } else {
          j = json{{"type", "delete_topic"}, {"name", c.name}, {"id", c.id}};
        }
      },
      command);
  return j.dump();
}

Result<Command> DecodeCommand(std::string_view text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Fail(Errc::kCorrupt, "controller command is not a JSON object");
  try {
    const std::string type = j.at("type").get<std::string>();
    if (type == "init_cluster") {
      InitCluster c{j.at("cluster_id").get<std::string>()};
      if (c.cluster_id.empty()) return Fail(Errc::kCorrupt, "init_cluster without a cluster id");
      return Command(c);
    }
    if (type == "register_broker") {
      const auto id = j.at("id").get<int64_t>();
      const auto port = j.at("port").get<int64_t>();
      RegisterBroker c{{static_cast<int32_t>(id), j.at("host").get<std::string>(), static_cast<uint16_t>(port)}};
      if (id < 0 || id > INT32_MAX || port < 1 || port > 65535 || c.broker.host.empty()) {
        return Fail(Errc::kCorrupt, "register_broker: bad id, host or port");
      }
      return Command(c);
    }
    if (type == "create_topic") {
      CreateTopic c{j.at("name").get<std::string>(), SpecFromJson(j.at("spec")),
                    j.at("replicas").get<std::vector<std::vector<int32_t>>>()};
      if (auto v = ValidateTopicName(c.name); !v) return Fail(Errc::kCorrupt, "create_topic: " + v.error().message());
      TELEMQ_TRY(ValidateReplicas(c.spec, c.replicas));
      return Command(c);
    }
    if (type == "delete_topic") {
      return Command(DeleteTopic{j.at("name").get<std::string>(), j.at("id").get<uint64_t>()});
    }
    return Fail(Errc::kCorrupt, "unknown controller command type '" + type + "'");
  } catch (const json::exception& e) {
    return Fail(Errc::kCorrupt, std::string("controller command: ") + e.what());
  }
}

Applied Apply(MetadataImage& image, const Command& command, int64_t offset) {
  Applied out;
  image.applied = offset;
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, InitCluster>) {
          if (!image.cluster_id.empty()) {
            out.refused = "the cluster already has id " + image.cluster_id;
            return;
          }
          image.cluster_id = c.cluster_id;
          out.cluster_id = true;
        } else if constexpr (std::is_same_v<T, RegisterBroker>) {
          image.brokers[c.broker.id] = c.broker;
          out.brokers.insert(c.broker.id);
        } else if constexpr (std::is_same_v<T, CreateTopic>) {
          if (image.topics.count(c.name)) {
            out.refused = "topic '" + c.name + "' already exists";
            return;
          }
          image.topics[c.name] = TopicRecord{c.name, static_cast<uint64_t>(offset), c.spec, c.replicas};
          out.topics.insert(c.name);
        } else {
          auto it = image.topics.find(c.name);
          if (it == image.topics.end() || it->second.id != c.id) {
            out.refused = "topic '" + c.name + "' with id " + std::to_string(c.id) + " does not exist";
            return;
          }
          image.topics.erase(it);
          out.topics.insert(c.name);
        }
      },
      command);
  return out;
}

Result<std::vector<std::vector<int32_t>>> PlaceReplicas(const MetadataImage& image, const std::vector<int32_t>& live,
                                                        int32_t partitions, int16_t replication_factor) {
  std::vector<int32_t> brokers = live;
  std::sort(brokers.begin(), brokers.end());
  brokers.erase(std::unique(brokers.begin(), brokers.end()), brokers.end());
  if (partitions < 1) return Fail(Errc::kInvalidArgument, "a topic needs at least one partition");
  if (replication_factor < 1) return Fail(Errc::kInvalidArgument, "replication factor must be at least 1");
  if (static_cast<size_t>(replication_factor) > brokers.size()) {
    return Fail(Errc::kInvalidArgument, "replication factor " + std::to_string(replication_factor) + " exceeds the " +
                                            std::to_string(brokers.size()) + " live broker(s)");
  }
  // Load already placed on each live broker.
  std::map<int32_t, int64_t> leaders, replicas;
  for (int32_t b : brokers) leaders[b] = replicas[b] = 0;
  for (const auto& [name, t] : image.topics) {
    for (const auto& set : t.replicas) {
      for (size_t i = 0; i < set.size(); ++i) {
        auto it = replicas.find(set[i]);
        if (it == replicas.end()) continue;
        ++it->second;
        if (i == 0) ++leaders[set[i]];
      }
    }
  }
  std::vector<std::vector<int32_t>> out;
  out.reserve(static_cast<size_t>(partitions));
  for (int32_t p = 0; p < partitions; ++p) {
    std::vector<int32_t> order = brokers;
    // Preferred leader: fewest leaderships, then fewest replicas, then id.
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return std::tie(leaders[a], replicas[a], a) < std::tie(leaders[b], replicas[b], b);
    });
    std::vector<int32_t> set{order.front()};
    // Followers: fewest replicas, then the broker after the leader in id
    // order, so that consecutive partitions pair different brokers.
    std::vector<int32_t> rest(order.begin() + 1, order.end());
    const int32_t lead = order.front();
    const int32_t ring = brokers.back() + 1;
    auto distance = [&](int32_t b) { return ((b - lead) % ring + ring) % ring; };
    std::sort(rest.begin(), rest.end(), [&](int32_t a, int32_t b) {
      return std::tuple(replicas[a], distance(a)) < std::tuple(replicas[b], distance(b));
    });
    for (int16_t i = 1; i < replication_factor; ++i) set.push_back(rest[static_cast<size_t>(i - 1)]);
    ++leaders[set.front()];
    for (int32_t b : set) ++replicas[b];
    out.push_back(std::move(set));
  }
  return out;
}

Result<void> ValidateTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249) return Fail(Errc::kInvalidArgument, "topic name must be 1..249 characters");
  if (name == "." || name == "..") return Fail(Errc::kInvalidArgument, "topic name cannot be '.' or '..'");
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Fail(Errc::kInvalidArgument,
                  "topic name '" + std::string(name) + "' has characters outside [A-Za-z0-9._-]");
    }
  }
  return Ok();
}

}  // namespace telemq::cluster
