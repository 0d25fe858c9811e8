#pragma once
// The command line and the pacing shared by the peer load generators of
// make compare (nats-load, redis-load): both take the same modes and
// options, so scripts/compare drives them, and telemq-bench, the same way,
// and both print one LoadResult JSON line (bench/load/load_result.h).
//
//   <tool> publish -b 127.0.0.1:PORT -t NAME -p PARTITIONS -s BYTES {-n N | -d SECONDS} --max-pending W
//   <tool> consume -b 127.0.0.1:PORT -t NAME -p PARTITIONS -n N
//   <tool> e2e     -b 127.0.0.1:PORT -t NAME -s BYTES -r RATE -d SECONDS --latency-from scheduled
//
// A topic of P partitions is P independent logs: P JetStream streams
// NAME_i (subject NAME.i), or P Redis stream keys NAME:i. Single-threaded
// use only.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>

namespace telemq::bench {

using PeerClock = std::chrono::steady_clock;

inline int64_t PeerNowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(PeerClock::now().time_since_epoch()).count();
}

struct PeerOptions {
  std::string mode;
  std::string server = "127.0.0.1:4222";
  std::string topic = "perf";
  int partitions = 1;
  int replicas = 1;
  int64_t records = 1'000'000;
  double duration_s = 0;
  size_t record_size = 100;
  int max_pending = 4096;
  double rate = 20'000;
  std::string latency_from = "scheduled";
  double timeout_s = 120;  // whole-run bound: a stuck server fails the run

  // Registers the subcommands and options on `app`; `mode` is set after
  // parsing by Mode().
  void Register(CLI::App& app) {
    app.require_subcommand(1);
    app.fallthrough();
    app.add_subcommand("publish", "Publish throughput and send→ack latency, max-pending unacknowledged");
    app.add_subcommand("consume", "Read N stored records from the start of each partition");
    app.add_subcommand("e2e", "End-to-end latency at a fixed rate (open loop)");
    app.add_option("-b,--server", server, "host:port of the server");
    app.add_option("-t,--topic", topic, "Topic name (created if missing)");
    app.add_option("-p,--partitions", partitions, "Independent logs (default 1)")->check(CLI::Range(1, 1024));
    app.add_option("--replicas", replicas, "Replicas per log where the system has them (default 1)")
        ->check(CLI::Range(1, 5));
    app.add_option("-n,--records", records, "Records to publish / consume (default 1000000)")
        ->check(CLI::PositiveNumber);
    app.add_option("-d,--duration-s", duration_s, "Publish for this long instead of a count; e2e length");
    app.add_option("-s,--record-size", record_size, "Value bytes (default 100)")->check(CLI::Range(8, 1 << 20));
    app.add_option("--max-pending", max_pending, "Unacknowledged publishes at most (default 4096)")
        ->check(CLI::Range(1, 1 << 20));
    app.add_option("-r,--rate", rate, "e2e: records/s (default 20000)")->check(CLI::PositiveNumber);
    app.add_option("--latency-from", latency_from, "e2e: time from the scheduled send (default) or the actual one")
        ->check(CLI::IsMember({"scheduled", "send"}));
    app.add_option("--timeout-s", timeout_s, "Fail when the run takes longer (default 120)")
        ->check(CLI::PositiveNumber);
  }
  void Mode(const CLI::App& app) {
    for (const auto* sub : app.get_subcommands()) mode = sub->get_name();
  }
  // host and port of --server; false when it is not host:port.
  bool HostPort(std::string* host, int* port) const {
    const auto colon = server.rfind(':');
    if (colon == std::string::npos) return false;
    *host = server.substr(0, colon);
    try {
      *port = std::stoi(server.substr(colon + 1));
    } catch (...) {
      return false;
    }
    return *port > 0 && *port < 65536;
  }
};

// `t` plus `secs` seconds.
inline PeerClock::time_point After(PeerClock::time_point t, double secs) {
  return t + std::chrono::duration_cast<PeerClock::duration>(std::chrono::duration<double>(secs));
}

// Random printable payload, the same bytes every run (as telemq-bench's).
inline std::string PeerPayload(size_t size) {
  std::string s(size, ' ');
  std::mt19937 rng(7);
  for (auto& ch : s) ch = static_cast<char>('a' + rng() % 26);
  return s;
}

inline void StampMicros(std::string& payload, int64_t micros) { std::memcpy(payload.data(), &micros, sizeof(micros)); }
inline int64_t ReadStamp(const char* data, size_t len) {
  int64_t v = 0;
  if (len >= sizeof(v)) std::memcpy(&v, data, sizeof(v));
  return v;
}

// Open-loop schedule: record i is due at start + i/rate. Sleeps (never
// spins: on two cores a spinning generator takes a core from the server)
// until then and returns the due time in microseconds, which e2e stamps
// into the record with --latency-from scheduled, so a stall of the server
// or the client shows up in the latency of every record that fell due
// during it (no coordinated omission).
inline int64_t WaitUntilDue(PeerClock::time_point start, int64_t i, double rate) {
  const auto due = start + std::chrono::duration_cast<PeerClock::duration>(std::chrono::duration<double>(i / rate));
  while (PeerClock::now() < due) std::this_thread::sleep_for(std::chrono::microseconds(100));
  return std::chrono::duration_cast<std::chrono::microseconds>(due.time_since_epoch()).count();
}

}  // namespace telemq::bench
