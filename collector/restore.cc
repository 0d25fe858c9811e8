#include "collector/restore.h"

namespace telemq::collector {

RestorePlan PlanRestore(Offset applied, Offset log_start, Offset high_watermark) {
  RestorePlan plan;
  plan.serve_from = high_watermark;
  if (applied < log_start) {
    plan.action = RestorePlan::Action::kWipe;
    plan.start = log_start;
    plan.reason = "applied offset " + std::to_string(applied.value()) + " is below the log start " +
                  std::to_string(log_start.value());
    return plan;
  }
  if (applied > high_watermark) {
    plan.action = RestorePlan::Action::kWipe;
    plan.start = log_start;
    plan.reason = "applied offset " + std::to_string(applied.value()) + " is past the high watermark " +
                  std::to_string(high_watermark.value()) + " (topic recreated or log tail lost)";
    return plan;
  }
  plan.action = RestorePlan::Action::kResume;
  plan.start = applied;
  plan.reason = "resuming at applied offset " + std::to_string(applied.value());
  return plan;
}

}  // namespace telemq::collector
