#include "broker/server/broker.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "broker/server/broker_state.h"
#include "telemq/common/check.h"
#include "telemq/common/log.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

using fb::ErrorCode;

namespace {

// --- the dispatch table -------------------------------------------------------
// One row per ApiKey: verify the body as that API's request type, then call
// its handler. A key without a row is answered "unsupported" and the
// connection closed.

using Route = void (*)(BrokerState&, const Request&, Reply&);

template <typename Req, void (BrokerState::*Handler)(const Req*, const Request&, Reply&)>
void Verified(BrokerState& state, const Request& request, Reply& reply) {
  auto req = wire::VerifyBody<Req>(request.body);
  if (!req) return reply(MakeErrorResponse(Errc::kCorrupt, req.error().message(), true));
  (state.*Handler)(*req, request, reply);
}

constexpr std::array<Route, wire::kApiKeyCount> MakeRoutes() {
  using wire::ApiKey;
  std::array<Route, wire::kApiKeyCount> r{};
  auto set = [&r](ApiKey key, Route route) { r[static_cast<uint16_t>(key)] = route; };
  set(ApiKey::kApiVersions, &Verified<fb::ApiVersionsRequest, &BrokerState::HandleApiVersions>);
  set(ApiKey::kMetadata, &Verified<fb::MetadataRequest, &BrokerState::HandleMetadata>);
  set(ApiKey::kCreateTopics, &Verified<fb::CreateTopicsRequest, &BrokerState::HandleCreateTopics>);
  set(ApiKey::kDeleteTopics, &Verified<fb::DeleteTopicsRequest, &BrokerState::HandleDeleteTopics>);
  set(ApiKey::kProduce, &Verified<fb::ProduceRequest, &BrokerState::HandleProduce>);
  set(ApiKey::kFetch, &Verified<fb::FetchRequest, &BrokerState::HandleFetch>);
  set(ApiKey::kListOffsets, &Verified<fb::ListOffsetsRequest, &BrokerState::HandleListOffsets>);
  set(ApiKey::kInitProducerId, &Verified<fb::InitProducerIdRequest, &BrokerState::HandleInitProducerId>);
  set(ApiKey::kFindCoordinator, &Verified<fb::FindCoordinatorRequest, &BrokerState::HandleFindCoordinator>);
  set(ApiKey::kGroupHeartbeat, &Verified<fb::GroupHeartbeatRequest, &BrokerState::HandleGroupHeartbeat>);
  set(ApiKey::kOffsetCommit, &Verified<fb::OffsetCommitRequest, &BrokerState::HandleOffsetCommit>);
  set(ApiKey::kOffsetFetch, &Verified<fb::OffsetFetchRequest, &BrokerState::HandleOffsetFetch>);
  set(ApiKey::kListGroups, &Verified<fb::ListGroupsRequest, &BrokerState::HandleListGroups>);
  set(ApiKey::kDescribeGroup, &Verified<fb::DescribeGroupRequest, &BrokerState::HandleDescribeGroup>);
  set(ApiKey::kDeleteGroup, &Verified<fb::DeleteGroupRequest, &BrokerState::HandleDeleteGroup>);
  set(ApiKey::kPeerRaft, &Verified<fb::PeerRaftRequest, &BrokerState::HandlePeerRaft>);
  return r;
}

constexpr std::array<Route, wire::kApiKeyCount> kRoutes = MakeRoutes();

constexpr bool EveryApiRouted() {
  for (Route r : kRoutes) {
    if (r == nullptr) return false;
  }
  return true;
}
static_assert(EveryApiRouted(), "every ApiKey needs a row in the dispatch table");

// Whether the machine rebooted since this data directory was last used: the
// kernel's boot id differs from the one recorded in <data_dir>/boot_id (a
// power loss or kernel crash may have dropped unsynced writes; a process
// crash does not). Records the current one. Where the kernel offers no boot
// id, a reboot is assumed (the safe answer).
Result<bool> CheckBootId(storage::FileSystem& fs, const std::string& data_dir) {
  std::string current;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> current;
  const std::string path = data_dir + "/boot_id";
  std::string recorded;
  const bool had_record = static_cast<bool>(std::ifstream(path) >> recorded);
  const bool restarted = had_record && (current.empty() || recorded != current);
  if (current.empty() || current != recorded) {
    const std::string line = current + "\n";
    TELEMQ_TRY(storage::ReplaceFileAtomically(fs, path, std::as_bytes(std::span(line.data(), line.size()))));
    TELEMQ_TRY(fs.SyncDir(data_dir));
  }
  if (restarted) log::Warn("machine rebooted since the data directory was last used", {{"path", data_dir}});
  return restarted;
}

// This broker's id: the configured one, else the one recorded in the data
// directory, else (in a cluster) the ordinal of a StatefulSet-style host
// name, else 0. Recorded at first start; a data directory recorded for
// another id refuses to start.
Result<int32_t> ResolveBrokerId(storage::FileSystem& fs, const BrokerConfig& config) {
  const std::string path = config.data_dir + "/broker_id";
  std::optional<int32_t> recorded;
  {
    std::ifstream in(path);
    std::string text;
    if (in >> text) {
      char* end = nullptr;
      const long v = std::strtol(text.c_str(), &end, 10);
      if (end == nullptr || *end != '\0' || v < 0 || v > 8388607) {
        return Fail(Errc::kCorrupt, path + " does not hold a broker id ('" + text + "')");
      }
      recorded = static_cast<int32_t>(v);
    }
  }
  int32_t id = config.node_id;
  if (id < 0 && recorded) id = *recorded;
  if (id < 0 && !config.peers.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    const std::string name(host);
    const auto dash = name.rfind('-');
    if (dash == std::string::npos || dash + 1 == name.size() ||
        name.find_first_not_of("0123456789", dash + 1) != std::string::npos || name.size() - dash - 1 > 7) {
      return Fail(Errc::kInvalidArgument, "node_id is not set and the host name '" + name +
                                              "' does not end in -N (a StatefulSet ordinal) to derive it from");
    }
    id = std::stoi(name.substr(dash + 1));
    log::Info("broker id from host name", {{"broker", id}, {"host", name}});
  }
  if (id < 0) id = 0;
  if (!config.peers.empty() && static_cast<size_t>(id) >= config.peers.size()) {
    return Fail(Errc::kInvalidArgument, "broker id " + std::to_string(id) + " has no entry in peers (" +
                                            std::to_string(config.peers.size()) + " listed)");
  }
  if (recorded && *recorded != id) {
    return Fail(Errc::kInvalidArgument, "data directory " + config.data_dir + " belongs to broker " +
                                            std::to_string(*recorded) + ", not broker " + std::to_string(id) +
                                            " (a volume attached to the wrong broker?); refusing to start");
  }
  if (!recorded) {
    const std::string line = std::to_string(id) + "\n";
    TELEMQ_TRY(storage::ReplaceFileAtomically(fs, path, std::as_bytes(std::span(line.data(), line.size()))));
    TELEMQ_TRY(fs.SyncDir(config.data_dir));
  }
  return id;
}

// The topic id a partition directory was created for (`topic_id` in it);
// nullopt if it has none.
constexpr std::string_view kTopicIdFile = "topic_id";

}  // namespace

void RemoteLeaders::Update(int32_t broker, const std::vector<cluster::Leadership>& claims) {
  std::lock_guard lock(mu_);
  std::erase_if(leaders_, [broker](const auto& kv) { return kv.second.broker == broker; });
  for (const auto& c : claims) {
    auto& slot = leaders_[{c.topic_id, c.partition}];
    if (c.term >= slot.term) slot = Claim{broker, c.term};
  }
}

RemoteLeaders::Claim RemoteLeaders::Get(uint64_t topic_id, int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = leaders_.find({topic_id, partition});
  return it == leaders_.end() ? Claim{} : it->second;
}

Result<void> ReadLogRecords(const storage::PartitionLog& log, Offset from, Offset end,
                            const std::function<void(const wire::BatchHeader&, const wire::RecordView*)>& visit) {
  wire::BatchReader reader;
  while (from < end) {
    TELEMQ_ASSIGN_OR_RETURN(auto read, log.Read(from, 4 << 20, end));
    if (read.total_bytes == 0) break;
    std::vector<std::byte> bytes(read.total_bytes);
    size_t pos = 0;
    for (const auto& range : read.ranges) {
      TELEMQ_ASSIGN_OR_RETURN(auto n, range.file->PRead(range.position, std::span(bytes.data() + pos, range.size)));
      if (n != range.size) return Fail(Errc::kIo, "short read of " + range.file->path());
      pos += range.size;
    }
    wire::BatchIterator it(bytes);
    while (!it.Done()) {
      wire::BatchHeader h;
      TELEMQ_ASSIGN_OR_RETURN(auto batch, it.Next(&h));
      if (h.is_control()) {
        visit(h, nullptr);
        continue;
      }
      TELEMQ_TRY(reader.Decode(batch, h, [&](const wire::RecordView& r) { visit(h, &r); }));
    }
    from = read.next_offset;
  }
  return Ok();
}

Broker::Broker(std::unique_ptr<BrokerState> state) : state_(std::move(state)) {}
Broker::~Broker() {
  // The metrics may outlive this broker: no scrape may reach its state now.
  state_->metrics->DetachState();
}

Result<std::unique_ptr<Broker>> Broker::Open(const BrokerConfig& config, asio::io_context& io,
                                             storage::FileSystem* file_system, BrokerMetrics* metrics) {
  auto state =
      std::make_unique<BrokerState>(config, io, file_system ? *file_system : storage::PosixFileSystem::Default());
  if (metrics == nullptr) {
    state->own_metrics = std::make_unique<BrokerMetrics>(config.produce_memory_bytes);
    metrics = state->own_metrics.get();
  }
  state->metrics = metrics;
  storage::FileSystem& fs = state->file_system;
  TELEMQ_TRY(fs.CreateDir(config.data_dir));
  TELEMQ_ASSIGN_OR_RETURN(state->config.node_id, ResolveBrokerId(fs, config));
  const int32_t self = state->config.node_id;
  TELEMQ_ASSIGN_OR_RETURN(const bool old_layout, fs.Exists(config.data_dir + "/meta"));
  if (old_layout) {
    return Fail(Errc::kInvalidArgument, "data directory " + config.data_dir +
                                            " was written by a single-broker release (it has meta/, not metadata/); "
                                            "start with an empty data directory");
  }
  TELEMQ_ASSIGN_OR_RETURN(state->machine_restarted, CheckBootId(fs, config.data_dir));
  TELEMQ_ASSIGN_OR_RETURN(auto store, cluster::MetadataStore::Open(config.data_dir + "/metadata"));
  const cluster::MetadataImage image = store->loaded();
  const auto voters = Controller::Voters(state->cluster_size(), self);
  const bool voter = std::find(voters.begin(), voters.end(), self) != voters.end();
  // The log manager opens (recovering) every partition directory of a topic
  // the image places here, and removes the others (topics deleted, or moved
  // away, before a crash).
  TELEMQ_ASSIGN_OR_RETURN(
      state->logs,
      storage::LogManager::Open(fs, config.data_dir, state->LogOptionsFor(TopicSpec{}),
                                [&](const std::string& topic, PartitionId p) -> std::optional<storage::LogOptions> {
                                  if (topic == cluster::kControllerTopic) {
                                    // Every broker holds the controller log (voters and learners).
                                    return p.value() == 0
                                               ? std::optional(state->LogOptionsFor(BrokerState::ControllerTopicSpec()))
                                               : std::nullopt;
                                  }
                                  const auto* t = image.Find(topic);
                                  if (t == nullptr || p.value() >= t->spec.partitions) return std::nullopt;
                                  const auto& set = t->replicas[static_cast<size_t>(p.value())];
                                  if (std::find(set.begin(), set.end(), self) == set.end()) return std::nullopt;
                                  return state->LogOptionsFor(t->spec);
                                }));
  state->flusher = std::make_unique<storage::Flusher>(config.fsync_interval);
  state->flusher->SetSyncObserver([metrics](std::chrono::nanoseconds d) { metrics->FsyncDone(d); });
  state->flusher->Start();
  state->syncer = std::make_unique<FlusherSyncer>(*state->flusher);
  state->replicas = std::make_unique<replication::ReplicaManager>();
  PeerTransport::Options peer_options;
  peer_options.self = self;
  peer_options.peers = config.peers;
  peer_options.liveness_timeout = config.liveness_timeout;
  peer_options.max_frame_bytes = config.max_frame_bytes;
  peer_options.leaderships = [s = state.get()] {
    std::vector<cluster::Leadership> out;
    for (const auto& r : s->replicas->All()) {
      if (r->leading()) out.push_back({r->topic_id(), r->key().partition.value(), r->term().value()});
    }
    return out;
  };
  state->transport = std::make_unique<PeerTransport>(io, std::move(peer_options));
  state->controller = std::make_shared<Controller>(*state, std::move(store));
  TELEMQ_TRY(state->controller->Start());
  // The replicas the image places here, as they were.
  state->OnMetadata(state->controller->image());
  log::Info("broker opened", {{"broker", self},
                              {"path", config.data_dir},
                              {"cluster_size", state->cluster_size()},
                              {"controller_voter", voter},
                              {"topic_count", image.topics.size()}});
  metrics->AttachState([s = state.get()](telemq::metrics::FamilyWriter& w) { CollectStateMetrics(*s, w); });
  return std::unique_ptr<Broker>(new Broker(std::move(state)));
}

void Broker::SetAdvertisedAddress(std::string host, uint16_t port) {
  state_->advertised_host = std::move(host);
  state_->advertised_port = port;
  state_->transport->SetIdentity(state_->controller->image()->cluster_id, state_->advertised_host, port);
}

void Broker::Handle(const wire::RequestHeader& header, std::span<const std::byte> body, std::span<std::byte> payload,
                    std::shared_ptr<const void> frame, Reply reply) {
  if (header.api_version != 1) {
    reply(MakeErrorResponse(Errc::kUnsupportedVersion,
                            "api " + std::string(wire::ApiKeyName(header.api_key)) + " version " +
                                std::to_string(header.api_version) + " is not supported (only 1)",
                            true));
    return;
  }
  const auto key = static_cast<uint16_t>(header.api_key);
  if (key >= kRoutes.size()) {
    reply(MakeErrorResponse(Errc::kUnsupportedVersion, "unknown api key " + std::to_string(key), true));
    return;
  }
  kRoutes[key](*state_, Request{header, body, payload, std::move(frame)}, reply);
}

TopicSpec BrokerState::OffsetsTopicSpec() const {
  TopicSpec spec;
  spec.partitions = config.offsets_partitions;
  spec.replication_factor = 1;
  // Bounded by time retention: the coordinator rewrites every live group in
  // a snapshot every 10 minutes (GroupCoordinator::Options), so segments
  // rolled every 10 minutes and kept 40 minutes always hold a whole
  // snapshot (retention >= 2 * snapshot interval + roll time, docs/groups.md).
  spec.retention_ms = 40 * 60 * 1000;
  spec.retention_bytes = -1;
  spec.segment_bytes = 16 << 20;
  spec.segment_ms = 10 * 60 * 1000;
  return spec;
}

TopicSpec BrokerState::ControllerTopicSpec() {
  TopicSpec spec;
  spec.partitions = 1;
  spec.retention_ms = -1;
  spec.retention_bytes = -1;
  spec.segment_bytes = 16 << 20;
  return spec;
}

namespace {

replication::ReplicaOptions BaseReplicaOptions(const BrokerState& s, const std::string& topic, int32_t index) {
  replication::ReplicaOptions o;
  o.key = {topic, PartitionId(index)};
  o.self = RaftNodeOf(s.config.node_id);
  o.fsync = s.config.fsync == FsyncMode::kAlways ? storage::FsyncPolicy::kAlways : storage::FsyncPolicy::kInterval;
  o.unsynced_writes_may_be_lost = s.machine_restarted;
  o.observer = s.metrics;
  o.election_ticks = s.config.election_ticks;
  // A heartbeat every few ticks (300 ms with the defaults) keeps followers
  // well inside the election timeout at a third of the idle traffic.
  o.heartbeat_ticks = std::max(1, s.config.election_ticks / 3);
  o.seed = std::hash<std::string>{}(topic) ^ (static_cast<uint64_t>(index) << 32) ^
           static_cast<uint64_t>(s.config.node_id) ^ static_cast<uint64_t>(NowMs());
  return o;
}

}  // namespace

Result<std::shared_ptr<replication::Replica>> BrokerState::OpenControllerReplica(const std::vector<int32_t>& voters,
                                                                                 const std::vector<int32_t>& learners) {
  const std::string topic(cluster::kControllerTopic);
  auto log = logs->Get(topic, PartitionId(0));
  if (!log) {
    TELEMQ_ASSIGN_OR_RETURN(log, logs->Create(topic, PartitionId(0), LogOptionsFor(ControllerTopicSpec())));
  }
  auto o = BaseReplicaOptions(*this, topic, 0);
  o.topic_id = cluster::kControllerTopicId;
  for (int32_t b : voters) o.voters.push_back(RaftNodeOf(b));
  for (int32_t b : learners) o.learners.push_back(RaftNodeOf(b));
  return StartReplica(std::move(o), std::move(log));
}

Result<std::shared_ptr<replication::Replica>> BrokerState::StartReplica(replication::ReplicaOptions o,
                                                                        std::shared_ptr<storage::PartitionLog> log) {
  // One replica serves nobody from its entry cache, and a cached entry pins
  // its whole request frame: no cache without followers.
  if (o.voters.size() == 1 && o.learners.empty()) o.raft_log.cache_bytes = 0;
  if (config.fsync == FsyncMode::kInterval) flusher->Register(log);
  auto replica = replication::Replica::Open(std::move(o), log, file_system, std::make_unique<StrandExecutor>(io),
                                            *syncer, *transport, clock);
  if (!replica) {
    if (config.fsync == FsyncMode::kInterval) flusher->Unregister(log.get());
    return tl::unexpected(replica.error());
  }
  replicas->Add(*replica);
  return *replica;
}

Result<std::shared_ptr<replication::Replica>> BrokerState::OpenReplica(const Topic& topic, int32_t index) {
  const PartitionId p(index);
  auto log = logs->Get(topic.name, p);
  const std::string id_text = std::to_string(topic.id) + "\n";
  if (log) {
    // A directory of an older topic of the same name (deleted and created
    // again while this broker was down) is not this topic's.
    std::ifstream in(log->dir() + "/" + std::string(kTopicIdFile));
    uint64_t recorded = 0;
    if (!(in >> recorded) || recorded != topic.id) {
      log::Info("partition directory belongs to another incarnation of the topic; removing it",
                {{"topic", topic.name}, {"partition", index}});
      if (config.fsync == FsyncMode::kInterval) flusher->Unregister(log.get());
      TELEMQ_TRY(logs->Remove(topic.name, p));
      log = nullptr;
    }
  }
  const bool created = !log;
  if (created) {
    TELEMQ_ASSIGN_OR_RETURN(log, logs->Create(topic.name, p, LogOptionsFor(topic.spec)));
    auto written = storage::ReplaceFileAtomically(file_system, log->dir() + "/" + std::string(kTopicIdFile),
                                                  std::as_bytes(std::span(id_text.data(), id_text.size())));
    if (!written) {
      IgnoreError(logs->Remove(topic.name, p), "rolling back a partition that did not open");
      return tl::unexpected(written.error());
    }
  }
  auto o = BaseReplicaOptions(*this, topic.name, index);
  o.topic_id = topic.id;
  const auto& set = topic.replicas[static_cast<size_t>(index)];
  for (int32_t b : set) o.voters.push_back(RaftNodeOf(b));
  // The preferred leader of a new partition leads first.
  o.campaign_at_start = created && set.front() == config.node_id;
  auto replica = StartReplica(std::move(o), log);
  if (!replica && created) IgnoreError(logs->Remove(topic.name, p), "rolling back a partition that did not open");
  return replica;
}

void BrokerState::OnMetadata(ImageRef image) {
  const int32_t self = config.node_id;
  bool topics_changed = false;
  bool retry = false;
  {
    std::unique_lock lock(topics_mu);
    // Callers read the image before taking the lock: reconcile with the
    // newest one, never go back to an older one (it would remove replicas
    // of topics created since, or reopen deleted ones).
    if (controller) {
      auto latest = controller->image();
      if (latest->applied > image->applied) image = latest;
    }
    if (image->applied < reconciled_applied) return;  // equal: a retry of the same image
    reconciled_applied = image->applied;
    // Replicas of topics that are gone, or were replaced by a new topic of
    // the same name, or no longer placed here.
    std::map<std::string, std::vector<std::shared_ptr<replication::Replica>>> gone;
    for (auto& r : replicas->All()) {
      if (r->key().topic == cluster::kControllerTopic) continue;
      const auto* t = image->Find(r->key().topic);
      const int32_t p = r->key().partition.value();
      bool keep = t != nullptr && t->id == r->topic_id() && p < t->spec.partitions;
      if (keep) {
        const auto& set = t->replicas[static_cast<size_t>(p)];
        keep = std::find(set.begin(), set.end(), self) != set.end();
      }
      if (!keep) gone[r->key().topic].push_back(r);
    }
    for (auto& [name, list] : gone) {
      log::Info("removing replicas of a deleted or replaced topic", {{"topic", name}, {"replica_count", list.size()}});
      RemoveTopicReplicasLocked(name, std::move(list), [this] {
        // The name may be waiting to be opened again (recreated).
        auto controller_ref = controller;
        if (controller_ref) OnMetadata(controller_ref->image());
      });
    }
    // Replicas placed here that are not open yet.
    for (const auto& [name, t] : image->topics) {
      if (deleting.count(name)) {
        retry = true;  // opened once the old incarnation's logs are gone
        continue;
      }
      for (int32_t p = 0; p < t.spec.partitions; ++p) {
        const auto& set = t.replicas[static_cast<size_t>(p)];
        if (std::find(set.begin(), set.end(), self) == set.end()) continue;
        auto existing = Find(name, p);
        if (existing && existing->topic_id() == t.id) continue;
        auto opened = OpenReplica(t, p);
        if (!opened) {
          log::Error("cannot open partition",
                     {{"topic", name}, {"partition", p}, {"error", opened.error().ToString()}});
          retry = true;
        }
      }
    }
    std::map<std::string, Topic> next(image->topics.begin(), image->topics.end());
    topics_changed = next != topics;
    topics = std::move(next);
    // The group coordinator exists once its topic does.
    if (!groups) {
      if (const auto* offsets = image->Find(kOffsetsTopic)) {
        GroupCoordinator::Options options;
        options.shards = offsets->spec.partitions;
        options.initial_shards = GroupCoordinator::InitialShards::kInactive;
        options.heartbeat_interval = config.group_heartbeat_interval;
        options.min_session_timeout = config.group_min_session_timeout;
        options.max_session_timeout = config.group_max_session_timeout;
        GroupCoordinator::Hooks hooks;
        hooks.append_in_term = [this](int32_t shard, Term term, std::vector<OffsetsRecord> records,
                                      GroupCoordinator::Done done) {
          AppendGroupRecords(shard, term, std::move(records), std::move(done));
        };
        hooks.high_watermark = [this](const std::string& topic, int32_t partition) -> int64_t {
          auto replica = Find(topic, partition);
          return replica ? replica->high_watermark().value() : -1;
        };
        groups = std::make_shared<GroupCoordinator>(options, std::move(hooks));
        topics_changed = true;
      }
    }
  }
  if (retry) {
    log::Debug("metadata applied partially; the next tick retries");
    needs_reconcile = true;  // only ever set here; the tick clears it when it retries
  }
  if (topics_changed) PublishTopicsToGroups();
}

void BrokerState::PublishTopicsToGroups() {
  std::lock_guard lock(group_topics_mu);
  if (auto g = Groups()) g->UpdateTopics(UserTopics());
}

BrokerState::LeaderInfo BrokerState::LeaderOf(const Topic& topic, int32_t partition) const {
  LeaderInfo out;
  if (auto r = Find(topic.name, partition); r && r->topic_id() == topic.id) {
    if (r->leader() != raft::kNoNode) out = {BrokerOf(r->leader()), r->term().value()};
  }
  auto claim = remote_leaders.Get(topic.id, partition);
  if (claim.broker >= 0 && claim.term > out.term) out = {claim.broker, claim.term};
  return out;
}

std::optional<BrokerState::LeaderInfo> BrokerState::KnownLeader(const std::string& topic, int32_t partition) {
  std::shared_lock lock(topics_mu);
  auto it = topics.find(topic);
  if (it == topics.end() || partition < 0 || partition >= it->second.spec.partitions) return std::nullopt;
  auto info = LeaderOf(it->second, partition);
  if (info.broker < 0) return std::nullopt;
  return info;
}

std::optional<std::pair<std::string, uint16_t>> BrokerState::AddressOf(int32_t broker) const {
  if (broker == config.node_id && !advertised_host.empty()) return std::make_pair(advertised_host, advertised_port);
  auto image = controller->image();
  auto it = image->brokers.find(broker);
  if (it == image->brokers.end()) return std::nullopt;
  return std::make_pair(it->second.host, it->second.port);
}

void BrokerState::RemoveReplica(const std::shared_ptr<replication::Replica>& replica, std::function<void()> done) {
  replicas->Remove(replica->key());
  // Stopped on its strand, so nothing of it runs while the log goes away
  // (fetches holding file ranges keep reading what they hold).
  replica->executor().Post([this, replica, done = std::move(done)] {
    replica->Shutdown();
    if (config.fsync == FsyncMode::kInterval) flusher->Unregister(&replica->log());
    IgnoreError(logs->Remove(replica->key().topic, replica->key().partition), "the topic is being deleted");
    done();
  });
}

void BrokerState::RemoveTopicReplicasLocked(const std::string& name,
                                            std::vector<std::shared_ptr<replication::Replica>> gone,
                                            std::function<void()> done) {
  if (gone.empty()) return done();
  deleting.insert(name);
  auto remaining = std::make_shared<std::atomic<size_t>>(gone.size());
  auto finish = [this, name, done = std::move(done)] {
    {
      std::unique_lock lock(topics_mu);
      deleting.erase(name);
    }
    done();
  };
  for (auto& r : gone) {
    RemoveReplica(r, [remaining, finish] {
      if (remaining->fetch_sub(1) == 1) finish();
    });
  }
}

void BrokerState::WhenServing(const std::vector<std::shared_ptr<replication::Replica>>& replicas,
                              std::chrono::milliseconds timeout, std::function<void(bool)> done) {
  struct Barrier {
    std::mutex mu;
    size_t remaining = 0;
    bool finished = false;
    std::function<void(bool)> done;
    std::unique_ptr<asio::steady_timer> timer;
    void Finish(bool ok) {
      std::function<void(bool)> cb;
      {
        std::lock_guard lock(mu);
        if (finished) return;
        finished = true;
        cb = std::move(done);
        if (timer) timer->cancel();
      }
      cb(ok);
    }
  };
  auto barrier = std::make_shared<Barrier>();
  barrier->remaining = replicas.size();
  barrier->done = std::move(done);
  if (replicas.empty()) return barrier->Finish(true);
  {
    std::lock_guard lock(barrier->mu);
    barrier->timer = std::make_unique<asio::steady_timer>(io, timeout);
    barrier->timer->async_wait([barrier](const std::error_code& ec) {
      if (!ec) barrier->Finish(false);
    });
  }
  for (const auto& r : replicas) {
    r->executor().Post([r, barrier] {
      r->WhenServing([barrier] {
        bool last = false;
        {
          std::lock_guard lock(barrier->mu);
          last = --barrier->remaining == 0;
        }
        if (last) barrier->Finish(true);
      });
    });
  }
}

namespace {

// Polls `ready` every 20 ms on `io` until it holds or `timeout` passes, then
// calls `done` once.
void PollUntil(asio::io_context& io, std::chrono::milliseconds timeout, std::function<bool()> ready,
               std::function<void()> done) {
  struct Poll : std::enable_shared_from_this<Poll> {
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point deadline;
    std::function<bool()> ready;
    std::function<void()> done;
    explicit Poll(asio::io_context& io) : timer(io) {}
    void Check() {
      if (ready() || std::chrono::steady_clock::now() >= deadline) return done();
      timer.expires_after(std::chrono::milliseconds(20));
      timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (ec) return self->done();  // the broker is stopping
        self->Check();
      });
    }
  };
  auto poll = std::make_shared<Poll>(io);
  poll->deadline = std::chrono::steady_clock::now() + timeout;
  poll->ready = std::move(ready);
  poll->done = std::move(done);
  poll->Check();
}

}  // namespace

void BrokerState::WhenLeadersKnown(const std::string& name, std::chrono::milliseconds timeout,
                                   std::function<void()> done) {
  PollUntil(
      io, timeout,
      [this, name] {
        std::shared_lock lock(topics_mu);
        auto it = topics.find(name);
        if (it == topics.end()) return false;
        for (int32_t p = 0; p < it->second.spec.partitions; ++p) {
          if (LeaderOf(it->second, p).broker < 0) return false;
        }
        return true;
      },
      std::move(done));
}

void BrokerState::WhenRemoved(const std::string& name, std::chrono::milliseconds timeout, std::function<void()> done) {
  PollUntil(
      io, timeout,
      [this, name] {
        std::shared_lock lock(topics_mu);
        if (deleting.count(name)) return false;
        auto it = topics.find(name);
        for (const auto& r : replicas->All()) {
          if (r->key().topic == name && (it == topics.end() || it->second.id != r->topic_id())) return false;
        }
        return true;
      },
      std::move(done));
}

void BrokerState::AppendGroupRecords(int32_t shard, Term term, std::vector<OffsetsRecord> records,
                                     std::function<void(Result<void>)> done) {
  auto replica = Find(kOffsetsTopic, shard);
  if (!replica) {
    done(Fail(Errc::kNotLeader, "__consumer_offsets partition " + std::to_string(shard) + " is not here"));
    return;
  }
  wire::BatchBuilder builder;
  const int64_t now = NowMs();
  for (const auto& r : records) {
    builder.Add(now, r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
  }
  auto built = builder.Finish();
  if (!built) {
    done(tl::unexpected(built.error()));
    return;
  }
  auto bytes = std::make_shared<std::vector<std::byte>>(std::move(*built));
  auto header = wire::DecodeHeader(*bytes);
  if (!header) {
    done(tl::unexpected(header.error()));
    return;
  }
  replication::ProduceBatch batch{std::span<std::byte>(*bytes), *header};
  replica->executor().Post([replica, term, batch, bytes, done = std::move(done)]() mutable {
    // Fenced by the term the shard was loaded in: a change computed from an
    // older leadership's state must not land in a newer term's log.
    if (term != Term(0) && (!replica->leading() || replica->term() != term)) {
      return done(Fail(Errc::kNotLeader,
                       replica->key().ToString() + " is no longer led here in term " + std::to_string(term.value())));
    }
    replica->Produce({batch}, bytes, replication::Acks::kAll, [done = std::move(done)](replication::ProduceResult r) {
      if (r.error != Errc::kOk) return done(Fail(r.error, r.message));
      done(Ok());
    });
  });
}

void BrokerState::FollowGroupLeadership() {
  auto g = Groups();
  if (!g) return;
  std::lock_guard tick_lock(group_tick_mu);
  const int32_t shards = [&] {
    std::shared_lock lock(topics_mu);
    auto it = topics.find(std::string(kOffsetsTopic));
    return it == topics.end() ? 0 : it->second.spec.partitions;
  }();
  for (int32_t shard = 0; shard < shards; ++shard) {
    auto replica = Find(kOffsetsTopic, shard);
    const bool serving = replica && replica->serving() && !draining.load();
    const int64_t term = serving ? replica->term().value() : 0;
    auto loaded = loaded_shards.find(shard);
    if (serving && (loaded == loaded_shards.end() || loaded->second != term)) {
      // Became leader (again, or in a new term): load the shard's groups
      // from its log, on the replica's strand so that nothing is appended
      // meanwhile.
      loaded_shards[shard] = term;
      g->BeginLoading(shard, Term(term));
      replica->executor().Post([g, replica, shard, term] {
        if (!replica->leading() || replica->term().value() != term) return;  // the next tick resigns
        storage::PartitionLog& log = replica->log();
        size_t replayed = 0;
        Result<void> status = Ok();
        auto read = ReadLogRecords(log, log.log_start_offset(), log.log_end_offset(),
                                   [&](const wire::BatchHeader&, const wire::RecordView* r) {
                                     if (!status || r == nullptr || !r->key) return;
                                     status = g->Replay(shard, Term(term), *r->key, r->value);
                                     ++replayed;
                                   });
        if (!read) status = read;
        if (!status) {
          if (status.error().code() != Errc::kNotLeader) {
            log::Error("loading group shard failed", {{"shard", shard}, {"error", status.error().ToString()}});
            g->Resign(shard);
          }
          return;
        }
        g->FinishLoading(shard, Term(term));
        log::Debug("group shard replayed", {{"shard", shard}, {"record_count", replayed}, {"term", term}});
      });
    } else if (!serving && loaded != loaded_shards.end()) {
      loaded_shards.erase(loaded);
      g->Resign(shard);
      log::Info("group shard no longer coordinated here", {{"shard", shard}});
    }
  }
}

void Broker::RunGroupTick() {
  state_->FollowGroupLeadership();
  if (auto g = state_->Groups()) g->Tick();
}

void Broker::RunRetention() {
  // Each replica applies retention on its own strand: only it knows what is
  // committed, and only it may change its log.
  for (auto& r : state_->replicas->All()) {
    r->executor().Post([r] {
      auto removed = r->ApplyRetention();
      if (!removed) {
        log::Warn(
            "retention failed",
            {{"topic", r->key().topic}, {"partition", r->key().partition}, {"error", removed.error().ToString()}});
      } else if (*removed > 0) {
        log::Info("retention removed segments",
                  {{"topic", r->key().topic}, {"partition", r->key().partition}, {"segment_count", *removed}});
      }
    });
  }
}

void Broker::RunRaftTick() {
  for (auto& r : state_->replicas->All()) r->executor().Post([r] { r->Tick(); });
  state_->controller->Tick();
  // The cluster id joins the peer frames once the controller log names it.
  const auto image = state_->controller->image();
  if (!image->cluster_id.empty() && !state_->identity_sent) {
    state_->transport->SetIdentity(image->cluster_id, state_->advertised_host, state_->advertised_port);
    state_->identity_sent = true;
  }
  if (state_->needs_reconcile.exchange(false)) {
    // Opening replicas is disk work: not on the Raft clock's thread.
    asio::post(state_->io, [s = state_.get()] { s->OnMetadata(s->controller->image()); });
  }
}

void Broker::BalanceLeaders() {
  if (state_->draining.load() || state_->cluster_size() == 1) return;
  // Leadership goes back to each partition's preferred replica (the first
  // of its set) when that broker is up: the placement spread leaders evenly,
  // and restarts should not concentrate them.
  for (auto& r : state_->replicas->All()) {
    if (r->key().topic == cluster::kControllerTopic || !r->leading()) continue;
    const NodeId preferred = r->voters().front();
    if (preferred == r->leader() || !state_->transport->IsLive(BrokerOf(preferred))) continue;
    r->executor().Post([r, preferred] {
      // Only to a replica holding everything committed: while a transfer
      // waits, the leader refuses writes (until it is abandoned, an election
      // timeout later), so a lagging preferred replica would stall them.
      if (!r->leading() || r->node().MatchOf(preferred) < r->node().commit()) return;
      if (auto t = r->TransferLeadership(preferred); t) {
        log::Info("handing leadership back to the preferred broker",
                  {{"topic", r->key().topic}, {"partition", r->key().partition}, {"broker", BrokerOf(preferred)}});
      }
    });
  }
}

bool Broker::DrainLeadership(std::chrono::milliseconds timeout) {
  state_->draining = true;
  if (state_->cluster_size() == 1) return true;
  PeerTransport& transport = *state_->transport;
  auto live = [&transport](NodeId n) { return transport.IsLive(BrokerOf(n)); };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t leading = 0;
  for (;;) {
    // Partitions led here that another live replica could take.
    leading = 0;
    for (auto& r : state_->replicas->All()) {
      if (!r->leading()) continue;
      const auto& voters = r->voters();
      if (std::none_of(voters.begin(), voters.end(), [&](NodeId v) { return v != r->leader() && live(v); })) continue;
      ++leading;
      r->executor().Post([r, live] {
        const NodeId target = r->TransferTarget(live);
        if (target != raft::kNoNode && r->node().transfer_target() == raft::kNoNode) {
          IgnoreError(r->TransferLeadership(target), "shutting down: the next round retries");
        }
      });
    }
    if (leading == 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (leading > 0) {
    log::Warn("still leading partitions after the drain timeout; stopping anyway",
              {{"broker", state_->config.node_id}, {"partition_count", leading}, {"timeout_ms", timeout.count()}});
  } else {
    log::Info("handed off every leadership another broker could take", {{"broker", state_->config.node_id}});
  }
  return leading == 0;
}

void Broker::StartPeers() { state_->transport->Start(); }

int32_t Broker::id() const { return state_->config.node_id; }

bool Broker::AwaitServing(std::chrono::milliseconds timeout) {
  // Ready: the metadata names this broker and, for every partition placed
  // here, some broker leads it (a single broker: it leads them all).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto image = state_->controller->image();
    bool ready = image->brokers.count(state_->config.node_id) > 0 && image->Find(kOffsetsTopic) != nullptr;
    if (ready) {
      std::shared_lock lock(state_->topics_mu);
      for (const auto& [name, t] : state_->topics) {
        for (int32_t p = 0; p < t.spec.partitions && ready; ++p) {
          const auto& set = t.replicas[static_cast<size_t>(p)];
          if (std::find(set.begin(), set.end(), state_->config.node_id) == set.end()) continue;
          auto r = state_->Find(name, p);
          ready = r && r->leader() != raft::kNoNode && (!r->leading() || r->serving());
        }
      }
    }
    if (ready) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Readiness Broker::CheckReadiness() const {
  Readiness out;
  const int32_t self = state_->config.node_id;
  auto image = state_->controller->image();
  {
    std::shared_lock lock(state_->topics_mu);
    for (const auto& [name, t] : state_->topics) {
      for (int32_t p = 0; p < t.spec.partitions; ++p) {
        const auto& set = t.replicas[static_cast<size_t>(p)];
        if (std::find(set.begin(), set.end(), self) == set.end()) continue;
        ++out.replicas;
        auto r = state_->Find(name, p);
        if (r && r->leading() && r->serving()) ++out.leading;
        if (!r || !r->caught_up()) {
          if (out.not_caught_up++ == 0) out.example = name + "/" + std::to_string(p);
        }
      }
    }
  }
  if (!image->brokers.count(self)) {
    out.reason = "broker " + std::to_string(self) + " is not registered with the controller yet";
  } else if (!state_->controller->leading() && state_->controller->leader() < 0) {
    out.reason = "no controller leader known";
  } else if (out.not_caught_up > 0) {
    out.reason = std::to_string(out.not_caught_up) + " of " + std::to_string(out.replicas) +
                 " partition replicas have no leader or are behind it (e.g. " + out.example + ")";
  }
  out.ready = out.reason.empty();
  return out;
}

Result<void> Broker::Close() {
  // The I/O threads have stopped: nothing runs on the strands any more, so
  // the replicas are stopped here directly.
  state_->transport->Stop();
  state_->flusher->Stop();
  for (auto& r : state_->replicas->All()) r->Shutdown();
  {
    std::unique_lock lock(state_->topics_mu);
    state_->topics.clear();
  }
  return state_->logs->CloseAll();
}

}  // namespace telemq::broker
