#include "broker/group/records.h"

#include <type_traits>

namespace telemq::group {
namespace {

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Fixed(v); }
  void I32(int32_t v) { Fixed(static_cast<uint32_t>(v)); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void OptStr(const std::optional<std::string>& s) {
    U8(s ? 1 : 0);
    if (s) Str(*s);
  }
  void Assign(const Assignment& a) {
    U32(static_cast<uint32_t>(a.size()));
    for (const auto& [topic, parts] : a) {
      Str(topic);
      U32(static_cast<uint32_t>(parts.size()));
      for (PartitionId p : parts) I32(p.value());
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  template <typename U>
  void Fixed(U v) {
    for (size_t i = 0; i < sizeof(U); ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Every read checks the remaining length; the first failure sticks and all
// later reads return zero values, so decoders check ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint8_t U8() { return static_cast<uint8_t>(Fixed<uint8_t>()); }
  uint32_t U32() { return Fixed<uint32_t>(); }
  int32_t I32() { return static_cast<int32_t>(Fixed<uint32_t>()); }
  int64_t I64() { return static_cast<int64_t>(Fixed<uint64_t>()); }
  std::string Str() {
    const uint32_t n = U32();
    if (!Need(n)) return {};
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  std::optional<std::string> OptStr() {
    const uint8_t present = U8();
    if (present > 1) ok_ = false;
    if (present != 1) return std::nullopt;
    return Str();
  }
  // A count of elements each at least `min_bytes` long: refuse counts the
  // remaining input cannot hold, so a corrupt length cannot make us allocate.
  uint32_t Count(size_t min_bytes) {
    const uint32_t n = U32();
    if (ok_ && static_cast<uint64_t>(n) * min_bytes > in_.size()) ok_ = false;
    return ok_ ? n : 0;
  }
  Assignment Assign() {
    Assignment a;
    const uint32_t topics = Count(8);
    for (uint32_t i = 0; i < topics && ok_; ++i) {
      std::string topic = Str();
      const uint32_t n = Count(4);
      std::vector<PartitionId> parts;
      parts.reserve(n);
      for (uint32_t j = 0; j < n && ok_; ++j) parts.emplace_back(I32());
      a[std::move(topic)] = std::move(parts);
    }
    return Canonical(std::move(a));
  }
  void Fail() { ok_ = false; }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() < n) ok_ = false;
    return ok_;
  }
  template <typename U>
  U Fixed() {
    if (!Need(sizeof(U))) return 0;
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(sizeof(U));
    return v;
  }
  std::string_view in_;
  bool ok_ = true;
};

uint8_t TypeOf(const GroupMetadataRecord&) { return kRecordTypeGroupMetadata; }
uint8_t TypeOf(const MemberRecord&) { return kRecordTypeMember; }
uint8_t TypeOf(const MemberTombstone&) { return kRecordTypeMemberTombstone; }
uint8_t TypeOf(const TargetAssignmentRecord&) { return kRecordTypeTargetAssignment; }
uint8_t TypeOf(const OffsetCommitRecord&) { return kRecordTypeOffsetCommit; }

void EncodeBody(Writer& w, const GroupMetadataRecord& r) {
  w.I32(r.group_epoch.value());
  w.U32(static_cast<uint32_t>(r.topics.size()));
  for (const auto& [topic, count] : r.topics) {
    w.Str(topic);
    w.I32(count);
  }
}

void EncodeBody(Writer& w, const MemberRecord& r) {
  w.Str(r.member_id);
  w.OptStr(r.instance_id);
  w.U32(static_cast<uint32_t>(r.subscribed_topics.size()));
  for (const auto& t : r.subscribed_topics) w.Str(t);
  w.Str(r.metadata);
  w.I64(r.session_timeout.count());
  w.I64(r.rebalance_timeout.count());
  w.I32(r.member_epoch.value());
  w.I32(r.previous_member_epoch.value());
  w.U8(static_cast<uint8_t>(r.state));
  w.U8(static_cast<uint8_t>(r.presence));
  w.Assign(r.assigned);
  w.Assign(r.pending_revocation);
}

void EncodeBody(Writer& w, const MemberTombstone& r) { w.Str(r.member_id); }

void EncodeBody(Writer& w, const TargetAssignmentRecord& r) {
  w.I32(r.assignment_epoch.value());
  w.U32(static_cast<uint32_t>(r.target.size()));
  for (const auto& [member, assignment] : r.target) {
    w.Str(member);
    w.Assign(assignment);
  }
}

void EncodeBody(Writer& w, const OffsetCommitRecord& r) {
  w.Str(r.topic);
  w.I32(r.partition.value());
  w.I64(r.offset.value());
  w.Str(r.metadata);
}

}  // namespace

std::string EncodeRecord(const GroupRecord& record) {
  Writer w;
  w.U8(kRecordVersion);
  std::visit(
      [&](const auto& body) {
        w.U8(TypeOf(body));
        w.Str(record.group_id);
        EncodeBody(w, body);
      },
      record.body);
  return w.Take();
}

Result<GroupRecord> DecodeRecord(std::string_view bytes) {
  Reader r(bytes);
  const uint8_t version = r.U8();
  const uint8_t type = r.U8();
  if (!r.ok()) return Fail(Errc::kCorruptRecord, "group record shorter than its header");
  if (version != kRecordVersion) {
    return Fail(Errc::kCorruptRecord, "group record version " + std::to_string(version) + " is not 1");
  }
  GroupRecord out;
  out.group_id = r.Str();
  switch (type) {
    case kRecordTypeGroupMetadata: {
      GroupMetadataRecord m;
      m.group_epoch = GroupEpoch(r.I32());
      const uint32_t n = r.Count(8);
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        std::string topic = r.Str();
        m.topics[std::move(topic)] = r.I32();
      }
      out.body = std::move(m);
      break;
    }
    case kRecordTypeMember: {
      MemberRecord m;
      m.member_id = r.Str();
      m.instance_id = r.OptStr();
      const uint32_t n = r.Count(4);
      for (uint32_t i = 0; i < n && r.ok(); ++i) m.subscribed_topics.push_back(r.Str());
      m.metadata = r.Str();
      m.session_timeout = std::chrono::milliseconds(r.I64());
      m.rebalance_timeout = std::chrono::milliseconds(r.I64());
      m.member_epoch = MemberEpoch(r.I32());
      m.previous_member_epoch = MemberEpoch(r.I32());
      const uint8_t state = r.U8();
      const uint8_t presence = r.U8();
      if (state > static_cast<uint8_t>(MemberState::kUnreleasedPartitions) ||
          presence > static_cast<uint8_t>(Presence::kStaticLeft)) {
        r.Fail();
      }
      m.state = static_cast<MemberState>(state);
      m.presence = static_cast<Presence>(presence);
      m.assigned = r.Assign();
      m.pending_revocation = r.Assign();
      out.body = std::move(m);
      break;
    }
    case kRecordTypeMemberTombstone: out.body = MemberTombstone{r.Str()}; break;
    case kRecordTypeTargetAssignment: {
      TargetAssignmentRecord t;
      t.assignment_epoch = GroupEpoch(r.I32());
      const uint32_t n = r.Count(8);
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        std::string member = r.Str();
        t.target[std::move(member)] = r.Assign();
      }
      out.body = std::move(t);
      break;
    }
    case kRecordTypeOffsetCommit: {
      OffsetCommitRecord o;
      o.topic = r.Str();
      o.partition = PartitionId(r.I32());
      o.offset = Offset(r.I64());
      o.metadata = r.Str();
      out.body = std::move(o);
      break;
    }
    default: return Fail(Errc::kCorruptRecord, "unknown group record type " + std::to_string(type));
  }
  if (!r.ok()) return Fail(Errc::kCorruptRecord, "truncated or malformed group record");
  if (!r.done()) return Fail(Errc::kCorruptRecord, "trailing bytes after group record");
  return out;
}

std::string RecordKey(const GroupRecord& record) {
  std::string key = record.group_id;
  key.push_back('\0');
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, GroupMetadataRecord>) {
          key += "g";
        } else if constexpr (std::is_same_v<T, MemberRecord> || std::is_same_v<T, MemberTombstone>) {
          key += "m";
          key.push_back('\0');
          key += body.member_id;
        } else if constexpr (std::is_same_v<T, TargetAssignmentRecord>) {
          key += "t";
        } else {
          key += "o";
          key.push_back('\0');
          key += body.topic;
          key.push_back('\0');
          key += std::to_string(body.partition.value());
        }
      },
      record.body);
  return key;
}

}  // namespace telemq::group
