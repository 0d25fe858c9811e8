#pragma once
// Client-side helpers shared by the integration suites: client options
// suited to a broker on loopback, topic creation, and reading a whole topic
// back. Every wait is bounded.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "telemq/admin.h"
#include "telemq/client_options.h"
#include "telemq/common/result.h"
#include "telemq/consumer.h"
#include "telemq/producer.h"

namespace telemq::testing {

// Options for a client of one broker at `address` ("127.0.0.1:port"): short
// timeouts and backoffs, so failures surface within a test's budget.
ClientOptions LoopbackClient(const std::string& address);

// A topic spec with `partitions` partitions and broker defaults otherwise.
NewTopic Partitions(int32_t partitions);

[[nodiscard]] Result<void> CreateTopic(const std::string& address, const std::string& name, const NewTopic& spec);

// A record as read back, with owned bytes.
struct StoredRecord {
  int64_t offset = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

// Reads every partition of `topic` from its earliest offset up to its high
// watermark at the time of the call. Fails on a consumer error or when the
// end is not reached within `timeout`.
[[nodiscard]] Result<std::map<int32_t, std::vector<StoredRecord>>> ReadAll(
    const std::string& address, const std::string& topic, int32_t partitions,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The seed of a randomized test: $TELEMQ_TEST_SEED if set (to replay a
// failure), else from the clock. Tests print it.
uint64_t TestSeed();

// Value carrying a sequence number ("seq=<n>;" then filler to `size` bytes)
// and its parser, for tests that track records by number.
std::string SequencedValue(int64_t seq, size_t size = 0);
std::optional<int64_t> ParseSequence(const std::optional<std::string>& value);

}  // namespace telemq::testing
