#include "broker/server/controller.h"

#include <random>

#include "broker/server/broker_state.h"
#include "telemq/common/log.h"
#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"

namespace telemq::broker {

class Controller::ApplyWaiter final : public replication::Waiter {
 public:
  explicit ApplyWaiter(std::weak_ptr<Controller> controller) : controller_(std::move(controller)) {}
  void Wake() override {
    if (auto c = controller_.lock()) {
      c->strand_.Post([c] { c->CatchUp(); });
    }
  }

 private:
  std::weak_ptr<Controller> controller_;
};

std::vector<int32_t> Controller::Voters(int32_t cluster_size, int32_t self) {
  if (cluster_size <= 1) return {self};
  std::vector<int32_t> out;
  for (int32_t id = 0; id < std::min<int32_t>(cluster_size, 3); ++id) out.push_back(id);
  return out;
}

std::vector<int32_t> Controller::Learners(int32_t cluster_size, int32_t self) {
  std::vector<int32_t> out;
  for (int32_t id = 3; id < cluster_size; ++id) out.push_back(id);
  return out;
}

Controller::Controller(BrokerState& state, std::unique_ptr<cluster::MetadataStore> store)
    : state_(state), store_(std::move(store)), strand_(state.io) {
  voters_ = Voters(state.cluster_size(), state.config.node_id);
  voter_ = std::find(voters_.begin(), voters_.end(), state.config.node_id) != voters_.end();
  working_ = store_->loaded();
  image_ = std::make_shared<const cluster::MetadataImage>(working_);
}

Controller::~Controller() = default;

Result<void> Controller::Start() {
  TELEMQ_ASSIGN_OR_RETURN(
      replica_, state_.OpenControllerReplica(voters_, Learners(state_.cluster_size(), state_.config.node_id)));
  waiter_ = std::make_shared<ApplyWaiter>(weak_from_this());
  strand_.Post([self = shared_from_this()] { self->CatchUp(); });
  return Ok();
}

ImageRef Controller::image() const {
  std::lock_guard lock(image_mu_);
  return image_;
}

int32_t Controller::leader() const { return replica_ ? cluster::BrokerOf(replica_->leader()) : -1; }
int64_t Controller::term() const { return replica_ ? replica_->term().value() : 0; }
bool Controller::leading() const { return replica_ && replica_->serving(); }

void Controller::Watch() {
  // Parks the waiter; if the high watermark moved past what was applied
  // meanwhile, wakes at once (the replica wakes waiters only on movement).
  auto replica = replica_;
  const int64_t seen = working_.applied;
  replica->executor().Post([replica, waiter = waiter_, seen] {
    if (replica->high_watermark().value() > seen + 1) {
      waiter->Wake();
    } else {
      replica->AddWaiter(waiter);
    }
  });
}

void Controller::CatchUp() {
  if (!replica_) return;
  const Offset hwm = replica_->high_watermark();
  storage::PartitionLog& log = replica_->log();
  Offset from(working_.applied + 1);
  if (from < log.log_start_offset()) from = log.log_start_offset();
  cluster::Applied changed;
  bool any = false;
  auto status = ReadLogRecords(log, from, hwm, [&](const wire::BatchHeader& h, const wire::RecordView* r) {
    any = true;
    if (r == nullptr) {  // a control batch (a leader's no-op): nothing to apply
      working_.applied = std::max(working_.applied, h.last_offset().value());
      return;
    }
    const int64_t offset = r->offset.value();
    auto command = r->value ? cluster::DecodeCommand(*r->value)
                            : Result<cluster::Command>(Fail(Errc::kCorrupt, "record without a value"));
    if (!command) {
      // Every voter reads the same committed bytes and skips alike.
      log::Error("controller log entry skipped", {{"offset", offset}, {"error", command.error().ToString()}});
      working_.applied = offset;
      return;
    }
    auto applied = cluster::Apply(working_, *command, offset);
    if (!applied.refused.empty())
      log::Info("controller command refused", {{"offset", offset}, {"reason", applied.refused}});
    changed.cluster_id |= applied.cluster_id;
    changed.brokers.insert(applied.brokers.begin(), applied.brokers.end());
    changed.topics.insert(applied.topics.begin(), applied.topics.end());
  });
  if (!status) {
    log::Error("controller: reading the metadata log failed; retrying at the next tick",
               {{"error", status.error().ToString()}});
  }
  if (any) {
    // Everything changed since the last successful write goes in this one:
    // a failed write must not let a later one move the stored offset past
    // changes it never stored.
    unpersisted_.cluster_id |= changed.cluster_id;
    unpersisted_.brokers.insert(changed.brokers.begin(), changed.brokers.end());
    unpersisted_.topics.insert(changed.topics.begin(), changed.topics.end());
    if (auto persisted = store_->Persist(working_, unpersisted_); !persisted) {
      // The store lags the image in memory until a later write succeeds;
      // a restart meanwhile replays from the store's offset (apply is
      // deterministic).
      log::Error("controller: persisting metadata failed; retrying with the next change",
                 {{"error", persisted.error().ToString()}});
    } else {
      unpersisted_ = cluster::Applied{};
    }
    auto snapshot = std::make_shared<const cluster::MetadataImage>(working_);
    {
      std::lock_guard lock(image_mu_);
      image_ = snapshot;
    }
    if (!changed.brokers.empty() || !changed.topics.empty() || changed.cluster_id) state_.OnMetadata(snapshot);
  }
  // Proposals whose command is applied (possibly by an earlier catch-up:
  // the commit can wake the applier before the proposal's answer arrives).
  if (!pending_.empty() && pending_.begin()->first <= working_.applied) {
    auto snapshot = image();
    while (!pending_.empty() && pending_.begin()->first <= working_.applied) {
      auto done = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      done(snapshot);
    }
  }
  // After a read error the next tick retries (Tick calls CatchUp): parking
  // now would wake at once, the watermark being ahead, and spin.
  if (status) Watch();
}

void Controller::Tick() {
  if (tick_posted_.exchange(true)) return;
  strand_.Post([self = shared_from_this()] {
    self->tick_posted_ = false;
    self->CatchUp();
    self->Maintain();
  });
}

void Controller::Heard(int32_t broker, const std::string& host, uint16_t port) {
  std::lock_guard lock(heard_mu_);
  heard_[broker] = {host, port};
}

void Controller::Propose(cluster::Command command, std::function<void(Result<ImageRef>)> done) {
  strand_.Post([self = shared_from_this(), command = std::move(command), done = std::move(done)]() mutable {
    self->ProposeOnStrand(std::move(command), std::move(done));
  });
}

void Controller::ProposeOnStrand(cluster::Command command, std::function<void(Result<ImageRef>)> done) {
  if (!leading()) {
    const int32_t known = leader();
    done(Fail(Errc::kNotLeader, known >= 0 && known != state_.config.node_id
                                    ? "broker " + std::to_string(known) + " is the controller leader"
                                    : "no controller leader is known yet"));
    return;
  }
  wire::BatchBuilder builder;
  builder.Add(NowMs(), std::nullopt, cluster::EncodeCommand(command));
  auto built = builder.Finish();
  if (!built) return done(tl::unexpected(built.error()));
  auto bytes = std::make_shared<std::vector<std::byte>>(std::move(*built));
  auto header = wire::DecodeHeader(*bytes);
  if (!header) return done(tl::unexpected(header.error()));
  replication::ProduceBatch batch{std::span<std::byte>(*bytes), *header};
  auto replica = replica_;
  replica->executor().Post([self = shared_from_this(), replica, batch, bytes, done = std::move(done)]() mutable {
    replica->Produce({batch}, bytes, replication::Acks::kAll,
                     [self, done = std::move(done)](replication::ProduceResult r) mutable {
                       self->strand_.Post([self, r = std::move(r), done = std::move(done)]() mutable {
                         if (r.error != Errc::kOk) return done(Fail(r.error, r.message));
                         self->pending_.emplace(r.base_offset.value(), std::move(done));
                         self->CatchUp();
                       });
                     });
  });
}

void Controller::Maintain() {
  if (!leading()) {
    registering_.clear();
    return;
  }
  auto self = shared_from_this();
  if (working_.cluster_id.empty()) {
    if (!init_in_flight_) {
      init_in_flight_ = true;
      std::random_device rd;
      char buf[33];
      std::snprintf(buf, sizeof(buf), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
      ProposeOnStrand(cluster::InitCluster{buf}, [self](Result<ImageRef> r) {
        self->init_in_flight_ = false;
        if (r) log::Info("cluster id", {{"cluster", (*r)->cluster_id}});
      });
    }
    return;
  }
  // Registrations: this broker's own address and what peers' frames said.
  std::map<int32_t, std::pair<std::string, uint16_t>> addresses;
  {
    std::lock_guard lock(heard_mu_);
    addresses = heard_;
  }
  addresses[state_.config.node_id] = {state_.advertised_host, state_.advertised_port};
  for (const auto& [id, address] : addresses) {
    if (address.first.empty() || address.second == 0 || registering_.count(id)) continue;
    auto it = working_.brokers.find(id);
    if (it != working_.brokers.end() && it->second.host == address.first && it->second.port == address.second) continue;
    registering_.insert(id);
    ProposeOnStrand(cluster::RegisterBroker{{id, address.first, address.second}}, [self, id](Result<ImageRef> r) {
      self->registering_.erase(id);
      if (r) {
        const auto& b = (*r)->brokers.at(id);
        log::Info("broker registered", {{"broker", id}, {"host", b.host}, {"port", b.port}});
      }
    });
  }
  // The group-state topic, once the brokers expected to hold it are there.
  const std::string offsets(cluster::kOffsetsTopic);
  if (!working_.Find(offsets) && !offsets_in_flight_) {
    const int32_t rf = std::min<int32_t>(3, state_.cluster_size());
    std::vector<int32_t> live;
    for (const auto& [id, b] : working_.brokers) {
      if (state_.transport->IsLive(id)) live.push_back(id);
    }
    if (static_cast<int32_t>(live.size()) >= rf) {
      cluster::TopicSpec spec = state_.OffsetsTopicSpec();
      spec.replication_factor = static_cast<int16_t>(rf);
      auto placed = cluster::PlaceReplicas(working_, live, spec.partitions, spec.replication_factor);
      if (placed) {
        offsets_in_flight_ = true;
        ProposeOnStrand(cluster::CreateTopic{offsets, spec, *placed}, [self](Result<ImageRef> r) {
          self->offsets_in_flight_ = false;
          if (!r)
            log::Warn("creating topic failed", {{"topic", cluster::kOffsetsTopic}, {"error", r.error().ToString()}});
        });
      }
    }
  }
}

}  // namespace telemq::broker
