// Graceful stop and restart keep data and topic metadata; a long-poll fetch
// answers as soon as data arrives, not at its deadline.

#include <gtest/gtest.h>

#include <csignal>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"

namespace telemq::testing {
namespace {

TEST(RestartTest, SigtermExitsZeroAndRestartFindsDataAndTopicConfig) {
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  NewTopic spec = Partitions(5);
  spec.retention_ms = 3'600'000;
  spec.retention_bytes = 64ll << 20;
  ASSERT_TRUE(CreateTopic((*broker)->address(), "kept", spec));
  constexpr int kRecords = 1000;
  {
    ProducerOptions popts;
    popts.client = LoopbackClient((*broker)->address());
    auto producer = Producer::Create(popts);
    ASSERT_TRUE(producer) << producer.error().ToString();
    for (int i = 0; i < kRecords; ++i) {
      ASSERT_TRUE((*producer)->Send("kept", "gpu-" + std::to_string(i % 17), SequencedValue(i, 50)));
    }
    ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
  }
  auto before = ReadAll((*broker)->address(), "kept", 5);
  ASSERT_TRUE(before) << before.error().ToString();

  auto status = (*broker)->Terminate(std::chrono::seconds(15));
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_FALSE(status->signaled) << status->ToString();
  EXPECT_EQ(status->exit_code, 0) << status->ToString();
  EXPECT_NE((*broker)->LogTail().find("broker stopped cleanly"), std::string::npos);

  ASSERT_TRUE((*broker)->Restart());
  auto admin = Admin::Create(LoopbackClient((*broker)->address()));
  ASSERT_TRUE(admin) << admin.error().ToString();
  auto described = (*admin)->DescribeTopic("kept");
  ASSERT_TRUE(described) << described.error().ToString();
  EXPECT_EQ(described->partitions.size(), 5u);
  EXPECT_EQ(described->retention_ms, 3'600'000);
  EXPECT_EQ(described->retention_bytes, 64ll << 20);

  auto after = ReadAll((*broker)->address(), "kept", 5);
  ASSERT_TRUE(after) << after.error().ToString();
  size_t total = 0;
  for (int32_t p = 0; p < 5; ++p) {
    const auto& a = (*before)[p];
    const auto& b = (*after)[p];
    ASSERT_EQ(a.size(), b.size()) << "partition " << p;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].offset, b[i].offset);
      EXPECT_EQ(a[i].key, b[i].key);
      EXPECT_EQ(a[i].value, b[i].value);
    }
    total += b.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kRecords));
}

TEST(LongPollTest, FetchReturnsAsSoonAsDataArrives) {
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  ASSERT_TRUE(CreateTopic((*broker)->address(), "live", Partitions(1)));
  constexpr auto kMaxWait = std::chrono::milliseconds(5000);
  ConsumerOptions copts;
  copts.client = LoopbackClient((*broker)->address());
  copts.fetch_max_wait = kMaxWait;
  auto consumer = Consumer::Create(copts);
  ASSERT_TRUE(consumer) << consumer.error().ToString();
  ASSERT_TRUE((*consumer)->Assign({{"live", 0}}));
  // An empty poll first: the consumer's long-poll fetch is parked on the
  // broker by the time it returns.
  auto empty = (*consumer)->Poll(std::chrono::milliseconds(300));
  ASSERT_TRUE(empty) << empty.error().ToString();
  ASSERT_TRUE(empty->empty());

  ProducerOptions popts;
  popts.client = LoopbackClient((*broker)->address());
  popts.linger = std::chrono::milliseconds(0);
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  const auto sent_at = std::chrono::steady_clock::now();
  ASSERT_TRUE((*producer)->Send("live", "k", "hello"));
  std::optional<std::chrono::steady_clock::time_point> received_at;
  while (!received_at && std::chrono::steady_clock::now() - sent_at < 2 * kMaxWait) {
    auto polled = (*consumer)->Poll(std::chrono::milliseconds(100));
    ASSERT_TRUE(polled) << polled.error().ToString();
    if (!polled->empty()) {
      received_at = std::chrono::steady_clock::now();
      EXPECT_EQ(polled->records()[0].value, std::optional<std::string_view>("hello"));
    }
  }
  ASSERT_TRUE(received_at) << "record never arrived";
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(*received_at - sent_at);
  // Far below the 5 s bound: the fetch was woken by the append.
  EXPECT_LT(latency.count(), 1000) << "long poll answered after " << latency.count() << " ms";
}

}  // namespace
}  // namespace telemq::testing
