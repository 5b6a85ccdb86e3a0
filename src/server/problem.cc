#include "server/problem.h"

#include <string>

#include "core/json.h"

namespace agentd::server {

namespace {

std::string_view TitleFor(core::ErrorCode code) {
  switch (code) {
    case core::ErrorCode::kInvalidArgument:
      return "Invalid argument";
    case core::ErrorCode::kNotFound:
      return "Not found";
    case core::ErrorCode::kAlreadyExists:
      return "Already exists";
    case core::ErrorCode::kFailedPrecondition:
      return "Failed precondition";
    case core::ErrorCode::kAborted:
      return "Aborted";
    case core::ErrorCode::kUnauthenticated:
      return "Unauthenticated";
    case core::ErrorCode::kPermissionDenied:
      return "Permission denied";
    case core::ErrorCode::kResourceExhausted:
      return "Resource exhausted";
    case core::ErrorCode::kDeadlineExceeded:
      return "Deadline exceeded";
    case core::ErrorCode::kUnavailable:
      return "Unavailable";
    case core::ErrorCode::kInternal:
      return "Internal error";
  }
  return "Internal error";
}

}  // namespace

net::HttpResponse ProblemResponse(int status, std::string_view code, std::string_view title,
                                  std::string_view detail) {
  core::Json body = {
      {"type", "https://agentd.dev/problems/" + std::string(code)},
      {"title", title},
      {"status", status},
      {"detail", detail},
      {"code", code},
  };
  return {status, {{"Content-Type", std::string(kProblemJson)}}, core::DumpJson(body)};
}

net::HttpResponse ErrorResponse(const core::Error& error) {
  return ProblemResponse(core::HttpStatusFor(error.code), core::CodeName(error.code),
                         TitleFor(error.code), error.message);
}

net::HttpResponse JsonResponse(int status, const core::Json& body) {
  return {status, {{"Content-Type", std::string(kJson)}}, core::DumpJson(body)};
}

}  // namespace agentd::server
