#pragma once
// AppProcess: a real telemetry application (telemq-streamer,
// telemq-collector, telemq-gateway) on 127.0.0.1 for end-to-end tests.
//
// Convention every app follows: `--http-port 0` binds an ephemeral port for
// its HTTP endpoint (streamer: metrics/status; collector: internal queries;
// gateway: the REST API) and `--port-file PATH` makes it write that port,
// once listening, to PATH (written to a temp name and renamed, so a reader
// never sees half a number). Start() adds both flags, then waits until the
// file exists and a TCP connect succeeds (bounded; no fixed sleeps).
//
// Ownership: the object owns the process and its temp directory (log file,
// port file, and data_dir() for apps that keep state); the destructor kills
// (SIGKILL) and reaps, and prints the log tail when the current test failed.
// One owner thread (see ChildProcess).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "telemq/common/result.h"
#include "tests/support/process.h"

namespace telemq::testing {

struct AppOptions {
  std::string binary;             // path of the program
  std::vector<std::string> args;  // flags besides --http-port/--port-file
  std::string name = "app";       // for the log file and messages
  // Reuse this data directory instead of a fresh one (e.g. a restarted
  // collector); empty: <temp dir>/data, created.
  std::string data_dir;
  // When set (e.g. "--data-dir"), this flag and data_dir() are passed to the
  // app, so a stateful app keeps its state in the test's directory.
  std::string data_dir_flag;
  std::chrono::milliseconds ready_timeout{20'000};
};

class AppProcess {
 public:
  [[nodiscard]] static Result<std::unique_ptr<AppProcess>> Start(AppOptions options);
  ~AppProcess();
  AppProcess(const AppProcess&) = delete;
  AppProcess& operator=(const AppProcess&) = delete;

  uint16_t http_port() const { return port_; }
  std::string http_base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return child_.pid(); }
  bool running() const { return child_.running(); }
  std::string LogTail(size_t max_bytes = 4096) const { return ReadFileTail(log_path_, max_bytes); }
  // Exit status if it has exited (reaps it). A job that already finished
  // (exit 0) during Start() reports that status here every time.
  std::optional<ExitStatus> Poll() { return finished_ ? finished_ : child_.Poll(); }

  void Kill9();
  // SIGTERM, then waits up to `timeout` for the exit status.
  [[nodiscard]] Result<ExitStatus> Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(15));

 private:
  explicit AppProcess(AppOptions options);
  Result<void> Launch();

  AppOptions options_;
  TempDir dir_{"telemq-app"};
  std::string data_dir_;
  std::string port_file_;
  std::string log_path_;
  ChildProcess child_;
  uint16_t port_ = 0;
  std::optional<ExitStatus> finished_;  // exited 0 after becoming ready, before Start() saw it listening
};

// Where the build put the app binaries (compile definitions set by
// support.cmake): TELEMQ_STREAMER_BIN etc. Empty when not built.
std::string StreamerBinary();
std::string CollectorBinary();
std::string GatewayBinary();

}  // namespace telemq::testing
