#include "broker/raft/log.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace telemq::raft {
namespace {

Entry E(int64_t term, int64_t base, int32_t count, std::string bytes = "x") {
  Entry e;
  e.term = Term(term);
  e.base_offset = Offset(base);
  e.record_count = count;
  e.payload = Payload::Copy(bytes);
  return e;
}

TEST(MemoryLogTest, EmptyLogHasBoundaryBeforeStart) {
  MemoryLog log;
  EXPECT_EQ(log.StartOffset(), Offset(0));
  EXPECT_EQ(log.NextOffset(), Offset(0));
  auto meta = log.Lookup(Offset(-1));
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->term, Term(0));
  EXPECT_FALSE(log.Lookup(Offset(0)).has_value());
}

TEST(MemoryLogTest, LookupFindsTheEntryCoveringAnOffset) {
  MemoryLog log;
  log.Append({E(1, 0, 3), E(2, 3, 2)});
  EXPECT_EQ(log.NextOffset(), Offset(5));
  auto meta = log.Lookup(Offset(4));
  ASSERT_TRUE(meta.has_value());
  EXPECT_EQ(meta->base_offset, Offset(3));
  EXPECT_EQ(meta->last_offset, Offset(4));
  EXPECT_EQ(meta->term, Term(2));
  EXPECT_EQ(log.Lookup(Offset(1))->term, Term(1));
}

TEST(MemoryLogTest, AppendReplacesTheSuffixFromItsFirstOffset) {
  MemoryLog log;
  log.Append({E(1, 0, 1), E(1, 1, 4)});
  log.Append({E(2, 1, 1)});
  EXPECT_EQ(log.NextOffset(), Offset(2));
  EXPECT_EQ(log.LastPosition(), (LogPosition{Offset(1), Term(2)}));
}

TEST(MemoryLogTest, RetentionKeepsTheTermBeforeTheNewStart) {
  MemoryLog log;
  log.Append({E(1, 0, 2), E(3, 2, 2), E(4, 4, 1)});
  log.TruncatePrefix(Offset(4));
  EXPECT_EQ(log.StartOffset(), Offset(4));
  EXPECT_EQ(log.Lookup(Offset(3))->term, Term(3));
  EXPECT_FALSE(log.Lookup(Offset(2)).has_value());
  log.TruncatePrefix(Offset(5));
  EXPECT_EQ(log.LastPosition(), (LogPosition{Offset(4), Term(4)}));
}

TEST(MemoryLogTest, ReadStopsAtTheByteBudgetButReturnsAtLeastOneEntry) {
  MemoryLog log;
  log.Append({E(1, 0, 1, "aaaa"), E(1, 1, 1, "bbbb"), E(1, 2, 1, "cccc")});
  std::vector<Entry> out;
  ASSERT_TRUE(log.Read(Offset(0), Offset(2), 6, &out).has_value());
  EXPECT_EQ(out.size(), 1u);
  out.clear();
  ASSERT_TRUE(log.Read(Offset(1), Offset(2), 8, &out).has_value());
  EXPECT_EQ(out.size(), 2u);
  out.clear();
  EXPECT_FALSE(log.Read(Offset(5), Offset(6), 8, &out).has_value());
}

TEST(MemoryLogTest, ResetStartsOverAtTheGivenPosition) {
  MemoryLog log;
  log.Append({E(1, 0, 2)});
  log.Reset(LogPosition{Offset(99), Term(7)});
  EXPECT_EQ(log.StartOffset(), Offset(100));
  EXPECT_EQ(log.NextOffset(), Offset(100));
  EXPECT_EQ(log.Lookup(Offset(99))->term, Term(7));
}

}  // namespace
}  // namespace telemq::raft
