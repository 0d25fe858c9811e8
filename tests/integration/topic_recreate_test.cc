// A topic deleted and created again under the same name is a new, empty
// topic, however the two requests interleave: a create racing the deletion
// is refused ("still being deleted") until the old logs are gone, never
// handed the old logs (which the deletion would then remove under it).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/integration/integration_util.h"
#include "tests/support/broker_process.h"

namespace telemq::testing {
namespace {

constexpr int32_t kPartitions = 40;  // many logs to delete: a wide window for the race

void Fill(const std::string& address, const std::string& topic, int records) {
  ProducerOptions popts;
  popts.client = LoopbackClient(address);
  auto producer = Producer::Create(popts);
  ASSERT_TRUE(producer) << producer.error().ToString();
  for (int i = 0; i < records; ++i) {
    ASSERT_TRUE((*producer)->Send(topic, "gpu-" + std::to_string(i), SequencedValue(i, 100)));
  }
  ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)));
}

TEST(TopicRecreateTest, CreateRacingADeleteNeverGetsTheOldLogs) {
  auto broker = BrokerProcess::Start();
  ASSERT_TRUE(broker) << broker.error().ToString();
  const std::string address = (*broker)->address();
  auto admin = Admin::Create(LoopbackClient(address));
  ASSERT_TRUE(admin) << admin.error().ToString();
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(CreateTopic(address, "again", Partitions(kPartitions)));
    Fill(address, "again", 20 * kPartitions);

    // A second client keeps creating the name while the first deletes it.
    std::atomic<bool> deleted{false};
    std::atomic<bool> created{false};
    std::thread creator([&] {
      auto other = Admin::Create(LoopbackClient(address));
      ASSERT_TRUE(other) << other.error().ToString();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (std::chrono::steady_clock::now() < deadline) {
        auto r = (*other)->CreateTopic("again", Partitions(kPartitions));
        if (r) {
          created = true;
          return;
        }
        // Refused while the old topic exists or is being deleted.
        EXPECT_EQ(r.error().code(), Errc::kAlreadyExists) << r.error().ToString();
        if (deleted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    auto del = (*admin)->DeleteTopic("again");
    deleted = true;
    creator.join();
    ASSERT_TRUE(del) << del.error().ToString();
    ASSERT_TRUE(created.load()) << "the name was never created again";

    // The new topic is empty (each partition holds only its leader's no-op)
    // and works.
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto end = (*admin)->ListOffset("again", p, OffsetSpec::kLatest);
      ASSERT_TRUE(end) << end.error().ToString();
      ASSERT_EQ(end->value(), 1) << "round " << round << " partition " << p << " kept records of the deleted topic";
    }
    Fill(address, "again", 5 * kPartitions);
    auto read = ReadAll(address, "again", kPartitions);
    ASSERT_TRUE(read) << read.error().ToString();
    size_t total = 0;
    for (const auto& [p, records] : *read) total += records.size();
    EXPECT_EQ(total, static_cast<size_t>(5 * kPartitions));
    ASSERT_TRUE((*admin)->DeleteTopic("again"));
  }
}

}  // namespace
}  // namespace telemq::testing
