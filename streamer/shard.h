#pragma once
// How streamers split the fleet: a host's shard is
// PartitionForKey(hostname, P) over the telemetry topic's P partitions, and
// a streamer streams exactly the hosts whose shard is in its group
// assignment (group `telemq-streamers`, docs/streamer.md). The split is by
// host, not by GPU, so one host's snapshot is always emitted whole by one
// streamer. Pure functions.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace telemq::streamer {

// Requires partitions > 0.
int32_t ShardOfHost(std::string_view hostname, int32_t partitions);

// Indexes into `hosts` of the hosts whose shard is in `shards`, ascending.
std::vector<size_t> HostsInShards(const std::vector<std::string>& hosts, const std::set<int32_t>& shards,
                                  int32_t partitions);

}  // namespace telemq::streamer
