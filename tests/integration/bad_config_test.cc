// The broker refuses a config file it does not fully understand: it exits
// non-zero before binding anything, with a message that names the key.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/broker_process.h"

namespace telemq::testing {
namespace {

class BadConfigTest : public ::testing::Test {
 protected:
  // Runs the broker with `yaml` as its config file.
  RunResult RunWithConfig(const std::string& yaml) {
    const std::string path = dir_.File("broker.yaml");
    std::ofstream(path) << yaml;
    auto r = RunProgram({BrokerProcess::BinaryPath(), "--config", path, "--port", "0", "--data-dir", dir_.File("data")},
                        dir_.File("out.log"), std::chrono::seconds(10));
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunResult{};
  }
  TempDir dir_{"telemq-config"};
};

TEST_F(BadConfigTest, UnknownKeyIsRefusedNamingTheKey) {
  auto r = RunWithConfig("segment_bytes: 1048576\nfsync_intervall_ms: 5\n");
  EXPECT_FALSE(r.status.signaled) << r.status.ToString();
  EXPECT_NE(r.status.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fsync_intervall_ms"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unknown key"), std::string::npos) << r.output;
}

TEST_F(BadConfigTest, WrongTypeIsRefusedNamingTheKey) {
  auto r = RunWithConfig("io_threads: lots\n");
  EXPECT_FALSE(r.status.signaled) << r.status.ToString();
  EXPECT_NE(r.status.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("io_threads"), std::string::npos) << r.output;
}

TEST_F(BadConfigTest, BadEnumValueIsRefusedNamingTheKey) {
  auto r = RunWithConfig("fsync: sometimes\n");
  EXPECT_NE(r.status.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fsync"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sometimes"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace telemq::testing
