#pragma once
// Value types shared by the Raft core, its log and its callers: log entries,
// messages between nodes, the durable hard state and the Ready bundle.
//
// Promises: plain values, no I/O, no hidden sharing except entry payloads,
// which are immutable and reference-counted so that an entry can sit in the
// log, in several outgoing messages and in the apply queue without copies.
// Thread-safety: none needed (values); a payload may be read from any thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "telemq/common/strong_id.h"

namespace telemq::raft {

// "No node": NodeId(0). Real node ids are positive.
inline constexpr NodeId kNoNode{0};

// The opaque bytes of one entry (for the broker: one record batch). Shared
// and immutable once proposed. A payload is a view plus a keep-alive handle:
// the broker's payloads point straight into the received request frame (or
// into a cache of recently written batches), so proposing, replicating and
// caching an entry never copies its bytes. Copying a Payload copies the
// handle, not the bytes.
class Payload {
 public:
  Payload() = default;
  // A view of `bytes`, which stay valid while `owner` is alive.
  Payload(std::shared_ptr<const void> owner, std::span<const std::byte> bytes)
      : owner_(std::move(owner)), bytes_(bytes) {}
  // Owns a copy of `bytes` (tests, the simulator, small control entries).
  static Payload Copy(std::string_view bytes) {
    auto buf = std::make_shared<const std::string>(bytes);
    return Payload(buf, std::as_bytes(std::span(buf->data(), buf->size())));
  }

  std::span<const std::byte> bytes() const { return bytes_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  // True when the payload holds bytes (or an owner); false for the default.
  explicit operator bool() const { return owner_ != nullptr; }

 private:
  std::shared_ptr<const void> owner_;
  std::span<const std::byte> bytes_;
};

enum class EntryType : uint8_t {
  kNormal = 0,  // a proposed record batch
  kNoop = 1,    // appended by a new leader to commit its term (Raft §8); one offset
  // kConfig will carry single-server membership changes (thesis §4.1).
};

// One log entry: a record batch covering offsets
// [base_offset, base_offset + record_count). Within a term the leader alone
// creates entries, so (term, base_offset) names exactly one entry and all
// replicas agree on its boundaries.
struct Entry {
  Term term;
  Offset base_offset;
  int32_t record_count = 1;  // >= 1: every entry occupies at least one offset
  EntryType type = EntryType::kNormal;
  Payload payload;  // may be empty for kNoop

  Offset last_offset() const { return base_offset + (record_count - 1); }
  size_t payload_bytes() const { return payload.size(); }
};

// Position of the end of an entry: its last offset and its term. The empty
// log's position is (start - 1, term of the entry before start or 0).
struct LogPosition {
  Offset offset{-1};
  Term term{0};
  auto operator<=>(const LogPosition&) const = default;
};

// What must be on stable storage before any message of the same Ready leaves
// the node (Raft Figure 2, "persistent state on all servers").
struct HardState {
  Term term{0};
  NodeId vote = kNoNode;  // candidate voted for in `term`, kNoNode if none
  bool operator==(const HardState&) const = default;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view RoleName(Role role);

enum class MessageType : uint8_t {
  kPreVote,  // "would you vote for me at term+1?" (thesis §9.6); changes no state
  kPreVoteResponse,
  kVote,  // RequestVote (§5.2)
  kVoteResponse,
  kAppend,          // AppendEntries with entries (§5.3)
  kAppendResponse,  // also answers kRestart
  kHeartbeat,       // AppendEntries without entries or log check; carries commit
  kHeartbeatResponse,
  kRestart,     // "my log starts at offset+1; discard yours and start there"
  kTimeoutNow,  // leadership transfer: start an election now (thesis §3.10)
};
std::string_view MessageTypeName(MessageType type);

// One message between two nodes. Which fields mean what depends on `type`:
//   kPreVote/kVote: (offset, log_term) = candidate's last log position;
//     `transfer` = the election was asked for by the leader (bypasses lease).
//   k*VoteResponse: `reject`.
//   kAppend: (offset, log_term) = position of the entry before `entries`;
//     `commit` = leader's commit offset.
//   kAppendResponse: success: offset = last offset now known to match the
//     leader; reject: offset = the rejected prev offset, (reject_hint,
//     log_term) = the follower's last entry at or before it whose term is
//     <= the leader's prev term (the last position that may match).
//   kHeartbeat: commit = min(leader commit, follower's known match).
//   kRestart: offset = leader's log start - 1, log_term = its term.
struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term{0};
  Offset offset{-1};
  Term log_term{0};
  Offset commit{-1};
  Offset reject_hint{-1};
  bool reject = false;
  bool transfer = false;
  std::vector<Entry> entries;
};

// Everything the caller must do after the node changed; see node.h for the
// order (persist, then send, then apply, then Advance).
struct Ready {
  // Leader and role, for the caller's routing; always filled.
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  // Persist if set.
  std::optional<HardState> hard_state;
  // Persist if set, before `entries`: discard the whole log; the next entry
  // will be at `offset + 1`; the entry before it had term `term`.
  std::optional<LogPosition> log_reset;
  // Persist: append, replacing any stored entries at offsets
  // >= entries.front().base_offset (a follower's conflicting suffix).
  std::vector<Entry> entries;
  // Send, only after the above is durable.
  std::vector<Message> messages;
  // May be sent at once, before (or while) the above is persisted: a
  // leader's appends, heartbeats and restarts of a term that is already
  // durable. They claim nothing about this node's disk (the leader counts
  // its own copy only in Advance). Sending them with `messages` is also fine.
  std::vector<Message> early_messages;
  // Apply in order, after the above is durable. Contiguous; never above a
  // majority's durable log; at most Config::max_committed_bytes of payload
  // (but at least one entry); the rest comes in the next Ready.
  std::vector<Entry> committed_entries;
  // Last committed offset (the high watermark); -1 if nothing is.
  Offset commit{-1};
};

}  // namespace telemq::raft
