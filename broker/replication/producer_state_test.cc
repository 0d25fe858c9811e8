#include "broker/replication/producer_state.h"

#include <gtest/gtest.h>

namespace telemq::replication {
namespace {

using In = ProducerStateTable::Incoming;

TEST(ProducerState, NonIdempotentBatchesAreAlwaysAppended) {
  ProducerStateTable t;
  auto r = t.Check({ProducerId(-1), -1, -1, -1});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST(ProducerState, NextSequenceIsAppendedAndRetryIsDuplicate) {
  ProducerStateTable t;
  In a{ProducerId(1), 0, 0, 9};
  ASSERT_FALSE(t.Check(a)->has_value());
  t.OnAppended(a, Offset(100));
  In b{ProducerId(1), 0, 10, 19};
  ASSERT_FALSE(t.Check(b)->has_value());
  t.OnAppended(b, Offset(110));
  auto dup = t.Check(a);
  ASSERT_TRUE(dup.has_value());
  EXPECT_EQ(**dup, Offset(100));
  EXPECT_EQ(**t.Check(b), Offset(110));
}

TEST(ProducerState, GapIsRejectedAsOutOfOrder) {
  ProducerStateTable t;
  t.OnAppended({ProducerId(1), 0, 0, 9}, Offset(0));
  auto r = t.Check({ProducerId(1), 0, 11, 12});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kOutOfOrderSequence);
}

TEST(ProducerState, UnknownProducerMustStartAtZero) {
  ProducerStateTable t;
  auto r = t.Check({ProducerId(5), 0, 3, 4});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kOutOfOrderSequence);
}

TEST(ProducerState, OlderEpochIsFencedNewerEpochRestartsAtZero) {
  ProducerStateTable t;
  t.OnAppended({ProducerId(1), 2, 0, 0}, Offset(0));
  EXPECT_EQ(t.Check({ProducerId(1), 1, 1, 1}).error().code(), Errc::kProducerFenced);
  EXPECT_FALSE(t.Check({ProducerId(1), 3, 0, 0})->has_value());
  EXPECT_EQ(t.Check({ProducerId(1), 3, 1, 1}).error().code(), Errc::kOutOfOrderSequence);
}

TEST(ProducerState, SequenceTooOldToLocateIsDuplicateError) {
  ProducerStateTable t;
  int32_t seq = 0;
  for (int i = 0; i < 20; ++i, seq += 2) t.OnAppended({ProducerId(1), 0, seq, seq + 1}, Offset(seq));
  auto r = t.Check({ProducerId(1), 0, 0, 1});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kDuplicateSequence);
}

}  // namespace
}  // namespace telemq::replication
