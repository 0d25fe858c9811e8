// Seed inputs: one well-formed example of everything the targets parse, so
// fuzzing starts past the length and checksum gates instead of rediscovering
// them. Built with the production encoders, so the seeds follow the format
// as it is, not as a copy of it.

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <span>
#include <string>
#include <vector>

#include "fuzz_targets.h"
#include "telemq/common/check.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::fuzz {
namespace {

namespace fb = wire::fb;
using wire::Codec;

using Batch = std::vector<std::byte>;

Batch MakeBatch(Codec codec, int records, ProducerId producer_id = ProducerId(-1), int32_t base_sequence = -1) {
  wire::BatchBuilder builder(codec, 256);
  const std::array<wire::RecordHeaderView, 2> headers = {
      wire::RecordHeaderView{"gpu", std::string_view("3")},
      wire::RecordHeaderView{"trace", std::nullopt},
  };
  for (int i = 0; i < records; ++i) {
    const std::string value = "temp_c=" + std::to_string(60 + i) + " power_w=" + std::to_string(300 + 7 * i);
    std::optional<std::string_view> key;
    if (i % 2 == 0) key = i % 4 == 0 ? "node-0" : "node-2";
    builder.Add(1'700'000'000'000 + 250 * i, key, i == 2 ? std::nullopt : std::optional<std::string_view>(value),
                i == 1 ? std::span<const wire::RecordHeaderView>(headers) : std::span<const wire::RecordHeaderView>());
  }
  auto batch = builder.Finish(producer_id, producer_id.value() < 0 ? -1 : 0, base_sequence);
  TELEMQ_CHECK(batch.has_value(), "seed batch");
  return *batch;
}

void Append(Bytes* out, std::span<const std::byte> bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  out->insert(out->end(), p, p + bytes.size());
}

Bytes Concat(const std::vector<Batch>& batches) {
  Bytes out;
  for (const auto& b : batches) Append(&out, b);
  return out;
}

std::span<const std::byte> Body(const flatbuffers::FlatBufferBuilder& b) {
  return {reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()};
}

void AppendRequest(Bytes* out, wire::ApiKey key, uint32_t correlation_id, const flatbuffers::FlatBufferBuilder& b,
                   std::span<const std::byte> payload = {}) {
  std::array<std::byte, wire::kRequestHeaderBytes> h;
  wire::EncodeRequestHeader(h, key, 1, correlation_id, b.GetSize(), payload.size());
  Append(out, h);
  Append(out, Body(b));
  Append(out, payload);
}

void AppendResponse(Bytes* out, uint32_t correlation_id, const flatbuffers::FlatBufferBuilder& b,
                    std::span<const std::byte> payload = {}) {
  std::array<std::byte, wire::kResponseHeaderBytes> h;
  wire::EncodeResponseHeader(h, correlation_id, b.GetSize(), payload.size());
  Append(out, h);
  Append(out, Body(b));
  Append(out, payload);
}

// Two partitions of one topic: an uncompressed + an lz4 batch, then a zstd one.
struct Records {
  Bytes p0, p1, all;
};
Records TwoPartitions() {
  Records r;
  r.p0 = Concat({MakeBatch(Codec::kNone, 3, ProducerId(5), 0), MakeBatch(Codec::kLz4, 4, ProducerId(5), 3)});
  r.p1 = Concat({MakeBatch(Codec::kZstd, 5)});
  r.all = r.p0;
  r.all.insert(r.all.end(), r.p1.begin(), r.p1.end());
  return r;
}

std::span<const std::byte> AsBytes(const Bytes& b) { return {reinterpret_cast<const std::byte*>(b.data()), b.size()}; }

std::vector<Bytes> RequestFrames() {
  std::vector<Bytes> frames;
  auto add = [&](wire::ApiKey key, flatbuffers::FlatBufferBuilder& b, std::span<const std::byte> payload = {}) {
    Bytes f;
    AppendRequest(&f, key, static_cast<uint32_t>(frames.size() + 1), b, payload);
    frames.push_back(std::move(f));
  };
  {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateApiVersionsRequestDirect(b, "fuzz", "telemq-cpp/0.1"));
    add(wire::ApiKey::kApiVersions, b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<flatbuffers::String>> names{b.CreateString("gpu.metrics"), b.CreateString("x")};
    b.Finish(fb::CreateMetadataRequestDirect(b, &names));
    add(wire::ApiKey::kMetadata, b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::CreateTopic>> topics{
        fb::CreateCreateTopicDirect(b, "gpu.metrics", 4, 1, fb::CreateTopicConfig(b, 86'400'000, -1, 1 << 26)),
        fb::CreateCreateTopicDirect(b, "gpu.events", 1)};
    b.Finish(fb::CreateCreateTopicsRequestDirect(b, &topics, false));
    add(wire::ApiKey::kCreateTopics, b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<flatbuffers::String>> names{b.CreateString("gpu.events")};
    b.Finish(fb::CreateDeleteTopicsRequestDirect(b, &names));
    add(wire::ApiKey::kDeleteTopics, b);
  }
  {
    const Records r = TwoPartitions();
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::ProducePartition>> parts{
        fb::CreateProducePartition(b, 0, static_cast<uint32_t>(r.p0.size())),
        fb::CreateProducePartition(b, 1, static_cast<uint32_t>(r.p1.size()))};
    std::vector<flatbuffers::Offset<fb::ProduceTopic>> topics{fb::CreateProduceTopicDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateProduceRequestDirect(b, fb::Acks::All, 30'000, &topics));
    add(wire::ApiKey::kProduce, b, AsBytes(r.all));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::FetchPartition>> parts{fb::CreateFetchPartition(b, 0, 0, 1 << 20),
                                                               fb::CreateFetchPartition(b, 1, 42, 4096)};
    std::vector<flatbuffers::Offset<fb::FetchTopic>> topics{fb::CreateFetchTopicDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateFetchRequestDirect(b, 500, 1, 1 << 22, &topics));
    add(wire::ApiKey::kFetch, b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::ListOffsetsPartition>> parts{
        fb::CreateListOffsetsPartition(b, 0, -2), fb::CreateListOffsetsPartition(b, 1, -1),
        fb::CreateListOffsetsPartition(b, 2, 1'700'000'000'000)};
    std::vector<flatbuffers::Offset<fb::ListOffsetsTopic>> topics{
        fb::CreateListOffsetsTopicDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateListOffsetsRequestDirect(b, &topics));
    add(wire::ApiKey::kListOffsets, b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateInitProducerIdRequest(b));
    add(wire::ApiKey::kInitProducerId, b);
  }
  return frames;
}

std::vector<Bytes> ResponseFrames() {
  std::vector<Bytes> frames;
  auto add = [&](flatbuffers::FlatBufferBuilder& b, std::span<const std::byte> payload = {}) {
    Bytes f;
    AppendResponse(&f, static_cast<uint32_t>(frames.size() + 1), b, payload);
    frames.push_back(std::move(f));
  };
  {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateErrorResponseDirect(b, fb::ErrorCode::UnsupportedVersion, "api 9 is unknown"));
    add(b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::ApiVersionRange>> apis;
    for (uint16_t k = 0; k < wire::kApiKeyCount; ++k) apis.push_back(fb::CreateApiVersionRange(b, k, 1, 1));
    b.Finish(fb::CreateApiVersionsResponseDirect(b, fb::ErrorCode::None, &apis, 1, "cluster-a"));
    add(b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::BrokerInfo>> brokers{fb::CreateBrokerInfoDirect(b, 1, "10.0.0.1", 9092)};
    std::vector<int32_t> replicas{1};
    std::vector<flatbuffers::Offset<fb::PartitionMetadata>> parts{
        fb::CreatePartitionMetadataDirect(b, 0, fb::ErrorCode::None, 1, 3, &replicas)};
    std::vector<flatbuffers::Offset<fb::TopicMetadata>> topics{
        fb::CreateTopicMetadataDirect(b, "gpu.metrics", fb::ErrorCode::None, nullptr, &parts,
                                      fb::CreateTopicConfig(b, -1, -1, 0), false),
        fb::CreateTopicMetadataDirect(b, "nope", fb::ErrorCode::UnknownTopicOrPartition, "does not exist")};
    b.Finish(fb::CreateMetadataResponseDirect(b, &brokers, 1, &topics, "cluster-a"));
    add(b);
  }
  for (int i = 0; i < 2; ++i) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::TopicResult>> results{
        fb::CreateTopicResultDirect(b, "gpu.metrics", fb::ErrorCode::None, ""),
        fb::CreateTopicResultDirect(b, "bad name", fb::ErrorCode::InvalidRequest, "invalid topic name")};
    if (i == 0) {
      b.Finish(fb::CreateCreateTopicsResponseDirect(b, &results));
    } else {
      b.Finish(fb::CreateDeleteTopicsResponseDirect(b, &results));
    }
    add(b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::ProducePartitionResult>> parts{
        fb::CreateProducePartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 100, 0),
        fb::CreateProducePartitionResultDirect(b, 1, fb::ErrorCode::NotLeader, "not the leader")};
    std::vector<flatbuffers::Offset<fb::ProduceTopicResult>> topics{
        fb::CreateProduceTopicResultDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateProduceResponseDirect(b, &topics, 0));
    add(b);
  }
  {
    const Records r = TwoPartitions();
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::FetchPartitionResult>> parts{
        fb::CreateFetchPartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 7, 0,
                                             static_cast<uint32_t>(r.p0.size())),
        fb::CreateFetchPartitionResultDirect(b, 1, fb::ErrorCode::None, nullptr, 5, 0,
                                             static_cast<uint32_t>(r.p1.size())),
        fb::CreateFetchPartitionResultDirect(b, 2, fb::ErrorCode::OffsetOutOfRange, "offset 9 outside [0, 5]")};
    std::vector<flatbuffers::Offset<fb::FetchTopicResult>> topics{
        fb::CreateFetchTopicResultDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateFetchResponseDirect(b, &topics, 0));
    add(b, AsBytes(r.all));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::ListOffsetsPartitionResult>> parts{
        fb::CreateListOffsetsPartitionResultDirect(b, 0, fb::ErrorCode::None, nullptr, 42)};
    std::vector<flatbuffers::Offset<fb::ListOffsetsTopicResult>> topics{
        fb::CreateListOffsetsTopicResultDirect(b, "gpu.metrics", &parts)};
    b.Finish(fb::CreateListOffsetsResponseDirect(b, &topics));
    add(b);
  }
  {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(fb::CreateInitProducerIdResponseDirect(b, fb::ErrorCode::None, nullptr, 5, 0));
    add(b);
  }
  return frames;
}

// A seed for FuzzFrame: the direction selector, then the frames back to back.
Bytes Stream(uint8_t selector, const std::vector<Bytes>& frames) {
  Bytes out{selector};
  for (const auto& f : frames) out.insert(out.end(), f.begin(), f.end());
  return out;
}

}  // namespace

std::vector<Bytes> FrameSeeds() {
  std::vector<Bytes> seeds;
  const auto requests = RequestFrames();
  const auto responses = ResponseFrames();
  for (const auto& f : requests) seeds.push_back(Stream(0, {f}));
  for (const auto& f : responses) seeds.push_back(Stream(1, {f}));
  // Pipelining: several frames on one connection.
  seeds.push_back(Stream(0, requests));
  seeds.push_back(Stream(1, responses));
  return seeds;
}

std::vector<Bytes> BatchSeeds() {
  std::vector<Bytes> seeds;
  for (Codec codec : {Codec::kNone, Codec::kLz4, Codec::kZstd}) seeds.push_back(Concat({MakeBatch(codec, 4)}));
  seeds.push_back(Concat({MakeBatch(Codec::kNone, 1, ProducerId(9), 17)}));
  seeds.push_back(TwoPartitions().all);
  return seeds;
}

}  // namespace telemq::fuzz
