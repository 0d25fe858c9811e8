// Handlers of the cluster-metadata family: ApiVersions, Metadata.
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
  b.Finish(
      fb::CreateApiVersionsResponseDirect(b, ErrorCode::None, &apis, config.node_id, registry->cluster_id().c_str()));
  reply(FinishResponse(b));
}

void BrokerState::HandleMetadata(const fb::MetadataRequest* req, const Request&, Reply& reply) {
  flatbuffers::FlatBufferBuilder b(1024);
  std::vector<flatbuffers::Offset<fb::BrokerInfo>> brokers{
      fb::CreateBrokerInfoDirect(b, config.node_id, advertised_host.c_str(), advertised_port)};
  std::vector<flatbuffers::Offset<fb::TopicMetadata>> out;
  auto describe = [&](const std::string& name, const Topic& t) {
    std::vector<flatbuffers::Offset<fb::PartitionMetadata>> parts;
    std::vector<int32_t> replica_ids{config.node_id};
    for (int32_t p = 0; p < t.spec.partitions; ++p) {
      auto replica = Find(name, p);
      // The leader is named only while it serves: a client sent to a replica
      // that cannot answer yet would only be told "not leader".
      const bool serving = replica && replica->serving();
      parts.push_back(fb::CreatePartitionMetadataDirect(b, p, serving ? ErrorCode::None : ErrorCode::NotLeader,
                                                        serving ? BrokerOf(replica->leader()) : -1,
                                                        replica ? replica->term().value() : 0, &replica_ids));
    }
    auto cfg = fb::CreateTopicConfig(b, t.spec.retention_ms, t.spec.retention_bytes, t.spec.segment_bytes);
    out.push_back(
        fb::CreateTopicMetadataDirect(b, name.c_str(), ErrorCode::None, nullptr, &parts, cfg, IsInternal(name)));
  };
  {
    std::shared_lock lock(topics_mu);
    if (req->topics() == nullptr || req->topics()->size() == 0) {
      for (const auto& [name, t] : topics) describe(name, t);
    } else {
      for (const auto* n : *req->topics()) {
        auto it = topics.find(n->str());
        if (it == topics.end()) {
          out.push_back(fb::CreateTopicMetadataDirect(b, n->c_str(), ErrorCode::UnknownTopicOrPartition,
                                                      ("topic '" + n->str() + "' does not exist").c_str()));
        } else {
          describe(it->first, it->second);
        }
      }
    }
  }
  b.Finish(fb::CreateMetadataResponseDirect(b, &brokers, config.node_id, &out, registry->cluster_id().c_str()));
  reply(FinishResponse(b));
}

}  // namespace telemq::broker
