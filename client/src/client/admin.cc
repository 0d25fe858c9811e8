#include "telemq/admin.h"

#include "client/cluster.h"
#include "telemq/wire/protocol.h"

namespace telemq {

namespace fb = wire::fb;
using client::Request;

namespace {

template <typename T>
Result<const T*> Body(const Result<client::Frame>& frame) {
  if (!frame) return tl::unexpected(frame.error());
  if (auto err = wire::VerifyBody<fb::ErrorResponse>(frame->body());
      err && (*err)->error() != fb::ErrorCode::None && !wire::VerifyBody<T>(frame->body())) {
    return Fail(wire::FromWireError((*err)->error()), wire::Str((*err)->message()));
  }
  return wire::VerifyBody<T>(frame->body());
}

Result<void> TopicOutcome(const fb::TopicResult* r) {
  if (r->error() == fb::ErrorCode::None) return Ok();
  return Fail(wire::FromWireError(r->error()), wire::Str(r->message()));
}

}  // namespace

Admin::Admin(std::shared_ptr<client::Cluster> cluster) : cluster_(std::move(cluster)) {}
Admin::~Admin() {
  if (cluster_) cluster_->Shutdown();
}

Result<std::unique_ptr<Admin>> Admin::Create(const ClientOptions& options) {
  TELEMQ_ASSIGN_OR_RETURN(auto cluster, client::Cluster::Create(options));
  return std::unique_ptr<Admin>(new Admin(std::move(cluster)));
}

Result<void> Admin::CreateTopic(const std::string& name, const NewTopic& spec) {
  flatbuffers::FlatBufferBuilder b(256);
  flatbuffers::Offset<fb::TopicConfig> cfg;
  if (spec.retention_ms || spec.retention_bytes || spec.segment_bytes) {
    // The broker applies its defaults only when no field is set, so fill the
    // unset ones with the "unlimited"/"default" values explicitly.
    cfg = fb::CreateTopicConfig(b, spec.retention_ms.value_or(-1), spec.retention_bytes.value_or(-1),
                                spec.segment_bytes.value_or(0));
  }
  std::vector<flatbuffers::Offset<fb::CreateTopic>> topics{
      fb::CreateCreateTopicDirect(b, name.c_str(), spec.partitions, spec.replication_factor, cfg)};
  b.Finish(fb::CreateCreateTopicsRequestDirect(b, &topics, false));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kCreateTopics, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::CreateTopicsResponse>(frame));
  if (!resp->results() || resp->results()->size() != 1) return Fail(Errc::kCorrupt, "create topics: no result");
  return TopicOutcome(resp->results()->Get(0));
}

Result<void> Admin::DeleteTopic(const std::string& name) {
  flatbuffers::FlatBufferBuilder b(128);
  std::vector<std::string> names{name};
  auto n = b.CreateVectorOfStrings(names);
  b.Finish(fb::CreateDeleteTopicsRequest(b, n));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kDeleteTopics, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::DeleteTopicsResponse>(frame));
  if (!resp->results() || resp->results()->size() != 1) return Fail(Errc::kCorrupt, "delete topics: no result");
  return TopicOutcome(resp->results()->Get(0));
}

Result<std::vector<std::string>> Admin::ListTopics() {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(fb::CreateMetadataRequest(b));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kMetadata, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::MetadataResponse>(frame));
  std::vector<std::string> out;
  if (resp->topics()) {
    for (const auto* t : *resp->topics()) out.push_back(wire::Str(t->name()));
  }
  return out;
}

Result<TopicDescription> Admin::DescribeTopic(const std::string& name, bool with_offsets) {
  flatbuffers::FlatBufferBuilder b(128);
  std::vector<std::string> names{name};
  auto n = b.CreateVectorOfStrings(names);
  b.Finish(fb::CreateMetadataRequest(b, n));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kMetadata, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::MetadataResponse>(frame));
  if (!resp->topics() || resp->topics()->size() != 1) return Fail(Errc::kCorrupt, "metadata: no topic in answer");
  const auto* t = resp->topics()->Get(0);
  if (t->error() != fb::ErrorCode::None) return Fail(wire::FromWireError(t->error()), wire::Str(t->message()));
  TopicDescription d;
  d.name = name;
  if (t->config()) {
    d.retention_ms = t->config()->retention_ms();
    d.retention_bytes = t->config()->retention_bytes();
    d.segment_bytes = t->config()->segment_bytes();
  }
  if (t->partitions()) {
    for (const auto* p : *t->partitions()) {
      PartitionDescription pd;
      pd.partition = p->partition();
      pd.leader = p->leader();
      if (p->replicas()) pd.replicas.assign(p->replicas()->begin(), p->replicas()->end());
      if (with_offsets) {
        TELEMQ_ASSIGN_OR_RETURN(auto start, ListOffsetRaw(name, pd.partition, -2));
        TELEMQ_ASSIGN_OR_RETURN(auto end, ListOffsetRaw(name, pd.partition, -1));
        pd.log_start_offset = Offset(start);
        pd.high_watermark = Offset(end);
      }
      d.partitions.push_back(std::move(pd));
    }
  }
  return d;
}

Result<ClusterDescription> Admin::DescribeCluster() {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(fb::CreateMetadataRequest(b));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kMetadata, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::MetadataResponse>(frame));
  ClusterDescription d;
  d.cluster_id = wire::Str(resp->cluster_id());
  d.controller_id = resp->controller_id();
  if (resp->brokers()) {
    for (const auto* br : *resp->brokers()) d.brokers.push_back({br->id(), wire::Str(br->host()), br->port()});
  }
  return d;
}

Result<int64_t> Admin::ListOffsetRaw(const std::string& topic, int32_t partition, int64_t timestamp) {
  return cluster_->ListOffset(topic, partition, timestamp);
}

Result<Offset> Admin::ListOffset(const std::string& topic, int32_t partition, OffsetSpec spec) {
  TELEMQ_ASSIGN_OR_RETURN(auto o, ListOffsetRaw(topic, partition, static_cast<int64_t>(spec)));
  return Offset(o);
}

Result<std::optional<Offset>> Admin::OffsetForTimestamp(const std::string& topic, int32_t partition,
                                                        int64_t timestamp_ms) {
  if (timestamp_ms < 0) return Fail(Errc::kInvalidArgument, "timestamp must be >= 0");
  TELEMQ_ASSIGN_OR_RETURN(auto o, ListOffsetRaw(topic, partition, timestamp_ms));
  if (o < 0) return std::optional<Offset>();
  return std::optional<Offset>(Offset(o));
}

}  // namespace telemq
