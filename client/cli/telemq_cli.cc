// telemq: command-line tool on the client library.
//
//   telemq topic create gpu.telemetry --partitions 16 [--retention-ms N]
//   telemq topic list | describe NAME | delete NAME
//   telemq produce TOPIC [--key-separator '\t'] < lines
//   telemq consume TOPIC [--from earliest|latest|OFFSET|@TIMESTAMP_MS] [--max N] [--partition P]
//   telemq cluster
//
// --bootstrap host:port[,host:port...] (or $TELEMQ_BOOTSTRAP) picks the cluster.

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "telemq/admin.h"
#include "telemq/consumer.h"
#include "telemq/producer.h"

namespace {

int Die(const std::string& what, const telemq::Error& e) {
  std::fprintf(stderr, "telemq: %s: %s\n", what.c_str(), e.ToString().c_str());
  return 1;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
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
  create->add_option("-r,--replication-factor", spec.replication_factor, "Replicas per partition (default 1)");
  create->add_option("--retention-ms", retention_ms, "Retention by age, ms; -1 unlimited (default: broker's)");
  create->add_option("--retention-bytes", retention_bytes, "Retention by size per partition; -1 unlimited");
  create->add_option("--segment-bytes", segment_bytes, "Segment size (default: broker's)");
  auto* list = topic->add_subcommand("list", "List topics");
  auto* describe = topic->add_subcommand("describe", "Partitions, leaders and offsets of a topic");
  describe->add_option("name", name, "Topic name")->required();
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
  consume->add_flag("--print-meta", print_meta, "Print partition, offset and timestamp first");

  auto* cluster = app.add_subcommand("cluster", "Cluster id and brokers");
  CLI11_PARSE(app, argc, argv);

  telemq::ClientOptions client;
  client.bootstrap_servers = SplitComma(bootstrap);

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
      auto d = (*admin)->DescribeTopic(name);
      if (!d) return Die("describe " + name, d.error());
      std::printf("topic %s  partitions %zu  retention_ms %lld  retention_bytes %lld\n", d->name.c_str(),
                  d->partitions.size(), static_cast<long long>(d->retention_ms),
                  static_cast<long long>(d->retention_bytes));
      std::printf("%-10s %-7s %-16s %-16s\n", "PARTITION", "LEADER", "LOG_START", "HIGH_WATERMARK");
      for (const auto& p : d->partitions) {
        std::printf("%-10d %-7d %-16lld %-16lld\n", p.partition, p.leader,
                    static_cast<long long>(p.log_start_offset.value()),
                    static_cast<long long>(p.high_watermark.value()));
      }
    } else if (*del) {
      if (auto r = (*admin)->DeleteTopic(name); !r) return Die("delete topic " + name, r.error());
      std::printf("deleted topic %s\n", name.c_str());
    } else if (*cluster) {
      auto d = (*admin)->DescribeCluster();
      if (!d) return Die("describe cluster", d.error());
      std::printf("cluster %s  controller %d\n", d->cluster_id.c_str(), d->controller_id);
      for (const auto& b : d->brokers) std::printf("broker %d  %s:%u\n", b.id, b.host.c_str(), b.port);
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
    int64_t seen = 0;
    auto last_record = std::chrono::steady_clock::now();
    while (max_records < 0 || seen < max_records) {
      auto records = (*consumer)->Poll(std::chrono::milliseconds(200));
      if (!records) return Die("consume", records.error());
      if (records->empty()) {
        if (idle_ms >= 0 && std::chrono::steady_clock::now() - last_record > std::chrono::milliseconds(idle_ms)) break;
        continue;
      }
      last_record = std::chrono::steady_clock::now();
      for (const auto& r : *records) {
        if (max_records >= 0 && seen >= max_records) break;
        if (print_meta) {
          std::printf("%d\t%lld\t%lld\t", r.partition, static_cast<long long>(r.offset.value()),
                      static_cast<long long>(r.timestamp_ms));
        }
        if (print_key) {
          auto k = r.key.value_or("");
          std::fwrite(k.data(), 1, k.size(), stdout);
          std::fputc('\t', stdout);
        }
        auto v = r.value.value_or("");
        std::fwrite(v.data(), 1, v.size(), stdout);
        std::fputc('\n', stdout);
        ++seen;
      }
      std::fflush(stdout);
    }
    return 0;
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
