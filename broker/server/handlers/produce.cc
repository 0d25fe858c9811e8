// Handlers of the produce family: Produce (validate, deduplicate, append,
// answer once committed) and InitProducerId.
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

using fb::ErrorCode;

// Collects per-partition outcomes of one produce request; the last partition
// to finish (possibly on the flusher thread) sends the reply.
struct ProduceContext {
  struct Outcome {
    std::string topic;
    int32_t partition;
    ErrorCode error = ErrorCode::None;
    std::string message;
    int64_t base_offset = -1;
    int64_t log_start_offset = -1;
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
        parts.push_back(fb::CreateProducePartitionResultDirect(b, o.partition, o.error,
                                                               o.message.empty() ? nullptr : o.message.c_str(),
                                                               o.base_offset, o.log_start_offset));
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
  // Every outcome slot exists before any sync completes: flusher callbacks
  // write into `outcomes` while this thread is still filling it.
  size_t partition_count = 0;
  for (const auto* t : *req->topics()) partition_count += t->partitions() ? t->partitions()->size() : 0;
  ctx->outcomes.reserve(partition_count);
  const int64_t now = NowMs();
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
      auto part = Find(topic, p->partition());
      if (!part) {
        fail(ErrorCode::UnknownTopicOrPartition,
             "unknown topic or partition " + topic + "/" + std::to_string(p->partition()));
        continue;
      }
      if (IsInternal(topic)) {
        fail(ErrorCode::InvalidRequest, "internal topic '" + topic + "' is written by the broker only");
        continue;
      }
      // Checksums and bounds of every batch, before anything is appended.
      std::vector<std::pair<std::span<std::byte>, wire::BatchHeader>> batches;
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
        auto mutable_bytes = records.subspan(
            static_cast<size_t>(bytes->data() - reinterpret_cast<const std::byte*>(records.data())), bytes->size());
        batches.emplace_back(mutable_bytes, h);
      }
      if (!ok) continue;

      Offset first_base(-1), end(-1);
      {
        std::lock_guard lock(part->mu);
        for (auto& [bytes, h] : batches) {
          ProducerStateTable::Incoming in{h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()};
          auto check = part->producers.Check(in);
          if (!check) {
            fail(wire::ToWireError(check.error().code()), check.error().message());
            break;
          }
          if (check->has_value()) {  // a retry of a batch already written
            if (first_base.value() < 0) first_base = **check;
            continue;
          }
          auto appended = part->log->Append(bytes, kSingleNodeTerm, now);
          if (!appended) {
            spdlog::error("append to {}-{} failed: {}", topic, part->index, appended.error().ToString());
            fail(wire::ToWireError(appended.error().code()), appended.error().message());
            break;
          }
          part->producers.OnAppended(in, appended->base_offset);
          if (first_base.value() < 0) first_base = appended->base_offset;
          end = appended->last_offset + 1;
        }
      }
      ctx->outcomes[slot].base_offset = first_base.value();
      ctx->outcomes[slot].log_start_offset = part->log->log_start_offset().value();
      if (end.value() < 0) {
        // Nothing new was written (all duplicates, or an error): a duplicate
        // is acknowledged only once what it duplicates is committed.
        end = part->log->log_end_offset();
        if (ctx->outcomes[slot].error != ErrorCode::None) continue;
      }
      {
        std::lock_guard lock(ctx->mu);
        ++ctx->pending;
      }
      CommitAppended(part, end, [ctx, slot](Result<Offset> committed) {
        if (!committed) {
          std::lock_guard lock(ctx->mu);
          ctx->outcomes[slot].error = wire::ToWireError(committed.error().code());
          ctx->outcomes[slot].message = committed.error().message();
        }
        ctx->Done();
      });
    }
  }
  ctx->Done();
}

void BrokerState::HandleInitProducerId(const fb::InitProducerIdRequest*, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(64);
  auto id = registry->NextProducerId();
  if (!id) {
    b.Finish(
        fb::CreateInitProducerIdResponseDirect(b, wire::ToWireError(id.error().code()), id.error().message().c_str()));
  } else {
    b.Finish(fb::CreateInitProducerIdResponseDirect(b, ErrorCode::None, nullptr, id->value(), 0));
  }
  reply(FinishResponse(b));
}

}  // namespace telemq::broker
