// Handlers of the produce family: Produce (validate, deduplicate, append,
// answer once committed) and InitProducerId.

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/common/log.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

using fb::ErrorCode;

#if defined(TELEMQ_CHAOS_BUGS)
#if defined(NDEBUG)
#error "TELEMQ_CHAOS_BUGS plants bugs for the chaos self-test (tests/chaos); it must never be in a release build"
#endif
// Chaos self-test only (docs/chaos.md): with TELEMQ_CHAOS_BUG=ack-before-commit
// in the environment, acks=all is answered as acks=leader is, once the
// leader's own write is done and before a majority holds it. The chaos
// suite must then report lost records.
replication::Acks ChaosBugAcks(replication::Acks acks) {
  static const bool planted = [] {
    const char* bug = std::getenv("TELEMQ_CHAOS_BUG");
    const bool on = bug != nullptr && std::string_view(bug) == "ack-before-commit";
    if (on) log::Warn("planted bug: acks all answered before commit", {{"bug", "TELEMQ_CHAOS_BUG=ack-before-commit"}});
    return on;
  }();
  return planted ? replication::Acks::kLeader : acks;
}
#endif

// Collects per-partition outcomes of one produce request; the last partition
// to finish (on its replica's strand) sends the reply.
struct ProduceContext {
  struct Outcome {
    std::string topic;
    int32_t partition;
    ErrorCode error = ErrorCode::None;
    std::string message;
    int64_t base_offset = -1;
    int64_t log_start_offset = -1;
    int32_t leader_hint = -1;
    int64_t leader_term = 0;
  };
  std::mutex mu;
  std::vector<Outcome> outcomes;
  int pending = 1;  // one for the request itself, released after dispatch
  Reply reply;

  void Done() {
    {
      std::lock_guard lock(mu);
      if (--pending > 0) return;
    }
    flatbuffers::FlatBufferBuilder b(256 + outcomes.size() * 64);
    std::vector<flatbuffers::Offset<fb::ProduceTopicResult>> topics;
    for (size_t i = 0; i < outcomes.size();) {
      std::vector<flatbuffers::Offset<fb::ProducePartitionResult>> parts;
      size_t j = i;
      for (; j < outcomes.size() && outcomes[j].topic == outcomes[i].topic; ++j) {
        const auto& o = outcomes[j];
        parts.push_back(fb::CreateProducePartitionResultDirect(
            b, o.partition, o.error, o.message.empty() ? nullptr : o.message.c_str(), o.base_offset, o.log_start_offset,
            o.leader_hint, o.leader_term));
      }
      topics.push_back(fb::CreateProduceTopicResultDirect(b, outcomes[i].topic.c_str(), &parts));
      i = j;
    }
    b.Finish(fb::CreateProduceResponseDirect(b, &topics, 0));
    reply(FinishResponse(b));
  }
};

void BrokerState::HandleProduce(const fb::ProduceRequest* req, const Request& request, Reply& reply) {
  const std::span<std::byte> payload = request.payload;
  auto ctx = std::make_shared<ProduceContext>();
  ctx->reply = std::move(reply);
  // Validate the framing of the whole request before touching any log, so a
  // malformed request is never partially applied.
  size_t declared = 0;
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      if (!t->partitions()) continue;
      for (const auto* p : *t->partitions()) declared += p->records_bytes();
    }
  }
  if (declared != payload.size()) {
    ctx->reply(MakeErrorResponse(Errc::kCorrupt,
                                 "produce payload is " + std::to_string(payload.size()) +
                                     " bytes, partitions declare " + std::to_string(declared),
                                 true));
    return;
  }
  if (!req->topics()) {  // nothing to write: an empty (but valid) answer
    ctx->Done();
    return;
  }
  // Every outcome slot exists before any replica answers: their callbacks
  // write into `outcomes` while this thread is still filling it.
  size_t partition_count = 0;
  for (const auto* t : *req->topics()) partition_count += t->partitions() ? t->partitions()->size() : 0;
  ctx->outcomes.reserve(partition_count);
  auto acks = req->acks() == fb::Acks::Leader ? replication::Acks::kLeader : replication::Acks::kAll;
#if defined(TELEMQ_CHAOS_BUGS)
  acks = ChaosBugAcks(acks);
#endif
  size_t pos = 0;
  for (const auto* t : *req->topics()) {
    if (!t->partitions()) continue;
    const std::string topic = wire::Str(t->name());
    for (const auto* p : *t->partitions()) {
      auto records = payload.subspan(pos, p->records_bytes());
      pos += p->records_bytes();
      ctx->outcomes.push_back({topic, p->partition()});
      const size_t slot = ctx->outcomes.size() - 1;
      auto fail = [&](ErrorCode code, std::string msg) {
        ctx->outcomes[slot].error = code;
        ctx->outcomes[slot].message = std::move(msg);
      };
      auto replica = Find(topic, p->partition());
      if (!replica) {
        // A partition of a known topic not hosted here: name its leader.
        auto hint = KnownLeader(topic, p->partition());
        if (hint) {
          fail(ErrorCode::NotLeader, "broker " + std::to_string(config.node_id) + " holds no replica of " + topic +
                                         "/" + std::to_string(p->partition()));
          ctx->outcomes[slot].leader_hint = hint->broker;
          ctx->outcomes[slot].leader_term = hint->term;
        } else {
          fail(ErrorCode::UnknownTopicOrPartition,
               "unknown topic or partition " + topic + "/" + std::to_string(p->partition()));
        }
        continue;
      }
      if (IsInternal(topic)) {
        fail(ErrorCode::InvalidRequest, "internal topic '" + topic + "' is written by the broker only");
        continue;
      }
      // Checksums and bounds of every batch, before anything is appended.
      // Here, on the I/O thread: the replica's strand only decides and stamps.
      std::vector<replication::ProduceBatch> batches;
      wire::BatchIterator it(records, config.max_batch_bytes);
      bool ok = !it.Done();
      if (!ok) fail(ErrorCode::CorruptMessage, "empty record set");
      while (ok && !it.Done()) {
        wire::BatchHeader h;
        auto bytes = it.Next(&h);
        if (!bytes) {
          fail(wire::ToWireError(bytes.error().code()), bytes.error().message());
          ok = false;
          break;
        }
        if (h.is_control()) {
          // Control batches (a leader's no-op) are written by the broker
          // alone; consumers skip them, so one from a client would vanish.
          fail(ErrorCode::InvalidRequest, "control batches are written by the broker only");
          ok = false;
          break;
        }
        auto mutable_bytes = records.subspan(
            static_cast<size_t>(bytes->data() - reinterpret_cast<const std::byte*>(records.data())), bytes->size());
        batches.push_back({mutable_bytes, h});
      }
      if (!ok) continue;
      {
        std::lock_guard lock(ctx->mu);
        ++ctx->pending;
      }
      replica->executor().Post(
          [replica, ctx, slot, acks, frame = request.frame, batches = std::move(batches)]() mutable {
            replica->Produce(std::move(batches), std::move(frame), acks,
                             [ctx, slot, replica](replication::ProduceResult r) {
                               {
                                 std::lock_guard lock(ctx->mu);
                                 auto& o = ctx->outcomes[slot];
                                 if (r.leader_hint != raft::kNoNode) {
                                   o.leader_hint = BrokerOf(r.leader_hint);
                                   o.leader_term = replica->term().value();
                                 }
                                 o.base_offset = r.base_offset.value();
                                 o.log_start_offset = r.log_start_offset.value();
                                 if (r.error != Errc::kOk) {
                                   o.error = wire::ToWireError(r.error);
                                   o.message = std::move(r.message);
                                 }
                               }
                               ctx->Done();
                             });
          });
    }
  }
  ctx->Done();
}

Result<ProducerId> AllocateProducerId(cluster::MetadataStore& store, int32_t broker_id) {
  TELEMQ_ASSIGN_OR_RETURN(const int64_t counter, store.NextProducerId());
  if (counter >= (int64_t{1} << kProducerIdCounterBits)) {
    return Fail(Errc::kUnknown, "broker " + std::to_string(broker_id) + " has handed out all its producer ids");
  }
  return ProducerId((static_cast<int64_t>(broker_id) << kProducerIdCounterBits) | counter);
}

void BrokerState::HandleInitProducerId(const fb::InitProducerIdRequest*, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(64);
  auto id = AllocateProducerId(controller->store(), config.node_id);
  if (!id) {
    b.Finish(
        fb::CreateInitProducerIdResponseDirect(b, wire::ToWireError(id.error().code()), id.error().message().c_str()));
  } else {
    b.Finish(fb::CreateInitProducerIdResponseDirect(b, ErrorCode::None, nullptr, id->value(), 0));
  }
  reply(FinishResponse(b));
}

}  // namespace telemq::broker
