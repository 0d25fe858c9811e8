#include "telemq/admin.h"

#include <algorithm>
#include <functional>
#include <future>
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

// Sends a topic-admin request (CreateTopics, DeleteTopics: both answer
// `results: [TopicResult]`) to the controller leader. NotController (as a
// result or an ErrorResponse), ShuttingDown and a lost connection forget
// that controller, refresh metadata and retry after the backoff, until the
// client's request_timeout. `topic` keeps the metadata refresh small.
template <typename T>
Result<const T*> ControllerCall(client::Cluster& cluster, const std::string& topic,
                                const std::function<Request()>& build, Result<client::Frame>* keep) {
  const auto& options = cluster.options();
  const auto deadline = std::chrono::steady_clock::now() + options.request_timeout;
  Error last(Errc::kNotLeader, "no controller leader known (an election under way?)");
  for (;;) {
    int32_t node = cluster.Controller();
    if (node < 0) {
      IgnoreError(cluster.RefreshMetadataSync({topic}), "retried until the deadline");
      node = cluster.Controller();
    }
    if (node >= 0) {
      *keep = cluster.Call(node, build());
      auto body = Body<T>(*keep);
      if (body) {
        bool moved = false;
        if ((*body)->results()) {
          for (const auto* r : *(*body)->results()) {
            moved |= r->error() == fb::ErrorCode::NotController || r->error() == fb::ErrorCode::ShuttingDown;
          }
        }
        if (!moved) return body;
        last = Error(Errc::kNotLeader, "broker " + std::to_string(node) + " is not the controller leader");
      } else {
        // kNotLeader here is an ErrorResponse with NotController.
        const Errc code = body.error().code();
        if (code != Errc::kDisconnected && code != Errc::kTimeout && code != Errc::kNotLeader &&
            code != Errc::kShuttingDown) {
          return body;
        }
        last = body.error();
      }
      cluster.ForgetController(node);
    }
    if (std::chrono::steady_clock::now() + options.retry_backoff > deadline) return tl::unexpected(last);
    std::this_thread::sleep_for(options.retry_backoff);
    IgnoreError(cluster.RefreshMetadataSync({topic}), "retried until the deadline");
  }
}

// A request any broker answers (metadata, group listing): a lost
// connection moves on to the next broker after the backoff, until the
// client's request_timeout.
Result<client::Frame> AnyBrokerCall(client::Cluster& cluster, const std::function<Request()>& build) {
  const auto deadline = std::chrono::steady_clock::now() + cluster.options().request_timeout;
  for (;;) {
    auto frame = cluster.Call(client::kAnyBroker, build());
    if (frame || (frame.error().code() != Errc::kDisconnected && frame.error().code() != Errc::kTimeout) ||
        std::chrono::steady_clock::now() + cluster.options().retry_backoff > deadline) {
      return frame;
    }
    std::this_thread::sleep_for(cluster.options().retry_backoff);
  }
}

Request MetadataRequest(const std::vector<std::string>& topics) {
  flatbuffers::FlatBufferBuilder b(128);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> names;
  if (!topics.empty()) names = b.CreateVectorOfStrings(topics);
  b.Finish(fb::CreateMetadataRequest(b, names));
  return Request{wire::ApiKey::kMetadata, b.Release(), {}, nullptr};
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
  auto build = [&]() {
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
    return Request{wire::ApiKey::kCreateTopics, b.Release(), {}, nullptr};
  };
  // After a lost connection the retry may find the topic that the first
  // attempt created: TopicAlreadyExists.
  Result<client::Frame> frame = Fail(Errc::kUnknown, "");
  TELEMQ_ASSIGN_OR_RETURN(auto resp, ControllerCall<fb::CreateTopicsResponse>(*cluster_, name, build, &frame));
  if (!resp->results() || resp->results()->size() != 1) return Fail(Errc::kCorrupt, "create topics: no result");
  return TopicOutcome(resp->results()->Get(0));
}

Result<void> Admin::DeleteTopic(const std::string& name) {
  auto build = [&]() {
    flatbuffers::FlatBufferBuilder b(128);
    std::vector<std::string> names{name};
    auto n = b.CreateVectorOfStrings(names);
    b.Finish(fb::CreateDeleteTopicsRequest(b, n));
    return Request{wire::ApiKey::kDeleteTopics, b.Release(), {}, nullptr};
  };
  Result<client::Frame> frame = Fail(Errc::kUnknown, "");
  TELEMQ_ASSIGN_OR_RETURN(auto resp, ControllerCall<fb::DeleteTopicsResponse>(*cluster_, name, build, &frame));
  if (!resp->results() || resp->results()->size() != 1) return Fail(Errc::kCorrupt, "delete topics: no result");
  return TopicOutcome(resp->results()->Get(0));
}

Result<std::vector<std::string>> Admin::ListTopics() {
  auto frame = AnyBrokerCall(*cluster_, [] { return MetadataRequest({}); });
  TELEMQ_ASSIGN_OR_RETURN(auto resp, Body<fb::MetadataResponse>(frame));
  std::vector<std::string> out;
  if (resp->topics()) {
    for (const auto* t : *resp->topics()) out.push_back(wire::Str(t->name()));
  }
  return out;
}

Result<ClusterDescription> Admin::GatherMetadata(const std::vector<std::string>& topics,
                                                 std::map<std::string, Error>* errors) {
  auto first = AnyBrokerCall(*cluster_, [&] { return MetadataRequest(topics); });
  TELEMQ_ASSIGN_OR_RETURN(const auto* resp, Body<fb::MetadataResponse>(first));
  // Only a partition's leader reports its isr, and brokers may lag one
  // another: ask every live broker and merge by term (MetadataCache).
  std::vector<std::shared_ptr<std::promise<Result<client::Frame>>>> asked;
  if (resp->brokers()) {
    for (const auto* b : *resp->brokers()) {
      if (b->id() < 0 || !b->live()) continue;
      cluster_->AddBroker(b->id(), wire::Str(b->host()), b->port());
      auto promise = std::make_shared<std::promise<Result<client::Frame>>>();
      asked.push_back(promise);
      cluster_->Send(b->id(), MetadataRequest(topics),
                     [promise](Result<client::Frame> r) { promise->set_value(std::move(r)); });
    }
  }
  std::vector<Result<client::Frame>> frames;
  frames.reserve(asked.size());
  for (auto& p : asked) frames.push_back(p->get_future().get());
  std::vector<const fb::MetadataResponse*> answers{resp};
  for (const auto& f : frames) {
    // A broker that does not answer adds nothing; the first answer stands.
    if (auto r = Body<fb::MetadataResponse>(f)) answers.push_back(*r);
  }
  // Brokers' liveness as the most recent controller sees it: merge in
  // controller-term order, so the newest view is applied last.
  std::stable_sort(answers.begin(), answers.end(),
                   [](const auto* a, const auto* b) { return a->controller_term() < b->controller_term(); });
  client::MetadataCache merged;
  std::map<std::string, TopicDescription> details;
  for (const auto* a : answers) {
    client::MergeBrokersAndController(*a, &merged);
    if (!a->topics()) continue;
    for (const auto* t : *a->topics()) {
      const std::string name = wire::Str(t->name());
      if (t->error() != fb::ErrorCode::None) {
        if (a == resp && errors) (*errors)[name] = Error(wire::FromWireError(t->error()), wire::Str(t->message()));
        continue;
      }
      merged.MergeTopic(name, client::TopicInfoOf(*t));
      if (details.count(name)) continue;
      TopicDescription& d = details[name];
      d.name = name;
      d.topic_id = t->topic_id();
      d.replication_factor = t->replication_factor();
      d.internal = t->internal();
      if (t->config()) {
        d.retention_ms = t->config()->retention_ms();
        d.retention_bytes = t->config()->retention_bytes();
        d.segment_bytes = t->config()->segment_bytes();
      }
    }
  }
  ClusterDescription out;
  out.cluster_id = wire::Str(resp->cluster_id());
  out.controller_id = merged.controller();
  out.controller_term = merged.controller_term();
  for (const auto& [id, b] : merged.brokers()) out.brokers.push_back({id, b.host, b.port, b.live});
  for (auto& [name, d] : details) {
    if (const client::TopicInfo* info = merged.Topic(name)) {
      d.topic_id = info->topic_id;
      for (size_t p = 0; p < info->partitions.size(); ++p) {
        const client::PartitionInfo& pi = info->partitions[p];
        PartitionDescription pd;
        pd.partition = static_cast<int32_t>(p);
        pd.leader = pi.leader;
        pd.leader_term = pi.leader_term;
        pd.replicas = pi.replicas;
        pd.isr = pi.isr;
        d.partitions.push_back(std::move(pd));
      }
    }
    out.topics.push_back(std::move(d));
  }
  return out;
}

Result<TopicDescription> Admin::DescribeTopic(const std::string& name, bool with_offsets) {
  std::map<std::string, Error> errors;
  TELEMQ_ASSIGN_OR_RETURN(auto cluster, GatherMetadata({name}, &errors));
  if (auto e = errors.find(name); e != errors.end()) return tl::unexpected(e->second);
  auto it = std::find_if(cluster.topics.begin(), cluster.topics.end(),
                         [&](const TopicDescription& t) { return t.name == name; });
  if (it == cluster.topics.end()) return Fail(Errc::kCorrupt, "metadata: no topic in answer");
  TopicDescription d = std::move(*it);
  if (with_offsets) {
    for (auto& pd : d.partitions) {
      TELEMQ_ASSIGN_OR_RETURN(auto start, ListOffsetRaw(name, pd.partition, -2));
      TELEMQ_ASSIGN_OR_RETURN(auto end, ListOffsetRaw(name, pd.partition, -1));
      pd.log_start_offset = Offset(start);
      pd.high_watermark = Offset(end);
    }
  }
  return d;
}

Result<ClusterDescription> Admin::DescribeCluster() { return GatherMetadata({}, nullptr); }

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
  auto out_of_time = [&]() { return std::chrono::steady_clock::now() + cluster.options().retry_backoff > deadline; };
  for (;;) {
    auto node = client::FindCoordinator(cluster, group_id);
    if (!node) {
      if (!client::LookupRetriable(node.error()) || out_of_time()) return tl::unexpected(node.error());
      std::this_thread::sleep_for(cluster.options().retry_backoff);
      continue;
    }
    *keep = cluster.Call(*node, build());
    auto body = client::ResponseBody<T>(*keep);
    bool moved;
    if (!body) {
      moved = body.error().code() == Errc::kDisconnected || body.error().code() == Errc::kTimeout;
    } else {
      const auto code = (*body)->error();
      moved = code == fb::ErrorCode::NotCoordinator || code == fb::ErrorCode::CoordinatorLoading ||
              code == fb::ErrorCode::CoordinatorNotAvailable;
    }
    if (!moved || out_of_time()) return body;
    std::this_thread::sleep_for(cluster.options().retry_backoff);
  }
}

}  // namespace

Result<std::vector<GroupListing>> Admin::ListGroups() {
  auto frame = AnyBrokerCall(*cluster_, [] {
    flatbuffers::FlatBufferBuilder b(64);
    b.Finish(fb::CreateListGroupsRequest(b));
    return Request{wire::ApiKey::kListGroups, b.Release(), {}, nullptr};
  });
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
