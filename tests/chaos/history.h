#pragma once
// The history of one chaos run: what the workload attempted and what every
// reader saw, as plain data. The run (chaos_main.cc) fills it in while the
// nemesis works; the checker (checker.h) judges it afterwards. Nothing here
// does I/O, so the checker's unit tests build histories by hand.
//
// A record of the workload names itself in its value:
// "p=<producer>;k=<key>;s=<sequence>;" (then filler), key "p<producer>k<key>",
// so any copy of it, wherever it is read, says which operation wrote it.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace telemq::chaos {

// One record of the workload: producer, key (one key lives in one
// partition) and the key's sequence number (0, 1, 2, ... in send order).
struct RecordId {
  int32_t producer = 0;
  int32_t key = 0;
  int64_t seq = 0;
  auto operator<=>(const RecordId&) const = default;
};

std::string EncodeValue(const RecordId& id, size_t value_bytes);
std::string EncodeKey(const RecordId& id);
// nullopt when `value` is not a record of the workload (a phantom).
std::optional<RecordId> ParseValue(std::string_view value);
std::string ToString(const RecordId& id);

// How a produce ended, in Jepsen's terms.
enum class Outcome {
  kAcked,    // acks=all acknowledgement with an offset
  kFailed,   // definitely not written: Send() refused it before it was queued
  kUnknown,  // the callback reported an error (timeout, leader gone...): it may or may not be in the log
};

struct ProduceOp {
  RecordId id;
  int32_t partition = 0;
  Outcome outcome = Outcome::kUnknown;
  int64_t offset = -1;  // kAcked: the acknowledged offset
};

// A record a consumer of the group was handed. `generation` counts the
// member's assignment changes (assigned/revoked/lost callbacks): a record
// handed twice within one member's generation is a bug, across generations
// (after a rebalance or a member failure) an allowed redelivery.
struct GroupDelivery {
  int32_t member = 0;
  int64_t generation = 0;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string value;
};

// A high watermark a reader was told, in the order it was told, with the
// leader term of the answer. A reader fences by term, as a consumer does
// (docs/replication.md: a deposed leader may report its older high watermark
// until it notices): an answer of an older term than one already seen is
// discarded, not judged.
struct WatermarkSample {
  int32_t reader = 0;
  int32_t partition = 0;
  int64_t term = 0;
  int64_t high_watermark = 0;
};

// How long the cluster took to serve writes on every partition again after
// one fault was healed.
struct Recovery {
  std::string fault;
  int64_t ms = 0;            // from the heal; -1: not within the bound
  int64_t failover_ms = -1;  // from the injection, while the fault held; -1: not while it held (informational)
};

// What one broker's files hold for one partition: offset -> "t<term>|<value>"
// for records, "t<term>|<control>" for control batches (Raft no-ops).
using ReplicaLog = std::map<int64_t, std::string>;

struct History {
  int32_t partitions = 0;
  std::vector<ProduceOp> ops;
  // The final read of every partition from its log start to its high
  // watermark: (offset, value) in the order read; control batches absent.
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> final_read;
  // partition -> high watermark when the final read was made.
  std::map<int32_t, int64_t> final_high_watermark;
  std::vector<GroupDelivery> group;
  // The group's committed offsets once drained (partition -> next offset).
  std::map<int32_t, int64_t> group_committed;
  std::vector<WatermarkSample> watermarks;
  // broker -> partition -> its log, read from its data directory with the
  // brokers stopped. Empty when not collected.
  std::map<int32_t, std::map<int32_t, ReplicaLog>> replicas;
  std::vector<Recovery> recoveries;
  int64_t recovery_bound_ms = 30'000;
};

}  // namespace telemq::chaos
