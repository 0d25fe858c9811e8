#pragma once
// BrokerProcess: a real telemq-broker on 127.0.0.1 for integration tests.
//
// Start() forks the broker binary with a fresh data directory under $TMPDIR,
// --port 0 (or BrokerOptions::port) and a port file, and returns once the
// broker is ready: the port file exists and a TCP connect to
// 127.0.0.1:<port> succeeds (polled, bounded by a deadline; no fixed sleeps).
// Spawn() + AwaitReady() do the same in two steps, so that brokers of a
// cluster, which wait for each other before announcing their port, can be
// started together. Restart() starts it again on the same data directory. Its output goes to broker.log in the temp
// directory; when the current test has failed, the destructor prints that log's tail.
//
// Ownership: the object owns the process and the temp directory; its
// destructor kills (SIGKILL) and reaps the broker and removes the directory.
// One owner thread (see ChildProcess).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "telemq/common/result.h"
#include "tests/support/process.h"

namespace telemq::testing {

struct BrokerOptions {
  // Extra command-line flags, e.g. {"--fsync", "always"}.
  std::vector<std::string> args;
  // Mount a private tmpfs of this size over the data directory, in a mount
  // namespace of the broker's own (`unshare --mount`, needs root). The data
  // lives only as long as that process: no Restart(). Used to make a really
  // full disk. See PrivateTmpfsSupported().
  std::optional<uint64_t> tmpfs_bytes;
  std::optional<uint64_t> file_size_limit_bytes;  // RLIMIT_FSIZE, see SpawnOptions
  std::chrono::milliseconds ready_timeout{20'000};
  // The port to bind (a cluster's peers must know it up front); 0: an
  // ephemeral one. A port taken meanwhile makes the start fail.
  uint16_t port = 0;
  // Start the HTTP admin listener (/healthz, /readyz) on an ephemeral port;
  // see http_port().
  bool admin_http = false;
};

// Whether Restart() binds the port of the previous run (so clients that
// still hold its address reconnect to the new process) or a fresh one.
enum class RestartPort { kFresh, kSame };

class BrokerProcess {
 public:
  // The broker binary under test (compile definition TELEMQ_BROKER_BIN).
  static std::string BinaryPath();

  [[nodiscard]] static Result<std::unique_ptr<BrokerProcess>> Start(BrokerOptions options = {});
  // Start() in two steps: Spawn() launches the broker without waiting;
  // AwaitReady() then waits for it as Start() does (exited or not ready in
  // time: an error with the log's tail; not ready: it is killed).
  [[nodiscard]] static Result<std::unique_ptr<BrokerProcess>> Spawn(BrokerOptions options = {});
  [[nodiscard]] Result<void> AwaitReady();
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  uint16_t port() const { return port_; }
  // The HTTP admin port of the current run (BrokerOptions::admin_http); 0
  // while not announced yet. The listener binds before the logs are opened.
  uint16_t http_port() const;
  // "127.0.0.1:<port>", for ClientOptions::bootstrap_servers.
  std::string address() const;
  pid_t pid() const { return child_.pid(); }
  bool running() const { return child_.running(); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  std::string LogTail(size_t max_bytes = 4096) const { return ReadFileTail(log_path_, max_bytes); }

  // SIGKILL, as a crash: no chance to sync or mark a clean shutdown.
  void Kill9();
  // SIGTERM, then waits up to `timeout` for the exit status.
  [[nodiscard]] Result<ExitStatus> Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Starts the broker again on the same data directory (must not be running).
  [[nodiscard]] Result<void> Restart(RestartPort port = RestartPort::kFresh);

  // Runs a command inside the broker's mount namespace (tmpfs mode): e.g.
  // {"mount", "-o", "remount,size=64m", data_dir()}.
  [[nodiscard]] Result<RunResult> RunInMountNamespace(const std::vector<std::string>& command);

 private:
  explicit BrokerProcess(BrokerOptions options);
  static Result<std::unique_ptr<BrokerProcess>> Create(BrokerOptions options);
  Result<void> Launch(uint16_t port);
  Result<void> LaunchNoWait(uint16_t port);

  BrokerOptions options_;
  TempDir dir_{"telemq-broker"};
  std::string data_dir_;
  std::string port_file_;
  std::string http_port_file_;
  std::string log_path_;
  ChildProcess child_;
  uint16_t port_ = 0;
};

// Whether this process may create a mount namespace with a tmpfs (root, and
// the container allows it). Checked once by trying.
bool PrivateTmpfsSupported();

// The port number written in a --port-file; nullopt while absent or partial.
std::optional<uint16_t> ReadPortFile(const std::string& path);

// Starting a server that announces its port: `spawn.argv` (logged to
// spawn.log_path first) is spawned, then polled until it has written its
// port to `port_file` and accepts a TCP connect, or exits, or `timeout`
// passes (then it is killed). Shared by BrokerProcess and AppProcess.
struct StartOutcome {
  std::optional<uint16_t> port;      // from the port file, once written
  std::optional<ExitStatus> exited;  // set when it exited before it was reachable
  bool timed_out = false;
};
[[nodiscard]] Result<StartOutcome> SpawnAndAwaitPort(ChildProcess& child, const SpawnOptions& spawn,
                                                     const std::string& port_file, std::chrono::milliseconds timeout);
// Its two halves: spawn (argv logged first), then poll as described above.
[[nodiscard]] Result<void> SpawnLogged(ChildProcess& child, const SpawnOptions& spawn);
StartOutcome AwaitPort(ChildProcess& child, const std::string& port_file, std::chrono::milliseconds timeout);

// True when a TCP connect to 127.0.0.1:port succeeds within `timeout`.
bool CanConnect(uint16_t port, std::chrono::milliseconds timeout);

}  // namespace telemq::testing
