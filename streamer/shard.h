#pragma once
// How looping streamers split the fleet (docs/streamer.md, "Sharing the
// fleet"): one shard per host. The hosts of the source, sorted by name, are
// shards 0..H-1, and the streamers' group (`telemq-streamers`) is a group on
// a coordination topic of exactly H partitions, `<group>.hosts`: a streamer
// streams exactly the hosts whose shard is in its group assignment.
//
// Why: the group's assignor keeps partition counts within one of each other
// and moves only the partitions of a member that joined or left (stickiness,
// docs/groups.md "Assignor"). With one host per partition, the hosts inherit
// both properties for any host count: within ±1 of even, and a rebalance
// moves only the hosts of the streamer that came or went. Hashing hosts onto
// the telemetry topic's partitions (as before) gave one of two streamers 12
// of 16 hosts. The unit stays the host, so a snapshot is always emitted
// whole by one streamer. Every streamer of a group must read the same source
// (same host names), as before. Pure functions.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace telemq::streamer {

// The coordination topic of a streamers' group.
std::string ShardTopic(const std::string& group);

// Host index (into the source's host list) -> shard, and back.
class HostShards {
 public:
  explicit HostShards(const std::vector<std::string>& hosts);
  // H: the number of shards, one per host.
  int32_t count() const { return static_cast<int32_t>(host_of_shard_.size()); }
  int32_t ShardOf(size_t host) const { return shard_of_host_[host]; }
  // Indexes into the host list of the hosts whose shard is in `shards`
  // (shards outside 0..H-1 are ignored), ascending.
  std::vector<size_t> HostsIn(const std::set<int32_t>& shards) const;

 private:
  std::vector<size_t> host_of_shard_;   // shard -> host index
  std::vector<int32_t> shard_of_host_;  // host index -> shard
};

}  // namespace telemq::streamer
