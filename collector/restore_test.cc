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

}  // namespace
}  // namespace telemq::collector
