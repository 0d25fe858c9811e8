#include "telemq/consumer.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "client/cluster.h"
#include "client/group_rpc.h"
#include "client/membership.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq {

namespace fb = wire::fb;
using Clock = std::chrono::steady_clock;

namespace {

struct PartitionState {
  std::shared_ptr<const std::string> topic;
  Offset position;      // next offset Poll() returns
  Offset fetch_offset;  // next offset to fetch
  bool in_flight = false;
  uint64_t epoch = 0;  // bumped by seeks: answers to older fetches are dropped
  Clock::time_point retry_at{};
};

// One partition's slice of a fetch response, waiting for Poll().
struct Completed {
  TopicPartition tp;
  uint64_t epoch = 0;
  std::shared_ptr<std::vector<std::byte>> frame;
  std::span<const std::byte> records;
  std::optional<Error> error;
  int64_t record_count = 0;  // of the whole batches in `records`, per their headers (a bound for reserving)
};

}  // namespace

struct Consumer::Impl : std::enable_shared_from_this<Consumer::Impl> {
  ConsumerOptions opts;
  std::shared_ptr<client::Cluster> cluster;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<TopicPartition, PartitionState> parts;  // guarded by mu
  std::deque<Completed> completed;                 // guarded by mu
  size_t buffered_bytes = 0;                       // guarded by mu
  bool closed = false;                             // guarded by mu
  // Source of PartitionState::epoch values, so a partition dropped and
  // assigned again never matches answers of its previous incarnation.
  uint64_t last_epoch = 0;                    // guarded by mu
  std::recursive_mutex group_service_mu;      // serialises ServiceGroup / LeaveGroup
  std::unique_ptr<asio::steady_timer> timer;  // I/O thread

  // Group mode (Subscribe). Set once, before the membership starts.
  std::shared_ptr<client::Membership> membership;
  GroupOptions group;
  std::shared_ptr<RebalanceListener> listener;
  bool group_wake = false;                    // guarded by mu
  Clock::time_point next_auto_commit;         // Poll thread
  std::optional<Error> pending_assign_error;  // Poll thread

  void Start() {
    timer = std::make_unique<asio::steady_timer>(cluster->io());
    asio::post(cluster->io(), [self = shared_from_this()]() { self->Tick(); });
  }

  // Fetches are started by answers, by Poll() freeing buffer space, and by
  // this periodic tick (retries after backoff).
  void Tick() {
    MaybeFetch();
    {
      // Close() cancels the timer, but a tick whose wait had already
      // completed is queued past the cancel: without this check it re-arms
      // forever and Cluster::Shutdown() never joins the I/O thread.
      std::lock_guard lock(mu);
      if (closed) return;
    }
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void PostFetch() {
    asio::post(cluster->io(), [self = shared_from_this()]() { self->MaybeFetch(); });
  }

  // Fetches each idle partition from its leader. A partition without a
  // known leader is skipped (never fetched from another broker) until
  // metadata, refreshed with backoff, names one; its position is kept.
  void MaybeFetch() {
    std::map<int32_t, std::vector<std::pair<TopicPartition, int64_t>>> by_leader;
    std::map<TopicPartition, uint64_t> epochs;
    std::set<std::string> leaderless;
    {
      std::lock_guard lock(mu);
      if (closed || buffered_bytes >= opts.max_buffer_bytes) return;
      const auto now = Clock::now();
      for (auto& [tp, st] : parts) {
        if (st.in_flight || now < st.retry_at) continue;
        const int32_t leader = cluster->LeaderOf(tp.topic, tp.partition);
        if (leader < 0) {
          leaderless.insert(tp.topic);
          continue;
        }
        st.in_flight = true;
        epochs[tp] = st.epoch;
        by_leader[leader].emplace_back(tp, st.fetch_offset.value());
      }
    }
    if (!leaderless.empty()) cluster->RequestMetadataRefresh({leaderless.begin(), leaderless.end()});
    for (auto& [leader, list] : by_leader) {
      flatbuffers::FlatBufferBuilder b(256);
      std::vector<flatbuffers::Offset<fb::FetchTopic>> topics;
      for (size_t i = 0; i < list.size();) {
        std::vector<flatbuffers::Offset<fb::FetchPartition>> ps;
        size_t j = i;
        for (; j < list.size() && list[j].first.topic == list[i].first.topic; ++j) {
          ps.push_back(
              fb::CreateFetchPartition(b, list[j].first.partition, list[j].second, opts.partition_fetch_max_bytes));
        }
        topics.push_back(fb::CreateFetchTopicDirect(b, list[i].first.topic.c_str(), &ps));
        i = j;
      }
      b.Finish(fb::CreateFetchRequestDirect(b, static_cast<int32_t>(opts.fetch_max_wait.count()), opts.fetch_min_bytes,
                                            opts.fetch_max_bytes, &topics));
      std::vector<TopicPartition> asked;
      for (auto& [tp, _] : list) asked.push_back(tp);
      cluster->Send(leader, client::Request{wire::ApiKey::kFetch, b.Release(), {}, nullptr},
                    [self = shared_from_this(), leader, asked, epochs](Result<client::Frame> frame) {
                      self->OnFetch(leader, asked, epochs, frame);
                    });
    }
  }

  // `leader`: the broker the fetch went to.
  void OnFetch(int32_t leader, const std::vector<TopicPartition>& asked,
               const std::map<TopicPartition, uint64_t>& epochs, const Result<client::Frame>& frame) {
    std::set<std::string> refresh;
    {
      std::lock_guard lock(mu);
      std::map<TopicPartition, bool> answered;
      const fb::FetchResponse* resp = nullptr;
      if (frame) {
        auto verified = wire::VerifyBody<fb::FetchResponse>(frame->body());
        if (verified) resp = *verified;
      }
      if (resp && resp->topics()) {
        auto payload = frame->payload();
        size_t pos = 0;
        for (const auto* t : *resp->topics()) {
          if (!t->partitions()) continue;
          for (const auto* p : *t->partitions()) {
            TopicPartition tp{wire::Str(t->name()), p->partition()};
            const size_t n = p->records_bytes();
            if (n > payload.size() - pos) {
              resp = nullptr;  // payload shorter than declared: treat the whole answer as lost
              break;
            }
            auto records = payload.subspan(pos, n);
            pos += n;
            auto st = parts.find(tp);
            auto ep = epochs.find(tp);
            if (st == parts.end() || ep == epochs.end() || st->second.epoch != ep->second) continue;
            answered[tp] = true;
            st->second.in_flight = false;
            if (p->error() != fb::ErrorCode::None) {
              if (wire::IsRetriable(p->error())) {
                // The position stays: the next fetch, from the hinted or
                // refreshed leader, resumes at fetch_offset.
                if (p->error() == fb::ErrorCode::NotLeader || p->error() == fb::ErrorCode::LeaderNotAvailable) {
                  cluster->OnNotLeader(tp.topic, tp.partition, leader, p->leader_hint(), p->leader_term());
                }
                st->second.retry_at = Clock::now() + opts.client.retry_backoff;
                refresh.insert(tp.topic);
              } else {
                completed.push_back(
                    {tp,
                     ep->second,
                     nullptr,
                     {},
                     Error(wire::FromWireError(p->error()),
                           tp.topic + "/" + std::to_string(tp.partition) + ": " + wire::Str(p->message()))});
                st->second.retry_at = Clock::now() + opts.client.retry_backoff;
              }
              continue;
            }
            if (records.empty()) continue;
            // Advance the fetch position past the last whole batch; Poll()
            // verifies checksums and decodes.
            std::span<const std::byte> rest = records;
            Offset next = st->second.fetch_offset;
            int64_t record_count = 0;
            while (rest.size() >= wire::batch::kHeaderSize) {
              auto h = wire::DecodeHeader(rest);
              if (!h || h->batch_length < static_cast<int32_t>(wire::batch::kHeaderSize) ||
                  static_cast<size_t>(h->batch_length) > rest.size()) {
                break;
              }
              next = std::max(next, h->next_offset());
              record_count += std::max(h->record_count, 0);
              rest = rest.subspan(static_cast<size_t>(h->batch_length));
            }
            st->second.fetch_offset = next;
            buffered_bytes += records.size();
            completed.push_back({tp, ep->second, frame->bytes, records, std::nullopt, record_count});
          }
          if (!resp) break;
        }
      }
      // Partitions without an answer (transport failure): retry after backoff.
      for (const auto& tp : asked) {
        if (answered.count(tp)) continue;
        auto st = parts.find(tp);
        if (st == parts.end()) continue;
        auto ep = epochs.find(tp);
        if (ep != epochs.end() && st->second.epoch == ep->second) {
          st->second.in_flight = false;
          if (!frame || !resp) {
            st->second.retry_at = Clock::now() + opts.client.retry_backoff;
            refresh.insert(tp.topic);
          }
        }
      }
    }
    cv.notify_all();
    if (!refresh.empty()) cluster->RequestMetadataRefresh({refresh.begin(), refresh.end()});
    MaybeFetch();
  }

  Result<ConsumerRecords> Poll(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (membership) TELEMQ_TRY(ServiceGroup());
      std::unique_lock lock(mu);
      if (closed) return Fail(Errc::kShuttingDown, "consumer is closed");
      cv.wait_until(lock, deadline, [&] { return !completed.empty() || closed || group_wake; });
      if (group_wake) {
        group_wake = false;
        // Apply the partition change before returning anything more.
        if (Clock::now() < deadline) continue;
        lock.unlock();
        TELEMQ_TRY(ServiceGroup());
        lock.lock();
      }
      if (closed) return Fail(Errc::kShuttingDown, "consumer is closed");
      return Drain(lock);
    }
  }

  // mu held through `lock`.
  Result<ConsumerRecords> Drain(std::unique_lock<std::mutex>& lock) {
    ConsumerRecords out;
    wire::RecordView scratch;
    // Room for what is buffered (up to max_poll_records) at once: growing
    // record by record moved every record about twice more.
    int64_t buffered_records = 0;
    for (const auto& c : completed) buffered_records += c.record_count;
    out.records_.reserve(std::min(static_cast<size_t>(buffered_records), opts.max_poll_records));
    while (!completed.empty() && out.records_.size() < opts.max_poll_records) {
      Completed c = std::move(completed.front());
      completed.pop_front();
      buffered_bytes -= c.records.size();
      auto st = parts.find(c.tp);
      if (st == parts.end() || st->second.epoch != c.epoch) continue;
      if (c.error) {
        if (!out.records_.empty()) {
          completed.push_front(std::move(c));  // report it on the next poll, after these records
          break;
        }
        return tl::unexpected(*c.error);
      }
      PartitionState& ps = st->second;
      out.buffers_.push_back(c.frame);
      out.buffers_.push_back(ps.topic);
      wire::BatchIterator it(c.records);
      // A batch that fails validation or decoding is corruption (the broker
      // sends whole batches only): records before it are returned, the
      // partition refetches from the first record not delivered, and the
      // error is reported when nothing else is.
      std::optional<Error> corrupt;
      auto fail_batch = [&](const Error& e, size_t records_before) {
        out.records_.resize(records_before);
        ps.fetch_offset = ps.position;
        ps.epoch = ++last_epoch;
        ps.in_flight = false;  // the fetch in flight answers for the old epoch
        ps.retry_at = {};
        corrupt = Error(Errc::kCorrupt, c.tp.topic + "/" + std::to_string(c.tp.partition) + " at offset " +
                                            std::to_string(ps.position.value()) + ": " + e.message());
      };
      while (!it.Done() && !corrupt) {
        wire::BatchHeader h;
        const size_t records_before = out.records_.size();
        auto batch = it.Next(&h);
        if (!batch) {
          fail_batch(batch.error(), records_before);
          break;
        }
        if (h.next_offset() <= ps.position) continue;
        std::span<const std::byte> section = batch->subspan(wire::batch::kHeaderSize);
        if (h.codec() != wire::Codec::kNone) {
          auto owned = std::make_shared<std::vector<std::byte>>();
          auto d = wire::Decompress(h.codec(), section, wire::batch::kMaxBatchBytes, owned.get());
          if (!d) {
            fail_batch(d.error(), records_before);
            break;
          }
          section = *owned;
          out.buffers_.push_back(owned);
        }
        const Offset from = ps.position;
        const std::string_view topic = *ps.topic;
        auto decoded = wire::DecodeRecordSection(section, h, &scratch, [&](const wire::RecordView& r) {
          if (r.offset < from) return;
          // Built in place (no temporary moved into the vector).
          ConsumerRecord& cr = out.records_.emplace_back();
          cr.topic = topic;
          cr.partition = c.tp.partition;
          cr.offset = r.offset;
          cr.timestamp_ms = r.timestamp_ms;
          cr.key = r.key;
          cr.value = r.value;
          if (!r.headers.empty()) {
            cr.headers.reserve(r.headers.size());
            for (const auto& hd : r.headers) cr.headers.push_back({hd.key, hd.value});
          }
        });
        if (!decoded) {
          fail_batch(decoded.error(), records_before);
          break;
        }
        ps.position = h.next_offset();
      }
      if (corrupt) {
        if (out.records_.empty()) {
          lock.unlock();
          PostFetch();
          return tl::unexpected(*corrupt);
        }
        break;
      }
    }
    lock.unlock();
    PostFetch();
    return out;
  }

  // ---- groups (Poll / Close thread unless noted)

  // Positions of the given partitions (all owned when empty and `all`).
  std::map<TopicPartition, Offset> Positions(const std::vector<TopicPartition>* only) {
    std::lock_guard lock(mu);
    std::map<TopicPartition, Offset> out;
    if (only) {
      for (const auto& tp : *only) {
        auto it = parts.find(tp);
        if (it != parts.end()) out[tp] = it->second.position;
      }
    } else {
      for (const auto& [tp, st] : parts) out[tp] = st.position;
    }
    return out;
  }

  Result<void> CommitSync(const std::map<TopicPartition, Offset>& offsets) {
    if (!membership) return Fail(Errc::kInvalidArgument, "commit needs a group: call Subscribe first");
    if (offsets.empty()) return Ok();
    TELEMQ_ASSIGN_OR_RETURN(auto id, membership->CurrentIdentity());
    auto r = client::CallOffsetCommit(*cluster, group.group_id, id.member_id, id.member_epoch, offsets,
                                      opts.client.request_timeout);
    if (!r && r.error().message().find("StaleMemberEpoch") != std::string::npos) {
      // The epoch advanced between our read and the coordinator's check:
      // once more with the current one.
      TELEMQ_ASSIGN_OR_RETURN(id, membership->CurrentIdentity());
      r = client::CallOffsetCommit(*cluster, group.group_id, id.member_id, id.member_epoch, offsets,
                                   opts.client.request_timeout);
    }
    return r;
  }

  void CommitAsync(std::map<TopicPartition, Offset> offsets, std::function<void(Result<void>)> done) {
    auto finish = [done](Result<void> r) {
      if (done) done(std::move(r));
    };
    if (!membership) return finish(Fail(Errc::kInvalidArgument, "commit needs a group: call Subscribe first"));
    if (offsets.empty()) return finish(Ok());
    auto id = membership->CurrentIdentity();
    if (!id) return finish(tl::unexpected(id.error()));
    cluster->Send(id->coordinator,
                  client::OffsetCommitRequest(group.group_id, id->member_id, id->member_epoch, offsets),
                  [self = shared_from_this(), finish](Result<client::Frame> frame) {
                    fb::ErrorCode code;
                    auto r = client::ParseOffsetCommit(frame, &code);
                    if (code == fb::ErrorCode::NotCoordinator || code == fb::ErrorCode::CoordinatorLoading ||
                        code == fb::ErrorCode::CoordinatorNotAvailable || (!r && code == fb::ErrorCode::None)) {
                      self->membership->CoordinatorMoved();
                    }
                    finish(std::move(r));
                  });
  }

  // Where a newly assigned partition starts: its committed offset, else
  // auto_offset_reset.
  Result<std::map<TopicPartition, Offset>> StartPositions(const std::vector<TopicPartition>& tps) {
    TELEMQ_ASSIGN_OR_RETURN(auto committed,
                            client::CallOffsetFetch(*cluster, group.group_id, tps, opts.client.request_timeout));
    std::map<TopicPartition, Offset> out;
    for (const auto& tp : tps) {
      auto c = committed.find(tp);
      if (c != committed.end() && c->second.offset) {
        out[tp] = *c->second.offset;
        continue;
      }
      const int64_t spec = group.auto_offset_reset == AutoOffsetReset::kEarliest ? -2 : -1;
      TELEMQ_ASSIGN_OR_RETURN(auto o, cluster->ListOffset(tp.topic, tp.partition, spec));
      out[tp] = Offset(o);
    }
    return out;
  }

  void Drop(const std::vector<TopicPartition>& tps) {
    std::lock_guard lock(mu);
    // Erasing the state makes Drain skip buffered answers of these
    // partitions (their lookup fails), and OnFetch ignore late ones.
    for (const auto& tp : tps) parts.erase(tp);
  }

  // Applies pending partition changes, runs the listener, auto-commits.
  // Serialised: Close() on one thread may race Poll() on another, and the
  // listener must never run on two threads at once. Recursive, because a
  // listener callback may itself call Close().
  Result<void> ServiceGroup() {
    std::lock_guard service(group_service_mu);
    if (auto fatal = membership->FatalError()) return tl::unexpected(*fatal);
    const bool auto_commit = group.auto_commit == AutoCommit::kEnabled;
    while (auto h = membership->TakeHandoff()) {
      if (h->kind == client::Handoff::Kind::kLost) {
        Drop(h->revoked);
        if (listener) listener->OnPartitionsLost(h->revoked);
        membership->Complete(*h, {});
        continue;
      }
      if (!h->revoked.empty()) {
        if (auto_commit) {
          // Best effort: the coordinator waits for the release only up to the
          // rebalance timeout, so a failing commit must not hold it.
          IgnoreError(CommitSync(Positions(&h->revoked)), "revocation proceeds without the commit");
        }
        if (listener) listener->OnPartitionsRevoked(h->revoked);
        Drop(h->revoked);
      }
      std::vector<TopicPartition> started;
      if (!h->assigned.empty()) {
        auto starts = StartPositions(h->assigned);
        if (!starts) {
          // Offered again on the next Poll.
          pending_assign_error = starts.error();
          membership->Complete(*h, {});
          break;
        }
        pending_assign_error.reset();
        {
          std::lock_guard lock(mu);
          for (const auto& [tp, offset] : *starts) {
            PartitionState st;
            st.topic = std::make_shared<const std::string>(tp.topic);
            st.position = st.fetch_offset = offset;
            st.epoch = ++last_epoch;
            parts[tp] = st;
          }
        }
        started = h->assigned;
        IgnoreError(cluster->WaitForTopic(h->assigned.front().topic, opts.client.request_timeout),
                    "fetches retry until metadata arrives");
        if (listener) listener->OnPartitionsAssigned(started);
        PostFetch();
      }
      membership->Complete(*h, started);
    }
    if (auto_commit && Clock::now() >= next_auto_commit) {
      next_auto_commit = Clock::now() + group.auto_commit_interval;
      CommitAsync(Positions(nullptr), nullptr);
    }
    return Ok();
  }

  void LeaveGroup() {
    if (!membership) return;
    std::lock_guard service(group_service_mu);
    // Finish what is in progress, then give everything back.
    IgnoreError(ServiceGroup(), "closing anyway");
    auto owned = membership->Owned();
    if (!owned.empty()) {
      if (group.auto_commit == AutoCommit::kEnabled) {
        IgnoreError(CommitSync(Positions(&owned)), "closing anyway");
      }
      if (listener) listener->OnPartitionsRevoked(owned);
      Drop(owned);
      client::Handoff all;
      all.revoked = owned;
      membership->Complete(all, {});
    }
    membership->Leave(opts.client.request_timeout);
  }

  Result<void> Reset(const TopicPartition& tp, Offset offset) {
    std::lock_guard lock(mu);
    auto st = parts.find(tp);
    if (st == parts.end())
      return Fail(Errc::kInvalidArgument, tp.topic + "/" + std::to_string(tp.partition) + " is not assigned");
    st->second.position = offset;
    st->second.fetch_offset = offset;
    st->second.in_flight = false;
    st->second.retry_at = {};
    st->second.epoch = ++last_epoch;
    return Ok();
  }
};

Consumer::Consumer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() { Close(); }

Result<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->opts = options;
  TELEMQ_ASSIGN_OR_RETURN(impl->cluster, client::Cluster::Create(options.client));
  impl->Start();
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Result<void> Consumer::Assign(const std::vector<TopicPartition>& partitions) {
  if (impl_->membership)
    return Fail(Errc::kInvalidArgument, "the consumer is subscribed to a group; Assign is for manual mode");
  std::map<TopicPartition, PartitionState> next;
  for (const auto& tp : partitions) {
    TELEMQ_ASSIGN_OR_RETURN(auto info, impl_->cluster->WaitForTopic(tp.topic, impl_->opts.client.request_timeout));
    if (tp.partition < 0 || tp.partition >= static_cast<int32_t>(info.partitions.size())) {
      return Fail(Errc::kNotFound, "topic '" + tp.topic + "' has no partition " + std::to_string(tp.partition));
    }
  }
  std::vector<TopicPartition> fresh;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& tp : partitions) {
      auto old = impl_->parts.find(tp);
      if (old != impl_->parts.end()) {
        next[tp] = old->second;
      } else {
        fresh.push_back(tp);
      }
    }
  }
  for (const auto& tp : fresh) {
    TELEMQ_ASSIGN_OR_RETURN(auto earliest, impl_->cluster->ListOffset(tp.topic, tp.partition, -2));
    PartitionState st;
    st.topic = std::make_shared<const std::string>(tp.topic);
    st.position = st.fetch_offset = Offset(earliest);
    next[tp] = st;
  }
  {
    std::lock_guard lock(impl_->mu);
    // A fresh epoch for every newly assigned partition: answers to fetches
    // of an earlier assignment of the same partition must not match.
    for (const auto& tp : fresh) next[tp].epoch = ++impl_->last_epoch;
    impl_->parts = std::move(next);
  }
  impl_->PostFetch();
  return Ok();
}

std::vector<TopicPartition> Consumer::assignment() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TopicPartition> out;
  for (auto& [tp, _] : impl_->parts) out.push_back(tp);
  return out;
}

Result<void> Consumer::Seek(const TopicPartition& tp, Offset offset) {
  if (offset.value() < 0) return Fail(Errc::kInvalidArgument, "offset must be >= 0");
  TELEMQ_TRY(impl_->Reset(tp, offset));
  impl_->PostFetch();
  return Ok();
}

Result<void> Consumer::SeekToBeginning(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    TELEMQ_ASSIGN_OR_RETURN(auto o, impl_->cluster->ListOffset(tp.topic, tp.partition, -2));
    TELEMQ_TRY(impl_->Reset(tp, Offset(o)));
  }
  impl_->PostFetch();
  return Ok();
}

Result<void> Consumer::SeekToEnd(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    TELEMQ_ASSIGN_OR_RETURN(auto o, impl_->cluster->ListOffset(tp.topic, tp.partition, -1));
    TELEMQ_TRY(impl_->Reset(tp, Offset(o)));
  }
  impl_->PostFetch();
  return Ok();
}

Result<void> Consumer::SeekToTimestamp(const std::vector<TopicPartition>& partitions, int64_t timestamp_ms) {
  if (timestamp_ms < 0) return Fail(Errc::kInvalidArgument, "timestamp must be >= 0");
  for (const auto& tp : partitions) {
    TELEMQ_ASSIGN_OR_RETURN(auto o, impl_->cluster->ListOffset(tp.topic, tp.partition, timestamp_ms));
    if (o < 0) {
      TELEMQ_ASSIGN_OR_RETURN(o, impl_->cluster->ListOffset(tp.topic, tp.partition, -1));
    }
    TELEMQ_TRY(impl_->Reset(tp, Offset(o)));
  }
  impl_->PostFetch();
  return Ok();
}

Result<Offset> Consumer::Position(const TopicPartition& tp) const {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->parts.find(tp);
  if (st == impl_->parts.end()) return Fail(Errc::kInvalidArgument, "partition is not assigned");
  return st->second.position;
}

Result<void> Consumer::Subscribe(std::vector<std::string> topics, GroupOptions options,
                                 std::shared_ptr<RebalanceListener> listener) {
  if (options.group_id.empty()) return Fail(Errc::kInvalidArgument, "group id is empty");
  if (topics.empty()) return Fail(Errc::kInvalidArgument, "no topics to subscribe to");
  if (impl_->membership) return Fail(Errc::kInvalidArgument, "already subscribed");
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->parts.empty()) return Fail(Errc::kInvalidArgument, "partitions were assigned by hand");
  }
  impl_->group = options;
  impl_->listener = std::move(listener);
  impl_->next_auto_commit = Clock::now() + options.auto_commit_interval;
  client::MembershipConfig config;
  config.group_id = options.group_id;
  config.topics = std::move(topics);
  config.instance_id = options.instance_id;
  config.metadata = options.metadata;
  config.timeouts = options.timeouts;
  config.close_mode = options.close_mode;
  config.retry_backoff = impl_->opts.client.retry_backoff;
  std::weak_ptr<Impl> weak = impl_;
  impl_->membership = client::Membership::Start(impl_->cluster, std::move(config), [weak]() {
    if (auto impl = weak.lock()) {
      {
        std::lock_guard lock(impl->mu);
        impl->group_wake = true;
      }
      impl->cv.notify_all();
    }
  });
  return Ok();
}

Result<void> Consumer::CommitSync(std::optional<std::map<TopicPartition, Offset>> offsets) {
  return impl_->CommitSync(offsets ? *offsets : impl_->Positions(nullptr));
}

void Consumer::CommitAsync(std::function<void(Result<void>)> done,
                           std::optional<std::map<TopicPartition, Offset>> offsets) {
  impl_->CommitAsync(offsets ? *offsets : impl_->Positions(nullptr), std::move(done));
}

Result<std::optional<Offset>> Consumer::Committed(const TopicPartition& tp) {
  if (!impl_->membership) return Fail(Errc::kInvalidArgument, "Committed needs a group: call Subscribe first");
  TELEMQ_ASSIGN_OR_RETURN(auto all, client::CallOffsetFetch(*impl_->cluster, impl_->group.group_id, {tp},
                                                            impl_->opts.client.request_timeout));
  auto it = all.find(tp);
  if (it == all.end()) return std::optional<Offset>();
  return it->second.offset;
}

Result<ConsumerRecords> Consumer::Poll(std::chrono::milliseconds timeout) { return impl_->Poll(timeout); }

void Consumer::Close() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
  }
  impl_->LeaveGroup();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
    impl_->closed = true;
  }
  impl_->cv.notify_all();
  asio::post(impl_->cluster->io(), [impl = impl_]() { impl->timer->cancel(); });
  impl_->cluster->Shutdown();
}

}  // namespace telemq
