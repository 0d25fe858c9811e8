// libtelemq_chaos_sync_shim.so: an LD_PRELOAD library for the chaos suite's
// power-loss fault. It watches the broker's pwrite/ftruncate/fdatasync/fsync
// calls on segment files (*.log) and appends, after every successful sync,
// "<path> <bytes>\n" to $TELEMQ_CHAOS_SYNC_LOG: the file's data up to <bytes>
// is on disk. What was written past that point when the broker is killed is
// what a power loss may drop (disk.h, DropUnsynced).
//
// Per descriptor it keeps the end of the furthest write since open (a
// segment has one writer descriptor; a sync covers every write made before
// the call, which is also what PartitionLog::Sync promises). A sync on a
// descriptor that wrote nothing records nothing (it says nothing new). Only
// descriptors below kMaxFds are tracked. Without the variable it does
// nothing but forward the calls.

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace {

constexpr int kMaxFds = 8192;
std::atomic<int64_t> g_written[kMaxFds];

int LogFd() {
  static const int fd = [] {
    const char* path = getenv("TELEMQ_CHAOS_SYNC_LOG");
    if (path == nullptr || *path == '\0') return -1;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }();
  return fd;
}

bool IsSegment(const char* path, size_t n) { return n > 4 && strcmp(path + n - 4, ".log") == 0; }

void NoteWrite(int fd, int64_t end) {
  if (fd < 0 || fd >= kMaxFds || LogFd() < 0) return;
  int64_t seen = g_written[fd].load(std::memory_order_relaxed);
  while (end > seen && !g_written[fd].compare_exchange_weak(seen, end)) {
  }
}

// After a successful sync of `fd`: everything written through it before the
// call (`written`) is durable.
void NoteSync(int fd, int64_t written) {
  if (fd < 0 || fd >= kMaxFds || written <= 0 || LogFd() < 0) return;
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char path[4096];
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return;
  path[n] = '\0';
  if (!IsSegment(path, static_cast<size_t>(n))) return;
  char line[4200];
  const int len = snprintf(line, sizeof(line), "%s %lld\n", path, static_cast<long long>(written));
  if (len > 0 && len < static_cast<int>(sizeof(line))) {
    ssize_t ignored = write(LogFd(), line, static_cast<size_t>(len));  // one O_APPEND write: atomic
    (void)ignored;
  }
}

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static const auto real = Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  const ssize_t n = real(fd, buf, count, offset);
  if (n > 0) NoteWrite(fd, static_cast<int64_t>(offset) + n);
  return n;
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  static const auto real = Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  const ssize_t n = real(fd, buf, count, offset);
  if (n > 0) NoteWrite(fd, static_cast<int64_t>(offset) + n);
  return n;
}

int ftruncate(int fd, off_t length) {
  static const auto real = Next<int (*)(int, off_t)>("ftruncate");
  const int rc = real(fd, length);
  if (rc == 0 && fd >= 0 && fd < kMaxFds) {
    // A cut makes the data end the new length (a later sync records it).
    int64_t seen = g_written[fd].load();
    while (seen > length && !g_written[fd].compare_exchange_weak(seen, length)) {
    }
  }
  return rc;
}

int fdatasync(int fd) {
  static const auto real = Next<int (*)(int)>("fdatasync");
  const int64_t written = fd >= 0 && fd < kMaxFds ? g_written[fd].load() : 0;
  const int rc = real(fd);
  if (rc == 0) NoteSync(fd, written);
  return rc;
}

int fsync(int fd) {
  static const auto real = Next<int (*)(int)>("fsync");
  const int64_t written = fd >= 0 && fd < kMaxFds ? g_written[fd].load() : 0;
  const int rc = real(fd);
  if (rc == 0) NoteSync(fd, written);
  return rc;
}

int close(int fd) {
  static const auto real = Next<int (*)(int)>("close");
  if (fd >= 0 && fd < kMaxFds) g_written[fd].store(0);
  return real(fd);
}

}  // extern "C"
