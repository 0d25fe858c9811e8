// Raft core alone: entries committed per CPU-second in a 3-node group whose
// logs are in memory and whose network is a function call. Measures the
// cost of the state machine (Ready assembly, append handling, commit), not
// I/O. Run: build/bench/raft_bench (figures in docs/replication.md).
#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "broker/raft/log.h"
#include "broker/raft/node.h"
#include "telemq/common/check.h"

namespace telemq::raft {
namespace {

class Cluster {
 public:
  explicit Cluster(size_t max_append_bytes) {
    for (int i = 0; i < 3; ++i) {
      Config c;
      c.id = NodeId(i + 1);
      c.voters = {NodeId(1), NodeId(2), NodeId(3)};
      c.max_append_bytes = max_append_bytes;
      c.max_inflight_appends = 64;
      uint64_t state = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
      c.random = [state]() mutable { return state = state * 6364136223846793005ull + 1; };
      nodes_[i] = std::make_unique<Node>(std::move(c), &logs_[i], HardState{});
    }
    nodes_[0]->Campaign();
    Pump();
  }

  Node& leader() { return *nodes_[0]; }

  // Runs Ready cycles and delivers messages until the group is quiet.
  // Returns the normal entries the leader applied.
  int64_t Pump() {
    int64_t applied = 0;
    while (true) {
      bool any = false;
      for (int i = 0; i < 3; ++i) {
        while (nodes_[i]->HasReady()) {
          any = true;
          Ready rd = nodes_[i]->GetReady();
          if (rd.log_reset) logs_[i].Reset(*rd.log_reset);
          logs_[i].Append(rd.entries);
          for (auto& m : rd.early_messages) inbox_.push_back(std::move(m));
          for (auto& m : rd.messages) inbox_.push_back(std::move(m));
          if (i == 0) {
            for (const Entry& e : rd.committed_entries) applied += e.type == EntryType::kNormal;
          }
          nodes_[i]->Advance(rd);
        }
      }
      if (!inbox_.empty()) any = true;
      std::vector<Message> batch;
      batch.swap(inbox_);
      for (const Message& m : batch) {
        auto stepped = nodes_[m.to.value() - 1]->Step(m);
        TELEMQ_CHECK(stepped.has_value(), "a node rejected a message of the benchmark's own group");
      }
      if (!any) break;
    }
    return applied;
  }

  // Retention: keep memory flat across iterations.
  void Trim() {
    for (int i = 0; i < 3; ++i) {
      Offset upto = nodes_[i]->applied();
      if (upto >= logs_[i].StartOffset() && upto < logs_[i].NextOffset()) {
        auto meta = logs_[i].Lookup(upto);
        if (meta && meta->last_offset == upto) logs_[i].TruncatePrefix(upto + 1);
      }
    }
  }

 private:
  std::array<MemoryLog, 3> logs_;
  std::array<std::unique_ptr<Node>, 3> nodes_;
  std::vector<Message> inbox_;
};

// range(0): proposals between two Ready cycles (the batching the broker's
// group commit gives); range(1): payload bytes per entry (one record batch).
void BM_CommitThroughput(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const size_t payload_bytes = static_cast<size_t>(state.range(1));
  Cluster cluster(1 << 20);
  auto payload = Payload::Copy(std::string(payload_bytes, 'x'));
  int64_t committed = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      auto r = cluster.leader().Propose(payload, 100);
      if (!r) state.SkipWithError("proposal refused");
    }
    committed += cluster.Pump();
    cluster.Trim();
  }
  state.SetItemsProcessed(committed);  // entries committed per (CPU) second
  state.SetBytesProcessed(committed * static_cast<int64_t>(payload_bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(committed) * 100, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitThroughput)
    ->ArgNames({"batch", "bytes"})
    ->Args({1, 1024})
    ->Args({16, 1024})
    ->Args({256, 1024})
    ->Args({1024, 1024})
    ->Args({256, 16384});

}  // namespace
}  // namespace telemq::raft
