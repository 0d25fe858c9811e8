#pragma once
// Latency histogram for the load tool: log-linear buckets (64 per power of
// two) over microseconds, so percentiles are within ~1.6% at any scale with
// a fixed 32 KiB of memory. Not thread-safe: one per thread, then Merge.

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace telemq::bench {

class Histogram {
 public:
  void Record(int64_t micros) {
    const uint64_t v = static_cast<uint64_t>(std::max<int64_t>(micros, 0));
    ++counts_[Bucket(v)];
    ++count_;
    max_ = std::max(max_, v);
  }
  void Merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // Upper bound of the bucket holding the q-quantile, in microseconds.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 6;  // 64 linear sub-buckets per power of two
  static size_t Bucket(uint64_t v) {
    if (v < (1u << kSubBits)) return static_cast<size_t>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    return static_cast<size_t>(((shift + 1) << kSubBits) + ((v >> shift) & ((1u << kSubBits) - 1)));
  }
  static uint64_t UpperBound(size_t b) {
    if (b < (1u << kSubBits)) return b;
    const int shift = static_cast<int>(b >> kSubBits) - 1;
    const uint64_t sub = b & ((1u << kSubBits) - 1);
    return (((1ull << kSubBits) | sub) << shift) + ((1ull << shift) - 1);
  }
  std::array<uint64_t, (64 - kSubBits + 1) << kSubBits> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace telemq::bench
