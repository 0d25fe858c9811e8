#include "broker/replication/replica.h"

#include <algorithm>

#include "broker/replication/replication_format.h"
#include "telemq/common/check.h"
#include "telemq/common/log.h"

namespace telemq::replication {

namespace {

// A batch's producer sequence range as the producer table sees it.
ProducerStateTable::Incoming IncomingOf(const wire::BatchHeader& h) {
  return {h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()};
}

std::string LeaderHint(NodeId leader) {
  return leader == raft::kNoNode ? "no leader is known yet"
                                 : "the leader is raft node " + std::to_string(leader.value());
}

}  // namespace

Result<std::shared_ptr<Replica>> Replica::Open(ReplicaOptions options, std::shared_ptr<storage::PartitionLog> log,
                                               storage::FileSystem& fs, std::unique_ptr<Executor> executor,
                                               Syncer& syncer, Transport& transport, const Clock& clock) {
  if (options.voters.empty()) options.voters = {options.self};
  const auto member = [&](const std::vector<NodeId>& set) {
    return std::find(set.begin(), set.end(), options.self) != set.end();
  };
  if (!member(options.voters) && !member(options.learners)) {
    return Fail(Errc::kInvalidArgument, options.key.ToString() + ": node " + std::to_string(options.self.value()) +
                                            " is not one of the partition's replicas");
  }
  auto raft_log = std::make_unique<RaftLog>(std::move(log), options.raft_log);
  std::shared_ptr<Replica> replica(
      new Replica(std::move(options), std::move(raft_log), fs, std::move(executor), syncer, transport, clock));
  TELEMQ_TRY(replica->Start());
  return replica;
}

Replica::Replica(ReplicaOptions options, std::unique_ptr<RaftLog> raft_log, storage::FileSystem& fs,
                 std::unique_ptr<Executor> executor, Syncer& syncer, Transport& transport, const Clock& clock)
    : options_(std::move(options)),
      raft_log_(std::move(raft_log)),
      fs_(fs),
      executor_(std::move(executor)),
      syncer_(syncer),
      transport_(transport),
      clock_(clock),
      hard_state_store_(fs, raft_log_->partition_log().dir()),
      abstain_store_(fs, raft_log_->partition_log().dir(), format::kAbstainFileName),
      random_(options_.seed) {}

Replica::~Replica() = default;

Result<void> Replica::Start() {
  TELEMQ_ASSIGN_OR_RETURN(const bool saved, fs_.Exists(hard_state_store_.path()));
  TELEMQ_ASSIGN_OR_RETURN(hard_state_, hard_state_store_.Load());
  const Term last_log_term = raft_log_->LastPosition().term;
  if (!saved && last_log_term > hard_state_.term && options_.voters.size() == 1 &&
      options_.voters.front() == options_.self) {
    // A log written before the Raft state existed (a single-broker data
    // directory from an older release). With no other voter nobody can have
    // been promised a vote, so adopting the log's term is safe.
    hard_state_ = raft::HardState{last_log_term, raft::kNoNode};
    TELEMQ_TRY(hard_state_store_.Save(hard_state_));
  }
  TELEMQ_TRY(HardStateStore::CheckAgainstLog(hard_state_, last_log_term));
  written_end_ = raft_log_->NextOffset();
  durable_end_ = log().durable_offset();
  PublishLogBounds(true);
  TELEMQ_TRY(RebuildProducers());
  if (options_.fsync == storage::FsyncPolicy::kInterval && options_.voters.size() > 1) {
    // docs/replication.md §2: after a power loss, fsync: interval may have
    // lost entries this replica acknowledged. Until it holds an entry of a
    // newer leader it neither votes nor campaigns, so it cannot help elect a
    // leader that lacks them. (A process crash keeps the page cache: no new
    // abstention, or two crashed replicas could never elect a leader again.)
    // The abstention is saved first: a process crash before the replica
    // recovers must not end it (the broker then no longer sees a reboot).
    TELEMQ_ASSIGN_OR_RETURN(const raft::HardState marker, abstain_store_.Load());
    abstain_through_ = marker.term;
    if (options_.unsynced_writes_may_be_lost && log().recovered_after_crash() && hard_state_.term > abstain_through_) {
      abstain_through_ = hard_state_.term;
      TELEMQ_TRY(abstain_store_.Save(raft::HardState{abstain_through_, raft::kNoNode}));
    }
    TELEMQ_TRY(ClearAbstentionOnceRecovered());
  }
  return StartNode();
}

Result<void> Replica::ClearAbstentionOnceRecovered() {
  // An entry of a term above abstain_through_ came from a leader elected
  // without this replica, which held every entry committed before its term;
  // the log up to that entry is that leader's, so nothing acknowledged is
  // missing any more (raft::Node::abstaining() turns false on the same
  // condition). Checked against what is written, not the node's unstable
  // tail: a write that failed must not end the abstention.
  if (abstain_through_ == Term(0) || raft_log_->LastPosition().term <= abstain_through_) return Ok();
  TELEMQ_TRY(abstain_store_.Save(raft::HardState{}));
  abstain_through_ = Term(0);
  return Ok();
}

Result<void> Replica::StartNode() {
  raft::Config config;
  config.id = options_.self;
  config.voters = options_.voters;
  config.learners = options_.learners;
  config.election_ticks = options_.election_ticks;
  config.heartbeat_ticks = options_.heartbeat_ticks;
  config.max_append_bytes = options_.max_append_bytes;
  config.max_inflight_appends = options_.max_inflight_appends;
  if (options_.voters.size() == 1 && options_.voters.front() == options_.self) {
    // Alone, everything durable in the log is committed (a majority of one
    // holds it): nothing needs re-delivering.
    config.applied = raft_log_->LastPosition().offset;
  }
  // fsync: interval after a power loss (Start, ClearAbstentionOnceRecovered).
  config.abstain_through_term = abstain_through_;
  // The log is the partition's state: nothing to read back and apply.
  config.deliver_committed_entries = false;
  config.random = [this] { return random_(); };
  // Requests waiting on the node being replaced can no longer be answered by
  // it (FailWrite already failed them; this keeps it so).
  FailPending(Errc::kNotLeader, "raft node " + std::to_string(options_.self.value()) + " restarted its replica of " +
                                    key().ToString() + "; " + LeaderHint(raft::kNoNode));
  ++generation_;
  ready_in_flight_ = false;
  node_ = std::make_unique<raft::Node>(std::move(config), raft_log_.get(), hard_state_);
  elections_reported_ = 0;
  commit_clock_.clear();
  leader_term_ = Term(0);
  serving_.store(false, std::memory_order_release);
  caught_up_.store(false, std::memory_order_release);
  if (options_.voters.size() == 1) node_->Campaign();
  // The preferred leader of a new partition campaigns on its second tick:
  // by then the other replicas exist (they open on the same metadata),
  // so its votes are not dropped and it, not a random replica, leads.
  if (options_.campaign_at_start && generation_ == 1 && options_.voters.size() > 1) campaign_in_ticks_ = 2;
  ObserveRole();
  Drive();
  return Ok();
}

Result<void> Replica::RebuildProducers() {
  producers_.Clear();
  proposed_.clear();
  return log().ScanHeaders(log().log_start_offset(), [&](const wire::BatchHeader& h) {
    if (h.producer_id.value() >= 0 && !h.is_control()) producers_.OnAppended(IncomingOf(h), h.base_offset);
  });
}

void Replica::Produce(std::vector<ProduceBatch> batches, std::shared_ptr<const void> frame, Acks acks,
                      ProduceDone done) {
  ProduceResult result;
  result.log_start_offset = log().log_start_offset();
  if (stopped_) {
    result.error = Errc::kShuttingDown;
    result.message = key().ToString() + " is shutting down";
    return done(std::move(result));
  }
  if (restart_node_) {
    // A write failed and the node is replaced from what is on disk at the
    // next tick. The old node still says it leads, but nothing proposed to it
    // can be written, and a request left waiting would be answered by
    // whatever the new node later commits at the same offsets.
    result.error = Errc::kNotLeader;
    result.message = "raft node " + std::to_string(options_.self.value()) + " is restarting its replica of " +
                     key().ToString() + " after a write error; " + LeaderHint(raft::kNoNode);
    return done(std::move(result));
  }
  ObserveRole();
  if (restart_node_ || leader_term_ == Term(0) || node_->transfer_target() != raft::kNoNode) {
    result.error = Errc::kNotLeader;
    result.leader_hint = node_->leader() == options_.self ? raft::kNoNode : node_->leader();
    result.message = "raft node " + std::to_string(options_.self.value()) + " does not lead " + key().ToString() +
                     "; " + LeaderHint(result.leader_hint);
    return done(std::move(result));
  }
  Offset wait_for(-1);
  for (auto& batch : batches) {
    const wire::BatchHeader& h = batch.header;
    const ProducerStateTable::Incoming in = IncomingOf(h);
    auto check = producers_.Check(in);
    if (!check) {
      result.error = check.error().code();
      result.message = check.error().message();
      break;
    }
    if (check->has_value()) {
      // A retry of a batch already in the log: answered once that batch is
      // committed, with its offset.
      const Offset base = **check;
      if (result.base_offset.value() < 0) result.base_offset = base;
      wait_for = std::max(wait_for, base + h.last_offset_delta);
      continue;
    }
    const Offset base = node_->LastPosition().offset + 1;
    const Term term = node_->term();
    wire::StampBaseOffset(batch.bytes, base);
    wire::StampLeaderTerm(batch.bytes, term);
    auto entry = node_->Propose(raft::Payload(frame, batch.bytes), h.record_count);
    if (!entry) {
      result.error = Errc::kNotLeader;
      result.message = entry.error().message();
      break;
    }
    TELEMQ_CHECK(entry->base_offset == base && entry->term == term,
                 "the node assigned another position than the one stamped");
    producers_.OnAppended(in, base);
    proposed_.insert({term.value(), base.value()});
    if (result.base_offset.value() < 0) result.base_offset = base;
    wait_for = entry->last_offset();
  }
  if (wait_for.value() < 0) return done(std::move(result));
  if (options_.observer != nullptr && (commit_clock_.empty() || commit_clock_.back().first < wait_for)) {
    commit_clock_.emplace_back(wait_for, options_.observer->NowNs());
  }
  pending_.push_back(PendingProduce{wait_for, acks, std::move(result), std::move(done)});
  Drive();
  AnswerPending();
}

void Replica::Step(const raft::Message& message) {
  if (stopped_ || restart_node_) return;
  if (auto r = node_->Step(message); !r) {
    log::Warn("dropped a Raft message", {{"topic", key().topic},
                                         {"partition", key().partition},
                                         {"raft_node", message.from},
                                         {"error", r.error().ToString()}});
    return;
  }
  ObserveRole();
  if (node_->role() == raft::Role::kLeader) NoteAnswer(message.from);
  Drive();
}

void Replica::NoteAnswer(NodeId from) {
  // An answer is the evidence that the follower is there: a silent one
  // holding everything committed on an idle partition is not in sync.
  const int64_t now = clock_.NowMs();
  if (caught_up_ms_.size() != options_.voters.size()) caught_up_ms_.assign(options_.voters.size(), now);
  for (size_t i = 0; i < options_.voters.size(); ++i) {
    if (options_.voters[i] == from && node_->MatchOf(from) >= node_->commit()) caught_up_ms_[i] = now;
  }
}

void Replica::Tick() {
  if (stopped_) return;
  if (restart_node_) {
    restart_node_ = false;
    if (auto r = RebuildProducers(); !r) {
      log::Error("rebuilding the producer table failed",
                 {{"topic", key().topic}, {"partition", key().partition}, {"error", r.error().ToString()}});
      restart_node_ = true;
      return;
    }
    written_end_ = raft_log_->NextOffset();
    durable_end_ = std::min(written_end_, log().durable_offset());
    PublishLogBounds(true);
    IgnoreError(StartNode(), "StartNode cannot fail once the log is open");
    return;
  }
  node_->Tick();
  if (campaign_in_ticks_ > 0 && --campaign_in_ticks_ == 0 && node_->leader() == raft::kNoNode) node_->Campaign();
  ObserveRole();
  Drive();
}

NodeId Replica::TransferTarget(const std::function<bool(NodeId)>& eligible) const {
  if (stopped_ || node_->role() != raft::Role::kLeader) return raft::kNoNode;
  const Offset last = node_->LastPosition().offset;
  NodeId best = raft::kNoNode;
  Offset best_match{-1};
  for (NodeId v : options_.voters) {
    if (v == options_.self || !eligible(v)) continue;
    const Offset match = node_->MatchOf(v);
    if (match == last) return v;
    if (match > best_match) {
      best = v;
      best_match = match;
    }
  }
  return best;
}

std::vector<NodeId> Replica::in_sync() const {
  const uint64_t mask = in_sync_mask_.load(std::memory_order_acquire);
  std::vector<NodeId> out;
  for (size_t i = 0; i < options_.voters.size() && i < 64; ++i) {
    if (mask & (uint64_t{1} << i)) out.push_back(options_.voters[i]);
  }
  return out;
}

Result<void> Replica::TransferLeadership(NodeId target) {
  if (stopped_) return Fail(Errc::kShuttingDown, key().ToString() + " is shutting down");
  TELEMQ_TRY(node_->TransferLeadership(target));
  Drive();
  return Ok();
}

void Replica::AddWaiter(std::weak_ptr<Waiter> waiter) {
  if (stopped_) {
    if (auto w = waiter.lock()) w->Wake();
    return;
  }
  std::erase_if(waiters_, [](const std::weak_ptr<Waiter>& w) { return w.expired(); });
  // A long poll woken without enough data parks again: keep one entry.
  for (const auto& w : waiters_) {
    if (!w.owner_before(waiter) && !waiter.owner_before(w)) return;
  }
  waiters_.push_back(std::move(waiter));
}

void Replica::WhenServing(std::function<void()> done) {
  if (serving()) return done();
  serving_callbacks_.push_back(std::move(done));
}

Result<int> Replica::ApplyRetention() {
  if (stopped_) return 0;
  // Only what is committed may go (docs/replication.md): a follower's
  // uncommitted suffix may still be replaced, and a leader's entries may
  // still be needed by a follower that is catching up... which retention
  // then serves by a restart from the leader's log start.
  const Offset retain_from = std::min(node_->commit(), node_->applied()) + 1;
  auto removed = raft_log_->ApplyRetention(clock_.NowMs(), retain_from);
  if (removed && *removed > 0) PublishLogBounds(true);
  return removed;
}

void Replica::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  serving_.store(false, std::memory_order_release);
  caught_up_.store(false, std::memory_order_release);
  FailPending(Errc::kShuttingDown,
              key().ToString() + " is shutting down on broker " + std::to_string(options_.self.value()));
  serving_callbacks_.clear();
  WakeWaiters();
}

void Replica::Drive() {
  while (!stopped_ && !restart_node_ && !ready_in_flight_ && node_->HasReady()) {
    auto ready = std::make_shared<raft::Ready>(node_->GetReady());
    ready_in_flight_ = true;
    // A leader's appends and heartbeats go out before its own write
    // (node.h): they promise nothing about this replica's disk.
    for (const auto& m : ready->early_messages) transport_.Send(key(), options_.topic_id, m);
    if (ready->hard_state) {
      if (auto r = hard_state_store_.Save(*ready->hard_state); !r) return FailWrite(r.error());
      hard_state_ = *ready->hard_state;
    }
    const bool writes = ready->log_reset.has_value() || !ready->entries.empty();
    if (writes) {
      const bool truncates = ready->log_reset.has_value() ||
                             (!ready->entries.empty() && ready->entries.front().base_offset < written_end_);
      if (auto r = raft_log_->Persist(ready->log_reset, ready->entries, clock_.NowMs()); !r) {
        return FailWrite(r.error());
      }
      written_end_ = raft_log_->NextOffset();
      durable_end_ = std::min(durable_end_, written_end_);
      PublishLogBounds(ready->log_reset.has_value());
      if (auto r = ClearAbstentionOnceRecovered(); !r) return FailWrite(r.error());
      if (truncates) {
        // The suffix this replica held was replaced: the producer table is
        // rebuilt from what the log now holds.
        if (auto r = RebuildProducers(); !r) return FailWrite(r.error());
      } else {
        for (const auto& e : ready->entries) {
          if (proposed_.erase({e.term.value(), e.base_offset.value()}) > 0) continue;  // recorded at Propose
          if (e.type != raft::EntryType::kNormal) continue;
          auto h = wire::DecodeHeader(e.payload.bytes());
          if (h && h->producer_id.value() >= 0) producers_.OnAppended(IncomingOf(*h), h->base_offset);
        }
      }
    }
    if (writes && options_.fsync == storage::FsyncPolicy::kAlways) {
      // The sync runs off the executor (the broker's Flusher groups the
      // fdatasyncs of many partitions); the Ready finishes when it is done.
      // Meanwhile the node keeps taking messages and proposals (node.h).
      const uint64_t generation = generation_;
      syncer_.RequestSync(raft_log_->shared_partition_log(), written_end_,
                          [weak = weak_from_this(), ready, generation](Result<Offset> synced) {
                            auto self = weak.lock();
                            if (!self) return;
                            self->executor_->Post([self, ready, generation, synced = std::move(synced)]() {
                              if (self->generation_ != generation || self->stopped_) return;
                              if (!synced) return self->FailWrite(synced.error());
                              self->FinishReady(std::move(*ready), *synced);
                              self->Drive();
                            });
                          });
      return;
    }
    FinishReady(std::move(*ready), written_end_);
  }
}

void Replica::FinishReady(raft::Ready ready, Offset durable_end) {
  durable_end_ = std::max(durable_end_, std::min(durable_end, written_end_));
  for (const auto& m : ready.messages) transport_.Send(key(), options_.topic_id, m);
  // A data partition has no state machine beyond its log: committing is
  // publishing the high watermark (Publish), there is nothing to apply.
  node_->Advance(ready);
  ready_in_flight_ = false;
  ObserveRole();
  Publish();
  AnswerPending();
}

void Replica::FailWrite(const Error& error) {
  log::Error(
      "writing the Raft log or state failed; waiting requests fail, and the replica restarts from what is on disk "
      "at the next tick",
      {{"topic", key().topic}, {"partition", key().partition}, {"error", error.ToString()}});
  // Whether a waiting request may be in a log after all decides its answer.
  // A batch that reached another replica (a leader's appends leave before
  // its own write, docs/replication.md §2) or this log before the failure
  // can still be committed: "not written" (no_space) would let the producer
  // reuse its sequence, and the next leader would then acknowledge the
  // producer's next batch as a duplicate of this one without writing it
  // (found by the chaos suite, docs/chaos.md). Such requests fail as
  // NotLeader, which the producer retries unchanged (deduplicated if it was
  // written). Only a lone replica's requests beyond what its log holds get
  // the error itself.
  const bool replicated = options_.voters.size() + options_.learners.size() > 1;
  const Offset in_log = raft_log_->NextOffset();
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& p : pending) {
    const bool maybe_written = replicated || p.result.base_offset < in_log;
    p.result.error = maybe_written ? Errc::kNotLeader : error.code();
    p.result.message = key().ToString() + ": " + error.message() +
                       (maybe_written ? "; the batch may be written all the same: retry it unchanged" : "");
    p.result.base_offset = Offset(-1);
    p.result.leader_hint = raft::kNoNode;
    p.done(std::move(p.result));
  }
  ready_in_flight_ = false;
  restart_node_ = true;
  leader_term_ = Term(0);
  serving_.store(false, std::memory_order_release);
  caught_up_.store(false, std::memory_order_release);
  ++generation_;
}

void Replica::ObserveRole() {
  // After a failed write the node's view runs ahead of the disk: it is not
  // trusted (not even as leader) until StartNode replaces it.
  if (restart_node_) return;
  const raft::Role role = node_->role();
  const Term term = node_->term();
  leader_.store(node_->leader().value(), std::memory_order_release);
  term_.store(term.value(), std::memory_order_release);
  if (options_.observer != nullptr) {
    if (const uint64_t n = node_->elections_started(); n > elections_reported_) {
      options_.observer->ElectionsStarted(n - elections_reported_);
      elections_reported_ = n;
    }
    if (node_->leader() != raft::kNoNode && term > known_leader_term_) {
      known_leader_term_ = term;
      options_.observer->LeaderChanged();
    }
  }
  if (leader_term_ != Term(0) && (role != raft::Role::kLeader || term != leader_term_)) {
    // Deposed: what this replica proposed may still commit under the new
    // leader, or be truncated; either way it can no longer tell, so the
    // producers retry (idempotence makes the retry safe) against the leader.
    leader_term_ = Term(0);
    noop_offset_ = Offset(-1);
    commit_clock_.clear();  // the new leader may commit them, or not: unmeasured
    serving_.store(false, std::memory_order_release);
    const NodeId hint = node_->leader() == options_.self ? raft::kNoNode : node_->leader();
    FailPending(Errc::kNotLeader,
                "raft node " + std::to_string(options_.self.value()) + " stopped leading " + key().ToString() +
                    " (term " + std::to_string(term.value()) + "); " + LeaderHint(hint),
                hint);
    if (!proposed_.empty()) {
      // Some proposals were never written (they sat in the node's unstable
      // tail) and may now be replaced by the new leader's entries without a
      // truncation of the log: the table must not keep claiming them. It is
      // rebuilt from what is written; entries written later are recorded as
      // they are persisted.
      if (auto r = RebuildProducers(); !r) {
        log::Error("rebuilding the producer table failed",
                   {{"topic", key().topic}, {"partition", key().partition}, {"error", r.error().ToString()}});
        restart_node_ = true;
      }
    }
  }
  if (role == raft::Role::kLeader && leader_term_ != term) {
    // Raft §8: a new leader's first entry is its no-op; its high watermark
    // is served once that commits.
    leader_term_ = term;
    noop_offset_ = node_->LastPosition().offset;
    log::Info("replica leads",
              {{"topic", key().topic}, {"partition", key().partition}, {"raft_node", options_.self}, {"term", term}});
  }
}

void Replica::Publish() {
  uint64_t mask = 0;
  if (node_->role() == raft::Role::kLeader) {
    const int64_t now = clock_.NowMs();
    if (caught_up_ms_.size() != options_.voters.size()) caught_up_ms_.assign(options_.voters.size(), now);
    for (size_t i = 0; i < options_.voters.size() && i < 64; ++i) {
      const NodeId v = options_.voters[i];
      if (v == options_.self) caught_up_ms_[i] = now;  // followers: NoteAnswer
      if (now - caught_up_ms_[i] <= options_.in_sync_lag_ms) mask |= uint64_t{1} << i;
    }
  } else {
    caught_up_ms_.clear();  // a new leadership judges afresh (from its start)
  }
  in_sync_mask_.store(mask, std::memory_order_release);
  // Committed, and written here (a leader can learn of a commit by its
  // followers before its own write is synced; what it has written it can
  // already serve, since a majority holds it durably).
  const Offset committed_end = std::min(node_->commit() + 1, written_end_);
  if (!commit_clock_.empty() && commit_clock_.front().first <= node_->commit()) {
    const int64_t now_ns = options_.observer->NowNs();
    while (!commit_clock_.empty() && commit_clock_.front().first <= node_->commit()) {
      options_.observer->Committed(now_ns - commit_clock_.front().second);
      commit_clock_.pop_front();
    }
  }
  int64_t current = hwm_.load(std::memory_order_relaxed);
  bool moved = false;
  if (committed_end.value() > current) {
    hwm_.store(committed_end.value(), std::memory_order_release);
    moved = true;
  }
  if (leader_term_ != Term(0) && !serving() && node_->commit() >= noop_offset_) {
    serving_.store(true, std::memory_order_release);
    auto callbacks = std::move(serving_callbacks_);
    serving_callbacks_.clear();
    for (auto& cb : callbacks) cb();
    moved = true;
  }
  const bool caught_up = node_->role() == raft::Role::kLeader
                             ? serving()
                             : node_->leader() != raft::kNoNode && node_->leader_commit() >= Offset(0) &&
                                   node_->commit() >= node_->leader_commit() && !node_->abstaining();
  caught_up_.store(caught_up, std::memory_order_release);
  if (moved) WakeWaiters();
}

void Replica::PublishLogBounds(bool start_too) {
  if (start_too) log_start_.store(log().log_start_offset().value(), std::memory_order_release);
  log_end_.store(written_end_.value(), std::memory_order_release);
}

void Replica::AnswerPending() {
  const Offset commit = node_->commit();
  const Offset written = options_.fsync == storage::FsyncPolicy::kAlways ? durable_end_ : written_end_;
  // Requests are answered in proposal order per partition: a later one never
  // overtakes an earlier one (a producer with several requests in flight
  // sees its acknowledgements in order).
  while (!pending_.empty()) {
    auto& p = pending_.front();
    const bool ready = p.acks == Acks::kAll ? (p.last_offset <= commit && serving()) : (p.last_offset < written);
    if (!ready) break;
    PendingProduce done = std::move(p);
    pending_.pop_front();
    done.done(std::move(done.result));
  }
}

void Replica::FailPending(Errc code, const std::string& message, NodeId leader_hint) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& p : pending) {
    p.result.error = code;
    p.result.message = message;
    p.result.base_offset = Offset(-1);
    p.result.leader_hint = leader_hint;
    p.done(std::move(p.result));
  }
}

void Replica::WakeWaiters() {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    if (auto live = w.lock()) live->Wake();
  }
}

}  // namespace telemq::replication
