#include "collector/http_server.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "telemq/common/log.h"

namespace telemq::collector {

struct HttpServer::Impl {
  const PartitionDirectory& dir;
  metrics::Registry& registry;
  std::function<bool()> healthy;
  httplib::Server server;
  std::thread thread;
  metrics::Histogram* status_seconds = nullptr;
  metrics::Histogram* gpus_seconds = nullptr;
  metrics::Histogram* gpu_seconds = nullptr;
  metrics::Histogram* telemetry_seconds = nullptr;

  Impl(const PartitionDirectory& d, metrics::Registry& r, std::function<bool()> h)
      : dir(d), registry(r), healthy(std::move(h)) {}

  // Runs `handler`, writes its answer and observes its duration.
  template <typename F>
  void Serve(metrics::Histogram* latency, httplib::Response& res, F&& handler) {
    const auto start = std::chrono::steady_clock::now();
    ApiResponse a = handler();
    res.status = a.status;
    if (a.retry_after) res.set_header("Retry-After", "1");
    res.set_content(std::move(a.body), "application/json");
    latency->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  void Routes() {
    const auto buckets = metrics::LatencyBuckets();
    auto hist = [&](const char* route) {
      return &registry.AddHistogram("telemq_collector_query_duration_seconds",
                                    "Internal API request handling time by route", buckets, {{"route", route}});
    };
    status_seconds = hist("status");
    gpus_seconds = hist("gpus");
    gpu_seconds = hist("gpu");
    telemetry_seconds = hist("telemetry");

    server.Get("/internal/v1/status", [this](const httplib::Request&, httplib::Response& res) {
      Serve(status_seconds, res, [&] { return HandleStatus(dir); });
    });
    server.Get("/internal/v1/gpus", [this](const httplib::Request&, httplib::Response& res) {
      Serve(gpus_seconds, res, [&] { return HandleGpus(dir); });
    });
    server.Get("/internal/v1/latest", [this](const httplib::Request& req, httplib::Response& res) {
      Serve(gpus_seconds, res, [&] { return HandleLatest(dir, req.params); });
    });
    server.Get(R"(/internal/v1/gpus/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      Serve(gpu_seconds, res, [&] { return HandleGpu(dir, req.matches[1].str(), req.params); });
    });
    server.Get(R"(/internal/v1/gpus/([^/]+)/telemetry)", [this](const httplib::Request& req, httplib::Response& res) {
      Serve(telemetry_seconds, res, [&] { return HandleTelemetry(dir, req.matches[1].str(), req.params); });
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(registry.Render(), metrics::kPrometheusContentType);
    });
    server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      const bool ok = healthy();
      res.status = ok ? 200 : 503;
      res.set_content(ok ? "ok\n" : "unhealthy\n", "text/plain");
    });
    // Unknown paths get the API's error shape (httplib calls this for any
    // error status a handler did not fill in).
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      res.set_content(
          ErrorBody(res.status == 404 ? "not_found" : "error", "no route for " + req.method + " " + req.path),
          "application/json");
    });
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      log::Error("http handler failed", {{"method", req.method}, {"path", req.path}, {"error", what}});
      res.status = 500;
      res.set_content(ErrorBody("internal", what), "application/json");
    });
  }
};

HttpServer::HttpServer(const PartitionDirectory& dir, metrics::Registry& registry, std::function<bool()> healthy)
    : impl_(std::make_unique<Impl>(dir, registry, std::move(healthy))) {
  impl_->Routes();
}

HttpServer::~HttpServer() { Stop(); }

Result<uint16_t> HttpServer::Bind(const HttpServerOptions& options) {
  const int threads = std::max(1, options.threads);
  impl_->server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // Short keep-alive: an idle kept-alive connection holds a pool thread.
  impl_->server.set_keep_alive_timeout(2);
  // httplib writes headers and body separately; with Nagle on, the body of a
  // small answer on a kept-alive connection waits for the client's delayed
  // ACK (~40 ms, measured through the gateway; docs/gateway.md).
  impl_->server.set_tcp_nodelay(true);
  int port = 0;
  if (options.port == 0) {
    port = impl_->server.bind_to_any_port(options.host);
  } else {
    port = impl_->server.bind_to_port(options.host, options.port) ? options.port : -1;
  }
  if (port <= 0) {
    return Fail(Errc::kIo, "cannot listen on " + options.host + ":" + std::to_string(options.port));
  }
  return static_cast<uint16_t>(port);
}

void HttpServer::Start() {
  impl_->thread = std::thread([this] {
    if (!impl_->server.listen_after_bind()) log::Error("http server stopped with an error");
  });
}

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace telemq::collector
