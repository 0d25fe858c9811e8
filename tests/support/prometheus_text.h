#pragma once
// A strict reader of the Prometheus text exposition format (version 0.0.4,
// what every telemq /metrics serves) and a check of the naming conventions
// telemq's metrics follow, for tests that scrape a process:
//
//   auto text = HttpGet(port, "/metrics").body;
//   auto exposition = ParseExposition(text);            // malformed: an error naming the line
//   EXPECT_THAT(ConventionViolations(*exposition), ::testing::IsEmpty());
//   EXPECT_EQ(exposition->Value("telemq_broker_partition_high_watermark", {{"topic", "t"}, {"partition", "0"}}), 7);
//
// Conventions checked (https://prometheus.io/docs/practices/naming/):
//   * metric names match ^[a-z_:][a-z0-9_:]*$, label names
//     ^[a-zA-Z_][a-zA-Z0-9_]*$ and do not start with "__";
//   * every family has exactly one # HELP and one # TYPE, before its
//     samples, and its samples are contiguous;
//   * counters and only counters end in _total;
//   * histograms have only _bucket (with an le label, cumulative, ending in
//     +Inf), _sum and _count (equal to the +Inf bucket) samples, and a base
//     unit suffix (_seconds, _bytes, _ratio, ...);
//   * no name carries a non-base unit (_milliseconds, _ms, _kilobytes, ...);
//   * no series (name and label set) appears twice.
//
// Thread-compatible; no I/O.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::testing {

struct PromSample {
  std::string name;                           // e.g. x_bucket for a histogram family x
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string help;  // unescaped
  std::string type;  // counter, gauge, histogram, summary, untyped
  int help_lines = 0;
  int type_lines = 0;
  std::vector<PromSample> samples;
};

struct Exposition {
  std::vector<PromFamily> families;  // in order of appearance
  // Samples that came before any # TYPE/# HELP of their family (a violation).
  std::vector<PromSample> orphans;
  // Structure the parser accepted but the conventions do not (a family
  // declared again after another one, a sample away from its family's).
  std::vector<std::string> structure_problems;

  const PromFamily* Find(std::string_view name) const;
  // The value of the sample `name` whose labels are exactly `labels`.
  std::optional<double> Value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const;
  // Every sample named `name` (of any family).
  std::vector<const PromSample*> Samples(std::string_view name) const;
};

// Parses `text`; an error names the first malformed line (1-based).
[[nodiscard]] Result<Exposition> ParseExposition(std::string_view text);

// Every convention above that `exposition` breaks, one line each; empty
// when it follows them all.
std::vector<std::string> ConventionViolations(const Exposition& exposition);

}  // namespace telemq::testing
