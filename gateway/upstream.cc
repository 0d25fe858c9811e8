#include "gateway/upstream.h"

#include <httplib.h>

#include <map>
#include <mutex>
#include <vector>

namespace telemq::gateway {

struct Upstream::Impl {
  explicit Impl(UpstreamOptions o) : options(o) {}

  std::unique_ptr<httplib::Client> Take(const std::string& endpoint, bool& reused) {
    {
      std::lock_guard lock(mu);
      auto& idle = pools[endpoint];
      if (!idle.empty()) {
        auto client = std::move(idle.back());
        idle.pop_back();
        reused = true;
        return client;
      }
    }
    reused = false;
    auto client = std::make_unique<httplib::Client>(endpoint);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(options.connect_timeout);
    client->set_read_timeout(options.read_timeout);
    client->set_write_timeout(options.read_timeout);
    return client;
  }

  void Give(const std::string& endpoint, std::unique_ptr<httplib::Client> client) {
    std::lock_guard lock(mu);
    auto& idle = pools[endpoint];
    if (idle.size() < options.max_idle_per_endpoint) idle.push_back(std::move(client));
  }

  UpstreamOptions options;
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> pools;  // GUARDED_BY(mu)
};

Upstream::Upstream(UpstreamOptions options) : impl_(std::make_unique<Impl>(options)) {}
Upstream::~Upstream() = default;

UpstreamReply Upstream::Get(const std::string& endpoint, const std::string& target) {
  UpstreamReply reply;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = false;
    auto client = impl_->Take(endpoint, reused);
    const auto started = std::chrono::steady_clock::now();
    auto res = client->Get(target);
    if (res) {
      reply.outcome = UpstreamReply::Outcome::kOk;
      reply.status = res->status;
      reply.body = std::move(res->body);
      impl_->Give(endpoint, std::move(client));
      return reply;
    }
    const httplib::Error err = res.error();
    reply.error = httplib::to_string(err);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    // Refused or unanswered connect: nobody serves at this endpoint now, or
    // its accept queue overflowed and the SYN was dropped. One more try: a
    // refusal repeats at once, a dropped SYN usually gets through.
    if (err == httplib::Error::Connection || err == httplib::Error::ConnectionTimeout) {
      reply.outcome = UpstreamReply::Outcome::kConnectFailed;
      continue;
    }
    if (elapsed >= impl_->options.read_timeout) {
      reply.outcome = UpstreamReply::Outcome::kTimeout;
      return reply;
    }
    reply.outcome = UpstreamReply::Outcome::kIoError;
    // A stale pooled connection fails at once; retry on a fresh one.
    if (!reused) return reply;
  }
  return reply;
}

}  // namespace telemq::gateway
