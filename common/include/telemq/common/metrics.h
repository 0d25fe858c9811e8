#pragma once
// Prometheus metrics for every telemq process: counters, gauges and
// histograms kept in a Registry, rendered in the Prometheus text exposition
// format (version 0.0.4) for a /metrics endpoint.
//
// Promises:
//  * Updating a metric is lock-free (relaxed atomics): safe and cheap from any
//    thread, including hot paths. Registering and rendering take a mutex.
//  * A metric object lives as long as its Registry; the references returned
//    by Add* stay valid (no reallocation moves them).
//  * Series of one name are rendered together under one HELP/TYPE header,
//    in registration order; label values are escaped.
//  * Series that come and go (one per partition, per group) are not
//    registered one by one: a collector (AddCollector) writes them from the
//    owner's state at render time, after the registered families.
//
//   telemq::metrics::Registry registry;
//   auto& sent = registry.AddCounter("telemq_streamer_points_sent_total", "Points acknowledged by the broker");
//   sent.Inc(batch.size());
//   std::string body = registry.Render();

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace telemq::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative buckets with fixed upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Per-bucket counts (not cumulative), the last one being +Inf.
  std::vector<uint64_t> BucketCounts() const;
  // The buckets' total (no separate count is kept: one atomic less per
  // observation, and _count always equals the +Inf bucket).
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// What a collector (Registry::AddCollector) writes at render time: a family
// header, then its samples. Families a collector writes must not share a
// name with a registered family or another collector's.
class FamilyWriter {
 public:
  // Starts family `name` (HELP and TYPE lines). A family without samples
  // is still announced.
  void Family(std::string_view name, std::string_view help, MetricType type);
  // One sample of the current family (a counter or a gauge).
  void Sample(const Labels& labels, double value);
  // One histogram series of the current family: `bucket_counts` per bucket
  // (not cumulative), the last one +Inf; bounds as in Histogram.
  void HistogramSample(const Labels& labels, const std::vector<double>& upper_bounds,
                       const std::vector<uint64_t>& bucket_counts, double sum);

 private:
  friend class Registry;
  explicit FamilyWriter(std::string& out) : out_(out) {}
  std::string& out_;
  std::string name_;
};

// Latency buckets in seconds, 100 µs .. 10 s.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // One call per (name, labels). A name keeps the type and help of its first
  // registration; registering the same name with another type aborts.
  Counter& AddCounter(const std::string& name, const std::string& help, Labels labels = {});
  Gauge& AddGauge(const std::string& name, const std::string& help, Labels labels = {});
  Histogram& AddHistogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds,
                          Labels labels = {});
  // A gauge whose value is read at render time (e.g. a queue depth owned by
  // another object). `read` must be thread-safe and must not call Render.
  void AddCallbackGauge(const std::string& name, const std::string& help, Labels labels, std::function<double()> read);
  // Families whose series are enumerated at render time from state owned
  // elsewhere; `collect` runs (under the registry's mutex, after the
  // registered families) at every Render, must be thread-safe and must not
  // call back into the registry.
  void AddCollector(std::function<void(FamilyWriter&)> collect);

  std::string Render() const;

 private:
  using Type = MetricType;
  struct Series {
    Labels labels;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    std::function<double()> read;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<Series> series;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::vector<Family> families_;
  std::vector<std::function<void(FamilyWriter&)>> collectors_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
};

// The content type of Render()'s output.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace telemq::metrics
