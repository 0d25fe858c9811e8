#pragma once
// Consumer: reads records of partitions assigned by hand (Assign) or by a
// consumer group (Subscribe, docs/groups.md). The client's I/O thread
// prefetches from each assigned partition's leader (long-poll fetches,
// bounded by max_buffer_bytes); Poll() verifies every batch's checksum
// (end-to-end integrity) and decodes its records in the calling thread.
//
// Thread-safety: every method may be called from any thread, but Poll() is
// meant for one consuming thread. Records returned by Poll() point into
// buffers owned by the returned ConsumerRecords: keep it alive while reading.
//
// Groups: membership (heartbeats, coordinator lookup and failover) runs on
// the I/O thread; partition changes are applied inside Poll(), on the
// caller's thread, where the RebalanceListener runs, so the application can
// commit before a partition goes. Close() applies the final revocation (and
// runs the listener) on the thread that calls it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"
#include "telemq/group_common.h"
#include "telemq/topic_partition.h"

namespace telemq {

struct ConsumerOptions {
  ClientOptions client;
  std::chrono::milliseconds fetch_max_wait{500};  // long-poll bound on the broker
  int32_t fetch_min_bytes = 1;                    // broker answers once this much is ready
  int32_t fetch_max_bytes = 50 << 20;             // per fetch response
  int32_t partition_fetch_max_bytes = 4 << 20;    // per partition in one fetch
  size_t max_buffer_bytes = 64 << 20;             // prefetched, not yet polled
  size_t max_poll_records = 100'000;
};

enum class AutoCommit { kEnabled, kDisabled };
// Where a partition without a committed offset starts.
enum class AutoOffsetReset { kEarliest, kLatest };

struct GroupOptions {
  std::string group_id;
  // Static membership: a name unique among live members and stable across
  // restarts (a StatefulSet pod name). Unset: a dynamic member.
  std::optional<std::string> instance_id;
  // Opaque bytes other members see in DescribeGroup (e.g. an endpoint).
  std::string metadata;
  GroupTimeouts timeouts;
  // Enabled: positions are committed every auto_commit_interval from Poll(),
  // before a revocation is acknowledged, and on Close(). Default enabled.
  AutoCommit auto_commit = AutoCommit::kEnabled;
  std::chrono::milliseconds auto_commit_interval{5'000};
  AutoOffsetReset auto_offset_reset = AutoOffsetReset::kEarliest;
  CloseMode close_mode = CloseMode::kLeaveGroup;
};

// Callbacks of a subscribed Consumer. They run inside Poll() (or Close()) on
// the caller's thread and may call the Consumer (Position, CommitSync).
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Newly assigned partitions; their positions are already set (committed
  // offset, else auto_offset_reset) and may be changed with Seek.
  virtual void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  // Partitions about to go to another member: commit now if needed. With
  // auto-commit their positions were committed just before this call. No
  // record of them is returned after it.
  virtual void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) { (void)partitions; }
  // Partitions already gone (fenced, or no heartbeat for a session timeout):
  // commits for them would be rejected. Default: OnPartitionsRevoked.
  virtual void OnPartitionsLost(const std::vector<TopicPartition>& partitions) { OnPartitionsRevoked(partitions); }
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

  // Joins `options.group_id` with `topics` (once per Consumer; not with
  // Assign). Partitions arrive during later Poll() calls. kInvalidArgument
  // for an empty group id or topic list, or a second subscription.
  [[nodiscard]] Result<void> Subscribe(std::vector<std::string> topics, GroupOptions options,
                                       std::shared_ptr<RebalanceListener> listener = nullptr);
  // Commits `offsets` (the offset of the next record to read), or the current
  // positions of all owned partitions. Blocks until the coordinator answers
  // (retrying coordinator moves up to the request timeout). A member that was
  // fenced or replaced gets an error naming FencedMemberEpoch or
  // UnknownMemberId (codes kProducerFenced / kNotFound).
  [[nodiscard]] Result<void> CommitSync(std::optional<std::map<TopicPartition, Offset>> offsets = std::nullopt);
  // Same, without waiting and without retries; `done` (may be null) runs on
  // the client's I/O thread and must not block.
  void CommitAsync(std::function<void(Result<void>)> done = nullptr,
                   std::optional<std::map<TopicPartition, Offset>> offsets = std::nullopt);
  // The group's committed offset for `tp` (any partition); nullopt: none.
  [[nodiscard]] Result<std::optional<Offset>> Committed(const TopicPartition& tp);

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
