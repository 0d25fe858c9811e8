#pragma once
// Test helpers for the collector's unit tests: a temporary directory and a
// log of encoded telemetry records to feed PartitionStore::Apply.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "collector/partition_store.h"
#include "telemetry/point.h"
#include "tests/support/temp_dir.h"

namespace telemq::collector::testing {

// A scratch directory for one test (removed on destruction).
class ScratchDir : public telemq::testing::TempDir {
 public:
  ScratchDir() : telemq::testing::TempDir("telemq-collector") {}
};

inline telemetry::TelemetryPoint MakePoint(const std::string& uuid, int64_t ts, const std::string& metric, double value,
                                           const std::string& host = "host-0001") {
  telemetry::TelemetryPoint p;
  p.gpu_uuid = uuid;
  p.gpu_id = 0;
  p.device = "nvidia0";
  p.model_name = "NVIDIA H100 80GB HBM3";
  p.hostname = host;
  p.metric_name = metric;
  p.value = value;
  p.timestamp_us = ts;
  p.labels = {{"container", ""}, {"pod", ""}};
  return p;
}

// A partition log in memory: records with consecutive offsets whose bytes
// stay valid as long as the log lives.
class RecordLog {
 public:
  Offset Append(const telemetry::TelemetryPoint& p) {
    auto bytes = telemetry::EncodePoint(p);
    EXPECT_TRUE(bytes.has_value());
    return AppendRaw(p.gpu_uuid, bytes ? *bytes : std::string());
  }
  Offset AppendRaw(std::optional<std::string> key, std::optional<std::string> value) {
    keys_.push_back(std::move(key));
    values_.push_back(std::move(value));
    const Offset o(static_cast<int64_t>(records_.size()));
    StoreRecord r;
    r.offset = o;
    if (keys_.back()) r.key = *keys_.back();
    if (values_.back()) r.value = *values_.back();
    records_.push_back(r);
    return o;
  }
  // Records [from, to).
  std::vector<StoreRecord> Range(int64_t from, int64_t to) const {
    return {records_.begin() + from, records_.begin() + std::min<int64_t>(to, size())};
  }
  std::vector<StoreRecord> All() const { return records_; }
  int64_t size() const { return static_cast<int64_t>(records_.size()); }

 private:
  std::deque<std::optional<std::string>> keys_;  // deque: references stay valid
  std::deque<std::optional<std::string>> values_;
  std::vector<StoreRecord> records_;
};

inline std::unique_ptr<PartitionStore> OpenOrDie(const std::string& path, const std::string& topic = "gpu.telemetry") {
  auto s = PartitionStore::Open({path, topic, nullptr});
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
  return s ? std::move(*s) : nullptr;
}

}  // namespace telemq::collector::testing
