#include "broker/cluster/peer_codec.h"

#include "telemq/wire/batch_header.h"

namespace telemq::cluster {

namespace fb = wire::fb;

namespace {

constexpr uint8_t kLastMessageType = static_cast<uint8_t>(raft::MessageType::kTimeoutNow);

std::string Describe(size_t index, const fb::PeerMessage& m) {
  return "peer message " + std::to_string(index) + " (topic id " + std::to_string(m.topic_id()) + " partition " +
         std::to_string(m.partition()) + ")";
}

}  // namespace

EncodedPeerRequest EncodePeerRequest(const PeerHeader& header, const std::vector<PeerEnvelope>& messages) {
  flatbuffers::FlatBufferBuilder b(256 + messages.size() * sizeof(fb::PeerMessage));
  EncodedPeerRequest out;
  std::vector<fb::PeerMessage> headers;
  std::vector<fb::PeerEntry> entries;
  headers.reserve(messages.size());
  for (const auto& env : messages) {
    const raft::Message& m = env.message;
    headers.emplace_back(env.topic_id, env.partition, m.from.value(), m.to.value(), static_cast<uint8_t>(m.type),
                         m.reject, m.transfer, m.term.value(), m.offset.value(), m.log_term.value(), m.commit.value(),
                         m.reject_hint.value(), static_cast<uint32_t>(m.entries.size()));
    for (const auto& e : m.entries) {
      entries.emplace_back(e.term.value(), e.base_offset.value(), e.record_count, static_cast<uint8_t>(e.type),
                           static_cast<uint32_t>(e.payload.size()));
      if (!e.payload.empty()) {
        out.payload.push_back(e.payload.bytes());
        out.payload_bytes += e.payload.size();
      }
    }
  }
  flatbuffers::Offset<flatbuffers::Vector<const fb::PeerLeadership*>> leaderships = 0;
  if (header.leaderships) {
    std::vector<fb::PeerLeadership> l;
    l.reserve(header.leaderships->size());
    for (const auto& x : *header.leaderships) l.emplace_back(x.topic_id, x.partition, x.term);
    leaderships = b.CreateVectorOfStructs(l);
  }
  auto req = fb::CreatePeerRaftRequest(b, b.CreateString(header.cluster_id), header.from_broker, header.to_broker,
                                       b.CreateString(header.host), header.port, b.CreateVectorOfStructs(headers),
                                       b.CreateVectorOfStructs(entries), leaderships);
  b.Finish(req);
  out.body = b.Release();
  return out;
}

Result<DecodedPeerRequest> DecodePeerRequest(const fb::PeerRaftRequest& request, std::span<const std::byte> payload,
                                             std::shared_ptr<const void> frame, int32_t max_batch_bytes) {
  DecodedPeerRequest out;
  PeerHeader& h = out.header;
  h.cluster_id = request.cluster_id() ? request.cluster_id()->str() : std::string();
  h.from_broker = request.from_broker();
  h.to_broker = request.to_broker();
  h.host = request.host() ? request.host()->str() : std::string();
  h.port = request.port();
  if (h.from_broker < 0 || h.to_broker < 0 || h.from_broker == h.to_broker) {
    return Fail(Errc::kInvalidArgument,
                "peer request with broker ids " + std::to_string(h.from_broker) + " -> " + std::to_string(h.to_broker));
  }
  if (request.leaderships()) {
    h.leaderships.emplace();
    h.leaderships->reserve(request.leaderships()->size());
    for (const auto* l : *request.leaderships()) {
      if (l->partition() < 0 || l->term() < 1)
        return Fail(Errc::kInvalidArgument, "peer leadership claim out of range");
      h.leaderships->push_back({l->topic_id(), l->partition(), l->term()});
    }
  }
  const auto* messages = request.messages();
  const auto* entries = request.entries();
  const size_t message_count = messages ? messages->size() : 0;
  const size_t entry_count = entries ? entries->size() : 0;
  const NodeId from = RaftNodeOf(h.from_broker);
  const NodeId to = RaftNodeOf(h.to_broker);
  size_t next_entry = 0;
  size_t pos = 0;
  out.messages.reserve(message_count);
  for (size_t i = 0; i < message_count; ++i) {
    const fb::PeerMessage& pm = *messages->Get(static_cast<flatbuffers::uoffset_t>(i));
    if (pm.partition() < 0) return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": negative partition");
    if (pm.type() > kLastMessageType) {
      return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": unknown type " + std::to_string(pm.type()));
    }
    if (NodeId(pm.from()) != from || NodeId(pm.to()) != to) {
      return Fail(Errc::kInvalidArgument,
                  Describe(i, pm) + ": node ids do not match the sending and receiving brokers");
    }
    PeerEnvelope env;
    env.topic_id = pm.topic_id();
    env.partition = pm.partition();
    raft::Message& m = env.message;
    m.type = static_cast<raft::MessageType>(pm.type());
    m.from = from;
    m.to = to;
    m.term = Term(pm.term());
    m.offset = Offset(pm.offset());
    m.log_term = Term(pm.log_term());
    m.commit = Offset(pm.commit());
    m.reject_hint = Offset(pm.reject_hint());
    m.reject = pm.reject();
    m.transfer = pm.transfer();
    if (pm.entry_count() > entry_count - next_entry) {
      return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": claims more entries than the request holds");
    }
    if (pm.entry_count() > 0 && m.type != raft::MessageType::kAppend) {
      return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": entries on a message that carries none");
    }
    Offset expect = m.offset + 1;
    m.entries.reserve(pm.entry_count());
    for (uint32_t k = 0; k < pm.entry_count(); ++k, ++next_entry) {
      const fb::PeerEntry& pe = *entries->Get(static_cast<flatbuffers::uoffset_t>(next_entry));
      raft::Entry e;
      e.term = Term(pe.term());
      e.base_offset = Offset(pe.base_offset());
      e.record_count = pe.record_count();
      if (e.base_offset != expect || e.record_count < 1 || e.term.value() < 1 || e.term > m.term) {
        return Fail(Errc::kInvalidArgument,
                    Describe(i, pm) + ": entry " + std::to_string(k) + " is not contiguous or has a bad count or term");
      }
      if (pe.bytes() > payload.size() - pos) {
        return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": entry bytes run past the payload");
      }
      auto bytes = payload.subspan(pos, pe.bytes());
      pos += pe.bytes();
      if (pe.type() == static_cast<uint8_t>(raft::EntryType::kNoop)) {
        e.type = raft::EntryType::kNoop;
        if (e.record_count != 1 || !bytes.empty()) {
          return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": a no-op entry with records or bytes");
        }
      } else if (pe.type() == static_cast<uint8_t>(raft::EntryType::kNormal)) {
        e.type = raft::EntryType::kNormal;
        auto batch = wire::ValidateBatch(bytes, max_batch_bytes);
        if (!batch) return Fail(Errc::kCorrupt, Describe(i, pm) + ": " + batch.error().message());
        if (static_cast<size_t>(batch->batch_length) != bytes.size() || batch->base_offset != e.base_offset ||
            batch->record_count != e.record_count || batch->leader_term != e.term || batch->is_control()) {
          return Fail(Errc::kCorrupt, Describe(i, pm) + ": batch header disagrees with its entry");
        }
        e.payload = raft::Payload(frame, bytes);
      } else {
        return Fail(Errc::kInvalidArgument, Describe(i, pm) + ": unknown entry type " + std::to_string(pe.type()));
      }
      expect = e.base_offset + e.record_count;
      m.entries.push_back(std::move(e));
    }
    out.messages.push_back(std::move(env));
  }
  if (next_entry != entry_count) return Fail(Errc::kInvalidArgument, "peer request has entries no message claims");
  if (pos != payload.size()) return Fail(Errc::kInvalidArgument, "peer request payload has bytes no entry claims");
  return out;
}

}  // namespace telemq::cluster
