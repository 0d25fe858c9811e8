#pragma once
// TopicPartition: the name of one partition, shared by Consumer, GroupMember
// and Admin. A value type; ordered by topic, then partition.

#include <cstdint>
#include <string>

namespace telemq {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// "topic:partition", the form the CLI prints.
inline std::string ToString(const TopicPartition& tp) { return tp.topic + ":" + std::to_string(tp.partition); }

}  // namespace telemq
