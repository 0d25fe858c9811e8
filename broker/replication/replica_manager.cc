#include "broker/replication/replica_manager.h"

#include <mutex>

namespace telemq::replication {

std::shared_ptr<Replica> ReplicaManager::Get(std::string_view topic, PartitionId partition) const {
  std::shared_lock lock(mu_);
  auto it = replicas_.find(std::pair<std::string, int32_t>(std::string(topic), partition.value()));
  return it == replicas_.end() ? nullptr : it->second;
}

std::shared_ptr<Replica> ReplicaManager::GetById(uint64_t topic_id, PartitionId partition) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find({topic_id, partition.value()});
  return it == by_id_.end() ? nullptr : it->second;
}

void ReplicaManager::Add(std::shared_ptr<Replica> replica) {
  std::unique_lock lock(mu_);
  const std::pair<std::string, int32_t> key{replica->key().topic, replica->key().partition.value()};
  if (auto old = replicas_.find(key); old != replicas_.end()) {
    by_id_.erase({old->second->topic_id(), key.second});
  }
  by_id_[{replica->topic_id(), key.second}] = replica;
  replicas_[key] = std::move(replica);
}

std::shared_ptr<Replica> ReplicaManager::Remove(const PartitionKey& key) {
  std::unique_lock lock(mu_);
  auto it = replicas_.find(std::pair<std::string, int32_t>(key.topic, key.partition.value()));
  if (it == replicas_.end()) return nullptr;
  auto replica = std::move(it->second);
  replicas_.erase(it);
  by_id_.erase({replica->topic_id(), key.partition.value()});
  return replica;
}

std::vector<std::shared_ptr<Replica>> ReplicaManager::All() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<Replica>> out;
  out.reserve(replicas_.size());
  for (const auto& [_, r] : replicas_) out.push_back(r);
  return out;
}

size_t ReplicaManager::size() const {
  std::shared_lock lock(mu_);
  return replicas_.size();
}

}  // namespace telemq::replication
