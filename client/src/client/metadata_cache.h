#pragma once
// Internal to the client library: what a client believes about the cluster
// (docs/protocol.md §10, "Client metadata"): per topic its id and per
// partition the leader, the leader's Raft term, the replicas and the in-sync
// replicas; the brokers' addresses; the controller leader. Pure bookkeeping
// with the merge rules that keep a client from going back to an older
// leader: no I/O, no clock, no locking (Cluster guards it with its mutex).
//
// Broker ids are plain int32_t here as everywhere on the client's wire side;
// kNoBroker (-1) means "not known".

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace telemq::client {

inline constexpr int32_t kNoBroker = -1;

struct PartitionInfo {
  int32_t leader = kNoBroker;  // kNoBroker: none known (an election, or not yet told)
  int64_t leader_term = 0;     // Raft term of `leader` (or of the last one known)
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;  // empty: unknown (only the leader's broker reports it)
};

struct TopicInfo {
  uint64_t topic_id = 0;  // 0: none given (a broker without topic ids)
  std::vector<PartitionInfo> partitions;
};

struct BrokerAddress {
  std::string host;
  uint16_t port = 0;
  bool live = true;  // as the controller last reported it
};

class MetadataCache {
 public:
  // Merges one topic of a metadata answer. A topic whose id changed, or
  // whose partition count shrank, was deleted and created again: it is
  // replaced whole. Otherwise each partition merges by leader term:
  //  * a higher term replaces the leader (even with kNoBroker: the old one
  //    is deposed), its term and isr;
  //  * the same term replaces the leader only where none is known (one
  //    leader per term, so a differing one is a broker that lags);
  //  * an older term never changes the leader, term or isr.
  // Replicas (placement, from the controller) are taken whenever present.
  void MergeTopic(const std::string& name, const TopicInfo& fresh);
  void EraseTopic(const std::string& name);
  // After a listing of every topic: forgets the topics it did not name.
  void RetainOnly(const std::set<std::string>& names);

  // Broker addresses from metadata replace the known ones of the same id
  // and extend the set; ids not named stay (a coordinator learned from
  // FindCoordinator, a broker momentarily absent from one answer).
  void MergeBrokers(const std::map<int32_t, BrokerAddress>& brokers);
  void AddBroker(int32_t id, BrokerAddress address);

  // The controller leader by the same term rule as partition leaders.
  void MergeController(int32_t id, int64_t term);
  // Broker `from` answered NotController: forget it if it is the one known.
  void ForgetController(int32_t from);

  // What a NotLeader (or LeaderNotAvailable) answer from broker `from` did.
  enum class HintOutcome {
    kMoved,      // the cache now names `hint` as the leader: retry there
    kForgotten,  // no usable hint and `from` was the known leader: now none
    kIgnored,    // the cache already knows better (a newer term or another leader)
  };
  // `hint` >= 0 (and != from) is taken when `term` is newer than the known
  // one, or equal while the known leader is none, `from` or `hint` itself.
  HintOutcome ApplyNotLeader(const std::string& topic, int32_t partition, int32_t from, int32_t hint, int64_t term);

  const TopicInfo* Topic(const std::string& name) const;
  int32_t LeaderOf(const std::string& topic, int32_t partition) const;
  std::optional<BrokerAddress> Broker(int32_t id) const;
  const std::map<int32_t, BrokerAddress>& brokers() const { return brokers_; }
  int32_t controller() const { return controller_; }
  int64_t controller_term() const { return controller_term_; }

 private:
  PartitionInfo* Partition(const std::string& topic, int32_t partition);

  std::map<std::string, TopicInfo> topics_;
  std::map<int32_t, BrokerAddress> brokers_;
  int32_t controller_ = kNoBroker;
  int64_t controller_term_ = 0;
};

}  // namespace telemq::client
