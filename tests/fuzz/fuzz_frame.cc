// Fuzz target for framing and message bodies, in both directions. It reads a
// byte stream the way the broker's connection loop does (header, limits,
// body, payload; stop at the first bad header because the stream cannot be
// resynchronised) and then reads each body the way the broker and the client
// do: verify first, then touch every field. Each body is tried as every
// message type, since a hostile peer picks the api key as freely as the bytes.

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_targets.h"
#include "telemq/common/check.h"
#include "telemq/wire/batch_format.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/frame.h"
#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"

namespace telemq::fuzz {
namespace {

namespace fb = wire::fb;

// Small enough that one input stays fast, large enough for every seed.
constexpr uint32_t kMaxFrameBytes = 1u << 20;
constexpr int32_t kMaxBatchBytes = 1 << 20;

// Folds everything the walkers read, so no read can be optimised away and
// each one goes through ASan.
class Sink {
 public:
  void Add(uint64_t v) { h_ = (h_ ^ v) * 1099511628211ull; }
  void Add(std::string_view s) {
    for (char c : s) Add(static_cast<uint8_t>(c));
  }
  void Add(const flatbuffers::String* s) { Add(wire::Str(s)); }
  void Add(std::span<const std::byte> bytes) {
    for (std::byte b : bytes) Add(static_cast<uint8_t>(b));
  }
  void AddError(fb::ErrorCode code) {
    Add(static_cast<uint64_t>(code));
    Add(static_cast<uint64_t>(wire::FromWireError(code)));
    Add(wire::IsRetriable(code) ? 1u : 0u);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 14695981039346656037ull;
};

template <typename T, typename F>
void ForEach(const flatbuffers::Vector<flatbuffers::Offset<T>>* v, F&& f) {
  if (v == nullptr) return;
  for (const T* e : *v) f(e);
}

void AddStrings(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v, Sink& s) {
  ForEach(v, [&](const flatbuffers::String* str) { s.Add(str); });
}

void AddConfig(const fb::TopicConfig* c, Sink& s) {
  if (c == nullptr) return;
  s.Add(c->retention_ms());
  s.Add(c->retention_bytes());
  s.Add(c->segment_bytes());
}

// Produce payload handling as in the broker: the declared sizes must add up
// to the payload exactly before anything is sliced, then each slice is
// walked batch by batch (headers and checksums only, never records).
void WalkProduce(const fb::ProduceRequest* req, std::span<const std::byte> payload, Sink& s) {
  s.Add(static_cast<uint64_t>(req->acks()));
  s.Add(req->timeout_ms());
  uint64_t declared = 0;
  ForEach(req->topics(), [&](const fb::ProduceTopic* t) {
    ForEach(t->partitions(), [&](const fb::ProducePartition* p) { declared += p->records_bytes(); });
  });
  if (declared != payload.size()) return;  // answered with CorruptMessage, nothing applied
  size_t pos = 0;
  ForEach(req->topics(), [&](const fb::ProduceTopic* t) {
    s.Add(t->name());
    ForEach(t->partitions(), [&](const fb::ProducePartition* p) {
      s.Add(p->partition());
      auto records = payload.subspan(pos, p->records_bytes());
      pos += p->records_bytes();
      wire::BatchIterator it(records, kMaxBatchBytes);
      while (!it.Done()) {
        wire::BatchHeader h;
        auto batch = it.Next(&h);
        if (!batch) break;
        TELEMQ_CHECK(batch->data() >= records.data() && batch->size() <= records.size() &&
                         static_cast<size_t>(h.batch_length) == batch->size(),
                     "iterator returned a batch outside its slice");
        // What the idempotence check and the append read.
        s.Add(h.producer_id.value());
        s.Add(static_cast<uint64_t>(h.producer_epoch));
        s.Add(static_cast<uint64_t>(h.base_sequence));
        s.Add(static_cast<uint64_t>(h.last_sequence()));
        s.Add(h.next_offset().value());
        s.Add(h.max_timestamp_ms);
      }
    });
  });
  TELEMQ_CHECK(pos == payload.size(), "produce slices do not cover the payload");
}

void WalkRequest(std::span<const std::byte> body, std::span<const std::byte> payload, Sink& s) {
  if (auto r = wire::VerifyBody<fb::ApiVersionsRequest>(body)) {
    s.Add((*r)->client_id());
    s.Add((*r)->client_software());
  }
  if (auto r = wire::VerifyBody<fb::MetadataRequest>(body)) AddStrings((*r)->topics(), s);
  if (auto r = wire::VerifyBody<fb::CreateTopicsRequest>(body)) {
    s.Add((*r)->validate_only() ? 1u : 0u);
    ForEach((*r)->topics(), [&](const fb::CreateTopic* t) {
      s.Add(t->name());
      s.Add(static_cast<uint64_t>(t->partitions()));
      s.Add(static_cast<uint64_t>(t->replication_factor()));
      AddConfig(t->config(), s);
    });
  }
  if (auto r = wire::VerifyBody<fb::DeleteTopicsRequest>(body)) AddStrings((*r)->names(), s);
  if (auto r = wire::VerifyBody<fb::ProduceRequest>(body)) WalkProduce(*r, payload, s);
  if (auto r = wire::VerifyBody<fb::FetchRequest>(body)) {
    s.Add(static_cast<uint64_t>((*r)->max_wait_ms()));
    s.Add(static_cast<uint64_t>((*r)->min_bytes()));
    s.Add(static_cast<uint64_t>((*r)->max_bytes()));
    ForEach((*r)->topics(), [&](const fb::FetchTopic* t) {
      s.Add(t->name());
      ForEach(t->partitions(), [&](const fb::FetchPartition* p) {
        s.Add(static_cast<uint64_t>(p->partition()));
        s.Add(p->fetch_offset());
        s.Add(static_cast<uint64_t>(p->max_bytes()));
      });
    });
  }
  if (auto r = wire::VerifyBody<fb::ListOffsetsRequest>(body)) {
    ForEach((*r)->topics(), [&](const fb::ListOffsetsTopic* t) {
      s.Add(t->name());
      ForEach(t->partitions(), [&](const fb::ListOffsetsPartition* p) {
        s.Add(static_cast<uint64_t>(p->partition()));
        s.Add(p->timestamp());
      });
    });
  }
  if (auto r = wire::VerifyBody<fb::InitProducerIdRequest>(body)) s.Add(1);
}

// Fetch payload handling as in the consumer: slices in partition order,
// a short payload voids the answer, and every batch is validated, then
// decompressed and decoded record by record.
void WalkFetch(const fb::FetchResponse* resp, std::span<const std::byte> payload, Sink& s) {
  s.Add(static_cast<uint64_t>(resp->throttle_ms()));
  if (resp->topics() == nullptr) return;
  size_t pos = 0;
  wire::RecordView scratch;
  for (const fb::FetchTopicResult* t : *resp->topics()) {
    s.Add(t->name());
    if (t->partitions() == nullptr) continue;
    for (const fb::FetchPartitionResult* p : *t->partitions()) {
      s.Add(static_cast<uint64_t>(p->partition()));
      s.AddError(p->error());
      s.Add(p->message());
      s.Add(p->high_watermark());
      s.Add(p->log_start_offset());
      const size_t n = p->records_bytes();
      if (n > payload.size() - pos) return;
      auto records = payload.subspan(pos, n);
      pos += n;
      wire::BatchIterator it(records);
      while (!it.Done()) {
        wire::BatchHeader h;
        auto batch = it.Next(&h);
        if (!batch) break;
        s.Add(h.next_offset().value());
        std::span<const std::byte> section = batch->subspan(wire::batch::kHeaderSize);
        std::vector<std::byte> owned;
        if (h.codec() != wire::Codec::kNone) {
          if (!wire::Decompress(h.codec(), section, wire::batch::kMaxBatchBytes, &owned)) break;
          section = owned;
        }
        int32_t seen = 0;
        auto decoded = wire::DecodeRecordSection(section, h, &scratch, [&](const wire::RecordView& r) {
          ++seen;
          s.Add(r.offset.value());
          s.Add(r.timestamp_ms);
          if (r.key) s.Add(*r.key);
          if (r.value) s.Add(*r.value);
          for (const auto& hd : r.headers) {
            s.Add(hd.key);
            if (hd.value) s.Add(*hd.value);
          }
        });
        if (!decoded) break;
        // A control batch (a leader's no-op) hands consumers no record.
        TELEMQ_CHECK(seen == (h.is_control() ? 0 : h.record_count), "decoded record count differs from the header");
      }
    }
  }
}

void WalkTopicResults(const flatbuffers::Vector<flatbuffers::Offset<fb::TopicResult>>* v, Sink& s) {
  ForEach(v, [&](const fb::TopicResult* r) {
    s.Add(r->name());
    s.AddError(r->error());
    s.Add(r->message());
  });
}

void WalkResponse(std::span<const std::byte> body, std::span<const std::byte> payload, Sink& s) {
  if (auto r = wire::VerifyBody<fb::ErrorResponse>(body)) {
    s.AddError((*r)->error());
    s.Add((*r)->message());
  }
  if (auto r = wire::VerifyBody<fb::ApiVersionsResponse>(body)) {
    s.AddError((*r)->error());
    s.Add(static_cast<uint64_t>((*r)->broker_id()));
    s.Add((*r)->cluster_id());
    ForEach((*r)->apis(), [&](const fb::ApiVersionRange* a) {
      s.Add(a->api_key());
      s.Add(wire::ApiKeyName(static_cast<wire::ApiKey>(a->api_key())));
      s.Add(a->min_version());
      s.Add(a->max_version());
    });
  }
  if (auto r = wire::VerifyBody<fb::MetadataResponse>(body)) {
    s.Add(static_cast<uint64_t>((*r)->controller_id()));
    s.Add((*r)->cluster_id());
    ForEach((*r)->brokers(), [&](const fb::BrokerInfo* b) {
      s.Add(static_cast<uint64_t>(b->id()));
      s.Add(b->host());
      s.Add(b->port());
    });
    ForEach((*r)->topics(), [&](const fb::TopicMetadata* t) {
      s.Add(t->name());
      s.AddError(t->error());
      s.Add(t->message());
      s.Add(t->internal() ? 1u : 0u);
      AddConfig(t->config(), s);
      ForEach(t->partitions(), [&](const fb::PartitionMetadata* p) {
        s.Add(static_cast<uint64_t>(p->partition()));
        s.AddError(p->error());
        s.Add(static_cast<uint64_t>(p->leader()));
        s.Add(p->leader_term());
        if (p->replicas()) {
          for (int32_t id : *p->replicas()) s.Add(static_cast<uint64_t>(id));
        }
      });
    });
  }
  if (auto r = wire::VerifyBody<fb::CreateTopicsResponse>(body)) WalkTopicResults((*r)->results(), s);
  if (auto r = wire::VerifyBody<fb::DeleteTopicsResponse>(body)) WalkTopicResults((*r)->results(), s);
  if (auto r = wire::VerifyBody<fb::ProduceResponse>(body)) {
    s.Add(static_cast<uint64_t>((*r)->throttle_ms()));
    ForEach((*r)->topics(), [&](const fb::ProduceTopicResult* t) {
      s.Add(t->name());
      ForEach(t->partitions(), [&](const fb::ProducePartitionResult* p) {
        s.Add(static_cast<uint64_t>(p->partition()));
        s.AddError(p->error());
        s.Add(p->message());
        s.Add(p->base_offset());
        s.Add(p->log_start_offset());
      });
    });
  }
  if (auto r = wire::VerifyBody<fb::FetchResponse>(body)) WalkFetch(*r, payload, s);
  if (auto r = wire::VerifyBody<fb::ListOffsetsResponse>(body)) {
    ForEach((*r)->topics(), [&](const fb::ListOffsetsTopicResult* t) {
      s.Add(t->name());
      ForEach(t->partitions(), [&](const fb::ListOffsetsPartitionResult* p) {
        s.Add(static_cast<uint64_t>(p->partition()));
        s.AddError(p->error());
        s.Add(p->message());
        s.Add(p->offset());
      });
    });
  }
  if (auto r = wire::VerifyBody<fb::InitProducerIdResponse>(body)) {
    s.AddError((*r)->error());
    s.Add((*r)->message());
    s.Add((*r)->producer_id());
    s.Add(static_cast<uint64_t>((*r)->producer_epoch()));
  }
}

// One direction's stream loop. The frame is copied into its own buffer, as
// both readers do, which also gives the FlatBuffer the alignment the
// verifier demands.
template <size_t kHeaderBytes, typename Decode, typename Encode, typename Walk>
void ReadStream(std::span<const std::byte> in, Decode decode, Encode encode, Walk walk, Sink& s) {
  std::vector<std::byte> frame;
  while (in.size() >= kHeaderBytes) {
    auto raw = in.template first<kHeaderBytes>();
    auto header = decode(raw);
    if (!header) return;  // the connection is closed: no resynchronising
    TELEMQ_CHECK(header->frame_length <= kMaxFrameBytes, "frame limit not enforced");
    TELEMQ_CHECK(header->body_length <= header->remaining(), "body longer than its frame");
    // The header is a pure function of its fields: re-encoding gives the same bytes.
    std::array<std::byte, kHeaderBytes> again{};
    encode(std::span<std::byte, kHeaderBytes>(again), *header);
    TELEMQ_CHECK(std::memcmp(again.data(), raw.data(), kHeaderBytes) == 0, "header does not re-encode");
    in = in.subspan(kHeaderBytes);
    if (header->remaining() > in.size()) return;  // the rest of the frame never arrives
    frame.assign(in.begin(), in.begin() + static_cast<ptrdiff_t>(header->remaining()));
    in = in.subspan(header->remaining());
    std::span<std::byte> all(frame);
    walk(all.first(header->body_length), all.subspan(header->body_length), s);
    // Once more with checksums a hostile peer would compute, to reach past them.
    if (FixChecksums(all.subspan(header->body_length))) {
      walk(all.first(header->body_length), all.subspan(header->body_length), s);
    }
  }
}

}  // namespace

int FuzzFrame(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool response = (data[0] & 1) != 0;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  Sink s;
  if (!response) {
    ReadStream<wire::kRequestHeaderBytes>(
        in, [](auto raw) { return wire::DecodeRequestHeader(raw, kMaxFrameBytes); },
        [](std::span<std::byte, wire::kRequestHeaderBytes> out, const wire::RequestHeader& h) {
          wire::EncodeRequestHeader(out, h.api_key, h.api_version, h.correlation_id, h.body_length, h.payload_length());
        },
        [](auto body, auto payload, Sink& sink) { WalkRequest(body, payload, sink); }, s);
  } else {
    ReadStream<wire::kResponseHeaderBytes>(
        in, [](auto raw) { return wire::DecodeResponseHeader(raw, kMaxFrameBytes); },
        [](std::span<std::byte, wire::kResponseHeaderBytes> out, const wire::ResponseHeader& h) {
          wire::EncodeResponseHeader(out, h.correlation_id, h.body_length, h.payload_length());
        },
        [](auto body, auto payload, Sink& sink) { WalkResponse(body, payload, sink); }, s);
  }
  // Keep the folded value observable.
  volatile uint64_t keep = s.value();
  (void)keep;
  return 0;
}

}  // namespace telemq::fuzz
