#include "broker/server/topic_registry.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <nlohmann/json.hpp>
#include <random>

namespace telemq::broker {

namespace {

constexpr std::string_view kTopicPrefix = "topic/";
constexpr std::string_view kProducerIdKey = "meta/next_producer_id";
constexpr std::string_view kClusterIdKey = "meta/cluster_id";

Result<void> Check(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Ok();
  Errc code = Errc::kIo;
  if (s.IsNoSpace()) code = Errc::kNoSpace;
  return Fail(code, what + ": " + s.ToString());
}

std::string Encode(const TopicSpec& s) {
  nlohmann::json j{{"partitions", s.partitions},
                   {"replication_factor", s.replication_factor},
                   {"retention_ms", s.retention_ms},
                   {"retention_bytes", s.retention_bytes},
                   {"segment_bytes", s.segment_bytes}};
  return j.dump();
}

Result<TopicSpec> Decode(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Fail(Errc::kCorrupt, "topic record is not JSON");
  TopicSpec s;
  try {
    s.partitions = j.at("partitions").get<int32_t>();
    s.replication_factor = j.at("replication_factor").get<int16_t>();
    s.retention_ms = j.at("retention_ms").get<int64_t>();
    s.retention_bytes = j.at("retention_bytes").get<int64_t>();
    s.segment_bytes = j.at("segment_bytes").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Fail(Errc::kCorrupt, std::string("topic record: ") + e.what());
  }
  return s;
}

}  // namespace

Result<void> ValidateTopicName(const std::string& name) {
  if (name.empty() || name.size() > 249) return Fail(Errc::kInvalidArgument, "topic name must be 1..249 characters");
  if (name == "." || name == "..") return Fail(Errc::kInvalidArgument, "topic name cannot be '.' or '..'");
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return Fail(Errc::kInvalidArgument, "topic name '" + name + "' has characters outside [A-Za-z0-9._-]");
  }
  return Ok();
}

Result<std::unique_ptr<TopicRegistry>> TopicRegistry::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  options.keep_log_file_num = 2;
  // A few KiB of metadata: no need for RocksDB's multi-MiB preallocations
  // (they would count against a small or nearly full data disk).
  options.manifest_preallocation_size = 64 << 10;
  options.write_buffer_size = 1 << 20;
  options.allow_fallocate = false;
  rocksdb::DB* raw = nullptr;
  TELEMQ_TRY(Check(rocksdb::DB::Open(options, dir, &raw), "open metadata store " + dir));
  std::unique_ptr<TopicRegistry> reg(new TopicRegistry());
  reg->db_.reset(raw);

  std::unique_ptr<rocksdb::Iterator> it(reg->db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(kTopicPrefix.data(), kTopicPrefix.size())); it->Valid(); it->Next()) {
    auto key = it->key().ToString();
    if (key.rfind(kTopicPrefix, 0) != 0) break;
    TELEMQ_ASSIGN_OR_RETURN(auto spec, Decode(it->value().ToString()));
    reg->topics_[key.substr(kTopicPrefix.size())] = spec;
  }
  TELEMQ_TRY(Check(it->status(), "scan metadata store"));

  std::string value;
  auto s = reg->db_->Get(rocksdb::ReadOptions(), std::string(kProducerIdKey), &value);
  if (s.ok()) {
    reg->next_producer_id_ = std::stoll(value);
  } else if (!s.IsNotFound()) {
    TELEMQ_TRY(Check(s, "read producer id"));
  }
  s = reg->db_->Get(rocksdb::ReadOptions(), std::string(kClusterIdKey), &value);
  if (s.ok()) {
    reg->cluster_id_ = value;
  } else {
    std::random_device rd;
    char buf[33];
    std::snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
    reg->cluster_id_ = buf;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    TELEMQ_TRY(Check(reg->db_->Put(wo, std::string(kClusterIdKey), reg->cluster_id_), "write cluster id"));
  }
  return reg;
}

TopicRegistry::~TopicRegistry() {
  if (db_) IgnoreError(Check(db_->Close(), "close"), "closing on shutdown; the WAL makes it safe");
}

Result<void> TopicRegistry::Create(const std::string& name, const TopicSpec& spec) {
  TELEMQ_TRY(ValidateTopicName(name));
  std::lock_guard lock(mu_);
  if (topics_.count(name)) return Fail(Errc::kAlreadyExists, "topic '" + name + "' already exists");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  TELEMQ_TRY(Check(db_->Put(wo, std::string(kTopicPrefix) + name, Encode(spec)), "persist topic " + name));
  topics_[name] = spec;
  return Ok();
}

Result<void> TopicRegistry::Delete(const std::string& name) {
  std::lock_guard lock(mu_);
  if (!topics_.count(name)) return Fail(Errc::kNotFound, "topic '" + name + "' does not exist");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  TELEMQ_TRY(Check(db_->Delete(wo, std::string(kTopicPrefix) + name), "delete topic " + name));
  topics_.erase(name);
  return Ok();
}

std::optional<TopicSpec> TopicRegistry::Get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, TopicSpec> TopicRegistry::List() const {
  std::lock_guard lock(mu_);
  return topics_;
}

Result<ProducerId> TopicRegistry::NextProducerId() {
  std::lock_guard lock(mu_);
  const int64_t id = next_producer_id_;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  TELEMQ_TRY(Check(db_->Put(wo, std::string(kProducerIdKey), std::to_string(id + 1)), "persist producer id"));
  next_producer_id_ = id + 1;
  return ProducerId(id);
}

}  // namespace telemq::broker
