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

namespace telemq::storage::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/telemq-storage-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    const char* made = ::mkdtemp(buf.data());
    EXPECT_NE(made, nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
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
