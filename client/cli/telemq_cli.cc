// telemq: command-line tool on the client library.
//
//   telemq topic create gpu.telemetry --partitions 16 [--retention-ms N]
//   telemq topic list | describe NAME [--format text|json] | delete NAME
//   telemq produce TOPIC [--key-separator '\t'] < lines
//   telemq consume TOPIC [--from earliest|latest|OFFSET|@TIMESTAMP_MS] [--max N] [--partition P]
//                        [--format telemetry|json|raw] [--print-key] [--print-meta]
//   telemq consume TOPIC --group G [--instance-id I] [--log-assignments] [--commit-after-print]
//   telemq group list | describe G | delete G
//   telemq group reset-offsets G --topic T (--to-earliest|--to-latest|--to-timestamp MS|--to-offset N) [--partition P]
//   telemq cluster                  (cluster id, controller, brokers)
//   telemq cluster status [--format text|json]
//                                   (brokers up/down, controller, leaders per broker, under-replicated and
//                                    offline partitions; exit code 3 when a partition is offline)
//
// --bootstrap host:port[,host:port...] (or $TELEMQ_BOOTSTRAP) picks the cluster.

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include "cluster_format.h"
#include "offset_spec.h"
#include "record_format.h"
#include "telemq/admin.h"
#include "telemq/common/program.h"
#include "telemq/consumer.h"
#include "telemq/producer.h"

namespace {

// Set by SIGTERM/SIGINT; the consume loop checks it between polls so a group
// member leaves gracefully (revoke, commit, leave) instead of dying.
volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// With --log-assignments: one line per change on stderr, flushed at once,
// for humans and for tests that rebuild an ownership timeline.
class LoggingListener : public telemq::RebalanceListener {
 public:
  explicit LoggingListener(bool enabled) : enabled_(enabled) {}
  void OnPartitionsAssigned(const std::vector<telemq::TopicPartition>& p) override { Log("ASSIGNED", p); }
  void OnPartitionsRevoked(const std::vector<telemq::TopicPartition>& p) override { Log("REVOKED", p); }
  void OnPartitionsLost(const std::vector<telemq::TopicPartition>& p) override { Log("LOST", p); }

 private:
  void Log(const char* kind, const std::vector<telemq::TopicPartition>& p) {
    if (!enabled_ || p.empty()) return;
    std::fprintf(stderr, "%s\n", telemq::cli::AssignmentLine(kind, UnixMs(), p).c_str());
    std::fflush(stderr);
  }
  bool enabled_;
};

void PrintRecord(const telemq::ConsumerRecord& r, const telemq::cli::PrintOptions& options) {
  const std::string line = telemq::cli::FormatRecord({.partition = r.partition,
                                                      .offset = r.offset.value(),
                                                      .timestamp_ms = r.timestamp_ms,
                                                      .key = r.key,
                                                      .value = r.value},
                                                     options);
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int Die(const std::string& what, const telemq::Error& e) {
  std::fprintf(stderr, "telemq: %s: %s\n", what.c_str(), e.ToString().c_str());
  return 1;
}

struct ConsumeLimits {
  int64_t max_records = -1;  // stop after this many; -1 unlimited
  int64_t idle_ms = -1;      // stop after this long without records; -1 never
  telemq::cli::PrintOptions print;
};

// Polls and prints until the limits are reached, a stop signal arrives or a
// poll fails; `after_print` runs after each printed poll (commit-after-print).
// Returns the exit code.
int ConsumeLoop(telemq::Consumer& consumer, const ConsumeLimits& limits, const std::function<void()>& after_print) {
  int64_t seen = 0;
  auto last_record = std::chrono::steady_clock::now();
  const std::string header = telemq::cli::HeaderLine(limits.print);
  if (!header.empty()) {
    std::fwrite(header.data(), 1, header.size(), stdout);
    std::fflush(stdout);
  }
  while (!g_stop && (limits.max_records < 0 || seen < limits.max_records)) {
    auto records = consumer.Poll(std::chrono::milliseconds(200));
    if (!records) return Die("consume", records.error());
    if (records->empty()) {
      if (limits.idle_ms >= 0 &&
          std::chrono::steady_clock::now() - last_record > std::chrono::milliseconds(limits.idle_ms)) {
        break;
      }
      continue;
    }
    last_record = std::chrono::steady_clock::now();
    for (const auto& r : *records) {
      if (limits.max_records >= 0 && seen >= limits.max_records) break;
      PrintRecord(r, limits.print);
      ++seen;
    }
    std::fflush(stdout);
    if (after_print) after_print();
  }
  return 0;
}

int Run(int argc, char** argv) {
  CLI::App app{"telemq: manage topics, produce and consume records"};
  app.require_subcommand(1);
  std::string bootstrap = std::getenv("TELEMQ_BOOTSTRAP") ? std::getenv("TELEMQ_BOOTSTRAP") : "127.0.0.1:9092";
  app.add_option("-b,--bootstrap", bootstrap, "Broker addresses, host:port[,host:port] (env TELEMQ_BOOTSTRAP)");

  auto* topic = app.add_subcommand("topic", "Create, list, describe, delete topics");
  topic->require_subcommand(1);
  auto* create = topic->add_subcommand("create", "Create a topic");
  std::string name;
  telemq::NewTopic spec;
  int64_t retention_ms = -2, retention_bytes = -2, segment_bytes = -2;
  create->add_option("name", name, "Topic name")->required();
  create->add_option("-p,--partitions", spec.partitions, "Partition count (default 1)");
  create->add_option("-r,--replication-factor", spec.replication_factor,
                     "Replicas per partition (default -1: the broker's default_replication_factor)");
  create->add_option("--retention-ms", retention_ms, "Retention by age, ms; -1 unlimited (default: broker's)");
  create->add_option("--retention-bytes", retention_bytes, "Retention by size per partition; -1 unlimited");
  create->add_option("--segment-bytes", segment_bytes, "Segment size (default: broker's)");
  auto* list = topic->add_subcommand("list", "List topics");
  auto* describe =
      topic->add_subcommand("describe", "Partitions with replicas, in-sync replicas, leader, term and offsets");
  describe->add_option("name", name, "Topic name")->required();
  std::string table_format;
  describe->add_option("--format", table_format, "text (aligned columns; default) | json");
  auto* del = topic->add_subcommand("delete", "Delete a topic and its data");
  del->add_option("name", name, "Topic name")->required();

  auto* produce = app.add_subcommand("produce", "Send stdin lines as records");
  std::string key_sep;
  std::string acks = "all";
  std::string compression = "none";
  produce->add_option("topic", name, "Topic")->required();
  produce->add_option("-k,--key-separator", key_sep, "Split each line at the first separator into key and value");
  produce->add_option("--acks", acks, "all|leader")->check(CLI::IsMember({"all", "leader"}));
  produce->add_option("--compression", compression, "none|lz4|zstd")->check(CLI::IsMember({"none", "lz4", "zstd"}));
  int max_in_flight = telemq::ProducerOptions{}.max_in_flight_per_partition;
  produce
      ->add_option("--max-in-flight", max_in_flight,
                   "Produce requests unanswered at once per partition, 1..8 (default 5)")
      ->check(CLI::Range(1, 8));

  auto* consume = app.add_subcommand("consume", "Print records to stdout");
  std::string from = "earliest";
  int64_t max_records = -1;
  int32_t only_partition = -1;
  int64_t idle_ms = -1;
  bool print_key = false, print_meta = false;
  consume->add_option("topic", name, "Topic")->required();
  consume->add_option("--from", from, "earliest | latest | OFFSET | @TIMESTAMP_MS (default earliest)");
  consume->add_option("-n,--max", max_records, "Stop after this many records");
  consume->add_option("-p,--partition", only_partition, "Only this partition");
  consume->add_option("--idle-exit-ms", idle_ms, "Exit after this long without records");
  consume->add_flag("--print-key", print_key, "Print key<TAB>value");
  consume->add_flag("--print-meta", print_meta, "Print partition, offset and timestamp first (named in a header)");
  std::string format;
  consume->add_option("--format", format,
                      "telemetry (decoded points, aligned; default for gpu.telemetry) | json (one object per line) | "
                      "raw (value bytes; default otherwise)");
  std::string consume_group, instance_id;
  bool log_assignments = false, commit_after_print = false;
  int64_t session_ms = 45'000;
  consume->add_option("-g,--group", consume_group, "Consume as a member of this group (partitions assigned by it)");
  consume->add_option("--instance-id", instance_id, "Static member name (with --group)");
  consume->add_option("--session-timeout-ms", session_ms, "Group session timeout (default 45000)");
  consume->add_flag("--log-assignments", log_assignments,
                    "Print ASSIGNED/REVOKED/LOST <unix_ms> topic:partition,... lines to stderr");
  consume->add_flag("--commit-after-print", commit_after_print,
                    "Commit synchronously after printing each poll (instead of auto-commit)");

  auto* group = app.add_subcommand("group", "List, describe, reset offsets of, delete consumer groups");
  group->require_subcommand(1);
  std::string group_id;
  auto* glist = group->add_subcommand("list", "List groups");
  auto* gdescribe = group->add_subcommand("describe", "Members, assignments, committed offsets and lag");
  gdescribe->add_option("group", group_id, "Group id")->required();
  auto* greset = group->add_subcommand("reset-offsets", "Set committed offsets (the group must have no members)");
  greset->add_option("group", group_id, "Group id")->required();
  std::string reset_topic;
  telemq::cli::ResetFlags reset_flags;
  int32_t reset_partition = -1;
  greset->add_option("--topic", reset_topic, "Topic")->required();
  greset->add_flag("--to-earliest", reset_flags.to_earliest, "To the log start");
  greset->add_flag("--to-latest", reset_flags.to_latest, "To the high watermark");
  greset->add_option("--to-timestamp", reset_flags.to_timestamp, "To the first record at or after MS (Unix ms)");
  greset->add_option("--to-offset", reset_flags.to_offset, "To this offset");
  greset->add_option("--partition", reset_partition, "Only this partition (default all)");
  auto* gdelete = group->add_subcommand("delete", "Delete a group without members and its offsets");
  gdelete->add_option("group", group_id, "Group id")->required();

  auto* cluster = app.add_subcommand("cluster", "Cluster id, controller and brokers");
  auto* cstatus = cluster->add_subcommand(
      "status",
      "Brokers up/down, controller, leaders per broker, under-replicated and offline partitions "
      "(exit code " +
          std::to_string(telemq::cli::kExitOfflinePartitions) + " when a partition is offline)");
  cstatus->add_option("--format", table_format, "text (aligned columns; default) | json");
  CLI11_PARSE(app, argc, argv);
  telemq::cli::PrintOptions print_options{.print_meta = print_meta, .print_key = print_key};
  if (*consume) {
    auto f = telemq::cli::ParseRecordFormat(format, name);
    if (!f) {
      std::fprintf(stderr, "telemq: %s\n", f.error().message().c_str());
      return 2;
    }
    print_options.format = *f;
  }

  telemq::ClientOptions client;
  client.bootstrap_servers = telemq::SplitCommaList(bootstrap);

  if (*group) {
    auto admin = telemq::Admin::Create(client);
    if (!admin) return Die("connect", admin.error());
    if (*glist) {
      auto groups = (*admin)->ListGroups();
      if (!groups) return Die("list groups", groups.error());
      std::printf("%-32s %-12s %s\n", "GROUP", "STATE", "MEMBERS");
      for (const auto& g : *groups) std::printf("%-32s %-12s %d\n", g.group_id.c_str(), g.state.c_str(), g.members);
    } else if (*gdescribe) {
      auto d = (*admin)->DescribeGroup(group_id);
      if (!d) return Die("describe group " + group_id, d.error());
      std::printf("group %s  state %s  group_epoch %d  assignment_epoch %d  members %zu\n", d->group_id.c_str(),
                  d->state.c_str(), d->group_epoch, d->assignment_epoch, d->members.size());
      for (const auto& m : d->members) {
        const std::string assigned = telemq::cli::AssignmentRanges(m.assignment);
        std::printf("member %s  instance %s  epoch %d  state %s%s  metadata '%s'\n  assignment %s (%zu)\n",
                    m.member_id.c_str(), m.instance_id.value_or("-").c_str(), m.member_epoch, m.state.c_str(),
                    m.static_left ? " (static, left)" : "", m.metadata.c_str(), assigned.c_str(), m.assignment.size());
        if (!m.pending_revocation.empty()) {
          std::printf("  pending_revocation %s\n", telemq::cli::AssignmentRanges(m.pending_revocation).c_str());
        }
      }
      std::printf("%-24s %-10s %-16s %-16s %-10s %s\n", "TOPIC", "PARTITION", "COMMITTED", "HIGH_WATERMARK", "LAG",
                  "OWNER");
      for (const auto& p : d->partitions) {
        std::printf("%-24s %-10d %-16s %-16lld %-10s %s\n", p.partition.topic.c_str(), p.partition.partition,
                    p.committed ? std::to_string(p.committed->value()).c_str() : "-",
                    static_cast<long long>(p.high_watermark.value()), p.lag ? std::to_string(*p.lag).c_str() : "-",
                    p.owner.empty() ? "-" : p.owner.c_str());
      }
    } else if (*greset) {
      auto spec = telemq::cli::ParseResetFlags(reset_flags);
      if (!spec) return Die("reset-offsets", spec.error());
      std::optional<int32_t> only;
      if (reset_partition >= 0) only = reset_partition;
      auto done = (*admin)->ResetOffsets(group_id, reset_topic, *spec, only);
      if (!done) return Die("reset offsets of " + group_id, done.error());
      for (const auto& [tp, off] : *done) {
        std::printf("%s %lld\n", telemq::ToString(tp).c_str(), static_cast<long long>(off.value()));
      }
    } else if (*gdelete) {
      if (auto r = (*admin)->DeleteGroup(group_id); !r) return Die("delete group " + group_id, r.error());
      std::printf("deleted group %s\n", group_id.c_str());
    }
    return 0;
  }

  if (*consume && !consume_group.empty()) {
    InstallStopHandlers();
    telemq::ConsumerOptions opts;
    opts.client = client;
    auto consumer = telemq::Consumer::Create(opts);
    if (!consumer) return Die("connect", consumer.error());
    telemq::GroupOptions g;
    g.group_id = consume_group;
    if (!instance_id.empty()) g.instance_id = instance_id;
    g.timeouts.session_timeout = std::chrono::milliseconds(session_ms);
    g.auto_commit = commit_after_print ? telemq::AutoCommit::kDisabled : telemq::AutoCommit::kEnabled;
    if (from == "latest") {
      g.auto_offset_reset = telemq::AutoOffsetReset::kLatest;
    } else if (from != "earliest") {
      std::fprintf(stderr,
                   "telemq: with --group, --from must be earliest or latest (used without a committed offset)\n");
      return 2;
    }
    auto listener = std::make_shared<LoggingListener>(log_assignments);
    if (auto r = (*consumer)->Subscribe({name}, g, listener); !r) return Die("subscribe", r.error());
    const int rc = ConsumeLoop(**consumer, {max_records, idle_ms, print_options}, [&consumer, commit_after_print]() {
      if (!commit_after_print) return;
      if (auto c = (*consumer)->CommitSync(); !c) {
        std::fprintf(stderr, "telemq: commit failed: %s\n", c.error().ToString().c_str());
      }
    });
    // Revokes (committing with auto-commit), then leaves the group.
    (*consumer)->Close();
    return rc;
  }

  if (*topic || *cluster) {
    auto admin = telemq::Admin::Create(client);
    if (!admin) return Die("connect", admin.error());
    if (*create) {
      if (retention_ms != -2) spec.retention_ms = retention_ms;
      if (retention_bytes != -2) spec.retention_bytes = retention_bytes;
      if (segment_bytes != -2) spec.segment_bytes = segment_bytes;
      if (auto r = (*admin)->CreateTopic(name, spec); !r) return Die("create topic " + name, r.error());
      std::printf("created topic %s with %d partition(s)\n", name.c_str(), spec.partitions);
    } else if (*list) {
      auto topics = (*admin)->ListTopics();
      if (!topics) return Die("list topics", topics.error());
      for (const auto& t : *topics) std::printf("%s\n", t.c_str());
    } else if (*describe) {
      auto format = telemq::cli::ParseTableFormat(table_format);
      if (!format) return Die("describe " + name, format.error());
      auto d = (*admin)->DescribeTopic(name);
      if (!d) return Die("describe " + name, d.error());
      const std::string out = telemq::cli::FormatTopicDescription(*d, *format, /*with_offsets=*/true);
      std::fwrite(out.data(), 1, out.size(), stdout);
    } else if (*del) {
      if (auto r = (*admin)->DeleteTopic(name); !r) return Die("delete topic " + name, r.error());
      std::printf("deleted topic %s\n", name.c_str());
    } else if (*cstatus) {
      auto format = telemq::cli::ParseTableFormat(table_format);
      if (!format) return Die("cluster status", format.error());
      auto d = (*admin)->DescribeCluster();
      if (!d) return Die("describe cluster", d.error());
      const std::string out = telemq::cli::FormatClusterStatus(*d, *format);
      std::fwrite(out.data(), 1, out.size(), stdout);
      return telemq::cli::ClusterStatusExitCode(*d);
    } else if (*cluster) {
      auto d = (*admin)->DescribeCluster();
      if (!d) return Die("describe cluster", d.error());
      std::printf("cluster %s  controller %d  term %lld\n", d->cluster_id.c_str(), d->controller_id,
                  static_cast<long long>(d->controller_term));
      for (const auto& b : d->brokers) {
        std::printf("broker %d  %s:%u  %s\n", b.id, b.host.c_str(), b.port, b.live ? "up" : "down");
      }
    }
    return 0;
  }

  if (*produce) {
    telemq::ProducerOptions opts;
    opts.client = client;
    opts.acks = acks == "leader" ? telemq::Acks::kLeader : telemq::Acks::kAll;
    opts.compression = compression == "lz4"    ? telemq::Compression::kLz4
                       : compression == "zstd" ? telemq::Compression::kZstd
                                               : telemq::Compression::kNone;
    opts.max_in_flight_per_partition = max_in_flight;
    auto producer = telemq::Producer::Create(opts);
    if (!producer) return Die("connect", producer.error());
    std::atomic<long> failed{0}, acked{0};
    std::string line;
    long line_no = 0;
    if (key_sep == "\\t") key_sep = "\t";
    while (std::getline(std::cin, line)) {
      ++line_no;
      std::optional<std::string_view> key;
      std::string_view value = line;
      if (!key_sep.empty()) {
        auto at = line.find(key_sep);
        if (at != std::string::npos) {
          key = std::string_view(line).substr(0, at);
          value = std::string_view(line).substr(at + key_sep.size());
        }
      }
      auto r = (*producer)->Send(name, key, value, [&, line_no](const telemq::Result<telemq::RecordMetadata>& m) {
        if (!m) {
          ++failed;
          std::fprintf(stderr, "telemq: line %ld not delivered: %s\n", line_no, m.error().ToString().c_str());
        } else {
          ++acked;
        }
      });
      if (!r) return Die("send line " + std::to_string(line_no), r.error());
    }
    if (auto r = (*producer)->Flush(); !r) return Die("flush", r.error());
    std::fprintf(stderr, "telemq: %ld record(s) acknowledged, %ld failed\n", acked.load(), failed.load());
    return failed > 0 ? 1 : 0;
  }

  if (*consume) {
    telemq::ConsumerOptions opts;
    opts.client = client;
    auto admin = telemq::Admin::Create(client);
    if (!admin) return Die("connect", admin.error());
    auto d = (*admin)->DescribeTopic(name, false);
    if (!d) return Die("describe " + name, d.error());
    std::vector<telemq::TopicPartition> tps;
    for (const auto& p : d->partitions) {
      if (only_partition < 0 || p.partition == only_partition) tps.push_back({name, p.partition});
    }
    if (tps.empty()) {
      std::fprintf(stderr, "telemq: topic %s has no partition %d\n", name.c_str(), only_partition);
      return 1;
    }
    auto consumer = telemq::Consumer::Create(opts);
    if (!consumer) return Die("connect", consumer.error());
    if (auto r = (*consumer)->Assign(tps); !r) return Die("assign", r.error());
    telemq::Result<void> positioned = telemq::Ok();
    if (from == "earliest") {
      positioned = (*consumer)->SeekToBeginning(tps);
    } else if (from == "latest") {
      positioned = (*consumer)->SeekToEnd(tps);
    } else if (!from.empty() && from[0] == '@') {
      positioned = (*consumer)->SeekToTimestamp(tps, std::stoll(from.substr(1)));
    } else {
      char* end = nullptr;
      const long long off = std::strtoll(from.c_str(), &end, 10);
      if (end == from.c_str() || *end != '\0' || off < 0) {
        std::fprintf(stderr, "telemq: --from must be earliest, latest, an offset or @timestamp_ms\n");
        return 2;
      }
      for (const auto& tp : tps) {
        if (positioned) positioned = (*consumer)->Seek(tp, telemq::Offset(off));
      }
    }
    if (!positioned) return Die("seek", positioned.error());
    return ConsumeLoop(**consumer, {max_records, idle_ms, print_options}, nullptr);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq: fatal: %s\n", e.what());
    return 1;
  }
}
