#pragma once
// The nemesis's plan: a seeded, replayable list of faults, run one at a time
// (inject, hold, heal, wait for the cluster to serve again, pause). The same
// seed gives the same schedule; a schedule written to a file replays it
// (`telemq-chaos --schedule FILE`). Which broker a "leader" or "follower"
// fault hits is resolved when it is injected (leadership is not
// deterministic), and the run log names it. Pure: no I/O besides strings.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::chaos {

enum class FaultKind {
  kKill,       // kill -9, restarted after the hold
  kPause,      // SIGSTOP for longer than the election timeout, then SIGCONT
  kIsolate,    // every link between the target and its peers cut (the target is the minority)
  kBridge,     // the two others cannot reach each other; the target still reaches both
  kDiskFull,   // the target's data file system filled by a ballast file, then freed
  kTruncate,   // target killed, the tail of one of its segments cut, restarted
  kFlipByte,   // target killed, one checksummed byte of a recent batch flipped, restarted
  kPowerLoss,  // target killed, its unsynced writes dropped (some kept, torn), rebooted
};
inline constexpr FaultKind kAllFaultKinds[] = {FaultKind::kKill,     FaultKind::kPause,    FaultKind::kIsolate,
                                               FaultKind::kBridge,   FaultKind::kDiskFull, FaultKind::kTruncate,
                                               FaultKind::kFlipByte, FaultKind::kPowerLoss};

std::string_view Name(FaultKind kind);
std::optional<FaultKind> ParseFaultKind(std::string_view name);

// Whom a fault hits: the leader or a follower of one partition of the
// workload's topic at injection time.
enum class Role { kLeader, kFollower };

struct Fault {
  FaultKind kind = FaultKind::kKill;
  Role role = Role::kLeader;
  int32_t partition = 0;
  int64_t gap_ms = 0;   // quiet time before the fault
  int64_t hold_ms = 0;  // how long it lasts before the heal
  uint64_t param = 0;   // random bits for the fault's own choices (which follower, which byte, how much survives)
  bool operator==(const Fault&) const = default;
};

struct Schedule {
  uint64_t seed = 0;
  std::vector<Fault> faults;
};

struct ScheduleOptions {
  uint64_t seed = 0;
  std::vector<FaultKind> kinds;  // enabled kinds; the first |kinds| faults are each kind once, in random order
  int32_t partitions = 1;
  // Enough faults for this much time, counting about `per_fault_overhead`
  // per fault on top of its gap and hold (heal, restart, recovery).
  std::chrono::milliseconds duration{60'000};
  std::chrono::milliseconds per_fault_overhead{6'000};
  // Gap and hold ranges (a pause always holds at least pause_min).
  std::chrono::milliseconds gap_min{1'000}, gap_max{3'000};
  std::chrono::milliseconds hold_min{2'000}, hold_max{6'000};
  std::chrono::milliseconds pause_min{3'000};
};

[[nodiscard]] Schedule Generate(const ScheduleOptions& options);

// One line per fault after a header; '#' starts a comment.
std::string Serialize(const Schedule& schedule);
[[nodiscard]] Result<Schedule> ParseSchedule(std::string_view text);

std::string Describe(const Fault& fault);

}  // namespace telemq::chaos
