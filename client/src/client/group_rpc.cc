#include "client/group_rpc.h"

#include <thread>

#include "client/membership.h"

namespace telemq::client {

namespace fb = wire::fb;
using Clock = std::chrono::steady_clock;

Error GroupError(fb::ErrorCode code, const std::string& message, const std::string& context) {
  std::string text = context + ": " + fb::EnumNameErrorCode(code);
  switch (code) {
    case fb::ErrorCode::UnknownMemberId: text += " (the member left, expired or was replaced; it rejoins)"; break;
    case fb::ErrorCode::FencedMemberEpoch:
      text += " (a newer epoch of this member exists: this one is a zombie; it rejoins)";
      break;
    case fb::ErrorCode::StaleMemberEpoch: text += " (the member epoch moved on; retry after the next heartbeat)"; break;
    case fb::ErrorCode::NonEmptyGroup: text += " (the group has members; stop them first)"; break;
    default: break;
  }
  if (!message.empty()) text += ": " + message;
  return Error(wire::FromWireError(code), std::move(text));
}

std::vector<TopicPartition> ReadPartitions(const flatbuffers::Vector<flatbuffers::Offset<fb::TopicPartitions>>* v) {
  std::vector<TopicPartition> out;
  if (!v) return out;
  for (const auto* t : *v) {
    if (!t->partitions()) continue;
    for (int32_t p : *t->partitions()) out.push_back({wire::Str(t->topic()), p});
  }
  return out;
}

Request OffsetCommitRequest(const std::string& group_id, const std::string& member_id, int32_t member_epoch,
                            const std::map<TopicPartition, Offset>& offsets) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::OffsetCommitTopic>> topics;
  for (auto it = offsets.begin(); it != offsets.end();) {
    const std::string& topic = it->first.topic;
    std::vector<flatbuffers::Offset<fb::OffsetCommitPartition>> parts;
    for (; it != offsets.end() && it->first.topic == topic; ++it) {
      parts.push_back(fb::CreateOffsetCommitPartition(b, it->first.partition, it->second.value()));
    }
    topics.push_back(fb::CreateOffsetCommitTopicDirect(b, topic.c_str(), &parts));
  }
  b.Finish(fb::CreateOffsetCommitRequestDirect(b, group_id.c_str(), member_id.c_str(), member_epoch, &topics));
  return Request{wire::ApiKey::kOffsetCommit, b.Release(), {}, nullptr};
}

Result<void> ParseOffsetCommit(const Result<Frame>& frame, fb::ErrorCode* code) {
  if (code) *code = fb::ErrorCode::None;
  TELEMQ_ASSIGN_OR_RETURN(auto resp, ResponseBody<fb::OffsetCommitResponse>(frame));
  if (resp->error() != fb::ErrorCode::None) {
    if (code) *code = resp->error();
    return tl::unexpected(GroupError(resp->error(), wire::Str(resp->message()), "offset commit"));
  }
  if (resp->topics()) {
    for (const auto* t : *resp->topics()) {
      if (!t->partitions()) continue;
      for (const auto* p : *t->partitions()) {
        if (p->error() == fb::ErrorCode::None) continue;
        if (code) *code = p->error();
        return tl::unexpected(
            GroupError(p->error(), wire::Str(p->message()),
                       "offset commit of " + wire::Str(t->name()) + ":" + std::to_string(p->partition())));
      }
    }
  }
  return Ok();
}

Request OffsetFetchRequest(const std::string& group_id, const std::vector<TopicPartition>& partitions) {
  flatbuffers::FlatBufferBuilder b(256);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::OffsetFetchTopic>>> topics_vec;
  if (!partitions.empty()) {
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : partitions) by_topic[tp.topic].push_back(tp.partition);
    std::vector<flatbuffers::Offset<fb::OffsetFetchTopic>> topics;
    for (const auto& [t, ps] : by_topic) topics.push_back(fb::CreateOffsetFetchTopicDirect(b, t.c_str(), &ps));
    topics_vec = b.CreateVector(topics);
  }
  auto gid = b.CreateString(group_id);
  b.Finish(fb::CreateOffsetFetchRequest(b, gid, topics_vec));
  return Request{wire::ApiKey::kOffsetFetch, b.Release(), {}, nullptr};
}

void ReadOffsets(const flatbuffers::Vector<flatbuffers::Offset<fb::OffsetFetchTopicResult>>* topics,
                 std::map<TopicPartition, CommittedOffset>* out) {
  if (!topics) return;
  for (const auto* t : *topics) {
    if (!t->partitions()) continue;
    for (const auto* p : *t->partitions()) {
      CommittedOffset c;
      if (p->error() == fb::ErrorCode::None && p->offset() >= 0) c.offset = Offset(p->offset());
      c.high_watermark = Offset(p->high_watermark());
      (*out)[{wire::Str(t->name()), p->partition()}] = c;
    }
  }
}

Result<std::map<TopicPartition, CommittedOffset>> ParseOffsetFetch(const Result<Frame>& frame, fb::ErrorCode* code) {
  if (code) *code = fb::ErrorCode::None;
  TELEMQ_ASSIGN_OR_RETURN(auto resp, ResponseBody<fb::OffsetFetchResponse>(frame));
  if (resp->error() != fb::ErrorCode::None) {
    if (code) *code = resp->error();
    return tl::unexpected(GroupError(resp->error(), wire::Str(resp->message()), "offset fetch"));
  }
  std::map<TopicPartition, CommittedOffset> out;
  ReadOffsets(resp->topics(), &out);
  return out;
}

namespace {

bool CoordinatorRetriable(fb::ErrorCode code) {
  return code == fb::ErrorCode::NotCoordinator || code == fb::ErrorCode::CoordinatorLoading ||
         code == fb::ErrorCode::CoordinatorNotAvailable || code == fb::ErrorCode::ShuttingDown;
}

bool TransportRetriable(const Error& e) { return e.code() == Errc::kDisconnected || e.code() == Errc::kTimeout; }

}  // namespace

bool LookupRetriable(const Error& e) {
  // kNotLeader: no coordinator yet, CoordinatorNotAvailable, NotCoordinator
  // or CoordinatorLoading (the shard's leader is being elected or loading).
  return TransportRetriable(e) || e.code() == Errc::kNotLeader || e.code() == Errc::kShuttingDown;
}

namespace {

// Runs `attempt(node)` against the group's coordinator, looking it up again
// after errors that say it moved, until `timeout`.
template <typename T, typename Attempt>
Result<T> WithCoordinator(Cluster& cluster, const std::string& group_id, std::chrono::milliseconds timeout,
                          Attempt attempt) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    fb::ErrorCode code = fb::ErrorCode::None;
    Result<T> r = Fail(Errc::kTimeout, "no coordinator");
    bool retriable = false;
    auto node = FindCoordinator(cluster, group_id);
    if (!node) {
      r = tl::unexpected(node.error());
      retriable = LookupRetriable(node.error());
    } else {
      // A lost connection or a moved coordinator: look it up again.
      r = attempt(*node, &code);
      if (r) return r;
      retriable = CoordinatorRetriable(code) || (code == fb::ErrorCode::None && TransportRetriable(r.error()));
    }
    if (!retriable || Clock::now() + cluster.options().retry_backoff > deadline) return r;
    std::this_thread::sleep_for(cluster.options().retry_backoff);
  }
}

}  // namespace

Result<void> CallOffsetCommit(Cluster& cluster, const std::string& group_id, const std::string& member_id,
                              int32_t member_epoch, const std::map<TopicPartition, Offset>& offsets,
                              std::chrono::milliseconds timeout) {
  if (offsets.empty()) return Ok();
  return WithCoordinator<void>(cluster, group_id, timeout, [&](int32_t node, fb::ErrorCode* code) {
    return ParseOffsetCommit(cluster.Call(node, OffsetCommitRequest(group_id, member_id, member_epoch, offsets)), code);
  });
}

Result<std::map<TopicPartition, CommittedOffset>> CallOffsetFetch(Cluster& cluster, const std::string& group_id,
                                                                  const std::vector<TopicPartition>& partitions,
                                                                  std::chrono::milliseconds timeout) {
  return WithCoordinator<std::map<TopicPartition, CommittedOffset>>(
      cluster, group_id, timeout, [&](int32_t node, fb::ErrorCode* code) {
        return ParseOffsetFetch(cluster.Call(node, OffsetFetchRequest(group_id, partitions)), code);
      });
}

}  // namespace telemq::client
