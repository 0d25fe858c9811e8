#include "telemetry_point.h"

#include <cmath>

#include "point_generated.h"

namespace example {

namespace fb = telemq::telemetry::fb;

std::string EncodePoint(const Point& p) {
  flatbuffers::FlatBufferBuilder b(256);
  const auto root =
      fb::CreateTelemetryPointDirect(b, p.gpu_uuid.c_str(), p.gpu_id, p.device.c_str(), p.model_name.c_str(),
                                     p.hostname.c_str(), p.metric_name.c_str(), p.value, p.timestamp_us);
  fb::FinishSizePrefixedTelemetryPointBuffer(b, root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

std::optional<Point> DecodePoint(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  // The size prefix must cover exactly the rest of the value.
  if (bytes.size() < sizeof(flatbuffers::uoffset_t) ||
      flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data) != bytes.size() - sizeof(flatbuffers::uoffset_t)) {
    return std::nullopt;
  }
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifySizePrefixedTelemetryPointBuffer(verifier)) return std::nullopt;
  const fb::TelemetryPoint* root = fb::GetSizePrefixedTelemetryPoint(data);
  auto str = [](const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); };
  Point p{.gpu_uuid = str(root->gpu_uuid()),
          .gpu_id = root->gpu_id(),
          .device = str(root->device()),
          .model_name = str(root->model_name()),
          .hostname = str(root->hostname()),
          .metric_name = str(root->metric_name()),
          .value = root->value(),
          .timestamp_us = root->timestamp_us()};
  if (!std::isfinite(p.value)) return std::nullopt;
  return p;
}

}  // namespace example
