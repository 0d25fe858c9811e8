#pragma once
// Start-up chores every telemq program shares (broker, CLI, streamer,
// collector, gateway), so they behave alike: the same bootstrap-list syntax,
// the same port-file protocol that tests and scripts wait on, the same
// signal handling.

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace telemq {

// "a:1,b:2" -> {"a:1", "b:2"}; empty items are dropped.
inline std::vector<std::string> SplitCommaList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    if (comma > start) out.emplace_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Writes "<port>\n" to `path` through a temp file and a rename, so a reader
// polling for the file never sees half a number.
inline bool WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << '\n';
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// Blocks SIGTERM and SIGINT in the calling thread and ignores SIGPIPE.
// Call it before starting any thread, so every thread inherits the mask and
// the signals are taken only where the program waits for them
// (sigwait/sigtimedwait on the returned set): shutdown then runs in one
// known place instead of in an async signal handler.
inline sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace telemq
