// Handlers of the topic-admin family: CreateTopics, DeleteTopics. Both are
// changes to the cluster metadata: the controller leader validates them,
// places the replicas, commits the change in the controller log and answers
// once it is applied (creates: once every partition has a leader; deletes:
// once this broker's replicas of the topic are gone). Other brokers answer
// NotController, naming the leader.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/common/log.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

namespace {

// Collects per-topic results; the last one to finish sends the reply, with
// the results in request order.
struct AdminContext {
  struct Result {
    std::string name;
    ErrorCode error = ErrorCode::None;
    std::string message;
  };
  std::mutex mu;
  std::vector<Result> results;
  int pending = 1;  // one for the request itself
  bool create = true;
  Reply reply;

  void Set(size_t slot, ErrorCode error, std::string message) {
    std::lock_guard lock(mu);
    results[slot].error = error;
    results[slot].message = std::move(message);
  }
  void Add() {
    std::lock_guard lock(mu);
    ++pending;
  }
  // A proposal that failed: kNotLeader means the controller moved.
  void Fail(size_t slot, const Error& error) {
    Set(slot, error.code() == Errc::kNotLeader ? ErrorCode::NotController : wire::ToWireError(error.code()),
        error.message());
    Done();
  }
  void Done() {
    {
      std::lock_guard lock(mu);
      if (--pending > 0) return;
    }
    flatbuffers::FlatBufferBuilder b(256);
    std::vector<flatbuffers::Offset<fb::TopicResult>> out;
    for (const auto& r : results) {
      out.push_back(fb::CreateTopicResultDirect(b, r.name.c_str(), r.error, r.message.c_str()));
    }
    if (create) {
      b.Finish(fb::CreateCreateTopicsResponseDirect(b, &out));
    } else {
      b.Finish(fb::CreateDeleteTopicsResponseDirect(b, &out));
    }
    reply(FinishResponse(b));
  }
};

std::string NotControllerMessage(const Controller& controller, int32_t self) {
  const int32_t leader = controller.leader();
  if (leader >= 0 && leader != self) return "broker " + std::to_string(leader) + " is the controller leader";
  return "no controller leader is known to broker " + std::to_string(self) + " yet";
}

}  // namespace

void BrokerState::HandleCreateTopics(const fb::CreateTopicsRequest* req, const Request&, Reply& reply) {
  auto ctx = std::make_shared<AdminContext>();
  ctx->reply = std::move(reply);
  if (req->topics()) ctx->results.reserve(req->topics()->size());
  const bool leading = controller->leading();
  const auto image = controller->image();
  // Live registered brokers: where replicas may go.
  std::vector<int32_t> live;
  for (const auto& [id, b] : image->brokers) {
    if (transport->IsLive(id)) live.push_back(id);
  }
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      const std::string name = wire::Str(t->name());
      ctx->results.push_back({name});
      const size_t slot = ctx->results.size() - 1;
      auto fail = [&](ErrorCode code, const std::string& msg) { ctx->Set(slot, code, msg); };
      TopicSpec spec;
      spec.partitions = t->partitions() > 0 ? t->partitions() : config.default_partitions;
      spec.replication_factor =
          t->replication_factor() > 0
              ? t->replication_factor()
              : static_cast<int16_t>(std::min<int32_t>(config.default_replication_factor, cluster_size()));
      spec.retention_ms = config.retention_ms;
      spec.retention_bytes = config.retention_bytes;
      if (const auto* c = t->config()) {
        if (c->retention_ms() != -1 || c->retention_bytes() != -1 || c->segment_bytes() != 0) {
          spec.retention_ms = c->retention_ms();
          spec.retention_bytes = c->retention_bytes();
          spec.segment_bytes = c->segment_bytes();
        }
      }
      if (auto v = ValidateTopicName(name); !v) {
        fail(ErrorCode::InvalidRequest, v.error().message());
        continue;
      }
      if (IsInternal(name)) {
        fail(ErrorCode::InvalidRequest, "topic names starting with '__' are reserved for the broker");
        continue;
      }
      if (spec.partitions > 10'000) {
        fail(ErrorCode::InvalidPartitions, "partition count must be within 1..10000");
        continue;
      }
      if (spec.segment_bytes != 0 && spec.segment_bytes < config.max_batch_bytes) {
        fail(ErrorCode::InvalidRequest, "segment_bytes must be 0 or >= the broker's max_batch_bytes");
        continue;
      }
      if (!leading) {
        fail(ErrorCode::NotController, NotControllerMessage(*controller, config.node_id));
        continue;
      }
      if (image->Find(name)) {
        fail(ErrorCode::TopicAlreadyExists, "topic '" + name + "' already exists");
        continue;
      }
      auto placed = cluster::PlaceReplicas(*image, live, spec.partitions, spec.replication_factor);
      if (!placed) {
        fail(ErrorCode::InvalidReplicationFactor, placed.error().message());
        continue;
      }
      if (req->validate_only()) continue;
      ctx->Add();
      controller->Propose(cluster::CreateTopic{name, spec, *placed},
                          [this, ctx, slot, name, placed = *placed](Result<ImageRef> r) {
                            if (!r) return ctx->Fail(slot, r.error());
                            const auto* t = (*r)->Find(name);
                            if (t == nullptr || t->replicas != placed) {
                              // Refused at apply: another create of the name got in first.
                              ctx->Set(slot, ErrorCode::TopicAlreadyExists, "topic '" + name + "' already exists");
                              return ctx->Done();
                            }
                            log::Info("topic created", {{"topic", name},
                                                        {"topic_id", t->id},
                                                        {"partition_count", t->spec.partitions},
                                                        {"replication_factor", t->spec.replication_factor}});
                            // Answered once every partition has a leader, so a client may
                            // produce to it at once.
                            WhenLeadersKnown(name, std::chrono::seconds(10), [ctx] { ctx->Done(); });
                          });
    }
  }
  ctx->Done();
}

void BrokerState::HandleDeleteTopics(const fb::DeleteTopicsRequest* req, const Request&, Reply& reply) {
  auto ctx = std::make_shared<AdminContext>();
  ctx->create = false;
  ctx->reply = std::move(reply);
  const bool leading = controller->leading();
  const auto image = controller->image();
  if (req->names()) {
    ctx->results.reserve(req->names()->size());
    for (const auto* n : *req->names()) {
      const std::string name = n->str();
      ctx->results.push_back({name});
      const size_t slot = ctx->results.size() - 1;
      const auto* t = image->Find(name);
      if (IsInternal(name)) {
        ctx->Set(slot, ErrorCode::InvalidRequest, "internal topics cannot be deleted");
        continue;
      }
      if (!leading) {
        ctx->Set(slot, ErrorCode::NotController, NotControllerMessage(*controller, config.node_id));
        continue;
      }
      if (t == nullptr) {
        ctx->Set(slot, ErrorCode::UnknownTopicOrPartition, "topic '" + name + "' does not exist");
        continue;
      }
      ctx->Add();
      controller->Propose(cluster::DeleteTopic{name, t->id}, [this, ctx, slot, name](Result<ImageRef> r) {
        if (!r) return ctx->Fail(slot, r.error());
        log::Info("topic deleted", {{"topic", name}});
        // Its long polls here are woken (they see the topic gone) and its
        // logs here deleted before the answer.
        WhenRemoved(name, std::chrono::seconds(10), [ctx] { ctx->Done(); });
      });
    }
  }
  ctx->Done();
}

}  // namespace telemq::broker
