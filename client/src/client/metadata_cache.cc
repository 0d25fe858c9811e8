#include "client/metadata_cache.h"

namespace telemq::client {

namespace {

void MergePartition(PartitionInfo& known, const PartitionInfo& fresh) {
  if (!fresh.replicas.empty()) known.replicas = fresh.replicas;
  if (fresh.leader_term > known.leader_term) {
    known.leader = fresh.leader;
    known.leader_term = fresh.leader_term;
    known.isr = fresh.isr;
    return;
  }
  if (fresh.leader_term < known.leader_term || fresh.leader == kNoBroker) return;
  if (known.leader == kNoBroker) {
    known.leader = fresh.leader;
    known.isr = fresh.isr;
  } else if (known.leader == fresh.leader && !fresh.isr.empty()) {
    known.isr = fresh.isr;
  }
}

}  // namespace

void MetadataCache::MergeTopic(const std::string& name, const TopicInfo& fresh) {
  auto it = topics_.find(name);
  if (it == topics_.end() || it->second.topic_id != fresh.topic_id ||
      fresh.partitions.size() < it->second.partitions.size()) {
    topics_[name] = fresh;
    return;
  }
  TopicInfo& known = it->second;
  known.partitions.resize(fresh.partitions.size());
  for (size_t p = 0; p < fresh.partitions.size(); ++p) MergePartition(known.partitions[p], fresh.partitions[p]);
}

void MetadataCache::EraseTopic(const std::string& name) { topics_.erase(name); }

void MetadataCache::RetainOnly(const std::set<std::string>& names) {
  std::erase_if(topics_, [&](const auto& entry) { return !names.count(entry.first); });
}

void MetadataCache::MergeBrokers(const std::map<int32_t, BrokerAddress>& brokers) {
  for (const auto& [id, address] : brokers) brokers_[id] = address;
}

void MetadataCache::AddBroker(int32_t id, BrokerAddress address) {
  auto it = brokers_.find(id);
  // An address learned outside metadata says nothing about liveness.
  if (it != brokers_.end()) address.live = it->second.live;
  brokers_[id] = std::move(address);
}

void MetadataCache::MergeController(int32_t id, int64_t term) {
  if (term > controller_term_) {
    controller_ = id;
    controller_term_ = term;
  } else if (term == controller_term_ && controller_ == kNoBroker) {
    controller_ = id;
  }
}

void MetadataCache::ForgetController(int32_t from) {
  if (controller_ == from) controller_ = kNoBroker;
}

MetadataCache::HintOutcome MetadataCache::ApplyNotLeader(const std::string& topic, int32_t partition, int32_t from,
                                                         int32_t hint, int64_t term) {
  PartitionInfo* p = Partition(topic, partition);
  if (!p) return HintOutcome::kIgnored;
  if (hint >= 0 && hint != from) {
    const bool newer = term > p->leader_term;
    const bool same_term_ok =
        term == p->leader_term && (p->leader == kNoBroker || p->leader == from || p->leader == hint);
    if (newer || same_term_ok) {
      if (p->leader != hint) p->isr.clear();
      p->leader = hint;
      p->leader_term = term;
      return HintOutcome::kMoved;
    }
  }
  if (from >= 0 && p->leader == from) {
    // It says it does not lead and names no one newer: hold until metadata
    // names a leader (of this term or a later one).
    p->leader = kNoBroker;
    p->isr.clear();
    return HintOutcome::kForgotten;
  }
  return HintOutcome::kIgnored;
}

const TopicInfo* MetadataCache::Topic(const std::string& name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

int32_t MetadataCache::LeaderOf(const std::string& topic, int32_t partition) const {
  const TopicInfo* t = Topic(topic);
  if (!t || partition < 0 || partition >= static_cast<int32_t>(t->partitions.size())) return kNoBroker;
  return t->partitions[partition].leader;
}

std::optional<BrokerAddress> MetadataCache::Broker(int32_t id) const {
  auto it = brokers_.find(id);
  if (it == brokers_.end()) return std::nullopt;
  return it->second;
}

PartitionInfo* MetadataCache::Partition(const std::string& topic, int32_t partition) {
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition < 0 || partition >= static_cast<int32_t>(it->second.partitions.size())) {
    return nullptr;
  }
  return &it->second.partitions[partition];
}

}  // namespace telemq::client
