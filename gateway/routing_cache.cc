#include "gateway/routing_cache.h"

#include "telemq/admin.h"
#include "telemq/common/log.h"

namespace telemq::gateway {

RoutingCache::RoutingCache(RoutingCacheOptions options, metrics::Registry& registry)
    : options_(std::move(options)),
      refreshes_(registry.AddCounter("telemq_gateway_routing_refreshes_total",
                                     "Routing table refreshes from the broker that succeeded")),
      refresh_errors_(registry.AddCounter("telemq_gateway_routing_refresh_errors_total",
                                          "Routing table refreshes that failed (broker unreachable or erroring)")),
      partitions_(registry.AddGauge("telemq_gateway_partitions", "Partitions of the telemetry topic")),
      unowned_(
          registry.AddGauge("telemq_gateway_partitions_unowned", "Partitions with no collector in the routing table")),
      collectors_(registry.AddGauge("telemq_gateway_collectors", "Collector endpoints in the routing table")),
      current_(std::make_shared<RoutingSnapshot>()) {}

RoutingCache::~RoutingCache() {
  Stop();
  admin_.reset();
}

void RoutingCache::Start() {
  thread_ = std::thread([this] { Run(); });
}

void RoutingCache::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const RoutingSnapshot> RoutingCache::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void RoutingCache::RequestRefresh() {
  {
    std::lock_guard lock(mu_);
    refresh_requested_ = true;
  }
  wake_.notify_all();
}

void RoutingCache::Run() {
  using Clock = std::chrono::steady_clock;
  auto last = Clock::now() - options_.interval;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Wait for the period, or an early request no sooner than min_interval.
    wake_.wait_until(lock, last + options_.interval, [&] {
      return stopping_ || Clock::now() >= last + options_.interval ||
             (refresh_requested_ && Clock::now() >= last + options_.min_interval);
    });
    if (stopping_) break;
    if (refresh_requested_ && Clock::now() < last + options_.min_interval) {
      wake_.wait_until(lock, last + options_.min_interval, [&] { return stopping_; });
      if (stopping_) break;
    }
    refresh_requested_ = false;
    lock.unlock();
    last = Clock::now();
    RefreshOnce();
    lock.lock();
  }
}

void RoutingCache::RefreshOnce() {
  auto fail = [&](const std::string& why) {
    refresh_errors_.Inc();
    auto next = std::make_shared<RoutingSnapshot>(*Current());
    if (next->error != why) log::Warn("routing refresh failed", {{"error", why}});
    next->error = why;
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  };
  // Created lazily: the broker may be down when the gateway starts.
  if (!admin_) {
    auto created = Admin::Create(options_.client);
    if (!created) return fail("cannot create admin client: " + created.error().ToString());
    admin_ = std::move(*created);
  }
  auto next = std::make_shared<RoutingSnapshot>();
  auto topic = admin_->DescribeTopic(options_.topic, /*with_offsets=*/false);
  int32_t partitions = 0;
  if (topic) {
    partitions = static_cast<int32_t>(topic->partitions.size());
    next->topic_exists = true;
  } else if (topic.error().code() != Errc::kNotFound) {
    return fail("describe topic " + options_.topic + ": " + topic.error().ToString());
  }
  GroupDescription group;
  if (partitions > 0) {
    auto described = admin_->DescribeGroup(options_.group);
    if (described) {
      group = std::move(*described);
    } else if (described.error().code() != Errc::kNotFound) {
      return fail("describe group " + options_.group + ": " + described.error().ToString());
    }
  }
  std::vector<std::string> warnings;
  next->table = RoutingTable::Build(options_.topic, partitions, group, &warnings);
  // Log what changed, not the same complaint every second.
  if (warnings != last_warnings_) {
    for (const auto& w : warnings) log::Warn("collector group problem", {{"group", options_.group}, {"problem", w}});
    last_warnings_ = warnings;
  }
  next->last_success = std::chrono::steady_clock::now();
  const auto previous = Current();
  if (!previous->error.empty()) log::Info("routing refresh works again");
  if (previous->table.endpoints() != next->table.endpoints() ||
      previous->table.partitions() != next->table.partitions()) {
    log::Info("routing changed", {{"partition_count", partitions},
                                  {"collector_count", next->table.endpoints().size()},
                                  {"unowned_partition_count", next->table.UnownedPartitions().size()}});
  }
  refreshes_.Inc();
  partitions_.Set(partitions);
  unowned_.Set(static_cast<double>(next->table.UnownedPartitions().size()));
  collectors_.Set(static_cast<double>(next->table.endpoints().size()));
  std::lock_guard lock(mu_);
  current_ = std::move(next);
}

}  // namespace telemq::gateway
