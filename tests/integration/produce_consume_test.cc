// Records of every shape (random keys and values, null key, null value,
// empty and 64 KiB values, headers) produced with each codec come back
// byte-identical, per partition in the order they were sent.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/str.h"

namespace telemq::testing {
namespace {

struct Sent {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int32_t partition = -1;  // from the acknowledgement
  int64_t offset = -1;
};

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Sizes skewed to small, with empty and large ones on purpose.
size_t RandomSize(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return 0;
    case 1: return 1 + rng() % 8;
    case 2: return 16 * 1024 + rng() % (48 * 1024);
    default: return 1 + rng() % 300;
  }
}

class ProduceConsumeTest : public ::testing::TestWithParam<Compression> {};

TEST_P(ProduceConsumeTest, RandomRecordsComeBackByteIdenticalInOrderPerPartition) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: TELEMQ_TEST_SEED=" + std::to_string(seed) + ")");
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  const std::string address = (*broker)->address();
  constexpr int32_t kPartitions = 4;
  ASSERT_TRUE(CreateTopic(address, "shapes", Partitions(kPartitions)));

  ProducerOptions popts;
  popts.client = LoopbackClient(address);
  popts.compression = GetParam();
  popts.batch_bytes = 64 * 1024;
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();

  constexpr int kRecords = 1500;
  std::vector<Sent> sent(kRecords);
  std::mutex mu;
  std::vector<std::string> errors;
  for (int i = 0; i < kRecords; ++i) {
    Sent& s = sent[i];
    ProducerRecord r;
    r.topic = "shapes";
    if (rng() % 10 != 0) s.key = RandomBytes(rng, rng() % 64);
    if (rng() % 10 != 0) s.value = RandomBytes(rng, RandomSize(rng));
    if (rng() % 4 == 0) s.headers.emplace_back("h" + std::to_string(i % 3), RandomBytes(rng, rng() % 20));
    if (rng() % 8 == 0) s.headers.emplace_back("null-header", std::nullopt);
    r.key = s.key;
    r.value = s.value;
    for (const auto& [k, v] : s.headers) r.headers.push_back({k, v});
    const auto send_time = std::chrono::steady_clock::now();
    auto queued = (*producer)->Send(r, [&, i, send_time](const Result<RecordMetadata>& md) {
      const auto callback_time = std::chrono::steady_clock::now();
      std::lock_guard lock(mu);
      if (!md) {
        errors.push_back("record " + std::to_string(i) + ": " + md.error().ToString());
        return;
      }
      // The batch's completion time: after the send, no later than its callback.
      if (md->acknowledged_at < send_time || md->acknowledged_at > callback_time) {
        errors.push_back(telemq::testing::Str("record ", i, ": acknowledged_at outside [send, callback]"));
      }
      sent[i].partition = md->partition;
      sent[i].offset = md->offset.value();
    });
    ASSERT_TRUE(queued) << queued.error().ToString();
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(errors.empty()) << errors.front();
  }

  // Expected content of each partition: the records acknowledged there, in
  // send order, which must also be offset order.
  std::map<int32_t, std::vector<const Sent*>> expected;
  for (const auto& s : sent) {
    ASSERT_GE(s.partition, 0);
    if (s.key) {
      EXPECT_EQ(s.partition, PartitionForKey(*s.key, kPartitions));
    }
    auto& list = expected[s.partition];
    if (!list.empty()) {
      EXPECT_GT(s.offset, list.back()->offset) << "send order and offset order differ";
    }
    list.push_back(&s);
  }

  auto read = ReadAll(address, "shapes", kPartitions);
  ASSERT_TRUE(read) << read.error().ToString();
  size_t total = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    const auto& got = (*read)[p];
    const auto& want = expected[p];
    ASSERT_EQ(got.size(), want.size()) << "partition " << p;
    total += got.size();
    for (size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("partition " + std::to_string(p) + " record " + std::to_string(i));
      EXPECT_EQ(got[i].offset, want[i]->offset);
      EXPECT_EQ(got[i].key, want[i]->key);
      EXPECT_EQ(got[i].value, want[i]->value);
      EXPECT_EQ(got[i].headers, want[i]->headers);
    }
  }
  EXPECT_EQ(total, static_cast<size_t>(kRecords));
}

// Flush waits for the records sent before it, not for those another thread
// keeps sending meanwhile: under a steady stream it still returns promptly,
// and every record sent before it has its acknowledgement by then.
TEST(ProducerFlushTest, ReturnsWhileAnotherThreadKeepsSending) {
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  const std::string address = (*broker)->address();
  ASSERT_TRUE(CreateTopic(address, "busy", Partitions(2)));
  // Declared before the producer: its destructor may still run callbacks.
  std::atomic<int64_t> sent{0}, acked{0}, failed{0};
  std::mutex mu;
  std::set<int64_t> acked_ids;  // guarded by mu
  std::atomic<bool> stop{false};
  ProducerOptions popts;
  popts.client = LoopbackClient(address);
  popts.linger = std::chrono::milliseconds(5);
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();

  std::thread sender([&] {
    const std::string value(200, 'v');
    for (int64_t i = 0; !stop; ++i) {
      // Built with append: `"k" + std::to_string(...)` trips a false
      // -Wrestrict in g++ 12 at -O3.
      std::string key = "k";
      key += std::to_string(i % 16);
      auto queued = (*producer)->Send("busy", key, value, [&, i](const Result<RecordMetadata>& md) {
        if (!md) {
          ++failed;
          return;
        }
        ++acked;
        std::lock_guard lock(mu);
        acked_ids.insert(i);
      });
      if (!queued) {
        ++failed;
        return;
      }
      sent = i + 1;
    }
  });
  // Joined on every exit (a failed ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, sender};
  ASSERT_TRUE(WaitFor([&] { return acked > 1000; }, std::chrono::seconds(20)));
  const int64_t sent_at_first_flush = sent.load();
  for (int round = 0; round < 3; ++round) {
    const int64_t before = sent.load();
    const auto started = std::chrono::steady_clock::now();
    auto flushed = (*producer)->Flush(std::chrono::seconds(10));
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(flushed) << "round " << round << ": " << flushed.error().ToString();
    EXPECT_LT(took, std::chrono::seconds(5)) << "round " << round;
    std::lock_guard lock(mu);
    int64_t missing = 0;
    for (int64_t i = 0; i < before; ++i) missing += acked_ids.count(i) == 0 ? 1 : 0;
    EXPECT_EQ(missing, 0) << "round " << round << ": records sent before Flush not acknowledged when it returned";
  }
  EXPECT_TRUE(WaitFor([&] { return sent.load() > sent_at_first_flush; }, std::chrono::seconds(10)))
      << "the sender must keep sending for the test to mean anything";
  stop = true;
  sender.join();
  EXPECT_TRUE((*producer)->Flush(std::chrono::seconds(10)));
  EXPECT_EQ(failed.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Codecs, ProduceConsumeTest,
                         ::testing::Values(Compression::kNone, Compression::kLz4, Compression::kZstd),
                         [](const auto& info) {
                           switch (info.param) {
                             case Compression::kNone: return std::string("None");
                             case Compression::kLz4: return std::string("Lz4");
                             case Compression::kZstd: return std::string("Zstd");
                           }
                           return std::string("Unknown");
                         });

}  // namespace
}  // namespace telemq::testing
