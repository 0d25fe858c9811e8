#pragma once
// MetadataStore: this broker's durable copy of the cluster metadata image
// (metadata.h), in RocksDB under <data_dir>/meta. Every Persist writes the
// keys one applied command changed together with the applied offset in one
// synced write batch, so after a crash the image and the offset it reflects
// always agree and the controller log is replayed from the next offset.
// Also keeps this broker's own producer-id counter (not replicated: ids are
// unique per broker by construction).
//
// A full disk: every write is refused with kNoSpace, without touching
// RocksDB, while less than kMinFreeBytes are available on the store's file
// system (RocksDB 7.8 as Debian builds it aborts the process on a synced
// write that hits ENOSPC); the callers retry.
//
// Thread-safety: none; one owner (the broker's controller strand), except
// NextProducerId, which may be called from any thread.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "broker/cluster/metadata.h"
#include "telemq/common/result.h"

namespace rocksdb {
class DB;
}

namespace telemq::cluster {

class MetadataStore {
 public:
  // Opens (creating) the store and loads the image it holds; a record that
  // does not decode is kCorrupt naming its key.
  [[nodiscard]] static Result<std::unique_ptr<MetadataStore>> Open(const std::string& dir);
  ~MetadataStore();
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // The image as loaded at Open.
  const MetadataImage& loaded() const { return loaded_; }
  // Writes what `applied` says changed in `image`, and image.applied, atomically and synced.
  [[nodiscard]] Result<void> Persist(const MetadataImage& image, const Applied& applied);
  // Allocates a value of this broker's producer-id counter, never handed out before.
  [[nodiscard]] Result<int64_t> NextProducerId();

  // Below this much free space writes are refused (kNoSpace).
  static constexpr uint64_t kMinFreeBytes = 4u << 20;

 private:
  MetadataStore() = default;
  // kNoSpace while the file system holding dir_ has less than kMinFreeBytes.
  Result<void> CheckSpace() const;

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  MetadataImage loaded_;
  std::mutex counter_mu_;
  int64_t next_producer_id_ = 0;  // guarded by counter_mu_
};

}  // namespace telemq::cluster
