#pragma once
// Producer: asynchronous, batching, idempotent writes to topics.
//
// Send() encodes the record into its partition's open batch and returns; the
// client's I/O thread ships batches when they are full (batch_bytes) or old
// (linger), up to max_in_flight_per_partition produce requests unanswered per
// partition. With idempotence (default) every batch carries the producer id
// and a per-partition sequence: the broker appends a batch only if it is the
// next in sequence, and a retried batch the broker already wrote is
// acknowledged, never written twice. When a batch fails retriably, the later
// batches of its partition already sent are rejected (out of sequence) or
// fail too; once all are answered they go again, in sequence order, after
// it. Callbacks of a partition run in sequence order. Retriable failures are
// retried with backoff until delivery_timeout; then the callback gets the
// error. Memory is bounded by buffer_bytes: a full buffer blocks Send (up to
// max_block) or fails it at once with kBufferFull, by option.
//
// Leader changes (docs/protocol.md §10): batches go to the partition's
// leader only. A NotLeader answer with the new leader's id moves them there
// after the backoff; while no leader is known the partition's batches wait
// (within buffer_bytes and delivery_timeout) and metadata is refreshed.
// A retried batch keeps its producer id, epoch and sequence and goes before
// any later batch of its partition, so failover neither reorders nor
// duplicates. (A batch rejected for good, certainly not written, frees its
// sequences: the later ones are renumbered before they go again.)
//
// Thread-safe. Callbacks run on the client's I/O thread: keep them short.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq {

enum class Acks { kLeader, kAll };
enum class Compression { kNone, kLz4, kZstd };
enum class BufferFullPolicy { kBlock, kFail };
enum class Idempotence { kEnabled, kDisabled };

struct ProducerOptions {
  ClientOptions client;
  Acks acks = Acks::kAll;  // kAll: committed by a majority (= leader until replication)
  Idempotence idempotence = Idempotence::kEnabled;
  Compression compression = Compression::kNone;
  std::chrono::milliseconds linger{5};  // wait this long for a batch to fill
  size_t batch_bytes = 256 * 1024;      // close a batch at this size
  size_t request_max_bytes = 8 << 20;   // largest produce request
  size_t buffer_bytes = 64 << 20;       // records buffered, not yet acknowledged
  BufferFullPolicy on_full = BufferFullPolicy::kBlock;
  std::chrono::milliseconds max_block{60'000};          // kBlock: longest wait in Send for space or metadata
  std::chrono::milliseconds delivery_timeout{120'000};  // give up on a record after this long
  // Produce requests unacknowledged at once per partition, 1..8 (8: the
  // batches a partition remembers per producer for duplicate detection).
  // Several let the next batch travel while the previous one is written,
  // replicated or synced. Order and exactly-once writing hold for any value
  // with idempotence (sequences); without idempotence 1 is used.
  int max_in_flight_per_partition = 5;
};

struct RecordHeader {
  std::string key;
  std::optional<std::string> value;
};

struct ProducerRecord {
  std::string topic;
  std::optional<std::string> key;    // unset: sticky partition
  std::optional<std::string> value;  // unset: null value
  std::vector<RecordHeader> headers;
  std::optional<int64_t> timestamp_ms;  // unset: now
  std::optional<int32_t> partition;     // unset: hash of the key
};

struct RecordMetadata {
  std::string topic;
  int32_t partition = 0;
  Offset offset{-1};  // -1 when the broker answered a duplicate it could no longer locate
  int64_t timestamp_ms = 0;
  // When the record's batch completed (the broker's answer for it and for
  // every earlier batch of its partition were in): one steady-clock reading
  // per batch, shared by its records, for send→ack latency without a clock
  // read per callback.
  std::chrono::steady_clock::time_point acknowledged_at{};
};

using SendCallback = std::function<void(const Result<RecordMetadata>&)>;

// The default partitioner: XXH3-64 of the key, modulo the partition count.
// Telemetry readers use the same function to find a GPU's partition.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

class Producer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Producer>> Create(const ProducerOptions& options);
  ~Producer();  // Close() with a flush of up to delivery_timeout
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record. Errors here (unknown topic, buffer full, record too
  // large, closed) mean the record was not queued; `done` is not called then.
  [[nodiscard]] Result<void> Send(const ProducerRecord& record, SendCallback done = nullptr);
  // Hot-path variant without copies into a ProducerRecord.
  [[nodiscard]] Result<void> Send(std::string_view topic, std::optional<std::string_view> key,
                                  std::optional<std::string_view> value, SendCallback done = nullptr,
                                  std::optional<int64_t> timestamp_ms = std::nullopt,
                                  std::optional<int32_t> partition = std::nullopt);
  // Blocks until every record sent before the call is acknowledged or failed.
  [[nodiscard]] Result<void> Flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000));
  // Flushes, then stops the I/O thread. Later Sends fail with kShuttingDown.
  void Close(std::chrono::milliseconds timeout = std::chrono::milliseconds(120'000));

  ProducerId producer_id() const;

 private:
  struct Impl;
  explicit Producer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace telemq
