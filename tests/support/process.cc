#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace telemq::testing {

namespace fs = std::filesystem;

std::string ExitStatus::ToString() const {
  if (signaled) return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "exit code " + std::to_string(exit_code);
}

namespace {

ExitStatus Decode(int status) {
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    s.exit_code = WEXITSTATUS(status);
  }
  return s;
}

}  // namespace

ChildProcess::~ChildProcess() { Kill(); }

Result<void> ChildProcess::Spawn(const SpawnOptions& options) {
  if (running()) return Fail(Errc::kInvalidArgument, "process already running");
  if (options.argv.empty()) return Fail(Errc::kInvalidArgument, "empty argv");
  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed (the test process has threads).
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log_fd = ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Fail(Errc::kIo, "open " + options.log_path + ": " + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Fail(Errc::kIo, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child. Die with the parent thread; guard against the parent having
    // died before prctl took effect.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    // The test process may block signals (gtest does not, but be safe): the
    // child starts with an empty mask and default handlers.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (options.file_size_limit_bytes) {
      struct rlimit rl;
      rl.rlim_cur = rl.rlim_max = *options.file_size_limit_bytes;
      ::setrlimit(RLIMIT_FSIZE, &rl);
      ::signal(SIGXFSZ, SIG_IGN);  // inherited across exec: writes fail with EFBIG
    }
    ::execv(argv[0], argv.data());
    static const char kMsg[] = "exec failed\n";
    (void)!::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  return Ok();
}

std::optional<ExitStatus> ChildProcess::Poll() {
  if (!running()) return std::nullopt;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return Decode(status);
  }
  return std::nullopt;
}

Result<ExitStatus> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (!running()) return Fail(Errc::kInvalidArgument, "process not running");
  std::optional<ExitStatus> status;
  if (!WaitFor([&] { return (status = Poll()).has_value(); }, timeout)) {
    return Fail(Errc::kTimeout,
                "process " + std::to_string(pid_) + " still running after " + std::to_string(timeout.count()) + " ms");
  }
  return *status;
}

void ChildProcess::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void ChildProcess::Signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

Result<RunResult> RunProgram(const std::vector<std::string>& argv, const std::string& log_path,
                             std::chrono::milliseconds timeout) {
  { std::ofstream truncate(log_path, std::ios::trunc); }
  ChildProcess child;
  TELEMQ_TRY(child.Spawn({.argv = argv, .log_path = log_path, .file_size_limit_bytes = std::nullopt}));
  auto status = child.Wait(timeout);
  if (!status) return tl::unexpected(status.error());  // the destructor kills it
  std::ifstream in(log_path);
  std::stringstream out;
  out << in.rdbuf();
  return RunResult{*status, out.str()};
}

std::string ReadFileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const auto size = static_cast<size_t>(in.tellg());
  const size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace telemq::testing
