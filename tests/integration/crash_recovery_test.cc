// With fsync=always, an acknowledged record survives `kill -9` of the broker:
// after a restart on the same data directory every acknowledged record is
// there exactly once and in order, the producer that was cut off finishes its
// retries without duplicates, and a new producer continues the log.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"

namespace telemq::testing {
namespace {

constexpr int32_t kPartitions = 3;

// Acknowledged sequence numbers, per partition.
struct Acks {
  std::mutex mu;
  std::map<int32_t, std::set<int64_t>> acked;  // guarded by mu
  std::atomic<int64_t> count{0};
  std::string last_error;  // guarded by mu
  SendCallback For(int64_t seq) {
    return [this, seq](const Result<RecordMetadata>& md) {
      std::lock_guard lock(mu);
      if (!md) {  // not acknowledged: may or may not be stored
        last_error = md.error().ToString();
        return;
      }
      acked[md->partition].insert(seq);
      ++count;
    };
  }
};

TEST(CrashRecoveryTest, AcknowledgedRecordsSurviveKill9ExactlyOnceInOrder) {
  BrokerOptions bopts;
  bopts.args = {"--fsync", "always"};
  auto broker = BrokerProcess::Start(bopts);
  ASSERT_TRUE(broker) << broker.error().ToString();
  ASSERT_TRUE(CreateTopic((*broker)->address(), "crash", Partitions(kPartitions)));

  ProducerOptions popts;
  popts.client = LoopbackClient((*broker)->address());
  popts.linger = std::chrono::milliseconds(1);
  popts.batch_bytes = 8 * 1024;
  popts.max_block = std::chrono::seconds(5);
  popts.delivery_timeout = std::chrono::seconds(60);  // outlives the restart: its retries land afterwards
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();

  Acks acks;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0};
  std::thread sender([&] {
    for (int64_t seq = 0; !stop.load(); ++seq) {
      if (!(*producer)->Send("crash", std::nullopt, SequencedValue(seq, 100), acks.For(seq), std::nullopt,
                             static_cast<int32_t>(seq % kPartitions))) {
        break;  // buffer stayed full while the broker was down
      }
      sent = seq + 1;
    }
  });
  // Crash in the middle of the stream: once a good number of records are
  // acknowledged, while more are in flight.
  const bool progressed = WaitFor([&] { return acks.count.load() >= 3000; }, std::chrono::seconds(30));
  (*broker)->Kill9();
  const int64_t acked_before_crash = acks.count.load();
  stop = true;
  sender.join();
  ASSERT_TRUE(progressed) << "only " << acks.count.load() << " acks before the deadline";

  ASSERT_TRUE((*broker)->Restart(RestartPort::kSame));
  // The old producer reconnects and retries what was in flight; the broker
  // rebuilt its idempotence state from the log, so nothing is written twice.
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
  const int64_t total_sent = sent.load();
  EXPECT_GE(acks.count.load(), acked_before_crash);

  // A new producer continues each partition.
  constexpr int64_t kMore = 300;
  {
    auto fresh = Producer::Create(popts);
    ASSERT_TRUE(fresh) << fresh.error().ToString();
    for (int64_t seq = total_sent; seq < total_sent + kMore; ++seq) {
      ASSERT_TRUE((*fresh)->Send("crash", std::nullopt, SequencedValue(seq, 100), acks.For(seq), std::nullopt,
                                 static_cast<int32_t>(seq % kPartitions)));
    }
    ASSERT_TRUE((*fresh)->Flush(std::chrono::seconds(30)));
  }

  {
    // Every record of the cut-off producer was delivered in the end: its
    // retries after the restart succeeded.
    std::lock_guard lock(acks.mu);
    EXPECT_EQ(acks.count.load(), total_sent + kMore) << "last error: " << acks.last_error;
  }
  auto read = ReadAll((*broker)->address(), "crash", kPartitions);
  ASSERT_TRUE(read) << read.error().ToString();
  std::lock_guard lock(acks.mu);
  int64_t present = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    std::vector<int64_t> seqs;
    for (const auto& r : (*read)[p]) {
      auto seq = ParseSequence(r.value);
      ASSERT_TRUE(seq) << "unparseable value at " << p << "/" << r.offset;
      ASSERT_EQ(*seq % kPartitions, p) << "record in the wrong partition";
      // Strictly increasing: no duplicate, no reordering.
      if (!seqs.empty()) {
        ASSERT_GT(*seq, seqs.back()) << "partition " << p << " offset " << r.offset;
      }
      seqs.push_back(*seq);
    }
    const std::set<int64_t> stored(seqs.begin(), seqs.end());
    for (int64_t seq : acks.acked[p]) {
      ASSERT_TRUE(stored.count(seq)) << "acknowledged record " << seq << " lost from partition " << p;
    }
    // The new producer's records are there too (after everything recovered, by the order check).
    for (int64_t seq = total_sent; seq < total_sent + kMore; ++seq) {
      if (seq % kPartitions == p) {
        EXPECT_TRUE(stored.count(seq)) << "new producer's record " << seq << " missing";
      }
    }
    present += static_cast<int64_t>(seqs.size());
  }
  EXPECT_GE(present, acks.count.load());
}

}  // namespace
}  // namespace telemq::testing
