// Encoding of __consumer_offsets group records (records.h): every record
// type survives a round trip, and damaged bytes are refused, never
// half-decoded.
#include "broker/group/records.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace telemq::group {
namespace {

std::vector<GroupRecord> Samples() {
  MemberRecord member;
  member.member_id = "member-1";
  member.instance_id = "pod-0";
  member.subscribed_topics = {"gpu.telemetry", "other"};
  member.metadata = std::string("http://10.0.0.7:8081\0\xff", 23);  // opaque bytes, not text
  member.session_timeout = std::chrono::milliseconds(45000);
  member.rebalance_timeout = std::chrono::milliseconds(60000);
  member.member_epoch = MemberEpoch(7);
  member.previous_member_epoch = MemberEpoch(5);
  member.state = MemberState::kUnrevokedPartitions;
  member.presence = Presence::kStaticLeft;
  member.assigned = {{"gpu.telemetry", {PartitionId(0), PartitionId(3)}}};
  member.pending_revocation = {{"gpu.telemetry", {PartitionId(5)}}};
  return {
      GroupRecord{"g", GroupMetadataRecord{GroupEpoch(9), {{"gpu.telemetry", 16}, {"other", 2}}}},
      GroupRecord{"g", member},
      GroupRecord{"g", MemberRecord{}},
      GroupRecord{"g", MemberTombstone{"member-2"}},
      GroupRecord{"g", TargetAssignmentRecord{GroupEpoch(9), {{"member-1", member.assigned}, {"member-3", {}}}}},
      GroupRecord{"g", OffsetCommitRecord{"gpu.telemetry", PartitionId(3), Offset(123456789012), "meta"}},
  };
}

TEST(GroupRecordsTest, EveryRecordTypeRoundTrips) {
  for (const GroupRecord& r : Samples()) {
    auto decoded = DecodeRecord(EncodeRecord(r));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_EQ(*decoded, r);
  }
}

TEST(GroupRecordsTest, EveryTruncationIsCorrupt) {
  for (const GroupRecord& r : Samples()) {
    const std::string bytes = EncodeRecord(r);
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto decoded = DecodeRecord(std::string_view(bytes).substr(0, n));
      ASSERT_FALSE(decoded.has_value()) << "prefix of " << n << " bytes decoded";
      EXPECT_EQ(decoded.error().code(), Errc::kCorruptRecord);
    }
  }
}

TEST(GroupRecordsTest, TrailingBytesUnknownVersionAndTypeAreCorrupt) {
  std::string bytes = EncodeRecord(Samples()[3]);
  EXPECT_FALSE(DecodeRecord(bytes + "x").has_value());
  std::string bad_version = bytes;
  bad_version[0] = 2;
  EXPECT_FALSE(DecodeRecord(bad_version).has_value());
  std::string bad_type = bytes;
  bad_type[1] = 99;
  EXPECT_FALSE(DecodeRecord(bad_type).has_value());
}

TEST(GroupRecordsTest, HugeLengthIsRefusedWithoutAllocating) {
  std::string bytes = EncodeRecord(Samples()[4]);
  // Target record: version, type, group id (4 + 1), epoch (4), then the member count.
  const size_t count_at = 2 + 5 + 4;
  for (size_t i = 0; i < 4; ++i) bytes[count_at + i] = '\xff';
  auto decoded = DecodeRecord(bytes);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code(), Errc::kCorruptRecord);
}

TEST(GroupRecordsTest, OutOfRangeMemberStateIsCorrupt) {
  MemberRecord m;
  m.member_id = "x";
  std::string bytes = EncodeRecord(GroupRecord{"g", m});
  // state and presence bytes precede the two (empty, 4-byte) assignments.
  bytes[bytes.size() - 8 - 2] = 7;
  EXPECT_FALSE(DecodeRecord(bytes).has_value());
}

TEST(GroupRecordsTest, KeysSeparateRecordsThatMustNotSupersedeEachOther) {
  auto s = Samples();
  EXPECT_EQ(RecordKey(GroupRecord{"g", MemberTombstone{"member-1"}}), RecordKey(s[1]));
  EXPECT_NE(RecordKey(s[0]), RecordKey(s[4]));
  EXPECT_NE(RecordKey(GroupRecord{"h", s[0].body}), RecordKey(s[0]));
  EXPECT_NE(RecordKey(GroupRecord{"g", OffsetCommitRecord{"t", PartitionId(1), Offset(0), ""}}),
            RecordKey(GroupRecord{"g", OffsetCommitRecord{"t", PartitionId(2), Offset(0), ""}}));
}

}  // namespace
}  // namespace telemq::group
