#include "tests/chaos/nemesis.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/chaos/disk.h"
#include "tests/support/str.h"

namespace telemq::chaos {

namespace {

using std::chrono::milliseconds;

using ::telemq::testing::Str;

// How child `pid` ended, if it has: waitid with WNOWAIT looks without
// reaping (ChildProcess reaps it later). nullopt while it runs.
std::optional<std::string> ExitedHow(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return std::nullopt;
  if (info.si_pid != pid) return std::nullopt;
  switch (info.si_code) {
    case CLD_EXITED: return Str("exit code ", info.si_status);
    case CLD_KILLED: return Str("killed by signal ", info.si_status, " (", strsignal(info.si_status), ")");
    case CLD_DUMPED: return Str("killed by signal ", info.si_status, " (", strsignal(info.si_status), "), core dumped");
    default: return Str("ended (si_code ", info.si_code, ")");
  }
}

}  // namespace

int64_t SteadyMs() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
}

Nemesis::Nemesis(testing::BrokerCluster& cluster, NemesisOptions options) : cluster_(cluster), o_(std::move(options)) {}

Nemesis::~Nemesis() { UnmountAll(); }

void Nemesis::UnmountAll() {
  for (int b : on_tmpfs_) UnmountTmpfs(cluster_.broker(b).data_dir());
  on_tmpfs_.clear();
}

Result<void> Nemesis::Run(size_t index, const Fault& f) {
  std::this_thread::sleep_for(milliseconds(f.gap_ms));
  TELEMQ_ASSIGN_OR_RETURN(const int target, Target(f));
  const std::string name(Name(f.kind));
  Log(Str("fault ", index, ": ", Describe(f), " -> broker ", target));
  int64_t failover_ms = -1;
  std::string skipped;
  TELEMQ_TRY(Inject(f, target, &failover_ms, &skipped));
  if (!skipped.empty()) {
    Log(Str("fault ", index, " skipped: ", skipped));
    ++skipped_[name];
    return Ok();
  }
  ++injected_[name];
  const int64_t healed = SteadyMs();
  const int64_t ms = AwaitRecovery(healed);
  recoveries_.push_back(Recovery{Str(name, " (fault ", index, ", broker ", target, ")"), ms, failover_ms});
  Log(Str("fault ", index, " healed; served during the fault after ",
          failover_ms < 0 ? std::string("- (not while it held)") : Str(failover_ms, " ms"),
          ", every partition served after the heal in ", ms, " ms"));
  return Ok();
}

int64_t Nemesis::AwaitRecovery(int64_t since) {
  const int64_t deadline = since + o_.recovery_bound_ms;
  RestartDead();
  auto caught = cluster_.AwaitCaughtUp(milliseconds(std::max<int64_t>(1, deadline - SteadyMs())));
  if (!caught) {
    Log("not caught up: " + caught.error().ToString().substr(0, 600));
    return -1;
  }
  while (SteadyMs() < deadline) {
    if (o_.served_since(since)) return SteadyMs() - since;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return -1;
}

void Nemesis::RestartDead() {
  for (int i = 0; i < cluster_.size(); ++i) {
    auto& b = cluster_.broker(i);
    if (!b.running()) continue;
    const auto how = ExitedHow(b.pid());
    if (!how) continue;
    const std::string tail = b.LogTail(1500);
    findings_.push_back(Str("broker ", i, " exited on its own (", *how, "); its log ends:\n", tail));
    Log(Str("FINDING: broker ", i, " exited on its own (", *how, "); restarting it. Its log ends:\n", tail));
    cluster_.Kill9(i);  // reaps it
    if (auto r = cluster_.Restart(i); !r) Log(Str("restart of broker ", i, ": ", r.error().ToString()));
  }
}

Result<int> Nemesis::Target(const Fault& f) {
  TELEMQ_ASSIGN_OR_RETURN(auto leader, cluster_.AwaitLeader(o_.topic, f.partition, std::chrono::seconds(20)));
  if (f.role == Role::kLeader) return leader.broker;
  return (leader.broker + 1 + static_cast<int>(f.param % 2)) % cluster_.size();
}

Result<void> Nemesis::Restart(int b) {
  auto r = cluster_.Restart(b);
  if (r) return Ok();
  Log(Str("broker ", b, " did not come back: ", r.error().ToString(), "; one more try"));
  cluster_.Kill9(b);
  r = cluster_.Restart(b);
  if (!r) {
    findings_.push_back(Str("broker ", b, " does not start again: ", r.error().ToString()));
    return Fail(Errc::kIo, Str("broker ", b, " does not start again: ", r.error().ToString()));
  }
  return Ok();
}

void Nemesis::Hold(const Fault& f, int64_t injected_at, int64_t* failover_ms) {
  const int64_t until = injected_at + f.hold_ms;
  while (SteadyMs() < until) {
    if (*failover_ms < 0 && o_.served_since(injected_at)) *failover_ms = SteadyMs() - injected_at;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

Result<void> Nemesis::Inject(const Fault& f, int t, int64_t* failover_ms, std::string* skipped) {
  auto& broker = cluster_.broker(t);
  const int64_t at = SteadyMs();
  switch (f.kind) {
    case FaultKind::kKill:
      cluster_.Kill9(t);
      Hold(f, at, failover_ms);
      return Restart(t);
    case FaultKind::kPause:
      ::kill(broker.pid(), SIGSTOP);
      Hold(f, at, failover_ms);
      ::kill(broker.pid(), SIGCONT);
      return Ok();
    case FaultKind::kIsolate:
      TELEMQ_TRY(cluster_.CutLinks(t));
      Hold(f, at, failover_ms);
      return cluster_.HealLinks(t);
    case FaultKind::kBridge: {
      const int a = (t + 1) % cluster_.size();
      const int b = (t + 2) % cluster_.size();
      TELEMQ_TRY(cluster_.CutLinkBetween(a, b));
      Log(Str("  links ", a, "<->", b, " cut; broker ", t, " bridges them"));
      Hold(f, at, failover_ms);
      return cluster_.HealLinkBetween(a, b);
    }
    case FaultKind::kDiskFull: {
      if (!CanMount()) {
        *skipped = "needs root to mount a tmpfs";
        return Ok();
      }
      if (!on_tmpfs_.count(t)) {
        // Onto a file system of its own first (costs a crash and restart).
        cluster_.Kill9(t);
        TELEMQ_TRY(MoveOntoTmpfs(broker.data_dir(), o_.tmpfs_bytes));
        on_tmpfs_.insert(t);
        TELEMQ_TRY(Restart(t));
      }
      TELEMQ_ASSIGN_OR_RETURN(auto bytes, FillWithBallast(broker.data_dir()));
      Log(Str("  broker ", t, "'s disk filled (", bytes, " bytes of ballast)"));
      Hold(f, SteadyMs(), failover_ms);
      FreeBallast(broker.data_dir());
      return Ok();
    }
    case FaultKind::kTruncate:
    case FaultKind::kFlipByte: {
      cluster_.Kill9(t);
      auto done = DamageSegment(broker.data_dir(), o_.topic, o_.partitions,
                                f.kind == FaultKind::kTruncate ? Damage::kTruncate : Damage::kFlipByte, f.param);
      Log("  " + (done ? *done : done.error().ToString()));
      Hold(f, at, failover_ms);
      return Restart(t);
    }
    case FaultKind::kPowerLoss: {
      cluster_.Kill9(t);
      if (o_.sync_log.empty()) {
        Hold(f, at, failover_ms);
        TELEMQ_TRY(Restart(t));
        *skipped = "no sync recorder (a sanitizer build): a plain kill -9 instead";
        return Ok();
      }
      auto done = DropUnsynced(broker.data_dir(), o_.sync_log, f.param);
      Log("  power loss: " + (done ? *done : done.error().ToString()));
      Hold(f, at, failover_ms);
      return Restart(t);
    }
  }
  return Ok();
}

}  // namespace telemq::chaos
