#pragma once
// Consumer: reads records of partitions assigned by hand (group membership
// is a separate API). The client's I/O thread prefetches from each assigned
// partition's leader (long-poll fetches, bounded by max_buffer_bytes); Poll()
// verifies every batch's checksum (end-to-end integrity) and decodes its
// records in the calling thread.
//
// Thread-safety: every method may be called from any thread, but Poll() is
// meant for one consuming thread. Records returned by Poll() point into
// buffers owned by the returned ConsumerRecords: keep it alive while reading.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct ConsumerOptions {
  ClientOptions client;
  std::chrono::milliseconds fetch_max_wait{500};  // long-poll bound on the broker
  int32_t fetch_min_bytes = 1;                    // broker answers once this much is ready
  int32_t fetch_max_bytes = 50 << 20;             // per fetch response
  int32_t partition_fetch_max_bytes = 4 << 20;    // per partition in one fetch
  size_t max_buffer_bytes = 64 << 20;             // prefetched, not yet polled
  size_t max_poll_records = 100'000;
};

struct ConsumerRecordHeader {
  std::string_view key;
  std::optional<std::string_view> value;
};

struct ConsumerRecord {
  std::string_view topic;
  int32_t partition = 0;
  Offset offset;
  int64_t timestamp_ms = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<ConsumerRecordHeader> headers;
};

// The records of one Poll() and the buffers they point into.
class ConsumerRecords {
 public:
  const std::vector<ConsumerRecord>& records() const { return records_; }
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  auto begin() const { return records_.begin(); }
  auto end() const { return records_.end(); }

 private:
  friend class Consumer;
  std::vector<ConsumerRecord> records_;
  std::vector<std::shared_ptr<const void>> buffers_;
};

class Consumer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the assignment. New partitions start at their earliest offset
  // unless Seek* says otherwise. kNotFound for an unknown topic/partition.
  [[nodiscard]] Result<void> Assign(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> assignment() const;
  [[nodiscard]] Result<void> Seek(const TopicPartition& tp, Offset offset);
  [[nodiscard]] Result<void> SeekToBeginning(const std::vector<TopicPartition>& partitions);
  [[nodiscard]] Result<void> SeekToEnd(const std::vector<TopicPartition>& partitions);
  // First record with timestamp >= timestamp_ms; the end if there is none.
  [[nodiscard]] Result<void> SeekToTimestamp(const std::vector<TopicPartition>& partitions, int64_t timestamp_ms);
  // Offset of the next record Poll() will return for `tp`.
  [[nodiscard]] Result<Offset> Position(const TopicPartition& tp) const;

  // Waits up to `timeout` for records. An error means a partition could not
  // be read (corrupt data, offset out of range, ...); its message names it.
  [[nodiscard]] Result<ConsumerRecords> Poll(std::chrono::milliseconds timeout);
  void Close();

 private:
  struct Impl;
  explicit Consumer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace telemq
