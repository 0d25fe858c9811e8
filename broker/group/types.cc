#include "broker/group/types.h"

#include <algorithm>
#include <iterator>

namespace telemq::group {
namespace {

// Applies a sorted-range set operation topic by topic. `keep_left_only`
// decides whether topics present only in `a` survive (subtract, union) and
// `keep_right_only` the same for `b` (union).
template <typename Op>
Assignment Combine(const Assignment& a, const Assignment& b, bool keep_left_only, bool keep_right_only, Op op) {
  Assignment out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      if (keep_left_only) out.emplace(ia->first, ia->second);
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      if (keep_right_only) out.emplace(ib->first, ib->second);
      ++ib;
    } else {
      std::vector<PartitionId> merged;
      op(ia->second, ib->second, std::back_inserter(merged));
      if (!merged.empty()) out.emplace(ia->first, std::move(merged));
      ++ia;
      ++ib;
    }
  }
  return out;
}

}  // namespace

std::string_view MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kStable: return "stable";
    case MemberState::kUnrevokedPartitions: return "unrevoked_partitions";
    case MemberState::kUnreleasedPartitions: return "unreleased_partitions";
  }
  return "unknown";
}

size_t PartitionCount(const Assignment& a) {
  size_t n = 0;
  for (const auto& [topic, parts] : a) n += parts.size();
  return n;
}

Assignment Subtract(const Assignment& a, const Assignment& b) {
  return Combine(a, b, true, false, [](const auto& x, const auto& y, auto out) {
    std::set_difference(x.begin(), x.end(), y.begin(), y.end(), out);
  });
}

Assignment Intersect(const Assignment& a, const Assignment& b) {
  return Combine(a, b, false, false, [](const auto& x, const auto& y, auto out) {
    std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), out);
  });
}

Assignment Union(const Assignment& a, const Assignment& b) {
  return Combine(a, b, true, true, [](const auto& x, const auto& y, auto out) {
    std::set_union(x.begin(), x.end(), y.begin(), y.end(), out);
  });
}

bool Contains(const Assignment& a, const std::string& topic, PartitionId partition) {
  auto it = a.find(topic);
  return it != a.end() && std::binary_search(it->second.begin(), it->second.end(), partition);
}

Assignment Canonical(Assignment a) {
  for (auto it = a.begin(); it != a.end();) {
    auto& parts = it->second;
    std::sort(parts.begin(), parts.end());
    parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
    it = parts.empty() ? a.erase(it) : std::next(it);
  }
  return a;
}

std::vector<TopicPartition> Flatten(const Assignment& a) {
  std::vector<TopicPartition> out;
  out.reserve(PartitionCount(a));
  for (const auto& [topic, parts] : a) {
    for (PartitionId p : parts) out.push_back({topic, p});
  }
  return out;
}

}  // namespace telemq::group
