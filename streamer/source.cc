#include "streamer/source.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

namespace telemq::streamer {

using telemetry::DcgmRow;
using telemetry::TelemetryPoint;

Result<std::unique_ptr<CsvSource>> CsvSource::Load(std::istream& in) {
  std::unique_ptr<CsvSource> source(new CsvSource());
  struct HostBuild {
    std::vector<StoredSnapshot> snapshots;
    // Per CSV timestamp, the snapshots holding its rows (more than one only
    // when a (GPU, metric) repeats), and the (GPU, metric) pairs each holds.
    std::map<std::string, std::vector<size_t>, std::less<>> by_timestamp;
    std::vector<std::set<std::pair<uint32_t, std::string>>> keys;
  };
  std::map<std::string, HostBuild, std::less<>> hosts;
  std::unordered_map<std::string, uint32_t> gpu_index;
  auto summary = telemetry::ReadDcgmCsv(in, [&](DcgmRow&& row) {
    auto [git, fresh] = gpu_index.try_emplace(row.point.gpu_uuid, static_cast<uint32_t>(gpu_index.size()));
    const uint32_t gpu = git->second;
    HostBuild& host = hosts[row.point.hostname];
    auto& group = host.by_timestamp[row.source_timestamp];
    std::pair<uint32_t, std::string> key(gpu, row.point.metric_name);
    size_t target = SIZE_MAX;
    for (size_t s : group) {
      if (!host.keys[s].contains(key)) {
        target = s;
        break;
      }
    }
    if (target == SIZE_MAX) {
      target = host.snapshots.size();
      host.snapshots.push_back({.source_timestamp = row.source_timestamp});
      host.keys.emplace_back();
      group.push_back(target);
    }
    host.keys[target].insert(std::move(key));
    host.snapshots[target].points.push_back(std::move(row.point));
    host.snapshots[target].gpus.push_back(gpu);
  });
  if (!summary) return tl::unexpected(summary.error());
  source->summary_ = *summary;
  source->gpu_count_ = gpu_index.size();
  for (auto& [name, host] : hosts) {
    source->hosts_.push_back(name);
    source->snapshots_.push_back(std::move(host.snapshots));
  }
  return source;
}

Result<std::unique_ptr<CsvSource>> CsvSource::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kNotFound, "cannot open CSV source '" + path + "'");
  auto source = Load(in);
  if (!source) return Fail(source.error().code(), path + ": " + source.error().message());
  return source;
}

Snapshot CsvSource::Get(size_t host, uint64_t n, int64_t /*time_us*/) {
  auto& list = snapshots_[host];
  StoredSnapshot& s = list[n % list.size()];
  return {s.points, s.gpus};
}

SyntheticSource::SyntheticSource(const SourceSpec& spec)
    : fleet_(spec.hosts, spec.gpus, spec.seed), gpus_per_host_(spec.gpus) {
  for (size_t i = 0; i < fleet_.gpus().size(); i += static_cast<size_t>(gpus_per_host_)) {
    hosts_.push_back(fleet_.gpus()[i].hostname);
  }
  gpu_count_ = fleet_.gpus().size();
  points_.resize(static_cast<size_t>(gpus_per_host_) * telemetry::kDcgmFieldCount);
  gpus_.resize(points_.size());
}

Snapshot SyntheticSource::Get(size_t host, uint64_t /*n*/, int64_t time_us) {
  // Sampled over the previous snapshot's points: their strings keep their
  // memory, so a warm source allocates nothing.
  const size_t first = host * static_cast<size_t>(gpus_per_host_);
  for (size_t i = 0; i < static_cast<size_t>(gpus_per_host_); ++i) {
    const size_t at = i * telemetry::kDcgmFieldCount;
    fleet_.SampleGpuInto(first + i, static_cast<double>(time_us) / 1e6,
                         std::span(points_).subspan(at, telemetry::kDcgmFieldCount));
    std::fill_n(gpus_.begin() + static_cast<ptrdiff_t>(at), telemetry::kDcgmFieldCount,
                static_cast<uint32_t>(first + i));
  }
  return {points_, gpus_};
}

}  // namespace telemq::streamer
