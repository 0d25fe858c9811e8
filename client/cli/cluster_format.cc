#include "cluster_format.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

namespace telemq::cli {

namespace {

using Json = nlohmann::ordered_json;

std::string Printf(const char* format, auto... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

std::string Id(int32_t id) { return id < 0 ? "-" : std::to_string(id); }

Json PartitionJson(const std::string& topic, const PartitionDescription& p) {
  Json j;
  if (!topic.empty()) j["topic"] = topic;
  j["partition"] = p.partition;
  j["leader"] = p.leader;
  j["leader_term"] = p.leader_term;
  j["replicas"] = p.replicas;
  j["isr"] = p.isr;
  return j;
}

}  // namespace

Result<TableFormat> ParseTableFormat(const std::string& text) {
  if (text.empty() || text == "text") return TableFormat::kText;
  if (text == "json") return TableFormat::kJson;
  return Fail(Errc::kInvalidArgument, "--format must be text or json, not '" + text + "'");
}

std::string IdList(const std::vector<int32_t>& ids) {
  if (ids.empty()) return "-";
  std::string out;
  for (int32_t id : ids) {
    if (!out.empty()) out += ',';
    out += std::to_string(id);
  }
  return out;
}

ClusterHealth Summarize(const ClusterDescription& cluster) {
  ClusterHealth h;
  for (const auto& b : cluster.brokers) h.leaders_per_broker[b.id] = 0;
  for (const auto& t : cluster.topics) {
    for (const auto& p : t.partitions) {
      ++h.partitions;
      if (p.leader < 0) {
        h.offline.emplace_back(t.name, p);
        continue;
      }
      ++h.leaders_per_broker[p.leader];
      if (p.isr.empty()) {
        ++h.isr_unknown;
      } else if (p.isr.size() < p.replicas.size()) {
        h.under_replicated.emplace_back(t.name, p);
      }
    }
  }
  return h;
}

int ClusterStatusExitCode(const ClusterDescription& cluster) {
  return Summarize(cluster).offline.empty() ? 0 : kExitOfflinePartitions;
}

std::string FormatClusterStatus(const ClusterDescription& cluster, TableFormat format) {
  const ClusterHealth h = Summarize(cluster);
  std::map<int32_t, const BrokerDescription*> brokers;
  for (const auto& b : cluster.brokers) brokers[b.id] = &b;
  if (format == TableFormat::kJson) {
    Json j;
    j["cluster_id"] = cluster.cluster_id;
    j["controller"] = {{"id", cluster.controller_id}, {"term", cluster.controller_term}};
    Json list = Json::array();
    for (const auto& [id, leads] : h.leaders_per_broker) {
      auto b = brokers.find(id);
      Json e;
      e["id"] = id;
      e["host"] = b == brokers.end() ? "" : b->second->host;
      e["port"] = b == brokers.end() ? 0 : b->second->port;
      e["state"] = b == brokers.end() ? "unknown" : b->second->live ? "up" : "down";
      e["leaders"] = leads;
      list.push_back(e);
    }
    j["brokers"] = list;
    j["partitions"] = h.partitions;
    Json under = Json::array(), offline = Json::array();
    for (const auto& [t, p] : h.under_replicated) under.push_back(PartitionJson(t, p));
    for (const auto& [t, p] : h.offline) offline.push_back(PartitionJson(t, p));
    j["under_replicated"] = under;
    j["offline"] = offline;
    j["isr_unknown"] = h.isr_unknown;
    return j.dump(2) + "\n";
  }
  std::string out = Printf("cluster %s  controller %s  term %lld\n", cluster.cluster_id.c_str(),
                           cluster.controller_id < 0 ? "none (election under way)" : Id(cluster.controller_id).c_str(),
                           static_cast<long long>(cluster.controller_term));
  out += Printf("%-8s %-28s %-8s %s\n", "BROKER", "ADDRESS", "STATE", "LEADERS");
  for (const auto& [id, leads] : h.leaders_per_broker) {
    auto b = brokers.find(id);
    const std::string address = b == brokers.end() ? "?" : b->second->host + ":" + std::to_string(b->second->port);
    const char* state = b == brokers.end() ? "unknown" : b->second->live ? "up" : "down";
    out += Printf("%-8d %-28s %-8s %d%s\n", id, address.c_str(), state, leads,
                  id == cluster.controller_id ? "  (controller)" : "");
  }
  out += Printf("partitions %d  under-replicated %zu  offline %zu", h.partitions, h.under_replicated.size(),
                h.offline.size());
  if (h.isr_unknown > 0) out += Printf("  isr-unknown %d", h.isr_unknown);
  out += "\n";
  if (!h.under_replicated.empty()) {
    out += "UNDER-REPLICATED\n";
    out += Printf("%-32s %-10s %-7s %-6s %-12s %s\n", "TOPIC", "PARTITION", "LEADER", "TERM", "REPLICAS", "ISR");
    for (const auto& [t, p] : h.under_replicated) {
      out += Printf("%-32s %-10d %-7d %-6lld %-12s %s\n", t.c_str(), p.partition, p.leader,
                    static_cast<long long>(p.leader_term), IdList(p.replicas).c_str(), IdList(p.isr).c_str());
    }
  }
  if (!h.offline.empty()) {
    out += "OFFLINE\n";
    out += Printf("%-32s %-10s %-12s %s\n", "TOPIC", "PARTITION", "REPLICAS", "LAST_TERM");
    for (const auto& [t, p] : h.offline) {
      out += Printf("%-32s %-10d %-12s %lld\n", t.c_str(), p.partition, IdList(p.replicas).c_str(),
                    static_cast<long long>(p.leader_term));
    }
  }
  return out;
}

std::string FormatTopicDescription(const TopicDescription& topic, TableFormat format, bool with_offsets) {
  if (format == TableFormat::kJson) {
    Json j;
    j["topic"] = topic.name;
    j["topic_id"] = topic.topic_id;
    j["replication_factor"] = topic.replication_factor;
    j["internal"] = topic.internal;
    j["retention_ms"] = topic.retention_ms;
    j["retention_bytes"] = topic.retention_bytes;
    Json parts = Json::array();
    for (const auto& p : topic.partitions) {
      Json e = PartitionJson("", p);
      if (with_offsets) {
        e["log_start_offset"] = p.log_start_offset.value();
        e["high_watermark"] = p.high_watermark.value();
      }
      parts.push_back(e);
    }
    j["partitions"] = parts;
    return j.dump(2) + "\n";
  }
  std::string out = Printf(
      "topic %s  id %llu  partitions %zu  replication_factor %d  retention_ms %lld  "
      "retention_bytes %lld\n",
      topic.name.c_str(), static_cast<unsigned long long>(topic.topic_id), topic.partitions.size(),
      static_cast<int>(topic.replication_factor), static_cast<long long>(topic.retention_ms),
      static_cast<long long>(topic.retention_bytes));
  // The last column is not padded: no trailing blanks.
  if (with_offsets) {
    out += Printf("%-10s %-7s %-6s %-12s %-12s %-16s %s\n", "PARTITION", "LEADER", "TERM", "REPLICAS", "ISR",
                  "LOG_START", "HIGH_WATERMARK");
  } else {
    out += Printf("%-10s %-7s %-6s %-12s %s\n", "PARTITION", "LEADER", "TERM", "REPLICAS", "ISR");
  }
  for (const auto& p : topic.partitions) {
    // An empty isr beside a leader is unknown (the leader did not answer).
    const std::string isr = p.isr.empty() && p.leader >= 0 ? "?" : IdList(p.isr);
    if (with_offsets) {
      out +=
          Printf("%-10d %-7s %-6lld %-12s %-12s %-16lld %lld\n", p.partition, Id(p.leader).c_str(),
                 static_cast<long long>(p.leader_term), IdList(p.replicas).c_str(), isr.c_str(),
                 static_cast<long long>(p.log_start_offset.value()), static_cast<long long>(p.high_watermark.value()));
    } else {
      out += Printf("%-10d %-7s %-6lld %-12s %s\n", p.partition, Id(p.leader).c_str(),
                    static_cast<long long>(p.leader_term), IdList(p.replicas).c_str(), isr.c_str());
    }
  }
  return out;
}

}  // namespace telemq::cli
