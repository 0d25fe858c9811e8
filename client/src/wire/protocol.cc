#include "telemq/wire/protocol.h"

namespace telemq::wire {

using fb::ErrorCode;

ErrorCode ToWireError(Errc code) {
  switch (code) {
    case Errc::kOk: return ErrorCode::None;
    case Errc::kUnknown: return ErrorCode::Unknown;
    case Errc::kInvalidArgument: return ErrorCode::InvalidRequest;
    case Errc::kCorrupt: return ErrorCode::CorruptMessage;
    case Errc::kIo: return ErrorCode::StorageError;
    case Errc::kNoSpace: return ErrorCode::DiskFull;
    case Errc::kReadOnly: return ErrorCode::ReadOnlyStorage;
    case Errc::kNotFound: return ErrorCode::UnknownTopicOrPartition;
    case Errc::kAlreadyExists: return ErrorCode::TopicAlreadyExists;
    case Errc::kOffsetOutOfRange: return ErrorCode::OffsetOutOfRange;
    case Errc::kMessageTooLarge: return ErrorCode::MessageTooLarge;
    case Errc::kTimeout: return ErrorCode::RequestTimedOut;
    case Errc::kNotLeader: return ErrorCode::NotLeader;
    case Errc::kOutOfOrderSequence: return ErrorCode::OutOfOrderSequence;
    case Errc::kDuplicateSequence: return ErrorCode::DuplicateSequence;
    case Errc::kProducerFenced: return ErrorCode::ProducerFenced;
    case Errc::kThrottled: return ErrorCode::Throttled;
    case Errc::kUnsupportedVersion: return ErrorCode::UnsupportedVersion;
    case Errc::kShuttingDown: return ErrorCode::ShuttingDown;
    case Errc::kDisconnected: return ErrorCode::Unknown;
    case Errc::kBufferFull: return ErrorCode::Throttled;
    case Errc::kCancelled: return ErrorCode::Unknown;
  }
  return ErrorCode::Unknown;
}

Errc FromWireError(ErrorCode code) {
  switch (code) {
    case ErrorCode::None: return Errc::kOk;
    case ErrorCode::Unknown: return Errc::kUnknown;
    case ErrorCode::InvalidRequest: return Errc::kInvalidArgument;
    case ErrorCode::CorruptMessage: return Errc::kCorrupt;
    case ErrorCode::UnknownTopicOrPartition: return Errc::kNotFound;
    case ErrorCode::TopicAlreadyExists: return Errc::kAlreadyExists;
    case ErrorCode::InvalidPartitions: return Errc::kInvalidArgument;
    case ErrorCode::OffsetOutOfRange: return Errc::kOffsetOutOfRange;
    case ErrorCode::MessageTooLarge: return Errc::kMessageTooLarge;
    case ErrorCode::NotLeader: return Errc::kNotLeader;
    case ErrorCode::RequestTimedOut: return Errc::kTimeout;
    case ErrorCode::OutOfOrderSequence: return Errc::kOutOfOrderSequence;
    case ErrorCode::DuplicateSequence: return Errc::kDuplicateSequence;
    case ErrorCode::ProducerFenced: return Errc::kProducerFenced;
    case ErrorCode::Throttled: return Errc::kThrottled;
    case ErrorCode::UnsupportedVersion: return Errc::kUnsupportedVersion;
    case ErrorCode::StorageError: return Errc::kIo;
    case ErrorCode::DiskFull: return Errc::kNoSpace;
    case ErrorCode::ReadOnlyStorage: return Errc::kReadOnly;
    case ErrorCode::ShuttingDown: return Errc::kShuttingDown;
    case ErrorCode::InvalidConfig: return Errc::kInvalidArgument;
    case ErrorCode::InvalidReplicationFactor: return Errc::kInvalidArgument;
    case ErrorCode::NotCoordinator: return Errc::kNotLeader;
    case ErrorCode::CoordinatorLoading: return Errc::kNotLeader;
    case ErrorCode::UnknownMemberId: return Errc::kNotFound;
    case ErrorCode::FencedMemberEpoch: return Errc::kProducerFenced;
    case ErrorCode::StaleMemberEpoch: return Errc::kInvalidArgument;
    case ErrorCode::GroupIdNotFound: return Errc::kNotFound;
    case ErrorCode::NonEmptyGroup: return Errc::kInvalidArgument;
    case ErrorCode::InvalidGroupId: return Errc::kInvalidArgument;
    case ErrorCode::NotController: return Errc::kNotLeader;
    case ErrorCode::LeaderNotAvailable: return Errc::kNotLeader;
    case ErrorCode::CoordinatorNotAvailable: return Errc::kNotLeader;
    case ErrorCode::InconsistentClusterId: return Errc::kInvalidArgument;
    case ErrorCode::BrokerIdMismatch: return Errc::kInvalidArgument;
  }
  return Errc::kUnknown;
}

bool IsRetriable(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotLeader:
    case ErrorCode::RequestTimedOut:
    case ErrorCode::Throttled:
    case ErrorCode::ShuttingDown:
    case ErrorCode::NotCoordinator:
    case ErrorCode::CoordinatorLoading:
    case ErrorCode::NotController:
    case ErrorCode::LeaderNotAvailable:
    case ErrorCode::CoordinatorNotAvailable:
    case ErrorCode::UnknownTopicOrPartition:  // metadata may lag a fresh create
    case ErrorCode::CorruptMessage:           // damaged in transit: resend the same bytes
      return true;
    default: return false;
  }
}

}  // namespace telemq::wire
