#include "bench/load/group_bench_modes.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "telemq/admin.h"
#include "telemq/group_member.h"

namespace telemq::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Counts what one member owns (its listener runs on one internal thread).
class CountingListener : public GroupMemberListener {
 public:
  void OnAssigned(const std::vector<TopicPartition>& added) override { owned_ += static_cast<int>(added.size()); }
  void OnRevoked(const std::vector<TopicPartition>& removed) override {
    owned_ -= static_cast<int>(removed.size());
    moves_ += static_cast<int>(removed.size());
  }
  int owned() const { return owned_.load(); }
  int moves() const { return moves_.load(); }

 private:
  std::atomic<int> owned_{0};
  std::atomic<int> moves_{0};
};

// A process's counters from /proc: CPU seconds (utime + stime of all its
// threads) and I/O bytes. rchar/wchar count every read/write-family syscall
// (sockets and files alike); read_bytes/write_bytes only what reached the
// block layer (disk).
// Socket bytes are not in rchar/wchar (Asio uses sendmsg/recvmsg, which
// /proc/<pid>/io does not count), so they come from the kernel's tcp_info
// of the broker's established connections on its port (`ss -ti`):
// bytes_received and bytes_sent summed over them (payload bytes, without
// TCP/IP headers; connections that close meanwhile drop out).
struct ProcSample {
  Clock::time_point at;
  double cpu_s = 0;
  int64_t rchar = 0, wchar = 0, read_bytes = 0, write_bytes = 0;
  int64_t sock_in = 0, sock_out = 0;
};

void SampleSockets(int port, ProcSample* out) {
  const std::string cmd = "ss -tinH state established '( sport = :" + std::to_string(port) + " )' 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  ::pclose(f);
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (w.rfind("bytes_received:", 0) == 0) out->sock_in += std::stoll(w.substr(15));
    if (w.rfind("bytes_sent:", 0) == 0) out->sock_out += std::stoll(w.substr(11));
  }
}

bool Sample(int pid, int port, ProcSample* out) {
  SampleSockets(port, out);
  out->at = Clock::now();
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  // Fields after the name start at field 3 (state); utime and stime are 14, 15.
  std::vector<std::string> v;
  while (fields >> f) v.push_back(f);
  if (v.size() < 13) return false;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  out->cpu_s = (std::stod(v[11]) + std::stod(v[12])) / tick;
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") out->rchar = value;
    if (key == "wchar:") out->wchar = value;
    if (key == "read_bytes:") out->read_bytes = value;
    if (key == "write_bytes:") out->write_bytes = value;
  }
  return true;
}

void Report(const char* label, const ProcSample& a, const ProcSample& b) {
  const double s = std::chrono::duration<double>(b.at - a.at).count();
  std::printf(
      "%-8s %6.1f s  broker cpu %.4f s/s  sockets in %.0f B/s out %.0f B/s  rchar %.0f B/s wchar %.0f B/s  "
      "disk write %.0f B/s\n",
      label, s, (b.cpu_s - a.cpu_s) / s, (b.sock_in - a.sock_in) / s, (b.sock_out - a.sock_out) / s,
      (b.rchar - a.rchar) / s, (b.wchar - a.wchar) / s, (b.write_bytes - a.write_bytes) / s);
}

void SleepFor(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

}  // namespace

GroupLoadMode::GroupLoadMode(CLI::App& app) {
  cmd_ = app.add_subcommand("group-load", "Heartbeat cost of N group members on one broker (needs --broker-pid)");
  cmd_->add_option("--group-topic", topic_, "Topic the members subscribe to (created if missing)");
  cmd_->add_option("--group", group_, "Group id");
  cmd_->add_option("--members", members_, "GroupMember instances (default 100)");
  cmd_->add_option("--group-partitions", partitions_, "Partitions of the topic when created (default 1000)");
  cmd_->add_option("--broker-pid", broker_pid_, "Pid of the broker to measure (same machine)")->required();
  cmd_->add_option("--measure-s", measure_s_, "Measured seconds after the group settled (default 20)");
  cmd_->add_option("--idle-s", idle_s_, "Seconds of idle baseline before the members start (default 5)");
  cmd_->add_option("--settle-timeout-s", settle_timeout_s_, "Give up when not settled by then (default 120)");
  cmd_->add_option("--session-timeout-ms", session_timeout_ms_, "Member session timeout (default 45000)");
}

int GroupLoadMode::Run(const std::string& bootstrap) {
  ClientOptions client;
  client.bootstrap_servers = {bootstrap};
  auto admin = Admin::Create(client);
  if (!admin) return std::fprintf(stderr, "connect: %s\n", admin.error().ToString().c_str()), 1;
  NewTopic spec;
  spec.partitions = partitions_;
  if (auto r = (*admin)->CreateTopic(topic_, spec); !r) {
    std::fprintf(stderr, "create %s: %s (continuing with the existing topic)\n", topic_.c_str(),
                 r.error().ToString().c_str());
  }
  const int port = std::stoi(bootstrap.substr(bootstrap.rfind(':') + 1));
  ProcSample idle0, idle1;
  if (!Sample(broker_pid_, port, &idle0)) return std::fprintf(stderr, "cannot read /proc/%d\n", broker_pid_), 1;
  SleepFor(idle_s_);
  Sample(broker_pid_, port, &idle1);

  std::vector<std::shared_ptr<CountingListener>> listeners;
  std::vector<std::unique_ptr<GroupMember>> members;
  const auto start = Clock::now();
  ProcSample join0;
  Sample(broker_pid_, port, &join0);
  for (int i = 0; i < members_; ++i) {
    GroupMemberOptions o;
    o.client = client;
    o.group_id = group_;
    o.topics = {topic_};
    o.timeouts.session_timeout = std::chrono::milliseconds(session_timeout_ms_);
    listeners.push_back(std::make_shared<CountingListener>());
    auto m = GroupMember::Create(o, listeners.back());
    if (!m) return std::fprintf(stderr, "member %d: %s\n", i, m.error().ToString().c_str()), 1;
    members.push_back(std::move(*m));
  }
  // Settled: every partition owned once, loads within one of each other.
  const int lo = partitions_ / members_, hi = (partitions_ + members_ - 1) / members_;
  auto settled = [&] {
    int total = 0;
    for (const auto& l : listeners) {
      const int n = l->owned();
      if (n < lo || n > hi) return false;
      total += n;
    }
    return total == partitions_;
  };
  const auto give_up = start + std::chrono::duration<double>(settle_timeout_s_);
  while (!settled()) {
    if (Clock::now() > give_up) return std::fprintf(stderr, "group did not settle in time\n"), 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double settle_s = std::chrono::duration<double>(Clock::now() - start).count();
  ProcSample s0, s1;
  Sample(broker_pid_, port, &s0);
  int moves = 0;
  for (const auto& l : listeners) moves += l->moves();
  std::printf("group-load: %d members x %d partitions settled in %.2f s (%d revocations while joining)\n", members_,
              partitions_, settle_s, moves);
  SleepFor(measure_s_);
  Sample(broker_pid_, port, &s1);
  int moves_after = 0;
  for (const auto& l : listeners) moves_after += l->moves();
  Report("idle", idle0, idle1);
  Report("joining", join0, s0);
  Report("steady", s0, s1);
  std::printf("steady state: %d partition moves during the measurement\n", moves_after - moves);
  for (auto& m : members) m->Close();
  return 0;
}

}  // namespace telemq::bench
