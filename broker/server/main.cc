// telemq-broker: the message broker process.
//
//   telemq-broker --config broker.yaml --data-dir /var/lib/telemq --port 9092
//
// Options come from the YAML file first, then from the command line. SIGTERM
// or SIGINT: stop accepting, answer in-flight requests, sync and close every
// log, mark the shutdown clean, exit 0.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>

#include "broker/server/config.h"
#include "broker/server/server.h"
#include "telemq/common/cli_config.h"
#include "telemq/common/log.h"
#include "telemq/common/program.h"

namespace {

int Run(int argc, char** argv) {
  using telemq::broker::BrokerConfig;
  using telemq::broker::FsyncMode;
  CLI::App app{"telemq-broker: partitioned, durable message broker for GPU telemetry"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML config file (keys as the long options below, with _)");
  // Parse once to find --config, then apply the file and re-apply the flags on top.
  BrokerConfig defaults;
  BrokerConfig c;
  std::string fsync;
  int64_t fsync_interval_ms = -1, segment_ms = -1, retention_check_ms = -1, shutdown_grace_ms = -1;
  app.add_option("--node-id", c.node_id,
                 "Broker id (default: the one recorded in the data directory; with --peers, N of a host name "
                 "'anything-N'; else 0)");
  app.add_option("--peers", c.peers, "Every broker's host:port by id, comma-separated (entry i is broker i)")
      ->delimiter(',');
  app.add_option("--default-replication-factor", c.default_replication_factor,
                 "Replicas of a topic created without a count (default 3, capped by the cluster size)");
  int64_t raft_tick_ms = -1, liveness_ms = -1, balance_ms = -1, drain_ms = -1;
  app.add_option("--raft-tick-ms", raft_tick_ms, "Raft clock period (default 100)");
  app.add_option("--election-ticks", c.election_ticks, "Election timeout in Raft ticks (default 10)");
  app.add_option("--liveness-timeout-ms", liveness_ms, "A peer not heard from for this long is down (default 3000)");
  app.add_option("--leader-balance-interval-ms", balance_ms,
                 "How often leadership goes back to preferred leaders; 0 never (default 10000)");
  app.add_option("--leadership-drain-timeout-ms", drain_ms,
                 "SIGTERM: bound on handing leadership to other brokers (default 10000)");
  app.add_option("--listen-host", c.listen_host, "Address to bind (default 127.0.0.1)");
  app.add_option("--port", c.port, "TCP port; 0 picks an ephemeral port (default 9092)");
  app.add_option("--advertised-host", c.advertised_host, "Host clients dial (default: listen host)");
  app.add_option("--advertised-port", c.advertised_port,
                 "Port clients dial, e.g. behind a proxy (default: the bound port)");
  app.add_option("--data-dir", c.data_dir, "Directory for partition logs and metadata (default ./data)");
  app.add_option("--port-file", c.port_file, "Write the bound port to this file once listening");
  app.add_option("--http-port", c.http_port,
                 "HTTP admin port (/healthz, /readyz, /metrics); -1 off, 0 an ephemeral port (default -1)");
  app.add_option("--http-host", c.http_host, "Address the HTTP admin listener binds (default: listen host)");
  app.add_option("--http-port-file", c.http_port_file, "Write the bound HTTP admin port to this file");
  app.add_option("--io-threads", c.io_threads, "I/O threads (default 2)");
  app.add_option("--fsync", fsync,
                 "always: ack after fdatasync (group commit); interval: sync every --fsync-interval-ms")
      ->check(CLI::IsMember({"always", "interval"}));
  app.add_option("--fsync-interval-ms", fsync_interval_ms,
                 "Max ms data stays unsynced with fsync=interval (default 100)");
  app.add_option("--segment-bytes", c.segment_bytes, "Roll a segment at this size (default 128 MiB)");
  app.add_option("--segment-ms", segment_ms, "Roll a segment at this age in ms (default 7 days)");
  app.add_option("--retention-ms", c.retention_ms,
                 "Default topic retention by age in ms, -1 unlimited (default 7 days)");
  app.add_option("--retention-bytes", c.retention_bytes, "Default per-partition retention by size, -1 unlimited");
  app.add_option("--retention-check-interval-ms", retention_check_ms, "How often retention runs (default 30000)");
  app.add_option("--default-partitions", c.default_partitions,
                 "Partitions of a topic created without a count (default 1)");
  app.add_option("--max-frame-bytes", c.max_frame_bytes, "Largest request frame accepted (default 64 MiB)");
  app.add_option("--max-batch-bytes", c.max_batch_bytes, "Largest record batch accepted (default 16 MiB)");
  app.add_option("--produce-memory-bytes", c.produce_memory_bytes,
                 "Broker-wide produce memory budget (default 256 MiB)");
  app.add_option("--max-in-flight", c.max_in_flight_per_connection, "Requests read ahead per connection (default 64)");
  app.add_option("--fetch-max-bytes", c.fetch_max_bytes, "Cap on one fetch response (default 50 MiB)");
  app.add_option("--shutdown-grace-ms", shutdown_grace_ms,
                 "Time to finish in-flight requests on SIGTERM (default 10000)");
  app.add_option("--log-level", c.log_level, "trace|debug|info|warn|error|critical|off (default info)");
  app.add_option("--log-format", c.log_format,
                 "text: time level component message key=value; json: one object a line (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--metrics-per-partition", c.metrics_per_partition,
                 "/metrics: series per partition (true) or per topic (false) (default true)");
  int64_t group_hb_ms = -1, group_min_session_ms = -1, group_max_session_ms = -1;
  app.add_option("--offsets-partitions", c.offsets_partitions, "Partitions of __consumer_offsets (default 16)");
  int64_t frame_read_timeout_ms = -1;
  app.add_option("--frame-read-timeout-ms", frame_read_timeout_ms,
                 "Time for the rest of a request frame to arrive after its header (default 30000)");
  app.add_option("--group-heartbeat-interval-ms", group_hb_ms,
                 "Heartbeat interval told to group members (default 1000)");
  app.add_option("--group-min-session-timeout-ms", group_min_session_ms,
                 "Smallest member session timeout (default 1000)");
  app.add_option("--group-max-session-timeout-ms", group_max_session_ms,
                 "Largest member session timeout (default 300000)");
  // A bad flag or value exits 2, like an invalid config file.
  if (const int rc = telemq::ParseCommandLine(app, argc, argv, "telemq-broker"); rc >= 0) return rc;

  BrokerConfig base;
  if (!config_file.empty()) {
    auto loaded = telemq::broker::LoadConfigFile(config_file);
    if (!loaded) {
      std::fprintf(stderr, "telemq-broker: %s\n", loaded.error().ToString().c_str());
      return 2;
    }
    base = *loaded;
  }
  // Command-line values override the file only where given.
  auto given = [&](const char* name) { return app.count(name) > 0; };
  if (given("--node-id")) base.node_id = c.node_id;
  if (given("--peers")) base.peers = c.peers;
  if (given("--default-replication-factor")) base.default_replication_factor = c.default_replication_factor;
  if (given("--raft-tick-ms")) base.raft_tick = std::chrono::milliseconds(raft_tick_ms);
  if (given("--election-ticks")) base.election_ticks = c.election_ticks;
  if (given("--liveness-timeout-ms")) base.liveness_timeout = std::chrono::milliseconds(liveness_ms);
  if (given("--leader-balance-interval-ms")) base.leader_balance_interval = std::chrono::milliseconds(balance_ms);
  if (given("--leadership-drain-timeout-ms")) base.leadership_drain_timeout = std::chrono::milliseconds(drain_ms);
  if (given("--listen-host")) base.listen_host = c.listen_host;
  if (given("--port")) base.port = c.port;
  if (given("--advertised-host")) base.advertised_host = c.advertised_host;
  if (given("--advertised-port")) base.advertised_port = c.advertised_port;
  if (given("--data-dir")) base.data_dir = c.data_dir;
  if (given("--port-file")) base.port_file = c.port_file;
  if (given("--http-port")) base.http_port = c.http_port;
  if (given("--http-host")) base.http_host = c.http_host;
  if (given("--http-port-file")) base.http_port_file = c.http_port_file;
  if (given("--io-threads")) base.io_threads = c.io_threads;
  if (given("--fsync")) base.fsync = fsync == "always" ? FsyncMode::kAlways : FsyncMode::kInterval;
  if (given("--fsync-interval-ms")) base.fsync_interval = std::chrono::milliseconds(fsync_interval_ms);
  if (given("--segment-bytes")) base.segment_bytes = c.segment_bytes;
  if (given("--segment-ms")) base.segment_ms = std::chrono::milliseconds(segment_ms);
  if (given("--retention-ms")) base.retention_ms = c.retention_ms;
  if (given("--retention-bytes")) base.retention_bytes = c.retention_bytes;
  if (given("--retention-check-interval-ms"))
    base.retention_check_interval = std::chrono::milliseconds(retention_check_ms);
  if (given("--default-partitions")) base.default_partitions = c.default_partitions;
  if (given("--max-frame-bytes")) base.max_frame_bytes = c.max_frame_bytes;
  if (given("--max-batch-bytes")) base.max_batch_bytes = c.max_batch_bytes;
  if (given("--produce-memory-bytes")) base.produce_memory_bytes = c.produce_memory_bytes;
  if (given("--max-in-flight")) base.max_in_flight_per_connection = c.max_in_flight_per_connection;
  if (given("--fetch-max-bytes")) base.fetch_max_bytes = c.fetch_max_bytes;
  if (given("--shutdown-grace-ms")) base.shutdown_grace = std::chrono::milliseconds(shutdown_grace_ms);
  if (given("--log-level")) base.log_level = c.log_level;
  if (given("--log-format")) base.log_format = c.log_format;
  if (given("--metrics-per-partition")) base.metrics_per_partition = c.metrics_per_partition;
  if (given("--offsets-partitions")) base.offsets_partitions = c.offsets_partitions;
  if (given("--frame-read-timeout-ms")) base.frame_read_timeout = std::chrono::milliseconds(frame_read_timeout_ms);
  if (given("--group-heartbeat-interval-ms")) base.group_heartbeat_interval = std::chrono::milliseconds(group_hb_ms);
  if (given("--group-min-session-timeout-ms"))
    base.group_min_session_timeout = std::chrono::milliseconds(group_min_session_ms);
  if (given("--group-max-session-timeout-ms"))
    base.group_max_session_timeout = std::chrono::milliseconds(group_max_session_ms);
  if (auto v = telemq::broker::Validate(base); !v) {
    std::fprintf(stderr, "telemq-broker: invalid configuration: %s\n", v.error().message().c_str());
    return 2;
  }
  telemq::log::Init("broker", *telemq::log::ParseFormat(base.log_format), spdlog::level::from_str(base.log_level));

  // Signals are taken synchronously by this thread only.
  const sigset_t signals = telemq::BlockTerminationSignals();

  telemq::broker::Server server(base);
  if (auto r = server.Start(); !r) {
    telemq::log::Critical("cannot start", {{"error", r.error().ToString()}});
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  telemq::log::Info("signal received", {{"signal", sig}});
  if (auto r = server.Stop(); !r) {
    telemq::log::Critical("unclean shutdown", {{"error", r.error().ToString()}});
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq-broker: fatal: %s\n", e.what());
    return 1;
  }
}
