// telemq-streamer: streams GPU telemetry into the telemetry topic.
//
//   telemq-streamer --bootstrap 127.0.0.1:9092 --source csv:dcgm.csv --loop --interval 1s
//   telemq-streamer --source synthetic:hosts=32,gpus=8 --loop --rate 0
//
// Looping streamers share the fleet through the group `telemq-streamers`:
// each streams the hosts whose shard (PartitionForKey(hostname, P)) it is
// assigned. A single pass (no --loop) is a one-off job: it streams every
// host of the source, joins no group, and exits 0 once every point is
// acknowledged (1 if some could not be delivered). docs/streamer.md has the
// design; docs/operations.md the flags. SIGTERM/SIGINT: hand the hosts back
// (after their points are acknowledged) and exit 0.

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>

#include "streamer/http.h"
#include "streamer/options.h"
#include "streamer/source.h"
#include "streamer/streamer.h"
#include "telemq/admin.h"
#include "telemq/common/cli_config.h"
#include "telemq/common/log.h"
#include "telemq/common/program.h"
#include "telemq/group_member.h"
#include "telemq/producer.h"

namespace telemq::streamer {
namespace {

using std::chrono::milliseconds;

struct Flags {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic = "gpu.telemetry";
  std::string group = "telemq-streamers";
  std::string source;
  std::string interval = "1s";
  double rate = 0;
  bool loop = false;
  uint64_t snapshots = 1;
  int32_t partitions = 16;
  int16_t replication_factor = -1;  // -1: the brokers' default_replication_factor
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8082;
  std::string port_file;
  std::string log_level = "info";
  std::string log_format = "text";
  int64_t session_timeout_ms = 10'000;
  std::string compression = "lz4";
  int64_t linger_ms = 10;
  size_t batch_bytes = 256 * 1024;
  size_t buffer_bytes = 64 << 20;
};

// Waits up to `timeout` for SIGTERM/SIGINT (blocked in every thread).
bool SignalArrived(const sigset_t& signals, milliseconds timeout) {
  timespec ts{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
              .tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  const int sig = sigtimedwait(&signals, nullptr, &ts);
  if (sig > 0) log::Info("signal received", {{"signal", sig}});
  return sig > 0;
}

// The topic's partition count, creating the topic when it does not exist.
Result<int32_t> EnsureTopic(Admin& admin, const Flags& f) {
  auto described = admin.DescribeTopic(f.topic, /*with_offsets=*/false);
  if (!described && described.error().code() == Errc::kNotFound) {
    auto created = admin.CreateTopic(f.topic, {.partitions = f.partitions, .replication_factor = f.replication_factor});
    if (created) {
      log::Info("topic created",
                {{"topic", f.topic}, {"partition_count", f.partitions}, {"replication_factor", f.replication_factor}});
    } else if (created.error().code() != Errc::kAlreadyExists) {  // another streamer won the race
      return tl::unexpected(created.error());
    }
    described = admin.DescribeTopic(f.topic, /*with_offsets=*/false);
  }
  if (!described) return tl::unexpected(described.error());
  if (described->partitions.empty()) return Fail(Errc::kNotFound, "topic " + f.topic + " has no partitions");
  return static_cast<int32_t>(described->partitions.size());
}

// The group's coordination topic (shard.h): one partition per host of the
// source, created by the first streamer. One with another partition count
// belongs to streamers of another source: refused (exit 2), since two
// streamers would then split different host lists.
Result<void> EnsureShardTopic(Admin& admin, const Flags& f, int32_t hosts) {
  const std::string topic = ShardTopic(f.group);
  auto described = admin.DescribeTopic(topic, /*with_offsets=*/false);
  if (!described && described.error().code() == Errc::kNotFound) {
    auto created = admin.CreateTopic(topic, {.partitions = hosts, .replication_factor = f.replication_factor});
    if (created) {
      log::Info("coordination topic created, one partition per host", {{"topic", topic}, {"partition_count", hosts}});
    } else if (created.error().code() != Errc::kAlreadyExists) {  // another streamer won the race
      return tl::unexpected(created.error());
    }
    described = admin.DescribeTopic(topic, /*with_offsets=*/false);
  }
  if (!described) return tl::unexpected(described.error());
  const auto have = static_cast<int32_t>(described->partitions.size());
  if (have != hosts) {
    return Fail(Errc::kInvalidArgument,
                "coordination topic " + topic + " has " + std::to_string(have) + " partitions but the source has " +
                    std::to_string(hosts) + " hosts: every streamer of group " + f.group +
                    " must read the same source; stop them and delete the topic, or use another --group");
  }
  return Ok();
}

class GroupListener final : public GroupMemberListener {
 public:
  explicit GroupListener(Streamer& streamer) : streamer_(streamer) {}
  void OnAssigned(const std::vector<TopicPartition>& added) override {
    log::Info("shards assigned", {{"shards", Describe(added)}});
    streamer_.AssignShards(Shards(added));
  }
  void OnRevoked(const std::vector<TopicPartition>& removed) override {
    log::Info("revoking shards", {{"shards", Describe(removed)}});
    streamer_.RevokeShards(Shards(removed), /*lost=*/false);
  }
  void OnLost(const std::vector<TopicPartition>& lost) override {
    log::Warn("shards lost (session expired or fenced)", {{"shards", Describe(lost)}});
    streamer_.RevokeShards(Shards(lost), /*lost=*/true);
  }

 private:
  static std::vector<int32_t> Shards(const std::vector<TopicPartition>& tps) {
    std::vector<int32_t> out;
    for (const auto& tp : tps) out.push_back(tp.partition);
    return out;
  }
  static std::string Describe(const std::vector<TopicPartition>& tps) {
    std::string s;
    for (const auto& tp : tps) s += (s.empty() ? "" : ",") + std::to_string(tp.partition);
    return s;
  }
  Streamer& streamer_;
};

// Every 5 s: what went out and what came back, per second.
class RateLog {
 public:
  explicit RateLog(const StreamerMetrics& m) : m_(m), last_(std::chrono::steady_clock::now()) {}
  void MaybeLog(size_t hosts) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    if (dt < 5) return;
    const uint64_t sent = m_.points_sent.Value(), acked = m_.points_acked.Value();
    log::Info("rate", {{"sent_per_second", std::round(static_cast<double>(sent - sent_) / dt)},
                       {"acked_per_second", std::round(static_cast<double>(acked - acked_) / dt)},
                       {"host_count", hosts},
                       {"sent", sent},
                       {"acked", acked},
                       {"send_errors", m_.send_errors.Value()}});
    sent_ = sent;
    acked_ = acked;
    last_ = now;
  }

 private:
  const StreamerMetrics& m_;
  std::chrono::steady_clock::time_point last_;
  uint64_t sent_ = 0, acked_ = 0;
};

int Run(int argc, char** argv) {
  CLI::App app{"telemq-streamer: streams GPU telemetry (a DCGM CSV export or a synthetic fleet) into telemq"};
  Flags f;
  app.add_option("--bootstrap", f.bootstrap, "Brokers, host:port[,host:port...] (default 127.0.0.1:9092)");
  app.add_option("--topic", f.topic, "Telemetry topic (default gpu.telemetry)");
  app.add_option("--group", f.group, "Group that shares the hosts among looping streamers (default telemq-streamers)");
  app.add_option("--source", f.source, "csv:PATH or synthetic:hosts=N,gpus=G[,seed=S]")->required();
  auto* interval = app.add_option("--interval", f.interval,
                                  "Time between two snapshots of a host, e.g. 500ms, 1s; 0 = as fast as possible "
                                  "(default 1s)");
  auto* rate =
      app.add_option("--rate", f.rate, "Points per second over all owned hosts instead; 0 = as fast as possible")
          ->check(CLI::NonNegativeNumber);
  interval->excludes(rate);
  app.add_flag("--loop", f.loop,
               "Stream forever, sharing hosts through the group; without it: one pass over every host, then exit");
  app.add_option("--snapshots", f.snapshots, "Single pass, synthetic source: snapshots per host (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--partitions", f.partitions, "Partitions when the topic must be created (default 16)")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--replication-factor", f.replication_factor,
                 "Replication factor when the topic must be created (default: the brokers' default, 3 in a cluster)")
      ->check(CLI::Range(1, 16));
  app.add_option("--http-host", f.http_host, "Listen address of /metrics, /status, /healthz (default 127.0.0.1)");
  app.add_option("--http-port", f.http_port, "HTTP port; 0 = ephemeral (default 8082)");
  app.add_option("--port-file", f.port_file, "Write the bound HTTP port here once listening");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error|critical|off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", f.log_format,
                 "text: time level component message key=value; json: one object a line (default text)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--session-timeout-ms", f.session_timeout_ms,
                 "Group session: a streamer silent this long loses its hosts to the others (default 10000)")
      ->check(CLI::Range(int64_t{1000}, int64_t{300'000}));
  app.add_option("--compression", f.compression, "lz4|zstd|none (default lz4)")
      ->check(CLI::IsMember({"lz4", "zstd", "none"}));
  app.add_option("--linger-ms", f.linger_ms, "Producer: wait this long for a batch to fill (default 10)")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000}));
  app.add_option("--batch-bytes", f.batch_bytes, "Producer: close a batch at this size (default 262144)")
      ->check(CLI::Range(size_t{1024}, size_t{16} << 20));
  app.add_option("--buffer-bytes", f.buffer_bytes,
                 "Producer: unacknowledged bytes before sending waits (default 67108864)")
      ->check(CLI::Range(size_t{1} << 20, size_t{4} << 30));
  AddConfigFileOption(app);
  if (const int rc = ParseCommandLine(app, argc, argv, "telemq-streamer"); rc >= 0) return rc;

  auto fail_config = [](const std::string& message) {
    std::fprintf(stderr, "telemq-streamer: %s\n", message.c_str());
    return 2;
  };
  auto spec = ParseSourceSpec(f.source);
  if (!spec) return fail_config("--source: " + spec.error().message());
  auto interval_us = ParseDuration(f.interval);
  if (!interval_us) return fail_config("--interval: " + interval_us.error().message());
  if (app.count("--rate") > 0) interval_us = std::chrono::microseconds(0);
  if (app.count("--snapshots") > 0 && (f.loop || spec->kind != SourceKind::kSynthetic)) {
    return fail_config("--snapshots applies to a single pass (no --loop) over a synthetic source");
  }
  const auto bootstrap = telemq::SplitCommaList(f.bootstrap);
  if (bootstrap.empty()) return fail_config("--bootstrap: no broker address");
  if (f.loop && f.group.empty()) return fail_config("--group must not be empty");

  log::Init("streamer", *log::ParseFormat(f.log_format), spdlog::level::from_str(f.log_level));

  // The source is read before anything connects: a bad file is a
  // configuration error (exit 2), not a runtime one.
  std::unique_ptr<Source> source;
  telemetry::SkipCounts skips;
  if (spec->kind == SourceKind::kCsv) {
    auto csv = CsvSource::LoadFile(spec->path);
    if (!csv) return fail_config("--source: " + csv.error().message());
    const auto& s = (*csv)->summary();
    skips = s.skips;
    log::Info("source read", {{"path", spec->path},
                              {"point_count", s.rows},
                              {"host_count", (*csv)->hosts().size()},
                              {"gpu_count", (*csv)->gpu_count()},
                              {"skipped_row_count", s.skips.Total()},
                              {"malformed_labels_row_count", s.malformed_labels}});
    source = std::move(*csv);
  } else {
    source = std::make_unique<SyntheticSource>(*spec);
    log::Info("synthetic fleet", {{"host_count", spec->hosts}, {"gpus_per_host", spec->gpus}, {"seed", spec->seed}});
  }

  if (source->hosts().empty()) log::Warn("the source has no hosts: nothing to stream");

  metrics::Registry registry;
  for (size_t r = 0; r < telemetry::kSkipReasonCount; ++r) {
    const auto reason = static_cast<telemetry::SkipReason>(r);
    registry
        .AddCounter("telemq_streamer_rows_skipped_total", "Source rows skipped as invalid, never sent",
                    {{"reason", std::string(telemetry::SkipReasonName(reason))}})
        .Inc(skips.Of(reason));
  }
  StreamerMetrics m(registry);

  // Signals are taken synchronously by the main thread only; blocked before
  // any thread starts so every thread inherits the mask.
  const sigset_t signals = telemq::BlockTerminationSignals();

  // Declared in this order so the streamer (which sends through the
  // producer) is destroyed first on every return path.
  std::unique_ptr<Producer> producer;
  std::unique_ptr<Streamer> streamer;  // set once the producer exists; /status reads it
  std::atomic<Streamer*> streamer_ptr{nullptr};
  auto http = HttpServer::Start(f.http_host, f.http_port, registry, [&streamer_ptr] {
    Streamer* s = streamer_ptr.load();
    return s != nullptr ? s->Status() : StreamerStatus{};
  });
  if (!http) {
    log::Critical("cannot listen for http", {{"error", http.error().ToString()}});
    return 1;
  }
  log::Info("http listening (/metrics, /status, /healthz)", {{"host", f.http_host}, {"port", (*http)->port()}});
  if (!f.port_file.empty() && !telemq::WritePortFile(f.port_file, (*http)->port())) {
    log::Critical("cannot write port file", {{"path", f.port_file}});
    return 1;
  }

  ClientOptions client{.bootstrap_servers = bootstrap, .client_id = "telemq-streamer"};
  // The broker may come up after us (Kubernetes starts pods in any order):
  // retry until it answers or we are told to stop.
  int32_t partitions = 0;
  const auto host_count = static_cast<int32_t>(source->hosts().size());
  for (bool stop = false; !stop;) {
    auto admin = Admin::Create(client);
    auto p = admin ? EnsureTopic(**admin, f) : Result<int32_t>(tl::unexpected(admin.error()));
    if (p && f.loop && host_count > 0) {
      if (auto shards = EnsureShardTopic(**admin, f, host_count); !shards) p = tl::unexpected(shards.error());
    }
    if (p) {
      partitions = *p;
      ProducerOptions po{.client = client};
      po.compression = f.compression == "lz4"    ? Compression::kLz4
                       : f.compression == "zstd" ? Compression::kZstd
                                                 : Compression::kNone;
      po.linger = milliseconds(f.linger_ms);
      po.batch_bytes = f.batch_bytes;
      po.buffer_bytes = f.buffer_bytes;
      po.on_full = BufferFullPolicy::kBlock;
      // Short, so the sending thread notices a shutdown while it waits for
      // buffer space; it simply waits again otherwise.
      po.max_block = milliseconds(1000);
      auto created = Producer::Create(po);
      if (created) {
        producer = std::move(*created);
        break;
      }
      p = tl::unexpected(created.error());
    }
    // A replication factor above the live brokers is refused while a new
    // cluster's brokers are still registering (every pod of a fresh install
    // starts at once): wait for them like for a broker that is not up yet.
    const bool brokers_missing = p.error().message().find("live broker") != std::string::npos;
    if (p.error().code() == Errc::kInvalidArgument && !brokers_missing) {
      log::Critical("cannot set up the topic", {{"error", p.error().ToString()}});
      return 2;
    }
    log::Warn("broker not ready; retrying", {{"error", p.error().ToString()}});
    stop = SignalArrived(signals, milliseconds(1000));
    if (stop) return 0;
  }
  log::Info("producing",
            {{"topic", f.topic}, {"partition_count", partitions}, {"producer_id", producer->producer_id()}});

  StreamerOptions so;
  so.topic = f.topic;
  so.interval = *interval_us;
  so.rate = f.rate;
  so.loop = f.loop;
  if (spec->kind == SourceKind::kSynthetic) so.snapshots_per_host = f.snapshots;
  const std::chrono::milliseconds rebalance_timeout{60'000};
  so.revoke_flush_timeout = rebalance_timeout / 2;
  streamer = std::make_unique<Streamer>(so, std::move(source), *producer, m);
  streamer_ptr = streamer.get();
  streamer->Start();

  int exit_code = 0;
  RateLog rate_log(m);
  if (f.loop && host_count == 0) {
    while (!SignalArrived(signals, milliseconds(200))) {
    }
  } else if (f.loop) {
    GroupMemberOptions go;
    go.client = client;
    go.group_id = f.group;
    go.topics = {ShardTopic(f.group)};
    go.timeouts.session_timeout = milliseconds(f.session_timeout_ms);
    go.timeouts.rebalance_timeout = rebalance_timeout;
    auto member = GroupMember::Create(go, std::make_shared<GroupListener>(*streamer));
    if (!member) {
      log::Critical("cannot join group", {{"group", f.group}, {"error", member.error().ToString()}});
      return 1;
    }
    log::Info("streaming in a loop; sharing hosts in the group", {{"group", f.group}});
    while (!SignalArrived(signals, milliseconds(200))) {
      if (auto fatal = (*member)->FatalError()) {
        log::Critical("group membership failed", {{"group", f.group}, {"error", fatal->ToString()}});
        exit_code = 1;
        break;
      }
      rate_log.MaybeLog(streamer->Status().hosts.size());
    }
    // The streaming thread stops first: while the broker is unreachable it
    // would otherwise wait forever for buffer space, holding what the
    // revocation below needs. Then every shard is revoked (after its points
    // are acknowledged, bounded by stop_flush_timeout) and the group left.
    streamer->RequestStop();
    (*member)->Close();
  } else {
    streamer->AssignAllHosts();
    bool done = false;
    while (!(done = streamer->WaitDone(milliseconds(200)))) {
      if (SignalArrived(signals, milliseconds(0))) break;
      rate_log.MaybeLog(streamer->Status().hosts.size());
    }
    if (done) {
      auto flushed = producer->Flush();
      if (!flushed) log::Error("flush failed", {{"error", flushed.error().ToString()}});
      exit_code = flushed && m.send_errors.Value() == 0 ? 0 : 1;
      log::Info("single pass done",
                {{"sent", m.points_sent.Value()}, {"acked", m.points_acked.Value()}, {"lost", m.send_errors.Value()}});
    }
  }
  streamer->Stop();
  // Bounded: an unreachable broker must not hold the exit for the
  // producer's delivery timeout (what is unacknowledged by then is logged).
  producer->Close(so.stop_flush_timeout);
  log::Info(
      "stopped",
      {{"sent", m.points_sent.Value()}, {"acked", m.points_acked.Value()}, {"send_errors", m.send_errors.Value()}});
  streamer_ptr = nullptr;
  (*http)->Stop();
  return exit_code;
}

}  // namespace
}  // namespace telemq::streamer

int main(int argc, char** argv) {
  try {
    return telemq::streamer::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telemq-streamer: fatal: %s\n", e.what());
    return 1;
  }
}
