#include "broker/server/config.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace telemq::broker {

namespace {

template <typename T>
Result<T> As(const YAML::Node& node, const std::string& key) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception& e) {
    return Fail(Errc::kInvalidArgument, "config key '" + key + "': wrong type (" + e.msg + ")");
  }
}

}  // namespace

Result<BrokerConfig> LoadConfigFile(const std::string& path, BrokerConfig c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Fail(Errc::kNotFound, "cannot read config file '" + path + "'");
  } catch (const YAML::Exception& e) {
    return Fail(Errc::kInvalidArgument, "config file '" + path + "': " + e.what());
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) return Fail(Errc::kInvalidArgument, "config file '" + path + "': top level must be a mapping");
  for (const auto& kv : root) {
    std::string key;
    try {
      key = kv.first.as<std::string>();
    } catch (const YAML::Exception&) {
      return Fail(Errc::kInvalidArgument, "config file '" + path + "': keys must be strings");
    }
    const YAML::Node& v = kv.second;
#define TELEMQ_FIELD(name, type, target)                 \
  if (key == name) {                                     \
    TELEMQ_ASSIGN_OR_RETURN(auto val, As<type>(v, key)); \
    target;                                              \
    continue;                                            \
  }
    TELEMQ_FIELD("node_id", int32_t, c.node_id = val)
    TELEMQ_FIELD("listen_host", std::string, c.listen_host = val)
    TELEMQ_FIELD("port", uint16_t, c.port = val)
    TELEMQ_FIELD("advertised_host", std::string, c.advertised_host = val)
    TELEMQ_FIELD("advertised_port", uint16_t, c.advertised_port = val)
    TELEMQ_FIELD("data_dir", std::string, c.data_dir = val)
    TELEMQ_FIELD("port_file", std::string, c.port_file = val)
    TELEMQ_FIELD("http_port", int32_t, c.http_port = val)
    TELEMQ_FIELD("http_host", std::string, c.http_host = val)
    TELEMQ_FIELD("http_port_file", std::string, c.http_port_file = val)
    TELEMQ_FIELD("io_threads", int, c.io_threads = val)
    TELEMQ_FIELD("fsync_interval_ms", int64_t, c.fsync_interval = std::chrono::milliseconds(val))
    TELEMQ_FIELD("segment_bytes", uint64_t, c.segment_bytes = val)
    TELEMQ_FIELD("segment_ms", int64_t, c.segment_ms = std::chrono::milliseconds(val))
    TELEMQ_FIELD("retention_ms", int64_t, c.retention_ms = val)
    TELEMQ_FIELD("retention_bytes", int64_t, c.retention_bytes = val)
    TELEMQ_FIELD("retention_check_interval_ms", int64_t, c.retention_check_interval = std::chrono::milliseconds(val))
    TELEMQ_FIELD("default_partitions", int32_t, c.default_partitions = val)
    TELEMQ_FIELD("max_frame_bytes", uint32_t, c.max_frame_bytes = val)
    TELEMQ_FIELD("max_batch_bytes", int32_t, c.max_batch_bytes = val)
    TELEMQ_FIELD("produce_memory_bytes", uint64_t, c.produce_memory_bytes = val)
    TELEMQ_FIELD("max_in_flight_per_connection", int, c.max_in_flight_per_connection = val)
    TELEMQ_FIELD("fetch_max_bytes", uint32_t, c.fetch_max_bytes = val)
    TELEMQ_FIELD("shutdown_grace_ms", int64_t, c.shutdown_grace = std::chrono::milliseconds(val))
    TELEMQ_FIELD("log_level", std::string, c.log_level = val)
    TELEMQ_FIELD("log_format", std::string, c.log_format = val)
    TELEMQ_FIELD("metrics_per_partition", bool, c.metrics_per_partition = val)
    TELEMQ_FIELD("offsets_partitions", int32_t, c.offsets_partitions = val)
    TELEMQ_FIELD("frame_read_timeout_ms", int64_t, c.frame_read_timeout = std::chrono::milliseconds(val))
    TELEMQ_FIELD("group_heartbeat_interval_ms", int64_t, c.group_heartbeat_interval = std::chrono::milliseconds(val))
    TELEMQ_FIELD("group_min_session_timeout_ms", int64_t, c.group_min_session_timeout = std::chrono::milliseconds(val))
    TELEMQ_FIELD("group_max_session_timeout_ms", int64_t, c.group_max_session_timeout = std::chrono::milliseconds(val))
    TELEMQ_FIELD("peers", std::vector<std::string>, c.peers = val)
    TELEMQ_FIELD("default_replication_factor", int16_t, c.default_replication_factor = val)
    TELEMQ_FIELD("raft_tick_ms", int64_t, c.raft_tick = std::chrono::milliseconds(val))
    TELEMQ_FIELD("election_ticks", int, c.election_ticks = val)
    TELEMQ_FIELD("liveness_timeout_ms", int64_t, c.liveness_timeout = std::chrono::milliseconds(val))
    TELEMQ_FIELD("leader_balance_interval_ms", int64_t, c.leader_balance_interval = std::chrono::milliseconds(val))
    TELEMQ_FIELD("leadership_drain_timeout_ms", int64_t, c.leadership_drain_timeout = std::chrono::milliseconds(val))
#undef TELEMQ_FIELD
    if (key == "fsync") {
      TELEMQ_ASSIGN_OR_RETURN(auto val, As<std::string>(v, key));
      if (val == "always") {
        c.fsync = FsyncMode::kAlways;
      } else if (val == "interval") {
        c.fsync = FsyncMode::kInterval;
      } else {
        return Fail(Errc::kInvalidArgument, "config key 'fsync': expected 'always' or 'interval', got '" + val + "'");
      }
      continue;
    }
    return Fail(Errc::kInvalidArgument, "config file '" + path + "': unknown key '" + key + "'");
  }
  return c;
}

Result<void> Validate(const BrokerConfig& c) {
  auto bad = [](const std::string& what) { return Fail(Errc::kInvalidArgument, what); };
  // Producer ids carry the broker id in their high bits (handlers/produce.cc).
  if (c.node_id < -1 || c.node_id > 8388607) return bad("node_id must be within 0..8388607 (or -1: derive it)");
  if (c.node_id >= 0 && !c.peers.empty() && static_cast<size_t>(c.node_id) >= c.peers.size()) {
    return bad("node_id " + std::to_string(c.node_id) + " has no entry in peers (" + std::to_string(c.peers.size()) +
               " listed; entry i is broker i)");
  }
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const auto& p = c.peers[i];
    const auto colon = p.rfind(':');
    int port = 0;
    if (colon != std::string::npos && colon + 1 < p.size() &&
        p.find_first_not_of("0123456789", colon + 1) == std::string::npos && p.size() - colon - 1 <= 5) {
      port = std::stoi(p.substr(colon + 1));
    }
    if (colon == std::string::npos || colon == 0 || port < 1 || port > 65535) {
      return bad("peers[" + std::to_string(i) + "] '" + p + "' is not host:port");
    }
  }
  if (c.default_replication_factor < 1) return bad("default_replication_factor must be >= 1");
  if (c.raft_tick.count() < 1) return bad("raft_tick_ms must be >= 1");
  if (c.election_ticks < 2 || c.election_ticks > 1000) return bad("election_ticks must be within 2..1000");
  if (c.liveness_timeout < 2 * c.raft_tick) return bad("liveness_timeout_ms must be at least two raft ticks");
  if (c.leader_balance_interval.count() < 0) return bad("leader_balance_interval_ms must be >= 0");
  if (c.leadership_drain_timeout.count() < 0) return bad("leadership_drain_timeout_ms must be >= 0");
  if (c.data_dir.empty()) return bad("data_dir must not be empty");
  if (c.http_port < -1 || c.http_port > 65535) return bad("http_port must be within 0..65535 (or -1: off)");
  if (c.http_port >= 0 && c.http_port == c.port && c.port != 0 &&
      (c.http_host.empty() || c.http_host == c.listen_host)) {
    return bad("http_port " + std::to_string(c.http_port) + " is the broker's port");
  }
  if (c.io_threads < 1 || c.io_threads > 64) return bad("io_threads must be within 1..64");
  if (c.fsync_interval.count() < 1) return bad("fsync_interval_ms must be >= 1");
  if (c.segment_bytes < (1u << 20) && c.segment_bytes < static_cast<uint64_t>(c.max_batch_bytes)) {
    return bad("segment_bytes must be >= max_batch_bytes");
  }
  if (c.default_partitions < 1) return bad("default_partitions must be >= 1");
  if (c.max_batch_bytes < 1024) return bad("max_batch_bytes must be >= 1024");
  if (c.max_frame_bytes < static_cast<uint32_t>(c.max_batch_bytes) + 4096) {
    return bad("max_frame_bytes must exceed max_batch_bytes by at least 4096");
  }
  if (c.produce_memory_bytes < c.max_frame_bytes) return bad("produce_memory_bytes must be >= max_frame_bytes");
  if (c.max_in_flight_per_connection < 1) return bad("max_in_flight_per_connection must be >= 1");
  if (c.frame_read_timeout.count() < 10) return bad("frame_read_timeout_ms must be >= 10");
  if (c.offsets_partitions < 1 || c.offsets_partitions > 1000) return bad("offsets_partitions must be within 1..1000");
  if (c.group_heartbeat_interval.count() < 10) return bad("group_heartbeat_interval_ms must be >= 10");
  if (c.group_min_session_timeout < c.group_heartbeat_interval) {
    return bad("group_min_session_timeout_ms must be >= group_heartbeat_interval_ms");
  }
  if (c.group_max_session_timeout < c.group_min_session_timeout) {
    return bad("group_max_session_timeout_ms must be >= group_min_session_timeout_ms");
  }
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(c.log_level)) return bad("log_level must be one of trace/debug/info/warn/error/critical/off");
  if (c.log_format != "text" && c.log_format != "json") return bad("log_format must be text or json");
  return Ok();
}

}  // namespace telemq::broker
