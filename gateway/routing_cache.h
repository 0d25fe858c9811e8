#pragma once
// RoutingCache: the gateway's current view of who serves which partition,
// refreshed from the broker in the background so that no request waits on
// the broker.
//
// Promises:
//  * A thread refreshes every `interval` (DescribeTopic for the partition
//    count, DescribeGroup for the owners) and at once, though at most every
//    `min_interval`, after RequestRefresh() (a collector said "not mine" or
//    could not be reached).
//  * Current() never blocks on the broker: it returns the last table built.
//    A failed refresh keeps the previous table (stale routes beat none; a
//    wrong one costs a 503 and another refresh) and records the failure.
//  * Before the first successful refresh the table has no partitions.
// Thread-safe. Start() once, Stop() once (also done by the destructor).

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/routing.h"
#include "telemq/client_options.h"
#include "telemq/common/metrics.h"

namespace telemq::gateway {

struct RoutingSnapshot {
  RoutingTable table;
  bool topic_exists = false;
  // "" after a successful refresh, else why the last one failed.
  std::string error;
  std::chrono::steady_clock::time_point last_success{};
};

struct RoutingCacheOptions {
  ClientOptions client;
  std::string topic = "gpu.telemetry";
  std::string group = "telemq-collectors";
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds min_interval{100};
};

class RoutingCache {
 public:
  RoutingCache(RoutingCacheOptions options, metrics::Registry& registry);
  ~RoutingCache();
  RoutingCache(const RoutingCache&) = delete;
  RoutingCache& operator=(const RoutingCache&) = delete;

  void Start();
  void Stop();
  std::shared_ptr<const RoutingSnapshot> Current() const;
  void RequestRefresh();
  const RoutingCacheOptions& options() const { return options_; }

 private:
  void Run();
  void RefreshOnce();

  const RoutingCacheOptions options_;
  metrics::Counter& refreshes_;
  metrics::Counter& refresh_errors_;
  metrics::Gauge& partitions_;
  metrics::Gauge& unowned_;
  metrics::Gauge& collectors_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::shared_ptr<const RoutingSnapshot> current_;  // GUARDED_BY(mu_)
  bool refresh_requested_ = false;                  // GUARDED_BY(mu_)
  bool stopping_ = false;                           // GUARDED_BY(mu_)
  std::vector<std::string> last_warnings_;          // refresher thread only
  std::unique_ptr<Admin> admin_;                    // refresher thread only
  std::thread thread_;
};

}  // namespace telemq::gateway
