// telemq-gateway: the public REST API of the GPU telemetry pipeline.
//
//   telemq-gateway --bootstrap 127.0.0.1:9092 --http-port 8080
//   telemq-gateway --print-openapi > docs/openapi.json
//
// SIGTERM or SIGINT: stop accepting, finish in-flight requests, exit 0. A bad
// flag: a message and exit code 2. docs/operations.md lists the flags.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "gateway/api.h"
#include "gateway/gateway.h"
#include "telemq/common/cli_config.h"
#include "telemq/common/log.h"
#include "telemq/common/program.h"

#ifndef TELEMQ_GATEWAY_DEFAULT_DOCS_DIR
#define TELEMQ_GATEWAY_DEFAULT_DOCS_DIR ""
#endif
#ifndef TELEMQ_GATEWAY_INSTALLED_DOCS_DIR
#define TELEMQ_GATEWAY_INSTALLED_DOCS_DIR ""
#endif

namespace {

// Swagger UI: the source tree's npm copy when the gateway runs from a build
// directory, else the copy `cmake --install` put under the prefix.
std::string DefaultDocsDir() {
  std::error_code ec;
  const std::string source = TELEMQ_GATEWAY_DEFAULT_DOCS_DIR;
  if (!source.empty() && std::filesystem::is_directory(source, ec)) return source;
  return TELEMQ_GATEWAY_INSTALLED_DOCS_DIR;
}

int Run(int argc, char** argv) {
  using telemq::gateway::GatewayOptions;
  CLI::App app{"telemq-gateway: public REST API over the telemetry collectors"};
  GatewayOptions o;
  o.docs_dir = DefaultDocsDir();
  std::string bootstrap = "127.0.0.1:9092";
  std::string port_file;
  std::string log_level = "info";
  std::string log_format = "text";
  int64_t refresh_ms = o.routing_refresh.count();
  int64_t upstream_timeout_ms = o.upstream_timeout.count();
  int64_t connect_timeout_ms = o.upstream_connect_timeout.count();
  bool print_openapi = false;
  bool print_routes = false;
  app.add_option("--bootstrap", bootstrap, "Brokers, host:port comma list (default 127.0.0.1:9092)");
  app.add_option("--topic", o.topic, "Telemetry topic (default gpu.telemetry)");
  app.add_option("--collector-group", o.collector_group,
                 "Consumer group of the collectors (default telemq-collectors)");
  app.add_option("--http-host", o.http_host, "Address to listen on (default 127.0.0.1; 0.0.0.0 in Kubernetes)");
  app.add_option("--http-port", o.http_port, "HTTP port; 0 picks an ephemeral one (default 8080)");
  app.add_option("--port-file", port_file, "Write the bound HTTP port here once listening");
  app.add_option("--http-threads", o.http_threads,
                 "Threads serving HTTP requests; each open keep-alive connection holds one (default 64)")
      ->check(CLI::Range(2, 1024));
  app.add_option("--docs-dir", o.docs_dir,
                 "Directory of the swagger-ui-dist package served at /docs (default: " + o.docs_dir + ")");
  app.add_option("--routing-refresh-ms", refresh_ms,
                 "How often the routing table is re-read from the broker (default 1000)")
      ->check(CLI::Range(int64_t{50}, int64_t{600'000}));
  app.add_option("--upstream-timeout-ms", upstream_timeout_ms,
                 "Time a collector has to answer before the client gets 504 (default 5000)")
      ->check(CLI::Range(int64_t{10}, int64_t{600'000}));
  app.add_option("--upstream-connect-timeout-ms", connect_timeout_ms,
                 "Time to open a connection to a collector (default 1000)")
      ->check(CLI::Range(int64_t{10}, int64_t{60'000}));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", log_format,
                 "text: time level component message key=value; json: one object a line (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--print-openapi", print_openapi, "Print the OpenAPI document and exit");
  app.add_flag("--print-routes", print_routes, "Print one 'METHOD path' line per route and exit");
  telemq::AddConfigFileOption(app);
  if (const int rc = telemq::ParseCommandLine(app, argc, argv, "telemq-gateway"); rc >= 0) return rc;
  if (print_openapi) {
    std::fputs(telemq::gateway::OpenApiDocument().c_str(), stdout);
    return 0;
  }
  if (print_routes) {
    // Every GET route also answers HEAD (httplib serves it from the GET handler).
    for (const auto& r : telemq::gateway::Routes()) {
      for (std::string_view method : {r.method, std::string_view("HEAD")}) {
        std::printf("%.*s %.*s\n", static_cast<int>(method.size()), method.data(), static_cast<int>(r.path.size()),
                    r.path.data());
      }
    }
    return 0;
  }
  o.bootstrap = telemq::SplitCommaList(bootstrap);
  if (o.bootstrap.empty()) {
    std::fprintf(stderr, "telemq-gateway: --bootstrap names no broker\n");
    return 2;
  }
  o.routing_refresh = std::chrono::milliseconds(refresh_ms);
  o.upstream_timeout = std::chrono::milliseconds(upstream_timeout_ms);
  o.upstream_connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
  telemq::log::Init("gateway", *telemq::log::ParseFormat(log_format), spdlog::level::from_str(log_level));

  // Signals are taken synchronously by this thread only.
  const sigset_t signals = telemq::BlockTerminationSignals();

  telemq::gateway::Gateway gateway(o);
  if (auto r = gateway.Start(); !r) {
    telemq::log::Critical("cannot start", {{"error", r.error().ToString()}});
    return 1;
  }
  telemq::log::Info("listening", {{"host", o.http_host},
                                  {"port", gateway.port()},
                                  {"bootstrap", bootstrap},
                                  {"topic", o.topic},
                                  {"group", o.collector_group}});
  if (!port_file.empty() && !telemq::WritePortFile(port_file, gateway.port())) {
    telemq::log::Critical("cannot write port file", {{"path", port_file}});
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  telemq::log::Info("signal received; stopping", {{"signal", sig}});
  gateway.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq-gateway: fatal: %s\n", e.what());
    return 1;
  }
}
