#pragma once
// TempDir: a fresh directory under $TMPDIR (or /tmp), removed recursively on
// destruction. Header-only with no test-framework dependency, so unit tests,
// process-level suites and benchmarks share one.
// Nothing that needs a scratch directory can proceed without it, so a failed
// mkdtemp aborts with the reason.

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace telemq::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "telemq-it") {
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(path_.data()) == nullptr) {
      std::fprintf(stderr, "mkdtemp %s: %s\n", path_.c_str(), std::strerror(errno));
      std::abort();
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace telemq::testing
