#include "tests/chaos/schedule.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <sstream>

namespace telemq::chaos {

namespace {

constexpr std::pair<FaultKind, std::string_view> kNames[] = {
    {FaultKind::kKill, "kill"},          {FaultKind::kPause, "pause"},          {FaultKind::kIsolate, "isolate"},
    {FaultKind::kBridge, "bridge"},      {FaultKind::kDiskFull, "disk-full"},   {FaultKind::kTruncate, "truncate"},
    {FaultKind::kFlipByte, "flip-byte"}, {FaultKind::kPowerLoss, "power-loss"},
};

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

int64_t Between(std::mt19937_64& rng, std::chrono::milliseconds lo, std::chrono::milliseconds hi) {
  return std::uniform_int_distribution<int64_t>(lo.count(), std::max(lo, hi).count())(rng);
}

}  // namespace

std::string_view Name(FaultKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "?";
}

std::optional<FaultKind> ParseFaultKind(std::string_view name) {
  for (const auto& [k, n] : kNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

Schedule Generate(const ScheduleOptions& o) {
  Schedule s;
  s.seed = o.seed;
  if (o.kinds.empty()) return s;
  std::mt19937_64 rng(o.seed);
  std::vector<FaultKind> first = o.kinds;
  std::shuffle(first.begin(), first.end(), rng);
  int64_t budget = o.duration.count();
  for (size_t i = 0; budget > 0; ++i) {
    Fault f;
    f.kind = i < first.size() ? first[i] : o.kinds[std::uniform_int_distribution<size_t>(0, o.kinds.size() - 1)(rng)];
    f.role = std::bernoulli_distribution(0.5)(rng) ? Role::kLeader : Role::kFollower;
    f.partition = std::uniform_int_distribution<int32_t>(0, std::max(1, o.partitions) - 1)(rng);
    f.gap_ms = Between(rng, o.gap_min, o.gap_max);
    f.hold_ms = Between(rng, f.kind == FaultKind::kPause ? std::max(o.hold_min, o.pause_min) : o.hold_min, o.hold_max);
    f.param = rng();
    budget -= f.gap_ms + f.hold_ms + o.per_fault_overhead.count();
    s.faults.push_back(f);
  }
  return s;
}

std::string Describe(const Fault& f) {
  std::ostringstream s;
  s << Name(f.kind) << " " << (f.role == Role::kLeader ? "leader" : "follower") << " of partition " << f.partition
    << ", hold " << f.hold_ms << " ms after a gap of " << f.gap_ms << " ms";
  return s.str();
}

std::string Serialize(const Schedule& schedule) {
  std::ostringstream s;
  s << "# telemq-chaos schedule: replay with telemq-chaos --schedule FILE\n";
  s << "seed " << schedule.seed << "\n";
  for (const auto& f : schedule.faults) {
    s << "fault " << Name(f.kind) << " " << (f.role == Role::kLeader ? "leader" : "follower") << " " << f.partition
      << " " << f.gap_ms << " " << f.hold_ms << " " << f.param << "\n";
  }
  return s.str();
}

Result<Schedule> ParseSchedule(std::string_view text) {
  Schedule out;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string line(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream in(line);
    std::string word;
    if (!(in >> word)) continue;
    const auto bad = [&](const std::string& why) {
      return Fail(Errc::kInvalidArgument, "schedule line " + std::to_string(line_no) + ": " + why);
    };
    if (word == "seed") {
      std::string n;
      if (!(in >> n) || !ParseNumber(n, &out.seed)) return bad("expected: seed <number>");
      continue;
    }
    if (word != "fault") return bad("unknown word '" + word + "'");
    std::string kind, role, partition, gap, hold, param;
    if (!(in >> kind >> role >> partition >> gap >> hold >> param)) {
      return bad("expected: fault <kind> leader|follower <partition> <gap_ms> <hold_ms> <param>");
    }
    Fault f;
    const auto k = ParseFaultKind(kind);
    if (!k) return bad("unknown fault kind '" + kind + "'");
    f.kind = *k;
    if (role != "leader" && role != "follower") return bad("role must be leader or follower");
    f.role = role == "leader" ? Role::kLeader : Role::kFollower;
    if (!ParseNumber(partition, &f.partition) || f.partition < 0 || !ParseNumber(gap, &f.gap_ms) || f.gap_ms < 0 ||
        !ParseNumber(hold, &f.hold_ms) || f.hold_ms < 0 || !ParseNumber(param, &f.param)) {
      return bad("malformed number");
    }
    out.faults.push_back(f);
  }
  return out;
}

}  // namespace telemq::chaos
