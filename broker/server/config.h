#pragma once
// Broker configuration: one struct, filled from a YAML file and then from
// command-line overrides. The --help text and docs/operations.md list every
// option with its meaning and default; none can change at run time yet.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::broker {

enum class FsyncMode { kAlways, kInterval };

struct BrokerConfig {
  // Broker id. -1 (default): the id recorded in the data directory; else,
  // with `peers` set, the ordinal of a StatefulSet-style host name
  // (`anything-N` → N); else 0. Recorded in the data directory at first
  // start; a data directory of another id refuses to start.
  int32_t node_id = -1;
  // The cluster: "host:port" of every broker by id (entry i is broker i,
  // this broker's own entry included). Names are resolved at every
  // connection attempt. Empty: a single broker.
  std::vector<std::string> peers;
  int16_t default_replication_factor = 3;                     // topics created without one (capped by the cluster size)
  std::chrono::milliseconds raft_tick{100};                   // Raft clock period
  int election_ticks = 10;                                    // election timeout in ticks (randomised up to twice that)
  std::chrono::milliseconds liveness_timeout{3000};           // a peer not heard from for this long is down
  std::chrono::milliseconds leader_balance_interval{10'000};  // hand leadership back to preferred leaders; 0: never
  std::chrono::milliseconds leadership_drain_timeout{10'000};  // SIGTERM: bound on handing off leadership
  std::string listen_host = "127.0.0.1";                       // address to bind
  uint16_t port = 9092;                                        // 0: pick an ephemeral port (see port_file)
  std::string advertised_host;                                 // host clients should dial; default listen_host
  uint16_t advertised_port = 0;     // port clients should dial (behind a proxy/NAT); 0: the bound port
  std::string data_dir = "./data";  // partition logs and the metadata store
  std::string port_file;            // if set, the bound port is written here once listening
  // HTTP admin listener: /healthz (liveness), /readyz (readiness). -1: off;
  // 0: an ephemeral port (written to http_port_file).
  int32_t http_port = -1;
  std::string http_host;                          // address the admin listener binds; default listen_host
  std::string http_port_file;                     // if set, the bound admin port is written here once listening
  int io_threads = 2;                             // Asio threads serving connections
  FsyncMode fsync = FsyncMode::kInterval;         // always: ack after fdatasync (group commit)
  std::chrono::milliseconds fsync_interval{100};  // interval mode: max time data stays unsynced
  uint64_t segment_bytes = 128ull << 20;          // roll a segment at this size
  std::chrono::milliseconds segment_ms{7LL * 24 * 3600 * 1000};  // roll a segment at this age
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;                 // default topic retention by age; -1 unlimited
  int64_t retention_bytes = -1;  // default per-partition retention by size; -1 unlimited
  std::chrono::milliseconds retention_check_interval{30'000};
  int32_t default_partitions = 1;                             // partitions of a topic created without a count
  uint32_t max_frame_bytes = 64u << 20;                       // largest request frame accepted
  int32_t max_batch_bytes = 16 << 20;                         // largest record batch accepted
  uint64_t produce_memory_bytes = 256ull << 20;               // broker-wide budget for produce requests in memory
  int max_in_flight_per_connection = 64;                      // requests read ahead of their responses
  std::chrono::milliseconds frame_read_timeout{30'000};       // rest of a frame must arrive this soon after its header
  uint32_t fetch_max_bytes = 50u << 20;                       // cap on one fetch response
  std::chrono::milliseconds shutdown_grace{10'000};           // SIGTERM: time to finish in-flight requests
  int32_t offsets_partitions = 16;                            // partitions of __consumer_offsets (fixed once created)
  std::chrono::milliseconds group_heartbeat_interval{1000};   // told to group members
  std::chrono::milliseconds group_min_session_timeout{1000};  // members asking for less get this
  std::chrono::milliseconds group_max_session_timeout{300'000};
  std::string log_level = "info";
  std::string log_format = "text";  // text (time level component message key=value) or json (one object a line)
  // /metrics: one series per partition (labels topic, partition) for the log
  // offsets, leadership and replica counts; false: one per topic (sums, or
  // counts of partitions), for clusters with many partitions.
  bool metrics_per_partition = true;
};

// Loads a YAML file (keys as the field names above; durations in ms with an
// `_ms` suffix, fsync as "always"/"interval"). Unknown keys and wrong types
// are errors that name the key.
[[nodiscard]] Result<BrokerConfig> LoadConfigFile(const std::string& path, BrokerConfig base = {});
// Checks ranges and combinations; names the offending option.
[[nodiscard]] Result<void> Validate(const BrokerConfig& config);

}  // namespace telemq::broker
