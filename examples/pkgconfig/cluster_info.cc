// The client library through pkg-config, in one file:
//
//   c++ -std=c++20 cluster_info.cc $(pkg-config --cflags --libs telemq) -o cluster_info
//   ./cluster_info 127.0.0.1:9092
//
// Prints the cluster's brokers and topics. Exits 1 when the cluster cannot
// be reached.
#include <cstdio>

#include "telemq/admin.h"

int main(int argc, char** argv) {
  telemq::ClientOptions options;
  options.bootstrap_servers = {argc > 1 ? argv[1] : "127.0.0.1:9092"};
  options.client_id = "example-cluster-info";
  auto admin = telemq::Admin::Create(options);
  if (!admin) {
    std::fprintf(stderr, "admin: %s\n", admin.error().ToString().c_str());
    return 1;
  }
  auto cluster = (*admin)->DescribeCluster();
  if (!cluster) {
    std::fprintf(stderr, "describe cluster: %s\n", cluster.error().ToString().c_str());
    return 1;
  }
  std::printf("cluster %s, controller %d\n", cluster->cluster_id.c_str(), cluster->controller_id);
  for (const auto& b : cluster->brokers) std::printf("broker %d at %s:%u\n", b.id, b.host.c_str(), b.port);
  auto topics = (*admin)->ListTopics();
  if (!topics) {
    std::fprintf(stderr, "list topics: %s\n", topics.error().ToString().c_str());
    return 1;
  }
  for (const auto& t : *topics) std::printf("topic %s\n", t.c_str());
  return 0;
}
