#pragma once
// Idempotent-producer bookkeeping for one partition: decides whether an
// incoming batch is the next in its producer's sequence (append it), a retry
// of one already written (acknowledge it again without writing), or a gap or
// a stale epoch (reject it). Pure logic, no I/O; not thread-safe (owned by
// the partition's Replica, on its executor).
//
// Rules (docs/protocol.md, "Idempotence"):
//  * producer_id < 0: not idempotent, always appended.
//  * epoch older than the known one: kProducerFenced.
//  * a new epoch, or a producer this partition has never seen: the batch must
//    start at sequence 0, else kOutOfOrderSequence.
//  * base_sequence == last_sequence + 1: append.
//  * the batch equals one of the last kRememberedBatches batches: duplicate,
//    answered with that batch's base offset.
//  * any other sequence at or below last_sequence: kDuplicateSequence (too
//    old to locate); above last_sequence + 1: kOutOfOrderSequence.

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::replication {

class ProducerStateTable {
 public:
  static constexpr size_t kRememberedBatches = 8;

  struct Incoming {
    ProducerId producer_id;
    int16_t epoch;
    int32_t first_sequence;
    int32_t last_sequence;
  };

  // nullopt: append the batch. An offset: it is a duplicate of the batch
  // written at that base offset. An error: reject.
  [[nodiscard]] Result<std::optional<Offset>> Check(const Incoming& batch) const;
  // Records a batch that was appended at `base_offset`.
  void OnAppended(const Incoming& batch, Offset base_offset);
  // Forgets everything (TruncateSuffix/reset; rebuilt from the log).
  void Clear() { producers_.clear(); }
  size_t size() const { return producers_.size(); }

 private:
  struct WrittenBatch {
    int32_t first_sequence;
    int32_t last_sequence;
    Offset base_offset;
  };
  struct Entry {
    int16_t epoch = 0;
    std::deque<WrittenBatch> recent;  // oldest first
  };
  std::unordered_map<ProducerId, Entry> producers_;
};

}  // namespace telemq::replication
