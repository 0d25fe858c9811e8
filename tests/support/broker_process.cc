#include "tests/support/broker_process.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

#ifndef TELEMQ_BROKER_BIN
#error "TELEMQ_BROKER_BIN must name the telemq-broker binary"
#endif

namespace telemq::testing {

namespace fs = std::filesystem;

std::optional<uint16_t> ReadPortFile(const std::string& path) {
  std::ifstream in(path);
  unsigned port = 0;
  if (!(in >> port) || port == 0 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

bool CanConnect(uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

std::string BrokerProcess::BinaryPath() { return TELEMQ_BROKER_BIN; }

uint16_t BrokerProcess::http_port() const { return ReadPortFile(http_port_file_).value_or(0); }

BrokerProcess::BrokerProcess(BrokerOptions options)
    : options_(std::move(options)),
      data_dir_(dir_.File("data")),
      port_file_(dir_.File("broker.port")),
      http_port_file_(dir_.File("http.port")),
      log_path_(dir_.File("broker.log")) {}

Result<std::unique_ptr<BrokerProcess>> BrokerProcess::Create(BrokerOptions options) {
  std::unique_ptr<BrokerProcess> broker(new BrokerProcess(std::move(options)));
  std::error_code ec;
  fs::create_directories(broker->data_dir_, ec);
  if (ec) return Fail(Errc::kIo, "create " + broker->data_dir_ + ": " + ec.message());
  return broker;
}

Result<std::unique_ptr<BrokerProcess>> BrokerProcess::Start(BrokerOptions options) {
  TELEMQ_ASSIGN_OR_RETURN(auto broker, Create(std::move(options)));
  TELEMQ_TRY(broker->Launch(broker->options_.port));
  return broker;
}

Result<std::unique_ptr<BrokerProcess>> BrokerProcess::Spawn(BrokerOptions options) {
  TELEMQ_ASSIGN_OR_RETURN(auto broker, Create(std::move(options)));
  TELEMQ_TRY(broker->LaunchNoWait(broker->options_.port));
  return broker;
}

BrokerProcess::~BrokerProcess() {
  child_.Kill();
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- tail of %s ----\n%s\n---- end of broker log ----\n", log_path_.c_str(),
                 LogTail(8192).c_str());
  }
}

std::string BrokerProcess::address() const { return "127.0.0.1:" + std::to_string(port_); }

Result<void> BrokerProcess::Launch(uint16_t port_wanted) {
  TELEMQ_TRY(LaunchNoWait(port_wanted));
  return AwaitReady();
}

Result<void> BrokerProcess::LaunchNoWait(uint16_t port_wanted) {
  std::error_code ec;
  fs::remove(port_file_, ec);  // a stale file would report the previous port
  fs::remove(http_port_file_, ec);
  std::vector<std::string> argv;
  if (options_.tmpfs_bytes) {
    // unshare execs (no fork) and sh execs the broker: one pid throughout,
    // so signals and the parent-death signal reach the broker itself.
    argv = {"/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            "mount -t tmpfs -o size=" + std::to_string(*options_.tmpfs_bytes) + " telemq-it \"$0\" && exec \"$@\"",
            data_dir_};
  }
  argv.insert(argv.end(), {BinaryPath(), "--port", std::to_string(port_wanted), "--listen-host", "127.0.0.1",
                           "--port-file", port_file_, "--data-dir", data_dir_});
  if (options_.admin_http) argv.insert(argv.end(), {"--http-port", "0", "--http-port-file", http_port_file_});
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  return SpawnLogged(child_,
                     {.argv = argv, .log_path = log_path_, .file_size_limit_bytes = options_.file_size_limit_bytes});
}

Result<void> BrokerProcess::AwaitReady() {
  if (!child_.running()) return Fail(Errc::kInvalidArgument, "broker not spawned");
  const StartOutcome started = AwaitPort(child_, port_file_, options_.ready_timeout);
  if (started.exited) {
    return Fail(Errc::kIo, "broker exited during start-up (" + started.exited->ToString() + "):\n" + LogTail());
  }
  if (started.timed_out) {
    return Fail(Errc::kTimeout,
                "broker not ready after " + std::to_string(options_.ready_timeout.count()) + " ms:\n" + LogTail());
  }
  port_ = *started.port;
  return Ok();
}

Result<StartOutcome> SpawnAndAwaitPort(ChildProcess& child, const SpawnOptions& spawn, const std::string& port_file,
                                       std::chrono::milliseconds timeout) {
  TELEMQ_TRY(SpawnLogged(child, spawn));
  return AwaitPort(child, port_file, timeout);
}

Result<void> SpawnLogged(ChildProcess& child, const SpawnOptions& spawn) {
  {
    std::ofstream log(spawn.log_path, std::ios::app);
    log << "==== launching:";
    for (const auto& a : spawn.argv) log << ' ' << a;
    log << '\n';
  }
  return child.Spawn(spawn);
}

StartOutcome AwaitPort(ChildProcess& child, const std::string& port_file, std::chrono::milliseconds timeout) {
  StartOutcome out;
  const bool ready = WaitFor(
      [&] {
        if ((out.exited = child.Poll())) return true;
        if (!out.port) out.port = ReadPortFile(port_file);
        return out.port && CanConnect(*out.port, std::chrono::milliseconds(200));
      },
      timeout);
  if (out.exited) {
    // It may have written its port file just before exiting.
    if (!out.port) out.port = ReadPortFile(port_file);
  } else if (!ready) {
    child.Kill();
    out.timed_out = true;
  }
  return out;
}

void BrokerProcess::Kill9() { child_.Kill(); }

Result<ExitStatus> BrokerProcess::Terminate(std::chrono::milliseconds timeout) {
  if (!child_.running()) return Fail(Errc::kInvalidArgument, "broker not running");
  child_.Signal(SIGTERM);
  return child_.Wait(timeout);
}

Result<void> BrokerProcess::Restart(RestartPort port) {
  if (child_.running()) return Fail(Errc::kInvalidArgument, "broker still running");
  if (options_.tmpfs_bytes) return Fail(Errc::kInvalidArgument, "a private tmpfs does not survive its broker");
  return Launch(port == RestartPort::kSame ? port_ : 0);
}

Result<RunResult> BrokerProcess::RunInMountNamespace(const std::vector<std::string>& command) {
  if (!child_.running()) return Fail(Errc::kInvalidArgument, "broker not running");
  std::vector<std::string> argv{"/usr/bin/nsenter", "--target", std::to_string(child_.pid()), "--mount", "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  return RunProgram(argv, dir_.File("nsenter.log"), std::chrono::seconds(10));
}

bool PrivateTmpfsSupported() {
  static const bool supported = [] {
    if (::geteuid() != 0 || !fs::exists("/usr/bin/unshare") || !fs::exists("/usr/bin/nsenter")) return false;
    TempDir dir("telemq-tmpfs-probe");
    const std::string mnt = dir.File("m");
    fs::create_directories(mnt);
    auto r = RunProgram({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                         "mount -t tmpfs -o size=1m telemq-probe \"$0\"", mnt},
                        dir.File("probe.log"), std::chrono::seconds(10));
    return r && !r->status.signaled && r->status.exit_code == 0;
  }();
  return supported;
}

}  // namespace telemq::testing
