// Handlers of the read family: Fetch (long poll up to the high watermark,
// file ranges read with one pread each) and ListOffsets.
#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

// A fetch that may wait (long poll). Holds the request frame so it can be
// re-evaluated when data arrives or the wait ends.
struct FetchOp : replication::Waiter, std::enable_shared_from_this<FetchOp> {
  BrokerState* broker;
  std::shared_ptr<const void> frame;
  const fb::FetchRequest* req = nullptr;
  Reply reply;
  std::unique_ptr<asio::steady_timer> timer;
  std::mutex mu;
  bool done = false;  // guarded by mu

  void Attempt(bool final_attempt);
  void Wake() override {
    asio::post(broker->io, [self = shared_from_this()]() { self->Attempt(false); });
  }
};

void BrokerState::HandleFetch(const fb::FetchRequest*, const Request& request, Reply& reply) {
  const std::span<const std::byte> body = request.body;
  auto op = std::make_shared<FetchOp>();
  op->broker = this;
  op->frame = request.frame;
  op->req = flatbuffers::GetRoot<fb::FetchRequest>(body.data());
  op->reply = std::move(reply);
  op->Attempt(op->req->max_wait_ms() <= 0);
}

void FetchOp::Attempt(bool final_attempt) {
  struct Planned {
    std::string topic;
    int32_t partition;
    ErrorCode error = ErrorCode::None;
    std::string message;
    int64_t hwm = -1, log_start = -1;
    int32_t leader_hint = -1;
    int64_t leader_term = 0;
    storage::ReadResult read;
  };
  std::vector<Planned> plan;
  std::vector<std::shared_ptr<replication::Replica>> watched;
  const uint64_t response_max = std::min<uint64_t>(
      req->max_bytes() > 0 ? static_cast<uint64_t>(req->max_bytes()) : UINT32_MAX, broker->config.fetch_max_bytes);
  uint64_t total = 0;
  bool any_error = false;
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      if (!t->partitions()) continue;
      const std::string topic = wire::Str(t->name());
      for (const auto* p : *t->partitions()) {
        Planned pl{topic, p->partition()};
        auto part = broker->Find(topic, p->partition());
        if (part && !part->serving()) {
          // Consumers read from the leader only, once its term's no-op has
          // committed (before that its high watermark may lag the one a
          // consumer already saw). Retriable: the client refreshes metadata.
          pl.error = ErrorCode::NotLeader;
          pl.message = "broker " + std::to_string(broker->config.node_id) + " does not serve " + topic + "/" +
                       std::to_string(p->partition()) + " now (not its leader, or its leader is starting)";
          if (auto hint = broker->KnownLeader(topic, p->partition()); hint && hint->broker != broker->config.node_id) {
            pl.leader_hint = hint->broker;
            pl.leader_term = hint->term;
          }
          any_error = true;
          plan.push_back(std::move(pl));
          continue;
        }
        if (!part) {
          if (auto hint = broker->KnownLeader(topic, p->partition())) {
            pl.error = ErrorCode::NotLeader;
            pl.message = "broker " + std::to_string(broker->config.node_id) + " holds no replica of " + topic + "/" +
                         std::to_string(p->partition());
            pl.leader_hint = hint->broker;
            pl.leader_term = hint->term;
          } else {
            pl.error = ErrorCode::UnknownTopicOrPartition;
            pl.message = "unknown topic or partition " + topic + "/" + std::to_string(p->partition());
          }
          any_error = true;
          plan.push_back(std::move(pl));
          continue;
        }
        const Offset hwm = part->high_watermark();
        pl.hwm = hwm.value();
        pl.log_start = part->log().log_start_offset().value();
        const Offset from(p->fetch_offset());
        if (from > hwm || from.value() < pl.log_start) {
          pl.error = ErrorCode::OffsetOutOfRange;
          pl.message = "offset " + std::to_string(from.value()) + " outside [" + std::to_string(pl.log_start) + ", " +
                       std::to_string(hwm.value()) + "]";
          any_error = true;
        } else if (from < hwm && total < response_max) {
          const uint64_t part_max = std::min<uint64_t>(p->max_bytes() > 0 ? p->max_bytes() : 1, response_max - total);
          auto read = part->log().Read(from, part_max, hwm);
          if (!read) {
            pl.error = wire::ToWireError(read.error().code());
            pl.message = read.error().message();
            any_error = true;
          } else {
            total += read->total_bytes;
            pl.read = std::move(*read);
          }
        }
        watched.push_back(part);
        plan.push_back(std::move(pl));
      }
    }
  }
  const bool enough = total >= static_cast<uint64_t>(std::max(1, req->min_bytes()));
  if (!final_attempt && !enough && !any_error) {
    // Wait: wake on any watched partition's high watermark moving, or at the deadline.
    std::weak_ptr<replication::Waiter> weak = std::static_pointer_cast<replication::Waiter>(shared_from_this());
    for (size_t i = 0, w = 0; i < plan.size(); ++i) {
      if (plan[i].error != ErrorCode::None) continue;
      auto& part = watched[w++];
      // Parked on the replica's strand; if the watermark moved before the
      // waiter was in place, that same task wakes it (no lost wake-up).
      part->executor().Post([part, weak, seen = plan[i].hwm] {
        part->AddWaiter(weak);
        if (part->high_watermark().value() != seen) {
          if (auto w = weak.lock()) w->Wake();
        }
      });
    }
    std::lock_guard lock(mu);
    if (done) return;
    if (!timer) {
      timer = std::make_unique<asio::steady_timer>(broker->io, std::chrono::milliseconds(req->max_wait_ms()));
      auto self = shared_from_this();
      timer->async_wait([self](const std::error_code&) { self->Attempt(true); });
    }
    return;
  }
  {
    std::lock_guard lock(mu);
    if (done) return;
    done = true;
    if (timer) timer->cancel();
  }
  // Build the response: one pread per file range, straight into the payload.
  Response resp;
  resp.payload.resize(total);
  size_t pos = 0;
  flatbuffers::FlatBufferBuilder b(256 + plan.size() * 64);
  std::vector<flatbuffers::Offset<fb::FetchTopicResult>> topics;
  for (size_t i = 0; i < plan.size();) {
    std::vector<flatbuffers::Offset<fb::FetchPartitionResult>> parts;
    size_t j = i;
    for (; j < plan.size() && plan[j].topic == plan[i].topic; ++j) {
      auto& pl = plan[j];
      uint32_t bytes = 0;
      for (const auto& range : pl.read.ranges) {
        auto n = range.file->PRead(range.position, std::span(resp.payload.data() + pos, range.size));
        if (!n || *n != range.size) {
          pl.error = ErrorCode::StorageError;
          pl.message = n ? "short read from " + range.file->path() : n.error().message();
          break;
        }
        pos += range.size;
        bytes += static_cast<uint32_t>(range.size);
      }
      if (pl.error != ErrorCode::None && bytes > 0) {
        pos -= bytes;  // drop a partially read partition
        bytes = 0;
      }
      parts.push_back(fb::CreateFetchPartitionResultDirect(b, pl.partition, pl.error,
                                                           pl.message.empty() ? nullptr : pl.message.c_str(), pl.hwm,
                                                           pl.log_start, bytes, pl.leader_hint, pl.leader_term));
    }
    topics.push_back(fb::CreateFetchTopicResultDirect(b, plan[i].topic.c_str(), &parts));
    i = j;
  }
  resp.payload.resize(pos);
  b.Finish(fb::CreateFetchResponseDirect(b, &topics, 0));
  resp.body = b.Release();
  reply(std::move(resp));
}

void BrokerState::HandleListOffsets(const fb::ListOffsetsRequest* req, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::ListOffsetsTopicResult>> topics_out;
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      std::vector<flatbuffers::Offset<fb::ListOffsetsPartitionResult>> parts;
      const std::string topic = wire::Str(t->name());
      if (t->partitions()) {
        for (const auto* p : *t->partitions()) {
          auto part = Find(topic, p->partition());
          ErrorCode err = ErrorCode::None;
          std::string msg;
          int64_t offset = -1;
          if (part && !part->serving()) {
            err = ErrorCode::NotLeader;
            msg = "broker " + std::to_string(config.node_id) + " does not serve " + topic + "/" +
                  std::to_string(p->partition()) + " now";
          } else if (!part) {
            err = ErrorCode::UnknownTopicOrPartition;
            msg = "unknown topic or partition " + topic + "/" + std::to_string(p->partition());
          } else if (p->timestamp() == -2) {
            offset = part->log().log_start_offset().value();
          } else if (p->timestamp() == -1) {
            offset = part->high_watermark().value();
          } else {
            auto found = part->log().OffsetForTimestamp(p->timestamp());
            if (!found) {
              err = wire::ToWireError(found.error().code());
              msg = found.error().message();
            } else if (found->has_value() && **found < part->high_watermark()) {
              offset = (*found)->value();
            }
          }
          parts.push_back(fb::CreateListOffsetsPartitionResultDirect(b, p->partition(), err,
                                                                     msg.empty() ? nullptr : msg.c_str(), offset));
        }
      }
      topics_out.push_back(fb::CreateListOffsetsTopicResultDirect(b, topic.c_str(), &parts));
    }
  }
  b.Finish(fb::CreateListOffsetsResponseDirect(b, &topics_out));
  reply(FinishResponse(b));
}

}  // namespace telemq::broker
