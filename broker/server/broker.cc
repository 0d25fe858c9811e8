#include "broker/server/broker.h"

#include <spdlog/spdlog.h>

#include <array>
#include <asio/io_context.hpp>
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

}  // namespace

Broker::Broker(std::unique_ptr<BrokerState> state) : state_(std::move(state)) {}
Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::Open(const BrokerConfig& config, asio::io_context& io,
                                             storage::FileSystem* file_system) {
  auto state =
      std::make_unique<BrokerState>(config, io, file_system ? *file_system : storage::PosixFileSystem::Default());
  TELEMQ_TRY(state->file_system.CreateDir(config.data_dir));
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
  for (const auto& [name, spec] : specs) {
    Topic topic{spec, {}};
    for (int32_t p = 0; p < spec.partitions; ++p) {
      TELEMQ_ASSIGN_OR_RETURN(auto part, state->OpenPartition(name, p, spec));
      topic.partitions.push_back(std::move(part));
    }
    state->topics.emplace(name, std::move(topic));
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
                    Reply reply) {
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
  kRoutes[key](*state_, Request{header, body, payload}, reply);
}

Result<std::shared_ptr<Partition>> BrokerState::OpenPartition(const std::string& topic, int32_t index,
                                                              const TopicSpec& spec) {
  auto part = std::make_shared<Partition>();
  part->topic = topic;
  part->index = index;
  part->log = logs->Get(topic, PartitionId(index));
  if (!part->log) {
    TELEMQ_ASSIGN_OR_RETURN(part->log, logs->Create(topic, PartitionId(index), LogOptionsFor(spec)));
  }
  // Idempotence state lives in the batch headers: rebuild it from the log,
  // so a producer retrying across a broker restart is still deduplicated.
  TELEMQ_TRY(part->log->ScanHeaders(part->log->log_start_offset(), [&](const wire::BatchHeader& h) {
    if (h.producer_id.value() >= 0) {
      part->producers.OnAppended({h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()}, h.base_offset);
    }
  }));
  // After a restart everything recovered is committed: it survived the
  // crash, and with fsync=always only synced data is acknowledged.
  part->high_watermark = part->log->log_end_offset().value();
  if (config.fsync == FsyncMode::kInterval) flusher->Register(part->log);
  return part;
}

void BrokerState::RemovePartition(const Partition& part) {
  if (config.fsync == FsyncMode::kInterval) flusher->Unregister(part.log.get());
  IgnoreError(logs->Remove(part.topic, PartitionId(part.index)), "the topic is being deleted");
}

void BrokerState::CommitAppended(const std::shared_ptr<Partition>& part, Offset end,
                                 std::function<void(Result<Offset>)> done) {
  if (config.fsync == FsyncMode::kInterval) {
    part->AdvanceHighWatermark(end);
    done(end);
    return;
  }
  flusher->RequestSync(part->log, end, [part, done = std::move(done)](Result<Offset> synced) {
    // Everything durable is committed on a single node.
    if (synced) part->AdvanceHighWatermark(*synced);
    done(synced);
  });
}

void BrokerState::AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records,
                                     std::function<void(Result<void>)> done) {
  auto part = Find(kOffsetsTopic, shard);
  if (!part) {
    done(Fail(Errc::kNotFound, "__consumer_offsets partition " + std::to_string(shard) + " is missing"));
    return;
  }
  wire::BatchBuilder builder;
  const int64_t now = NowMs();
  for (const auto& r : records) {
    builder.Add(now, r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
  }
  auto batch = builder.Finish();
  if (!batch) {
    done(tl::unexpected(batch.error()));
    return;
  }
  Result<storage::AppendResult> appended = Fail(Errc::kUnknown, "");
  {
    std::lock_guard lock(part->mu);
    appended = part->log->Append(*batch, kSingleNodeTerm, now);
  }
  if (!appended) {
    done(tl::unexpected(appended.error()));
    return;
  }
  CommitAppended(part, appended->last_offset + 1, [done = std::move(done)](Result<Offset> r) {
    if (!r) return done(tl::unexpected(r.error()));
    done(Ok());
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
    Topic topic{spec, {}};
    for (int32_t p = 0; p < spec.partitions; ++p) {
      TELEMQ_ASSIGN_OR_RETURN(auto part, OpenPartition(name, p, spec));
      topic.partitions.push_back(std::move(part));
    }
    topics.emplace(name, std::move(topic));
  }
  const int32_t shards = static_cast<int32_t>(topics.at(name).partitions.size());
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
    auto part = Find(topic, partition);
    return part ? part->hwm().value() : -1;
  };
  groups = std::make_unique<GroupCoordinator>(options, std::move(hooks));
  // Replay every shard's records: the groups come back as they were.
  size_t replayed = 0;
  for (int32_t shard = 0; shard < shards; ++shard) {
    auto part = topics.at(name).partitions[shard];
    Offset from = part->log->log_start_offset();
    const Offset end = part->log->log_end_offset();
    wire::BatchReader reader;
    while (from < end) {
      TELEMQ_ASSIGN_OR_RETURN(auto read, part->log->Read(from, 4 << 20, end));
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
  std::vector<std::shared_ptr<Partition>> parts;
  {
    std::shared_lock lock(state_->topics_mu);
    for (auto& [_, t] : state_->topics) parts.insert(parts.end(), t.partitions.begin(), t.partitions.end());
  }
  const int64_t now = NowMs();
  for (auto& p : parts) {
    auto removed = p->log->ApplyRetention(now);
    if (!removed) {
      spdlog::warn("retention on {}-{} failed: {}", p->topic, p->index, removed.error().ToString());
    } else if (*removed > 0) {
      spdlog::info("retention removed {} segment(s) of {}-{}", *removed, p->topic, p->index);
    }
  }
}

Result<void> Broker::Close() {
  state_->flusher->Stop();
  Result<void> status = Ok();
  std::unique_lock lock(state_->topics_mu);
  for (auto& [name, t] : state_->topics) {
    for (auto& p : t.partitions) {
      auto r = p->log->Close();
      if (!r && status) status = r;
    }
  }
  state_->topics.clear();
  return status;
}

}  // namespace telemq::broker
