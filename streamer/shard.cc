#include "streamer/shard.h"

#include <algorithm>
#include <numeric>

namespace telemq::streamer {

std::string ShardTopic(const std::string& group) { return group + ".hosts"; }

HostShards::HostShards(const std::vector<std::string>& hosts)
    : host_of_shard_(hosts.size()), shard_of_host_(hosts.size()) {
  // By name, not by position in the source: every streamer of the group
  // must agree, whatever order its source lists the hosts in. Equal names
  // (one host twice in a source) keep their order.
  std::iota(host_of_shard_.begin(), host_of_shard_.end(), size_t{0});
  std::stable_sort(host_of_shard_.begin(), host_of_shard_.end(),
                   [&](size_t a, size_t b) { return hosts[a] < hosts[b]; });
  for (size_t shard = 0; shard < host_of_shard_.size(); ++shard) {
    shard_of_host_[host_of_shard_[shard]] = static_cast<int32_t>(shard);
  }
}

std::vector<size_t> HostShards::HostsIn(const std::set<int32_t>& shards) const {
  std::vector<size_t> out;
  for (int32_t s : shards) {
    if (s >= 0 && s < count()) out.push_back(host_of_shard_[static_cast<size_t>(s)]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace telemq::streamer
