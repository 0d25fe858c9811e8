// Hostile frames on a raw socket get an error response or a closed
// connection, never a crash and never a partial write, while a well-behaved
// client on another connection keeps producing and consuming.

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "telemq/wire/protocol.h"
#include "telemq/wire/record_batch.h"
#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_socket.h"

namespace telemq::testing {
namespace {

namespace fb = wire::fb;

std::span<const std::byte> Bytes(const flatbuffers::FlatBufferBuilder& b) {
  return {reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()};
}

std::vector<std::byte> ValidBatch(const std::string& value) {
  wire::BatchBuilder builder(wire::Codec::kNone);
  builder.Add(1'700'000'000'000, "key", value);
  auto bytes = builder.Finish();
  EXPECT_TRUE(bytes);
  return bytes ? *bytes : std::vector<std::byte>{};
}

// A produce request for one partition whose entry declares `declared_bytes`
// while `payload` is what actually follows the body.
std::vector<std::byte> ProduceFrame(uint32_t correlation_id, const std::string& topic, int32_t partition,
                                    std::span<const std::byte> payload, uint32_t declared_bytes) {
  flatbuffers::FlatBufferBuilder b(256);
  std::vector<flatbuffers::Offset<fb::ProducePartition>> parts{
      fb::CreateProducePartition(b, partition, declared_bytes)};
  std::vector<flatbuffers::Offset<fb::ProduceTopic>> topics{fb::CreateProduceTopicDirect(b, topic.c_str(), &parts)};
  b.Finish(fb::CreateProduceRequestDirect(b, fb::Acks::All, 10'000, &topics));
  return EncodeRequest(wire::ApiKey::kProduce, 1, correlation_id, Bytes(b), payload);
}

// What a request got back: an ErrorResponse code, a closed connection, or
// (for produce) the single partition's error code.
struct Answer {
  bool closed = false;
  std::optional<fb::ErrorCode> frame_error;      // an ErrorResponse body
  std::optional<fb::ErrorCode> partition_error;  // a ProduceResponse's one partition
  std::string message;
};

Answer Exchange(RawConnection& conn, std::span<const std::byte> frame, bool expect_produce_response) {
  Answer a;
  if (!conn.Send(frame)) {
    a.closed = true;
    return a;
  }
  auto resp = conn.ReadResponse(std::chrono::seconds(10));
  if (!resp) {
    EXPECT_EQ(resp.error().code(), Errc::kDisconnected) << resp.error().ToString();
    a.closed = true;
    return a;
  }
  if (expect_produce_response) {
    if (auto p = wire::VerifyBody<fb::ProduceResponse>(resp->body);
        p && (*p)->topics() && (*p)->topics()->size() == 1) {
      const auto* parts = (*p)->topics()->Get(0)->partitions();
      if (parts && parts->size() == 1) {
        a.partition_error = parts->Get(0)->error();
        a.message = wire::Str(parts->Get(0)->message());
        return a;
      }
    }
  }
  auto e = wire::VerifyBody<fb::ErrorResponse>(resp->body);
  EXPECT_TRUE(e) << "answer is neither the expected response nor an ErrorResponse";
  if (e) {
    a.frame_error = (*e)->error();
    a.message = wire::Str((*e)->message());
  }
  return a;
}

class MalformedFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = BrokerProcess::Start();
    ASSERT_TRUE(broker) << broker.error().ToString();
    broker_ = std::move(*broker);
    ASSERT_TRUE(CreateTopic(broker_->address(), "victim", Partitions(1)));
    ASSERT_TRUE(CreateTopic(broker_->address(), "normal", Partitions(2)));
    auto admin = Admin::Create(LoopbackClient(broker_->address()));
    ASSERT_TRUE(admin) << admin.error().ToString();
    admin_ = std::move(*admin);
    // Some valid data first, so "unchanged" is not trivially zero.
    auto conn = RawConnection::Connect(broker_->port());
    ASSERT_TRUE(conn) << conn.error().ToString();
    auto batch = ValidBatch("first");
    auto a = Exchange(*conn, ProduceFrame(1, "victim", 0, batch, static_cast<uint32_t>(batch.size())), true);
    ASSERT_EQ(a.partition_error, fb::ErrorCode::None) << a.message;
    StartNormalTraffic();
  }

  void TearDown() override {
    stop_ = true;
    if (normal_.joinable()) normal_.join();
  }

  // A well-behaved producer on its own connections, all test long.
  void StartNormalTraffic() {
    normal_ = std::thread([this] {
      ProducerOptions popts;
      popts.client = LoopbackClient(broker_->address());
      popts.linger = std::chrono::milliseconds(1);
      auto producer = Producer::Create(popts);
      if (!producer) {
        normal_errors_ = 1;
        return;
      }
      for (int64_t seq = 0; !stop_; ++seq) {
        if (!(*producer)->Send(
                "normal", std::nullopt, SequencedValue(seq, 32),
                [this](const Result<RecordMetadata>& md) { md ? ++normal_acked_ : ++normal_errors_; }, std::nullopt,
                static_cast<int32_t>(seq % 2))) {
          ++normal_errors_;
        }
        if (seq % 100 == 99 && !(*producer)->Flush(std::chrono::seconds(10))) ++normal_errors_;
      }
      if (!(*producer)->Flush(std::chrono::seconds(10))) ++normal_errors_;
    });
  }

  int64_t VictimEnd() {
    auto end = admin_->ListOffset("victim", 0, OffsetSpec::kLatest);
    EXPECT_TRUE(end) << end.error().ToString();
    return end ? end->value() : -1;
  }

  RawConnection Connect() {
    auto conn = RawConnection::Connect(broker_->port());
    EXPECT_TRUE(conn) << conn.error().ToString();
    return std::move(*conn);
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Admin> admin_;
  std::thread normal_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> normal_acked_{0};
  std::atomic<int64_t> normal_errors_{0};
};

TEST_F(MalformedFramesTest, EachHostileFrameIsRejectedWithoutPartialWritesWhileOthersProceed) {
  const int64_t end_before = VictimEnd();
  const int64_t acked_before = normal_acked_.load();

  {  // (a) A frame length above the broker's limit: nothing to resynchronise on, so the connection is closed.
    auto conn = Connect();
    std::array<std::byte, wire::kRequestHeaderBytes> header{};
    wire::EncodeRequestHeader(header, wire::ApiKey::kMetadata, 1, 7, 0, 0);
    const uint32_t huge = 0xFFFFFFF0u;
    std::memcpy(header.data(), &huge, sizeof(huge));  // little endian, as the protocol
    ASSERT_TRUE(conn.Send(header));
    EXPECT_TRUE(conn.WaitForClose(std::chrono::seconds(10))) << "oversized frame did not close the connection";
  }
  {  // (b) A valid header with a garbage FlatBuffer body.
    auto conn = Connect();
    std::vector<std::byte> garbage(64);
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::byte>(0xA5 ^ (i * 31));
    auto a = Exchange(conn, EncodeRequest(wire::ApiKey::kMetadata, 1, 8, garbage), false);
    EXPECT_TRUE(a.closed || a.frame_error == fb::ErrorCode::CorruptMessage) << a.message;
    EXPECT_TRUE(a.closed || conn.WaitForClose(std::chrono::seconds(10)));
  }
  {  // (c) A produce payload shorter than its declared records_bytes.
    auto conn = Connect();
    auto batch = ValidBatch("short");
    auto truncated = std::span<const std::byte>(batch).first(batch.size() - 10);
    auto a = Exchange(conn, ProduceFrame(9, "victim", 0, truncated, static_cast<uint32_t>(batch.size())), true);
    EXPECT_TRUE(a.closed || a.frame_error == fb::ErrorCode::CorruptMessage) << a.message;
    EXPECT_EQ(VictimEnd(), end_before) << "a short produce payload was partially written";
  }
  {  // (d) A batch whose checksum does not match: a per-partition CorruptMessage, nothing written.
    auto conn = Connect();
    auto batch = ValidBatch("corrupted in transit");
    batch.back() ^= std::byte{0xFF};
    auto a = Exchange(conn, ProduceFrame(10, "victim", 0, batch, static_cast<uint32_t>(batch.size())), true);
    ASSERT_FALSE(a.closed);
    EXPECT_EQ(a.partition_error, fb::ErrorCode::CorruptMessage) << a.message;
    EXPECT_EQ(VictimEnd(), end_before) << "a corrupt batch was written";
  }
  {  // (e) An unknown api key.
    auto conn = Connect();
    flatbuffers::FlatBufferBuilder b(64);
    b.Finish(fb::CreateMetadataRequest(b));
    auto a = Exchange(conn, EncodeRequest(static_cast<wire::ApiKey>(99), 1, 11, Bytes(b)), false);
    EXPECT_TRUE(a.closed || a.frame_error == fb::ErrorCode::UnsupportedVersion) << a.message;
  }
  {  // The broker survived all of it and still takes a valid raw produce.
    auto conn = Connect();
    auto batch = ValidBatch("after the storm");
    auto a = Exchange(conn, ProduceFrame(12, "victim", 0, batch, static_cast<uint32_t>(batch.size())), true);
    EXPECT_EQ(a.partition_error, fb::ErrorCode::None) << a.message;
    EXPECT_EQ(VictimEnd(), end_before + 1);
  }
  EXPECT_TRUE(broker_->running());

  // The well-behaved client made progress throughout and lost nothing.
  ASSERT_TRUE(WaitFor([&] { return normal_acked_.load() > acked_before + 200; }, std::chrono::seconds(20)));
  stop_ = true;
  normal_.join();
  EXPECT_EQ(normal_errors_.load(), 0);
  auto read = ReadAll(broker_->address(), "normal", 2);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(static_cast<int64_t>((*read)[0].size() + (*read)[1].size()), normal_acked_.load());
}

}  // namespace
}  // namespace telemq::testing
