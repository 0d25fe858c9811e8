#include "tests/chaos/checker.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <tuple>

#include "tests/support/str.h"

namespace telemq::chaos {

namespace {

using ::telemq::testing::Str;

class Problems {
 public:
  explicit Problems(Report* report) : report_(report) {}
  void Add(const std::string& what) {
    if (report_->problems.size() < Report::kMaxProblems) report_->problems.push_back(what);
  }

 private:
  Report* report_;
};

using Position = std::pair<int32_t, int64_t>;  // (partition, offset)

std::string Where(const Position& p) { return Str(p.first, "/", p.second); }

// "t<term>|<value>" -> "<value>".
std::string_view WithoutTerm(std::string_view replica_value) {
  const size_t bar = replica_value.find('|');
  return bar == std::string_view::npos ? replica_value : replica_value.substr(bar + 1);
}

constexpr std::string_view kControl = "<control>";

}  // namespace

Report Check(const History& h) {
  Report r;
  Problems problems(&r);

  std::map<RecordId, const ProduceOp*> ops;
  for (const auto& op : h.ops) {
    ++r.attempted;
    switch (op.outcome) {
      case Outcome::kAcked: ++r.acked; break;
      case Outcome::kFailed: ++r.failed; break;
      case Outcome::kUnknown: ++r.unknown; break;
    }
    ops[op.id] = &op;
  }

  // The final read: where each record is, and what each offset holds.
  std::map<RecordId, std::vector<Position>> where;
  std::map<Position, std::string_view> holds;
  for (const auto& [partition, records] : h.final_read) {
    for (const auto& [offset, value] : records) {
      ++r.read;
      const Position pos{partition, offset};
      holds[pos] = value;
      const auto id = ParseValue(value);
      if (!id) {
        ++r.phantom;
        problems.Add(Str("phantom: ", Where(pos), " holds a record the workload never wrote"));
        continue;
      }
      where[*id].push_back(pos);
      const auto op = ops.find(*id);
      if (op == ops.end()) {
        ++r.phantom;
        problems.Add(Str("phantom: ", ToString(*id), " at ", Where(pos), " was never sent"));
      } else if (op->second->outcome == Outcome::kFailed) {
        ++r.phantom;
        problems.Add(Str("phantom: ", ToString(*id), " at ", Where(pos), " was refused by Send() yet is in the log"));
      }
    }
  }

  for (const auto& [id, positions] : where) {
    if (positions.size() > 1) {
      r.duplicated += static_cast<int64_t>(positions.size()) - 1;
      std::string at;
      for (const auto& p : positions) at += Str(" ", Where(p));
      problems.Add(Str("duplicated: ", ToString(id), " at", at));
    }
  }

  for (const auto& [id, op] : ops) {
    const auto found = where.find(id);
    if (op->outcome == Outcome::kUnknown && found != where.end()) ++r.unknown_present;
    if (op->outcome != Outcome::kAcked) continue;
    if (found == where.end() && !h.final_high_watermark.count(op->partition)) {
      ++r.unjudged;
      continue;
    }
    if (found == where.end()) {
      ++r.lost;
      problems.Add(Str("lost: ", ToString(id), " acknowledged at ", Where({op->partition, op->offset}),
                       ", absent from the final read"));
    } else if (found->second.size() == 1 && op->offset >= 0 &&
               found->second.front() != Position{op->partition, op->offset}) {
      ++r.changed;
      problems.Add(Str("changed: ", ToString(id), " acknowledged at ", Where({op->partition, op->offset}), ", read at ",
                       Where(found->second.front())));
    }
  }

  // Per key: sequence order by offset.
  std::map<std::pair<int32_t, int32_t>, std::vector<std::tuple<Position, int64_t>>> by_key;
  for (const auto& [id, positions] : where) {
    for (const auto& p : positions) by_key[{id.producer, id.key}].emplace_back(p, id.seq);
  }
  for (auto& [key, records] : by_key) {
    std::sort(records.begin(), records.end());
    int64_t highest = -1;
    Position highest_at{};
    for (const auto& [pos, seq] : records) {
      if (seq < highest) {
        ++r.reordered;
        problems.Add(Str("reordered: p", key.first, "k", key.second, " s", seq, " at ", Where(pos), " after s", highest,
                         " at ", Where(highest_at)));
      } else {
        highest = seq;
        highest_at = pos;
      }
    }
  }

  // Every other reader against the final read, below its high watermark.
  std::set<Position> changed_at;
  auto covered = [&](const Position& p) {
    const auto hw = h.final_high_watermark.find(p.first);
    return hw != h.final_high_watermark.end() && p.second < hw->second;
  };
  auto compare = [&](const Position& p, std::string_view seen, const std::string& who) {
    if (!covered(p) || changed_at.count(p)) return;
    const auto it = holds.find(p);
    const std::string_view final_value = it == holds.end() ? kControl : it->second;
    if (seen == final_value) return;
    changed_at.insert(p);
    ++r.changed;
    problems.Add(Str("changed: ", Where(p), " held '", seen.substr(0, 32), "' for ", who, " but '",
                     final_value.substr(0, 32), "' in the final read"));
  };

  // Replicas: below the final high watermark every replica that has an
  // offset must hold the same (term, record) there.
  std::map<Position, std::pair<int32_t, std::string_view>> first_replica;
  for (const auto& [broker, partitions] : h.replicas) {
    for (const auto& [partition, log] : partitions) {
      for (const auto& [offset, value] : log) {
        const Position p{partition, offset};
        if (!covered(p)) continue;
        auto [it, inserted] = first_replica.try_emplace(p, broker, value);
        if (!inserted && it->second.second != value) {
          ++r.divergent;
          problems.Add(Str("divergent: ", Where(p), " holds '", it->second.second.substr(0, 40), "' on broker ",
                           it->second.first, " but '", std::string_view(value).substr(0, 40), "' on broker ", broker));
        }
        compare(p, WithoutTerm(value), Str("broker ", broker, "'s files"));
      }
    }
  }

  // The group.
  std::map<Position, std::vector<const GroupDelivery*>> delivered;
  for (const auto& d : h.group) {
    ++r.group_delivered;
    const Position p{d.partition, d.offset};
    auto& earlier = delivered[p];
    for (const auto* e : earlier) {
      if (e->member == d.member && e->generation == d.generation) {
        ++r.group_unexplained;
        problems.Add(Str("group: ", Where(p), " handed twice to member ", d.member, " in generation ", d.generation));
        break;
      }
    }
    if (!earlier.empty()) ++r.group_redelivered;
    earlier.push_back(&d);
    compare(p, d.value, Str("group member ", d.member));
  }
  // group_redelivered counts allowed redeliveries only.
  r.group_redelivered -= r.group_unexplained;
  for (const auto& [partition, committed] : h.group_committed) {
    const auto records = h.final_read.find(partition);
    if (records == h.final_read.end()) continue;
    for (const auto& [offset, value] : records->second) {
      if (offset >= committed) break;
      if (!delivered.count({partition, offset})) {
        ++r.group_missed;
        problems.Add(Str("group: ", Where({partition, offset}), " below committed offset ", committed,
                         " was handed to no member"));
      }
    }
  }

  // (reader, partition) -> (highest term seen, high watermark seen in it).
  std::map<std::pair<int32_t, int32_t>, std::pair<int64_t, int64_t>> last_hw;
  for (const auto& s : h.watermarks) {
    auto [it, inserted] = last_hw.try_emplace({s.reader, s.partition}, s.term, s.high_watermark);
    if (inserted) continue;
    auto& [term, hw] = it->second;
    if (s.term < term) {
      ++r.watermark_fenced;
      continue;
    }
    if (s.high_watermark < hw) {
      ++r.watermark_regressions;
      problems.Add(Str("high watermark of partition ", s.partition, " went back from ", hw, " to ", s.high_watermark,
                       " (term ", s.term, ") for reader ", s.reader));
    }
    term = s.term;
    hw = std::max(hw, s.high_watermark);
  }

  for (const auto& rec : h.recoveries) {
    if (rec.ms < 0 || rec.ms > h.recovery_bound_ms) {
      ++r.slow_recoveries;
      problems.Add(Str("unavailable: after ", rec.fault, " the cluster did not serve every partition within ",
                       h.recovery_bound_ms, " ms"));
    }
    r.max_recovery_ms = std::max(r.max_recovery_ms, rec.ms);
  }
  return r;
}

std::string Format(const Report& r) {
  std::ostringstream s;
  s << "operations: attempted " << r.attempted << ", acknowledged " << r.acked << ", failed " << r.failed
    << ", unknown " << r.unknown << " (" << r.unknown_present << " of them in the log)\n"
    << "final read: " << r.read << " records"
    << (r.unjudged > 0 ? ", " + std::to_string(r.unjudged) +
                             " acknowledged records NOT JUDGED (their partitions had no serving leader at the end)"
                       : std::string())
    << "\n"
    << "lost " << r.lost << ", duplicated " << r.duplicated << ", reordered " << r.reordered << ", changed "
    << r.changed << ", divergent " << r.divergent << ", phantom " << r.phantom << "\n"
    << "group: delivered " << r.group_delivered << ", missed " << r.group_missed << ", redelivered "
    << r.group_redelivered << " (after a rebalance, allowed), unexplained " << r.group_unexplained << "\n"
    << "high watermark regressions " << r.watermark_regressions << " (" << r.watermark_fenced
    << " stale-term answers fenced); recoveries over the bound " << r.slow_recoveries << ", longest "
    << r.max_recovery_ms << " ms\n";
  for (const auto& p : r.problems) s << "  ! " << p << "\n";
  s << (r.valid() ? "valid: true" : "valid: FALSE") << "\n";
  return s.str();
}

}  // namespace telemq::chaos
