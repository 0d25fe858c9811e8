// Handler of the peer family: PeerRaft, the batched Raft messages another
// broker's PeerTransport sends (docs/replication.md §8). Every message is
// validated (cluster::DecodePeerRequest) before any replica sees it; each
// replica then gets its messages, in order, in one task on its strand.

#include <map>
#include <utility>

#include "broker/server/broker_state.h"
#include "telemq/common/log.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

namespace {

Response PeerAnswer(ErrorCode code, const std::string& message) {
  flatbuffers::FlatBufferBuilder b(64 + message.size());
  b.Finish(fb::CreatePeerRaftResponseDirect(b, code, message.empty() ? nullptr : message.c_str()));
  return FinishResponse(b);
}

}  // namespace

void BrokerState::HandlePeerRaft(const fb::PeerRaftRequest* req, const Request& request, Reply& reply) {
  auto decoded = cluster::DecodePeerRequest(*req, request.payload, request.frame, config.max_batch_bytes);
  if (!decoded) {
    log::Warn("refused a peer frame", {{"error", decoded.error().ToString()}});
    return reply(PeerAnswer(wire::ToWireError(decoded.error().code()), decoded.error().message()));
  }
  const auto& h = decoded->header;
  if (h.to_broker != config.node_id) {
    return reply(PeerAnswer(ErrorCode::BrokerIdMismatch, "this is broker " + std::to_string(config.node_id) +
                                                             ", not broker " + std::to_string(h.to_broker)));
  }
  const std::string ours = controller->image()->cluster_id;  // a copy: the image may be swapped meanwhile
  if (!ours.empty() && !h.cluster_id.empty() && ours != h.cluster_id) {
    log::Warn("refused frames of a broker from another cluster",
              {{"peer", h.from_broker}, {"peer_cluster", h.cluster_id}, {"cluster", ours}});
    return reply(PeerAnswer(
        ErrorCode::InconsistentClusterId,
        "broker " + std::to_string(config.node_id) + " belongs to cluster " + ours + ", not " + h.cluster_id));
  }
  if (!h.host.empty() && h.port != 0) {
    transport->Learn(h.from_broker, h.host, h.port);
    controller->Heard(h.from_broker, h.host, h.port);
  }
  if (h.leaderships) remote_leaders.Update(h.from_broker, *h.leaderships);
  // Each replica's messages, in arrival order, in one task.
  std::map<replication::Replica*, std::pair<std::shared_ptr<replication::Replica>, std::vector<raft::Message>>> routed;
  size_t unknown = 0;
  for (auto& env : decoded->messages) {
    auto replica = replicas->GetById(env.topic_id, PartitionId(env.partition));
    if (!replica) {
      // Not created here yet (metadata still on its way) or already
      // deleted: Raft resends what matters.
      ++unknown;
      continue;
    }
    auto& slot = routed[replica.get()];
    if (!slot.first) slot.first = std::move(replica);
    slot.second.push_back(std::move(env.message));
  }
  if (unknown > 0) {
    log::Debug("peer sent messages for partitions not hosted here",
               {{"peer", h.from_broker}, {"message_count", unknown}});
  }
  for (auto& [_, slot] : routed) {
    auto replica = std::move(slot.first);
    replica->executor().Post([replica, messages = std::move(slot.second)] {
      for (const auto& m : messages) replica->Step(m);
    });
  }
  reply(PeerAnswer(ErrorCode::None, ""));
}

}  // namespace telemq::broker
