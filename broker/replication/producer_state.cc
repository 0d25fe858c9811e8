#include "broker/replication/producer_state.h"

#include <string>

#include "telemq/wire/protocol.h"

namespace telemq::replication {

// Producers keep at most this many batches of a partition unacknowledged
// (ProducerOptions::max_in_flight_per_partition is capped by it).
static_assert(ProducerStateTable::kRememberedBatches == static_cast<size_t>(wire::kRememberedProducerBatches));

Result<std::optional<Offset>> ProducerStateTable::Check(const Incoming& b) const {
  if (b.producer_id.value() < 0) return std::optional<Offset>();
  if (b.first_sequence < 0 || b.last_sequence < b.first_sequence) {
    return Fail(Errc::kInvalidArgument, "invalid producer sequence range");
  }
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end() || b.epoch > it->second.epoch) {
    if (b.first_sequence != 0) {
      return Fail(Errc::kOutOfOrderSequence, "producer " + std::to_string(b.producer_id.value()) + " epoch " +
                                                 std::to_string(b.epoch) + " must start at sequence 0, got " +
                                                 std::to_string(b.first_sequence));
    }
    return std::optional<Offset>();
  }
  const Entry& e = it->second;
  if (b.epoch < e.epoch) {
    return Fail(Errc::kProducerFenced,
                "producer epoch " + std::to_string(b.epoch) + " is older than " + std::to_string(e.epoch));
  }
  const int32_t last = e.recent.empty() ? -1 : e.recent.back().last_sequence;
  if (b.first_sequence == last + 1) return std::optional<Offset>();
  for (const auto& w : e.recent) {
    if (w.first_sequence == b.first_sequence && w.last_sequence == b.last_sequence) {
      return std::optional<Offset>(w.base_offset);
    }
  }
  if (b.first_sequence <= last) {
    return Fail(Errc::kDuplicateSequence,
                "sequence " + std::to_string(b.first_sequence) + " was already written and is too old to locate");
  }
  return Fail(Errc::kOutOfOrderSequence,
              "expected sequence " + std::to_string(last + 1) + ", got " + std::to_string(b.first_sequence));
}

void ProducerStateTable::OnAppended(const Incoming& b, Offset base_offset) {
  if (b.producer_id.value() < 0) return;
  Entry& e = producers_[b.producer_id];
  if (b.epoch != e.epoch) {
    e.epoch = b.epoch;
    e.recent.clear();
  }
  e.recent.push_back({b.first_sequence, b.last_sequence, base_offset});
  while (e.recent.size() > kRememberedBatches) e.recent.pop_front();
}

}  // namespace telemq::replication
