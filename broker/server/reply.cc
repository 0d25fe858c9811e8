#include "broker/server/reply.h"

#include "telemq/wire/protocol.h"

namespace telemq::broker {

Response FinishResponse(flatbuffers::FlatBufferBuilder& b) {
  Response r;
  r.body = b.Release();
  return r;
}

Response MakeErrorResponse(Errc code, const std::string& message, bool close_after) {
  flatbuffers::FlatBufferBuilder b(128);
  b.Finish(wire::fb::CreateErrorResponseDirect(b, wire::ToWireError(code), message.c_str()));
  Response r = FinishResponse(b);
  r.close_after = close_after;
  r.error_response = true;
  return r;
}

}  // namespace telemq::broker
