#include "tests/chaos/disk.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "telemq/wire/batch_header.h"
#include "telemq/wire/record_batch.h"
#include "tests/support/str.h"
#include "tests/support/temp_dir.h"

namespace telemq::chaos {

namespace fs = std::filesystem;

namespace {

using ::telemq::testing::Str;

Error Errno(const std::string& what) { return Error(Errc::kIo, what + ": " + std::strerror(errno)); }

std::set<std::string>& Mounted() {
  static std::set<std::string> mounted;
  return mounted;
}

Result<std::vector<std::byte>> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(Errc::kIo, "open " + path);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

Result<void> WriteAt(const std::string& path, uint64_t position, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(Errno("open " + path));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(position + done));
    if (n <= 0) {
      const Error e = Errno("pwrite " + path);
      ::close(fd);
      return tl::unexpected(e);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Ok();
}

Result<void> Zero(const std::string& path, uint64_t from, uint64_t to) {
  if (to <= from) return Ok();
  const std::vector<std::byte> zeros(to - from, std::byte{0});
  return WriteAt(path, from, zeros);
}

// A valid batch of a segment file and where it starts.
struct Located {
  uint64_t position = 0;
  wire::BatchHeader header;
  std::span<const std::byte> bytes;
};

// The batches of a segment up to the first invalid byte (the preallocated
// zeros after the data, or damage).
std::vector<Located> Batches(std::span<const std::byte> file) {
  std::vector<Located> out;
  wire::BatchIterator it(file);
  while (!it.Done()) {
    wire::BatchHeader h;
    auto batch = it.Next(&h);
    if (!batch) break;
    out.push_back({static_cast<uint64_t>(batch->data() - file.data()), h, *batch});
  }
  return out;
}

uint64_t DataEnd(const std::vector<Located>& batches) {
  return batches.empty() ? 0 : batches.back().position + batches.back().bytes.size();
}

// Segment files of one partition directory, oldest first.
std::vector<std::string> Segments(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".log") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // 20-digit base offsets sort as numbers
  return out;
}

// Partition directories of `topic` under data_dir: partition -> path.
std::map<int32_t, fs::path> PartitionDirs(const std::string& data_dir, const std::string& topic) {
  std::map<int32_t, fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data_dir, ec)) {
    if (!e.is_directory()) continue;
    const std::string name = e.path().filename().string();
    if (name.size() <= topic.size() + 1 || name.compare(0, topic.size(), topic) != 0 || name[topic.size()] != '-') {
      continue;
    }
    const std::string digits = name.substr(topic.size() + 1);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    out[std::stoi(digits)] = e.path();
  }
  return out;
}

}  // namespace

bool CanMount() {
  static const bool can = [] {
    if (::geteuid() != 0) return false;
    testing::TempDir dir("telemq-chaos-mount-probe");
    if (::mount("telemq-chaos-probe", dir.path().c_str(), "tmpfs", 0, "size=1m") != 0) return false;
    ::umount2(dir.path().c_str(), MNT_DETACH);
    return true;
  }();
  return can;
}

Result<void> MoveOntoTmpfs(const std::string& data_dir, uint64_t bytes) {
  if (Mounted().count(data_dir)) return Ok();
  const std::string staging = data_dir + ".pre-tmpfs";
  std::error_code ec;
  fs::rename(data_dir, staging, ec);
  if (ec) return Fail(Errc::kIo, "rename " + data_dir + ": " + ec.message());
  fs::create_directories(data_dir, ec);
  if (ec) return Fail(Errc::kIo, "mkdir " + data_dir + ": " + ec.message());
  const std::string options = Str("size=", bytes);
  if (::mount("telemq-chaos", data_dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    const Error e = Errno("mount tmpfs on " + data_dir);
    fs::remove(data_dir, ec);
    fs::rename(staging, data_dir, ec);
    return tl::unexpected(e);
  }
  Mounted().insert(data_dir);
  fs::copy(staging, data_dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return Fail(Errc::kIo, "copy " + staging + " onto the tmpfs: " + ec.message());
  fs::remove_all(staging, ec);
  return Ok();
}

void UnmountTmpfs(const std::string& data_dir) {
  if (!Mounted().count(data_dir)) return;
  ::umount2(data_dir.c_str(), MNT_DETACH);
  Mounted().erase(data_dir);
}

Result<uint64_t> FillWithBallast(const std::string& dir) {
  const std::string path = dir + "/chaos-ballast";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return tl::unexpected(Errno("create " + path));
  std::vector<char> chunk(1 << 20, 'b');
  uint64_t written = 0;
  size_t size = chunk.size();
  while (size > 0) {
    const ssize_t n = ::write(fd, chunk.data(), size);
    if (n > 0) {
      written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno != ENOSPC) {
      const Error e = Errno("write " + path);
      ::close(fd);
      return tl::unexpected(e);
    }
    size /= 2;  // full at this size: fill the rest with smaller writes
    if (size < 512) break;
  }
  ::close(fd);
  return written;
}

void FreeBallast(const std::string& dir) {
  std::error_code ec;
  fs::remove(dir + "/chaos-ballast", ec);
}

Result<std::string> DamageSegment(const std::string& data_dir, const std::string& topic, int32_t partitions,
                                  Damage damage, uint64_t param) {
  const auto dirs = PartitionDirs(data_dir, topic);
  for (int32_t i = 0; i < partitions; ++i) {
    const int32_t p = static_cast<int32_t>((param + static_cast<uint64_t>(i)) % static_cast<uint64_t>(partitions));
    const auto dir = dirs.find(p);
    if (dir == dirs.end()) continue;
    const auto segments = Segments(dir->second);
    if (segments.empty()) continue;
    const std::string& path = segments.back();
    TELEMQ_ASSIGN_OR_RETURN(auto file, ReadWhole(path));
    const auto batches = Batches(file);
    if (batches.empty()) continue;
    const size_t recent = std::min<size_t>(8, batches.size());
    const Located& b = batches[batches.size() - 1 - (param >> 8) % recent];
    const uint64_t end = DataEnd(batches);
    if (damage == Damage::kTruncate) {
      const uint64_t cut = b.position + (param >> 16) % b.bytes.size();
      TELEMQ_TRY(Zero(path, cut, end));
      return Str("cut ", path, " at byte ", cut, " of ", end, " (inside the batch at offset ",
                 b.header.base_offset.value(), ", ", end - cut, " bytes dropped)");
    }
    // Bytes 20.. are magic, checksum and the checksummed part: damage there
    // is detectable. (Base offset and leader term are outside the checksum:
    // a flip there is silent corruption, which no log format without a
    // second checksum could catch; not injected.)
    const uint64_t pos = b.position + 20 + (param >> 16) % (b.bytes.size() - 20);
    std::byte flipped = file[pos] ^ std::byte{0xff};
    TELEMQ_TRY(WriteAt(path, pos, std::span<const std::byte>(&flipped, 1)));
    return Str("flipped byte ", pos, " of ", path, " (batch at offset ", b.header.base_offset.value(), ", byte ",
               pos - b.position, " of ", b.bytes.size(), ")");
  }
  return Fail(Errc::kNotFound, "no segment with data of " + topic + " in " + data_dir);
}

Result<std::string> DropUnsynced(const std::string& data_dir, const std::string& sync_log, uint64_t param) {
  std::map<std::string, uint64_t> synced;
  {
    std::ifstream in(sync_log);
    std::string line;
    while (std::getline(in, line)) {
      const size_t space = line.rfind(' ');
      if (space == std::string::npos) continue;
      try {
        synced[line.substr(0, space)] = std::stoull(line.substr(space + 1));
      } catch (...) {
        // A torn last line of the log (the writer was killed): ignored.
      }
    }
  }
  std::error_code ec;
  const fs::path root = fs::canonical(data_dir, ec);
  if (ec) return Fail(Errc::kIo, "canonical " + data_dir + ": " + ec.message());
  std::mt19937_64 rng(param);
  int files = 0;
  uint64_t dropped = 0;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory() || e.path().filename() == "metadata") continue;
    for (const auto& path : Segments(e.path())) {
      TELEMQ_ASSIGN_OR_RETURN(auto file, ReadWhole(path));
      const uint64_t end = DataEnd(Batches(file));
      const auto it = synced.find(path);
      const uint64_t durable = it == synced.end() ? 0 : it->second;
      if (durable >= end) continue;
      const uint64_t kept = std::uniform_int_distribution<uint64_t>(0, end - durable)(rng);
      if (durable + kept >= end) continue;
      TELEMQ_TRY(Zero(path, durable + kept, end));
      ++files;
      dropped += end - durable - kept;
    }
  }
  // The broker compares this with the kernel's boot id: a mismatch is a reboot.
  std::ofstream(root / "boot_id", std::ios::trunc) << "00000000-0000-0000-0000-c4a05bad0000\n";
  return Str(dropped, " unsynced bytes dropped from ", files, " segment files");
}

Result<std::map<int32_t, ReplicaLog>> ReadReplica(const std::string& data_dir, const std::string& topic) {
  std::map<int32_t, ReplicaLog> out;
  wire::BatchReader reader;
  for (const auto& [partition, dir] : PartitionDirs(data_dir, topic)) {
    ReplicaLog& log = out[partition];
    for (const auto& path : Segments(dir)) {
      TELEMQ_ASSIGN_OR_RETURN(auto file, ReadWhole(path));
      for (const auto& b : Batches(file)) {
        const std::string term = Str("t", b.header.leader_term.value(), "|");
        if (b.header.is_control()) {
          for (int64_t o = b.header.base_offset.value(); o <= b.header.last_offset().value(); ++o) {
            log[o] = term + "<control>";
          }
          continue;
        }
        auto decoded = reader.Decode(b.bytes, b.header, [&](const wire::RecordView& r) {
          log[r.offset.value()] = term + (r.value ? std::string(*r.value) : std::string("<null>"));
        });
        if (!decoded) return Fail(Errc::kCorrupt, path + ": " + decoded.error().ToString());
      }
    }
  }
  return out;
}

}  // namespace telemq::chaos
