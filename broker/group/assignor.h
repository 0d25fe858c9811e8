#pragma once
// The server-side assignor: a sticky, balanced target assignment for one
// group (docs/groups.md "Assignor").
//
// Input: the members in a fixed order (the order breaks every tie), each
// with its subscribed topics; topic -> partition count; and the current
// target assignment. Output: the new target, with an entry (possibly empty)
// for every member.
//
// Guarantees, in priority order:
//  1. Coverage: every partition of every topic that exists in the metadata
//     and has at least one subscriber is owned by exactly one member, and
//     that member subscribes to the topic. Partitions of topics nobody
//     subscribes to, of unknown topics, or beyond the partition count are in
//     nobody's assignment.
//  2. Balance, counted in partitions over all topics: no partition can be
//     moved from its owner to another subscriber of its topic whose load is
//     at least 2 lower ("no improving single move"). With identical
//     subscriptions this is the familiar max - min <= 1. With differing
//     subscriptions it is as balanced as single moves allow; the result may
//     be further from an optimal flow-based balance in contrived cases.
//  3. Stickiness: a partition keeps its current owner unless the owner is
//     gone, no longer subscribes to its topic, the partition no longer
//     exists, or a balancing move needs it. Balancing always moves from the
//     most-loaded member that can give to the least-loaded member that can
//     take, one partition at a time, so with identical subscriptions the
//     number of moved partitions is the minimum needed: a join moves about
//     P/(N+1) partitions, all to the newcomer; a leave moves only the
//     leaver's partitions.
//  4. Determinism: equal inputs give equal outputs (no randomness, no
//     hash-order iteration).
//
// Cost: O(P * S) to place unowned partitions plus O(T_a * S + log N) per
// balancing move (S subscribers of a topic, T_a topics of the giver).
// Pure function; thread-safe.

#include <string>
#include <vector>

#include "broker/group/types.h"

namespace telemq::group {

struct AssignorMember {
  std::string member_id;
  std::vector<std::string> topics;  // any order; duplicates and unknown topics ignored
};

[[nodiscard]] TargetAssignment ComputeTargetAssignment(const std::vector<AssignorMember>& members,
                                                       const TopicMetadata& topics, const TargetAssignment& current);

}  // namespace telemq::group
