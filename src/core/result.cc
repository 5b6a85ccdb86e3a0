#include "core/result.h"

namespace agentd::core {

Error Error::Wrap(std::string_view context) const {
  return {code, std::string(context) + ": " + message};
}

std::string_view CodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kFailedPrecondition: return "failed_precondition";
    case ErrorCode::kAborted: return "aborted";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kDeadlineExceeded: return "deadline_exceeded";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kAborted: return 409;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

bool IsRetryable(ErrorCode code) {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kAborted ||
         code == ErrorCode::kDeadlineExceeded || code == ErrorCode::kResourceExhausted;
}

// agentctl exit codes. 0 success; 1 a run ended Failed; 2 usage errors; 3 TimedOut;
// 4 Cancelled; 5 Rejected. Errors talking to the server use 6..12 below.
int ExitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 2;
    case ErrorCode::kNotFound: return 6;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kAborted: return 7;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied: return 8;
    case ErrorCode::kResourceExhausted: return 9;
    case ErrorCode::kDeadlineExceeded: return 10;
    case ErrorCode::kUnavailable: return 11;
    case ErrorCode::kInternal: return 12;
  }
  return 12;
}

}  // namespace agentd::core
