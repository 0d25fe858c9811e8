#include "telemq/producer.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/cluster.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq {

namespace fb = wire::fb;
using Clock = std::chrono::steady_clock;

int32_t PartitionForKey(std::string_view key, int32_t partition_count) {
  return static_cast<int32_t>(XXH3_64bits(key.data(), key.size()) % static_cast<uint64_t>(partition_count));
}

namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

wire::Codec ToCodec(Compression c) {
  switch (c) {
    case Compression::kNone: return wire::Codec::kNone;
    case Compression::kLz4: return wire::Codec::kLz4;
    case Compression::kZstd: return wire::Codec::kZstd;
  }
  return wire::Codec::kNone;
}

struct Batch {
  explicit Batch(wire::Codec codec, size_t reserve) : builder(codec, reserve) {}
  wire::BatchBuilder builder;
  std::vector<std::byte> bytes;  // set once finished
  int32_t record_count = 0;
  struct Pending {
    int32_t index;
    int64_t timestamp_ms;
    SendCallback done;
  };
  std::vector<Pending> callbacks;
  size_t accounted_bytes = 0;
  Clock::time_point created;
  int32_t base_sequence = -1;
  uint64_t serial = 0;  // creation order over all partitions; Flush waits for those before it

  // Where a sent batch stands (I/O thread only, while in its partition's
  // in_flight list).
  enum class State {
    kAwaiting,  // a request carrying it is unanswered
    kAcked,     // written at `acked_base`; completed once every earlier batch is
    kRetry,     // goes again, with the same sequence (unless renumbered), after every earlier batch
    kFailed,    // completed with `error` once every earlier batch is
  };
  State state = State::kAwaiting;
  Offset acked_base{-1};
  std::optional<Error> error;  // kRetry: the last retriable error; kFailed: the final one
  bool maybe_written = false;  // kFailed: the broker may have written it (its sequence is never reused)
};

struct PartitionQueue {
  std::unique_ptr<Batch> open;               // guarded by Impl::mu
  std::deque<std::unique_ptr<Batch>> ready;  // guarded by Impl::mu: closed, not yet sent
  // Sent batches, oldest (lowest sequence) first, until completed; at most
  // max_in_flight_per_partition. I/O thread only (moved in under mu).
  std::deque<std::unique_ptr<Batch>> in_flight;
  int awaiting = 0;              // I/O thread: batches of in_flight whose request is unanswered
  bool recovering = false;       // I/O thread: an answer other than success came; nothing is sent until all are in
  int32_t next_sequence = 0;     // guarded by Impl::mu
  Clock::time_point retry_at{};  // guarded by Impl::mu
};

using PartitionKey = std::pair<std::string, int32_t>;

}  // namespace

struct Producer::Impl : std::enable_shared_from_this<Producer::Impl> {
  ProducerOptions opts;
  size_t max_in_flight = 1;  // per partition: opts.max_in_flight_per_partition, 1 without idempotence
  std::shared_ptr<client::Cluster> cluster;
  ProducerId producer_id{-1};
  int16_t epoch = -1;
  wire::Codec codec;

  std::mutex mu;
  std::condition_variable space_cv;
  std::condition_variable flush_cv;
  std::map<PartitionKey, PartitionQueue> queues;  // guarded by mu
  std::map<std::string, int32_t> sticky;          // guarded by mu: keyless records' partition per topic
  // The last topic sent to and its entries of `queues` by partition (null:
  // not looked up yet), so Send skips the map lookup. Guarded by mu.
  std::string last_topic;
  std::vector<PartitionQueue*> last_topic_queues;
  size_t buffered_bytes = 0;       // guarded by mu
  uint64_t next_serial = 0;        // guarded by mu
  std::set<uint64_t> outstanding;  // guarded by mu: serials of batches not yet completed
  int flushing = 0;                // guarded by mu
  bool closed = false;             // guarded by mu
  std::atomic<bool> drain_posted{false};
  std::unique_ptr<asio::steady_timer> timer;  // I/O thread

  Result<void> Init() {
    codec = ToCodec(opts.compression);
    if (opts.idempotence == Idempotence::kEnabled) {
      // Any broker hands out producer ids; retriable answers (a broker
      // starting, an election of whatever allocates them) and lost
      // connections are retried with backoff for up to max_block.
      const auto deadline = Clock::now() + opts.max_block;
      for (;;) {
        flatbuffers::FlatBufferBuilder b(32);
        b.Finish(fb::CreateInitProducerIdRequest(b));
        auto frame =
            cluster->Call(client::kAnyBroker, client::Request{wire::ApiKey::kInitProducerId, b.Release(), {}, nullptr});
        Error failure(Errc::kUnknown, "");
        if (!frame) {
          if (frame.error().code() != Errc::kDisconnected && frame.error().code() != Errc::kTimeout) {
            return tl::unexpected(frame.error());
          }
          failure = frame.error();
        } else {
          TELEMQ_ASSIGN_OR_RETURN(auto resp, wire::VerifyBody<fb::InitProducerIdResponse>(frame->body()));
          if (resp->error() == fb::ErrorCode::None) {
            producer_id = ProducerId(resp->producer_id());
            epoch = resp->producer_epoch();
            break;
          }
          failure = Error(wire::FromWireError(resp->error()), "init producer id: " + wire::Str(resp->message()));
          if (!wire::IsRetriable(resp->error())) return tl::unexpected(failure);
        }
        if (Clock::now() + opts.client.retry_backoff > deadline) return tl::unexpected(failure);
        std::this_thread::sleep_for(opts.client.retry_backoff);
      }
    }
    max_in_flight = producer_id.value() >= 0 ? static_cast<size_t>(opts.max_in_flight_per_partition) : 1;
    timer = std::make_unique<asio::steady_timer>(cluster->io());
    asio::post(cluster->io(), [self = shared_from_this()]() { self->Tick(); });
    return Ok();
  }

  // Periodic drain: closes lingering batches and sends what is ready.
  void Tick() {
    Drain();
    {
      std::lock_guard lock(mu);
      if (closed && outstanding.empty()) return;
    }
    timer->expires_after(std::max(std::chrono::milliseconds(1), opts.linger / 2));
    timer->async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void WakeSender() {
    if (!drain_posted.exchange(true)) {
      asio::post(cluster->io(), [self = shared_from_this()]() {
        self->drain_posted = false;
        self->Drain();
      });
    }
  }

  Result<void> Send(std::string_view topic, std::optional<std::string_view> key, std::optional<std::string_view> value,
                    std::span<const wire::RecordHeaderView> headers, SendCallback done,
                    std::optional<int64_t> timestamp_ms, std::optional<int32_t> partition) {
    const size_t size =
        wire::BatchBuilder::RecordSizeUpperBound(key ? key->size() : 0, value ? value->size() : 0, headers);
    if (size + 1024 > opts.request_max_bytes) {
      return Fail(Errc::kMessageTooLarge, "record of " + std::to_string(size) + " bytes exceeds request_max_bytes");
    }
    std::string topic_name(topic);
    // The partition count only: copying the topic's metadata (a vector per
    // partition) for every record was the client's largest cost.
    std::optional<int32_t> known = cluster->PartitionCount(topic_name);
    if (!known) {
      auto waited = cluster->WaitForTopic(topic_name, opts.max_block);
      if (!waited) return tl::unexpected(waited.error());
      known = static_cast<int32_t>(waited->partitions.size());
    }
    const int32_t count = *known;
    if (count == 0) return Fail(Errc::kNotFound, "topic '" + topic_name + "' has no partitions");
    if (partition && (*partition < 0 || *partition >= count)) {
      return Fail(Errc::kInvalidArgument,
                  "partition " + std::to_string(*partition) + " out of range for '" + topic_name + "'");
    }
    const int64_t ts = timestamp_ms ? *timestamp_ms : WallMs();
    // Year 0..9999 in ms: keeps timestamp deltas inside a batch far from overflow.
    if (ts < 0 || ts > 253'402'300'799'999) {
      return Fail(Errc::kInvalidArgument, "timestamp " + std::to_string(ts) + " ms is outside years 1970..9999");
    }
    bool wake = false;
    {
      std::unique_lock lock(mu);
      if (closed) return Fail(Errc::kShuttingDown, "producer is closed");
      if (buffered_bytes + size > opts.buffer_bytes) {
        if (opts.on_full == BufferFullPolicy::kFail) return Fail(Errc::kBufferFull, "producer buffer is full");
        if (!space_cv.wait_for(lock, opts.max_block,
                               [&] { return closed || buffered_bytes + size <= opts.buffer_bytes; })) {
          return Fail(Errc::kBufferFull, "producer buffer stayed full for max_block");
        }
        if (closed) return Fail(Errc::kShuttingDown, "producer is closed");
      }
      int32_t p;
      if (partition) {
        p = *partition;
      } else if (key) {
        p = PartitionForKey(*key, count);
      } else {
        auto [it, fresh] = sticky.try_emplace(topic_name, 0);
        if (fresh || it->second >= count) it->second = static_cast<int32_t>(WallMs() % count);
        p = it->second;
      }
      // The topic's queues by partition, cached for the last topic sent to
      // (entries of `queues` are never erased, so the pointers stay valid):
      // a map lookup by (topic, partition) per record was measurable.
      if (topic_name != last_topic) {
        last_topic = topic_name;
        last_topic_queues.clear();
      }
      if (static_cast<size_t>(p) >= last_topic_queues.size()) last_topic_queues.resize(static_cast<size_t>(p) + 1);
      PartitionQueue*& cached = last_topic_queues[static_cast<size_t>(p)];
      if (cached == nullptr) cached = &queues[{topic_name, p}];
      auto& q = *cached;
      if (q.open && q.open->builder.size_bytes() + size > opts.batch_bytes && !q.open->builder.empty()) {
        q.ready.push_back(std::move(q.open));
        wake = true;
        if (!key && !partition) sticky[topic_name] = (p + 1) % count;  // keyless: move on when a batch fills
      }
      if (!q.open) {
        q.open = std::make_unique<Batch>(codec, std::min(opts.batch_bytes + 1024, size_t(1) << 20));
        q.open->created = Clock::now();
        q.open->serial = next_serial++;
        outstanding.insert(q.open->serial);
      }
      Batch& b = *q.open;
      b.builder.Add(ts, key, value, headers);
      if (done) {
        // Room for a full batch of records this size at once: growing one
        // by one moved every callback ~11 times per batch.
        if (b.callbacks.empty()) b.callbacks.reserve(std::min<size_t>(opts.batch_bytes / size + 1, 8192));
        b.callbacks.push_back({b.record_count, ts, std::move(done)});
      }
      ++b.record_count;
      b.accounted_bytes += size;
      buffered_bytes += size;
      if (b.builder.size_bytes() >= opts.batch_bytes) {
        q.ready.push_back(std::move(q.open));
        wake = true;
      } else if (opts.linger.count() == 0) {
        // No lingering: the sender takes this batch as soon as the partition
        // has room in flight (records keep accumulating while it has none).
        wake = true;
      }
    }
    if (wake) WakeSender();
    return Ok();
  }

  // I/O thread: closes lingering batches and sends, per partition, first the
  // batches to retry (in sequence order), then ready ones while fewer than
  // max_in_flight are unacknowledged. A partition without a known leader is
  // held (never sent to some other broker): its batches wait, bounded by
  // buffer_bytes and delivery_timeout, while metadata is refreshed with
  // backoff until a leader is named.
  struct ToSend {
    PartitionKey key;
    PartitionQueue* queue;
    Batch* batch;
    int round;  // the batch's position among this Drain's sends of its partition
  };

  void Drain() {
    std::vector<std::pair<int32_t, ToSend>> routed;  // (leader, batch)
    struct Expired {
      PartitionKey key;
      std::unique_ptr<Batch> batch;
    };
    std::vector<Expired> expired;
    std::vector<std::pair<PartitionKey, PartitionQueue*>> settle;
    std::set<std::string> leaderless;
    const auto now = Clock::now();
    {
      std::lock_guard lock(mu);
      for (auto& [key, q] : queues) {
        const bool room = !q.recovering && q.in_flight.size() < max_in_flight;
        // A lingered batch is closed only when it can leave now; while the
        // partition has no room it keeps filling (up to batch_bytes), so slow
        // round trips produce bigger batches, not a queue of tiny ones.
        if (q.open && room && q.ready.empty() && (flushing > 0 || closed || now - q.open->created >= opts.linger)) {
          q.ready.push_back(std::move(q.open));
        }
        if (q.recovering || now < q.retry_at) continue;
        const bool retries = std::any_of(q.in_flight.begin(), q.in_flight.end(),
                                         [](const auto& b) { return b->state == Batch::State::kRetry; });
        if (!retries && (q.ready.empty() || !room)) continue;
        const int32_t leader = cluster->LeaderOf(key.first, key.second);
        if (leader < 0) {
          // Oldest first, so a batch never fails after a later one of its
          // partition succeeded. Sent ones (they hold sequences) may have
          // been written: their outcome is unknown.
          bool failed = false;
          for (auto& b : q.in_flight) {
            if (b->state != Batch::State::kRetry || now - b->created < opts.delivery_timeout) continue;
            b->state = Batch::State::kFailed;
            b->maybe_written = true;
            b->error = Error(Errc::kTimeout, "delivery timed out: no leader known for " + key.first + "/" +
                                                 std::to_string(key.second) + "; last error: " + b->error->ToString());
            failed = true;
          }
          if (failed) settle.emplace_back(key, &q);
          if (q.in_flight.empty()) {
            while (!q.ready.empty() && now - q.ready.front()->created >= opts.delivery_timeout) {
              expired.push_back({key, std::move(q.ready.front())});
              q.ready.pop_front();
            }
          }
          leaderless.insert(key.first);
          continue;
        }
        int round = 0;
        for (auto& b : q.in_flight) {
          if (b->state != Batch::State::kRetry) continue;
          b->state = Batch::State::kAwaiting;
          ++q.awaiting;
          routed.emplace_back(leader, ToSend{key, &q, b.get(), round++});
        }
        while (!q.ready.empty() && q.in_flight.size() < max_in_flight) {
          auto& b = q.in_flight.emplace_back(std::move(q.ready.front()));
          q.ready.pop_front();
          if (b->base_sequence < 0 && producer_id.value() >= 0) {
            b->base_sequence = q.next_sequence;
            q.next_sequence += b->record_count;
          }
          b->state = Batch::State::kAwaiting;
          ++q.awaiting;
          routed.emplace_back(leader, ToSend{key, &q, b.get(), round++});
        }
      }
    }
    for (auto& e : expired) {
      Complete(e.key, std::move(e.batch),
               tl::unexpected(Error(Errc::kTimeout, "delivery timed out: no leader known for " + e.key.first + "/" +
                                                        std::to_string(e.key.second))));
    }
    for (auto& [key, q] : settle) Settle(key, *q);
    if (!leaderless.empty()) cluster->RequestMetadataRefresh({leaderless.begin(), leaderless.end()});
    // Finish (compress, checksum) outside the lock. Requests go per leader
    // and round: a request holds at most one batch of a partition, and the
    // k-th batch of a partition leaves, on the same connection, before its
    // k+1-th, so the leader sees them in sequence order.
    std::map<std::pair<int32_t, int>, std::vector<ToSend>> by_leader_round;
    for (auto& [leader, s] : routed) {
      Batch& b = *s.batch;
      if (b.bytes.empty()) {
        auto finished = b.builder.Finish(producer_id, epoch, b.base_sequence);
        if (!finished) {
          // Cannot happen for a builder with records; fail it in its place.
          --s.queue->awaiting;
          b.state = Batch::State::kFailed;
          b.error = finished.error();
          s.queue->recovering = true;
          continue;
        }
        b.bytes = std::move(*finished);
      }
      by_leader_round[{leader, s.round}].push_back(s);
    }
    for (auto& [where, list] : by_leader_round) {
      // Split into requests of at most request_max_bytes.
      size_t i = 0;
      while (i < list.size()) {
        size_t bytes = 0, j = i;
        while (j < list.size() && (j == i || bytes + list[j].batch->bytes.size() <= opts.request_max_bytes)) {
          bytes += list[j].batch->bytes.size();
          ++j;
        }
        SendRequest(where.first, std::vector<ToSend>(list.begin() + i, list.begin() + j));
        i = j;
      }
    }
    for (auto& [leader, s] : routed) {
      if (s.queue->recovering && s.queue->awaiting == 0) Recover(s.key, *s.queue);
    }
  }

  void SendRequest(int32_t leader, std::vector<ToSend> group) {
    flatbuffers::FlatBufferBuilder b(256);
    std::vector<flatbuffers::Offset<fb::ProduceTopic>> topics;
    client::Request req{wire::ApiKey::kProduce, {}, {}, nullptr};
    for (size_t i = 0; i < group.size();) {
      std::vector<flatbuffers::Offset<fb::ProducePartition>> parts;
      size_t j = i;
      for (; j < group.size() && group[j].key.first == group[i].key.first; ++j) {
        const auto& bytes = group[j].batch->bytes;
        parts.push_back(fb::CreateProducePartition(b, group[j].key.second, static_cast<uint32_t>(bytes.size())));
        req.payload.emplace_back(bytes.data(), bytes.size());
      }
      topics.push_back(fb::CreateProduceTopicDirect(b, group[i].key.first.c_str(), &parts));
      i = j;
    }
    const auto acks = opts.acks == Acks::kAll ? fb::Acks::All : fb::Acks::Leader;
    b.Finish(
        fb::CreateProduceRequestDirect(b, acks, static_cast<int32_t>(opts.client.request_timeout.count()), &topics));
    req.body = b.Release();
    // Batches stay owned by their queues (in_flight) until completed.
    cluster->Send(leader, std::move(req), [self = shared_from_this(), leader, group](Result<client::Frame> frame) {
      self->OnResponse(leader, group, frame);
    });
  }

  struct PartitionResult {
    fb::ErrorCode code = fb::ErrorCode::None;
    std::string message;
    int64_t base_offset = -1;
    int32_t leader_hint = client::kNoBroker;
    int64_t leader_term = 0;
  };

  // `leader`: the broker the request went to.
  void OnResponse(int32_t leader, const std::vector<ToSend>& group, const Result<client::Frame>& frame) {
    std::map<PartitionKey, PartitionResult> results;
    Error transport(Errc::kUnknown, "");
    bool transport_failed = !frame;
    if (frame) {
      auto resp = wire::VerifyBody<fb::ProduceResponse>(frame->body());
      if (!resp) {
        transport_failed = true;
        transport = resp.error();
      } else if ((*resp)->topics()) {
        for (const auto* t : *(*resp)->topics()) {
          if (!t->partitions()) continue;
          for (const auto* p : *t->partitions()) {
            results[{wire::Str(t->name()), p->partition()}] = {p->error(), wire::Str(p->message()), p->base_offset(),
                                                               p->leader_hint(), p->leader_term()};
          }
        }
      }
    } else {
      transport = frame.error();
    }
    std::set<std::string> refresh;
    for (const auto& s : group) {
      PartitionQueue& q = *s.queue;
      Batch& b = *s.batch;
      --q.awaiting;
      if (transport_failed) {
        // The leader may be gone: its successor shows up in metadata (with
        // a newer term); the batch goes again with the same sequence, so a
        // copy the old leader did commit is answered as a duplicate.
        refresh.insert(s.key.first);
        MarkRetry(q, b, transport);
        continue;
      }
      auto it = results.find(s.key);
      if (it == results.end()) {
        MarkRetry(q, b, Error(Errc::kCorrupt, "no result for partition in produce response"));
        continue;
      }
      const PartitionResult& r = it->second;
      const fb::ErrorCode code = r.code;
      if (code == fb::ErrorCode::None || code == fb::ErrorCode::DuplicateSequence) {
        // A located duplicate comes back as None with the offset it was
        // first written at; DuplicateSequence means written, too old to
        // locate (docs/protocol.md §7).
        b.state = Batch::State::kAcked;
        b.acked_base = Offset(code == fb::ErrorCode::None ? r.base_offset : -1);
      } else if (code == fb::ErrorCode::OutOfOrderSequence && EarlierUnsettled(q, b)) {
        // An earlier batch of the partition failed or is still unanswered:
        // the gap is its, not this batch's. It goes again after it.
        MarkRetry(q, b, Error(wire::FromWireError(code), r.message));
      } else if (wire::IsRetriable(code)) {
        if (code == fb::ErrorCode::NotLeader || code == fb::ErrorCode::LeaderNotAvailable) {
          // With a usable hint the cache names the new leader at once and
          // the retry goes there after the backoff; without one the
          // partition is held until metadata names a leader. Both refresh.
          cluster->OnNotLeader(s.key.first, s.key.second, leader, r.leader_hint, r.leader_term);
          refresh.insert(s.key.first);
        } else if (code == fb::ErrorCode::UnknownTopicOrPartition) {
          refresh.insert(s.key.first);
        }
        MarkRetry(q, b, Error(wire::FromWireError(code), r.message));
      } else {
        // A storage error may come after the append (the sync failed).
        b.state = Batch::State::kFailed;
        b.error = Error(wire::FromWireError(code), r.message);
        b.maybe_written = code == fb::ErrorCode::StorageError;
        q.recovering = true;
      }
    }
    if (!refresh.empty()) cluster->RequestMetadataRefresh({refresh.begin(), refresh.end()});
    for (const auto& s : group) {
      PartitionQueue& q = *s.queue;
      if (q.recovering) {
        if (q.awaiting == 0) Recover(s.key, q);
      } else {
        Settle(s.key, q);
      }
    }
    Drain();
  }

  static void MarkRetry(PartitionQueue& q, Batch& b, Error why) {
    b.state = Batch::State::kRetry;
    b.error = std::move(why);
    q.recovering = true;
  }

  // Whether a batch sent before `b` in its partition is not known written.
  static bool EarlierUnsettled(const PartitionQueue& q, const Batch& b) {
    for (const auto& e : q.in_flight) {
      if (e.get() == &b) return false;
      if (e->state != Batch::State::kAcked) return true;
    }
    return false;
  }

  // Completes the partition's oldest batches while they are acknowledged (or,
  // outside recovery, failed): callbacks run in sequence order.
  void Settle(const PartitionKey& key, PartitionQueue& q) {
    while (!q.in_flight.empty()) {
      Batch& head = *q.in_flight.front();
      if (head.state == Batch::State::kAcked) {
        auto b = std::move(q.in_flight.front());
        q.in_flight.pop_front();
        const Offset base = b->acked_base;
        Complete(key, std::move(b), base);
      } else if (head.state == Batch::State::kFailed && !q.recovering) {
        auto b = std::move(q.in_flight.front());
        q.in_flight.pop_front();
        const Error error = *b->error;
        Complete(key, std::move(b), tl::unexpected(error));
      } else {
        break;
      }
    }
  }

  // Every request of the partition is answered and some answer was not a
  // success. Batches to retry keep their order and sequences; a batch
  // certainly not written frees its sequences, and every later batch moves
  // down by as many (re-checksummed); batches past their delivery timeout
  // fail (outcome unknown: never renumbered onto). Sending resumes after
  // the backoff, oldest first.
  void Recover(const PartitionKey& key, PartitionQueue& q) {
    bool closing;
    {
      std::lock_guard lock(mu);
      closing = closed;
    }
    const auto now = Clock::now();
    int32_t freed = 0;
    bool retry = false;
    for (auto& b : q.in_flight) {
      if (b->state == Batch::State::kRetry) {
        if (closing && (b->error->code() == Errc::kShuttingDown || b->error->code() == Errc::kCancelled)) {
          // The client itself is going away: retrying cannot succeed.
          b->state = Batch::State::kFailed;
          b->maybe_written = true;
        } else if (now - b->created >= opts.delivery_timeout) {
          b->state = Batch::State::kFailed;
          b->maybe_written = true;
          b->error = Error(Errc::kTimeout, "delivery timed out; last error: " + b->error->ToString());
        }
      }
      if (b->state == Batch::State::kFailed && !b->maybe_written && b->base_sequence >= 0) {
        // The broker wrote none of it: the sequences it held are free again.
        // After an unknown outcome the sequence is never reused: a batch the
        // broker did write would otherwise make the next one look like its
        // duplicate and be acknowledged without being written.
        freed += b->record_count;
        b->base_sequence = -1;
      } else if (b->state == Batch::State::kRetry) {
        if (freed > 0 && b->base_sequence >= 0) {
          b->base_sequence -= freed;
          wire::RestampBaseSequence(b->bytes, b->base_sequence);
        }
        retry = true;
      }
    }
    {
      std::lock_guard lock(mu);
      q.next_sequence -= freed;
      if (retry) q.retry_at = now + opts.client.retry_backoff;
    }
    q.recovering = false;
    Settle(key, q);
  }

  // Runs the callbacks of a completed batch and releases its buffer space.
  void Complete(const PartitionKey& key, std::unique_ptr<Batch> b, const Result<Offset>& base) {
    // One result per batch, its offset and timestamp set per record: a
    // RecordMetadata (topic string included) per record was measurable.
    if (base) {
      Result<RecordMetadata> meta = RecordMetadata{key.first, key.second, Offset(-1), 0, Clock::now()};
      for (auto& c : b->callbacks) {
        meta->offset = base->value() < 0 ? Offset(-1) : *base + c.index;
        meta->timestamp_ms = c.timestamp_ms;
        c.done(meta);
      }
    } else {
      const Result<RecordMetadata> failed = tl::unexpected(base.error());
      for (auto& c : b->callbacks) c.done(failed);
    }
    {
      std::lock_guard lock(mu);
      buffered_bytes -= b->accounted_bytes;
      outstanding.erase(b->serial);
    }
    space_cv.notify_all();
    flush_cv.notify_all();
  }
};

Producer::Producer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Producer::~Producer() { Close(); }

Result<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  if (options.batch_bytes < 1024 || options.batch_bytes > (16u << 20)) {
    return Fail(Errc::kInvalidArgument, "batch_bytes must be within 1 KiB..16 MiB");
  }
  if (options.buffer_bytes < options.batch_bytes) return Fail(Errc::kInvalidArgument, "buffer_bytes < batch_bytes");
  if (options.max_in_flight_per_partition < 1 ||
      options.max_in_flight_per_partition > wire::kRememberedProducerBatches) {
    return Fail(Errc::kInvalidArgument, std::string("max_in_flight_per_partition must be within 1..") +
                                            std::to_string(wire::kRememberedProducerBatches) +
                                            " (the batches a partition remembers per producer)");
  }
  auto impl = std::make_shared<Impl>();
  impl->opts = options;
  TELEMQ_ASSIGN_OR_RETURN(impl->cluster, client::Cluster::Create(options.client));
  TELEMQ_TRY(impl->Init());
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Result<void> Producer::Send(const ProducerRecord& r, SendCallback done) {
  std::vector<wire::RecordHeaderView> headers;
  headers.reserve(r.headers.size());
  for (const auto& h : r.headers) {
    headers.push_back({h.key, h.value ? std::optional<std::string_view>(*h.value) : std::nullopt});
  }
  return impl_->Send(r.topic, r.key ? std::optional<std::string_view>(*r.key) : std::nullopt,
                     r.value ? std::optional<std::string_view>(*r.value) : std::nullopt, headers, std::move(done),
                     r.timestamp_ms, r.partition);
}

Result<void> Producer::Send(std::string_view topic, std::optional<std::string_view> key,
                            std::optional<std::string_view> value, SendCallback done,
                            std::optional<int64_t> timestamp_ms, std::optional<int32_t> partition) {
  return impl_->Send(topic, key, value, {}, std::move(done), timestamp_ms, partition);
}

Result<void> Producer::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  // Records sent before this call are in batches created before it (an open
  // batch may take later records too; it is closed as soon as its partition
  // is idle while flushing). Batches created later are not waited for, so a
  // flush ends even while other threads keep sending.
  const uint64_t target = impl_->next_serial;
  ++impl_->flushing;
  lock.unlock();
  impl_->WakeSender();
  lock.lock();
  const bool done = impl_->flush_cv.wait_for(
      lock, timeout, [&] { return impl_->outstanding.empty() || *impl_->outstanding.begin() >= target; });
  --impl_->flushing;
  if (!done) return Fail(Errc::kTimeout, "flush timed out");
  return Ok();
}

void Producer::Close(std::chrono::milliseconds timeout) {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
  }
  IgnoreError(Flush(timeout), "close: records still unacknowledged are abandoned");
  {
    std::lock_guard lock(impl_->mu);
    impl_->closed = true;
  }
  impl_->space_cv.notify_all();
  impl_->cluster->Shutdown();
}

ProducerId Producer::producer_id() const { return impl_->producer_id; }

}  // namespace telemq
