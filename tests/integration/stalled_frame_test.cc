// A peer that sends a frame header and then goes silent must not hold the
// broker's produce memory forever: the rest of the frame has to arrive
// within frame_read_timeout_ms, or the connection is closed and the memory
// returns to other producers.

#include <gtest/gtest.h>

#include <array>
#include <atomic>

#include "telemq/wire/frame.h"
#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/raw_socket.h"

namespace telemq::testing {
namespace {

constexpr uint32_t kMaxFrameBytes = 2 << 20;

TEST(StalledFrameTest, HalfSentFrameReleasesProduceMemoryAfterTheReadTimeout) {
  BrokerOptions options;
  // The whole produce budget is one maximal frame, so one stalled frame
  // would otherwise block every producer.
  options.args = {
      "--max-frame-bytes",      std::to_string(kMaxFrameBytes), "--max-batch-bytes",       std::to_string(1 << 20),
      "--produce-memory-bytes", std::to_string(kMaxFrameBytes), "--frame-read-timeout-ms", "500"};
  auto broker = BrokerProcess::Start(options);
  ASSERT_TRUE(broker) << broker.error().ToString();
  const std::string address = (*broker)->address();
  ASSERT_TRUE(CreateTopic(address, "stall", Partitions(1)));

  // A produce frame that claims (almost) the maximum size; only its header is sent.
  auto stalled = RawConnection::Connect((*broker)->port());
  ASSERT_TRUE(stalled) << stalled.error().ToString();
  std::array<std::byte, wire::kRequestHeaderBytes> header{};
  wire::EncodeRequestHeader(header, wire::ApiKey::kProduce, 1, 1, 64, kMaxFrameBytes - wire::kRequestHeaderBytes - 64);
  ASSERT_TRUE(stalled->Send(header));

  ProducerOptions popts;
  popts.client = LoopbackClient(address);
  popts.linger = std::chrono::milliseconds(0);
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  std::atomic<bool> acked{false};
  ASSERT_TRUE((*producer)->Send("stall", "k", "v", [&](const Result<RecordMetadata>& m) { acked = m.has_value(); }));
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(15)));
  EXPECT_TRUE(acked.load());
  EXPECT_TRUE(stalled->WaitForClose(std::chrono::seconds(5))) << "the stalled connection was not closed";
}

}  // namespace
}  // namespace telemq::testing
