#include "broker/storage/term_index.h"

#include <gtest/gtest.h>

#include "broker/storage/storage_format.h"

namespace telemq::storage::detail {
namespace {

TEST(TermIndexTest, EmptyLogKnowsTheTermBeforeItsStart) {
  TermIndex index(Offset(100), Term(7));
  EXPECT_EQ(index.TermAt(Offset(99)), Term(7));
  EXPECT_EQ(index.last_term(), Term(7));
}

TEST(TermIndexTest, OnlyTheFirstBatchOfATermAddsAnEntry) {
  TermIndex index(Offset(0), Term(0));
  EXPECT_TRUE(index.Append(Term(1), Offset(0)));
  EXPECT_FALSE(index.Append(Term(1), Offset(5)));
  EXPECT_TRUE(index.Append(Term(3), Offset(9)));
  EXPECT_EQ(index.entries().size(), 3u);
  EXPECT_EQ(index.TermAt(Offset(-1)), Term(0));
  EXPECT_EQ(index.TermAt(Offset(8)), Term(1));
  EXPECT_EQ(index.TermAt(Offset(9)), Term(3));
  EXPECT_EQ(index.TermAt(Offset(1000)), Term(3));
}

TEST(TermIndexTest, TruncationForgetsTermsStartingAtOrAfterThePoint) {
  TermIndex index(Offset(0), Term(0));
  index.Append(Term(1), Offset(0));
  index.Append(Term(2), Offset(10));
  index.Append(Term(4), Offset(20));
  EXPECT_TRUE(index.TruncateFrom(Offset(10)));
  EXPECT_EQ(index.last_term(), Term(1));
  EXPECT_FALSE(index.TruncateFrom(Offset(5)));  // term 1 started before 5
  EXPECT_TRUE(index.TruncateFrom(Offset(0)));
  EXPECT_EQ(index.last_term(), Term(0));
  EXPECT_FALSE(index.TruncateFrom(Offset(0)));  // the entry before the start stays
}

TEST(TermIndexTest, AdvancingTheStartKeepsTheTermOfTheEntryBeforeIt) {
  TermIndex index(Offset(0), Term(0));
  index.Append(Term(1), Offset(0));
  index.Append(Term(2), Offset(10));
  index.Append(Term(4), Offset(20));
  EXPECT_TRUE(index.AdvanceStart(Offset(5)));  // offset 4 was written in term 1
  EXPECT_EQ(index.entries().front(), (TermStart{Term(1), Offset(0)}));
  EXPECT_FALSE(index.AdvanceStart(Offset(10)));
  EXPECT_TRUE(index.AdvanceStart(Offset(20)));  // offset 19 was written in term 2
  EXPECT_EQ(index.entries().front(), (TermStart{Term(2), Offset(10)}));
  EXPECT_EQ(index.TermAt(Offset(19)), Term(2));
  EXPECT_TRUE(index.AdvanceStart(Offset(21)));
  EXPECT_EQ(index.entries().size(), 1u);
  EXPECT_EQ(index.TermAt(Offset(20)), Term(4));
}

TermFile SampleFile() { return TermFile{false, Offset(10), {{Term(2), Offset(3)}, {Term(5), Offset(12)}}}; }

TEST(TermFileTest, RoundTrips) {
  const auto decoded = DecodeTermFile(EncodeTermFile(SampleFile()));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_FALSE(decoded->reset_in_progress);
  EXPECT_EQ(decoded->log_start, Offset(10));
  EXPECT_EQ(decoded->entries, SampleFile().entries);
  TermFile reset{true, Offset(50), {{Term(9), Offset(49)}}};
  EXPECT_TRUE(DecodeTermFile(EncodeTermFile(reset))->reset_in_progress);
}

TEST(TermFileTest, TornOrFlippedFileIsCorrupt) {
  auto bytes = EncodeTermFile(SampleFile());
  auto torn = bytes;
  torn.resize(torn.size() - 3);
  EXPECT_EQ(DecodeTermFile(torn).error().code(), Errc::kCorrupt);
  for (size_t at : {size_t{0}, format::kTermLogStart, format::kTermHeaderSize + 3, bytes.size() - 1}) {
    auto flipped = bytes;
    flipped[at] ^= std::byte{0x20};
    EXPECT_EQ(DecodeTermFile(flipped).error().code(), Errc::kCorrupt) << "byte " << at;
  }
  EXPECT_FALSE(DecodeTermFile({}).has_value());
}

TEST(TermFileTest, EntriesMustCoverTheOffsetBeforeTheStart) {
  TermFile file{false, Offset(10), {{Term(5), Offset(12)}}};
  EXPECT_EQ(DecodeTermFile(EncodeTermFile(file)).error().code(), Errc::kCorrupt);
  TermFile unordered{false, Offset(10), {{Term(5), Offset(1)}, {Term(4), Offset(12)}}};
  EXPECT_EQ(DecodeTermFile(EncodeTermFile(unordered)).error().code(), Errc::kCorrupt);
}

}  // namespace
}  // namespace telemq::storage::detail
