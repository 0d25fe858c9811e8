#include "broker/storage/log_manager.h"

#include <charconv>
#include <vector>

#include "telemq/common/log.h"

namespace telemq::storage {

bool LogManager::ValidTopicName(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  for (char c : topic) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string LogManager::DirName(std::string_view topic, PartitionId partition) {
  return std::string(topic) + "-" + std::to_string(partition.value());
}

Result<std::unique_ptr<LogManager>> LogManager::Open(FileSystem& fs, std::string data_dir, LogOptions defaults,
                                                     const OptionsFor& options_for) {
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  TELEMQ_TRY(fs.CreateDir(data_dir));
  std::unique_ptr<LogManager> manager(new LogManager(fs, data_dir, defaults));
  TELEMQ_ASSIGN_OR_RETURN(auto names, fs.ListDir(data_dir));
  for (const auto& name : names) {
    // Topic names may contain '-': the partition is after the last one.
    const size_t dash = name.rfind('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == name.size()) continue;
    int32_t partition = -1;
    const char* end = name.data() + name.size();
    auto [ptr, ec] = std::from_chars(name.data() + dash + 1, end, partition);
    const std::string topic = name.substr(0, dash);
    if (ec != std::errc() || ptr != end || partition < 0 || !ValidTopicName(topic)) continue;
    if (name != DirName(topic, PartitionId(partition))) continue;  // "t-007" is not ours
    TELEMQ_ASSIGN_OR_RETURN(const bool is_dir, fs.IsDirectory(data_dir + "/" + name));
    if (!is_dir) continue;
    const auto options = options_for(topic, PartitionId(partition));
    if (!options) {
      log::Warn("removing the log of an unknown topic partition", {{"path", data_dir + "/" + name}});
      TELEMQ_TRY(RemoveDirRecursively(fs, data_dir + "/" + name));
      TELEMQ_TRY(fs.SyncDir(data_dir));
      continue;
    }
    TELEMQ_ASSIGN_OR_RETURN(auto log, PartitionLog::Open(fs, data_dir + "/" + name, *options));
    manager->logs_.emplace(Key{topic, partition}, std::shared_ptr<PartitionLog>(std::move(log)));
  }
  return manager;
}

std::shared_ptr<PartitionLog> LogManager::Get(std::string_view topic, PartitionId partition) const {
  std::lock_guard lock(mu_);
  auto it = logs_.find(Key{std::string(topic), partition.value()});
  return it == logs_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<PartitionLog>> LogManager::Create(const std::string& topic, PartitionId partition,
                                                         LogOptions opts) {
  if (!ValidTopicName(topic) || partition.value() < 0) {
    return Fail(Errc::kInvalidArgument, "bad topic name or partition: '" + topic + "'");
  }
  // Held across Open so two creators of one partition cannot both open it.
  std::lock_guard lock(mu_);
  const Key key{topic, partition.value()};
  if (logs_.count(key) != 0) return Fail(Errc::kAlreadyExists, DirName(topic, partition) + " already exists");
  TELEMQ_ASSIGN_OR_RETURN(auto log, PartitionLog::Open(fs_, data_dir_ + "/" + DirName(topic, partition), opts));
  TELEMQ_TRY(fs_.SyncDir(data_dir_));
  std::shared_ptr<PartitionLog> shared(std::move(log));
  logs_.emplace(key, shared);
  return shared;
}

Result<void> LogManager::Remove(const std::string& topic, PartitionId partition) {
  std::shared_ptr<PartitionLog> log;
  {
    std::lock_guard lock(mu_);
    auto it = logs_.find(Key{topic, partition.value()});
    if (it == logs_.end()) return Fail(Errc::kNotFound, DirName(topic, partition) + " is not on this broker");
    log = std::move(it->second);
    logs_.erase(it);
  }
  TELEMQ_TRY(log->Close());
  TELEMQ_TRY(RemoveDirRecursively(fs_, log->dir()));
  return fs_.SyncDir(data_dir_);
}

void LogManager::ForEach(const Visitor& visit) const {
  std::vector<std::pair<Key, std::shared_ptr<PartitionLog>>> snapshot;
  {
    std::lock_guard lock(mu_);
    snapshot.assign(logs_.begin(), logs_.end());
  }
  for (const auto& [key, log] : snapshot) visit(key.first, PartitionId(key.second), log);
}

Result<void> LogManager::CloseAll() {
  Result<void> first_error;
  ForEach([&](const std::string&, PartitionId, const std::shared_ptr<PartitionLog>& log) {
    auto r = log->Close();
    if (!r && first_error) first_error = r;
  });
  return first_error;
}

}  // namespace telemq::storage
