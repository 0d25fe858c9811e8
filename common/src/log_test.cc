#include "telemq/common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "telemq/common/strong_id.h"

namespace telemq::log {
namespace {

using TestId = Offset;

// "{" + payload + "}" parsed (built without `"lit" + std::string`, which
// g++ 12 misreports under -Werror=restrict).
nlohmann::json ParseObject(const std::string& payload) {
  std::string text;
  text += '{';
  text += payload;
  text += '}';
  return nlohmann::json::parse(text);
}

TEST(LogFormatTest, ParsesTheTwoFormatNamesOnly) {
  EXPECT_EQ(ParseFormat("text"), Format::kText);
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_FALSE(ParseFormat("JSON").has_value());
  EXPECT_FALSE(ParseFormat("").has_value());
  EXPECT_FALSE(ParseFormat("logfmt").has_value());
}

TEST(LogTextTest, BareValuesStayBareAndNumbersArePlain) {
  EXPECT_EQ(Payload(Format::kText, "partition serving",
                    {{"topic", "gpu.metrics"}, {"partition", 3}, {"offset", TestId(42)}, {"ok", true}}),
            "partition serving topic=gpu.metrics partition=3 offset=42 ok=true");
  EXPECT_EQ(Payload(Format::kText, "no fields", {}), "no fields");
  EXPECT_EQ(Payload(Format::kText, "rate", {{"per_second", 2.5}, {"big", std::numeric_limits<uint64_t>::max()}}),
            "rate per_second=2.5 big=18446744073709551615");
}

TEST(LogTextTest, QuotesAndEscapesValuesThatNeedIt) {
  const std::string error = "disk \"full\" at a=b";
  EXPECT_EQ(Payload(Format::kText, "m", {{"error", error}}), R"(m error="disk \"full\" at a=b")");
  EXPECT_EQ(Payload(Format::kText, "m", {{"path", ""}}), R"(m path="")");
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", "a=b"}}), R"(m v="a=b")");
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", "back\\slash"}}), R"(m v="back\\slash")");
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", "tab\there"}}), R"(m v="tab\there")");
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", std::string_view("nul\0x", 5)}}), R"(m v="nul\u0000x")");
  // Non-ASCII is quoted; invalid UTF-8 is replaced, never passed through.
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", "\xc3\xa9t\xc3\xa9"}}), "m v=\"\xc3\xa9t\xc3\xa9\"");
  EXPECT_EQ(Payload(Format::kText, "m", {{"v", "bad\xff"}}), "m v=\"bad\xef\xbf\xbd\"");
}

TEST(LogTextTest, ReservedKeysGetAnUnderscore) {
  EXPECT_EQ(Payload(Format::kText, "m", {{"msg", "x"}, {"level", 1}}), "m msg_=x level_=1");
  auto j = ParseObject(Payload(Format::kJson, "m", {{"time", "x"}, {"component", 2}}));
  EXPECT_EQ(j["msg"], "m");
  EXPECT_EQ(j["time_"], "x");
  EXPECT_EQ(j["component_"], 2);
}

TEST(LogJsonTest, FieldsKeepTheirTypes) {
  const std::string payload =
      Payload(Format::kJson, "topic created",
              {{"topic", "t\"1\"\n"}, {"partition", -3}, {"offset", TestId(7)}, {"ratio", 0.25}, {"leader", false}});
  auto j = ParseObject(payload);
  EXPECT_EQ(j["msg"], "topic created");
  EXPECT_EQ(j["topic"], "t\"1\"\n");
  ASSERT_TRUE(j["partition"].is_number_integer());
  EXPECT_EQ(j["partition"], -3);
  ASSERT_TRUE(j["offset"].is_number_integer());
  EXPECT_EQ(j["offset"], 7);
  ASSERT_TRUE(j["ratio"].is_number_float());
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 0.25);
  ASSERT_TRUE(j["leader"].is_boolean());
  EXPECT_EQ(payload.find('\n'), std::string::npos);
}

TEST(LogJsonTest, InvalidUtf8AndNonFiniteNumbersStillParse) {
  auto j = ParseObject(
      Payload(Format::kJson, "m\xfe", {{"v", "\xff\xfe"}, {"nan", std::numeric_limits<double>::quiet_NaN()}}));
  EXPECT_EQ(j["v"], "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_TRUE(j["nan"].is_null());
}

// Runs `body` with stderr sent to a file; returns the file's lines.
template <typename Body>
std::vector<std::string> CaptureStderr(Body body) {
  char path[] = "/tmp/telemq_log_test.XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  body();
  spdlog::default_logger_raw()->flush();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ::unlink(path);
  return lines;
}

TEST(LogInitTest, JsonLinesCarryTimeLevelComponentAndFields) {
  const auto lines = CaptureStderr([] {
    Init("broker", Format::kJson, spdlog::level::info);
    Info("topic created", {{"topic", "a\nb"}, {"partition_count", 3}});
    Warn("peer unreachable", {{"peer", 2}, {"error", "connection refused"}});
    Debug("not shown", {{"x", 1}});
  });
  ASSERT_EQ(lines.size(), 2u);
  const std::regex time_re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (const auto& line : lines) {
    auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), time_re)) << line;
    EXPECT_EQ(j["component"], "broker");
  }
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "topic created");
  EXPECT_EQ(first["topic"], "a\nb");
  EXPECT_EQ(first["partition_count"], 3);
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "warning");
  EXPECT_EQ(second["peer"], 2);
  EXPECT_EQ(CurrentFormat(), Format::kJson);
}

TEST(LogInitTest, TextLinesHaveTheDocumentedShape) {
  const auto lines = CaptureStderr([] {
    Init("collector", Format::kText, spdlog::level::warn);
    Info("filtered out");
    Warn("store reopened", {{"partition", 1}, {"error", "line one\nline two"}});
    Error("apply failed", {{"path", "/var/lib/x y"}});
  });
  ASSERT_EQ(lines.size(), 2u);
  const std::regex shape(
      R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (warning|error) collector [a-z ]+( [a-z_]+=\S+)*.*)");
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, shape)) << line;
  EXPECT_NE(lines[0].find(R"( warning collector store reopened partition=1 error="line one\nline two")"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"( error collector apply failed path="/var/lib/x y")"), std::string::npos) << lines[1];
}

TEST(LogInitTest, LevelFilteringSkipsDisabledLevels) {
  const auto lines = CaptureStderr([] {
    Init("gateway", Format::kText, spdlog::level::err);
    Trace("t");
    Debug("d");
    Info("i");
    Warn("w");
    Error("e");
    Critical("c");
  });
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" error gateway e"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(" critical gateway c"), std::string::npos) << lines[1];
  const auto none = CaptureStderr([] {
    Init("gateway", Format::kJson, spdlog::level::off);
    Critical("c");
  });
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace telemq::log
