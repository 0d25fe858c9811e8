#pragma once
// Child processes for integration tests: fork/exec with output captured to a
// log file, bounded waits, and no orphans. The child gets PR_SET_PDEATHSIG
// (SIGKILL), so it dies with the thread that started it if the test process
// dies; the destructor of ChildProcess always kills and reaps.
//
// Not thread-safe: one owner per object. Start and destroy a ChildProcess on
// the same thread (the parent-death signal is tied to the forking thread).

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "telemq/common/result.h"
#include "tests/support/temp_dir.h"

namespace telemq::testing {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program path
  std::string log_path;           // stdout and stderr are appended here
  // RLIMIT_FSIZE for the child (bytes); SIGXFSZ is ignored so writes past it
  // fail with EFBIG instead of killing the process.
  std::optional<uint64_t> file_size_limit_bytes;
};

// How a process ended: exit code, or the signal that killed it.
struct ExitStatus {
  int exit_code = -1;  // valid when !signaled
  int signal = 0;      // valid when signaled
  bool signaled = false;
  std::string ToString() const;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] Result<void> Spawn(const SpawnOptions& options);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Non-blocking: the exit status if the child has exited (and reaps it).
  std::optional<ExitStatus> Poll();
  // Waits up to `timeout`; kTimeout if still running (the child is left alone).
  [[nodiscard]] Result<ExitStatus> Wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap; a no-op when not running.
  void Kill();
  // Sends `sig` without waiting.
  void Signal(int sig);

 private:
  pid_t pid_ = -1;
};

// Runs a program to completion (bounded): its exit status and output.
struct RunResult {
  ExitStatus status;
  std::string output;  // stdout and stderr interleaved
};
[[nodiscard]] Result<RunResult> RunProgram(const std::vector<std::string>& argv, const std::string& log_path,
                                           std::chrono::milliseconds timeout);

// The last `max_bytes` of a file ("" if unreadable).
std::string ReadFileTail(const std::string& path, size_t max_bytes);

// Polls `condition` every few milliseconds until it holds or `timeout`
// passes. Returns whether it held. (Polling a condition with a deadline is
// the one acceptable wait in these tests; fixed sleeps are not.)
template <typename Condition>
bool WaitFor(Condition&& condition, std::chrono::milliseconds timeout);

}  // namespace telemq::testing

#include "tests/support/process_inl.h"
