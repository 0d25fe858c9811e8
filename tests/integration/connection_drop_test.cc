// An idempotent producer whose connections are cut (RST) in the middle of
// requests retries them without duplicating or reordering anything: the
// broker recognises a retried batch by producer id and sequence.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/tcp_proxy.h"

namespace telemq::testing {
namespace {

TEST(ConnectionDropTest, RetriesAfterDroppedConnectionsCreateNoDuplicates) {
  // The broker advertises the proxy's port, so every connection the client
  // makes (bootstrap and leader) goes through the proxy.
  auto proxy = TcpProxy::Start();
  ASSERT_TRUE(proxy) << proxy.error().ToString();
  BrokerOptions bopts;
  bopts.args = {"--advertised-port", std::to_string((*proxy)->port())};
  auto broker = BrokerProcess::Start(bopts);
  ASSERT_TRUE(broker) << broker.error().ToString();
  (*proxy)->set_target_port((*broker)->port());
  const std::string direct = (*broker)->address();
  constexpr int32_t kPartitions = 3;
  ASSERT_TRUE(CreateTopic(direct, "drops", Partitions(kPartitions)));

  ProducerOptions popts;
  popts.client = LoopbackClient((*proxy)->address());
  popts.batch_bytes = 4 * 1024;  // many small requests: the cuts land mid-request
  popts.linger = std::chrono::milliseconds(1);
  popts.delivery_timeout = std::chrono::seconds(30);
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();

  constexpr int kRecords = 20'000;
  constexpr int kSevers = 6;
  std::atomic<int> acked{0};
  std::mutex mu;
  std::vector<std::string> errors;
  int severed_connections = 0;
  int next_cut = 1;
  for (int i = 0; i < kRecords; ++i) {
    auto queued = (*producer)->Send(
        "drops", std::nullopt, SequencedValue(i, 64),
        [&](const Result<RecordMetadata>& md) {
          if (md) {
            ++acked;
            return;
          }
          std::lock_guard lock(mu);
          errors.push_back(md.error().ToString());
        },
        std::nullopt, i % kPartitions);
    ASSERT_TRUE(queued) << queued.error().ToString();
    // Cut at evenly spread points of the stream, once the producer has
    // actually got going (some acks), so requests are in flight.
    if (next_cut <= kSevers && i == next_cut * kRecords / (kSevers + 1)) {
      ASSERT_TRUE(WaitFor([&] { return acked.load() > 0; }, std::chrono::seconds(10)));
      severed_connections += (*proxy)->SeverAll();
      ++next_cut;
    }
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(45)));
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(errors.empty()) << errors.size() << " records failed, first: " << errors.front();
  }
  EXPECT_EQ(acked.load(), kRecords);
  EXPECT_GT(severed_connections, 0) << "no connection was live at any cut";
  EXPECT_GT((*proxy)->accepted(), 1) << "the client never reconnected";

  // Read directly from the broker, not through the proxy.
  auto read = ReadAll(direct, "drops", kPartitions);
  ASSERT_TRUE(read) << read.error().ToString();
  for (int32_t p = 0; p < kPartitions; ++p) {
    const auto& records = (*read)[p];
    std::vector<int64_t> seqs;
    for (const auto& r : records) {
      auto seq = ParseSequence(r.value);
      ASSERT_TRUE(seq) << "unparseable value at " << p << "/" << r.offset;
      seqs.push_back(*seq);
    }
    // Exactly the records of this partition, each once, in send order.
    std::vector<int64_t> want;
    for (int64_t s = p; s < kRecords; s += kPartitions) want.push_back(s);
    ASSERT_EQ(seqs.size(), want.size()) << "partition " << p << " holds a different number of records";
    EXPECT_EQ(seqs, want) << "partition " << p;
  }
}

}  // namespace
}  // namespace telemq::testing
