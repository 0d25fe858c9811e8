#include "collector/partition_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "collector/store_format.h"
#include "telemetry/point.h"
#include "telemq/common/log.h"

namespace telemq::collector {

namespace fmt_ = format;
using format::GpuSid;
using format::MetricId;

struct StoreResources {
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
  size_t write_buffer_bytes = 0;
};

std::shared_ptr<StoreResources> MakeStoreResources(const StoreResourcesOptions& options) {
  auto r = std::make_shared<StoreResources>();
  r->block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  r->write_buffers = std::make_shared<rocksdb::WriteBufferManager>(options.memtable_budget_bytes);
  r->write_buffer_bytes = options.write_buffer_bytes;
  return r;
}

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kCorrupt: return "corrupt";
    case RejectReason::kUnsupportedVersion: return "unsupported_version";
    case RejectReason::kNullValue: return "null_value";
    case RejectReason::kKeyMismatch: return "key_mismatch";
    case RejectReason::kDictionaryFull: return "dictionary_full";
  }
  return "unknown";
}

uint64_t ApplyStats::rejected_total() const {
  uint64_t n = 0;
  for (uint64_t r : rejected) n += r;
  return n;
}

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The metric dictionary. The writer keeps a mutable one; readers get
// immutable copies (entries are only ever added, rarely).
struct MetricDict {
  std::vector<std::string> names;  // by id
  std::vector<uint32_t> rank;      // by id: position of the name in sorted order
  std::unordered_map<std::string, MetricId, StringHash, std::equal_to<>> ids;

  void Rank() {
    std::vector<MetricId> order(names.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<MetricId>(i);
    std::sort(order.begin(), order.end(), [&](MetricId a, MetricId b) { return names[a] < names[b]; });
    rank.assign(names.size(), 0);
    for (size_t i = 0; i < order.size(); ++i) rank[order[i]] = static_cast<uint32_t>(i);
  }
};

// What the writer tracks per GPU.
struct GpuState {
  std::string uuid;
  std::shared_ptr<const fmt_::GpuRecord> record;
  bool has_points = false;
  int64_t first_ts = 0;
  int64_t last_ts = 0;
  // The row at last_ts, as stored or about to be: the streamer stamps a
  // GPU's samples with strictly increasing times, so a point later than
  // last_ts starts a new row and one at last_ts joins this one, both known
  // to be new or a rewrite without a read. Written once per batch (not per
  // point) when row_dirty: when the GPU moves to a later time, or by Commit.
  std::vector<fmt_::RowEntry> last_row;
  bool row_dirty = false;
  bool record_dirty = false;  // the 'G' key must be rewritten with the next batch
  bool touched = false;       // readers' view must be refreshed after the next batch
  // Within one Apply, after this GPU's first out-of-order point: the rows
  // written since, so a later point of such a row in the same batch finds
  // it (the database does not show the batch yet).
  bool slow = false;
  std::map<int64_t, std::vector<fmt_::RowEntry>> batch_rows;
};

// Sets `metric` in `row` (ascending by metric); true when it was not there.
bool SetInRow(std::vector<fmt_::RowEntry>& row, MetricId metric, double value) {
  auto it = std::lower_bound(row.begin(), row.end(), metric,
                             [](const fmt_::RowEntry& e, MetricId m) { return e.metric < m; });
  if (it != row.end() && it->metric == metric) {
    it->value = value;
    return false;
  }
  row.insert(it, {metric, value});
  return true;
}

// What readers see of a GPU: refreshed after each batch that touched it.
struct GpuView {
  std::shared_ptr<const fmt_::GpuRecord> record;
  int64_t first_ts = 0;
  int64_t last_ts = 0;
};

Error FromStatus(const rocksdb::Status& s, const std::string& what) {
  Errc code = Errc::kIo;
  if (s.IsCorruption()) code = Errc::kCorrupt;
  if (s.IsNoSpace()) code = Errc::kNoSpace;
  if (s.IsNotFound()) code = Errc::kNotFound;
  return Error(code, what + ": " + s.ToString());
}

GpuSummary Summarize(const std::string& uuid, const GpuView& v, const MetricDict& dict) {
  GpuSummary s;
  s.uuid = uuid;
  s.gpu_id = v.record->gpu_id;
  s.device = v.record->device;
  s.model_name = v.record->model_name;
  s.hostname = v.record->hostname;
  s.first_timestamp_us = v.first_ts;
  s.last_timestamp_us = v.last_ts;
  s.metrics.reserve(v.record->metrics.size());
  for (MetricId m : v.record->metrics) {
    if (m < dict.names.size()) s.metrics.push_back(dict.names[m]);
  }
  std::sort(s.metrics.begin(), s.metrics.end());
  return s;
}

// Rejections are logged, but a flood of corrupt records must not flood the
// log: at most this many lines per Apply, then a summary.
constexpr int kRejectLogLinesPerApply = 5;

}  // namespace

struct PartitionStore::Impl {
  StoreOptions options;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;

  // Lifecycle: readers hold it shared for one query, Close exclusively.
  mutable std::shared_mutex life_mu;
  bool closed = false;  // guarded by life_mu

  // ---- writer state (writer thread only)
  bool failed = false;
  uint64_t topic_id = 0;  // set by Load, then fixed
  Offset applied_w{0};
  uint64_t points_w = 0;
  GpuSid next_sid = 0;
  MetricDict dict_w;
  bool dict_dirty = false;
  std::unordered_map<std::string, std::unique_ptr<GpuState>, StringHash, std::equal_to<>> gpus;
  std::vector<GpuState*> touched;
  GpuState* last_gpu = nullptr;  // consecutive points mostly belong to one GPU

  // ---- reader state
  mutable std::mutex meta_mu;
  std::map<std::string, GpuView, std::less<>> views;  // guarded by meta_mu
  std::shared_ptr<const MetricDict> dict;             // guarded by meta_mu
  std::atomic<int64_t> applied{0};
  std::atomic<uint64_t> points{0};
  std::atomic<size_t> gpu_count{0};

  Result<void> Load();
  Result<void> LoadGpu(const std::string& uuid, fmt_::GpuRecord record);
  Result<void> Commit(rocksdb::WriteBatch* batch, Offset applied_to, uint64_t points_to);
  // Adds the row of `g` at `ts` to `batch` (and to g->batch_rows when slow).
  void PutRow(rocksdb::WriteBatch* batch, GpuState* g, int64_t ts, const std::vector<fmt_::RowEntry>& row);
  std::string row_buf;  // writer thread: PutRow's encoding buffer
  void Publish();
  void Touch(GpuState* g) {
    if (!g->touched) {
      g->touched = true;
      touched.push_back(g);
    }
  }
};

PartitionStore::PartitionStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PartitionStore::~PartitionStore() { Close(); }

Result<std::unique_ptr<PartitionStore>> PartitionStore::Open(const StoreOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto resources = options.resources ? options.resources : MakeStoreResources({});

  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) return Fail(Errc::kIo, "create " + options.path + ": " + ec.message());

  rocksdb::Options o;
  o.create_if_missing = true;
  // lz4 where data is rewritten often, zstd where it comes to rest: the
  // bottommost level holds nearly all of it (docs/collector.md, "Size").
  o.compression = rocksdb::kLZ4Compression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.level_compaction_dynamic_level_bytes = true;
  o.write_buffer_size = resources->write_buffer_bytes;
  o.write_buffer_manager = resources->write_buffers;
  o.max_background_jobs = 2;
  // RocksDB's own LOG files: small and few.
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.max_log_file_size = 1 << 20;
  o.keep_log_file_num = 2;
  o.stats_dump_period_sec = 0;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = resources->block_cache;
  // Larger blocks compress better; a 1000-point page (~15 KB of keys and
  // values before compression) spans one or two of them.
  t.block_size = 16 << 10;
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));

  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(o, options.path, &raw);
  if (!s.ok()) return tl::unexpected(FromStatus(s, "open store " + options.path));
  impl->db.reset(raw);
  // The WAL is off: each batch carries its own offset (see the header).
  impl->write_options.disableWAL = true;
  TELEMQ_TRY(impl->Load());
  return std::unique_ptr<PartitionStore>(new PartitionStore(std::move(impl)));
}

Result<void> PartitionStore::Destroy(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Fail(Errc::kIo, "remove " + path + ": " + ec.message());
  return Ok();
}

Result<void> PartitionStore::Impl::Load() {
  rocksdb::ReadOptions ro;
  std::string value;
  auto s = db->Get(ro, rocksdb::Slice(fmt_::kVersionKey.data(), fmt_::kVersionKey.size()), &value);
  if (s.IsNotFound()) {
    // A new store, unless it already holds something without a version.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    it->SeekToFirst();
    if (it->Valid()) return Fail(Errc::kCorrupt, options.path + ": store without a version record");
    // Version and topic id in one batch, ahead of any data batch: whatever
    // data a crash keeps (memtables persist whole, in order) has them too.
    rocksdb::WriteBatch batch;
    batch.Put(rocksdb::Slice(fmt_::kVersionKey.data(), fmt_::kVersionKey.size()),
              fmt_::EncodeVersionRecord({fmt_::kFormatVersion, options.topic}));
    if (options.topic_id != 0) {
      batch.Put(rocksdb::Slice(fmt_::kTopicIdKey.data(), fmt_::kTopicIdKey.size()),
                fmt_::EncodeTopicId(options.topic_id));
      topic_id = options.topic_id;
    }
    auto w = db->Write(write_options, &batch);
    if (!w.ok()) return tl::unexpected(FromStatus(w, "write version"));
  } else if (!s.ok()) {
    return tl::unexpected(FromStatus(s, "read version"));
  } else {
    TELEMQ_ASSIGN_OR_RETURN(auto v, fmt_::DecodeVersionRecord(value));
    if (v.version != fmt_::kFormatVersion) {
      return Fail(Errc::kUnsupportedVersion, options.path + ": store format version " + std::to_string(v.version) +
                                                 ", this collector reads " + std::to_string(fmt_::kFormatVersion));
    }
    if (v.topic != options.topic) {
      return Fail(Errc::kInvalidArgument,
                  options.path + ": store of topic '" + v.topic + "', not '" + options.topic + "'");
    }
    s = db->Get(ro, rocksdb::Slice(fmt_::kTopicIdKey.data(), fmt_::kTopicIdKey.size()), &value);
    if (s.ok()) {
      TELEMQ_ASSIGN_OR_RETURN(topic_id, fmt_::DecodeTopicId(value));
    } else if (!s.IsNotFound()) {
      return tl::unexpected(FromStatus(s, "read topic id"));
    } else if (options.topic_id != 0) {
      // Written before topic ids: taken as built from the incarnation the
      // caller names (its offsets are still checked against the log).
      auto w = db->Put(write_options, rocksdb::Slice(fmt_::kTopicIdKey.data(), fmt_::kTopicIdKey.size()),
                       fmt_::EncodeTopicId(options.topic_id));
      if (!w.ok()) return tl::unexpected(FromStatus(w, "write topic id"));
      topic_id = options.topic_id;
    }
  }

  s = db->Get(ro, rocksdb::Slice(fmt_::kOffsetKey.data(), fmt_::kOffsetKey.size()), &value);
  if (s.ok()) {
    TELEMQ_ASSIGN_OR_RETURN(auto o, fmt_::DecodeOffsetRecord(value));
    applied_w = o.applied;
    points_w = o.points;
  } else if (!s.IsNotFound()) {
    return tl::unexpected(FromStatus(s, "read offset"));
  }

  // Metric dictionary.
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    const std::string prefix(1, fmt_::kMetricPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      TELEMQ_ASSIGN_OR_RETURN(MetricId id, fmt_::DecodeMetricId(it->value().ToStringView()));
      std::string name(it->key().ToStringView().substr(1));
      if (id >= dict_w.names.size()) dict_w.names.resize(id + 1);
      if (!dict_w.names[id].empty() || dict_w.ids.count(name)) {
        return Fail(Errc::kCorrupt, options.path + ": metric id " + std::to_string(id) + " used twice");
      }
      dict_w.names[id] = name;
      dict_w.ids.emplace(std::move(name), id);
    }
    if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "read metrics"));
    if (dict_w.ids.size() != dict_w.names.size()) return Fail(Errc::kCorrupt, options.path + ": metric ids not dense");
    dict_w.Rank();
  }

  // GPUs, with first/last timestamps read from their data keys.
  std::vector<std::pair<std::string, fmt_::GpuRecord>> records;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    const std::string prefix(1, fmt_::kGpuPrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto r = fmt_::DecodeGpuRecord(it->value().ToStringView());
      if (!r) return Fail(r.error().code(), options.path + ": " + r.error().message());
      records.emplace_back(std::string(it->key().ToStringView().substr(1)), std::move(*r));
    }
    if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "read gpus"));
  }
  std::vector<bool> sid_used;
  for (auto& [uuid, record] : records) {
    if (record.sid >= next_sid) next_sid = record.sid + 1;
    for (MetricId m : record.metrics) {
      if (m >= dict_w.names.size()) return Fail(Errc::kCorrupt, options.path + ": gpu " + uuid + " has unknown metric");
    }
    TELEMQ_TRY(LoadGpu(uuid, std::move(record)));
  }
  std::map<GpuSid, std::string> sids;
  for (const auto& [uuid, g] : gpus) {
    if (!sids.emplace(g->record->sid, uuid).second) {
      return Fail(Errc::kCorrupt, options.path + ": gpu id " + std::to_string(g->record->sid) + " used twice");
    }
  }

  dict = std::make_shared<const MetricDict>(dict_w);
  Publish();
  applied.store(applied_w.value());
  points.store(points_w);
  return Ok();
}

Result<void> PartitionStore::Impl::LoadGpu(const std::string& uuid, fmt_::GpuRecord record) {
  const GpuSid sid = record.sid;
  const std::string lower = fmt_::DataLowerBound(sid, std::numeric_limits<int64_t>::min());
  const std::string upper = fmt_::GpuDataEnd(sid);
  rocksdb::Slice lo(lower), hi(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lo;
  ro.iterate_upper_bound = &hi;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  auto g = std::make_unique<GpuState>();
  g->uuid = uuid;
  g->record = std::make_shared<const fmt_::GpuRecord>(std::move(record));
  it->SeekToFirst();
  if (it->Valid()) {
    auto first = fmt_::DecodeDataKey(it->key().ToStringView());
    it->SeekToLast();
    auto last = it->Valid() ? fmt_::DecodeDataKey(it->key().ToStringView()) : std::nullopt;
    if (!first || !last) return Fail(Errc::kCorrupt, options.path + ": malformed data key of gpu " + uuid);
    auto row = fmt_::RowView::Parse(it->value().ToStringView());
    if (!row) return Fail(Errc::kCorrupt, options.path + ": malformed row of gpu " + uuid);
    g->has_points = true;
    g->first_ts = first->timestamp_us;
    g->last_ts = last->timestamp_us;
    g->last_row.reserve(row->size());
    for (size_t i = 0; i < row->size(); ++i) g->last_row.push_back({row->metric(i), row->value(i)});
  }
  if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "read gpu " + uuid));
  if (!g->has_points) {
    // Cannot happen through Apply/Expire (a GPU record and its points are
    // written and deleted in the same batch); a leftover is dropped.
    log::Warn("gpu has no points; forgetting it", {{"path", options.path}, {"gpu", uuid}});
    auto s = db->Delete(write_options, fmt_::GpuKey(uuid));
    if (!s.ok()) return tl::unexpected(FromStatus(s, "delete gpu"));
    return Ok();
  }
  GpuState* p = g.get();
  gpus.emplace(uuid, std::move(g));
  Touch(p);
  return Ok();
}

void PartitionStore::Impl::Publish() {
  std::lock_guard lock(meta_mu);
  for (GpuState* g : touched) {
    g->touched = false;
    auto it = views.find(g->uuid);
    if (it == views.end()) {
      views.emplace(g->uuid, GpuView{g->record, g->first_ts, g->last_ts});
    } else {
      it->second = GpuView{g->record, g->first_ts, g->last_ts};
    }
  }
  touched.clear();
  gpu_count.store(views.size());
}

// Writes `batch` with the GPU records that changed and the offset record,
// then shows the result to readers. New metric names are shown before the
// write: a reader may then know a name no point uses yet, never the reverse.
Result<void> PartitionStore::Impl::Commit(rocksdb::WriteBatch* batch, Offset applied_to, uint64_t points_to) {
  for (GpuState* g : touched) {
    if (g->row_dirty) {
      PutRow(batch, g, g->last_ts, g->last_row);
      g->row_dirty = false;
    }
  }
  if (batch->Count() == 0 && applied_to == applied_w && points_to == points_w) return Ok();
  for (GpuState* g : touched) {
    if (g->record_dirty) {
      batch->Put(fmt_::GpuKey(g->uuid), fmt_::EncodeGpuRecord(*g->record));
      g->record_dirty = false;
    }
  }
  batch->Put(rocksdb::Slice(fmt_::kOffsetKey.data(), fmt_::kOffsetKey.size()),
             fmt_::EncodeOffsetRecord({applied_to, points_to}));
  if (dict_dirty) {
    auto copy = std::make_shared<MetricDict>(dict_w);
    copy->Rank();
    std::lock_guard lock(meta_mu);
    dict = std::move(copy);
    dict_dirty = false;
  }
  auto s = db->Write(write_options, batch);
  if (!s.ok()) {
    // The writer's caches are now ahead of the disk: refuse further writes
    // until the store is reopened from what is really there.
    failed = true;
    return tl::unexpected(FromStatus(s, "write store " + options.path));
  }
  batch->Clear();
  applied_w = applied_to;
  points_w = points_to;
  Publish();
  applied.store(applied_w.value());
  points.store(points_w);
  return Ok();
}

void PartitionStore::Impl::PutRow(rocksdb::WriteBatch* batch, GpuState* g, int64_t ts,
                                  const std::vector<fmt_::RowEntry>& row) {
  char key[fmt_::kDataKeySize];
  fmt_::EncodeDataKey({g->record->sid, ts}, key);
  fmt_::EncodeRow(row, &row_buf);
  batch->Put(rocksdb::Slice(key, sizeof key), row_buf);
  if (g->slow) g->batch_rows[ts] = row;
}

Result<ApplyStats> PartitionStore::Apply(std::span<const StoreRecord> records) {
  Impl& m = *impl_;
  if (m.failed) return Fail(Errc::kIo, m.options.path + ": an earlier write failed; reopen the store");
  if (m.db == nullptr) return Fail(Errc::kShuttingDown, m.options.path + ": store is closed");
  ApplyStats st;
  rocksdb::WriteBatch batch;
  Offset applied = m.applied_w;
  uint64_t points = m.points_w;
  int log_lines = 0;
  auto reject = [&](RejectReason reason, Offset offset, std::string_view why) {
    ++st.rejected[static_cast<size_t>(reason)];
    if (log_lines++ < kRejectLogLinesPerApply) {
      log::Warn("record skipped",
                {{"path", m.options.path}, {"offset", offset}, {"reason", RejectReasonName(reason)}, {"error", why}});
    }
  };
  std::vector<GpuState*> slow;
  auto end_slow = [&] {
    for (GpuState* g : slow) {
      g->slow = false;
      g->batch_rows.clear();
    }
  };

  for (const StoreRecord& rec : records) {
    if (rec.offset < applied) {
      ++st.redelivered;
      continue;
    }
    if (rec.offset > applied) {
      // Offsets without a record: control batches (every new leader's no-op,
      // so each partition of a new topic and every failover has one). A log
      // cut by retention is found before positioning (PlanRestore), not here.
      log::Debug("offsets hold no record; continuing",
                 {{"path", m.options.path}, {"from_offset", applied}, {"offset", rec.offset}});
    }
    const Offset next = rec.offset + 1;
    applied = next;
    if (!rec.value) {
      reject(RejectReason::kNullValue, rec.offset, "no value");
      continue;
    }
    auto p = telemetry::DecodePointView(*rec.value);
    if (!p) {
      reject(p.error().code() == Errc::kUnsupportedVersion ? RejectReason::kUnsupportedVersion : RejectReason::kCorrupt,
             rec.offset, p.error().message());
      continue;
    }
    if (!rec.key || *rec.key != p->gpu_uuid) {
      reject(RejectReason::kKeyMismatch, rec.offset,
             "record key is not the point's gpu uuid " + std::string(p->gpu_uuid));
      continue;
    }

    // Metric id, creating a dictionary entry in this batch if new.
    MetricId mid;
    if (auto it = m.dict_w.ids.find(p->metric_name); it != m.dict_w.ids.end()) {
      mid = it->second;
    } else {
      if (m.dict_w.names.size() >= fmt_::kMaxMetrics) {
        reject(RejectReason::kDictionaryFull, rec.offset, "65536 metric names in this store");
        continue;
      }
      mid = static_cast<MetricId>(m.dict_w.names.size());
      m.dict_w.names.emplace_back(p->metric_name);
      m.dict_w.ids.emplace(std::string(p->metric_name), mid);
      m.dict_dirty = true;
      batch.Put(fmt_::MetricKey(p->metric_name), fmt_::EncodeMetricId(mid));
    }

    // GPU, creating its record if new.
    GpuState* g = m.last_gpu;
    if (g == nullptr || g->uuid != p->gpu_uuid) {
      auto it = m.gpus.find(p->gpu_uuid);
      if (it != m.gpus.end()) {
        g = it->second.get();
      } else {
        if (m.next_sid == std::numeric_limits<GpuSid>::max()) {
          reject(RejectReason::kDictionaryFull, rec.offset, "2^32 gpus in this store");
          continue;
        }
        auto fresh = std::make_unique<GpuState>();
        fresh->uuid = std::string(p->gpu_uuid);
        auto r = std::make_shared<fmt_::GpuRecord>();
        r->sid = m.next_sid++;
        fresh->record = std::move(r);
        g = fresh.get();
        m.gpus.emplace(std::string(p->gpu_uuid), std::move(fresh));
      }
      m.last_gpu = g;
    }
    {
      const fmt_::GpuRecord& r = *g->record;
      const bool known_metric = std::binary_search(r.metrics.begin(), r.metrics.end(), mid);
      if (!known_metric || r.gpu_id != p->gpu_id || r.device != p->device || r.model_name != p->model_name ||
          r.hostname != p->hostname) {
        auto next_record = std::make_shared<fmt_::GpuRecord>(r);
        next_record->gpu_id = p->gpu_id;
        next_record->device = p->device;
        next_record->model_name = p->model_name;
        next_record->hostname = p->hostname;
        if (!known_metric) {
          next_record->metrics.insert(std::lower_bound(next_record->metrics.begin(), next_record->metrics.end(), mid),
                                      mid);
        }
        g->record = std::move(next_record);
        g->record_dirty = true;
      }
    }

    const int64_t ts = p->timestamp_us;
    bool is_new = true;
    if (!g->has_points || ts > g->last_ts) {
      // A new row; the previous one is complete.
      if (g->row_dirty) m.PutRow(&batch, g, g->last_ts, g->last_row);
      if (!g->has_points) g->first_ts = ts;
      g->has_points = true;
      g->last_ts = ts;
      g->last_row.assign(1, {mid, p->value});
      g->row_dirty = true;
    } else if (ts == g->last_ts) {
      is_new = SetInRow(g->last_row, mid, p->value);
      g->row_dirty = true;
    } else {
      // Before this GPU's newest row: only a read can give the row it
      // joins. Rare (the streamer's times increase per GPU). The first time
      // in an Apply, the records before this one are committed so that reads
      // see them; from then on this GPU's rows written in the batch are
      // remembered, and read from there first.
      if (!g->slow) {
        m.Touch(g);
        TELEMQ_TRY(m.Commit(&batch, rec.offset, points));
        g->slow = true;
        slow.push_back(g);
      }
      std::vector<fmt_::RowEntry> row;
      if (auto it = g->batch_rows.find(ts); it != g->batch_rows.end()) {
        row = it->second;
      } else {
        std::string existing;
        auto s = m.db->Get(rocksdb::ReadOptions(), fmt_::DataLowerBound(g->record->sid, ts), &existing);
        if (s.ok()) {
          auto stored = fmt_::RowView::Parse(existing);
          if (!stored) {
            m.failed = true;
            return Fail(Errc::kCorrupt, m.options.path + ": malformed row of gpu " + g->uuid);
          }
          row.reserve(stored->size() + 1);
          for (size_t i = 0; i < stored->size(); ++i) row.push_back({stored->metric(i), stored->value(i)});
        } else if (!s.IsNotFound()) {
          m.failed = true;
          return tl::unexpected(FromStatus(s, "read store " + m.options.path));
        }
      }
      is_new = SetInRow(row, mid, p->value);
      m.PutRow(&batch, g, ts, row);
      g->first_ts = std::min(g->first_ts, ts);
    }
    m.Touch(g);
    if (is_new) {
      ++points;
      ++st.points;
    } else {
      ++st.overwritten;
    }
  }
  if (log_lines > kRejectLogLinesPerApply) {
    log::Warn("more records skipped in this batch",
              {{"path", m.options.path}, {"record_count", log_lines - kRejectLogLinesPerApply}});
  }
  end_slow();
  TELEMQ_TRY(m.Commit(&batch, applied, points));
  return st;
}

Result<void> PartitionStore::StartAt(Offset offset) {
  Impl& m = *impl_;
  if (m.failed || m.db == nullptr) return Fail(Errc::kShuttingDown, m.options.path + ": store is not writable");
  if (m.points_w != 0 || !m.gpus.empty()) {
    return Fail(Errc::kInvalidArgument, m.options.path + ": StartAt on a store that holds points");
  }
  rocksdb::WriteBatch batch;
  return m.Commit(&batch, offset, 0);
}

Result<void> PartitionStore::SkipTo(Offset offset) {
  Impl& m = *impl_;
  if (m.failed || m.db == nullptr) return Fail(Errc::kShuttingDown, m.options.path + ": store is not writable");
  if (offset <= m.applied_w) return Ok();
  rocksdb::WriteBatch batch;
  return m.Commit(&batch, offset, m.points_w);
}

Result<ExpireStats> PartitionStore::Expire(int64_t cutoff_us) {
  Impl& m = *impl_;
  if (m.failed || m.db == nullptr) return Fail(Errc::kShuttingDown, m.options.path + ": store is not writable");
  ExpireStats es;
  rocksdb::WriteBatch batch;
  std::vector<std::string> removed;
  for (auto& [uuid, gp] : m.gpus) {
    GpuState* g = gp.get();
    if (!g->has_points || g->first_ts >= cutoff_us) continue;
    const GpuSid sid = g->record->sid;
    const bool all = g->last_ts < cutoff_us;
    const std::string lower = fmt_::DataLowerBound(sid, std::numeric_limits<int64_t>::min());
    const std::string gpu_end = fmt_::GpuDataEnd(sid);
    const std::string end = all ? gpu_end : fmt_::DataLowerBound(sid, cutoff_us);
    // Count what goes (the store keeps an exact point count) and find the
    // first point that stays.
    rocksdb::Slice hi(gpu_end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &hi;
    std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(ro));
    uint64_t n = 0;
    for (it->Seek(lower); it->Valid() && it->key().compare(end) < 0; it->Next()) {
      n += fmt_::RowSize(it->value().ToStringView());
    }
    if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "scan for retention"));
    batch.DeleteRange(lower, end);
    es.points += n;
    if (all) {
      batch.Delete(fmt_::GpuKey(uuid));
      removed.push_back(uuid);
    } else {
      auto k = it->Valid() ? fmt_::DecodeDataKey(it->key().ToStringView()) : std::nullopt;
      if (!k) return Fail(Errc::kCorrupt, m.options.path + ": gpu " + uuid + " lost its last point");
      g->first_ts = k->timestamp_us;
      m.Touch(g);
    }
  }
  if (batch.Count() == 0) return es;
  // Removed GPUs must not be published as touched.
  for (const auto& uuid : removed) {
    GpuState* g = m.gpus[uuid].get();
    if (g->touched) {
      m.touched.erase(std::find(m.touched.begin(), m.touched.end(), g));
      g->touched = false;
    }
  }
  TELEMQ_TRY(m.Commit(&batch, m.applied_w, m.points_w - std::min(m.points_w, es.points)));
  if (!removed.empty()) {
    std::lock_guard lock(m.meta_mu);
    for (const auto& uuid : removed) {
      m.views.erase(uuid);
      if (m.last_gpu == m.gpus[uuid].get()) m.last_gpu = nullptr;
      m.gpus.erase(uuid);
    }
    m.gpu_count.store(m.views.size());
  }
  es.gpus = removed.size();
  return es;
}

Result<void> PartitionStore::Flush(FlushMode mode) {
  Impl& m = *impl_;
  if (m.db == nullptr) return Fail(Errc::kShuttingDown, m.options.path + ": store is closed");
  rocksdb::FlushOptions fo;
  fo.wait = mode == FlushMode::kWait;
  fo.allow_write_stall = true;
  auto s = m.db->Flush(fo);
  if (!s.ok()) return tl::unexpected(FromStatus(s, "flush store " + m.options.path));
  return Ok();
}

Result<void> PartitionStore::CompactAll() {
  Impl& m = *impl_;
  TELEMQ_TRY(Flush(FlushMode::kWait));
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  auto s = m.db->CompactRange(cro, nullptr, nullptr);
  if (!s.ok()) return tl::unexpected(FromStatus(s, "compact store " + m.options.path));
  return Ok();
}

Result<uint64_t> PartitionStore::SstBytes() const {
  std::shared_lock life(impl_->life_mu);
  if (impl_->closed) return Fail(Errc::kShuttingDown, "store is closed");
  uint64_t v = 0;
  if (!impl_->db->GetIntProperty("rocksdb.live-sst-files-size", &v)) return Fail(Errc::kIo, "no sst size property");
  return v;
}

void PartitionStore::Close() {
  Impl& m = *impl_;
  std::unique_lock life(m.life_mu);
  if (m.closed) return;
  m.closed = true;
  if (m.db == nullptr) return;
  if (!m.failed) {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    auto s = m.db->Flush(fo);
    if (!s.ok()) log::Error("store flush on close failed", {{"path", m.options.path}, {"error", s.ToString()}});
  }
  auto s = m.db->Close();
  if (!s.ok()) log::Error("store close failed", {{"path", m.options.path}, {"error", s.ToString()}});
  m.db.reset();
}

uint64_t PartitionStore::topic_id() const { return impl_->topic_id; }

StoreStats PartitionStore::Stats() const {
  return StoreStats{Offset(impl_->applied.load()), impl_->points.load(), impl_->gpu_count.load()};
}

Result<std::vector<GpuSummary>> PartitionStore::ListGpus() const {
  std::shared_lock life(impl_->life_mu);
  if (impl_->closed) return Fail(Errc::kShuttingDown, "store is closed");
  std::vector<std::pair<std::string, GpuView>> views;
  std::shared_ptr<const MetricDict> dict;
  {
    std::lock_guard lock(impl_->meta_mu);
    views.assign(impl_->views.begin(), impl_->views.end());
    dict = impl_->dict;
  }
  std::vector<GpuSummary> out;
  out.reserve(views.size());
  for (const auto& [uuid, v] : views) out.push_back(Summarize(uuid, v, *dict));
  return out;
}

Result<GpuSummary> PartitionStore::GetGpu(std::string_view uuid) const {
  std::shared_lock life(impl_->life_mu);
  if (impl_->closed) return Fail(Errc::kShuttingDown, "store is closed");
  std::lock_guard lock(impl_->meta_mu);
  auto it = impl_->views.find(uuid);
  if (it == impl_->views.end()) return Fail(Errc::kNotFound, "gpu " + std::string(uuid) + " not found");
  return Summarize(it->first, it->second, *impl_->dict);
}

Result<LatestResult> PartitionStore::Latest(const LatestQuery& q) const {
  std::shared_lock life(impl_->life_mu);
  if (impl_->closed) return Fail(Errc::kShuttingDown, "store is closed");
  // One iterator (one snapshot) for every GPU, taken before the dictionary
  // and the GPU views, as in QueryWindow: every key it shows is named.
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  std::vector<std::pair<std::string, GpuView>> views;
  std::shared_ptr<const MetricDict> dict;
  {
    std::lock_guard lock(impl_->meta_mu);
    for (const auto& [uuid, v] : impl_->views) {
      if (!q.hostname || v.record->hostname == *q.hostname) views.emplace_back(uuid, v);
    }
    dict = impl_->dict;
  }
  LatestResult out;
  out.names = dict;
  std::optional<MetricId> only;
  if (q.metric) {
    auto m = dict->ids.find(*q.metric);
    if (m == dict->ids.end()) return out;
    only = m->second;
  }
  std::vector<char> seen(dict->names.size());
  for (const auto& [uuid, v] : views) {
    GpuLatest g;
    g.gpu = Summarize(uuid, v, *dict);
    const GpuSid sid = v.record->sid;
    const size_t wanted = only ? 1 : v.record->metrics.size();
    std::fill(seen.begin(), seen.end(), 0);
    size_t found = 0;
    // Takes the metrics of one row not found in a newer one.
    auto take = [&](int64_t ts) -> Result<void> {
      auto row = fmt_::RowView::Parse(it->value().ToStringView());
      if (!row) return Fail(Errc::kCorrupt, "malformed row in gpu range");
      for (size_t i = 0; i < row->size() && found < wanted; ++i) {
        const MetricId mid = row->metric(i);
        if (mid >= dict->names.size()) return Fail(Errc::kCorrupt, "row with an unknown metric id");
        if ((only && mid != *only) || seen[mid]) continue;
        seen[mid] = 1;
        ++found;
        g.points.push_back({dict->names[mid], ts, row->value(i)});
      }
      return Ok();
    };
    // First the newest row (the GPU's last_ts; a snapshot carries every
    // metric): the usual whole answer, one Seek.
    it->Seek(fmt_::DataLowerBound(sid, v.last_ts));
    if (it->Valid()) {
      auto k = fmt_::DecodeDataKey(it->key().ToStringView());
      if (k && k->gpu == sid) TELEMQ_TRY(take(k->timestamp_us));
    }
    if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "latest"));
    // Then, for metrics not in the newest row, backwards from the GPU's
    // newest row until every metric is found or the lookback ends (Prev in
    // a memtable is a skip-list search per key, hence not the first resort).
    if (found < wanted) {
      for (it->SeekForPrev(fmt_::GpuDataEnd(sid)); it->Valid() && found < wanted; it->Prev()) {
        auto k = fmt_::DecodeDataKey(it->key().ToStringView());
        if (!k || k->gpu != sid) break;  // before this GPU's range
        if (k->timestamp_us < v.last_ts - q.lookback_us) break;
        TELEMQ_TRY(take(k->timestamp_us));
      }
    }
    if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "latest"));
    if (g.points.empty()) continue;
    std::sort(g.points.begin(), g.points.end(),
              [](const LatestPoint& a, const LatestPoint& b) { return a.metric < b.metric; });
    out.gpus.push_back(std::move(g));
  }
  return out;
}

Result<WindowResult> PartitionStore::QueryWindow(std::string_view uuid, const WindowQuery& q) const {
  std::shared_lock life(impl_->life_mu);
  if (impl_->closed) return Fail(Errc::kShuttingDown, "store is closed");
  GpuSid sid;
  {
    std::lock_guard lock(impl_->meta_mu);
    auto it = impl_->views.find(uuid);
    if (it == impl_->views.end()) return Fail(Errc::kNotFound, "gpu " + std::string(uuid) + " not found");
    sid = it->second.record->sid;
  }
  WindowResult out;
  if (q.start_us && q.end_us && *q.start_us > *q.end_us) return out;
  const size_t limit = std::max<size_t>(q.limit, 1);
  const int64_t step = q.downsample ? std::max<int64_t>(q.downsample->step_us, 1) : 1;
  // Floor division: buckets of negative timestamps too start at k*step.
  auto bucket_of = [step](int64_t ts) {
    const int64_t k = ts / step - ((ts % step) < 0 ? 1 : 0);
    // The first bucket is clipped at INT64_MIN rather than overflow.
    return k < std::numeric_limits<int64_t>::min() / step ? std::numeric_limits<int64_t>::min() : k * step;
  };
  int64_t from = q.start_us.value_or(std::numeric_limits<int64_t>::min());
  if (q.after_us && *q.after_us > from) from = *q.after_us;
  const std::string upper = q.end_us ? fmt_::DataUpperBoundInclusive(sid, *q.end_us) : fmt_::GpuDataEnd(sid);
  rocksdb::Slice hi(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &hi;
  // A downsampled scan reads every row of a long window once, in order:
  // blocks not cached are read ahead in 2 MiB runs, not one by one.
  if (q.downsample) ro.readahead_size = 2 << 20;
  // The iterator (its implicit snapshot) first, the dictionary after: Commit
  // shows new names before it writes, so a dictionary read now names every
  // metric the snapshot holds. The other order lets a batch with a new metric
  // land in between, and its points would look corrupt.
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
  std::shared_ptr<const MetricDict> dict;
  {
    std::lock_guard lock(impl_->meta_mu);
    dict = impl_->dict;
  }
  out.names = dict;
  std::optional<MetricId> only;
  if (q.metric) {
    auto m = dict->ids.find(*q.metric);
    if (m == dict->ids.end()) return out;
    only = m->second;
  }
  out.points.reserve(std::min<size_t>(limit, 4096));

  // Rows order points by metric id, the API by metric name: gather one
  // group (a row, or a bucket of rows when downsampling), then emit it in
  // name order.
  struct Entry {
    uint32_t rank;
    MetricId id;
    double value;
  };
  std::vector<Entry> group;
  // Downsampling: one accumulator per metric id, indexed directly (no
  // search, no allocation per point), and the ids with points in the
  // current bucket, in first-seen order.
  struct Accumulator {
    double sum = 0, min = 0, max = 0, last = 0;
    uint64_t count = 0;
  };
  std::vector<Accumulator> acc;
  std::vector<MetricId> present;
  if (q.downsample) acc.resize(dict->names.size());
  int64_t group_ts = 0;
  bool full = false;
  // Returns true when the scan can stop.
  auto emit = [&]() -> bool {
    if (q.downsample) {
      for (MetricId mid : present) {
        Accumulator& a = acc[mid];
        double v = 0;
        switch (q.downsample->agg) {
          case Aggregation::kAvg: v = a.sum / static_cast<double>(a.count); break;
          case Aggregation::kCount: v = static_cast<double>(a.count); break;
          case Aggregation::kMin: v = a.min; break;
          case Aggregation::kMax: v = a.max; break;
          case Aggregation::kLast: v = a.last; break;
        }
        group.push_back({dict->rank[mid], mid, v});
        a.count = 0;
      }
      present.clear();
    }
    if (q.after_us && group_ts == *q.after_us) {
      if (!q.after_metric) {
        group.clear();
      } else {
        std::erase_if(group, [&](const Entry& e) { return dict->names[e.id] <= *q.after_metric; });
      }
    }
    if (group.empty()) return false;
    if (full) {
      out.more = true;
      return true;
    }
    std::sort(group.begin(), group.end(), [](const Entry& a, const Entry& b) { return a.rank < b.rank; });
    for (const Entry& e : group) {
      if (out.points.size() == limit) {
        out.more = true;
        return true;
      }
      out.points.push_back({group_ts, dict->names[e.id], e.value});
    }
    group.clear();
    full = out.points.size() == limit;
    return false;
  };
  bool stopped = false;
  int64_t bucket_lo = 0, bucket_hi = 0;  // the current bucket, [lo, hi)
  // A cursor inside a bucket resumes at the bucket's start: the bucket's
  // remaining metrics need all of its points.
  // (From the very beginning there is nothing before to resume from, and
  // flooring INT64_MIN would overflow.)
  int64_t seek_from = from;
  if (q.downsample && from > std::numeric_limits<int64_t>::min() + step) {
    seek_from = std::max(bucket_of(from), q.start_us.value_or(std::numeric_limits<int64_t>::min()));
  }
  const size_t metric_count = dict->names.size();
  // Adds one point of the current group (the caller checked the id).
  auto add = [&](MetricId mid, double v) __attribute__((always_inline)) {
    if (!q.downsample) {
      group.push_back({dict->rank[mid], mid, v});
      return;
    }
    Accumulator& a = acc[mid];
    if (a.count == 0) {
      present.push_back(mid);
      a = {v, v, v, v, 1};
      return;
    }
    // Every aggregate at once: cheaper than a branch on the kind per point.
    a.sum += v;
    a.min = std::min(a.min, v);
    a.max = std::max(a.max, v);
    a.last = v;  // rows ascend in time
    ++a.count;
  };
  auto pending = [&] { return q.downsample ? !present.empty() : !group.empty(); };
  for (it->Seek(fmt_::DataLowerBound(sid, seek_from)); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    auto k = fmt_::DecodeDataKey(key.ToStringView());
    if (!k || k->gpu != sid) return Fail(Errc::kCorrupt, "malformed data key in gpu range");
    // Rows ascend in time: a division only when a row leaves the current
    // bucket (a day at 1 s is 86,400 rows, 1,440 buckets).
    int64_t ts = k->timestamp_us;
    if (q.downsample) {
      if (ts < bucket_lo || ts >= bucket_hi) {
        bucket_lo = bucket_of(ts);
        bucket_hi = bucket_lo > std::numeric_limits<int64_t>::max() - step ? std::numeric_limits<int64_t>::max()
                                                                           : bucket_lo + step;
      }
      ts = bucket_lo;
    }
    if (ts != group_ts && pending()) {
      if ((stopped = emit())) break;
      group.clear();
    }
    group_ts = ts;
    auto row = fmt_::RowView::Parse(it->value().ToStringView());
    if (!row) return Fail(Errc::kCorrupt, "malformed row in gpu range");
    // Ids ascend within a row: only the last can be out of the dictionary.
    if (row->metric(row->size() - 1) >= metric_count) return Fail(Errc::kCorrupt, "row with an unknown metric id");
    if (only) {
      const ptrdiff_t i = row->Find(*only);
      if (i >= 0) add(*only, row->value(static_cast<size_t>(i)));
      continue;
    }
    for (size_t i = 0; i < row->size(); ++i) add(row->metric(i), row->value(i));
  }
  if (!it->status().ok()) return tl::unexpected(FromStatus(it->status(), "query"));
  if (!stopped && pending()) emit();
  return out;
}

}  // namespace telemq::collector
