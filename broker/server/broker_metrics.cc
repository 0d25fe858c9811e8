#include "broker/server/broker_metrics.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

namespace {

using metrics::FamilyWriter;
using metrics::Labels;
using metrics::MetricType;

// fdatasync on fast flash takes tens of microseconds: finer low buckets
// than the request latencies', up to the same 10 s.
std::vector<double> FsyncBuckets() {
  std::vector<double> b{0.00001, 0.000025, 0.00005};
  for (double v : metrics::LatencyBuckets()) b.push_back(v);
  return b;
}

// Calls `f(code)` for every error code `response` carries. Responses are
// the broker's own (built by the handlers), so they are read unverified.
template <typename F>
void ForEachError(wire::ApiKey api, const Response& response, F&& f) {
  namespace fb = wire::fb;
  const uint8_t* data = response.body.data();
  if (data == nullptr || response.body.size() == 0) return;
  auto each = [&](auto code) {
    if (code != fb::ErrorCode::None) f(code);
  };
  // Per-partition results grouped by topic: Produce, Fetch, ListOffsets,
  // OffsetCommit, OffsetFetch.
  auto partitions = [&](const auto* topics) {
    if (topics == nullptr) return;
    for (const auto* t : *topics) {
      if (t->partitions() == nullptr) continue;
      for (const auto* p : *t->partitions()) each(p->error());
    }
  };
  if (response.error_response) {
    // Frame-level failures are answered with an ErrorResponse in any API's place.
    return each(flatbuffers::GetRoot<fb::ErrorResponse>(data)->error());
  }
  switch (api) {
    case wire::ApiKey::kApiVersions: return each(flatbuffers::GetRoot<fb::ApiVersionsResponse>(data)->error());
    case wire::ApiKey::kMetadata: {
      const auto* r = flatbuffers::GetRoot<fb::MetadataResponse>(data);
      if (r->topics() == nullptr) return;
      for (const auto* t : *r->topics()) {
        each(t->error());
        if (t->partitions() == nullptr) continue;
        for (const auto* p : *t->partitions()) each(p->error());
      }
      return;
    }
    case wire::ApiKey::kCreateTopics:
    case wire::ApiKey::kDeleteTopics: {
      // Both answer a list of TopicResult.
      const auto* r = flatbuffers::GetRoot<fb::CreateTopicsResponse>(data);
      if (r->results() == nullptr) return;
      for (const auto* t : *r->results()) each(t->error());
      return;
    }
    case wire::ApiKey::kProduce: return partitions(flatbuffers::GetRoot<fb::ProduceResponse>(data)->topics());
    case wire::ApiKey::kFetch: return partitions(flatbuffers::GetRoot<fb::FetchResponse>(data)->topics());
    case wire::ApiKey::kListOffsets: return partitions(flatbuffers::GetRoot<fb::ListOffsetsResponse>(data)->topics());
    case wire::ApiKey::kInitProducerId: return each(flatbuffers::GetRoot<fb::InitProducerIdResponse>(data)->error());
    case wire::ApiKey::kFindCoordinator: return each(flatbuffers::GetRoot<fb::FindCoordinatorResponse>(data)->error());
    case wire::ApiKey::kGroupHeartbeat: return each(flatbuffers::GetRoot<fb::GroupHeartbeatResponse>(data)->error());
    case wire::ApiKey::kOffsetCommit: {
      const auto* r = flatbuffers::GetRoot<fb::OffsetCommitResponse>(data);
      each(r->error());
      return partitions(r->topics());
    }
    case wire::ApiKey::kOffsetFetch: {
      const auto* r = flatbuffers::GetRoot<fb::OffsetFetchResponse>(data);
      each(r->error());
      return partitions(r->topics());
    }
    case wire::ApiKey::kListGroups: return each(flatbuffers::GetRoot<fb::ListGroupsResponse>(data)->error());
    case wire::ApiKey::kDescribeGroup: return each(flatbuffers::GetRoot<fb::DescribeGroupResponse>(data)->error());
    case wire::ApiKey::kDeleteGroup: return each(flatbuffers::GetRoot<fb::DeleteGroupResponse>(data)->error());
    case wire::ApiKey::kPeerRaft: return each(flatbuffers::GetRoot<fb::PeerRaftResponse>(data)->error());
  }
}

std::string ApiLabel(size_t index) {
  return index < wire::kApiKeyCount ? std::string(wire::ApiKeyName(static_cast<wire::ApiKey>(index))) : "unknown";
}

}  // namespace

BrokerMetrics::BrokerMetrics(uint64_t produce_memory_bytes)
    : produce_memory_bytes_(produce_memory_bytes),
      elections_(registry_.AddCounter("telemq_broker_raft_elections_started_total",
                                      "Raft elections started by replicas on this broker (a replica became a "
                                      "candidate; pre-vote rounds that did not are not counted)")),
      leader_changes_(registry_.AddCounter(
          "telemq_broker_raft_leader_changes_total",
          "Times a replica on this broker learned of a new partition leader (a leader of a newer term)")),
      commit_latency_(registry_.AddHistogram(
          "telemq_broker_raft_commit_latency_seconds",
          "On leaders: time from proposing a produce request's batches to their commit by a majority",
          metrics::LatencyBuckets())),
      fsync_latency_(registry_.AddHistogram("telemq_broker_log_fsync_duration_seconds",
                                            "Duration of the flusher's fdatasync of one partition log",
                                            FsyncBuckets())) {
  static_assert(static_cast<size_t>(wire::fb::ErrorCode::MAX) < kErrorCodes, "widen kErrorCodes");
  for (auto& a : apis_) a.latency = std::make_unique<metrics::Histogram>(metrics::LatencyBuckets());
  registry_.AddCallbackGauge("telemq_broker_connections", "Open client and peer connections", {},
                             [this] { return static_cast<double>(connections_.load(std::memory_order_relaxed)); });
  registry_.AddCallbackGauge("telemq_broker_produce_memory_limit_bytes",
                             "Broker-wide budget for produce requests in memory (produce_memory_bytes)", {},
                             [this] { return static_cast<double>(produce_memory_bytes_); });
  registry_.AddCallbackGauge("telemq_broker_produce_memory_used_bytes",
                             "Produce request bytes in memory (read, not yet answered)", {}, [this] {
                               std::lock_guard lock(mu_);
                               return memory_used_ ? static_cast<double>(memory_used_()) : 0.0;
                             });
  registry_.AddCallbackGauge("telemq_broker_produce_memory_blocked_connections",
                             "Connections not being read because the produce memory budget is spent", {},
                             [this] { return static_cast<double>(memory_waiting_.load(std::memory_order_relaxed)); });
  registry_.AddCollector([this](FamilyWriter& w) { CollectRequests(w); });
  registry_.AddCollector([this](FamilyWriter& w) {
    std::lock_guard lock(mu_);
    if (collect_) collect_(w);
  });
}

BrokerMetrics::~BrokerMetrics() = default;

std::string BrokerMetrics::Render() const { return registry_.Render(); }

size_t BrokerMetrics::ApiIndex(wire::ApiKey api) {
  const auto i = static_cast<size_t>(api);
  return i < wire::kApiKeyCount ? i : wire::kApiKeyCount;
}

void BrokerMetrics::RequestReceived(wire::ApiKey api, uint64_t bytes) {
  PerApi& a = apis_[ApiIndex(api)];
  a.requests.fetch_add(1, std::memory_order_relaxed);
  a.request_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void BrokerMetrics::RequestAnswered(wire::ApiKey api, std::chrono::nanoseconds latency, const Response& response) {
  PerApi& a = apis_[ApiIndex(api)];
  a.latency->Observe(std::chrono::duration<double>(latency).count());
  a.response_bytes.fetch_add(wire::kResponseHeaderBytes + response.body.size() + response.payload.size(),
                             std::memory_order_relaxed);
  ForEachError(api, response, [&a](wire::fb::ErrorCode code) {
    auto i = static_cast<size_t>(static_cast<uint16_t>(code));
    if (i >= kErrorCodes) i = static_cast<size_t>(wire::fb::ErrorCode::Unknown);
    a.errors[i].fetch_add(1, std::memory_order_relaxed);
  });
}

void BrokerMetrics::SetProduceMemoryUsed(std::function<uint64_t()> used) {
  std::lock_guard lock(mu_);
  memory_used_ = std::move(used);
}

void BrokerMetrics::FsyncDone(std::chrono::nanoseconds duration) {
  fsync_latency_.Observe(std::chrono::duration<double>(duration).count());
}

int64_t BrokerMetrics::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void BrokerMetrics::Committed(int64_t latency_ns) { commit_latency_.Observe(static_cast<double>(latency_ns) * 1e-9); }

void BrokerMetrics::AttachState(std::function<void(FamilyWriter&)> collect) {
  std::lock_guard lock(mu_);
  collect_ = std::move(collect);
}

void BrokerMetrics::DetachState() {
  std::lock_guard lock(mu_);
  collect_ = nullptr;
}

void BrokerMetrics::CollectRequests(FamilyWriter& w) const {
  // Only APIs that were called: 17 mostly idle APIs would add hundreds of
  // zero histogram lines to every scrape.
  w.Family("telemq_broker_requests_total", "Requests received, by API", MetricType::kCounter);
  for (size_t i = 0; i < kApis; ++i) {
    if (const uint64_t n = apis_[i].requests.load(std::memory_order_relaxed); n > 0) {
      w.Sample({{"api", ApiLabel(i)}}, static_cast<double>(n));
    }
  }
  w.Family("telemq_broker_request_duration_seconds",
           "Time from a request's frame being read to its answer being built (a long-poll fetch includes its wait)",
           MetricType::kHistogram);
  for (size_t i = 0; i < kApis; ++i) {
    if (apis_[i].requests.load(std::memory_order_relaxed) == 0) continue;
    const auto& h = *apis_[i].latency;
    w.HistogramSample({{"api", ApiLabel(i)}}, h.upper_bounds(), h.BucketCounts(), h.Sum());
  }
  w.Family("telemq_broker_request_errors_total",
           "Error codes answered, by API and code: one per failed partition, topic or request", MetricType::kCounter);
  for (size_t i = 0; i < kApis; ++i) {
    for (size_t e = 0; e < kErrorCodes; ++e) {
      const uint64_t n = apis_[i].errors[e].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const char* name = wire::fb::EnumNameErrorCode(static_cast<wire::fb::ErrorCode>(e));
      w.Sample({{"api", ApiLabel(i)}, {"error", name != nullptr && *name != '\0' ? name : std::to_string(e)}},
               static_cast<double>(n));
    }
  }
  w.Family("telemq_broker_request_bytes_total", "Request frame bytes received (header, body, record batches), by API",
           MetricType::kCounter);
  for (size_t i = 0; i < kApis; ++i) {
    if (apis_[i].requests.load(std::memory_order_relaxed) == 0) continue;
    w.Sample({{"api", ApiLabel(i)}}, static_cast<double>(apis_[i].request_bytes.load(std::memory_order_relaxed)));
  }
  w.Family("telemq_broker_response_bytes_total", "Response frame bytes sent (header, body, record batches), by API",
           MetricType::kCounter);
  for (size_t i = 0; i < kApis; ++i) {
    if (apis_[i].requests.load(std::memory_order_relaxed) == 0) continue;
    w.Sample({{"api", ApiLabel(i)}}, static_cast<double>(apis_[i].response_bytes.load(std::memory_order_relaxed)));
  }
}

// --- state families -----------------------------------------------------------

namespace {

struct PartitionView {
  std::string topic;
  int32_t partition = 0;
  int64_t log_start = 0;
  int64_t log_end = 0;
  int64_t high_watermark = 0;
  bool leading = false;
  int64_t in_sync = 0;
  int64_t replicas = 0;
};

void WritePartitions(const std::vector<PartitionView>& parts, bool per_partition, FamilyWriter& w) {
  struct Family {
    const char* name;
    const char* help;
    int64_t PartitionView::*field;
    bool leader_only;
  };
  static const Family kFamilies[] = {
      {"telemq_broker_partition_log_start_offset", "First offset in the local log of each partition replica",
       &PartitionView::log_start, false},
      {"telemq_broker_partition_log_end_offset", "Next offset to be written in the local log of each replica",
       &PartitionView::log_end, false},
      {"telemq_broker_partition_high_watermark",
       "High watermark (committed end) as this replica knows it; -1 before it first knows one",
       &PartitionView::high_watermark, false},
      {"telemq_broker_partition_in_sync_replicas",
       "On the leader: replicas that held everything committed within the in-sync window (itself included)",
       &PartitionView::in_sync, true},
      {"telemq_broker_partition_replicas", "Replicas (voters) of the partition", &PartitionView::replicas, false},
  };
  // Per topic: the values of its partitions hosted here, summed.
  std::map<std::string, std::vector<const PartitionView*>> by_topic;
  if (!per_partition) {
    for (const auto& p : parts) by_topic[p.topic].push_back(&p);
  }
  auto write = [&](const char* name, const char* help, auto value, bool leader_only) {
    w.Family(name, help, MetricType::kGauge);
    if (per_partition) {
      for (const auto& p : parts) {
        if (leader_only && !p.leading) continue;
        w.Sample({{"topic", p.topic}, {"partition", std::to_string(p.partition)}}, static_cast<double>(value(p)));
      }
      return;
    }
    for (const auto& [topic, list] : by_topic) {
      double sum = 0;
      for (const auto* p : list) {
        if (!leader_only || p->leading) sum += static_cast<double>(value(*p));
      }
      w.Sample({{"topic", topic}}, sum);
    }
  };
  for (const auto& f : kFamilies) {
    write(
        f.name, f.help, [&f](const PartitionView& p) { return p.*f.field; }, f.leader_only);
  }
  write(
      "telemq_broker_partition_leader", "1 if this broker leads the partition (serving it), else 0",
      [](const PartitionView& p) { return p.leading ? 1 : 0; }, false);
}

}  // namespace

void CollectStateMetrics(BrokerState& state, FamilyWriter& w) {
  const bool per_partition = state.config.metrics_per_partition;
  const int32_t self = state.config.node_id;

  // Partitions hosted here: only atomics each replica publishes.
  std::vector<PartitionView> parts;
  int64_t under_replicated = 0;
  for (const auto& r : state.replicas->All()) {
    PartitionView& v = parts.emplace_back();
    v.topic = r->key().topic;
    v.partition = r->key().partition.value();
    v.log_start = r->published_log_start().value();
    v.log_end = r->published_log_end().value();
    v.high_watermark = r->high_watermark().value();
    v.leading = r->leading() && r->serving();
    v.replicas = static_cast<int64_t>(r->voters().size());
    if (v.leading) {
      v.in_sync = static_cast<int64_t>(r->in_sync().size());
      if (v.in_sync < v.replicas) ++under_replicated;
    }
  }
  WritePartitions(parts, per_partition, w);

  // The cluster as this broker sees it: every partition of the applied
  // metadata, its leader from the local replica or the peers' claims.
  int64_t offline = 0;
  std::map<int32_t, int64_t> led;
  {
    std::shared_lock lock(state.topics_mu);
    for (const auto& [name, t] : state.topics) {
      for (int32_t p = 0; p < t.spec.partitions; ++p) {
        const int32_t leader = state.LeaderOf(t, p).broker;
        if (leader < 0) {
          ++offline;
        } else {
          ++led[leader];
        }
      }
    }
  }
  w.Family("telemq_broker_under_replicated_partitions",
           "Partitions led here (the controller log included) with fewer in-sync replicas than replicas",
           MetricType::kGauge);
  w.Sample({}, static_cast<double>(under_replicated));
  w.Family("telemq_broker_offline_partitions", "Partitions of the cluster with no leader known to this broker",
           MetricType::kGauge);
  w.Sample({}, static_cast<double>(offline));
  w.Family("telemq_broker_partitions_led",
           "Partitions each broker leads, as this broker knows (its own replicas, the peers' claims)",
           MetricType::kGauge);
  for (const auto& [broker, n] : led) w.Sample({{"broker", std::to_string(broker)}}, static_cast<double>(n));

  // The file system of the data directory, as statvfs(3) reports it at
  // scrape time; no sample when it cannot be asked (the data directory is
  // gone or unreadable).
  struct statvfs fs {};
  const bool have_fs = ::statvfs(state.config.data_dir.c_str(), &fs) == 0;
  w.Family("telemq_broker_data_dir_size_bytes", "Size of the file system holding the data directory",
           MetricType::kGauge);
  if (have_fs) w.Sample({}, static_cast<double>(fs.f_blocks) * static_cast<double>(fs.f_frsize));
  w.Family("telemq_broker_data_dir_free_bytes",
           "Bytes of the data directory's file system the broker may still write (free to unprivileged users)",
           MetricType::kGauge);
  if (have_fs) w.Sample({}, static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize));

  const int32_t controller_leader = state.controller->leading() ? self : state.controller->leader();
  w.Family("telemq_broker_controller_leader_id", "Broker id of the controller leader as this broker knows it; -1 none",
           MetricType::kGauge);
  w.Sample({}, static_cast<double>(controller_leader));
  w.Family("telemq_broker_controller_is_leader", "1 if this broker is the controller leader, else 0",
           MetricType::kGauge);
  w.Sample({}, state.controller->leading() ? 1.0 : 0.0);

  // Groups coordinated here. Lag = high watermark of the partition's local
  // replica (leader or follower; a follower's trails the leader's by at most
  // a replication round) - committed offset, in offsets. Partitions with no
  // replica here are not asked of any other broker: counted as unknown.
  auto groups = state.Groups();
  const auto stats = groups ? groups->Stats() : std::vector<GroupCoordinator::GroupStats>{};
  w.Family("telemq_broker_group_members", "Members of each consumer group coordinated by this broker",
           MetricType::kGauge);
  for (const auto& g : stats) w.Sample({{"group", g.group_id}}, static_cast<double>(g.members));
  struct Lag {
    std::string topic;
    int32_t partition;
    int64_t committed;
    int64_t lag;  // -1: unknown
  };
  std::vector<std::vector<Lag>> lags(stats.size());
  for (size_t i = 0; i < stats.size(); ++i) {
    for (const auto& [tp, offset] : stats[i].committed) {
      auto replica = state.Find(tp.topic, tp.partition.value());
      const int64_t hwm = replica ? replica->high_watermark().value() : -1;
      lags[i].push_back(
          {tp.topic, tp.partition.value(), offset.value(), hwm < 0 ? -1 : std::max<int64_t>(0, hwm - offset.value())});
    }
  }
  // With metrics_per_partition: false, summed per group and topic.
  auto emit = [&](bool lag_family) {
    for (size_t i = 0; i < stats.size(); ++i) {
      if (per_partition) {
        for (const auto& l : lags[i]) {
          if (lag_family && l.lag < 0) continue;
          w.Sample({{"group", stats[i].group_id}, {"topic", l.topic}, {"partition", std::to_string(l.partition)}},
                   static_cast<double>(lag_family ? l.lag : l.committed));
        }
        continue;
      }
      std::map<std::string, double> sum;
      for (const auto& l : lags[i]) {
        if (!lag_family || l.lag >= 0) sum[l.topic] += static_cast<double>(lag_family ? l.lag : l.committed);
      }
      for (const auto& [topic, v] : sum) w.Sample({{"group", stats[i].group_id}, {"topic", topic}}, v);
    }
  };
  w.Family("telemq_broker_group_committed_offset", "Committed offset of each group and partition (coordinator only)",
           MetricType::kGauge);
  emit(false);
  w.Family("telemq_broker_group_lag",
           "Offsets between the partition's high watermark (its replica here) and the group's committed offset",
           MetricType::kGauge);
  emit(true);
  w.Family("telemq_broker_group_lag_unknown_partitions",
           "Partitions a group committed offsets for that have no replica on this broker (their lag is not known here)",
           MetricType::kGauge);
  for (size_t i = 0; i < stats.size(); ++i) {
    const auto unknown = std::count_if(lags[i].begin(), lags[i].end(), [](const Lag& l) { return l.lag < 0; });
    w.Sample({{"group", stats[i].group_id}}, static_cast<double>(unknown));
  }
}

}  // namespace telemq::broker
