#pragma once
// The peer protocol's message codec (api kPeerRaft, protocol.fbs; docs/
// replication.md §8): the Raft messages of many partitions from one broker
// to another in one frame. Fixed-size message and entry headers sit in the
// FlatBuffer body; entry batch bytes follow as the frame's payload and are
// never copied into the body (encode gathers them, decode hands out views
// into the received frame).
//
// Decode validates everything a replica would otherwise trust: node ids
// against the frame's broker ids, message types, entry counts and byte
// totals against the payload, offsets contiguous from the append's previous
// position, and each normal entry's batch (wire::ValidateBatch: bounds,
// magic, checksum) against the entry header's offset, term and count.
//
// Promises: pure functions; thread-safe.

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/raft/types.h"
#include "telemq/common/result.h"
#include "telemq/wire/protocol_generated.h"

namespace telemq::cluster {

// Raft node ids are broker ids + 1 (0 means "no node").
inline NodeId RaftNodeOf(int32_t broker_id) { return NodeId(broker_id + 1); }
inline int32_t BrokerOf(NodeId node) { return node.value() - 1; }

// A partition the sender leads.
struct Leadership {
  uint64_t topic_id = 0;
  int32_t partition = 0;
  int64_t term = 0;
  bool operator==(const Leadership&) const = default;
};

struct PeerHeader {
  std::string cluster_id;  // empty until the sender's metadata names the cluster
  int32_t from_broker = -1;
  int32_t to_broker = -1;
  std::string host;  // the sender's advertised address
  uint16_t port = 0;
  std::optional<std::vector<Leadership>> leaderships;  // the complete list, when sent
};

struct PeerEnvelope {
  uint64_t topic_id = 0;
  int32_t partition = 0;
  raft::Message message;
};

struct EncodedPeerRequest {
  flatbuffers::DetachedBuffer body;
  // Views of the entries' payloads, in order: valid while the envelopes are.
  std::vector<std::span<const std::byte>> payload;
  size_t payload_bytes = 0;
};
EncodedPeerRequest EncodePeerRequest(const PeerHeader& header, const std::vector<PeerEnvelope>& messages);

struct DecodedPeerRequest {
  PeerHeader header;
  std::vector<PeerEnvelope> messages;
};
// `payload` is the frame's trailing bytes; `frame` keeps them alive (entry
// payloads are views into it). kCorrupt or kInvalidArgument naming the first
// problem found; nothing of an invalid request is returned.
[[nodiscard]] Result<DecodedPeerRequest> DecodePeerRequest(const wire::fb::PeerRaftRequest& request,
                                                           std::span<const std::byte> payload,
                                                           std::shared_ptr<const void> frame, int32_t max_batch_bytes);

}  // namespace telemq::cluster
