#include "record_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "telemetry/point.h"

namespace telemq::cli {
namespace {

std::string EncodedPoint() {
  telemetry::TelemetryPoint p;
  p.gpu_uuid = "GPU-5fd4f087-86f3-7a43-b711-4771313afc50";
  p.gpu_id = 3;
  p.device = "nvidia3";
  p.model_name = "NVIDIA H100 80GB HBM3";
  p.hostname = "host-0001";
  p.metric_name = "DCGM_FI_DEV_GPU_TEMP";
  p.value = 41.5;
  p.timestamp_us = 1'763'802'000'123'456;  // 2025-11-22T09:00:00.123456Z
  p.labels = {{"pod", "trainer-0"}};
  return *telemetry::EncodePoint(p);
}

TEST(RecordFormat, TelemetryTopicDefaultsToReadablePointsOthersToRaw) {
  EXPECT_EQ(*ParseRecordFormat("", "gpu.telemetry"), RecordFormat::kTelemetry);
  EXPECT_EQ(*ParseRecordFormat("", "perf"), RecordFormat::kRaw);
  EXPECT_EQ(*ParseRecordFormat("raw", "gpu.telemetry"), RecordFormat::kRaw);
  EXPECT_EQ(*ParseRecordFormat("json", "perf"), RecordFormat::kJson);
  EXPECT_FALSE(ParseRecordFormat("yaml", "perf"));
}

TEST(RecordFormat, TelemetryLineDecodesThePoint) {
  const std::string value = EncodedPoint();
  const std::string line = FormatRecord({.partition = 2, .offset = 7, .timestamp_ms = 1, .value = value},
                                        {.format = RecordFormat::kTelemetry});
  EXPECT_EQ(line.rfind("2025-11-22T09:00:00.123456Z ", 0), 0u) << line;
  for (const char* part : {"host-0001", "GPU-5fd4f087-86f3-7a43-b711-4771313afc50 (3)", "DCGM_FI_DEV_GPU_TEMP", " 41.5\n"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  }
  EXPECT_EQ(line.find('\0'), std::string::npos);  // no FlatBuffers bytes on the terminal
  // Columns line up with the header's.
  const std::string header = HeaderLine({.format = RecordFormat::kTelemetry});
  EXPECT_EQ(header.find("HOST"), line.find("host-0001"));
  EXPECT_EQ(header.find("METRIC"), line.find("DCGM_FI_DEV_GPU_TEMP"));
  EXPECT_EQ(header.find("VALUE"), line.find("41.5"));
}

TEST(RecordFormat, AValueThatIsNotAPointSaysSoOnOneLine) {
  const std::string line =
      FormatRecord({.key = std::string_view("k\x01"), .value = std::string_view("\x00\xff\n", 3)},
                   {.format = RecordFormat::kTelemetry});
  EXPECT_EQ(line.rfind("<not a telemetry point: 3 bytes, key \"k\\u0001\"", 0), 0u) << line;
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST(RecordFormat, PrintMetaNamesItsColumnsInAHeader) {
  EXPECT_EQ(HeaderLine({.format = RecordFormat::kRaw}), "");
  EXPECT_EQ(HeaderLine({.format = RecordFormat::kRaw, .print_meta = true, .print_key = true}),
            "PARTITION\tOFFSET\tTIMESTAMP_MS\tKEY\tVALUE\n");
  EXPECT_EQ(FormatRecord({.partition = 1, .offset = 2, .timestamp_ms = 3, .key = "k", .value = "v"},
                         {.format = RecordFormat::kRaw, .print_meta = true, .print_key = true}),
            "1\t2\t3\tk\tv\n");
  const std::string header = HeaderLine({.format = RecordFormat::kTelemetry, .print_meta = true});
  EXPECT_EQ(header.rfind("PARTITION ", 0), 0u);
  const std::string value = EncodedPoint();
  const std::string line = FormatRecord({.partition = 12, .offset = 345, .timestamp_ms = 1763802000123, .value = value},
                                        {.format = RecordFormat::kTelemetry, .print_meta = true});
  EXPECT_EQ(header.find("OFFSET"), line.find("345"));
  EXPECT_EQ(header.find("TIMESTAMP_MS"), line.find("1763802000123"));
  EXPECT_EQ(header.find("TIME "), line.find("2025-11-22T09"));
  EXPECT_EQ(HeaderLine({.format = RecordFormat::kJson, .print_meta = true}), "");
}

TEST(RecordFormat, JsonLinesCarryTheDecodedPointOrTheText) {
  const std::string value = EncodedPoint();
  auto j = nlohmann::json::parse(FormatRecord(
      {.partition = 1, .offset = 9, .timestamp_ms = 5, .key = "GPU-5fd4f087-86f3-7a43-b711-4771313afc50", .value = value},
      {.format = RecordFormat::kJson}));
  EXPECT_EQ(j["offset"], 9);
  EXPECT_EQ(j["point"]["metric"], "DCGM_FI_DEV_GPU_TEMP");
  EXPECT_EQ(j["point"]["value"], 41.5);
  EXPECT_EQ(j["point"]["timestamp"], "2025-11-22T09:00:00.123456Z");
  EXPECT_EQ(j["point"]["labels"]["pod"], "trainer-0");
  auto text = nlohmann::json::parse(FormatRecord({.value = "hello"}, {.format = RecordFormat::kJson}));
  EXPECT_EQ(text["value"], "hello");
  EXPECT_TRUE(text["key"].is_null());
}

TEST(RecordFormat, AssignmentsAreRangesPerTopic) {
  EXPECT_EQ(AssignmentRanges({}), "-");
  EXPECT_EQ(AssignmentRanges({{"t", 3}, {"t", 0}, {"t", 1}, {"t", 2}, {"t", 8}, {"t", 10}, {"t", 11}}), "t[0-3,8,10-11]");
  EXPECT_EQ(AssignmentRanges({{"b", 1}, {"a", 5}, {"b", 0}}), "a[5] b[0-1]");
}

TEST(RecordFormat, UtcMicros) {
  EXPECT_EQ(FormatUtcMicros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatUtcMicros(-1), "1969-12-31T23:59:59.999999Z");
}

}  // namespace
}  // namespace telemq::cli
