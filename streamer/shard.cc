#include "streamer/shard.h"

#include "telemq/producer.h"

namespace telemq::streamer {

int32_t ShardOfHost(std::string_view hostname, int32_t partitions) { return PartitionForKey(hostname, partitions); }

std::vector<size_t> HostsInShards(const std::vector<std::string>& hosts, const std::set<int32_t>& shards,
                                  int32_t partitions) {
  std::vector<size_t> out;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (shards.contains(ShardOfHost(hosts[i], partitions))) out.push_back(i);
  }
  return out;
}

}  // namespace telemq::streamer
