// telemq-collector: consumes the telemetry topic as a member of the
// collectors' group, keeps a RocksDB view per owned partition and serves the
// internal query API (docs/collector.md; flags in docs/operations.md).
//
//   telemq-collector --bootstrap 127.0.0.1:9092 --data-dir /var/lib/telemq-collector --http-port 8081
//
// SIGTERM or SIGINT: leave the group (flushing and closing every store),
// stop the HTTP server, exit 0. A bad flag: a message and exit 2.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <thread>

#include "collector/collector.h"
#include "collector/http_server.h"
#include "telemq/common/cli_config.h"
#include "telemq/common/log.h"
#include "telemq/common/program.h"

namespace {

using telemq::collector::CollectorOptions;

int Run(int argc, char** argv) {
  CLI::App app{"telemq-collector: materialises the telemetry topic into per-partition RocksDB views"};
  CollectorOptions o;
  std::string bootstrap = "127.0.0.1:9092";
  std::string http_host = "127.0.0.1";
  std::string advertise_host = "127.0.0.1";
  uint16_t http_port = 8081;
  int http_threads = 32;
  std::string port_file;
  std::string log_level = "info";
  std::string log_format = "text";
  std::string instance_id;
  int64_t session_timeout_ms = o.session_timeout.count();
  int64_t commit_interval_ms = o.commit_interval.count();
  int64_t flush_interval_ms = o.flush_interval.count();
  int64_t retention_check_ms = o.retention_check_interval.count();
  int64_t retention_ms = 0;
  size_t block_cache_mb = o.store.block_cache_bytes >> 20;
  size_t memtable_budget_mb = o.store.memtable_budget_bytes >> 20;
  size_t write_buffer_mb = o.store.write_buffer_bytes >> 20;

  app.add_option("--bootstrap", bootstrap, "Brokers, host:port[,host:port...] (default 127.0.0.1:9092)");
  app.add_option("--topic", o.topic, "Telemetry topic (default gpu.telemetry)");
  app.add_option("--group", o.group, "Consumer group of the collectors (default telemq-collectors)");
  app.add_option("--instance-id", instance_id,
                 "Static group membership id, unique and stable per collector (a StatefulSet pod name); "
                 "a restart within the session timeout keeps its partitions (default: dynamic member)");
  app.add_option("--data-dir", o.data_dir, "Directory of the partition stores (default ./collector-data)");
  app.add_option("--http-host", http_host, "Address the HTTP server binds (default 127.0.0.1)");
  app.add_option("--http-port", http_port, "HTTP port; 0 picks an ephemeral one (default 8081)");
  app.add_option("--port-file", port_file, "Write the bound HTTP port to this file once listening");
  app.add_option("--advertise-host", advertise_host,
                 "Host in the endpoint advertised to the group (gateways dial it; default 127.0.0.1)");
  app.add_option("--http-threads", http_threads,
                 "Threads serving HTTP connections; each open keep-alive connection holds one (default 32)")
      ->check(CLI::Range(1, 256));
  app.add_option("--session-timeout-ms", session_timeout_ms,
                 "Group session timeout: a silent collector's partitions move after it (default 10000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  app.add_option("--commit-interval-ms", commit_interval_ms,
                 "How often applied offsets are committed to the group, for lag (default 5000)")
      ->check(CLI::Range(int64_t{1}, int64_t{3'600'000}));
  app.add_option("--flush-interval-ms", flush_interval_ms,
                 "How often stores with new data are flushed to disk; bounds replay after a crash (default 30000)")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400'000}));
  app.add_option("--retention-check-interval-ms", retention_check_ms,
                 "How often points older than the retention are deleted (default 60000)")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400'000}));
  app.add_option("--retention-ms", retention_ms,
                 "Keep points this long, -1 forever (default: the topic's retention_ms, re-read at every check)")
      ->check(CLI::Range(int64_t{-1}, std::numeric_limits<int64_t>::max() / 1000));
  app.add_option("--block-cache-mb", block_cache_mb, "RocksDB block cache shared by all stores (default 64)");
  app.add_option("--memtable-budget-mb", memtable_budget_mb, "Memory for all stores' memtables together (default 256)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--write-buffer-mb", write_buffer_mb, "Memtable size of one store (default 32)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 16));
  app.add_flag("--compact-on-exit", o.compact_on_exit,
               "On shutdown, compact every store fully and log its size in bytes per point");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", log_format,
                 "text: time level component message key=value; json: one object a line (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  telemq::AddConfigFileOption(app);
  if (const int rc = telemq::ParseCommandLine(app, argc, argv, "telemq-collector"); rc >= 0) return rc;
  o.client.bootstrap_servers = telemq::SplitCommaList(bootstrap);
  if (o.client.bootstrap_servers.empty()) {
    std::fprintf(stderr, "telemq-collector: --bootstrap is empty\n");
    return 2;
  }
  if (o.topic.empty() || o.group.empty() || o.data_dir.empty() || advertise_host.empty()) {
    std::fprintf(stderr, "telemq-collector: --topic, --group, --data-dir and --advertise-host must not be empty\n");
    return 2;
  }
  if (!instance_id.empty()) o.instance_id = instance_id;
  o.session_timeout = std::chrono::milliseconds(session_timeout_ms);
  o.commit_interval = std::chrono::milliseconds(commit_interval_ms);
  o.flush_interval = std::chrono::milliseconds(flush_interval_ms);
  o.retention_check_interval = std::chrono::milliseconds(retention_check_ms);
  if (app.count("--retention-ms") > 0) o.retention_ms = retention_ms;
  o.store.block_cache_bytes = block_cache_mb << 20;
  o.store.memtable_budget_bytes = memtable_budget_mb << 20;
  o.store.write_buffer_bytes = write_buffer_mb << 20;

  telemq::log::Init("collector", *telemq::log::ParseFormat(log_format), spdlog::level::from_str(log_level));

  // Signals are taken synchronously by this thread only; block them before
  // any thread starts so every thread inherits the mask.
  const sigset_t signals = telemq::BlockTerminationSignals();

  telemq::metrics::Registry registry;
  auto collector = telemq::collector::Collector::Create(o, registry);
  if (!collector) {
    telemq::log::Critical("cannot start", {{"error", collector.error().ToString()}});
    return collector.error().code() == telemq::Errc::kInvalidArgument ? 2 : 1;
  }
  telemq::collector::HttpServer server(**collector, registry, [c = collector->get()] { return c->healthy(); });
  auto port = server.Bind({http_host, http_port, http_threads});
  if (!port) {
    telemq::log::Critical("cannot listen for http", {{"error", port.error().ToString()}});
    return 1;
  }
  server.Start();
  if (!port_file.empty() && !telemq::WritePortFile(port_file, *port)) {
    telemq::log::Critical("cannot write port file", {{"path", port_file}});
    return 1;
  }
  const std::string endpoint = "http://" + advertise_host + ":" + std::to_string(*port);
  telemq::log::Info("listening", {{"host", http_host}, {"port", *port}, {"endpoint", endpoint}});
  if (auto r = (*collector)->Start(endpoint); !r) {
    telemq::log::Critical("cannot join group", {{"group", o.group}, {"error", r.error().ToString()}});
    return r.error().code() == telemq::Errc::kInvalidArgument ? 2 : 1;
  }

  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::thread loop([&] {
    if (auto r = (*collector)->Run(stop); !r) {
      telemq::log::Critical("consumer loop stopped", {{"error", r.error().ToString()}});
      failed = true;
    }
    // Wake the signal wait if the loop ended on its own.
    if (!stop.load()) kill(getpid(), SIGTERM);
  });
  int sig = 0;
  sigwait(&signals, &sig);
  telemq::log::Info("signal received; leaving the group", {{"signal", sig}});
  stop = true;
  loop.join();
  server.Stop();
  telemq::log::Info("stopped");
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq-collector: fatal: %s\n", e.what());
    return 1;
  }
}
