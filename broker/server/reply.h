#pragma once
// What a request handler sends back: a FlatBuffers body plus, for fetches,
// raw record-batch bytes that travel after it. The network front end
// (server.cc) frames and writes it; handlers and the group coordinator only
// build it, so they depend on this header and not on the broker.
//
// A Reply is called exactly once, on any thread.

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "telemq/common/result.h"

namespace telemq::broker {

struct Response {
  flatbuffers::DetachedBuffer body;
  std::vector<std::byte> payload;  // raw record batches after the body
  bool close_after = false;        // protocol violation: close once sent
  bool error_response = false;     // the body is an ErrorResponse (MakeErrorResponse), not the API's answer
};
using Reply = std::function<void(Response)>;

// A response whose body is the message just finished in `b` (no payload).
Response FinishResponse(flatbuffers::FlatBufferBuilder& b);

// Builds the body of an ErrorResponse (frame-level failures).
Response MakeErrorResponse(Errc code, const std::string& message, bool close_after);

}  // namespace telemq::broker
