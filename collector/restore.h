#pragma once
// Where a collector resumes a partition it has just been given: the restore
// decision as a pure function (docs/collector.md, "Restore"). No I/O; the
// caller reads the store's applied offset and the log's bounds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "telemq/common/strong_id.h"

namespace telemq::collector {

struct RestorePlan {
  enum class Action {
    kResume,  // keep the local store; consume from `start` (= its applied offset)
    kWipe,    // delete the local store; replay from `start` (= the log start)
  };
  Action action = Action::kResume;
  Offset start{0};
  // Records to apply before the partition serves queries: it is "restoring"
  // until its applied offset reaches `serve_from`.
  Offset serve_from{0};
  std::string reason;  // for the log
};

// applied: the store's next offset to apply (0 for a new store).
// log_start / high_watermark: the partition's earliest offset and high
// watermark now.
//  * applied < log_start: records the store never saw are gone from the
//    log; the store cannot be completed, so it is rebuilt from the log start.
//  * applied > high_watermark: the store has records the log does not (the
//    topic was deleted and recreated, or the log lost an unsynced tail); its
//    offsets mean other records now, so it is rebuilt.
//  * otherwise it resumes where it stopped.
RestorePlan PlanRestore(Offset applied, Offset log_start, Offset high_watermark);

// Whether a partition serves once `plan` is carried out and its store is at
// `applied`. A partition that was serving and resumes keeps serving: planning
// again (after an offset-out-of-range error) must not hide data that is still
// whole just because the log has grown since.
bool ServesAfter(const RestorePlan& plan, Offset applied, bool was_serving);

// The partition of `topic` a consumer error names: the client prefixes a
// partition's fetch error with "<topic>/<partition>: ". nullopt: none named.
std::optional<int32_t> PartitionNamedIn(std::string_view message, std::string_view topic);

}  // namespace telemq::collector
