#include "telemetry/dcgm_csv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace telemq::telemetry {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

const char kHeader[] =
    "timestamp,metric_name,gpu_id,device,uuid,modelName,Hostname,container,pod,namespace,value,labels_raw";

// One well-formed row of the export, with fields that tests override.
std::string Row(std::string metric = "DCGM_FI_DEV_GPU_UTIL", std::string gpu_id = "0",
                std::string uuid = "GPU-5fd4f087-86f3-7a43-b711-4771313afc50", std::string value = "42") {
  return "\"2025-07-18T20:42:34Z\",\"" + metric + "\",\"" + gpu_id + "\",\"nvidia0\",\"" + uuid +
         "\",\"NVIDIA H100 80GB HBM3\",\"mtv5-dgx1-hgpu-031\",\"\",\"\",\"\",\"" + value +
         "\",\"DCGM_FI_DRIVER_VERSION=\"\"535.129.03\"\",Hostname=\"\"mtv5-dgx1-hgpu-031\"\",gpu=\"\"0\"\"\"";
}

TEST(SplitCsvRecordTest, QuotedFieldsWithDoubledQuotesAndCommas) {
  auto f = SplitCsvRecord(R"("a","b ""quoted"", x",c,"",)");
  ASSERT_TRUE(f) << f.error().ToString();
  EXPECT_EQ(*f, (std::vector<std::string>{"a", "b \"quoted\", x", "c", "", ""}));
}

TEST(SplitCsvRecordTest, CrlfAndLfLineEndsAreStripped) {
  EXPECT_EQ(*SplitCsvRecord("a,\"b\"\r\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*SplitCsvRecord("a,b\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*SplitCsvRecord(""), (std::vector<std::string>{""}));
}

TEST(SplitCsvRecordTest, UnterminatedQuoteAndJunkAfterQuoteAreErrors) {
  EXPECT_FALSE(SplitCsvRecord(R"(a,"b)"));
  EXPECT_FALSE(SplitCsvRecord(R"(a,"b"")"));  // the "" is a literal quote; still open
  EXPECT_FALSE(SplitCsvRecord(R"("b"x,c)"));
}

TEST(ParseLabelsTest, ExportStyleLabels) {
  auto l = ParseLabels(R"(DCGM_FI_DRIVER_VERSION="535.129.03",Hostname="h-1",instance="h-1:9400")");
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ(*l, (Labels{{"DCGM_FI_DRIVER_VERSION", "535.129.03"}, {"Hostname", "h-1"}, {"instance", "h-1:9400"}}));
}

TEST(ParseLabelsTest, EscapesEmptyAndBareValues) {
  auto l = ParseLabels(R"(a="x ""y"" z",b="",c=bare,d="p\"q\\r",e="1,2")");
  ASSERT_TRUE(l) << l.error().ToString();
  EXPECT_EQ(*l, (Labels{{"a", "x \"y\" z"}, {"b", ""}, {"c", "bare"}, {"d", "p\"q\\r"}, {"e", "1,2"}}));
  EXPECT_TRUE(ParseLabels("")->empty());
}

TEST(ParseLabelsTest, MalformedLabelsAreErrors) {
  EXPECT_FALSE(ParseLabels("novalue"));
  EXPECT_FALSE(ParseLabels(R"(="x")"));
  EXPECT_FALSE(ParseLabels(R"(a="x)"));
  EXPECT_FALSE(ParseLabels(R"(a="x"y)"));
}

TEST(DcgmCsvReaderTest, ParsesAnExportRow) {
  auto reader = DcgmCsvReader::Create(kHeader);
  ASSERT_TRUE(reader) << reader.error().ToString();
  auto parsed = reader->ParseLine(Row("DCGM_FI_DEV_POWER_USAGE", "5", "GPU-x", "689.457") + "\r\n", 2);
  ASSERT_TRUE(std::holds_alternative<DcgmRow>(parsed));
  const DcgmRow& row = std::get<DcgmRow>(parsed);
  EXPECT_EQ(row.source_timestamp, "2025-07-18T20:42:34Z");
  EXPECT_EQ(row.point.gpu_uuid, "GPU-x");
  EXPECT_EQ(row.point.gpu_id, 5);
  EXPECT_EQ(row.point.device, "nvidia0");
  EXPECT_EQ(row.point.model_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(row.point.hostname, "mtv5-dgx1-hgpu-031");
  EXPECT_EQ(row.point.metric_name, "DCGM_FI_DEV_POWER_USAGE");
  EXPECT_DOUBLE_EQ(row.point.value, 689.457);
  EXPECT_EQ(row.point.timestamp_us, 0);
  EXPECT_EQ(row.point.labels,
            (Labels{{"DCGM_FI_DRIVER_VERSION", "535.129.03"}, {"Hostname", "mtv5-dgx1-hgpu-031"}, {"gpu", "0"}}));
  EXPECT_EQ(reader->skips().Total(), 0u);
}

TEST(DcgmCsvReaderTest, ColumnsAreFoundByNameInAnyOrderAndCase) {
  auto reader = DcgmCsvReader::Create("value,hostname,UUID,gpu_id,Metric_Name");
  ASSERT_TRUE(reader) << reader.error().ToString();
  auto parsed = reader->ParseLine(R"("1.5","node-7","GPU-abc","2","DCGM_FI_DEV_GPU_TEMP")", 2);
  ASSERT_TRUE(std::holds_alternative<DcgmRow>(parsed));
  const auto& p = std::get<DcgmRow>(parsed).point;
  EXPECT_EQ(p.hostname, "node-7");
  EXPECT_EQ(p.gpu_uuid, "GPU-abc");
  EXPECT_EQ(p.gpu_id, 2);
  EXPECT_EQ(p.metric_name, "DCGM_FI_DEV_GPU_TEMP");
  EXPECT_EQ(p.value, 1.5);
  EXPECT_TRUE(p.device.empty());
  EXPECT_TRUE(std::get<DcgmRow>(parsed).source_timestamp.empty());
}

TEST(DcgmCsvReaderTest, HeaderWithoutARequiredColumnIsRejected) {
  EXPECT_FALSE(DcgmCsvReader::Create("timestamp,metric_name,gpu_id,value"));  // no uuid
  EXPECT_FALSE(DcgmCsvReader::Create("uuid,metric_name,gpu_id"));             // no value
  EXPECT_FALSE(DcgmCsvReader::Create("\"uuid,metric_name"));                  // unterminated
}

TEST(DcgmCsvReaderTest, HostnameFallsBackToTheLabel) {
  auto reader = DcgmCsvReader::Create("uuid,metric_name,gpu_id,value,labels_raw");
  ASSERT_TRUE(reader);
  auto parsed = reader->ParseLine(R"(GPU-1,M,0,1,"hostname=""h9""")", 2);
  ASSERT_TRUE(std::holds_alternative<DcgmRow>(parsed));
  EXPECT_EQ(std::get<DcgmRow>(parsed).point.hostname, "h9");
}

TEST(DcgmCsvReaderTest, MalformedLabelsKeepTheRowWithoutLabels) {
  auto reader = DcgmCsvReader::Create("uuid,metric_name,gpu_id,value,labels_raw");
  ASSERT_TRUE(reader);
  auto parsed = reader->ParseLine(R"(GPU-1,M,0,1,"a=""x")", 2);
  ASSERT_TRUE(std::holds_alternative<DcgmRow>(parsed));
  EXPECT_TRUE(std::get<DcgmRow>(parsed).point.labels.empty());
  EXPECT_EQ(reader->malformed_labels(), 1u);
  EXPECT_EQ(reader->skips().Total(), 0u);
}

// Every kind of bad row: skipped with its reason and line number, and counted.
TEST(DcgmCsvReaderTest, EveryMalformedRowKindIsSkippedAndCounted) {
  struct Case {
    std::string line;
    SkipReason reason;
  };
  const std::vector<Case> cases = {
      {Row("M", "0", ""), SkipReason::kMissingUuid},
      {Row("M", "0", "   "), SkipReason::kMissingUuid},
      {Row(""), SkipReason::kMissingMetric},
      {Row("M", ""), SkipReason::kBadGpuId},
      {Row("M", "x1"), SkipReason::kBadGpuId},
      {Row("M", "1.5"), SkipReason::kBadGpuId},
      {Row("M", "99999999999"), SkipReason::kBadGpuId},
      {Row("M", "0", "GPU-1", ""), SkipReason::kBadValue},
      {Row("M", "0", "GPU-1", "12abc"), SkipReason::kBadValue},
      {Row("M", "0", "GPU-1", "nan"), SkipReason::kBadValue},
      {Row("M", "0", "GPU-1", "inf"), SkipReason::kBadValue},
      {Row("M", "0", "GPU-1", "1e999"), SkipReason::kBadValue},
      {Row() + ",\"extra\"", SkipReason::kWrongColumnCount},
      {"\"2025-07-18T20:42:34Z\",\"M\",\"0\"", SkipReason::kWrongColumnCount},
      {Row().substr(0, Row().size() - 1), SkipReason::kUnterminatedQuote},
      {"\"a\"b," + Row(), SkipReason::kUnterminatedQuote},
  };
  auto reader = DcgmCsvReader::Create(kHeader);
  ASSERT_TRUE(reader);
  SkipCounts expected;
  for (size_t i = 0; i < cases.size(); ++i) {
    const int64_t line_number = static_cast<int64_t>(i) + 2;
    auto parsed = reader->ParseLine(cases[i].line, line_number);
    ASSERT_TRUE(std::holds_alternative<RowSkip>(parsed)) << "case " << i << ": " << cases[i].line;
    const RowSkip& skip = std::get<RowSkip>(parsed);
    EXPECT_EQ(skip.reason, cases[i].reason) << "case " << i << ": " << SkipReasonName(skip.reason);
    EXPECT_EQ(skip.line_number, line_number);
    ++expected.by_reason[static_cast<size_t>(cases[i].reason)];
  }
  EXPECT_EQ(reader->skips().by_reason, expected.by_reason);
  EXPECT_EQ(reader->skips().Total(), cases.size());
}

TEST(ReadDcgmCsvTest, GoodRowsFlowBadRowsAreCountedBlankLinesIgnored) {
  std::stringstream in(std::string(kHeader) + "\r\n" + Row() + "\r\n\r\n" + Row("M", "0", "") + "\n" + Row("M2") +
                       "\n");
  std::vector<DcgmRow> rows;
  auto summary = ReadDcgmCsv(in, [&](DcgmRow&& r) { rows.push_back(std::move(r)); });
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(summary->rows, 2u);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].point.metric_name, "M2");
  EXPECT_EQ(summary->skips.Of(SkipReason::kMissingUuid), 1u);
  EXPECT_EQ(summary->skips.Total(), 1u);
}

TEST(ReadDcgmCsvTest, EmptyInputHasNoHeader) {
  std::stringstream in("");
  EXPECT_FALSE(ReadDcgmCsv(in, [](DcgmRow&&) {}));
}

// The real export from shared/data: 247 GPUs on 31 hosts, ten fields each.
TEST(ReadDcgmCsvTest, SampleExportYieldsEveryPoint) {
  const std::filesystem::path path = TELEMQ_DCGM_SAMPLE_CSV;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "sample export absent: " << path;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in);
  std::set<std::string> uuids, hosts, metrics, timestamps;
  uint64_t points = 0;
  auto summary = ReadDcgmCsv(in, [&](DcgmRow&& r) {
    ++points;
    uuids.insert(r.point.gpu_uuid);
    hosts.insert(r.point.hostname);
    metrics.insert(r.point.metric_name);
    timestamps.insert(r.source_timestamp);
    EXPECT_FALSE(r.point.labels.empty());
  });
  ASSERT_TRUE(summary) << summary.error().ToString();
  EXPECT_EQ(points, 2470u);
  EXPECT_EQ(summary->rows, 2470u);
  EXPECT_EQ(uuids.size(), 247u);
  EXPECT_EQ(hosts.size(), 31u);
  EXPECT_EQ(metrics.size(), 10u);
  EXPECT_EQ(summary->skips.Total(), 0u);
  EXPECT_EQ(summary->malformed_labels, 0u);
  EXPECT_FALSE(timestamps.empty());
}

}  // namespace
}  // namespace telemq::telemetry
