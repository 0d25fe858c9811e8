#pragma once
// One run of a load tool as one JSON line: the shared output of telemq-bench
// (--json) and the peer load generators of make compare (bench/compare), so
// scripts/compare and compare-table read all three systems the same way.
// Header-only; not thread-safe (fill it after the run).
//
// Fields: system, mode (publish|consume|e2e), topic, partitions,
// record_size, records (acknowledged or received), failed, seconds,
// records_per_s, mb_per_s (values only), latency_from (send|scheduled),
// latency_us {p50, p99, p999, max, n} (publish: send→ack; e2e:
// send→receive; consume: absent), async (how unacknowledged records are
// bounded).

#include <nlohmann/json.hpp>
#include <string>

#include "bench/load/histogram.h"

namespace telemq::bench {

struct LoadResult {
  std::string system;
  std::string mode;
  std::string topic;
  int partitions = 1;
  size_t record_size = 0;
  int64_t records = 0;
  int64_t failed = 0;
  double seconds = 0;
  std::string latency_from = "send";
  std::string async;
  const Histogram* latency = nullptr;  // not owned; null when not measured

  std::string ToJsonLine() const {
    nlohmann::json j;
    j["system"] = system;
    j["mode"] = mode;
    j["topic"] = topic;
    j["partitions"] = partitions;
    j["record_size"] = record_size;
    j["records"] = records;
    j["failed"] = failed;
    j["seconds"] = seconds;
    const double secs = seconds > 0 ? seconds : 1e-9;
    j["records_per_s"] = static_cast<double>(records) / secs;
    j["mb_per_s"] = static_cast<double>(records) * static_cast<double>(record_size) / 1e6 / secs;
    if (!async.empty()) j["async"] = async;
    if (latency != nullptr) {
      j["latency_from"] = latency_from;
      j["latency_us"] = {{"p50", latency->Percentile(0.50)},
                         {"p99", latency->Percentile(0.99)},
                         {"p999", latency->Percentile(0.999)},
                         {"max", latency->max()},
                         {"n", latency->count()}};
    }
    return j.dump();
  }
};

}  // namespace telemq::bench
