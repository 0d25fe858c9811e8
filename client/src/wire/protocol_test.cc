#include "telemq/wire/protocol.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace telemq::wire {
namespace {

constexpr Errc kLastErrc = Errc::kCancelled;

std::vector<Errc> AllErrc() {
  std::vector<Errc> out;
  for (int i = 0; i <= static_cast<int>(kLastErrc); ++i) out.push_back(static_cast<Errc>(i));
  return out;
}

// Internal conditions that never cross the wire as themselves: the client
// produces them locally, and a broker that somehow hits one reports the
// nearest wire code.
const std::set<Errc> kLocalOnly = {Errc::kDisconnected, Errc::kBufferFull, Errc::kCancelled};
// Wire codes that refine an internal code for the client's benefit.
// Wire codes finer than the shared Errc: they map to the nearest shared code
// (clients that need the distinction, like the group membership, read the
// wire code itself).
const std::map<fb::ErrorCode, Errc> kRefinements = {
    {fb::ErrorCode::InvalidPartitions, Errc::kInvalidArgument},
    {fb::ErrorCode::InvalidConfig, Errc::kInvalidArgument},
    {fb::ErrorCode::InvalidReplicationFactor, Errc::kInvalidArgument},
    {fb::ErrorCode::NotCoordinator, Errc::kNotLeader},
    {fb::ErrorCode::CoordinatorLoading, Errc::kNotLeader},
    {fb::ErrorCode::UnknownMemberId, Errc::kNotFound},
    {fb::ErrorCode::FencedMemberEpoch, Errc::kProducerFenced},
    {fb::ErrorCode::StaleMemberEpoch, Errc::kInvalidArgument},
    {fb::ErrorCode::GroupIdNotFound, Errc::kNotFound},
    {fb::ErrorCode::NonEmptyGroup, Errc::kInvalidArgument},
    {fb::ErrorCode::InvalidGroupId, Errc::kInvalidArgument},
    {fb::ErrorCode::NotController, Errc::kNotLeader},
    {fb::ErrorCode::LeaderNotAvailable, Errc::kNotLeader},
    {fb::ErrorCode::CoordinatorNotAvailable, Errc::kNotLeader},
    {fb::ErrorCode::InconsistentClusterId, Errc::kInvalidArgument},
    {fb::ErrorCode::BrokerIdMismatch, Errc::kInvalidArgument},
};

TEST(WireError, EveryErrcWithItsOwnCodeRoundTrips) {
  for (Errc e : AllErrc()) {
    if (kLocalOnly.count(e)) continue;
    EXPECT_EQ(FromWireError(ToWireError(e)), e) << ErrcName(e);
  }
}

TEST(WireError, DistinctErrcGetDistinctCodes) {
  std::map<fb::ErrorCode, Errc> seen;
  for (Errc e : AllErrc()) {
    if (kLocalOnly.count(e)) continue;
    auto [it, inserted] = seen.emplace(ToWireError(e), e);
    EXPECT_TRUE(inserted) << ErrcName(e) << " shares a code with " << ErrcName(it->second);
  }
}

TEST(WireError, LocalOnlyErrcMapToAnExistingCode) {
  EXPECT_EQ(ToWireError(Errc::kDisconnected), fb::ErrorCode::Unknown);
  EXPECT_EQ(ToWireError(Errc::kBufferFull), fb::ErrorCode::Throttled);
  EXPECT_EQ(ToWireError(Errc::kCancelled), fb::ErrorCode::Unknown);
}

TEST(WireError, EveryWireCodeMapsBack) {
  for (fb::ErrorCode c : fb::EnumValuesErrorCode()) {
    const Errc e = FromWireError(c);
    if (auto r = kRefinements.find(c); r != kRefinements.end()) {
      EXPECT_EQ(e, r->second) << fb::EnumNameErrorCode(c);
    } else {
      EXPECT_EQ(ToWireError(e), c) << fb::EnumNameErrorCode(c);
    }
  }
  // A code from a newer peer is unknown, not a crash.
  EXPECT_EQ(FromWireError(static_cast<fb::ErrorCode>(1000)), Errc::kUnknown);
}

TEST(WireError, RetriableSetIsExactlyTheTransientOnes) {
  const std::set<fb::ErrorCode> retriable = {
      fb::ErrorCode::NotLeader,          fb::ErrorCode::RequestTimedOut,         fb::ErrorCode::Throttled,
      fb::ErrorCode::ShuttingDown,       fb::ErrorCode::UnknownTopicOrPartition, fb::ErrorCode::CorruptMessage,
      fb::ErrorCode::NotCoordinator,     fb::ErrorCode::CoordinatorLoading,      fb::ErrorCode::NotController,
      fb::ErrorCode::LeaderNotAvailable, fb::ErrorCode::CoordinatorNotAvailable,
  };
  for (fb::ErrorCode c : fb::EnumValuesErrorCode()) {
    EXPECT_EQ(IsRetriable(c), retriable.count(c) == 1) << fb::EnumNameErrorCode(c);
  }
  EXPECT_FALSE(IsRetriable(static_cast<fb::ErrorCode>(1000)));
}

// One built message per body type, and VerifyBody as that type.
struct Case {
  const char* name;
  std::function<void(flatbuffers::FlatBufferBuilder&)> build;
  std::function<bool(std::span<const std::byte>)> verify;
};

template <typename T>
std::function<bool(std::span<const std::byte>)> VerifyAs() {
  return [](std::span<const std::byte> body) { return VerifyBody<T>(body).has_value(); };
}

using Strings = std::vector<flatbuffers::Offset<flatbuffers::String>>;

std::vector<Case> Cases() {
  using B = flatbuffers::FlatBufferBuilder;
  return {
      {"ErrorResponse", [](B& b) { b.Finish(fb::CreateErrorResponseDirect(b, fb::ErrorCode::Throttled, "slow down")); },
       VerifyAs<fb::ErrorResponse>()},
      {"ApiVersionsRequest", [](B& b) { b.Finish(fb::CreateApiVersionsRequestDirect(b, "id", "sw/1")); },
       VerifyAs<fb::ApiVersionsRequest>()},
      {"ApiVersionsResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::ApiVersionRange>> apis{fb::CreateApiVersionRange(b, 4, 1, 1)};
         b.Finish(fb::CreateApiVersionsResponseDirect(b, fb::ErrorCode::None, &apis, 1, "c"));
       },
       VerifyAs<fb::ApiVersionsResponse>()},
      {"MetadataRequest",
       [](B& b) {
         Strings t{b.CreateString("gpu.metrics")};
         b.Finish(fb::CreateMetadataRequestDirect(b, &t));
       },
       VerifyAs<fb::MetadataRequest>()},
      {"MetadataResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::BrokerInfo>> brokers{fb::CreateBrokerInfoDirect(b, 1, "h", 9092)};
         std::vector<int32_t> replicas{1};
         std::vector<flatbuffers::Offset<fb::PartitionMetadata>> parts{
             fb::CreatePartitionMetadataDirect(b, 0, fb::ErrorCode::None, 1, 1, &replicas)};
         std::vector<flatbuffers::Offset<fb::TopicMetadata>> topics{
             fb::CreateTopicMetadataDirect(b, "t", fb::ErrorCode::None, nullptr, &parts)};
         b.Finish(fb::CreateMetadataResponseDirect(b, &brokers, 1, &topics, "c"));
       },
       VerifyAs<fb::MetadataResponse>()},
      {"CreateTopicsRequest",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::CreateTopic>> t{
             fb::CreateCreateTopicDirect(b, "t", 3, 1, fb::CreateTopicConfig(b, 1000))};
         b.Finish(fb::CreateCreateTopicsRequestDirect(b, &t));
       },
       VerifyAs<fb::CreateTopicsRequest>()},
      {"CreateTopicsResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::TopicResult>> r{
             fb::CreateTopicResultDirect(b, "t", fb::ErrorCode::TopicAlreadyExists, "exists")};
         b.Finish(fb::CreateCreateTopicsResponseDirect(b, &r));
       },
       VerifyAs<fb::CreateTopicsResponse>()},
      {"DeleteTopicsRequest",
       [](B& b) {
         Strings n{b.CreateString("t")};
         b.Finish(fb::CreateDeleteTopicsRequestDirect(b, &n));
       },
       VerifyAs<fb::DeleteTopicsRequest>()},
      {"DeleteTopicsResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::TopicResult>> r{
             fb::CreateTopicResultDirect(b, "t", fb::ErrorCode::None, "")};
         b.Finish(fb::CreateDeleteTopicsResponseDirect(b, &r));
       },
       VerifyAs<fb::DeleteTopicsResponse>()},
      {"ProduceRequest",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::ProducePartition>> p{fb::CreateProducePartition(b, 0, 100)};
         std::vector<flatbuffers::Offset<fb::ProduceTopic>> t{fb::CreateProduceTopicDirect(b, "t", &p)};
         b.Finish(fb::CreateProduceRequestDirect(b, fb::Acks::All, 30000, &t));
       },
       VerifyAs<fb::ProduceRequest>()},
      {"ProduceResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::ProducePartitionResult>> p{
             fb::CreateProducePartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 5, 0)};
         std::vector<flatbuffers::Offset<fb::ProduceTopicResult>> t{fb::CreateProduceTopicResultDirect(b, "t", &p)};
         b.Finish(fb::CreateProduceResponseDirect(b, &t));
       },
       VerifyAs<fb::ProduceResponse>()},
      {"FetchRequest",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::FetchPartition>> p{fb::CreateFetchPartition(b, 0, 10)};
         std::vector<flatbuffers::Offset<fb::FetchTopic>> t{fb::CreateFetchTopicDirect(b, "t", &p)};
         b.Finish(fb::CreateFetchRequestDirect(b, 500, 1, 1 << 20, &t));
       },
       VerifyAs<fb::FetchRequest>()},
      {"FetchResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::FetchPartitionResult>> p{
             fb::CreateFetchPartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 10, 0, 0)};
         std::vector<flatbuffers::Offset<fb::FetchTopicResult>> t{fb::CreateFetchTopicResultDirect(b, "t", &p)};
         b.Finish(fb::CreateFetchResponseDirect(b, &t));
       },
       VerifyAs<fb::FetchResponse>()},
      {"ListOffsetsRequest",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::ListOffsetsPartition>> p{fb::CreateListOffsetsPartition(b, 0, -2)};
         std::vector<flatbuffers::Offset<fb::ListOffsetsTopic>> t{fb::CreateListOffsetsTopicDirect(b, "t", &p)};
         b.Finish(fb::CreateListOffsetsRequestDirect(b, &t));
       },
       VerifyAs<fb::ListOffsetsRequest>()},
      {"ListOffsetsResponse",
       [](B& b) {
         std::vector<flatbuffers::Offset<fb::ListOffsetsPartitionResult>> p{
             fb::CreateListOffsetsPartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 3)};
         std::vector<flatbuffers::Offset<fb::ListOffsetsTopicResult>> t{
             fb::CreateListOffsetsTopicResultDirect(b, "t", &p)};
         b.Finish(fb::CreateListOffsetsResponseDirect(b, &t));
       },
       VerifyAs<fb::ListOffsetsResponse>()},
      {"InitProducerIdRequest", [](B& b) { b.Finish(fb::CreateInitProducerIdRequest(b)); },
       VerifyAs<fb::InitProducerIdRequest>()},
      {"InitProducerIdResponse",
       [](B& b) { b.Finish(fb::CreateInitProducerIdResponseDirect(b, fb::ErrorCode::None, nullptr, 7, 0)); },
       VerifyAs<fb::InitProducerIdResponse>()},
  };
}

class VerifyBodyTest : public ::testing::TestWithParam<Case> {
 protected:
  // A copy in its own allocation, as a received frame is, so alignment is
  // that of real input rather than of the builder.
  std::vector<std::byte> Built() const {
    flatbuffers::FlatBufferBuilder b;
    GetParam().build(b);
    const auto* p = reinterpret_cast<const std::byte*>(b.GetBufferPointer());
    return {p, p + b.GetSize()};
  }
};

TEST_P(VerifyBodyTest, AcceptsABuiltMessage) { EXPECT_TRUE(GetParam().verify(Built())); }

TEST_P(VerifyBodyTest, RejectsAnEmptyBody) { EXPECT_FALSE(GetParam().verify({})); }

// The builder pads each string after its terminator to 4-byte alignment, and
// the first string written ends the buffer, so up to 3 trailing bytes are
// padding that no field references; cutting into anything else must fail.
TEST_P(VerifyBodyTest, RejectsEveryTruncationIntoItsData) {
  constexpr size_t kMaxTrailingPadding = 3;
  const auto full = Built();
  for (size_t n = 1; n + kMaxTrailingPadding < full.size(); ++n) {
    std::vector<std::byte> prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_FALSE(GetParam().verify(prefix)) << "prefix of " << n << " of " << full.size() << " bytes";
  }
}

TEST_P(VerifyBodyTest, RejectsRandomBytes) {
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::byte> junk(1 + rng() % 256);
    for (auto& b : junk) b = static_cast<std::byte>(rng());
    EXPECT_FALSE(GetParam().verify(junk)) << "random buffer " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllBodies, VerifyBodyTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace telemq::wire
