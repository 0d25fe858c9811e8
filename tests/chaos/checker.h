#pragma once
// The checker of a chaos run: judges a History (history.h) after the fact,
// Jepsen-style. Pure: no I/O, no clock; the same history gives the same
// report, so its unit tests feed it hand-made histories.
//
// What a valid run means (docs/chaos.md §3):
//  * lost: an acknowledged record absent from the final read;
//  * duplicated: one record (producer, key, sequence) at more than one offset;
//  * reordered: a key's records not in sequence order by offset;
//  * changed: an acknowledged record read at another offset than the one
//    acknowledged, or one offset seen holding two different records by any
//    two readers (group members, the final reader, the replicas' files);
//  * divergent: one offset below the final high watermark holding different
//    (term, record) on two replicas;
//  * phantom: a record read back that the workload never sent, or sent and
//    definitely refused;
//  * group_missed: a record below the group's committed offset that no
//    member was handed; group_unexplained: a record handed twice to one
//    member within one assignment generation (redeliveries across
//    generations are counted in group_redelivered and allowed);
//  * watermark_regressions: a reader saw a partition's high watermark go
//    backwards (answers of a term older than one it saw are fenced);
//  * slow_recoveries: a fault after whose heal the cluster did not serve
//    every partition again within the bound.

#include <cstdint>
#include <string>
#include <vector>

#include "tests/chaos/history.h"

namespace telemq::chaos {

struct Report {
  int64_t attempted = 0;
  int64_t acked = 0;
  int64_t failed = 0;
  int64_t unknown = 0;
  int64_t unknown_present = 0;  // unknown outcomes found in the log (allowed)
  int64_t read = 0;             // records in the final read
  // Acknowledged records of partitions the final read could not cover (no
  // high watermark: the partition had no serving leader at the end). Their
  // loss is not judged; a run with any is not valid either.
  int64_t unjudged = 0;

  int64_t lost = 0;
  int64_t duplicated = 0;
  int64_t reordered = 0;
  int64_t changed = 0;
  int64_t divergent = 0;
  int64_t phantom = 0;
  int64_t group_missed = 0;
  int64_t group_unexplained = 0;
  int64_t group_redelivered = 0;  // allowed
  int64_t group_delivered = 0;
  int64_t watermark_regressions = 0;
  int64_t watermark_fenced = 0;  // answers of an older term, discarded as a consumer does
  int64_t slow_recoveries = 0;
  int64_t max_recovery_ms = 0;

  // One line per anomaly found (the first kMaxProblems of them).
  std::vector<std::string> problems;
  static constexpr size_t kMaxProblems = 50;

  bool valid() const {
    return lost == 0 && duplicated == 0 && reordered == 0 && changed == 0 && divergent == 0 && phantom == 0 &&
           group_missed == 0 && group_unexplained == 0 && watermark_regressions == 0 && slow_recoveries == 0 &&
           unjudged == 0;
  }
};

[[nodiscard]] Report Check(const History& history);

// The report as the run prints it: counts, then the problems.
std::string Format(const Report& report);

}  // namespace telemq::chaos
