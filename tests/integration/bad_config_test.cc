// The broker refuses a config file it does not fully understand: it exits
// non-zero before binding anything, with a message that names the key.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
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

TEST_F(BadConfigTest, BadLogFormatIsRefusedInTheFileAndOnTheCommandLine) {
  auto file = RunWithConfig("log_format: xml\n");
  EXPECT_EQ(file.status.exit_code, 2) << file.output;
  EXPECT_NE(file.output.find("log_format must be text or json"), std::string::npos) << file.output;
  auto flag = RunProgram(
      {BrokerProcess::BinaryPath(), "--log-format", "logfmt", "--port", "0", "--data-dir", dir_.File("data")},
      dir_.File("flag.log"), std::chrono::seconds(10));
  ASSERT_TRUE(flag) << flag.error().ToString();
  EXPECT_EQ(flag->status.exit_code, 2) << flag->output;
  EXPECT_NE(flag->output.find("--log-format"), std::string::npos) << flag->output;
}

// Cluster identity: a malformed peer list, an id without a peer entry, a data
// directory of another broker, and a host name to derive the id from are all
// judged before anything binds, with the reason.
class ClusterIdentityTest : public ::testing::Test {
 protected:
  RunResult Run(std::vector<std::string> args) {
    std::vector<std::string> argv{BrokerProcess::BinaryPath(), "--port", "0", "--data-dir", dir_.File("data")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProgram(argv, dir_.File("out.log"), std::chrono::seconds(10));
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunResult{};
  }
  // The same, in a UTS namespace of its own with host name `host`.
  RunResult RunAsHost(const std::string& host, const std::vector<std::string>& args) {
    std::string command =
        "hostname " + host + " && exec " + BrokerProcess::BinaryPath() + " --port 0 --data-dir " + dir_.File("data");
    for (const auto& a : args) command += " " + a;
    auto r = RunProgram({"/usr/bin/unshare", "--uts", "/bin/sh", "-c", command}, dir_.File("out.log"),
                        std::chrono::seconds(10));
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunResult{};
  }
  TempDir dir_{"telemq-identity"};
};

TEST_F(ClusterIdentityTest, MalformedPeerIsRefusedNamingIt) {
  auto r = Run({"--node-id", "0", "--peers", "127.0.0.1:9092,nonsense"});
  EXPECT_EQ(r.status.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("peers[1] 'nonsense' is not host:port"), std::string::npos) << r.output;
}

TEST_F(ClusterIdentityTest, UnknownFlagOrBadValueExitsTwo) {
  auto unknown = Run({"--bogus-flag", "1"});
  EXPECT_EQ(unknown.status.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--bogus-flag"), std::string::npos) << unknown.output;
  auto bad = Run({"--http-port", "seventy"});
  EXPECT_EQ(bad.status.exit_code, 2) << bad.output;
  auto range = Run({"--http-port", "70000"});
  EXPECT_EQ(range.status.exit_code, 2) << range.output;
  EXPECT_NE(range.output.find("http_port must be within 0..65535"), std::string::npos) << range.output;
}

TEST_F(ClusterIdentityTest, IdWithoutPeerEntryIsRefused) {
  auto r = Run({"--node-id", "3", "--peers", "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"});
  EXPECT_EQ(r.status.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("node_id 3 has no entry in peers"), std::string::npos) << r.output;
}

TEST_F(ClusterIdentityTest, DataDirectoryOfAnotherBrokerRefusesToStart) {
  std::filesystem::create_directories(dir_.File("data"));
  std::ofstream(dir_.File("data/broker_id")) << "0\n";
  auto r = Run({"--node-id", "1", "--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"});
  EXPECT_NE(r.status.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("belongs to broker 0, not broker 1"), std::string::npos) << r.output;
  // Nothing was created next to the foreign id.
  EXPECT_FALSE(std::filesystem::exists(dir_.File("data/metadata")));
}

TEST_F(ClusterIdentityTest, IdComesFromAStatefulSetHostName) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a UTS namespace";
  auto probe = RunProgram({"/usr/bin/unshare", "--uts", "/bin/true"}, dir_.File("probe.log"), std::chrono::seconds(5));
  if (!probe || probe->status.exit_code != 0) GTEST_SKIP() << "cannot create a UTS namespace here";
  // telemq-7 → broker 7, which has no entry in a 3-broker peer list: refused
  // naming the derived id (so it was derived from the host name).
  auto r = RunAsHost("telemq-7", {"--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"});
  EXPECT_NE(r.status.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("broker id 7 has no entry in peers"), std::string::npos) << r.output;
  auto bad = RunAsHost("worker", {"--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"});
  EXPECT_NE(bad.status.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("host name 'worker' does not end in -N"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace telemq::testing
