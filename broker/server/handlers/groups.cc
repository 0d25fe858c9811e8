// Handlers of the consumer-group family: FindCoordinator and the group
// APIs, which the GroupCoordinator serves. The coordinator of a group is the
// leader of its shard, a partition of __consumer_offsets.
#include <utility>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

namespace {

template <typename Create>
void NotAvailable(Reply& reply, const std::string& message, Create create) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(create(b, ErrorCode::CoordinatorNotAvailable, message.c_str()));
  reply(FinishResponse(b));
}

const std::string kNoCoordinator = "the group coordinator is not available yet (no __consumer_offsets)";

}  // namespace

void BrokerState::HandleFindCoordinator(const fb::FindCoordinatorRequest* req, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(128);
  auto g = Groups();
  auto answer = [&](ErrorCode code, const std::string& message, int32_t node, const std::string& host, uint16_t port) {
    b.Finish(fb::CreateFindCoordinatorResponseDirect(b, code, message.empty() ? nullptr : message.c_str(), node,
                                                     host.c_str(), port));
    reply(FinishResponse(b));
  };
  if (!g) return answer(ErrorCode::CoordinatorNotAvailable, kNoCoordinator, -1, "", 0);
  const std::string group = wire::Str(req->group_id());
  const int32_t shard = g->ShardOf(group);
  auto leader = KnownLeader(std::string(kOffsetsTopic), shard);
  if (leader && leader->broker == config.node_id) {
    auto r = Find(kOffsetsTopic, shard);
    if (!r || !r->serving()) leader.reset();
  }
  auto address = leader ? AddressOf(leader->broker) : std::nullopt;
  if (!leader || !address) {
    return answer(ErrorCode::CoordinatorNotAvailable,
                  "shard " + std::to_string(shard) + " of __consumer_offsets has no leader right now", -1, "", 0);
  }
  answer(ErrorCode::None, "", leader->broker, address->first, address->second);
}

void BrokerState::HandleGroupHeartbeat(const fb::GroupHeartbeatRequest* req, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateGroupHeartbeatResponseDirect(b, e, m); });
  g->Heartbeat(req, std::move(reply));
}

void BrokerState::HandleOffsetCommit(const fb::OffsetCommitRequest* req, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateOffsetCommitResponseDirect(b, e, m); });
  g->OffsetCommit(req, std::move(reply));
}

void BrokerState::HandleOffsetFetch(const fb::OffsetFetchRequest* req, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateOffsetFetchResponseDirect(b, e, m); });
  g->OffsetFetch(req, std::move(reply));
}

void BrokerState::HandleListGroups(const fb::ListGroupsRequest*, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateListGroupsResponseDirect(b, e, m); });
  g->ListGroups(std::move(reply));
}

void BrokerState::HandleDescribeGroup(const fb::DescribeGroupRequest* req, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateDescribeGroupResponseDirect(b, e, m); });
  g->DescribeGroup(req, std::move(reply));
}

void BrokerState::HandleDeleteGroup(const fb::DeleteGroupRequest* req, const Request&, Reply& reply) {
  auto g = Groups();
  if (!g)
    return NotAvailable(reply, kNoCoordinator,
                        [](auto& b, auto e, auto m) { return fb::CreateDeleteGroupResponseDirect(b, e, m); });
  g->DeleteGroup(req, std::move(reply));
}

}  // namespace telemq::broker
