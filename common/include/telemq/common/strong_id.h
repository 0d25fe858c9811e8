#pragma once
// Strong integer types for ids and positions, so an offset can never be
// passed where a term is expected. Arithmetic is deliberately limited to what
// positions need: comparison, +/- a count, and difference.

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace telemq {

template <typename Tag, typename Rep>
class StrongId {
 public:
  using rep = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}

  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;

  constexpr StrongId operator+(Rep n) const { return StrongId(value_ + n); }
  constexpr StrongId operator-(Rep n) const { return StrongId(value_ - n); }
  constexpr Rep operator-(StrongId other) const { return value_ - other.value_; }
  constexpr StrongId& operator++() {
    ++value_;
    return *this;
  }
  constexpr StrongId& operator+=(Rep n) {
    value_ += n;
    return *this;
  }

  friend std::ostream& operator<<(std::ostream& os, StrongId id) { return os << id.value_; }

 private:
  Rep value_{};
};

// Position of a record in a partition log (a batch of n records spans n offsets).
using Offset = StrongId<struct OffsetTag, int64_t>;
// Raft term / leader epoch. Stamped into every batch by the leader.
using Term = StrongId<struct TermTag, int64_t>;
// Broker / Raft node identity.
using NodeId = StrongId<struct NodeIdTag, int32_t>;
// Partition index within a topic.
using PartitionId = StrongId<struct PartitionIdTag, int32_t>;
// Idempotent producer identity.
using ProducerId = StrongId<struct ProducerIdTag, int64_t>;

}  // namespace telemq

template <typename Tag, typename Rep>
struct std::hash<telemq::StrongId<Tag, Rep>> {
  size_t operator()(telemq::StrongId<Tag, Rep> id) const noexcept { return std::hash<Rep>()(id.value()); }
};
