// Handlers of the topic-admin family: CreateTopics, DeleteTopics.
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

void BrokerState::HandleCreateTopics(const fb::CreateTopicsRequest* req, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::TopicResult>> results;
  std::vector<std::shared_ptr<replication::Replica>> created;
  auto result = [&](const std::string& name, Errc code, const std::string& msg) {
    results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), wire::ToWireError(code), msg.c_str()));
  };
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      const std::string name = wire::Str(t->name());
      TopicSpec spec;
      spec.partitions = t->partitions() > 0 ? t->partitions() : config.default_partitions;
      spec.replication_factor = t->replication_factor() > 0 ? t->replication_factor() : 1;
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
        result(name, Errc::kInvalidArgument, v.error().message());
        continue;
      }
      if (IsInternal(name)) {
        result(name, Errc::kInvalidArgument, "topic names starting with '__' are reserved for the broker");
        continue;
      }
      if (spec.partitions > 10'000) {
        results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::InvalidPartitions,
                                                      "partition count must be within 1..10000"));
        continue;
      }
      if (spec.replication_factor != 1) {
        results.push_back(fb::CreateTopicResultDirect(
            b, name.c_str(), ErrorCode::InvalidReplicationFactor,
            ("replication factor " + std::to_string(spec.replication_factor) + " exceeds the 1 available broker")
                .c_str()));
        continue;
      }
      if (spec.segment_bytes != 0 && spec.segment_bytes < config.max_batch_bytes) {
        result(name, Errc::kInvalidArgument, "segment_bytes must be 0 or >= the broker's max_batch_bytes");
        continue;
      }
      if (req->validate_only()) {
        result(name, Errc::kOk, "");
        continue;
      }
      std::unique_lock lock(topics_mu);
      if (deleting.count(name) != 0) {
        result(name, Errc::kAlreadyExists, "topic '" + name + "' is still being deleted; try again");
        continue;
      }
      if (auto r = registry->Create(name, spec); !r) {
        result(name, r.error().code(), r.error().message());
        continue;
      }
      Result<void> opened = Ok();
      std::vector<std::shared_ptr<replication::Replica>> opened_replicas;
      for (int32_t p = 0; p < spec.partitions && opened; ++p) {
        auto replica = OpenReplica(name, p, spec);
        if (!replica) {
          opened = tl::unexpected(replica.error());
        } else {
          opened_replicas.push_back(std::move(*replica));
        }
      }
      if (!opened) {
        RemoveTopicReplicasLocked(name, std::move(opened_replicas), [] {});
        IgnoreError(registry->Delete(name), "rolling back a topic whose logs could not be created");
        result(name, opened.error().code(), opened.error().message());
        continue;
      }
      topics.emplace(name, Topic{spec});
      created.insert(created.end(), opened_replicas.begin(), opened_replicas.end());
      lock.unlock();
      PublishTopicsToGroups();
      spdlog::info("created topic {} with {} partitions", name, spec.partitions);
      result(name, Errc::kOk, "");
    }
  }
  b.Finish(fb::CreateCreateTopicsResponseDirect(b, &results));
  // Answered once the new partitions lead (one fsync of each no-op on a
  // single broker), so a client may produce to them at once.
  WhenServing(created, std::chrono::seconds(10),
              [reply = std::move(reply), response = std::make_shared<Response>(FinishResponse(b))](bool) mutable {
                reply(std::move(*response));
              });
}

namespace {

// Answers a DeleteTopics once every removed replica has stopped and its log
// is gone.
struct DeleteContext {
  std::mutex mu;
  int pending = 1;  // one for the request itself
  Reply reply;
  std::shared_ptr<Response> response;
  void Done() {
    {
      std::lock_guard lock(mu);
      if (--pending > 0) return;
    }
    reply(std::move(*response));
  }
};

}  // namespace

void BrokerState::HandleDeleteTopics(const fb::DeleteTopicsRequest* req, const Request&, Reply& reply) {
  auto ctx = std::make_shared<DeleteContext>();
  ctx->reply = std::move(reply);
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::TopicResult>> results;
  if (req->names()) {
    for (const auto* n : *req->names()) {
      const std::string name = n->str();
      Topic removed;
      std::vector<std::shared_ptr<replication::Replica>> gone;
      {
        std::unique_lock lock(topics_mu);
        auto it = topics.find(name);
        if (it == topics.end()) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::UnknownTopicOrPartition,
                                                        ("topic '" + name + "' does not exist").c_str()));
          continue;
        }
        if (IsInternal(name)) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::InvalidRequest,
                                                        "internal topics cannot be deleted"));
          continue;
        }
        if (auto r = registry->Delete(name); !r) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), wire::ToWireError(r.error().code()),
                                                        r.error().message().c_str()));
          continue;
        }
        removed = std::move(it->second);
        topics.erase(it);
        for (int32_t p = 0; p < removed.spec.partitions; ++p) {
          if (auto r = Find(name, p)) gone.push_back(std::move(r));
        }
        // Its long polls are woken (they see the topic gone) and its logs
        // are deleted before the answer; a create of the same name meanwhile
        // is refused (it would find the old logs).
        {
          std::lock_guard ctx_lock(ctx->mu);
          ++ctx->pending;
        }
        RemoveTopicReplicasLocked(name, std::move(gone), [ctx] { ctx->Done(); });
      }
      PublishTopicsToGroups();
      spdlog::info("deleted topic {}", name);
      results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::None, ""));
    }
  }
  b.Finish(fb::CreateDeleteTopicsResponseDirect(b, &results));
  ctx->response = std::make_shared<Response>(FinishResponse(b));
  ctx->Done();
}

}  // namespace telemq::broker
