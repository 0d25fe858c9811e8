// Handlers of the consumer-group family: FindCoordinator and the group
// APIs, which the GroupCoordinator serves.
#include <utility>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

void BrokerState::HandleFindCoordinator(const fb::FindCoordinatorRequest*, const Request&, Reply& reply) {
  // A single broker coordinates every group until replication lands.
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(fb::CreateFindCoordinatorResponseDirect(b, ErrorCode::None, nullptr, config.node_id, advertised_host.c_str(),
                                                   advertised_port));
  reply(FinishResponse(b));
}

void BrokerState::HandleGroupHeartbeat(const fb::GroupHeartbeatRequest* req, const Request&, Reply& reply) {
  groups->Heartbeat(req, std::move(reply));
}

void BrokerState::HandleOffsetCommit(const fb::OffsetCommitRequest* req, const Request&, Reply& reply) {
  groups->OffsetCommit(req, std::move(reply));
}

void BrokerState::HandleOffsetFetch(const fb::OffsetFetchRequest* req, const Request&, Reply& reply) {
  groups->OffsetFetch(req, std::move(reply));
}

void BrokerState::HandleListGroups(const fb::ListGroupsRequest*, const Request&, Reply& reply) {
  groups->ListGroups(std::move(reply));
}

void BrokerState::HandleDescribeGroup(const fb::DescribeGroupRequest* req, const Request&, Reply& reply) {
  groups->DescribeGroup(req, std::move(reply));
}

void BrokerState::HandleDeleteGroup(const fb::DeleteGroupRequest* req, const Request&, Reply& reply) {
  groups->DeleteGroup(req, std::move(reply));
}

}  // namespace telemq::broker
