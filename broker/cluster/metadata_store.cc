#include "broker/cluster/metadata_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/statvfs.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace telemq::cluster {

namespace {

using nlohmann::json;

constexpr std::string_view kBrokerPrefix = "broker/";
constexpr std::string_view kTopicPrefix = "topic/";
constexpr std::string_view kClusterIdKey = "cluster_id";
constexpr std::string_view kAppliedKey = "applied";
constexpr std::string_view kProducerIdKey = "local/next_producer_id";

Result<void> Check(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Ok();
  return Fail(s.IsNoSpace() ? Errc::kNoSpace : Errc::kIo, what + ": " + s.ToString());
}

std::string TopicValue(const TopicRecord& t) {
  // The command encoding carries name, spec and replicas; the id is added.
  json j = json::parse(EncodeCommand(CreateTopic{t.name, t.spec, t.replicas}));
  j["id"] = t.id;
  return j.dump();
}

Result<TopicRecord> DecodeTopic(const std::string& key, const std::string& value) {
  auto j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id"))
    return Fail(Errc::kCorrupt, key + ": not a topic record");
  TELEMQ_ASSIGN_OR_RETURN(auto command, DecodeCommand(value));
  auto* create = std::get_if<CreateTopic>(&command);
  if (!create) return Fail(Errc::kCorrupt, key + ": not a topic record");
  try {
    return TopicRecord{create->name, j.at("id").get<uint64_t>(), create->spec, create->replicas};
  } catch (const json::exception& e) {
    return Fail(Errc::kCorrupt, key + ": " + e.what());
  }
}

Result<int64_t> ParseInt(const std::string& key, const std::string& value) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size()) return Fail(Errc::kCorrupt, key + ": not a number");
  return v;
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& dir) {
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
  std::unique_ptr<MetadataStore> store(new MetadataStore());
  store->dir_ = dir;
  store->db_.reset(raw);

  std::unique_ptr<rocksdb::Iterator> it(store->db_->NewIterator(rocksdb::ReadOptions()));
  MetadataImage& image = store->loaded_;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const std::string value = it->value().ToString();
    if (key.rfind(kTopicPrefix, 0) == 0) {
      TELEMQ_ASSIGN_OR_RETURN(auto topic, DecodeTopic(key, value));
      image.topics[topic.name] = std::move(topic);
    } else if (key.rfind(kBrokerPrefix, 0) == 0) {
      TELEMQ_ASSIGN_OR_RETURN(auto command, DecodeCommand(value));
      auto* reg = std::get_if<RegisterBroker>(&command);
      if (!reg) return Fail(Errc::kCorrupt, key + ": not a broker record");
      image.brokers[reg->broker.id] = reg->broker;
    } else if (key == kClusterIdKey) {
      image.cluster_id = value;
    } else if (key == kAppliedKey) {
      TELEMQ_ASSIGN_OR_RETURN(image.applied, ParseInt(key, value));
    } else if (key == kProducerIdKey) {
      TELEMQ_ASSIGN_OR_RETURN(store->next_producer_id_, ParseInt(key, value));
    }
  }
  TELEMQ_TRY(Check(it->status(), "scan metadata store " + dir));
  return store;
}

MetadataStore::~MetadataStore() {
  if (db_) IgnoreError(Check(db_->Close(), "close"), "closing on shutdown; the WAL makes it safe");
}

// RocksDB 7.8 as Debian ships it keeps its assertions, and a synced WAL
// write that fails with ENOSPC trips one (WritableFileWriter::
// AssertFalseAndGetStatusForPrevError): the broker aborted when its disk
// filled up (found by the chaos suite's disk-full fault, docs/chaos.md). A
// RocksDB without assertions would instead refuse every later write until
// reopened. So no write is attempted on a (nearly) full disk; the margin
// covers a metadata batch, a memtable flush and a manifest record.
Result<void> MetadataStore::CheckSpace() const {
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) != 0) return Ok();  // unknown: let RocksDB try
  const uint64_t available = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (available >= kMinFreeBytes) return Ok();
  return Fail(Errc::kNoSpace, "metadata store " + dir_ + ": only " + std::to_string(available) +
                                  " bytes free; not writing until at least " + std::to_string(kMinFreeBytes) + " are");
}

Result<void> MetadataStore::Persist(const MetadataImage& image, const Applied& applied) {
  TELEMQ_TRY(CheckSpace());
  rocksdb::WriteBatch batch;
  if (applied.cluster_id) batch.Put(std::string(kClusterIdKey), image.cluster_id);
  for (int32_t id : applied.brokers) {
    const std::string key = std::string(kBrokerPrefix) + std::to_string(id);
    auto it = image.brokers.find(id);
    if (it == image.brokers.end()) {
      batch.Delete(key);
    } else {
      batch.Put(key, EncodeCommand(RegisterBroker{it->second}));
    }
  }
  for (const auto& name : applied.topics) {
    const std::string key = std::string(kTopicPrefix) + name;
    const TopicRecord* t = image.Find(name);
    if (t == nullptr) {
      batch.Delete(key);
    } else {
      batch.Put(key, TopicValue(*t));
    }
  }
  batch.Put(std::string(kAppliedKey), std::to_string(image.applied));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return Check(db_->Write(wo, &batch), "persist cluster metadata");
}

Result<int64_t> MetadataStore::NextProducerId() {
  std::lock_guard lock(counter_mu_);
  TELEMQ_TRY(CheckSpace());
  const int64_t id = next_producer_id_;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  TELEMQ_TRY(Check(db_->Put(wo, std::string(kProducerIdKey), std::to_string(id + 1)), "persist producer id"));
  next_producer_id_ = id + 1;
  return id;
}

}  // namespace telemq::cluster
