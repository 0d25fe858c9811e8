#include "broker/server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace telemq::broker {
namespace {

class ConfigFile : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    path_ =
        (std::filesystem::temp_directory_path() / ("telemq-config-" + std::to_string(::getpid()) + ".yaml")).string();
    std::ofstream(path_) << text;
    return path_;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(ConfigFile, KnownKeysAreApplied) {
  auto c = LoadConfigFile(Write("node_id: 3\nport: 0\nfsync: always\nfsync_interval_ms: 5\nsegment_bytes: 1048576\n"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->node_id, 3);
  EXPECT_EQ(c->port, 0);
  EXPECT_EQ(c->fsync, FsyncMode::kAlways);
  EXPECT_EQ(c->fsync_interval.count(), 5);
  EXPECT_EQ(c->segment_bytes, 1048576u);
}

TEST_F(ConfigFile, MetricsPerPartitionIsOnByDefaultAndCanBeTurnedOff) {
  EXPECT_TRUE(BrokerConfig{}.metrics_per_partition);
  auto c = LoadConfigFile(Write("metrics_per_partition: false\n"));
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_FALSE(c->metrics_per_partition);
  auto bad = LoadConfigFile(Write("metrics_per_partition: sometimes\n"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("metrics_per_partition"), std::string::npos);
}

TEST_F(ConfigFile, UnknownKeyIsNamedInTheError) {
  auto c = LoadConfigFile(Write("nodeid: 3\n"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("nodeid"), std::string::npos);
}

TEST_F(ConfigFile, WrongTypeIsNamedInTheError) {
  auto c = LoadConfigFile(Write("port: lots\n"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("port"), std::string::npos);
}

TEST_F(ConfigFile, BadFsyncValueIsRejected) {
  auto c = LoadConfigFile(Write("fsync: sometimes\n"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("fsync"), std::string::npos);
}

TEST_F(ConfigFile, MalformedYamlIsAnError) { EXPECT_FALSE(LoadConfigFile(Write("port: [1, 2\n")).has_value()); }

TEST(ConfigFileMissing, IsNotFound) {
  auto c = LoadConfigFile("/nonexistent/telemq.yaml");
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code(), Errc::kNotFound);
}

TEST(ConfigValidate, RejectsOutOfRangeValues) {
  BrokerConfig c;
  EXPECT_TRUE(Validate(c).has_value());
  c.io_threads = 0;
  EXPECT_FALSE(Validate(c).has_value());
  c = {};
  c.max_frame_bytes = 1000;
  EXPECT_FALSE(Validate(c).has_value());
  c = {};
  c.log_level = "loud";
  EXPECT_FALSE(Validate(c).has_value());
  c = {};
  c.log_format = "json";
  EXPECT_TRUE(Validate(c).has_value());
  c.log_format = "xml";
  EXPECT_FALSE(Validate(c).has_value());
}

}  // namespace
}  // namespace telemq::broker
