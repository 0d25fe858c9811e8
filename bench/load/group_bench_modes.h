#pragma once
// Consumer-group load modes of telemq-bench, kept apart from the record
// modes in telemq_bench.cc. `group-load` runs N GroupMember instances in
// this process against one broker, waits until the group has settled
// (every partition owned, max - min <= 1), then measures for a while the
// broker's CPU seconds per second (/proc/<broker pid>/stat), its socket
// bytes per second (tcp_info of its connections, via `ss`) and its file
// I/O (/proc/<pid>/io). The broker must run on this machine.

#include <CLI/CLI.hpp>
#include <string>

namespace telemq::bench {

class GroupLoadMode {
 public:
  // Registers the `group-load` subcommand and its options on `app`.
  explicit GroupLoadMode(CLI::App& app);
  GroupLoadMode(const GroupLoadMode&) = delete;
  GroupLoadMode& operator=(const GroupLoadMode&) = delete;

  bool selected() const { return cmd_->parsed(); }
  // Exit code: 0 when the figures were measured.
  int Run(const std::string& bootstrap);

 private:
  CLI::App* cmd_;
  std::string topic_ = "group-load";
  std::string group_ = "group-load";
  int members_ = 100;
  int partitions_ = 1000;
  int broker_pid_ = 0;
  double measure_s_ = 20;
  double idle_s_ = 5;
  double settle_timeout_s_ = 120;
  int session_timeout_ms_ = 45'000;
};

}  // namespace telemq::bench
