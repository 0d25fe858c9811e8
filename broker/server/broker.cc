#include "broker/server/broker.h"

#include <spdlog/spdlog.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "broker/server/group_coordinator.h"
#include "broker/server/producer_state.h"
#include "broker/server/topic_registry.h"
#include "broker/storage/file_system.h"
#include "broker/storage/flusher.h"
#include "broker/storage/partition_log.h"
#include "telemq/common/check.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

namespace fs = std::filesystem;
namespace fb = wire::fb;
using fb::ErrorCode;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Until replication lands every log is written by this broker as the only
// leader, in term 1.
constexpr Term kSingleNodeTerm{1};

}  // namespace

Response FinishResponse(flatbuffers::FlatBufferBuilder& b) {
  Response r;
  r.body = b.Release();
  return r;
}

Response MakeErrorResponse(Errc code, const std::string& message, bool close_after) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateErrorResponseDirect(b, wire::ToWireError(code), message.c_str()));
  Response r = FinishResponse(b);
  r.close_after = close_after;
  return r;
}

// Something parked on a partition until its high watermark moves (a long-poll fetch).
struct Waiter {
  virtual ~Waiter() = default;
  virtual void Wake() = 0;
};

// One partition replica hosted by this broker.
struct Partition {
  std::string topic;
  int32_t index = 0;
  std::shared_ptr<storage::PartitionLog> log;
  std::mutex mu;
  ProducerStateTable producers;  // guarded by mu
  // Committed end: consumers never read at or above it. With fsync=always it
  // is the durable end, with fsync=interval the log end.
  std::atomic<int64_t> high_watermark{0};
  std::vector<std::weak_ptr<Waiter>> waiters;  // guarded by mu: long-poll fetches to wake

  Offset hwm() const { return Offset(high_watermark.load(std::memory_order_acquire)); }
  void AdvanceHighWatermark(Offset to) {
    int64_t cur = high_watermark.load();
    while (cur < to.value() && !high_watermark.compare_exchange_weak(cur, to.value())) {
    }
    std::vector<std::weak_ptr<Waiter>> wake;
    {
      std::lock_guard lock(mu);
      wake.swap(waiters);
    }
    for (auto& w : wake) {
      if (auto live = w.lock()) live->Wake();
    }
  }
  // Parks `w`; expired waiters are pruned so an idle partition polled for a
  // long time does not accumulate them.
  void AddWaiter(std::weak_ptr<Waiter> w) {
    std::erase_if(waiters, [](const std::weak_ptr<Waiter>& x) { return x.expired(); });
    waiters.push_back(std::move(w));
  }
};

struct Topic {
  TopicSpec spec;
  std::vector<std::shared_ptr<Partition>> partitions;
};

struct Broker::Impl {
  BrokerConfig config;
  asio::io_context& io;
  storage::PosixFileSystem file_system;
  std::unique_ptr<TopicRegistry> registry;
  std::unique_ptr<storage::Flusher> flusher;
  std::shared_mutex topics_mu;
  std::map<std::string, Topic> topics;  // guarded by topics_mu
  std::string advertised_host;
  uint16_t advertised_port = 0;
  std::unique_ptr<GroupCoordinator> groups;
  // Serialises "snapshot the topics, hand them to the groups" so two topic
  // changes cannot deliver their snapshots in the wrong order.
  std::mutex group_topics_mu;
  void PublishTopicsToGroups() {
    std::lock_guard lock(group_topics_mu);
    groups->UpdateTopics(UserTopics());
  }

  Impl(const BrokerConfig& c, asio::io_context& i) : config(c), io(i) {}

  static bool IsInternal(std::string_view topic) { return topic.substr(0, 2) == "__"; }

  // Topics groups may subscribe to, with their partition counts.
  group::TopicMetadata UserTopics() {
    group::TopicMetadata out;
    std::shared_lock lock(topics_mu);
    for (const auto& [name, t] : topics) {
      if (!IsInternal(name)) out[name] = static_cast<int32_t>(t.partitions.size());
    }
    return out;
  }

  Result<void> OpenGroups();
  void AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records, std::function<void(Result<void>)> done);
  // Makes what was appended to `part` up to `end` committed, then calls done.
  void CommitAppended(const std::shared_ptr<Partition>& part, Offset end, std::function<void(Result<Offset>)> done);

  storage::LogOptions LogOptionsFor(const TopicSpec& spec) const {
    storage::LogOptions o;
    o.segment_bytes = spec.segment_bytes > 0 ? static_cast<uint64_t>(spec.segment_bytes) : config.segment_bytes;
    o.segment_ms = config.segment_ms;
    o.fsync = config.fsync == FsyncMode::kAlways ? storage::FsyncPolicy::kAlways : storage::FsyncPolicy::kInterval;
    o.fsync_interval = config.fsync_interval;
    o.retention_bytes = spec.retention_bytes;
    o.retention_ms = std::chrono::milliseconds(spec.retention_ms);
    return o;
  }

  std::string PartitionDir(const std::string& topic, int32_t p) const {
    return (fs::path(config.data_dir) / (topic + "-" + std::to_string(p))).string();
  }

  Result<std::shared_ptr<Partition>> OpenPartition(const std::string& topic, int32_t index, const TopicSpec& spec) {
    auto part = std::make_shared<Partition>();
    part->topic = topic;
    part->index = index;
    TELEMQ_ASSIGN_OR_RETURN(auto log,
                            storage::PartitionLog::Open(file_system, PartitionDir(topic, index), LogOptionsFor(spec)));
    part->log = std::shared_ptr<storage::PartitionLog>(std::move(log));
    // Idempotence state lives in the batch headers: rebuild it from the log,
    // so a producer retrying across a broker restart is still deduplicated.
    TELEMQ_TRY(part->log->ScanHeaders(part->log->log_start_offset(), [&](const wire::BatchHeader& h) {
      if (h.producer_id.value() >= 0) {
        part->producers.OnAppended({h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence()},
                                   h.base_offset);
      }
    }));
    // After a restart everything recovered is committed: it survived the
    // crash, and with fsync=always only synced data is acknowledged.
    part->high_watermark = part->log->log_end_offset().value();
    if (config.fsync == FsyncMode::kInterval) flusher->Register(part->log);
    return part;
  }

  std::shared_ptr<Partition> Find(std::string_view topic, int32_t index) {
    std::shared_lock lock(topics_mu);
    auto it = topics.find(std::string(topic));
    if (it == topics.end() || index < 0 || index >= static_cast<int32_t>(it->second.partitions.size())) return nullptr;
    return it->second.partitions[index];
  }

  // --- handlers -------------------------------------------------------------
  void HandleApiVersions(Reply& reply);
  void HandleMetadata(const fb::MetadataRequest* req, Reply& reply);
  void HandleCreateTopics(const fb::CreateTopicsRequest* req, Reply& reply);
  void HandleDeleteTopics(const fb::DeleteTopicsRequest* req, Reply& reply);
  void HandleProduce(const fb::ProduceRequest* req, std::span<std::byte> payload, Reply& reply);
  void HandleFetch(std::span<const std::byte> body, Reply& reply);
  void HandleListOffsets(const fb::ListOffsetsRequest* req, Reply& reply);
  void HandleInitProducerId(Reply& reply);
};

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::Open(const BrokerConfig& config, asio::io_context& io) {
  auto impl = std::make_unique<Impl>(config, io);
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) return Fail(Errc::kIo, "cannot create data_dir '" + config.data_dir + "': " + ec.message());
  TELEMQ_ASSIGN_OR_RETURN(impl->registry, TopicRegistry::Open((fs::path(config.data_dir) / "meta").string()));
  impl->flusher = std::make_unique<storage::Flusher>(config.fsync_interval);
  impl->flusher->Start();
  for (const auto& [name, spec] : impl->registry->List()) {
    Topic topic{spec, {}};
    for (int32_t p = 0; p < spec.partitions; ++p) {
      TELEMQ_ASSIGN_OR_RETURN(auto part, impl->OpenPartition(name, p, spec));
      topic.partitions.push_back(std::move(part));
    }
    impl->topics.emplace(name, std::move(topic));
  }
  // Directories of topics deleted just before a crash are removed now.
  for (const auto& entry : fs::directory_iterator(config.data_dir, ec)) {
    const std::string dir = entry.path().filename().string();
    const auto dash = dir.rfind('-');
    if (!entry.is_directory() || dir == "meta" || dash == std::string::npos) continue;
    if (!impl->topics.count(dir.substr(0, dash))) {
      spdlog::warn("removing data of deleted topic: {}", entry.path().string());
      fs::remove_all(entry.path(), ec);
    }
  }
  TELEMQ_TRY(impl->OpenGroups());
  spdlog::info("broker {} opened {} with {} topics", config.node_id, config.data_dir, impl->topics.size());
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

void Broker::SetAdvertisedAddress(std::string host, uint16_t port) {
  impl_->advertised_host = std::move(host);
  impl_->advertised_port = port;
}

void Broker::Handle(const wire::RequestHeader& header, std::span<const std::byte> body, std::span<std::byte> payload,
                    Reply reply) {
  using wire::ApiKey;
  if (header.api_version != 1) {
    reply(MakeErrorResponse(Errc::kUnsupportedVersion,
                            "api " + std::string(wire::ApiKeyName(header.api_key)) + " version " +
                                std::to_string(header.api_version) + " is not supported (only 1)",
                            true));
    return;
  }
  auto bad_body = [&](const Error& e) { reply(MakeErrorResponse(Errc::kCorrupt, e.message(), true)); };
  switch (header.api_key) {
    case ApiKey::kApiVersions:
      if (auto r = wire::VerifyBody<fb::ApiVersionsRequest>(body); !r) return bad_body(r.error());
      return impl_->HandleApiVersions(reply);
    case ApiKey::kMetadata:
      if (auto r = wire::VerifyBody<fb::MetadataRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->HandleMetadata(*r, reply);
      }
    case ApiKey::kCreateTopics:
      if (auto r = wire::VerifyBody<fb::CreateTopicsRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->HandleCreateTopics(*r, reply);
      }
    case ApiKey::kDeleteTopics:
      if (auto r = wire::VerifyBody<fb::DeleteTopicsRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->HandleDeleteTopics(*r, reply);
      }
    case ApiKey::kProduce:
      if (auto r = wire::VerifyBody<fb::ProduceRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->HandleProduce(*r, payload, reply);
      }
    case ApiKey::kFetch:
      if (auto r = wire::VerifyBody<fb::FetchRequest>(body); !r) return bad_body(r.error());
      return impl_->HandleFetch(body, reply);
    case ApiKey::kListOffsets:
      if (auto r = wire::VerifyBody<fb::ListOffsetsRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->HandleListOffsets(*r, reply);
      }
    case ApiKey::kInitProducerId:
      if (auto r = wire::VerifyBody<fb::InitProducerIdRequest>(body); !r) return bad_body(r.error());
      return impl_->HandleInitProducerId(reply);
    case ApiKey::kFindCoordinator: {
      if (auto r = wire::VerifyBody<fb::FindCoordinatorRequest>(body); !r) return bad_body(r.error());
      // A single broker coordinates every group until replication lands.
      flatbuffers::FlatBufferBuilder b(128);
      b.Finish(fb::CreateFindCoordinatorResponseDirect(b, ErrorCode::None, nullptr, impl_->config.node_id,
                                                       impl_->advertised_host.c_str(), impl_->advertised_port));
      return reply(FinishResponse(b));
    }
    case ApiKey::kGroupHeartbeat:
      if (auto r = wire::VerifyBody<fb::GroupHeartbeatRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->groups->Heartbeat(*r, std::move(reply));
      }
    case ApiKey::kOffsetCommit:
      if (auto r = wire::VerifyBody<fb::OffsetCommitRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->groups->OffsetCommit(*r, std::move(reply));
      }
    case ApiKey::kOffsetFetch:
      if (auto r = wire::VerifyBody<fb::OffsetFetchRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->groups->OffsetFetch(*r, std::move(reply));
      }
    case ApiKey::kListGroups:
      if (auto r = wire::VerifyBody<fb::ListGroupsRequest>(body); !r) return bad_body(r.error());
      return impl_->groups->ListGroups(std::move(reply));
    case ApiKey::kDescribeGroup:
      if (auto r = wire::VerifyBody<fb::DescribeGroupRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->groups->DescribeGroup(*r, std::move(reply));
      }
    case ApiKey::kDeleteGroup:
      if (auto r = wire::VerifyBody<fb::DeleteGroupRequest>(body); !r) {
        return bad_body(r.error());
      } else {
        return impl_->groups->DeleteGroup(*r, std::move(reply));
      }
  }
  reply(MakeErrorResponse(Errc::kUnsupportedVersion,
                          "unknown api key " + std::to_string(static_cast<unsigned>(header.api_key)), true));
}

void Broker::Impl::HandleApiVersions(Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::ApiVersionRange>> apis;
  for (uint16_t k = 0; k < wire::kApiKeyCount; ++k) apis.push_back(fb::CreateApiVersionRange(b, k, 1, 1));
  b.Finish(
      fb::CreateApiVersionsResponseDirect(b, ErrorCode::None, &apis, config.node_id, registry->cluster_id().c_str()));
  reply(FinishResponse(b));
}

void Broker::Impl::HandleMetadata(const fb::MetadataRequest* req, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<fb::BrokerInfo>> brokers{
      fb::CreateBrokerInfoDirect(b, config.node_id, advertised_host.c_str(), advertised_port)};
  std::vector<flatbuffers::Offset<fb::TopicMetadata>> out;
  auto describe = [&](const std::string& name, const Topic& t) {
    std::vector<flatbuffers::Offset<fb::PartitionMetadata>> parts;
    std::vector<int32_t> replicas{config.node_id};
    for (int32_t p = 0; p < static_cast<int32_t>(t.partitions.size()); ++p) {
      parts.push_back(
          fb::CreatePartitionMetadataDirect(b, p, ErrorCode::None, config.node_id, kSingleNodeTerm.value(), &replicas));
    }
    auto cfg = fb::CreateTopicConfig(b, t.spec.retention_ms, t.spec.retention_bytes, t.spec.segment_bytes);
    out.push_back(
        fb::CreateTopicMetadataDirect(b, name.c_str(), ErrorCode::None, nullptr, &parts, cfg, IsInternal(name)));
  };
  {
    std::shared_lock lock(topics_mu);
    if (req->topics() == nullptr || req->topics()->size() == 0) {
      for (const auto& [name, t] : topics) describe(name, t);
    } else {
      for (const auto* n : *req->topics()) {
        auto it = topics.find(n->str());
        if (it == topics.end()) {
          out.push_back(fb::CreateTopicMetadataDirect(b, n->c_str(), ErrorCode::UnknownTopicOrPartition,
                                                      ("topic '" + n->str() + "' does not exist").c_str()));
        } else {
          describe(it->first, it->second);
        }
      }
    }
  }
  b.Finish(fb::CreateMetadataResponseDirect(b, &brokers, config.node_id, &out, registry->cluster_id().c_str()));
  reply(FinishResponse(b));
}

void Broker::Impl::HandleCreateTopics(const fb::CreateTopicsRequest* req, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::TopicResult>> results;
  auto result = [&](const std::string& name, Errc code, const std::string& msg) {
    results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), wire::ToWireError(code), msg.c_str()));
  };
  if (req->topics()) {
    for (const auto* t : *req->topics()) {
      const std::string name = wire::Str(t->name());
      TopicSpec spec;
      spec.partitions = t->partitions() > 0 ? t->partitions() : config.default_partitions;
      spec.replication_factor = t->replication_factor() > 0 ? t->replication_factor() : 1;
      spec.retention_ms = config.retention_ms;
      spec.retention_bytes = config.retention_bytes;
      if (const auto* c = t->config()) {
        if (c->retention_ms() != -1 || c->retention_bytes() != -1 || c->segment_bytes() != 0) {
          spec.retention_ms = c->retention_ms();
          spec.retention_bytes = c->retention_bytes();
          spec.segment_bytes = c->segment_bytes();
        }
      }
      if (auto v = ValidateTopicName(name); !v) {
        result(name, Errc::kInvalidArgument, v.error().message());
        continue;
      }
      if (IsInternal(name)) {
        result(name, Errc::kInvalidArgument, "topic names starting with '__' are reserved for the broker");
        continue;
      }
      if (spec.partitions > 10'000) {
        results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::InvalidPartitions,
                                                      "partition count must be within 1..10000"));
        continue;
      }
      if (spec.replication_factor != 1) {
        results.push_back(fb::CreateTopicResultDirect(
            b, name.c_str(), ErrorCode::InvalidReplicationFactor,
            ("replication factor " + std::to_string(spec.replication_factor) + " exceeds the 1 available broker")
                .c_str()));
        continue;
      }
      if (spec.segment_bytes != 0 && spec.segment_bytes < config.max_batch_bytes) {
        result(name, Errc::kInvalidArgument, "segment_bytes must be 0 or >= the broker's max_batch_bytes");
        continue;
      }
      if (req->validate_only()) {
        result(name, Errc::kOk, "");
        continue;
      }
      std::unique_lock lock(topics_mu);
      if (auto r = registry->Create(name, spec); !r) {
        result(name, r.error().code(), r.error().message());
        continue;
      }
      Topic topic{spec, {}};
      Result<void> opened = Ok();
      for (int32_t p = 0; p < spec.partitions && opened; ++p) {
        auto part = OpenPartition(name, p, spec);
        if (!part) {
          opened = tl::unexpected(part.error());
        } else {
          topic.partitions.push_back(std::move(*part));
        }
      }
      if (!opened) {
        IgnoreError(registry->Delete(name), "rolling back a topic whose logs could not be created");
        result(name, opened.error().code(), opened.error().message());
        continue;
      }
      topics.emplace(name, std::move(topic));
      lock.unlock();
      PublishTopicsToGroups();
      spdlog::info("created topic {} with {} partitions", name, spec.partitions);
      result(name, Errc::kOk, "");
    }
  }
  b.Finish(fb::CreateCreateTopicsResponseDirect(b, &results));
  reply(FinishResponse(b));
}

void Broker::Impl::HandleDeleteTopics(const fb::DeleteTopicsRequest* req, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::TopicResult>> results;
  if (req->names()) {
    for (const auto* n : *req->names()) {
      const std::string name = n->str();
      Topic removed;
      {
        std::unique_lock lock(topics_mu);
        auto it = topics.find(name);
        if (it == topics.end()) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::UnknownTopicOrPartition,
                                                        ("topic '" + name + "' does not exist").c_str()));
          continue;
        }
        if (IsInternal(name)) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::InvalidRequest,
                                                        "internal topics cannot be deleted"));
          continue;
        }
        if (auto r = registry->Delete(name); !r) {
          results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), wire::ToWireError(r.error().code()),
                                                        r.error().message().c_str()));
          continue;
        }
        removed = std::move(it->second);
        topics.erase(it);
      }
      for (auto& part : removed.partitions) {
        if (config.fsync == FsyncMode::kInterval) flusher->Unregister(part->log.get());
        IgnoreError(part->log->Close(), "the topic is being deleted");
        std::error_code ec;
        fs::remove_all(PartitionDir(name, part->index), ec);
        part->AdvanceHighWatermark(part->hwm());  // wake long polls so they see the topic is gone
      }
      PublishTopicsToGroups();
      spdlog::info("deleted topic {}", name);
      results.push_back(fb::CreateTopicResultDirect(b, name.c_str(), ErrorCode::None, ""));
    }
  }
  b.Finish(fb::CreateDeleteTopicsResponseDirect(b, &results));
  reply(FinishResponse(b));
}

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

void Broker::Impl::HandleProduce(const fb::ProduceRequest* req, std::span<std::byte> payload, Reply& reply) {
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

// A fetch that may wait (long poll). Holds a copy of the request body so it
// can be re-evaluated when data arrives or the wait ends.
struct FetchOp : Waiter, std::enable_shared_from_this<FetchOp> {
  Broker::Impl* broker;
  std::vector<std::byte> body;
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

void Broker::Impl::HandleFetch(std::span<const std::byte> body, Reply& reply) {
  auto op = std::make_shared<FetchOp>();
  op->broker = this;
  op->body.assign(body.begin(), body.end());
  op->req = flatbuffers::GetRoot<fb::FetchRequest>(op->body.data());
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
    storage::ReadResult read;
  };
  std::vector<Planned> plan;
  std::vector<std::shared_ptr<Partition>> watched;
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
        if (!part) {
          pl.error = ErrorCode::UnknownTopicOrPartition;
          pl.message = "unknown topic or partition " + topic + "/" + std::to_string(p->partition());
          any_error = true;
          plan.push_back(std::move(pl));
          continue;
        }
        const Offset hwm = part->hwm();
        pl.hwm = hwm.value();
        pl.log_start = part->log->log_start_offset().value();
        const Offset from(p->fetch_offset());
        if (from > hwm || from.value() < pl.log_start) {
          pl.error = ErrorCode::OffsetOutOfRange;
          pl.message = "offset " + std::to_string(from.value()) + " outside [" + std::to_string(pl.log_start) + ", " +
                       std::to_string(hwm.value()) + "]";
          any_error = true;
        } else if (from < hwm && total < response_max) {
          const uint64_t part_max = std::min<uint64_t>(p->max_bytes() > 0 ? p->max_bytes() : 1, response_max - total);
          auto read = part->log->Read(from, part_max, hwm);
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
    std::weak_ptr<Waiter> weak = std::static_pointer_cast<Waiter>(shared_from_this());
    bool moved = false;
    for (size_t i = 0, w = 0; i < plan.size(); ++i) {
      if (plan[i].error != ErrorCode::None) continue;
      auto& part = watched[w++];
      std::lock_guard lock(part->mu);
      part->AddWaiter(weak);
      if (part->hwm().value() != plan[i].hwm) moved = true;
    }
    std::lock_guard lock(mu);
    if (done) return;
    if (!timer) {
      timer = std::make_unique<asio::steady_timer>(broker->io, std::chrono::milliseconds(req->max_wait_ms()));
      auto self = shared_from_this();
      timer->async_wait([self](const std::error_code&) { self->Attempt(true); });
    }
    if (moved) Wake();
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
      parts.push_back(fb::CreateFetchPartitionResultDirect(
          b, pl.partition, pl.error, pl.message.empty() ? nullptr : pl.message.c_str(), pl.hwm, pl.log_start, bytes));
    }
    topics.push_back(fb::CreateFetchTopicResultDirect(b, plan[i].topic.c_str(), &parts));
    i = j;
  }
  resp.payload.resize(pos);
  b.Finish(fb::CreateFetchResponseDirect(b, &topics, 0));
  resp.body = b.Release();
  reply(std::move(resp));
}

void Broker::Impl::HandleListOffsets(const fb::ListOffsetsRequest* req, Reply& reply) {
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
          if (!part) {
            err = ErrorCode::UnknownTopicOrPartition;
            msg = "unknown topic or partition " + topic + "/" + std::to_string(p->partition());
          } else if (p->timestamp() == -2) {
            offset = part->log->log_start_offset().value();
          } else if (p->timestamp() == -1) {
            offset = part->hwm().value();
          } else {
            auto found = part->log->OffsetForTimestamp(p->timestamp());
            if (!found) {
              err = wire::ToWireError(found.error().code());
              msg = found.error().message();
            } else if (found->has_value() && **found < part->hwm()) {
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

void Broker::Impl::HandleInitProducerId(Reply& reply) {
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

void Broker::Impl::CommitAppended(const std::shared_ptr<Partition>& part, Offset end,
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

void Broker::Impl::AppendGroupRecords(int32_t shard, std::vector<OffsetsRecord> records,
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

Result<void> Broker::Impl::OpenGroups() {
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

void Broker::RunGroupTick() { impl_->groups->Tick(); }

void Broker::RunRetention() {
  std::vector<std::shared_ptr<Partition>> parts;
  {
    std::shared_lock lock(impl_->topics_mu);
    for (auto& [_, t] : impl_->topics) parts.insert(parts.end(), t.partitions.begin(), t.partitions.end());
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
  impl_->flusher->Stop();
  Result<void> status = Ok();
  std::unique_lock lock(impl_->topics_mu);
  for (auto& [name, t] : impl_->topics) {
    for (auto& p : t.partitions) {
      auto r = p->log->Close();
      if (!r && status) status = r;
    }
  }
  impl_->topics.clear();
  return status;
}

}  // namespace telemq::broker
