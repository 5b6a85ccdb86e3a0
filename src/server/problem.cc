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

core::Json ProblemBody(int status, std::string_view code, std::string_view title,
                       std::string_view detail) {
  return {
      {"type", "https://agentd.dev/problems/" + std::string(code)},
      {"title", title},
      {"status", status},
      {"detail", detail},
      {"code", code},
  };
}

}  // namespace

net::HttpResponse ProblemResponse(int status, std::string_view code, std::string_view title,
                                  std::string_view detail) {
  return {status,
          {{"Content-Type", std::string(kProblemJson)}},
          core::DumpJson(ProblemBody(status, code, title, detail))};
}

net::HttpResponse ErrorResponse(const core::Error& error) {
  const int status = core::HttpStatusFor(error.code);
  const std::string_view code = error.reason.empty() ? core::CodeName(error.code) : error.reason;
  core::Json body = ProblemBody(status, code, TitleFor(error.code), error.message);
  for (const auto& [key, value] : error.fields) {
    if (!body.contains(key)) body[key] = value;  // the standard members win
  }
  return {status, {{"Content-Type", std::string(kProblemJson)}}, core::DumpJson(body)};
}

net::HttpResponse JsonResponse(int status, const core::Json& body) {
  return {status, {{"Content-Type", std::string(kJson)}}, core::DumpJson(body)};
}

}  // namespace agentd::server
