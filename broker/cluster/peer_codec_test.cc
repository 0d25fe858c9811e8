#include "broker/cluster/peer_codec.h"

#include <gtest/gtest.h>

#include <functional>

#include "telemq/wire/batch_header.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::cluster {
namespace {

namespace fb = wire::fb;

// A stamped batch of `records` records at `base` in `term`, as a leader sends it.
std::shared_ptr<std::vector<std::byte>> Batch(int records, Offset base, Term term) {
  wire::BatchBuilder builder;
  for (int i = 0; i < records; ++i) builder.Add(1000 + i, std::string_view("k"), std::string_view("value"));
  auto bytes = std::make_shared<std::vector<std::byte>>(*builder.Finish());
  wire::StampBaseOffset(*bytes, base);
  wire::StampLeaderTerm(*bytes, term);
  return bytes;
}

raft::Entry NormalEntry(const std::shared_ptr<std::vector<std::byte>>& bytes) {
  auto h = *wire::DecodeHeader(*bytes);
  return raft::Entry{h.leader_term, h.base_offset, h.record_count, raft::EntryType::kNormal,
                     raft::Payload(bytes, std::span<const std::byte>(*bytes))};
}

struct Wire {
  std::vector<std::byte> body;
  std::vector<std::byte> payload;
};

Wire Encode(const PeerHeader& header, const std::vector<PeerEnvelope>& messages) {
  auto encoded = EncodePeerRequest(header, messages);
  Wire w;
  w.body.assign(reinterpret_cast<const std::byte*>(encoded.body.data()),
                reinterpret_cast<const std::byte*>(encoded.body.data()) + encoded.body.size());
  for (auto piece : encoded.payload) w.payload.insert(w.payload.end(), piece.begin(), piece.end());
  EXPECT_EQ(w.payload.size(), encoded.payload_bytes);
  return w;
}

Result<DecodedPeerRequest> Decode(const Wire& w) {
  auto req = wire::VerifyBody<fb::PeerRaftRequest>(w.body);
  if (!req) return tl::unexpected(req.error());
  auto frame = std::make_shared<std::vector<std::byte>>(w.payload);
  return DecodePeerRequest(**req, *frame, frame, 1 << 20);
}

PeerHeader Header() {
  PeerHeader h;
  h.cluster_id = "cid";
  h.from_broker = 0;
  h.to_broker = 2;
  h.host = "broker-0";
  h.port = 9092;
  return h;
}

std::vector<PeerEnvelope> SampleMessages() {
  PeerEnvelope append{7, 3, {}};
  append.message.type = raft::MessageType::kAppend;
  append.message.from = RaftNodeOf(0);
  append.message.to = RaftNodeOf(2);
  append.message.term = Term(4);
  append.message.offset = Offset(9);
  append.message.log_term = Term(3);
  append.message.commit = Offset(8);
  append.message.entries.push_back(NormalEntry(Batch(3, Offset(10), Term(4))));
  append.message.entries.push_back(raft::Entry{Term(4), Offset(13), 1, raft::EntryType::kNoop, {}});
  append.message.entries.push_back(NormalEntry(Batch(2, Offset(14), Term(4))));
  PeerEnvelope heartbeat{0, 0, {}};
  heartbeat.message.type = raft::MessageType::kHeartbeat;
  heartbeat.message.from = RaftNodeOf(0);
  heartbeat.message.to = RaftNodeOf(2);
  heartbeat.message.term = Term(2);
  heartbeat.message.commit = Offset(5);
  PeerEnvelope vote{9, 0, {}};
  vote.message.type = raft::MessageType::kVoteResponse;
  vote.message.from = RaftNodeOf(0);
  vote.message.to = RaftNodeOf(2);
  vote.message.term = Term(6);
  vote.message.reject = true;
  vote.message.reject_hint = Offset(44);
  vote.message.transfer = true;
  return {append, heartbeat, vote};
}

TEST(PeerCodec, MessagesEntriesAndLeadershipsRoundTripWithoutCopyingBatches) {
  PeerHeader header = Header();
  header.leaderships = std::vector<Leadership>{{7, 3, 4}, {0, 0, 2}};
  const auto messages = SampleMessages();
  Wire w = Encode(header, messages);
  auto decoded = Decode(w);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->header.cluster_id, "cid");
  EXPECT_EQ(decoded->header.host, "broker-0");
  EXPECT_EQ(decoded->header.port, 9092);
  EXPECT_EQ(decoded->header.leaderships, header.leaderships);
  ASSERT_EQ(decoded->messages.size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& a = messages[i].message;
    const auto& b = decoded->messages[i].message;
    EXPECT_EQ(decoded->messages[i].topic_id, messages[i].topic_id);
    EXPECT_EQ(decoded->messages[i].partition, messages[i].partition);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.from, b.from);
    EXPECT_EQ(a.to, b.to);
    EXPECT_EQ(a.term, b.term);
    EXPECT_EQ(a.offset, b.offset);
    EXPECT_EQ(a.log_term, b.log_term);
    EXPECT_EQ(a.commit, b.commit);
    EXPECT_EQ(a.reject_hint, b.reject_hint);
    EXPECT_EQ(a.reject, b.reject);
    EXPECT_EQ(a.transfer, b.transfer);
    ASSERT_EQ(a.entries.size(), b.entries.size());
    for (size_t k = 0; k < a.entries.size(); ++k) {
      EXPECT_EQ(a.entries[k].term, b.entries[k].term);
      EXPECT_EQ(a.entries[k].base_offset, b.entries[k].base_offset);
      EXPECT_EQ(a.entries[k].record_count, b.entries[k].record_count);
      EXPECT_EQ(a.entries[k].type, b.entries[k].type);
      EXPECT_EQ(a.entries[k].payload.view(), b.entries[k].payload.view());
    }
  }
}

TEST(PeerCodec, AnEmptyRequestIsValid) {
  auto decoded = Decode(Encode(Header(), {}));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->messages.empty());
  EXPECT_FALSE(decoded->header.leaderships.has_value());
}

// Each tampering is refused with a message naming it, and nothing is returned.
TEST(PeerCodec, RefusesWhatAReplicaMustNotSee) {
  struct Case {
    std::string name;
    std::function<void(PeerHeader&, std::vector<PeerEnvelope>&)> edit_messages;
    std::function<void(Wire&)> edit_wire;
    std::string expect;
  };
  const std::vector<Case> cases{
      {"sender is not the from node", [](PeerHeader&, auto& m) { m[1].message.from = RaftNodeOf(1); }, nullptr,
       "node ids do not match"},
      {"addressed to another node", [](PeerHeader&, auto& m) { m[2].message.to = RaftNodeOf(0); }, nullptr,
       "node ids do not match"},
      {"same broker both ends", [](PeerHeader& h, auto&) { h.to_broker = 0; }, nullptr, "broker ids"},
      {"unknown type", [](PeerHeader&, auto& m) { m[1].message.type = static_cast<raft::MessageType>(42); }, nullptr,
       "unknown type"},
      {"entries on a heartbeat", [](PeerHeader&, auto& m) { m[1].message.entries.push_back(m[0].message.entries[0]); },
       nullptr, "entries on a message"},
      {"gap between entries",
       [](PeerHeader&, auto& m) { m[0].message.entries.erase(m[0].message.entries.begin() + 1); }, nullptr,
       "not contiguous"},
      {"entry of a later term than the message", [](PeerHeader&, auto& m) { m[0].message.term = Term(3); }, nullptr,
       "bad count or term"},
      {"flipped payload byte", nullptr, [](Wire& w) { w.payload[w.payload.size() - 3] ^= std::byte{1}; }, "checksum"},
      {"payload shorter than the entries", nullptr, [](Wire& w) { w.payload.resize(w.payload.size() - 1); },
       "run past the payload"},
      {"payload with extra bytes", nullptr, [](Wire& w) { w.payload.push_back(std::byte{0}); },
       "bytes no entry claims"},
  };
  for (const auto& c : cases) {
    PeerHeader header = Header();
    auto messages = SampleMessages();
    if (c.edit_messages) c.edit_messages(header, messages);
    Wire w = Encode(header, messages);
    if (c.edit_wire) c.edit_wire(w);
    auto decoded = Decode(w);
    ASSERT_FALSE(decoded) << c.name;
    EXPECT_NE(decoded.error().message().find(c.expect), std::string::npos)
        << c.name << ": " << decoded.error().message();
  }
}

TEST(PeerCodec, BatchHeaderMustAgreeWithItsEntry) {
  auto messages = SampleMessages();
  // The entry header claims offset 10, the batch says 11.
  auto bytes = Batch(3, Offset(11), Term(4));
  messages[0].message.entries[0].payload = raft::Payload(bytes, std::span<const std::byte>(*bytes));
  auto decoded = Decode(Encode(Header(), messages));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message().find("disagrees with its entry"), std::string::npos);
}

}  // namespace
}  // namespace telemq::cluster
