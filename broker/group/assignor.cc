#include "broker/group/assignor.h"

#include <algorithm>
#include <limits>
#include <set>
#include <unordered_map>
#include <utility>

namespace telemq::group {
namespace {

// Working state: members and topics by dense index, so that the inner loops
// touch vectors, not strings.
struct Work {
  std::vector<std::string> topic_names;
  std::vector<int32_t> partition_counts;
  std::vector<std::vector<int>> subscribers;               // topic -> member indices, ascending
  std::vector<std::vector<char>> subscribed;               // member -> topic -> 0/1
  std::vector<std::vector<int>> owner;                     // topic -> partition -> member or -1
  std::vector<std::map<int, std::vector<int32_t>>> owned;  // member -> topic -> sorted partitions
  std::vector<int64_t> load;                               // member -> partitions owned
};

void Give(Work& w, int member, int topic, int32_t partition) {
  auto& parts = w.owned[member][topic];
  parts.insert(std::lower_bound(parts.begin(), parts.end(), partition), partition);
  w.owner[topic][partition] = member;
  ++w.load[member];
}

// Least-loaded subscriber of `topic` other than `exclude`; ties go to the
// lower member index. -1 if none.
int LeastLoaded(const Work& w, int topic, int exclude) {
  int best = -1;
  for (int m : w.subscribers[topic]) {
    if (m == exclude) continue;
    if (best < 0 || w.load[m] < w.load[best]) best = m;
  }
  return best;
}

}  // namespace

TargetAssignment ComputeTargetAssignment(const std::vector<AssignorMember>& members, const TopicMetadata& topics,
                                         const TargetAssignment& current) {
  const int n = static_cast<int>(members.size());
  Work w;
  w.subscribed.resize(n);
  w.owned.resize(n);
  w.load.assign(n, 0);

  // Topics in first-subscription order (deterministic: member order, then
  // the member's topic order), restricted to existing, non-empty topics.
  std::unordered_map<std::string, int> topic_index;
  std::unordered_map<std::string, int> member_index;
  for (int m = 0; m < n; ++m) {
    member_index.emplace(members[m].member_id, m);
    for (const std::string& t : members[m].topics) {
      auto meta = topics.find(t);
      if (meta == topics.end() || meta->second <= 0) continue;
      auto [it, inserted] = topic_index.emplace(t, static_cast<int>(w.topic_names.size()));
      if (inserted) {
        w.topic_names.push_back(t);
        w.partition_counts.push_back(meta->second);
        w.subscribers.emplace_back();
        w.owner.emplace_back(meta->second, -1);
      }
      auto& subs = w.subscribers[it->second];
      if (subs.empty() || subs.back() != m) subs.push_back(m);  // duplicates in one member's list
    }
  }
  const int topic_count = static_cast<int>(w.topic_names.size());
  for (int m = 0; m < n; ++m) {
    w.subscribed[m].assign(topic_count, 0);
  }
  for (int t = 0; t < topic_count; ++t) {
    for (int m : w.subscribers[t]) w.subscribed[m][t] = 1;
  }

  // 1. Stickiness: keep every still-valid ownership. If the current target
  //    lists a partition twice (it never should), the first member in id
  //    order keeps it.
  for (const auto& [member_id, assignment] : current) {
    auto mi = member_index.find(member_id);
    if (mi == member_index.end()) continue;
    const int m = mi->second;
    for (const auto& [topic, parts] : assignment) {
      auto ti = topic_index.find(topic);
      if (ti == topic_index.end() || !w.subscribed[m][ti->second]) continue;
      const int t = ti->second;
      for (PartitionId p : parts) {
        if (p.value() < 0 || p.value() >= w.partition_counts[t] || w.owner[t][p.value()] >= 0) continue;
        Give(w, m, t, p.value());
      }
    }
  }

  // 2. Place unowned partitions on the least-loaded subscriber. Topics with
  //    fewer subscribers first: their partitions have fewer places to go, so
  //    the flexible ones can fill around them.
  std::vector<int> topic_order(topic_count);
  for (int t = 0; t < topic_count; ++t) topic_order[t] = t;
  std::stable_sort(topic_order.begin(), topic_order.end(), [&](int a, int b) {
    if (w.subscribers[a].size() != w.subscribers[b].size()) return w.subscribers[a].size() < w.subscribers[b].size();
    return w.topic_names[a] < w.topic_names[b];
  });
  for (int t : topic_order) {
    for (int32_t p = 0; p < w.partition_counts[t]; ++p) {
      if (w.owner[t][p] >= 0) continue;
      Give(w, LeastLoaded(w, t, -1), t, p);
    }
  }

  // 3. Balance by single moves from the most-loaded member that can give to
  //    the least-loaded member that can take. Each move lowers the sum of
  //    squared loads (a load drops from L to L-1 while one at most L-2 rises),
  //    so the loop ends. Givers are tried in (load desc, index asc) order;
  //    after a move the scan restarts from the top.
  std::set<std::pair<int64_t, int>> by_load;  // (-load, member)
  for (int m = 0; m < n; ++m) by_load.emplace(-w.load[m], m);
  bool moved = true;
  while (moved) {
    moved = false;
    for (auto it = by_load.begin(); it != by_load.end(); ++it) {
      const int a = it->second;
      int best_topic = -1;
      int best_taker = -1;
      for (const auto& [t, parts] : w.owned[a]) {
        if (parts.empty()) continue;
        int b = LeastLoaded(w, t, a);
        if (b < 0) continue;
        if (best_taker < 0 || w.load[b] < w.load[best_taker] || (w.load[b] == w.load[best_taker] && b < best_taker)) {
          best_taker = b;
          best_topic = t;
        }
      }
      if (best_taker < 0 || w.load[best_taker] + 1 >= w.load[a]) continue;
      // Move the highest partition of that topic: an arbitrary but stable choice.
      auto& parts = w.owned[a][best_topic];
      const int32_t p = parts.back();
      parts.pop_back();
      by_load.erase({-w.load[a], a});
      by_load.erase({-w.load[best_taker], best_taker});
      --w.load[a];
      Give(w, best_taker, best_topic, p);
      by_load.emplace(-w.load[a], a);
      by_load.emplace(-w.load[best_taker], best_taker);
      moved = true;
      break;
    }
  }

  TargetAssignment out;
  for (int m = 0; m < n; ++m) {
    Assignment& a = out[members[m].member_id];
    for (const auto& [t, parts] : w.owned[m]) {
      if (parts.empty()) continue;
      auto& dst = a[w.topic_names[t]];
      dst.reserve(parts.size());
      for (int32_t p : parts) dst.emplace_back(p);
    }
  }
  return out;
}

}  // namespace telemq::group
