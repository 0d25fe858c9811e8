#include "telemetry/point.h"

#include <flatbuffers/flatbuffers.h>

#include <cmath>
#include <cstring>

#include "telemetry/point_generated.h"

namespace telemq::telemetry {
namespace {

using LabelVector = flatbuffers::Vector<flatbuffers::Offset<fb::Label>>;

// A point's value is a few hundred bytes; anything near the FlatBuffers 2 GiB
// ceiling (where its Verifier asserts) is rejected before it is looked at.
constexpr size_t kMaxPointBytes = 64 << 20;
// Size prefix, root offset, identifier.
constexpr size_t kMinPointBytes = 3 * sizeof(flatbuffers::uoffset_t);

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}

size_t StringBytes(const TelemetryPoint& p) {
  size_t n = p.gpu_uuid.size() + p.device.size() + p.model_name.size() + p.hostname.size() + p.metric_name.size();
  for (const auto& [k, v] : p.labels) n += k.size() + v.size();
  return n;
}

}  // namespace

struct PointEncoder::Impl {
  flatbuffers::FlatBufferBuilder builder{1024};
  std::vector<flatbuffers::Offset<fb::Label>> labels;  // reused between points
};

PointEncoder::PointEncoder() : impl_(std::make_unique<Impl>()) {}
PointEncoder::~PointEncoder() = default;

Result<std::string_view> PointEncoder::Encode(const TelemetryPoint& p) {
  // Checked first so the builder (which aborts near 2 GiB) never grows
  // beyond what a sane point needs.
  if (StringBytes(p) > kMaxPointStringBytes) {
    return Fail(Errc::kInvalidArgument, "telemetry point: strings exceed " + std::to_string(kMaxPointStringBytes) +
                                            " bytes (" + std::to_string(p.labels.size()) + " labels)");
  }
  auto& b = impl_->builder;
  b.Clear();  // keeps the buffer's memory
  using StringRef = flatbuffers::Offset<flatbuffers::String>;
  const StringRef uuid = b.CreateString(p.gpu_uuid);
  const StringRef device = b.CreateString(p.device);
  const StringRef model = b.CreateString(p.model_name);
  const StringRef host = b.CreateString(p.hostname);
  const StringRef metric = b.CreateString(p.metric_name);
  // DCGM labels repeat the fields (UUID, Hostname, __name__, device,
  // modelName): such a value points at the field's string instead of a copy
  // (FlatBuffers strings may be shared). A third of the bytes of a typical
  // point, and of the work to compress, store and read them.
  const std::pair<std::string_view, StringRef> fields[] = {
      {p.gpu_uuid, uuid}, {p.hostname, host}, {p.metric_name, metric}, {p.device, device}, {p.model_name, model}};
  auto& labels = impl_->labels;
  labels.clear();
  for (const auto& [k, v] : p.labels) {
    const StringRef key = b.CreateString(k);
    StringRef value;
    for (const auto& [text, ref] : fields) {
      if (!v.empty() && v == text) {
        value = ref;
        break;
      }
    }
    if (value.IsNull()) value = b.CreateString(v);
    labels.push_back(fb::CreateLabel(b, key, value));
  }
  const auto label_vector = b.CreateVector(labels);
  const auto root =
      fb::CreateTelemetryPoint(b, uuid, p.gpu_id, device, model, host, metric, p.value, p.timestamp_us, label_vector);
  fb::FinishSizePrefixedTelemetryPointBuffer(b, root);
  return std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<std::string> EncodePoint(const TelemetryPoint& point) {
  thread_local PointEncoder encoder;
  TELEMQ_ASSIGN_OR_RETURN(std::string_view bytes, encoder.Encode(point));
  return std::string(bytes);
}

Result<PointView> DecodePointView(std::string_view bytes) {
  if (bytes.size() < kMinPointBytes) return Fail(Errc::kCorrupt, "telemetry point: truncated");
  if (bytes.size() > kMaxPointBytes) return Fail(Errc::kCorrupt, "telemetry point: value too large");
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  // The identifier is checked by hand first so a newer version is told
  // apart from garbage.
  std::string_view id(bytes.data() + 2 * sizeof(flatbuffers::uoffset_t), 4);
  if (id != kPointFileIdentifier) {
    if (id.substr(0, 3) == kPointFileIdentifier.substr(0, 3)) {
      return Fail(Errc::kUnsupportedVersion, "telemetry point: encoding " + std::string(id));
    }
    return Fail(Errc::kCorrupt, "telemetry point: not a telemetry point (identifier)");
  }
  if (flatbuffers::ReadScalar<flatbuffers::uoffset_t>(data) != bytes.size() - sizeof(flatbuffers::uoffset_t)) {
    return Fail(Errc::kCorrupt, "telemetry point: size prefix does not match the value (truncated or trailing bytes)");
  }
  // Bounds every table count by what the bytes could hold, so a hostile
  // value cannot make verification slow.
  flatbuffers::Verifier verifier(data, bytes.size(), /*max_depth=*/8,
                                 /*max_tables=*/static_cast<flatbuffers::uoffset_t>(bytes.size() / 4 + 1));
  if (!fb::VerifySizePrefixedTelemetryPointBuffer(verifier)) {
    return Fail(Errc::kCorrupt, "telemetry point: fails verification");
  }
  const fb::TelemetryPoint* root = fb::GetSizePrefixedTelemetryPoint(data);
  PointView v;
  v.value = root->value();
  if (!std::isfinite(v.value)) return Fail(Errc::kCorrupt, "telemetry point: non-finite value");
  v.gpu_uuid = View(root->gpu_uuid());
  v.gpu_id = root->gpu_id();
  v.device = View(root->device());
  v.model_name = View(root->model_name());
  v.hostname = View(root->hostname());
  v.metric_name = View(root->metric_name());
  v.timestamp_us = root->timestamp_us();
  v.labels_ = root->labels();
  return v;
}

size_t PointView::label_count() const {
  return labels_ == nullptr ? 0 : static_cast<const LabelVector*>(labels_)->size();
}

std::pair<std::string_view, std::string_view> PointView::label(size_t i) const {
  const fb::Label* l = static_cast<const LabelVector*>(labels_)->Get(static_cast<flatbuffers::uoffset_t>(i));
  return {View(l->key()), View(l->value())};
}

TelemetryPoint PointView::ToPoint() const {
  TelemetryPoint p;
  p.gpu_uuid = gpu_uuid;
  p.gpu_id = gpu_id;
  p.device = device;
  p.model_name = model_name;
  p.hostname = hostname;
  p.metric_name = metric_name;
  p.value = value;
  p.timestamp_us = timestamp_us;
  const size_t n = label_count();
  p.labels.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto [k, val] = label(i);
    p.labels.emplace_back(k, val);
  }
  return p;
}

Result<TelemetryPoint> DecodePoint(std::string_view bytes) {
  TELEMQ_ASSIGN_OR_RETURN(PointView view, DecodePointView(bytes));
  return view.ToPoint();
}

}  // namespace telemq::telemetry
