#include "collector/collector.h"

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "collector/restore.h"
#include "telemq/admin.h"
#include "telemq/common/log.h"
#include "telemq/consumer.h"

namespace telemq::collector {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One owned partition. `state` and `serve_from` are read by other threads
// (handlers, metrics); the rest belongs to the consumer thread.
struct Slot {
  explicit Slot(int32_t p) : partition(p) {}
  const int32_t partition;
  std::shared_ptr<PartitionStore> store;  // replaced only under Impl::mu
  std::atomic<PartitionState> state{PartitionState::kRestoring};
  std::atomic<int64_t> serve_from{0};
  bool ready = false;  // positioned at the store's applied offset: records may be applied
  Clock::time_point retry_at{};
  Clock::time_point assigned_at{};
  Offset committed{-1};
  Offset flushed{-1};
};

// After a failure to prepare a partition (broker unreachable, store locked).
constexpr milliseconds kRetryBackoff{1'000};
// Admin calls run on the consumer thread: keep them short.
constexpr milliseconds kAdminTimeout{5'000};
// A topic id read this recently is not read again before a partition is
// opened or positioned (one read serves a whole assignment).
constexpr milliseconds kTopicIdMaxAge{1'000};
// healthy() is false once Poll has failed for this long without a success.
constexpr milliseconds kUnhealthyAfter{30'000};

}  // namespace

struct Collector::Impl : RebalanceListener {
  CollectorOptions options;
  metrics::Registry& registry;
  std::shared_ptr<StoreResources> resources;
  std::unique_ptr<Consumer> consumer;
  std::unique_ptr<Admin> admin;
  std::string metadata;
  bool shutting_down = false;

  mutable std::mutex mu;
  std::map<int32_t, std::shared_ptr<Slot>> slots;  // guarded by mu
  std::string member_id;                           // guarded by mu

  std::atomic<int64_t> last_poll_ok_ms{0};
  // Set by a failed asynchronous commit (I/O thread): commit everything again.
  std::atomic<bool> commit_failed{false};
  // The last failure to read the log's offsets: while the broker does not
  // answer, other partitions wait for the retry instead of each timing out
  // inside the rebalance callback.
  Clock::time_point admin_failed_at{};
  // The topic's id from the metadata (consumer thread): nullopt until first
  // read; 0 when the brokers give none (no check then). Topic ids grow with
  // every creation (the controller's command offset), so a smaller one is a
  // lagging broker's answer and is ignored.
  std::optional<uint64_t> topic_id;
  Clock::time_point topic_id_read_at{};
  std::set<int32_t> gauged_partitions;  // consumer thread
  bool assignment_changed = true;
  Clock::time_point next_commit{}, next_flush{}, next_retention{}, next_member_lookup{}, next_topic_check{};
  Clock::time_point last_poll_error_log{};

  metrics::Counter* points_applied = nullptr;
  metrics::Counter* points_overwritten = nullptr;
  metrics::Counter* records_redelivered = nullptr;
  metrics::Counter* points_expired = nullptr;
  std::array<metrics::Counter*, kRejectReasonCount> rejected{};
  metrics::Histogram* apply_seconds = nullptr;

  Impl(CollectorOptions o, metrics::Registry& r) : options(std::move(o)), registry(r) {}

  void RegisterMetrics();
  void GaugePartition(int32_t partition);
  std::string StorePath(int32_t partition) const {
    return options.data_dir + "/partition-" + std::to_string(partition);
  }
  std::shared_ptr<Slot> FindSlot(int32_t partition) const {
    std::lock_guard lock(mu);
    auto it = slots.find(partition);
    return it == slots.end() ? nullptr : it->second;
  }
  void SetStore(Slot& slot, std::shared_ptr<PartitionStore> store) {
    std::lock_guard lock(mu);
    slot.store = std::move(store);
  }
  Result<std::shared_ptr<PartitionStore>> OpenStore(int32_t partition);
  // Reads the topic id unless read within max_age (or the brokers failed
  // within kRetryBackoff); false when it is still unknown.
  bool RefreshTopicId(milliseconds max_age);
  // Whether `store` was built from another incarnation of the topic than
  // the current one (or records none while the current one is known).
  bool StaleStore(const PartitionStore& store) const {
    return topic_id && *topic_id != 0 && store.topic_id() != *topic_id;
  }
  // Periodic: a recreated topic's stores are closed and rebuilt (Prepare).
  void CheckTopicId();
  void Prepare(Slot& slot);
  void Unready(Slot& slot, bool close_store);
  void Activate(const TopicPartition& tp);
  void Deactivate(const TopicPartition& tp, bool commit);
  void ApplyRun(int32_t partition, std::span<const StoreRecord> run);
  // Advances each positioned store past offsets that hold no record (a
  // leader's no-op control batch), up to the consumer's position: every
  // record below it has been applied. Without it a log ending in a control
  // batch would keep a partition restoring and its lag at 1 forever.
  void SkipRecordlessOffsets();
  void Maintain();
  void Commit();
  void Retention();
  void LookupMemberId();

  // RebalanceListener: inside Poll (or Close) on the consumer thread.
  void OnPartitionsAssigned(const std::vector<TopicPartition>& partitions) override {
    log::Info("partitions assigned", {{"partitions", Names(partitions)}});
    for (const auto& tp : partitions) Activate(tp);
    assignment_changed = true;
  }
  void OnPartitionsRevoked(const std::vector<TopicPartition>& partitions) override {
    log::Info("partitions revoked", {{"partitions", Names(partitions)}});
    for (const auto& tp : partitions) Deactivate(tp, /*commit=*/true);
    assignment_changed = true;
  }
  void OnPartitionsLost(const std::vector<TopicPartition>& partitions) override {
    log::Warn("partitions lost (no longer a member in good standing)", {{"partitions", Names(partitions)}});
    for (const auto& tp : partitions) Deactivate(tp, /*commit=*/false);
    assignment_changed = true;
  }
  static std::string Names(const std::vector<TopicPartition>& tps) {
    std::string s;
    for (const auto& tp : tps) {
      if (!s.empty()) s += ',';
      s += std::to_string(tp.partition);
    }
    return s;
  }
};

void Collector::Impl::RegisterMetrics() {
  points_applied = &registry.AddCounter("telemq_collector_points_applied_total", "Points written to the stores");
  points_overwritten = &registry.AddCounter("telemq_collector_points_overwritten_total",
                                            "Points whose (gpu, time, metric) was already stored (rewritten)");
  records_redelivered = &registry.AddCounter("telemq_collector_records_redelivered_total",
                                             "Records below a store's applied offset, skipped");
  points_expired = &registry.AddCounter("telemq_collector_points_expired_total", "Points deleted by retention");
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    rejected[i] = &registry.AddCounter("telemq_collector_records_rejected_total",
                                       "Records skipped because their value could not be applied",
                                       {{"reason", std::string(RejectReasonName(static_cast<RejectReason>(i)))}});
  }
  apply_seconds =
      &registry.AddHistogram("telemq_collector_apply_duration_seconds",
                             "Time to decode and write one partition's records of one poll", metrics::LatencyBuckets());
  for (auto state : {PartitionState::kServing, PartitionState::kRestoring}) {
    registry.AddCallbackGauge("telemq_collector_partitions", "Owned partitions by state",
                              {{"state", std::string(PartitionStateName(state))}}, [this, state] {
                                std::lock_guard lock(mu);
                                double n = 0;
                                for (const auto& [p, s] : slots) n += s->state.load() == state;
                                return n;
                              });
  }
  registry.AddCallbackGauge("telemq_collector_restore_lag",
                            "Records restoring partitions still have to apply before they serve", {}, [this] {
                              std::lock_guard lock(mu);
                              double lag = 0;
                              for (const auto& [p, s] : slots) {
                                if (s->state.load() != PartitionState::kRestoring) continue;
                                const int64_t applied = s->store ? s->store->Stats().applied.value() : 0;
                                lag += static_cast<double>(std::max<int64_t>(0, s->serve_from.load() - applied));
                              }
                              return lag;
                            });
}

// Registered the first time a partition is owned (the registry cannot drop
// series): -1 while it is not owned here.
void Collector::Impl::GaugePartition(int32_t partition) {
  if (!gauged_partitions.insert(partition).second) return;
  registry.AddCallbackGauge("telemq_collector_applied_offset",
                            "Next offset to apply per owned partition (-1: not owned here)",
                            {{"partition", std::to_string(partition)}}, [this, partition]() -> double {
                              std::lock_guard lock(mu);
                              auto it = slots.find(partition);
                              if (it == slots.end() || !it->second->store) return -1.0;
                              return static_cast<double>(it->second->store->Stats().applied.value());
                            });
}

bool Collector::Impl::RefreshTopicId(milliseconds max_age) {
  const auto now = Clock::now();
  if (topic_id && now - topic_id_read_at < max_age) return true;
  if (now - admin_failed_at < kRetryBackoff) return topic_id.has_value();
  auto d = admin->DescribeTopic(options.topic, /*with_offsets=*/false);
  if (!d) {
    // A deleted topic (not yet recreated) keeps the id last seen: its
    // partitions cannot be positioned anyway until it exists again.
    if (d.error().code() != Errc::kNotFound) admin_failed_at = now;
    log::Warn("cannot read the topic id", {{"topic", options.topic}, {"error", d.error().ToString()}});
    return topic_id.has_value();
  }
  topic_id_read_at = now;
  if (!topic_id || (*topic_id == 0 && d->topic_id != 0)) {
    topic_id = d->topic_id;
    log::Info("topic id", {{"topic", options.topic}, {"topic_id", d->topic_id}});
  } else if (d->topic_id > *topic_id) {
    log::Warn("topic deleted and recreated; stores built from the old one will be rebuilt from the new topic's log",
              {{"topic", options.topic}, {"old_topic_id", *topic_id}, {"topic_id", d->topic_id}});
    topic_id = d->topic_id;
  } else if (d->topic_id < *topic_id) {
    log::Debug("ignoring a topic id from lagging metadata",
               {{"topic", options.topic}, {"topic_id", d->topic_id}, {"known_topic_id", *topic_id}});
  }
  return true;
}

void Collector::Impl::CheckTopicId() {
  if (!RefreshTopicId(milliseconds(0))) return;
  std::vector<std::shared_ptr<Slot>> owned;
  {
    std::lock_guard lock(mu);
    for (const auto& [p, s] : slots) owned.push_back(s);
  }
  for (const auto& s : owned) {
    if (!s->store || !StaleStore(*s->store)) continue;
    // Closed at once, so no reader is answered from the old incarnation;
    // Prepare (below, in Maintain) drops and rebuilds it.
    Unready(*s, /*close_store=*/true);
    s->retry_at = {};
  }
}

Result<std::shared_ptr<PartitionStore>> Collector::Impl::OpenStore(int32_t partition) {
  const uint64_t expected_id = topic_id.value_or(0);
  const StoreOptions so{StorePath(partition), options.topic, resources, expected_id};
  auto store = PartitionStore::Open(so);
  if (!store) {
    const Errc code = store.error().code();
    if (code != Errc::kCorrupt && code != Errc::kUnsupportedVersion && code != Errc::kInvalidArgument) {
      return tl::unexpected(store.error());
    }
    // Not a store this collector can continue: the log rebuilds it (a store
    // is a view of the topic). The usual case is an upgrade of the format.
    if (code == Errc::kUnsupportedVersion) {
      log::Warn("store format upgrade; dropping the store and rebuilding it from the log",
                {{"partition", partition}, {"reason", store.error().message()}});
    } else {
      log::Warn("discarding the local store; it will be rebuilt from the log",
                {{"partition", partition}, {"error", store.error().ToString()}});
    }
    TELEMQ_TRY(PartitionStore::Destroy(so.path));
    store = PartitionStore::Open(so);
    if (!store) return tl::unexpected(store.error());
  }
  if (expected_id != 0 && (*store)->topic_id() != expected_id) {
    // Its offsets name records of another log: nothing in it can be kept.
    log::Warn("store built from a topic since deleted and recreated; rebuilding it from the new topic's log",
              {{"partition", partition},
               {"topic", options.topic},
               {"store_topic_id", (*store)->topic_id()},
               {"topic_id", expected_id}});
    store->reset();  // closes it
    TELEMQ_TRY(PartitionStore::Destroy(so.path));
    store = PartitionStore::Open(so);
    if (!store) return tl::unexpected(store.error());
  }
  return std::shared_ptr<PartitionStore>(std::move(*store));
}

void Collector::Impl::Unready(Slot& slot, bool close_store) {
  slot.ready = false;
  slot.state.store(PartitionState::kRestoring);
  slot.retry_at = Clock::now() + kRetryBackoff;
  if (close_store && slot.store) {
    auto store = slot.store;
    SetStore(slot, nullptr);
    store->Close();
  }
}

// Opens the store, decides where to resume (restore.h) and positions the
// consumer there. On a failure the slot stays unready and is retried; its
// records are dropped meanwhile (the consumer is repositioned when ready).
void Collector::Impl::Prepare(Slot& slot) {
  const int32_t p = slot.partition;
  const TopicPartition tp{options.topic, p};
  // A store is positioned only once the topic's incarnation is known, and
  // only if it was built from that one.
  if (!RefreshTopicId(kTopicIdMaxAge)) return Unready(slot, false);
  if (slot.store && StaleStore(*slot.store)) {
    // Restoring before the store goes: a reader gets 503, not the old points.
    slot.state.store(PartitionState::kRestoring);
    auto old = slot.store;
    SetStore(slot, nullptr);
    old->Close();
  }
  if (!slot.store) {
    auto store = OpenStore(p);
    if (!store) {
      log::Error("cannot open store; retrying", {{"partition", p}, {"error", store.error().ToString()}});
      return Unready(slot, false);
    }
    SetStore(slot, *store);
  }
  if (Clock::now() - admin_failed_at < kRetryBackoff) return Unready(slot, false);
  auto log_start = admin->ListOffset(options.topic, p, OffsetSpec::kEarliest);
  auto high_watermark = log_start ? admin->ListOffset(options.topic, p, OffsetSpec::kLatest) : log_start;
  if (!high_watermark) {
    log::Warn("cannot read the log's offsets; retrying",
              {{"partition", p}, {"error", high_watermark.error().ToString()}});
    admin_failed_at = Clock::now();
    return Unready(slot, false);
  }
  const StoreStats before = slot.store->Stats();
  const RestorePlan plan = PlanRestore(before.applied, *log_start, *high_watermark);
  const bool was_serving = slot.state.load() == PartitionState::kServing;
  if (plan.action == RestorePlan::Action::kWipe) {
    log::Warn("rebuilding the store", {{"partition", p}, {"offset", plan.start}, {"reason", plan.reason}});
    // Restoring before the store is swapped: a reader must get 503, never a
    // 404 from the fresh, empty store.
    slot.state.store(PartitionState::kRestoring);
    // The log no longer matches the store: often a recreated topic, whose
    // new id the rebuilt store must record (read now, not from the cache).
    RefreshTopicId(milliseconds(0));
    if (before.points != 0 || before.gpus != 0 || StaleStore(*slot.store)) {
      auto old = slot.store;
      SetStore(slot, nullptr);
      old->Close();
      old.reset();
      if (auto d = PartitionStore::Destroy(StorePath(p)); !d) {
        log::Error("cannot destroy store", {{"partition", p}, {"error", d.error().ToString()}});
        return Unready(slot, false);
      }
      auto fresh = OpenStore(p);
      if (!fresh) {
        log::Error("cannot recreate store", {{"partition", p}, {"error", fresh.error().ToString()}});
        return Unready(slot, false);
      }
      SetStore(slot, *fresh);
    }
    if (auto r = slot.store->StartAt(plan.start); !r) {
      log::Error("cannot position store", {{"partition", p}, {"error", r.error().ToString()}});
      return Unready(slot, true);
    }
  } else {
    log::Info("store kept", {{"partition", p},
                             {"reason", plan.reason},
                             {"point_count", before.points},
                             {"gpu_count", before.gpus},
                             {"log_start_offset", *log_start},
                             {"high_watermark", *high_watermark}});
  }
  if (auto r = consumer->Seek(tp, plan.start); !r) {
    log::Warn("seek failed; retrying", {{"partition", p}, {"offset", plan.start}, {"error", r.error().ToString()}});
    return Unready(slot, false);
  }
  slot.serve_from.store(plan.serve_from.value());
  slot.ready = true;
  if (ServesAfter(plan, slot.store->Stats().applied, was_serving)) {
    slot.state.store(PartitionState::kServing);
    log::Info("partition serving", {{"partition", p}, {"offset", slot.store->Stats().applied}});
  } else {
    slot.state.store(PartitionState::kRestoring);
    log::Info("partition restoring", {{"partition", p},
                                      {"record_count", plan.serve_from.value() - slot.store->Stats().applied.value()},
                                      {"offset", plan.serve_from}});
  }
}

void Collector::Impl::Activate(const TopicPartition& tp) {
  // The client never assigns an owned partition twice; if it did, the old
  // store must close first or the new one could not lock its directory.
  if (FindSlot(tp.partition)) Deactivate(tp, /*commit=*/false);
  auto slot = std::make_shared<Slot>(tp.partition);
  slot->assigned_at = Clock::now();
  // A recreated topic is noticed here at the latest (one read per assignment).
  RefreshTopicId(kTopicIdMaxAge);
  // Opened before it is shown, so the status never shows a kept store's
  // partition at offset 0 (Prepare retries if this fails).
  if (auto store = OpenStore(tp.partition); store) slot->store = *store;
  {
    std::lock_guard lock(mu);
    slots[tp.partition] = slot;  // visible as restoring from now on
  }
  GaugePartition(tp.partition);
  Prepare(*slot);
}

void Collector::Impl::Deactivate(const TopicPartition& tp, bool commit) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mu);
    auto it = slots.find(tp.partition);
    if (it == slots.end()) return;
    slot = it->second;
    slots.erase(it);  // stops serving it at once
  }
  if (!slot->store) return;
  const Offset applied = slot->store->Stats().applied;
  if (commit && slot->ready) {
    // Best effort, as the client's own revocation commit: the coordinator
    // waits only the rebalance timeout.
    if (auto r = consumer->CommitSync(std::map<TopicPartition, Offset>{{tp, applied}}); !r) {
      log::Warn("offset commit on revocation failed",
                {{"partition", tp.partition}, {"offset", applied}, {"error", r.error().ToString()}});
    }
  }
  if (shutting_down && options.compact_on_exit) {
    if (auto c = slot->store->CompactAll(); !c) {
      log::Error("compaction failed", {{"partition", tp.partition}, {"error", c.error().ToString()}});
    } else if (auto bytes = slot->store->SstBytes(); bytes) {
      const auto points = slot->store->Stats().points;
      log::Info("store compacted",
                {{"partition", tp.partition},
                 {"point_count", points},
                 {"sst_bytes", *bytes},
                 {"bytes_per_point", points ? static_cast<double>(*bytes) / static_cast<double>(points) : 0.0}});
    }
  }
  // Reads in progress finish first; later ones get 503. Files stay for a
  // later assignment.
  slot->store->Close();
  log::Info("partition closed", {{"partition", tp.partition}, {"offset", applied}});
}

void Collector::Impl::ApplyRun(int32_t partition, std::span<const StoreRecord> run) {
  auto slot = FindSlot(partition);
  // Records of a partition that is not positioned yet are dropped: Prepare
  // seeks the consumer back to the store's offset.
  if (!slot || !slot->ready || !slot->store) return;
  const auto start = Clock::now();
  auto st = slot->store->Apply(run);
  if (!st) {
    log::Error("apply failed; reopening the store", {{"partition", partition}, {"error", st.error().ToString()}});
    Unready(*slot, true);
    return;
  }
  apply_seconds->Observe(std::chrono::duration<double>(Clock::now() - start).count());
  points_applied->Inc(st->points);
  points_overwritten->Inc(st->overwritten);
  records_redelivered->Inc(st->redelivered);
  for (size_t i = 0; i < kRejectReasonCount; ++i) rejected[i]->Inc(st->rejected[i]);
  if (slot->state.load() == PartitionState::kRestoring) {
    const Offset applied = slot->store->Stats().applied;
    if (applied.value() >= slot->serve_from.load()) {
      slot->state.store(PartitionState::kServing);
      log::Info("partition restored; serving",
                {{"partition", partition},
                 {"offset", applied},
                 {"elapsed_ms", std::chrono::duration_cast<milliseconds>(Clock::now() - slot->assigned_at).count()}});
    }
  }
}

void Collector::Impl::SkipRecordlessOffsets() {
  std::vector<std::shared_ptr<Slot>> owned;
  {
    std::lock_guard lock(mu);
    for (const auto& [p, s] : slots) owned.push_back(s);
  }
  for (const auto& slot : owned) {
    if (!slot->ready || !slot->store) continue;
    auto pos = consumer->Position({options.topic, slot->partition});
    if (!pos || *pos <= slot->store->Stats().applied) continue;
    if (auto r = slot->store->SkipTo(*pos); !r) {
      log::Error("moving the applied offset failed; reopening the store",
                 {{"partition", slot->partition}, {"offset", *pos}, {"error", r.error().ToString()}});
      Unready(*slot, true);
      continue;
    }
    if (slot->state.load() == PartitionState::kRestoring && pos->value() >= slot->serve_from.load()) {
      slot->state.store(PartitionState::kServing);
      log::Info("partition restored; serving", {{"partition", slot->partition}, {"offset", *pos}});
    }
  }
}

void Collector::Impl::Commit() {
  std::map<TopicPartition, Offset> offsets;
  std::vector<std::shared_ptr<Slot>> owned;
  {
    std::lock_guard lock(mu);
    for (const auto& [p, s] : slots) owned.push_back(s);
  }
  if (commit_failed.exchange(false)) {
    for (const auto& s : owned) s->committed = Offset(-1);
  }
  for (const auto& s : owned) {
    if (!s->ready || !s->store) continue;
    const Offset applied = s->store->Stats().applied;
    if (applied == s->committed) continue;
    offsets[{options.topic, s->partition}] = applied;
    s->committed = applied;
  }
  if (offsets.empty()) return;
  consumer->CommitAsync(
      [this](Result<void> r) {
        if (r) return;
        log::Debug("offset commit failed", {{"error", r.error().ToString()}});
        commit_failed.store(true);
      },
      std::move(offsets));
}

void Collector::Impl::Retention() {
  int64_t retention_ms = -1;
  if (options.retention_ms) {
    retention_ms = *options.retention_ms;
  } else {
    auto d = admin->DescribeTopic(options.topic, /*with_offsets=*/false);
    if (!d) {
      log::Warn("retention: cannot describe topic", {{"topic", options.topic}, {"error", d.error().ToString()}});
      return;
    }
    retention_ms = d->retention_ms;
  }
  if (retention_ms < 0) return;
  const int64_t cutoff = NowUs() - retention_ms * 1000;
  std::vector<std::shared_ptr<Slot>> owned;
  {
    std::lock_guard lock(mu);
    for (const auto& [p, s] : slots) owned.push_back(s);
  }
  for (const auto& s : owned) {
    if (!s->ready || !s->store) continue;
    auto e = s->store->Expire(cutoff);
    if (!e) {
      log::Error("retention failed; reopening the store",
                 {{"partition", s->partition}, {"error", e.error().ToString()}});
      Unready(*s, true);
      continue;
    }
    points_expired->Inc(e->points);
    if (e->points) {
      log::Info(
          "retention deleted points",
          {{"partition", s->partition}, {"point_count", e->points}, {"gpu_count", e->gpus}, {"cutoff_us", cutoff}});
    }
  }
}

// The consumer API does not expose the member id; the group description
// does, with the metadata this member sent (its endpoint is unique).
void Collector::Impl::LookupMemberId() {
  auto d = admin->DescribeGroup(options.group);
  if (!d) return;
  for (const auto& m : d->members) {
    if (m.metadata == metadata) {
      std::lock_guard lock(mu);
      member_id = m.member_id;
      assignment_changed = false;
      return;
    }
  }
}

void Collector::Impl::Maintain() {
  const auto now = Clock::now();
  std::vector<std::shared_ptr<Slot>> owned;
  {
    std::lock_guard lock(mu);
    for (const auto& [p, s] : slots) owned.push_back(s);
  }
  if (now >= next_topic_check) {
    next_topic_check = now + options.topic_check_interval;
    CheckTopicId();
  }
  for (const auto& s : owned) {
    if (!s->ready && now >= s->retry_at) Prepare(*s);
  }
  if (now >= next_commit) {
    next_commit = now + options.commit_interval;
    Commit();
  }
  if (now >= next_flush) {
    next_flush = now + options.flush_interval;
    for (const auto& s : owned) {
      if (!s->ready || !s->store) continue;
      const Offset applied = s->store->Stats().applied;
      if (applied == s->flushed) continue;
      if (auto f = s->store->Flush(PartitionStore::FlushMode::kBackground); !f) {
        log::Warn("store flush failed", {{"partition", s->partition}, {"error", f.error().ToString()}});
      }
      s->flushed = applied;
    }
  }
  if (now >= next_retention) {
    next_retention = now + options.retention_check_interval;
    Retention();
  }
  if (assignment_changed && now >= next_member_lookup) {
    next_member_lookup = now + milliseconds(1'000);
    LookupMemberId();
  }
}

Collector::Collector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Collector::~Collector() {
  if (impl_->consumer) impl_->consumer->Close();
}

Result<std::unique_ptr<Collector>> Collector::Create(CollectorOptions options, metrics::Registry& registry) {
  if (options.topic.empty()) return Fail(Errc::kInvalidArgument, "topic is empty");
  if (options.group.empty()) return Fail(Errc::kInvalidArgument, "group is empty");
  if (options.data_dir.empty()) return Fail(Errc::kInvalidArgument, "data dir is empty");
  auto impl = std::make_unique<Impl>(std::move(options), registry);
  const CollectorOptions& o = impl->options;
  impl->resources = MakeStoreResources(o.store);

  ConsumerOptions co;
  co.client = o.client;
  co.client.client_id = "telemq-collector";
  co.max_poll_records = o.max_poll_records;
  TELEMQ_ASSIGN_OR_RETURN(impl->consumer, Consumer::Create(co));
  ClientOptions ao = o.client;
  ao.client_id = "telemq-collector-admin";
  ao.request_timeout = std::min(ao.request_timeout, kAdminTimeout);
  TELEMQ_ASSIGN_OR_RETURN(impl->admin, Admin::Create(ao));
  impl->RegisterMetrics();
  return std::unique_ptr<Collector>(new Collector(std::move(impl)));
}

Result<void> Collector::Start(const std::string& endpoint) {
  Impl& m = *impl_;
  m.metadata = nlohmann::json{{"endpoint", endpoint}}.dump();
  GroupOptions g;
  g.group_id = m.options.group;
  g.instance_id = m.options.instance_id;
  g.metadata = m.metadata;
  g.timeouts.session_timeout = m.options.session_timeout;
  g.timeouts.rebalance_timeout = m.options.rebalance_timeout;
  // The stores' offsets are the truth; commits carry the applied offsets
  // (Commit), never the consumer's position, which may run ahead of them.
  g.auto_commit = AutoCommit::kDisabled;
  g.auto_offset_reset = AutoOffsetReset::kEarliest;
  g.close_mode = m.options.instance_id ? CloseMode::kKeepStaticSlot : CloseMode::kLeaveGroup;
  // The consumer holds the listener; `impl_` outlives the consumer.
  std::shared_ptr<RebalanceListener> listener(impl_.get(), [](RebalanceListener*) {});
  TELEMQ_TRY(m.consumer->Subscribe({m.options.topic}, std::move(g), std::move(listener)));
  m.last_poll_ok_ms.store(std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count());
  // The first periodic flush comes one interval after the start, not at once.
  m.next_flush = Clock::now() + m.options.flush_interval;
  log::Info("joining group", {{"group", m.options.group}, {"topic", m.options.topic}, {"member_metadata", m.metadata}});
  return Ok();
}

Result<void> Collector::Run(const std::atomic<bool>& stop) {
  Impl& m = *impl_;
  std::vector<StoreRecord> run;
  while (!stop.load()) {
    auto polled = m.consumer->Poll(milliseconds(200));
    if (!polled) {
      if (polled.error().code() == Errc::kShuttingDown) break;
      const auto now = Clock::now();
      if (now - m.last_poll_error_log > std::chrono::seconds(10)) {
        m.last_poll_error_log = now;
        log::Warn("poll failed", {{"error", polled.error().ToString()}});
      }
      if (polled.error().code() == Errc::kOffsetOutOfRange) {
        // Retention passed a store's position: decide again where that
        // partition resumes (a store below the log start is rebuilt). Only
        // the one named; if none is, every one, but partitions that resume
        // keep serving (Prepare), so this never hides whole data.
        const auto named = PartitionNamedIn(polled.error().message(), m.options.topic);
        std::lock_guard lock(m.mu);
        for (auto& [p, s] : m.slots) {
          if (named && p != *named) continue;
          s->ready = false;
          s->retry_at = {};
        }
      }
      m.Maintain();
      std::this_thread::sleep_for(milliseconds(50));  // the failing fetch retries after its backoff anyway
      continue;
    }
    m.last_poll_ok_ms.store(std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count());
    const auto& records = polled->records();
    for (size_t i = 0; i < records.size();) {
      const int32_t p = records[i].partition;
      run.clear();
      for (; i < records.size() && records[i].partition == p; ++i) {
        run.push_back({records[i].offset, records[i].key, records[i].value});
      }
      m.ApplyRun(p, run);
    }
    m.SkipRecordlessOffsets();
    m.Maintain();
  }
  m.Commit();
  m.shutting_down = true;
  // Revokes everything (flush and close every store) and leaves the group.
  m.consumer->Close();
  return Ok();
}

bool Collector::healthy() const {
  const int64_t now = std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
  return now - impl_->last_poll_ok_ms.load() < kUnhealthyAfter.count();
}

std::string Collector::MemberId() const {
  std::lock_guard lock(impl_->mu);
  return impl_->member_id;
}

std::vector<PartitionHandle> Collector::Partitions() const {
  std::lock_guard lock(impl_->mu);
  std::vector<PartitionHandle> out;
  out.reserve(impl_->slots.size());
  for (const auto& [p, s] : impl_->slots) out.push_back({p, s->state.load(), s->store});
  return out;
}

std::optional<PartitionHandle> Collector::Find(int32_t partition) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->slots.find(partition);
  if (it == impl_->slots.end()) return std::nullopt;
  return PartitionHandle{partition, it->second->state.load(), it->second->store};
}

}  // namespace telemq::collector
