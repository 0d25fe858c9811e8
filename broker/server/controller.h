#pragma once
// Controller: the broker's side of the cluster-metadata log (docs/
// replication.md §9). The first three brokers (all of them in a smaller
// cluster) are the voters of a Raft group whose log is partition 0 of the
// reserved topic `__cluster`, run by the same replication::Replica as any
// partition. Every voter applies the committed log, in order, to its
// metadata image (cluster/metadata.h) and persists image and applied offset
// together (cluster::MetadataStore); then the broker reconciles its replicas
// with the image (BrokerState::OnMetadata).
//
// The voter that leads the group is the controller leader. It alone
// proposes: the cluster id once, every broker's registration (learned from
// the address in the broker's peer frames), topics created and deleted by
// clients, and `__consumer_offsets` once enough brokers are registered.
//
// Threading: the controller has its own strand; the image is published as an
// immutable snapshot any thread may read (image()). Propose, Heard and Tick
// may be called from any thread.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "broker/cluster/metadata.h"
#include "broker/cluster/metadata_store.h"
#include "broker/replication/replica.h"
#include "broker/server/replica_seams.h"

namespace telemq::broker {

struct BrokerState;

using ImageRef = std::shared_ptr<const cluster::MetadataImage>;

class Controller : public std::enable_shared_from_this<Controller> {
 public:
  // The controller group's voters (broker ids) for a cluster of `cluster_size`:
  // the first three; every other broker of the cluster is a learner (it
  // holds and applies the log, never votes or leads).
  static std::vector<int32_t> Voters(int32_t cluster_size, int32_t self);
  static std::vector<int32_t> Learners(int32_t cluster_size, int32_t self);

  Controller(BrokerState& state, std::unique_ptr<cluster::MetadataStore> store);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts applying: opens this broker's replica of the controller log.
  [[nodiscard]] Result<void> Start();

  // Any thread.
  ImageRef image() const;
  cluster::MetadataStore& store() { return *store_; }
  bool voter() const { return voter_; }
  const std::vector<int32_t>& voters() const { return voters_; }
  // The controller leader this broker knows of (-1: none) and its term.
  int32_t leader() const;
  int64_t term() const;
  // This broker leads the controller group and may propose.
  bool leading() const;

  // Proposes `command`; `done` runs (on the controller strand) with the image
  // once the command is committed and applied here, or with kNotLeader
  // (naming the leader) when this broker is not the controller leader.
  void Propose(cluster::Command command, std::function<void(Result<ImageRef>)> done);
  // A broker's frames named this address.
  void Heard(int32_t broker, const std::string& host, uint16_t port);
  // Every Raft tick: catches up and, on the leader, proposes what is due.
  void Tick();

 private:
  class ApplyWaiter;

  void CatchUp();
  void Maintain();
  void ProposeOnStrand(cluster::Command command, std::function<void(Result<ImageRef>)> done);
  void Watch();

  BrokerState& state_;
  std::unique_ptr<cluster::MetadataStore> store_;
  std::vector<int32_t> voters_;
  bool voter_ = false;
  StrandExecutor strand_;
  std::shared_ptr<replication::Replica> replica_;
  std::shared_ptr<ApplyWaiter> waiter_;

  mutable std::mutex image_mu_;
  ImageRef image_;  // guarded by image_mu_

  // Strand state.
  cluster::MetadataImage working_;
  cluster::Applied unpersisted_;  // changes not yet written to the store                                         // the
                                  // image being applied to
  std::multimap<int64_t, std::function<void(Result<ImageRef>)>> pending_;  // by proposal offset
  bool init_in_flight_ = false;
  bool offsets_in_flight_ = false;
  std::set<int32_t> registering_;

  std::mutex heard_mu_;
  std::map<int32_t, std::pair<std::string, uint16_t>> heard_;  // guarded by heard_mu_
  std::atomic<bool> tick_posted_{false};
};

}  // namespace telemq::broker
