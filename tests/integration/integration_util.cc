#include "tests/integration/integration_util.h"

#include <cstdlib>

namespace telemq::testing {

ClientOptions LoopbackClient(const std::string& address) {
  ClientOptions o;
  o.bootstrap_servers = {address};
  o.client_id = "telemq-integration-test";
  o.request_timeout = std::chrono::seconds(10);
  o.connect_timeout = std::chrono::seconds(2);
  o.retry_backoff = std::chrono::milliseconds(20);
  return o;
}

NewTopic Partitions(int32_t partitions) {
  NewTopic t;
  t.partitions = partitions;
  return t;
}

Result<void> CreateTopic(const std::string& address, const std::string& name, const NewTopic& spec) {
  TELEMQ_ASSIGN_OR_RETURN(auto admin, Admin::Create(LoopbackClient(address)));
  return admin->CreateTopic(name, spec);
}

Result<std::map<int32_t, std::vector<StoredRecord>>> ReadAll(const std::string& address, const std::string& topic,
                                                             int32_t partitions, std::chrono::milliseconds timeout) {
  TELEMQ_ASSIGN_OR_RETURN(auto admin, Admin::Create(LoopbackClient(address)));
  std::map<int32_t, int64_t> end;
  std::vector<TopicPartition> tps;
  for (int32_t p = 0; p < partitions; ++p) {
    TELEMQ_ASSIGN_OR_RETURN(const Offset hwm, admin->ListOffset(topic, p, OffsetSpec::kLatest));
    end[p] = hwm.value();
    tps.push_back({topic, p});
  }
  ConsumerOptions copts;
  copts.client = LoopbackClient(address);
  copts.fetch_max_wait = std::chrono::milliseconds(100);
  TELEMQ_ASSIGN_OR_RETURN(auto consumer, Consumer::Create(copts));
  TELEMQ_TRY(consumer->Assign(tps));
  TELEMQ_TRY(consumer->SeekToBeginning(tps));
  std::map<int32_t, std::vector<StoredRecord>> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto done = [&]() -> Result<bool> {
    for (const auto& tp : tps) {
      TELEMQ_ASSIGN_OR_RETURN(const Offset pos, consumer->Position(tp));
      if (pos.value() < end[tp.partition]) return false;
    }
    return true;
  };
  for (;;) {
    TELEMQ_ASSIGN_OR_RETURN(const bool finished, done());
    if (finished) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(Errc::kTimeout, "did not read " + topic + " up to its high watermarks in time");
    }
    TELEMQ_ASSIGN_OR_RETURN(auto records, consumer->Poll(std::chrono::milliseconds(200)));
    for (const auto& r : records) {
      if (r.offset.value() >= end[r.partition]) continue;  // beyond the snapshot of the ends
      StoredRecord s;
      s.offset = r.offset.value();
      if (r.key) s.key = std::string(*r.key);
      if (r.value) s.value = std::string(*r.value);
      for (const auto& h : r.headers) {
        s.headers.emplace_back(std::string(h.key), h.value ? std::optional<std::string>(*h.value) : std::nullopt);
      }
      out[r.partition].push_back(std::move(s));
    }
  }
  consumer->Close();
  return out;
}

uint64_t TestSeed() {
  if (const char* s = std::getenv("TELEMQ_TEST_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::string SequencedValue(int64_t seq, size_t size) {
  std::string v = "seq=" + std::to_string(seq) + ";";
  if (v.size() < size) v.resize(size, static_cast<char>('a' + seq % 26));
  return v;
}

std::optional<int64_t> ParseSequence(const std::optional<std::string>& value) {
  if (!value || value->rfind("seq=", 0) != 0) return std::nullopt;
  const auto semi = value->find(';');
  if (semi == std::string::npos) return std::nullopt;
  return std::strtoll(value->c_str() + 4, nullptr, 10);
}

}  // namespace telemq::testing
