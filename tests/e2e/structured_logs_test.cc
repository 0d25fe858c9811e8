// Structured logs end to end (docs/operations.md, "Logs"): a real broker, a
// single-pass streamer and a gateway run with --log-format json and with
// --log-format text; a topic is created, the streamer creates another, every
// program is stopped with SIGTERM. Then EVERY line each one wrote is checked:
// in JSON one object with time, level, component and msg (and the fields of
// known events with their types); in text the documented shape
// `TIME LEVEL COMPONENT message key=value ...`.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "telemq/admin.h"
#include "tests/support/app_process.h"
#include "tests/support/broker_process.h"
#include "tests/support/str.h"

namespace telemq::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
const std::set<std::string> kLevels{"trace", "debug", "info", "warning", "error", "critical"};

// The lines a program wrote: its log file less the harness's own
// "==== launching: ARGV" line (tests/support SpawnLogged) before each start.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("==== launching:", 0) != 0) out.push_back(line);
  }
  return out;
}

// What the logs of one run hold, per program.
struct Logs {
  std::string broker;
  std::string streamer;
  std::string gateway;
};

Logs RunEverything(const std::string& format, const std::string& topic) {
  Logs out;
  auto broker = BrokerProcess::Start({.args = {"--log-format", format}});
  EXPECT_TRUE(broker) << broker.error().ToString();
  if (!broker) return out;
  {
    auto admin = Admin::Create(ClientOptions{.bootstrap_servers = {(*broker)->address()}});
    EXPECT_TRUE(admin) << admin.error().ToString();
    if (admin) {
      auto created = (*admin)->CreateTopic(topic, {.partitions = 2});
      EXPECT_TRUE(created) << created.error().ToString();
    }
  }
  // The streamer creates its own topic, sends one snapshot and exits.
  auto streamer = AppProcess::Start(
      {.binary = StreamerBinary(),
       .args = {"--bootstrap", (*broker)->address(), "--source", "synthetic:hosts=1,gpus=1", "--interval", "0",
                "--topic", topic + ".stream", "--partitions", "1", "--log-format", format},
       .name = "streamer"});
  EXPECT_TRUE(streamer) << streamer.error().ToString();
  if (streamer) {
    std::optional<ExitStatus> exit;
    EXPECT_TRUE(WaitFor([&] { return (exit = (*streamer)->Poll()).has_value(); }, seconds(30)))
        << (*streamer)->LogTail();
    if (exit) {
      EXPECT_EQ(exit->exit_code, 0) << (*streamer)->LogTail();
    }
    out.streamer = (*streamer)->LogTail(1 << 20);
  }
  auto gateway = AppProcess::Start({.binary = GatewayBinary(),
                                    .args = {"--bootstrap", (*broker)->address(), "--topic", topic,
                                             "--routing-refresh-ms", "100", "--log-format", format},
                                    .name = "gateway"});
  EXPECT_TRUE(gateway) << gateway.error().ToString();
  if (gateway) {
    auto stopped = (*gateway)->Terminate(seconds(15));
    EXPECT_TRUE(stopped && stopped->exit_code == 0) << (*gateway)->LogTail();
    out.gateway = (*gateway)->LogTail(1 << 20);
  }
  auto stopped = (*broker)->Terminate(seconds(20));
  EXPECT_TRUE(stopped && stopped->exit_code == 0) << (*broker)->LogTail();
  out.broker = (*broker)->LogTail(1 << 20);
  return out;
}

// Every line one JSON object with the four members; returns them parsed.
std::vector<json> ParseJsonLines(const std::string& log, const std::string& component) {
  std::vector<json> out;
  const auto lines = Lines(log);
  EXPECT_FALSE(lines.empty()) << component << " wrote nothing";
  for (const auto& line : lines) {
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << component << " line is not a JSON object: " << line;
    if (!j.is_object()) continue;
    EXPECT_TRUE(j.contains("time") && j["time"].is_string() && std::regex_match(j["time"].get<std::string>(), kTime))
        << line;
    EXPECT_TRUE(j.contains("level") && j["level"].is_string() && kLevels.count(j["level"].get<std::string>())) << line;
    EXPECT_EQ(j.value("component", ""), component) << line;
    EXPECT_TRUE(j.contains("msg") && j["msg"].is_string() && !j["msg"].get<std::string>().empty()) << line;
    out.push_back(j);
  }
  return out;
}

// The first parsed line whose msg is `msg`, or null.
json Find(const std::vector<json>& lines, const std::string& msg) {
  for (const auto& j : lines) {
    if (j.value("msg", "") == msg) return j;
  }
  return nullptr;
}

TEST(StructuredLogsTest, JsonFormatWritesOneObjectPerLineFromEveryProgram) {
  const Logs run = RunEverything("json", "logs.json");
  const auto broker = ParseJsonLines(run.broker, "broker");
  const auto streamer = ParseJsonLines(run.streamer, "streamer");
  const auto gateway = ParseJsonLines(run.gateway, "gateway");

  const json listening = Find(broker, "broker listening");
  ASSERT_FALSE(listening.is_null()) << run.broker;
  EXPECT_TRUE(listening["port"].is_number_integer()) << listening;
  EXPECT_TRUE(listening["broker"].is_number_integer()) << listening;
  EXPECT_EQ(listening["host"], "127.0.0.1");
  json created = nullptr;
  for (const auto& j : broker) {
    if (j.value("msg", "") == "topic created" && j.value("topic", "") == "logs.json") created = j;
  }
  ASSERT_FALSE(created.is_null()) << run.broker;
  EXPECT_EQ(created["partition_count"], 2);
  EXPECT_TRUE(created["topic_id"].is_number_unsigned()) << created;
  EXPECT_FALSE(Find(broker, "broker shutting down").is_null()) << run.broker;
  EXPECT_FALSE(Find(broker, "broker stopped cleanly").is_null()) << run.broker;

  const json done = Find(streamer, "single pass done");
  ASSERT_FALSE(done.is_null()) << run.streamer;
  EXPECT_TRUE(done["sent"].is_number_integer()) << done;
  EXPECT_EQ(done["lost"], 0) << done;
  const json topic = Find(streamer, "topic created");
  ASSERT_FALSE(topic.is_null()) << run.streamer;
  EXPECT_EQ(topic["topic"], "logs.json.stream");

  EXPECT_FALSE(Find(gateway, "listening").is_null()) << run.gateway;
  EXPECT_FALSE(Find(gateway, "signal received; stopping").is_null()) << run.gateway;
}

TEST(StructuredLogsTest, TextFormatLinesHaveTheDocumentedShape) {
  const Logs run = RunEverything("text", "logs.text");
  // TIME LEVEL COMPONENT message, then key=value pairs whose values are bare
  // words or quoted strings.
  const std::string pair = R"(( [a-z_]+=([^ "=\\]+|"([^"\\]|\\.)*"))*)";
  const std::vector<std::pair<std::string, std::string>> logs{
      {"broker", run.broker}, {"streamer", run.streamer}, {"gateway", run.gateway}};
  for (const auto& [component, log] : logs) {
    const std::regex shape(Str(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info|warning|error|critical) )",
                               component, R"( [^ =][^=]*?)", pair));
    const auto lines = Lines(log);
    EXPECT_FALSE(lines.empty()) << component << " wrote nothing";
    for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, shape)) << component << ": " << line;
  }
  EXPECT_NE(run.broker.find(" info broker topic created topic=logs.text topic_id="), std::string::npos) << run.broker;
  EXPECT_NE(run.broker.find(" partition_count=2 replication_factor="), std::string::npos) << run.broker;
  EXPECT_NE(run.broker.find(" info broker broker listening broker=0 host=127.0.0.1 port="), std::string::npos)
      << run.broker;
  EXPECT_NE(run.broker.find(" info broker broker stopped cleanly broker=0"), std::string::npos) << run.broker;
  EXPECT_NE(run.streamer.find(" info streamer single pass done sent="), std::string::npos) << run.streamer;
  EXPECT_NE(run.gateway.find(" info gateway listening host=127.0.0.1 port="), std::string::npos) << run.gateway;
}

}  // namespace
}  // namespace telemq::testing
