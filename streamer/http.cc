#include "streamer/http.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace telemq::streamer {

struct HttpServer::Impl {
  httplib::Server server;
  std::thread thread;
};

std::string StatusJson(const StreamerStatus& status) {
  nlohmann::json j;
  j["member_assignment"] = status.partitions;
  j["hosts"] = status.hosts;
  return j.dump();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& host, uint16_t port,
                                                      const metrics::Registry& registry,
                                                      std::function<StreamerStatus()> status) {
  std::unique_ptr<HttpServer> http(new HttpServer());
  http->impl_ = std::make_unique<Impl>();
  auto& server = http->impl_->server;
  server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.Render(), metrics::kPrometheusContentType);
  });
  server.Get("/status", [status = std::move(status)](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusJson(status()), "application/json");
  });
  server.Get("/healthz",
             [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Fail(Errc::kIo, "cannot listen on " + host + ":" + std::to_string(port));
  http->port_ = static_cast<uint16_t>(bound);
  http->impl_->thread = std::thread([impl = http->impl_.get()] { impl->server.listen_after_bind(); });
  return http;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace telemq::streamer
