#include "broker/server/broker.h"

#include <spdlog/spdlog.h>

#include <array>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <utility>

#include "broker/server/broker_state.h"
#include "telemq/common/check.h"
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
  if (restarted) spdlog::warn("the machine rebooted since {} was last used", data_dir);
  return restarted;
}

}  // namespace

Broker::Broker(std::unique_ptr<BrokerState> state) : state_(std::move(state)) {}
Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::Open(const BrokerConfig& config, asio::io_context& io,
                                             storage::FileSystem* file_system) {
  auto state =
      std::make_unique<BrokerState>(config, io, file_system ? *file_system : storage::PosixFileSystem::Default());
  TELEMQ_TRY(state->file_system.CreateDir(config.data_dir));
  TELEMQ_ASSIGN_OR_RETURN(state->machine_restarted, CheckBootId(state->file_system, config.data_dir));
  TELEMQ_ASSIGN_OR_RETURN(state->registry, TopicRegistry::Open(config.data_dir + "/meta"));
  // The log manager opens (recovering) every partition directory of a known
  // topic and removes those of topics deleted just before a crash.
  const auto specs = state->registry->List();
  TELEMQ_ASSIGN_OR_RETURN(
      state->logs,
      storage::LogManager::Open(state->file_system, config.data_dir, state->LogOptionsFor(TopicSpec{}),
                                [&](const std::string& topic, PartitionId p) -> std::optional<storage::LogOptions> {
                                  auto it = specs.find(topic);
                                  if (it == specs.end() || p.value() >= it->second.partitions) return std::nullopt;
                                  return state->LogOptionsFor(it->second);
                                }));
  state->flusher = std::make_unique<storage::Flusher>(config.fsync_interval);
  state->flusher->Start();
  state->syncer = std::make_unique<FlusherSyncer>(*state->flusher);
  state->replicas = std::make_unique<replication::ReplicaManager>();
  for (const auto& [name, spec] : specs) {
    for (int32_t p = 0; p < spec.partitions; ++p) TELEMQ_TRY(state->OpenReplica(name, p, spec));
    state->topics.emplace(name, Topic{spec});
  }
  TELEMQ_TRY(state->OpenGroups());
  spdlog::info("broker {} opened {} with {} topics", config.node_id, config.data_dir, state->topics.size());
  return std::unique_ptr<Broker>(new Broker(std::move(state)));
}

void Broker::SetAdvertisedAddress(std::string host, uint16_t port) {
  state_->advertised_host = std::move(host);
  state_->advertised_port = port;
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

Result<std::shared_ptr<replication::Replica>> BrokerState::OpenReplica(const std::string& topic, int32_t index,
                                                                       const TopicSpec& spec) {
  auto log = logs->Get(topic, PartitionId(index));
  const bool created = !log;
  if (created) {
    TELEMQ_ASSIGN_OR_RETURN(log, logs->Create(topic, PartitionId(index), LogOptionsFor(spec)));
  }
  replication::ReplicaOptions o;
  o.key = {topic, PartitionId(index)};
  o.self = RaftNodeOf(config.node_id);
  o.voters = {o.self};
  o.fsync = config.fsync == FsyncMode::kAlways ? storage::FsyncPolicy::kAlways : storage::FsyncPolicy::kInterval;
  o.unsynced_writes_may_be_lost = machine_restarted;
  // One replica serves nobody from its entry cache, and a cached entry pins
  // its whole request frame: no cache until there are followers.
  if (o.voters.size() == 1) o.raft_log.cache_bytes = 0;
  o.seed =
      std::hash<std::string>{}(topic) ^ (static_cast<uint64_t>(index) << 32) ^ static_cast<uint64_t>(config.node_id);
  if (config.fsync == FsyncMode::kInterval) flusher->Register(log);
  auto replica = replication::Replica::Open(std::move(o), log, file_system, std::make_unique<StrandExecutor>(io),
                                            *syncer, transport, clock);
  if (!replica) {
    if (config.fsync == FsyncMode::kInterval) flusher->Unregister(log.get());
    if (created) IgnoreError(logs->Remove(topic, PartitionId(index)), "rolling back a partition that did not open");
    return tl::unexpected(replica.error());
  }
  replicas->Add(*replica);
  return *replica;
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

void BrokerState::AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records,
                                     std::function<void(Result<void>)> done) {
  auto replica = Find(kOffsetsTopic, shard);
  if (!replica) {
    done(Fail(Errc::kNotFound, "__consumer_offsets partition " + std::to_string(shard) + " is missing"));
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
  replica->executor().Post([replica, batch, bytes, done = std::move(done)]() mutable {
    replica->Produce({batch}, bytes, replication::Acks::kAll, [done = std::move(done)](replication::ProduceResult r) {
      if (r.error != Errc::kOk) return done(Fail(r.error, r.message));
      done(Ok());
    });
  });
}

Result<void> BrokerState::OpenGroups() {
  const std::string name(kOffsetsTopic);
  if (!registry->Get(name)) {
    TopicSpec spec;
    spec.partitions = config.offsets_partitions;
    spec.retention_ms = -1;  // group state and offsets must not age out
    spec.retention_bytes = -1;
    spec.segment_bytes = 16 << 20;
    TELEMQ_TRY(registry->Create(name, spec));
    for (int32_t p = 0; p < spec.partitions; ++p) TELEMQ_TRY(OpenReplica(name, p, spec));
    topics.emplace(name, Topic{spec});
  }
  const int32_t shards = topics.at(name).spec.partitions;
  GroupCoordinator::Options options;
  options.shards = shards;
  options.heartbeat_interval = config.group_heartbeat_interval;
  options.min_session_timeout = config.group_min_session_timeout;
  options.max_session_timeout = config.group_max_session_timeout;
  GroupCoordinator::Hooks hooks;
  hooks.append = [this](int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done) {
    AppendGroupRecords(shard, std::move(records), std::move(done));
  };
  hooks.high_watermark = [this](const std::string& topic, int32_t partition) -> int64_t {
    auto replica = Find(topic, partition);
    return replica ? replica->high_watermark().value() : -1;
  };
  groups = std::make_unique<GroupCoordinator>(options, std::move(hooks));
  // Replay every shard's records: the groups come back as they were.
  size_t replayed = 0;
  for (int32_t shard = 0; shard < shards; ++shard) {
    auto replica = Find(name, shard);
    if (!replica) return Fail(Errc::kNotFound, "__consumer_offsets partition " + std::to_string(shard) + " is missing");
    storage::PartitionLog& log = replica->log();
    Offset from = log.log_start_offset();
    const Offset end = log.log_end_offset();
    wire::BatchReader reader;
    while (from < end) {
      TELEMQ_ASSIGN_OR_RETURN(auto read, log.Read(from, 4 << 20, end));
      if (read.total_bytes == 0) break;
      std::vector<std::byte> bytes(read.total_bytes);
      size_t pos = 0;
      for (const auto& range : read.ranges) {
        TELEMQ_ASSIGN_OR_RETURN(auto n, range.file->PRead(range.position, std::span(bytes.data() + pos, range.size)));
        if (n != range.size) return Fail(Errc::kIo, "short read replaying " + range.file->path());
        pos += range.size;
      }
      wire::BatchIterator it(bytes);
      Result<void> status = Ok();
      while (!it.Done() && status) {
        wire::BatchHeader h;
        TELEMQ_ASSIGN_OR_RETURN(auto batch, it.Next(&h));
        TELEMQ_TRY(reader.Decode(batch, h, [&](const wire::RecordView& r) {
          if (!status || !r.key) return;
          status = groups->Replay(shard, *r.key, r.value);
          ++replayed;
        }));
      }
      TELEMQ_TRY(status);
      from = read.next_offset;
    }
  }
  groups->UpdateTopics(UserTopics());
  if (replayed > 0) spdlog::info("replayed {} group record(s)", replayed);
  return Ok();
}

void Broker::RunGroupTick() { state_->groups->Tick(); }

void Broker::RunRetention() {
  // Each replica applies retention on its own strand: only it knows what is
  // committed, and only it may change its log.
  for (auto& r : state_->replicas->All()) {
    r->executor().Post([r] {
      auto removed = r->ApplyRetention();
      if (!removed) {
        spdlog::warn("retention on {} failed: {}", r->key().ToString(), removed.error().ToString());
      } else if (*removed > 0) {
        spdlog::info("retention removed {} segment(s) of {}", *removed, r->key().ToString());
      }
    });
  }
}

void Broker::RunRaftTick() {
  for (auto& r : state_->replicas->All()) r->executor().Post([r] { r->Tick(); });
}

bool Broker::AwaitServing(std::chrono::milliseconds timeout) {
  auto served = std::make_shared<std::promise<bool>>();
  auto result = served->get_future();
  state_->WhenServing(state_->replicas->All(), timeout, [served](bool ok) { served->set_value(ok); });
  return result.get();
}

Result<void> Broker::Close() {
  // The I/O threads have stopped: nothing runs on the strands any more, so
  // the replicas are stopped here directly.
  state_->flusher->Stop();
  for (auto& r : state_->replicas->All()) r->Shutdown();
  {
    std::unique_lock lock(state_->topics_mu);
    state_->topics.clear();
  }
  return state_->logs->CloseAll();
}

}  // namespace telemq::broker
