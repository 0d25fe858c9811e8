#include "broker/server/admin_http.h"

#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "telemq/common/log.h"
#include "telemq/common/metrics.h"

namespace telemq::broker {

struct AdminHttp::Impl {
  httplib::Server server;
  std::thread thread;
  std::mutex mu;
  std::function<Readiness()> readiness;  // guarded by mu
  std::string not_ready = "recovering the data directory";
  std::function<std::string()> render_metrics;  // set before Start

  void Routes() {
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})"
                      "\n",
                      "application/json");
    });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      std::function<Readiness()> check;
      std::string reason;
      {
        std::lock_guard lock(mu);
        check = readiness;
        reason = not_ready;
      }
      nlohmann::json body;
      if (!check) {
        body = {{"ready", false}, {"reason", reason}};
      } else {
        const Readiness r = check();
        body = {
            {"ready", r.ready}, {"replicas", r.replicas}, {"leading", r.leading}, {"not_caught_up", r.not_caught_up}};
        if (!r.ready) body["reason"] = r.reason;
      }
      res.status = body["ready"].get<bool>() ? 200 : 503;
      res.set_content(body.dump() + "\n", "application/json");
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      if (!render_metrics) {
        res.status = 404;
        return;
      }
      res.set_content(render_metrics(), metrics::kPrometheusContentType);
    });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      nlohmann::json body = {{"error", "no route for " + req.method + " " + req.path}};
      res.set_content(body.dump() + "\n", "application/json");
    });
  }
};

AdminHttp::AdminHttp() : impl_(std::make_unique<Impl>()) { impl_->Routes(); }

AdminHttp::~AdminHttp() { Stop(); }

void AdminHttp::ServeMetrics(std::function<std::string()> render) { impl_->render_metrics = std::move(render); }

Result<uint16_t> AdminHttp::Start(const std::string& host, uint16_t port) {
  impl_->server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  impl_->server.set_keep_alive_timeout(2);
  int bound = 0;
  if (port == 0) {
    bound = impl_->server.bind_to_any_port(host);
  } else {
    bound = impl_->server.bind_to_port(host, port) ? port : -1;
  }
  if (bound <= 0) return Fail(Errc::kIo, "cannot listen for HTTP on " + host + ":" + std::to_string(port));
  impl_->thread = std::thread([this] {
    if (!impl_->server.listen_after_bind()) log::Error("admin http listener stopped with an error");
  });
  return static_cast<uint16_t>(bound);
}

void AdminHttp::Attach(std::function<Readiness()> readiness) {
  std::lock_guard lock(impl_->mu);
  impl_->readiness = std::move(readiness);
}

void AdminHttp::Detach(std::string reason) {
  std::lock_guard lock(impl_->mu);
  impl_->readiness = nullptr;
  impl_->not_ready = std::move(reason);
}

void AdminHttp::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace telemq::broker
