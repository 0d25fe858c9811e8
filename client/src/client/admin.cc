#include "telemq/admin.h"

#include <functional>
#include <map>
#include <thread>

#include "client/cluster.h"
#include "client/group_rpc.h"
#include "client/membership.h"
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

namespace telemq {

namespace {

// Sends a group request to the group's coordinator, looking it up (again)
// when the answer says it moved.
template <typename T>
Result<const T*> GroupCall(client::Cluster& cluster, const std::string& group_id, const std::function<Request()>& build,
                           Result<client::Frame>* keep) {
  const auto deadline = std::chrono::steady_clock::now() + cluster.options().request_timeout;
  for (;;) {
    TELEMQ_ASSIGN_OR_RETURN(auto node, client::FindCoordinator(cluster, group_id));
    *keep = cluster.Call(node, build());
    auto body = client::ResponseBody<T>(*keep);
    if (!body) return body;
    const auto code = (*body)->error();
    const bool moved = code == fb::ErrorCode::NotCoordinator || code == fb::ErrorCode::CoordinatorLoading;
    if (!moved || std::chrono::steady_clock::now() + cluster.options().retry_backoff > deadline) return body;
    std::this_thread::sleep_for(cluster.options().retry_backoff);
  }
}

}  // namespace

Result<std::vector<GroupListing>> Admin::ListGroups() {
  flatbuffers::FlatBufferBuilder b(64);
  b.Finish(fb::CreateListGroupsRequest(b));
  auto frame = cluster_->Call(-1, Request{wire::ApiKey::kListGroups, b.Release(), {}, nullptr});
  TELEMQ_ASSIGN_OR_RETURN(auto resp, client::ResponseBody<fb::ListGroupsResponse>(frame));
  if (resp->error() != fb::ErrorCode::None) {
    return tl::unexpected(client::GroupError(resp->error(), wire::Str(resp->message()), "list groups"));
  }
  std::vector<GroupListing> out;
  if (resp->groups()) {
    for (const auto* g : *resp->groups())
      out.push_back({wire::Str(g->group_id()), wire::Str(g->state()), g->members()});
  }
  return out;
}

Result<GroupDescription> Admin::DescribeGroup(const std::string& group_id) {
  Result<client::Frame> frame = Fail(Errc::kUnknown, "");
  TELEMQ_ASSIGN_OR_RETURN(auto resp, GroupCall<fb::DescribeGroupResponse>(
                                         *cluster_, group_id,
                                         [&]() {
                                           flatbuffers::FlatBufferBuilder b(128);
                                           b.Finish(fb::CreateDescribeGroupRequestDirect(b, group_id.c_str()));
                                           return Request{wire::ApiKey::kDescribeGroup, b.Release(), {}, nullptr};
                                         },
                                         &frame));
  if (resp->error() != fb::ErrorCode::None) {
    return tl::unexpected(client::GroupError(resp->error(), wire::Str(resp->message()), "describe group " + group_id));
  }
  GroupDescription d;
  d.group_id = wire::Str(resp->group_id());
  if (d.group_id.empty()) d.group_id = group_id;
  d.state = wire::Str(resp->state());
  d.group_epoch = resp->group_epoch();
  d.assignment_epoch = resp->assignment_epoch();
  std::map<TopicPartition, std::string> owner;
  if (resp->members()) {
    for (const auto* m : *resp->members()) {
      GroupMemberInfo info;
      info.member_id = wire::Str(m->member_id());
      if (m->instance_id()) info.instance_id = m->instance_id()->str();
      if (m->metadata())
        info.metadata.assign(reinterpret_cast<const char*>(m->metadata()->data()), m->metadata()->size());
      info.member_epoch = m->member_epoch();
      info.state = wire::Str(m->state());
      info.static_left = m->static_left();
      if (m->subscribed_topics()) {
        for (const auto* t : *m->subscribed_topics()) info.subscribed_topics.push_back(t->str());
      }
      info.assignment = client::ReadPartitions(m->assignment());
      info.pending_revocation = client::ReadPartitions(m->pending_revocation());
      for (const auto& tp : info.assignment) owner[tp] = info.member_id;
      for (const auto& tp : info.pending_revocation) owner[tp] = info.member_id;
      d.members.push_back(std::move(info));
    }
  }
  std::map<TopicPartition, client::CommittedOffset> offsets;
  client::ReadOffsets(resp->offsets(), &offsets);
  // Assigned partitions without a commit still deserve a row (lag unknown).
  for (const auto& [tp, _] : owner) {
    if (offsets.count(tp)) continue;
    client::CommittedOffset c;
    if (auto hw = cluster_->ListOffset(tp.topic, tp.partition, -1)) c.high_watermark = Offset(*hw);
    offsets[tp] = c;
  }
  for (const auto& [tp, c] : offsets) {
    GroupPartitionLag row;
    row.partition = tp;
    row.committed = c.offset;
    row.high_watermark = c.high_watermark;
    if (c.offset && c.high_watermark.value() >= 0) {
      row.lag = std::max<int64_t>(0, c.high_watermark.value() - c.offset->value());
    }
    auto o = owner.find(tp);
    if (o != owner.end()) row.owner = o->second;
    d.partitions.push_back(std::move(row));
  }
  return d;
}

Result<std::vector<std::pair<TopicPartition, Offset>>> Admin::ResetOffsets(const std::string& group_id,
                                                                           const std::string& topic,
                                                                           const OffsetResetSpec& spec,
                                                                           std::optional<int32_t> partition) {
  TELEMQ_ASSIGN_OR_RETURN(auto info, cluster_->WaitForTopic(topic, cluster_->options().request_timeout));
  const int32_t count = static_cast<int32_t>(info.partitions.size());
  if (partition && (*partition < 0 || *partition >= count)) {
    return Fail(Errc::kNotFound, "topic '" + topic + "' has no partition " + std::to_string(*partition));
  }
  std::map<TopicPartition, Offset> offsets;
  for (int32_t p = 0; p < count; ++p) {
    if (partition && p != *partition) continue;
    int64_t o = 0;
    switch (spec.kind) {
      case OffsetResetSpec::Kind::kEarliest: {
        TELEMQ_ASSIGN_OR_RETURN(o, ListOffsetRaw(topic, p, -2));
        break;
      }
      case OffsetResetSpec::Kind::kLatest: {
        TELEMQ_ASSIGN_OR_RETURN(o, ListOffsetRaw(topic, p, -1));
        break;
      }
      case OffsetResetSpec::Kind::kTimestamp: {
        if (spec.value < 0) return Fail(Errc::kInvalidArgument, "timestamp must be >= 0");
        TELEMQ_ASSIGN_OR_RETURN(o, ListOffsetRaw(topic, p, spec.value));
        if (o < 0) {
          TELEMQ_ASSIGN_OR_RETURN(o, ListOffsetRaw(topic, p, -1));
        }
        break;
      }
      case OffsetResetSpec::Kind::kOffset: {
        TELEMQ_ASSIGN_OR_RETURN(auto start, ListOffsetRaw(topic, p, -2));
        TELEMQ_ASSIGN_OR_RETURN(auto end, ListOffsetRaw(topic, p, -1));
        if (spec.value < start || spec.value > end) {
          return Fail(Errc::kOffsetOutOfRange, topic + ":" + std::to_string(p) + " has offsets " +
                                                   std::to_string(start) + ".." + std::to_string(end) + ", not " +
                                                   std::to_string(spec.value));
        }
        o = spec.value;
        break;
      }
    }
    offsets[{topic, p}] = Offset(o);
  }
  // Empty member id and epoch -1: an admin commit, refused while the group
  // has members (docs/groups.md, "Fencing and offset commits").
  TELEMQ_TRY(client::CallOffsetCommit(*cluster_, group_id, "", -1, offsets, cluster_->options().request_timeout));
  return std::vector<std::pair<TopicPartition, Offset>>(offsets.begin(), offsets.end());
}

Result<void> Admin::DeleteGroup(const std::string& group_id) {
  Result<client::Frame> frame = Fail(Errc::kUnknown, "");
  TELEMQ_ASSIGN_OR_RETURN(auto resp, GroupCall<fb::DeleteGroupResponse>(
                                         *cluster_, group_id,
                                         [&]() {
                                           flatbuffers::FlatBufferBuilder b(128);
                                           b.Finish(fb::CreateDeleteGroupRequestDirect(b, group_id.c_str()));
                                           return Request{wire::ApiKey::kDeleteGroup, b.Release(), {}, nullptr};
                                         },
                                         &frame));
  if (resp->error() != fb::ErrorCode::None) {
    return tl::unexpected(client::GroupError(resp->error(), wire::Str(resp->message()), "delete group " + group_id));
  }
  return Ok();
}

}  // namespace telemq
