#pragma once
// Test helpers for the storage unit tests: a temporary directory that cleans
// up after itself, and record batches built with the real wire builder.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "broker/storage/file_system.h"
#include "broker/storage/partition_log.h"
#include "telemq/wire/record_batch.h"
#include "tests/support/temp_dir.h"

namespace telemq::storage::testing {

// A scratch directory for one test (removed on destruction).
class TempDir : public telemq::testing::TempDir {
 public:
  TempDir() : telemq::testing::TempDir("telemq-storage") {}
};

// A batch of `records` records with timestamps ts_ms, ts_ms+1, ... and
// values of `value_bytes` bytes.
inline std::vector<std::byte> MakeBatch(int records, int64_t ts_ms, size_t value_bytes = 100) {
  wire::BatchBuilder builder;
  const std::string value(value_bytes, 'v');
  for (int i = 0; i < records; ++i) builder.Add(ts_ms + i, std::string_view("key"), std::string_view(value));
  auto batch = builder.Finish();
  EXPECT_TRUE(batch.has_value());
  return std::move(*batch);
}

// Reads every byte of a ReadResult through the FileRanges, as the server will.
inline std::vector<std::byte> ReadAll(const ReadResult& result) {
  std::vector<std::byte> out(result.total_bytes);
  size_t at = 0;
  for (const auto& range : result.ranges) {
    auto n = range.file->PRead(range.position, std::span<std::byte>(out).subspan(at, range.size));
    EXPECT_TRUE(n.has_value());
    EXPECT_EQ(*n, range.size);
    at += range.size;
  }
  return out;
}

// The headers of every batch in a ReadResult, each checksum-verified.
inline std::vector<wire::BatchHeader> Headers(const ReadResult& result) {
  std::vector<wire::BatchHeader> headers;
  auto bytes = ReadAll(result);
  wire::BatchIterator it(bytes);
  while (!it.Done()) {
    wire::BatchHeader h;
    auto batch = it.Next(&h);
    EXPECT_TRUE(batch.has_value()) << batch.error().ToString();
    if (!batch) break;
    headers.push_back(h);
  }
  return headers;
}

}  // namespace telemq::storage::testing
