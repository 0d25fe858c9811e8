#include "tests/support/app_process.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include "tests/support/broker_process.h"

namespace telemq::testing {

namespace fs = std::filesystem;

std::string StreamerBinary() {
#ifdef TELEMQ_STREAMER_BIN
  return TELEMQ_STREAMER_BIN;
#else
  return "";
#endif
}

std::string CollectorBinary() {
#ifdef TELEMQ_COLLECTOR_BIN
  return TELEMQ_COLLECTOR_BIN;
#else
  return "";
#endif
}

std::string GatewayBinary() {
#ifdef TELEMQ_GATEWAY_BIN
  return TELEMQ_GATEWAY_BIN;
#else
  return "";
#endif
}

AppProcess::AppProcess(AppOptions options)
    : options_(std::move(options)),
      data_dir_(options_.data_dir.empty() ? dir_.File("data") : options_.data_dir),
      port_file_(dir_.File(options_.name + ".port")),
      log_path_(dir_.File(options_.name + ".log")) {}

Result<std::unique_ptr<AppProcess>> AppProcess::Start(AppOptions options) {
  if (options.binary.empty()) return Fail(Errc::kInvalidArgument, "no binary for " + options.name);
  std::unique_ptr<AppProcess> app(new AppProcess(std::move(options)));
  std::error_code ec;
  fs::create_directories(app->data_dir_, ec);
  if (ec) return Fail(Errc::kIo, "create " + app->data_dir_ + ": " + ec.message());
  TELEMQ_TRY(app->Launch());
  return app;
}

AppProcess::~AppProcess() {
  child_.Kill();
  if (::testing::Test::HasFailure()) {
    std::fprintf(stderr, "---- tail of %s ----\n%s\n---- end of %s log ----\n", log_path_.c_str(),
                 LogTail(8192).c_str(), options_.name.c_str());
  }
}

Result<void> AppProcess::Launch() {
  std::vector<std::string> argv = {options_.binary, "--http-port", "0", "--port-file", port_file_};
  if (!options_.data_dir_flag.empty()) argv.insert(argv.end(), {options_.data_dir_flag, data_dir_});
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  TELEMQ_ASSIGN_OR_RETURN(auto started, SpawnAndAwaitPort(child_, {.argv = argv, .log_path = log_path_}, port_file_,
                                                          options_.ready_timeout));
  if (started.exited) {
    // A finite job (a single-pass streamer) may finish before the first
    // probe connects: having written its port file it was ready, and exit 0
    // is its success. Poll() reports the status.
    if (started.port && !started.exited->signaled && started.exited->exit_code == 0) {
      port_ = *started.port;
      finished_ = started.exited;
      return Ok();
    }
    return Fail(Errc::kIo,
                options_.name + " exited during start-up (" + started.exited->ToString() + "):\n" + LogTail());
  }
  if (started.timed_out) {
    return Fail(Errc::kTimeout, options_.name + " not ready after " + std::to_string(options_.ready_timeout.count()) +
                                    " ms:\n" + LogTail());
  }
  port_ = *started.port;
  return Ok();
}

void AppProcess::Kill9() { child_.Kill(); }

Result<ExitStatus> AppProcess::Terminate(std::chrono::milliseconds timeout) {
  if (!child_.running()) return Fail(Errc::kInvalidArgument, options_.name + " not running");
  child_.Signal(SIGTERM);
  return child_.Wait(timeout);
}

}  // namespace telemq::testing
