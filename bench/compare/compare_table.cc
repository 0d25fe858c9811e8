// compare-table: turns the raw runs of scripts/compare into
// build/compare/results.json and build/compare/table.md.
//
//   compare-table RUNS.jsonl OUT_DIR
//
// RUNS.jsonl holds one JSON object a line, written by scripts/compare:
//   {"kind":"info","key":K,"value":V}            machine, versions, notes
//   {"kind":"run","rep":R,"system":S,"workload":W,"cpu_us":C,"result":{...}}
// where result is a load tool's LoadResult line (bench/load/load_result.h)
// and cpu_us the server processes' utime+stime over the run. The table has
// one row per workload: the median over repetitions with min–max for each
// system, the ratio telemq / peer of the medians, the server CPU µs per
// record, the target and whether this run met it. Exits 1 when a workload
// lacks a run of a system it applies to, so a broken peer fails the harness.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

struct Target {
  std::string peer;  // "nats" or "redis"
  double factor;     // telemq must be this many times better
};

struct Workload {
  std::string id;
  std::string label;
  bool latency;  // metric is p99 µs (lower is better) rather than records/s
  std::vector<std::string> systems;
  std::vector<Target> targets;
};

const std::vector<std::string> kSystems = {"telemq", "nats", "redis"};
const std::map<std::string, std::string> kNames = {
    {"telemq", "telemq"}, {"nats", "NATS JetStream"}, {"redis", "Redis Streams"}};

const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> w = {
      {"publish_100B_p1", "publish 100 B, 1 partition (rec/s)", false, kSystems, {{"nats", 15}, {"redis", 8}}},
      {"publish_100B_p8", "publish 100 B, 8 partitions (rec/s)", false, kSystems, {{"nats", 15}, {"redis", 8}}},
      {"publish_1KiB_p1", "publish 1 KiB, 1 partition (rec/s)", false, kSystems, {}},
      {"consume_100B_p1", "consume stored 100 B records (rec/s)", false, kSystems, {{"nats", 20}, {"redis", 20}}},
      {"e2e_20k", "end-to-end p99 at 20,000 rec/s (µs)", true, kSystems, {{"nats", 10}}},
      {"e2e_50k", "end-to-end p99 at 50,000 rec/s (µs)", true, kSystems, {}},
      {"durable_100B_p8", "durable publish 100 B, 8 partitions (rec/s)", false, kSystems, {{"redis", 8}}},
      {"replicated_100B_p8",
       "3 nodes, R3/RF3, publish 100 B, 8 partitions (rec/s)",
       false,
       {"telemq", "nats"},
       {{"nats", 20}}},
  };
  return w;
}

double Metric(const Workload& w, const json& result) {
  if (w.latency) return result.at("latency_us").at("p99").get<double>();
  return result.at("records_per_s").get<double>();
}

struct Stats {
  double median = 0, min = 0, max = 0;
  size_t n = 0;
};

std::optional<Stats> Summarize(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  Stats s;
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

std::string Num(double v) {
  char buf[64];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.0f k", v / 1e3);
  } else if (v >= 100) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

std::string Cell(const std::optional<Stats>& s) {
  if (!s) return "—";
  if (s->n == 1) return "**" + Num(s->median) + "**";
  return "**" + Num(s->median) + "** (" + Num(s->min) + "–" + Num(s->max) + ")";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: compare-table RUNS.jsonl OUT_DIR\n");
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    if (!in) {
      std::fprintf(stderr, "compare-table: cannot read %s\n", argv[1]);
      return 2;
    }
    json info = json::object();
    json runs = json::array();
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        std::fprintf(stderr, "compare-table: %s:%d: not JSON: %s\n", argv[1], line_no, e.what());
        return 1;
      }
      const std::string kind = j.value("kind", "");
      if (kind == "info") {
        info[j.at("key").get<std::string>()] = j.at("value");
      } else if (kind == "run") {
        runs.push_back(j);
      } else {
        std::fprintf(stderr, "compare-table: %s:%d: unknown kind '%s'\n", argv[1], line_no, kind.c_str());
        return 1;
      }
    }
    // (workload, system) → metric and CPU µs per record over repetitions.
    std::map<std::pair<std::string, std::string>, std::vector<double>> metric, cpu;
    const auto find = [](const std::string& id) -> const Workload* {
      for (const auto& w : Workloads())
        if (w.id == id) return &w;
      return nullptr;
    };
    for (const auto& r : runs) {
      const Workload* w = find(r.at("workload").get<std::string>());
      if (w == nullptr) continue;
      const auto key = std::make_pair(w->id, r.at("system").get<std::string>());
      const json& res = r.at("result");
      metric[key].push_back(Metric(*w, res));
      const double n = res.at("records").get<double>();
      if (n > 0) cpu[key].push_back(r.at("cpu_us").get<double>() / n);
    }

    std::ostringstream md;
    md << "| workload | telemq | NATS JetStream | Redis Streams | telemq / NATS | telemq / Redis "
          "| server CPU µs/record (telemq / NATS / Redis) | target | this run |\n";
    md << "|---|---|---|---|---|---|---|---|---|\n";
    bool complete = true;
    json summary = json::array();
    for (const auto& w : Workloads()) {
      std::map<std::string, std::optional<Stats>> s, c;
      for (const auto& sys : kSystems) {
        s[sys] = Summarize(metric[{w.id, sys}]);
        c[sys] = Summarize(cpu[{w.id, sys}]);
        const bool applies = std::find(w.systems.begin(), w.systems.end(), sys) != w.systems.end();
        if (applies && !s[sys]) {
          std::fprintf(stderr, "compare-table: no run of %s for %s\n", sys.c_str(), w.id.c_str());
          complete = false;
        }
      }
      const auto ratio = [&](const std::string& peer) -> std::optional<double> {
        if (!s["telemq"] || !s[peer] || s[peer]->median <= 0) return std::nullopt;
        return s["telemq"]->median / s[peer]->median;
      };
      const auto ratio_cell = [&](const std::string& peer) {
        auto r = ratio(peer);
        if (!r) return std::string("n/a");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f×", *r);
        return std::string(buf);
      };
      std::string target, verdict;
      json row = {{"workload", w.id}, {"label", w.label}};
      for (const auto& t : w.targets) {
        char buf[96];
        if (!target.empty()) target += "; ";
        if (!verdict.empty()) verdict += "; ";
        auto r = ratio(t.peer);
        bool met = false;
        if (w.latency) {
          std::snprintf(buf, sizeof buf, "≤ %.2f× %s (%.0f× lower)", 1.0 / t.factor, kNames.at(t.peer).c_str(),
                        t.factor);
          met = r && *r <= 1.0 / t.factor;
        } else {
          std::snprintf(buf, sizeof buf, "≥ %.0f× %s", t.factor, kNames.at(t.peer).c_str());
          met = r && *r >= t.factor;
        }
        target += buf;
        verdict += std::string(met ? "met" : "**missed**") + " vs " + kNames.at(t.peer);
        row["targets"].push_back({{"peer", t.peer}, {"factor", t.factor}, {"met", met}});
      }
      const auto cpu_cell = [&](const std::string& sys) { return c[sys] ? Num(c[sys]->median) : std::string("—"); };
      md << "| " << w.label << " | " << Cell(s["telemq"]) << " | " << Cell(s["nats"]) << " | " << Cell(s["redis"])
         << " | " << ratio_cell("nats") << " | " << ratio_cell("redis") << " | " << cpu_cell("telemq") << " / "
         << cpu_cell("nats") << " / " << cpu_cell("redis") << " | " << (target.empty() ? "—" : target) << " | "
         << (verdict.empty() ? "—" : verdict) << " |\n";
      for (const auto& sys : kSystems) {
        if (s[sys])
          row[sys] = {{"median", s[sys]->median}, {"min", s[sys]->min}, {"max", s[sys]->max}, {"n", s[sys]->n}};
        if (c[sys]) row[sys]["cpu_us_per_record"] = c[sys]->median;
      }
      summary.push_back(row);
    }

    std::ostringstream head;
    head << "Machine: " << info.value("machine", std::string("?")) << "\n\n";
    head << "Versions: " << info.value("versions", std::string("?")) << "\n\n";
    head << "Raw disk in this run: " << info.value("disk_probe", std::string("?"))
         << "; CPU steal during the run: " << info.value("steal", std::string("?")) << "\n\n";
    head << "Command: `" << info.value("command", std::string("?")) << "` (" << info.value("date", std::string("?"))
         << ", " << info.value("reps", std::string("?")) << " repetitions)\n\n";
    std::ostringstream tail;
    if (info.contains("notes")) tail << "\n" << info["notes"].get<std::string>() << "\n";
    const std::string out_dir = argv[2];
    const std::string table = head.str() + md.str() + tail.str();
    std::ofstream(out_dir + "/table.md") << table;
    json all = {{"info", info}, {"summary", summary}, {"runs", runs}};
    std::ofstream(out_dir + "/results.json") << all.dump(2) << "\n";
    std::printf("%s", table.c_str());
    return complete ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare-table: %s\n", e.what());
    return 1;
  }
}
