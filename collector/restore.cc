#include "collector/restore.h"

#include <charconv>

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

bool ServesAfter(const RestorePlan& plan, Offset applied, bool was_serving) {
  if (plan.action == RestorePlan::Action::kResume && was_serving) return true;
  return applied >= plan.serve_from;
}

std::optional<int32_t> PartitionNamedIn(std::string_view message, std::string_view topic) {
  if (message.size() <= topic.size() + 1 || message.substr(0, topic.size()) != topic || message[topic.size()] != '/') {
    return std::nullopt;
  }
  const std::string_view rest = message.substr(topic.size() + 1);
  int32_t p = -1;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), p);
  if (ec != std::errc() || p < 0 || end == rest.data() + rest.size() || *end != ':') return std::nullopt;
  return p;
}

}  // namespace telemq::collector
