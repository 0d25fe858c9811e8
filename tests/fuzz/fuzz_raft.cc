#include "tests/fuzz/fuzz_raft.h"

#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "broker/raft/log.h"
#include "broker/raft/node.h"
#include "telemq/common/result.h"

namespace telemq::fuzz {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::Message;
using raft::MessageType;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Mostly small values near real ones; sometimes any 64-bit value.
  int64_t Value() {
    const uint8_t tag = Byte();
    if (tag < 0xf0) return static_cast<int64_t>(tag) - 2;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return static_cast<int64_t>(v);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

constexpr int kNodes = 3;

struct Group {
  Group() {
    for (int i = 0; i < kNodes; ++i) {
      raft::Config c;
      c.id = NodeId(i + 1);
      for (int v = 1; v <= kNodes; ++v) c.voters.push_back(NodeId(v));
      c.election_ticks = 4;
      c.heartbeat_ticks = 1;
      c.max_append_bytes = 64;
      c.max_committed_bytes = 64;
      c.random = [i] { return static_cast<uint64_t>(i); };
      nodes[i] = std::make_unique<raft::Node>(std::move(c), &logs[i], raft::HardState{});
    }
  }
  void Process(int i) {
    while (nodes[i]->HasReady()) {
      raft::Ready rd = nodes[i]->GetReady();
      if (rd.log_reset) logs[i].Reset(*rd.log_reset);
      logs[i].Append(rd.entries);
      for (auto& m : rd.early_messages) inbox.push_back(m);
      for (auto& m : rd.messages) inbox.push_back(m);
      nodes[i]->Advance(rd);
    }
  }
  void Deliver(const Message& m) {
    const int to = m.to.value();
    if (to < 1 || to > kNodes) return;
    IgnoreError(nodes[to - 1]->Step(m), "a rejection is the expected outcome for forged input");
    Process(to - 1);
  }
  // Real traffic until quiet (bounded).
  void Round() {
    for (int k = 0; k < 200 && !inbox.empty(); ++k) {
      Message m = std::move(inbox.front());
      inbox.pop_front();
      Deliver(m);
    }
  }
  raft::MemoryLog logs[kNodes];
  std::unique_ptr<raft::Node> nodes[kNodes];
  std::deque<Message> inbox;
};

Message Forge(Reader& r) {
  Message m;
  m.type = static_cast<MessageType>(r.Byte() % 12);  // a few beyond the last type
  m.from = NodeId(static_cast<int32_t>(r.Byte() % 5));
  m.to = NodeId(static_cast<int32_t>(1 + r.Byte() % kNodes));
  m.term = Term(r.Value());
  m.offset = Offset(r.Value());
  m.log_term = Term(r.Value());
  m.commit = Offset(r.Value());
  m.reject_hint = Offset(r.Value());
  const uint8_t flags = r.Byte();
  m.reject = flags & 1;
  m.transfer = flags & 2;
  const int entries = r.Byte() % 5;
  // Forged offsets reach INT64_MAX; the harness itself must not overflow.
  Offset next = m.offset.value() < std::numeric_limits<int64_t>::max() ? m.offset + 1 : m.offset;
  for (int i = 0; i < entries; ++i) {
    Entry e;
    e.term = Term(r.Value());
    // Usually contiguous after prev, sometimes anywhere.
    e.base_offset = (r.Byte() & 3) ? next : Offset(r.Value());
    e.record_count = static_cast<int32_t>(r.Value());
    e.type = static_cast<EntryType>(r.Byte() % 3);
    e.payload = raft::Payload::Copy(std::string(r.Byte() % 16, 'p'));
    if (e.record_count > 0 && e.base_offset.value() < (int64_t{1} << 61)) next = e.last_offset() + 1;
    m.entries.push_back(std::move(e));
  }
  return m;
}

}  // namespace

int FuzzRaft(const uint8_t* data, size_t size) {
  Reader r(data, size);
  Group g;
  for (int op = 0; op < 400 && !r.done(); ++op) {
    const uint8_t code = r.Byte();
    const int node = code % kNodes;
    switch ((code >> 2) % 6) {
      case 0:
      case 1: g.Deliver(Forge(r)); break;
      case 2:
        g.nodes[node]->Tick();
        g.Process(node);
        break;
      case 3:
        if (g.nodes[node]->Propose(raft::Payload::Copy(std::string(r.Byte() % 40, 'x')), 1 + r.Byte() % 4)) {
          g.Process(node);
        }
        break;
      case 4: g.Round(); break;
      case 5:
        g.nodes[node]->Campaign();
        g.Process(node);
        break;
    }
  }
  return 0;
}

std::vector<std::vector<uint8_t>> RaftSeeds() {
  std::vector<std::vector<uint8_t>> seeds;
  // Campaign at node 1, traffic, proposals, traffic, then one forged message
  // of each type addressed to node 2 from node 1 at term 1..2.
  std::vector<uint8_t> base = {5 << 2, 4 << 2, 4 << 2, 4 << 2, 3 << 2, 8, 2, 4 << 2, 3 << 2, 20, 1, 4 << 2, 4 << 2};
  seeds.push_back(base);
  for (uint8_t type = 0; type < 10; ++type) {
    std::vector<uint8_t> s = base;
    const uint8_t forged[] = {1, type, 1, 1, 3, 3, 3, 3, 3, 0, 2, 3, 5, 1, 0, 4, 3, 6, 1, 0, 4};
    s.insert(s.end(), std::begin(forged), std::end(forged));
    s.push_back(4 << 2);
    seeds.push_back(s);
  }
  return seeds;
}

}  // namespace telemq::fuzz
