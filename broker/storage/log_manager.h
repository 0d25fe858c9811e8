#pragma once
// LogManager: the partition logs of one broker, one directory each under the
// data directory: <data_dir>/<topic>-<partition>/ (DESIGN §2.1). Open finds
// the partitions already on disk; Create/Remove add and delete them.
// Thread-safety: all methods are thread-safe (one mutex around the map; log
// operations run outside it). Ownership: logs are shared (the server, the
// Raft module and the Flusher hold them); Remove closes the log and deletes
// its files, while holders of FileRanges keep reading what they hold.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "broker/storage/file_system.h"
#include "broker/storage/log_options.h"
#include "broker/storage/partition_log.h"
#include "telemq/common/result.h"
#include "telemq/common/strong_id.h"

namespace telemq::storage {

class LogManager {
 public:
  using Visitor =
      std::function<void(const std::string& topic, PartitionId partition, const std::shared_ptr<PartitionLog>& log)>;

  // The options of a partition directory found on disk, or nullopt when its
  // topic is no longer known (deleted just before a crash): Open then
  // removes the directory.
  using OptionsFor = std::function<std::optional<LogOptions>(const std::string& topic, PartitionId partition)>;

  // Creates data_dir if needed and opens (recovering) every partition
  // directory in it with the options `options_for` gives, removing those it
  // disowns. Topic configs live in the broker's metadata, not here.
  [[nodiscard]] static Result<std::unique_ptr<LogManager>> Open(FileSystem& fs, std::string data_dir,
                                                                LogOptions defaults, const OptionsFor& options_for);
  // Opens every partition directory with `defaults`.
  [[nodiscard]] static Result<std::unique_ptr<LogManager>> Open(FileSystem& fs, std::string data_dir,
                                                                LogOptions defaults) {
    return Open(fs, std::move(data_dir), defaults, [defaults](const std::string&, PartitionId) { return defaults; });
  }
  LogManager(const LogManager&) = delete;
  LogManager& operator=(const LogManager&) = delete;

  // Topic names: 1..249 characters of [A-Za-z0-9._-] (as Kafka).
  static bool ValidTopicName(std::string_view topic);
  // "<topic>-<partition>", the directory name.
  static std::string DirName(std::string_view topic, PartitionId partition);

  // nullptr if the partition is not here.
  std::shared_ptr<PartitionLog> Get(std::string_view topic, PartitionId partition) const;
  // kAlreadyExists if present, kInvalidArgument for a bad name.
  [[nodiscard]] Result<std::shared_ptr<PartitionLog>> Create(const std::string& topic, PartitionId partition,
                                                             LogOptions opts);
  [[nodiscard]] Result<std::shared_ptr<PartitionLog>> Create(const std::string& topic, PartitionId partition) {
    return Create(topic, partition, defaults_);
  }
  // Closes the log and deletes its directory. kNotFound if absent.
  [[nodiscard]] Result<void> Remove(const std::string& topic, PartitionId partition);
  // Visits a snapshot of the partitions, in (topic, partition) order.
  void ForEach(const Visitor& visit) const;
  // Closes every log cleanly; the first error is returned, all are tried.
  [[nodiscard]] Result<void> CloseAll();

  const std::string& data_dir() const { return data_dir_; }

 private:
  using Key = std::pair<std::string, int32_t>;
  LogManager(FileSystem& fs, std::string data_dir, LogOptions defaults)
      : fs_(fs), data_dir_(std::move(data_dir)), defaults_(defaults) {}

  FileSystem& fs_;
  const std::string data_dir_;
  const LogOptions defaults_;
  mutable std::mutex mu_;
  std::map<Key, std::shared_ptr<PartitionLog>> logs_;  // GUARDED_BY(mu_)
};

}  // namespace telemq::storage
