// Handlers of the cluster-metadata family: ApiVersions, Metadata. Any
// broker answers from the metadata image it applied, its own replicas'
// view of their leaders, and other brokers' leadership claims.
#include <string>
#include <vector>

#include "broker/server/broker_state.h"
#include "telemq/wire/protocol.h"

namespace telemq::broker {

using fb::ErrorCode;

void BrokerState::HandleApiVersions(const fb::ApiVersionsRequest*, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::ApiVersionRange>> apis;
  for (uint16_t k = 0; k < wire::kApiKeyCount; ++k) apis.push_back(fb::CreateApiVersionRange(b, k, 1, 1));
  const auto image = controller->image();
  b.Finish(fb::CreateApiVersionsResponseDirect(b, ErrorCode::None, &apis, config.node_id, image->cluster_id.c_str()));
  reply(FinishResponse(b));
}

void BrokerState::HandleMetadata(const fb::MetadataRequest* req, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(1024);
  const auto image = controller->image();
  std::vector<flatbuffers::Offset<fb::BrokerInfo>> brokers;
  for (const auto& [id, broker] : image->brokers) {
    const auto address = AddressOf(id);
    brokers.push_back(fb::CreateBrokerInfoDirect(b, id, address ? address->first.c_str() : broker.host.c_str(),
                                                 address ? address->second : broker.port, transport->IsLive(id)));
  }
  if (!image->brokers.count(config.node_id)) {
    // Not registered yet (a fresh cluster): clients may still reach us.
    brokers.push_back(fb::CreateBrokerInfoDirect(b, config.node_id, advertised_host.c_str(), advertised_port, true));
  }
  std::vector<flatbuffers::Offset<fb::TopicMetadata>> out;
  auto describe = [&](const Topic& t) {
    std::vector<flatbuffers::Offset<fb::PartitionMetadata>> parts;
    for (int32_t p = 0; p < t.spec.partitions; ++p) {
      const auto& set = t.replicas[static_cast<size_t>(p)];
      LeaderInfo leader = LeaderOf(t, p);
      std::vector<int32_t> isr;
      if (auto r = Find(t.name, p); r && r->topic_id() == t.id && r->leading()) {
        // The leader names a broker only while it serves: a client sent to
        // a replica that cannot answer yet would only be told "not leader".
        if (!r->serving()) leader = LeaderInfo{-1, leader.term};
        // Caught up at the last change, and still heard from.
        for (NodeId n : r->in_sync()) {
          if (transport->IsLive(BrokerOf(n))) isr.push_back(BrokerOf(n));
        }
      }
      parts.push_back(
          fb::CreatePartitionMetadataDirect(b, p, leader.broker >= 0 ? ErrorCode::None : ErrorCode::LeaderNotAvailable,
                                            leader.broker, leader.term, &set, isr.empty() ? nullptr : &isr));
    }
    auto cfg = fb::CreateTopicConfig(b, t.spec.retention_ms, t.spec.retention_bytes, t.spec.segment_bytes);
    out.push_back(fb::CreateTopicMetadataDirect(b, t.name.c_str(), ErrorCode::None, nullptr, &parts, cfg,
                                                IsInternal(t.name), t.id, t.spec.replication_factor));
  };
  if (req->topics() == nullptr || req->topics()->size() == 0) {
    for (const auto& [name, t] : image->topics) describe(t);
  } else {
    for (const auto* n : *req->topics()) {
      const auto* t = image->Find(n->str());
      if (t == nullptr) {
        out.push_back(fb::CreateTopicMetadataDirect(b, n->c_str(), ErrorCode::UnknownTopicOrPartition,
                                                    ("topic '" + n->str() + "' does not exist").c_str()));
      } else {
        describe(*t);
      }
    }
  }
  b.Finish(fb::CreateMetadataResponseDirect(b, &brokers, controller->leading() ? config.node_id : controller->leader(),
                                            &out, image->cluster_id.c_str(), controller->term()));
  reply(FinishResponse(b));
}

}  // namespace telemq::broker
