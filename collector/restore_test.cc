#include "collector/restore.h"

#include <gtest/gtest.h>

namespace telemq::collector {
namespace {

using Action = RestorePlan::Action;

TEST(RestoreTest, StoreWithinTheLogResumesAtItsAppliedOffset) {
  auto p = PlanRestore(Offset(500), Offset(100), Offset(900));
  EXPECT_EQ(p.action, Action::kResume);
  EXPECT_EQ(p.start, Offset(500));
  EXPECT_EQ(p.serve_from, Offset(900));
}

TEST(RestoreTest, StoreAtTheLogStartOrEndResumes) {
  EXPECT_EQ(PlanRestore(Offset(100), Offset(100), Offset(900)).action, Action::kResume);
  auto caught_up = PlanRestore(Offset(900), Offset(100), Offset(900));
  EXPECT_EQ(caught_up.action, Action::kResume);
  EXPECT_EQ(caught_up.start, caught_up.serve_from);  // serves at once
  EXPECT_EQ(PlanRestore(Offset(0), Offset(0), Offset(0)).action, Action::kResume);
}

TEST(RestoreTest, OffsetBelowTheLogStartWipesAndReplaysFromTheLogStart) {
  auto p = PlanRestore(Offset(99), Offset(100), Offset(900));
  EXPECT_EQ(p.action, Action::kWipe);
  EXPECT_EQ(p.start, Offset(100));
  EXPECT_EQ(p.serve_from, Offset(900));
  // A new store (offset 0) of a log whose start moved on.
  EXPECT_EQ(PlanRestore(Offset(0), Offset(5), Offset(10)).action, Action::kWipe);
}

TEST(RestoreTest, OffsetPastTheHighWatermarkWipes) {
  // The topic was recreated (or the log lost a tail): the store's offsets
  // name other records now.
  auto p = PlanRestore(Offset(901), Offset(0), Offset(900));
  EXPECT_EQ(p.action, Action::kWipe);
  EXPECT_EQ(p.start, Offset(0));
  EXPECT_NE(p.reason.find("high watermark"), std::string::npos);
}

TEST(RestoreTest, AServingPartitionThatResumesKeepsServing) {
  // Planned again while ingest continues: the log has grown past the store.
  auto resume = PlanRestore(Offset(500), Offset(100), Offset(900));
  EXPECT_TRUE(ServesAfter(resume, Offset(500), /*was_serving=*/true));
  EXPECT_FALSE(ServesAfter(resume, Offset(500), /*was_serving=*/false));
  EXPECT_TRUE(ServesAfter(resume, Offset(900), /*was_serving=*/false));
  // A rebuilt store restores again, whatever it was before.
  auto wipe = PlanRestore(Offset(50), Offset(100), Offset(900));
  EXPECT_FALSE(ServesAfter(wipe, Offset(100), /*was_serving=*/true));
}

TEST(RestoreTest, PartitionNamedInAConsumerError) {
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry/3: offset 5 is out of range", "gpu.telemetry"), 3);
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry/17:", "gpu.telemetry"), 17);
  EXPECT_EQ(PartitionNamedIn("other/3: x", "gpu.telemetry"), std::nullopt);
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry.v2/3: x", "gpu.telemetry"), std::nullopt);
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry/x: y", "gpu.telemetry"), std::nullopt);
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry/3", "gpu.telemetry"), std::nullopt);
  EXPECT_EQ(PartitionNamedIn("gpu.telemetry/-1: y", "gpu.telemetry"), std::nullopt);
}

}  // namespace
}  // namespace telemq::collector
