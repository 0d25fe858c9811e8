#include "telemq/common/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace telemq::metrics {

void Gauge::Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // Few buckets (about 16): a linear scan beats a binary search's branches.
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::Count() const {
  uint64_t n = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) n += buckets_[i].load(std::memory_order_relaxed);
  return n;
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help, Type type) {
  for (auto& f : families_) {
    if (f.name == name) {
      if (f.type != type) {
        std::fprintf(stderr, "metric %s registered twice with different types\n", name.c_str());
        std::abort();
      }
      return f;
    }
  }
  families_.push_back(Family{name, help, type, {}});
  return families_.back();
}

Counter& Registry::AddCounter(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard lock(mu_);
  Counter& c = counters_.emplace_back();
  FamilyFor(name, help, Type::kCounter).series.push_back(Series{std::move(labels), &c, nullptr, nullptr, nullptr});
  return c;
}

Gauge& Registry::AddGauge(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard lock(mu_);
  Gauge& g = gauges_.emplace_back();
  FamilyFor(name, help, Type::kGauge).series.push_back(Series{std::move(labels), nullptr, &g, nullptr, nullptr});
  return g;
}

Histogram& Registry::AddHistogram(const std::string& name, const std::string& help, std::vector<double> upper_bounds,
                                  Labels labels) {
  std::lock_guard lock(mu_);
  Histogram& h = histograms_.emplace_back(std::move(upper_bounds));
  FamilyFor(name, help, Type::kHistogram).series.push_back(Series{std::move(labels), nullptr, nullptr, &h, nullptr});
  return h;
}

void Registry::AddCallbackGauge(const std::string& name, const std::string& help, Labels labels,
                                std::function<double()> read) {
  std::lock_guard lock(mu_);
  FamilyFor(name, help, Type::kGauge)
      .series.push_back(Series{std::move(labels), nullptr, nullptr, nullptr, std::move(read)});
}

namespace {

void AppendEscaped(std::string& out, std::string_view s, bool quote_too) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote_too) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void AppendLabels(std::string& out, const Labels& labels, const char* extra_key = nullptr,
                  const std::string& extra_value = {}) {
  if (labels.empty() && extra_key == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    AppendEscaped(out, v, true);
    out += '"';
  }
  if (extra_key != nullptr) {
    if (!first) out += ',';
    out += extra_key;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help, MetricType type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendEscaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += type == MetricType::kCounter ? " counter\n" : type == MetricType::kGauge ? " gauge\n" : " histogram\n";
}

void AppendSample(std::string& out, std::string_view name, const Labels& labels, const std::string& value) {
  out += name;
  AppendLabels(out, labels);
  out += ' ';
  out += value;
  out += '\n';
}

void AppendHistogram(std::string& out, std::string_view name, const Labels& labels, const std::vector<double>& bounds,
                     const std::vector<uint64_t>& counts, double sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    out += name;
    out += "_bucket";
    AppendLabels(out, labels, "le", i < bounds.size() ? FormatValue(bounds[i]) : "+Inf");
    out += ' ';
    out += std::to_string(cumulative);
    out += '\n';
  }
  out += name;
  out += "_sum";
  AppendLabels(out, labels);
  out += ' ';
  out += FormatValue(sum);
  out += '\n';
  out += name;
  out += "_count";
  AppendLabels(out, labels);
  out += ' ';
  // The count rendered is the buckets' total, so _count always equals the
  // +Inf bucket even while observations race with rendering.
  out += std::to_string(cumulative);
  out += '\n';
}

}  // namespace

void FamilyWriter::Family(std::string_view name, std::string_view help, MetricType type) {
  name_ = name;
  AppendHeader(out_, name, help, type);
}

void FamilyWriter::Sample(const Labels& labels, double value) { AppendSample(out_, name_, labels, FormatValue(value)); }

void FamilyWriter::HistogramSample(const Labels& labels, const std::vector<double>& upper_bounds,
                                   const std::vector<uint64_t>& bucket_counts, double sum) {
  AppendHistogram(out_, name_, labels, upper_bounds, bucket_counts, sum);
}

void Registry::AddCollector(std::function<void(FamilyWriter&)> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(families_.size() * 160);
  for (const auto& f : families_) {
    AppendHeader(out, f.name, f.help, f.type);
    for (const auto& s : f.series) {
      if (s.histogram != nullptr) {
        AppendHistogram(out, f.name, s.labels, s.histogram->upper_bounds(), s.histogram->BucketCounts(),
                        s.histogram->Sum());
      } else if (s.counter != nullptr) {
        AppendSample(out, f.name, s.labels, std::to_string(s.counter->Value()));
      } else if (s.gauge != nullptr) {
        AppendSample(out, f.name, s.labels, FormatValue(s.gauge->Value()));
      } else {
        AppendSample(out, f.name, s.labels, FormatValue(s.read()));
      }
    }
  }
  FamilyWriter writer(out);
  for (const auto& collect : collectors_) collect(writer);
  return out;
}

}  // namespace telemq::metrics
