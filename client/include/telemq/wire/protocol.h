#pragma once
// Message-level helpers shared by broker and client: verified access to
// FlatBuffer bodies, the one mapping between internal errors and wire error
// codes, and which wire errors a client retries. Thread-safe (pure).

#include <flatbuffers/flatbuffers.h>

#include <span>
#include <string>

#include "telemq/common/result.h"
#include "telemq/wire/protocol_generated.h"

namespace telemq::wire {

// Limits for the FlatBuffers verifier: nesting depth and table count bound
// the work a hostile body can cause.
inline constexpr flatbuffers::uoffset_t kMaxVerifyDepth = 16;
inline constexpr flatbuffers::uoffset_t kMaxVerifyTables = 1'000'000;

// Runs the FlatBuffers Verifier over `body` as a T; only then is it safe to
// read any field. Returns kCorrupt for anything unverifiable.
template <typename T>
[[nodiscard]] Result<const T*> VerifyBody(std::span<const std::byte> body) {
  if (body.empty()) return Fail(Errc::kCorrupt, "empty message body");
  const auto* data = reinterpret_cast<const uint8_t*>(body.data());
  flatbuffers::Verifier verifier(data, body.size(), kMaxVerifyDepth, kMaxVerifyTables);
  if (!verifier.VerifyBuffer<T>(nullptr)) return Fail(Errc::kCorrupt, "message body failed verification");
  return flatbuffers::GetRoot<T>(data);
}

// How many of a producer's most recent batches a partition remembers for
// duplicate detection (docs/protocol.md, "Idempotence"). A producer keeps at
// most this many batches of one partition unacknowledged, so that every
// batch it resends after a leader change or a lost connection is either the
// next in sequence or one the leader can still locate.
inline constexpr int kRememberedProducerBatches = 8;

// The exhaustive internal → wire mapping (one switch, docs/protocol.md).
fb::ErrorCode ToWireError(Errc code);
Errc FromWireError(fb::ErrorCode code);
// Errors a client may retry after a backoff (possibly after refreshing metadata).
bool IsRetriable(fb::ErrorCode code);

// Reads a FlatBuffers string that may be absent.
inline std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

}  // namespace telemq::wire
