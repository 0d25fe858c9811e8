// Several produce requests in flight per partition
// (ProducerOptions::max_in_flight_per_partition) against a real broker: every
// record is written exactly once and in send order per partition, and the
// callbacks of a partition run in send order, under plain load, with the
// connection cut (RST) mid-stream, and with a batch in the middle of the
// pipeline rejected for good (the later batches, already sent with the
// sequences after it, are renumbered and written, not failed).

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/str.h"
#include "tests/support/tcp_proxy.h"

namespace telemq::testing {
namespace {

// Callback bookkeeping: per partition, the sequence numbers (SequencedValue)
// in the order their callbacks ran, with the offsets they were given.
struct Acks {
  std::mutex mu;
  std::map<int32_t, std::vector<std::pair<int64_t, int64_t>>> by_partition;  // (seq, offset)
  std::vector<std::pair<int64_t, Error>> errors;                             // (seq, error)
  std::atomic<int> acked{0};

  SendCallback For(int64_t seq) {
    return [this, seq](const Result<RecordMetadata>& md) {
      std::lock_guard lock(mu);
      if (md) {
        by_partition[md->partition].emplace_back(seq, md->offset.value());
        ++acked;
      } else {
        errors.emplace_back(seq, md.error());
      }
    };
  }
};

// The log of every partition holds exactly `want[p]` in that order, and the
// callbacks of each partition ran in that order with increasing offsets.
void ExpectExactlyInOrder(const std::string& address, const std::string& topic, int32_t partitions,
                          const std::map<int32_t, std::vector<int64_t>>& want, Acks& acks) {
  auto read = ReadAll(address, topic, partitions);
  ASSERT_TRUE(read) << read.error().ToString();
  std::lock_guard lock(acks.mu);
  for (int32_t p = 0; p < partitions; ++p) {
    std::vector<int64_t> stored;
    for (const auto& r : (*read)[p]) {
      auto seq = ParseSequence(r.value);
      ASSERT_TRUE(seq) << "unparseable value at " << p << "/" << r.offset;
      stored.push_back(*seq);
    }
    const auto& expected = want.count(p) ? want.at(p) : std::vector<int64_t>{};
    ASSERT_EQ(stored.size(), expected.size()) << "partition " << p << ": lost or duplicated records";
    EXPECT_EQ(stored, expected) << "partition " << p << ": reordered";
    std::vector<int64_t> callback_order;
    int64_t last_offset = -1;
    for (const auto& [seq, offset] : acks.by_partition[p]) {
      callback_order.push_back(seq);
      EXPECT_GT(offset, last_offset) << "partition " << p << ": callback offsets not increasing at seq " << seq;
      last_offset = offset;
    }
    EXPECT_EQ(callback_order, expected) << "partition " << p << ": callbacks out of send order";
  }
}

class PipelinedProduceTest : public ::testing::TestWithParam<int> {};

TEST_P(PipelinedProduceTest, ManySmallBatchesInFlightKeepOrderAndExactness) {
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  constexpr int32_t kPartitions = 4;
  ASSERT_TRUE(CreateTopic((*broker)->address(), "pipe", Partitions(kPartitions)));
  ProducerOptions popts;
  popts.client = LoopbackClient((*broker)->address());
  popts.batch_bytes = 1024;  // ~12 records a batch: many requests per partition in flight
  popts.linger = std::chrono::milliseconds(0);
  popts.max_in_flight_per_partition = GetParam();
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  constexpr int kRecords = 40'000;
  Acks acks;
  std::map<int32_t, std::vector<int64_t>> want;
  for (int i = 0; i < kRecords; ++i) {
    const int32_t p = (i / 7) % kPartitions;
    want[p].push_back(i);
    ASSERT_TRUE((*producer)->Send("pipe", std::nullopt, SequencedValue(i, 64), acks.For(i), std::nullopt, p));
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
  {
    std::lock_guard lock(acks.mu);
    ASSERT_TRUE(acks.errors.empty()) << acks.errors.size()
                                     << " failed, first: " << acks.errors.front().second.ToString();
  }
  EXPECT_EQ(acks.acked.load(), kRecords);
  ExpectExactlyInOrder((*broker)->address(), "pipe", kPartitions, want, acks);
}

TEST_P(PipelinedProduceTest, ConnectionCutsMidPipelineNeitherLoseDuplicateNorReorder) {
  auto proxy = TcpProxy::Start();
  ASSERT_TRUE(proxy) << proxy.error().ToString();
  BrokerOptions bopts;
  bopts.args = {"--advertised-port", Str((*proxy)->port())};
  auto broker = BrokerProcess::Start(bopts);
  ASSERT_TRUE(broker) << broker.error().ToString();
  (*proxy)->set_target_port((*broker)->port());
  const std::string direct = (*broker)->address();
  constexpr int32_t kPartitions = 2;
  ASSERT_TRUE(CreateTopic(direct, "cuts", Partitions(kPartitions)));
  ProducerOptions popts;
  popts.client = LoopbackClient((*proxy)->address());
  popts.batch_bytes = 2 * 1024;
  popts.linger = std::chrono::milliseconds(0);
  popts.delivery_timeout = std::chrono::seconds(30);
  popts.max_in_flight_per_partition = GetParam();
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  constexpr int kRecords = 30'000;
  constexpr int kCuts = 8;
  Acks acks;
  std::map<int32_t, std::vector<int64_t>> want;
  int severed = 0;
  for (int i = 0; i < kRecords; ++i) {
    const int32_t p = i % kPartitions;
    want[p].push_back(i);
    ASSERT_TRUE((*producer)->Send("cuts", std::nullopt, SequencedValue(i, 64), acks.For(i), std::nullopt, p));
    if (i > 0 && i % (kRecords / (kCuts + 1)) == 0) {
      ASSERT_TRUE(WaitFor([&] { return acks.acked.load() > 0; }, std::chrono::seconds(10)));
      severed += (*proxy)->SeverAll();
    }
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(45)));
  {
    std::lock_guard lock(acks.mu);
    ASSERT_TRUE(acks.errors.empty()) << acks.errors.size()
                                     << " failed, first: " << acks.errors.front().second.ToString();
  }
  EXPECT_GT(severed, 0) << "no connection was live at any cut";
  EXPECT_GT((*proxy)->accepted(), 1) << "the client never reconnected";
  ExpectExactlyInOrder(direct, "cuts", kPartitions, want, acks);
}

// A record too large for the broker's max_batch_bytes goes alone in a batch
// the broker rejects (MessageTooLarge: certainly not written). The batches
// sent after it hold the sequences after its own; they are rejected out of
// sequence, renumbered and sent again, and written in order.
TEST_P(PipelinedProduceTest, BatchRejectedInTheMiddleFailsAloneAndTheRestIsWrittenInOrder) {
  BrokerOptions bopts;
  bopts.args = {"--max-batch-bytes", "4096"};
  auto broker = BrokerProcess::Start(bopts);
  ASSERT_TRUE(broker) << broker.error().ToString();
  ASSERT_TRUE(CreateTopic((*broker)->address(), "reject", Partitions(1)));
  ProducerOptions popts;
  popts.client = LoopbackClient((*broker)->address());
  popts.batch_bytes = 1024;
  popts.linger = std::chrono::milliseconds(0);
  popts.max_in_flight_per_partition = GetParam();
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  constexpr int kRecords = 6'000;
  Acks acks;
  std::map<int32_t, std::vector<int64_t>> want;
  std::vector<int64_t> too_large;
  for (int i = 0; i < kRecords; ++i) {
    const bool big = i % 1000 == 500;
    if (big) {
      too_large.push_back(i);
    } else {
      want[0].push_back(i);
    }
    ASSERT_TRUE(
        (*producer)->Send("reject", std::nullopt, SequencedValue(i, big ? 8000 : 64), acks.For(i), std::nullopt, 0));
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
  {
    std::lock_guard lock(acks.mu);
    std::vector<int64_t> failed;
    for (const auto& [seq, error] : acks.errors) {
      failed.push_back(seq);
      EXPECT_EQ(error.code(), Errc::kMessageTooLarge) << "seq " << seq << ": " << error.ToString();
    }
    EXPECT_EQ(failed, too_large);
  }
  EXPECT_EQ(acks.acked.load(), kRecords - static_cast<int>(too_large.size()));
  ExpectExactlyInOrder((*broker)->address(), "reject", 1, want, acks);
}

INSTANTIATE_TEST_SUITE_P(InFlight, PipelinedProduceTest, ::testing::Values(1, 5, 8),
                         [](const ::testing::TestParamInfo<int>& info) { return Str(info.param); });

TEST(PipelinedProduceOptionsTest, InFlightBeyondTheBrokersDuplicateWindowIsRefused) {
  ProducerOptions popts;
  popts.client = LoopbackClient("127.0.0.1:1");
  popts.max_in_flight_per_partition = 9;
  auto producer = Producer::Create(popts);
  ASSERT_FALSE(producer);
  EXPECT_EQ(producer.error().code(), Errc::kInvalidArgument);
  popts.max_in_flight_per_partition = 0;
  producer = Producer::Create(popts);
  ASSERT_FALSE(producer);
  EXPECT_EQ(producer.error().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace telemq::testing
