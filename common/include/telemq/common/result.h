#pragma once
// Result<T>: the return type of every fallible function in telemq. Our code
// does not throw; errors carry a code from a per-module enum plus a message
// for humans. `Result` is an alias of tl::expected so it can become
// std::expected once the toolchain has it.

#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace telemq {

// Error codes shared across modules. Modules with richer failure modes keep
// their own enum and map into this one at their boundary; the wire layer maps
// this enum to protocol error codes with one exhaustive switch
// (client/src/errors.cc).
enum class Errc : uint16_t {
  kOk = 0,
  kUnknown,
  kInvalidArgument,  // caller passed something malformed
  kCorrupt,          // checksum, bounds or magic mismatch in stored or received data
  kIo,               // the operating system refused an I/O call
  kNoSpace,          // ENOSPC / EDQUOT: the disk is full
  kReadOnly,         // EROFS / EACCES on write
  kNotFound,         // no such topic, partition, file, key
  kAlreadyExists,
  kOffsetOutOfRange,
  kMessageTooLarge,  // a batch or request above the configured limit
  kTimeout,
  kNotLeader,
  kOutOfOrderSequence,  // idempotent producer: a gap in the sequence
  kDuplicateSequence,   // idempotent producer: already written
  kProducerFenced,      // a newer epoch of the same producer id exists
  kThrottled,
  kUnsupportedVersion,
  kShuttingDown,
  kDisconnected,
  kBufferFull,
  kCancelled,
};

std::string_view ErrcName(Errc code);

class [[nodiscard]] Error {
 public:
  Error() = default;
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  // "not_found: topic 'x' does not exist"
  std::string ToString() const;

 private:
  Errc code_ = Errc::kUnknown;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for `return Fail(Errc::kCorrupt, "...")` in functions returning Result<T>.
inline tl::unexpected<Error> Fail(Errc code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

inline Result<void> Ok() { return {}; }

// Dropping an error must be explicit and greppable: IgnoreError(expr, "why").
template <typename T>
inline void IgnoreError(const Result<T>& /*result*/, std::string_view /*why*/) {}

inline std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kUnknown: return "unknown";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kCorrupt: return "corrupt";
    case Errc::kIo: return "io_error";
    case Errc::kNoSpace: return "no_space";
    case Errc::kReadOnly: return "read_only";
    case Errc::kNotFound: return "not_found";
    case Errc::kAlreadyExists: return "already_exists";
    case Errc::kOffsetOutOfRange: return "offset_out_of_range";
    case Errc::kMessageTooLarge: return "message_too_large";
    case Errc::kTimeout: return "timeout";
    case Errc::kNotLeader: return "not_leader";
    case Errc::kOutOfOrderSequence: return "out_of_order_sequence";
    case Errc::kDuplicateSequence: return "duplicate_sequence";
    case Errc::kProducerFenced: return "producer_fenced";
    case Errc::kThrottled: return "throttled";
    case Errc::kUnsupportedVersion: return "unsupported_version";
    case Errc::kShuttingDown: return "shutting_down";
    case Errc::kDisconnected: return "disconnected";
    case Errc::kBufferFull: return "buffer_full";
    case Errc::kCancelled: return "cancelled";
  }
  return "unknown";
}

inline std::string Error::ToString() const {
  std::string out(ErrcName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace telemq

// Propagates the error of a Result-returning expression:
//   TELEMQ_TRY(file->Sync());
#define TELEMQ_TRY(expr)                                                             \
  do {                                                                               \
    auto telemq_try_result_ = (expr);                                                \
    if (!telemq_try_result_) {                                                       \
      return tl::unexpected<::telemq::Error>(std::move(telemq_try_result_).error()); \
    }                                                                                \
  } while (0)

// Binds the value of a Result-returning expression or propagates its error:
//   TELEMQ_ASSIGN_OR_RETURN(auto file, fs.Open(path));
#define TELEMQ_CONCAT_INNER_(a, b) a##b
#define TELEMQ_CONCAT_(a, b) TELEMQ_CONCAT_INNER_(a, b)
#define TELEMQ_ASSIGN_OR_RETURN(lhs, expr)                                                          \
  auto TELEMQ_CONCAT_(telemq_r_, __LINE__) = (expr);                                                \
  if (!TELEMQ_CONCAT_(telemq_r_, __LINE__)) {                                                       \
    return tl::unexpected<::telemq::Error>(std::move(TELEMQ_CONCAT_(telemq_r_, __LINE__)).error()); \
  }                                                                                                 \
  lhs = std::move(*TELEMQ_CONCAT_(telemq_r_, __LINE__))
