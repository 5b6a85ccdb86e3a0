// application/problem+json (RFC 9457) responses, the one error shape of the API:
//   {"type": "https://agentd.dev/problems/not_found", "title": "Not found", "status": 404,
//    "detail": "run \"run-...\" not found", "code": "not_found"}
// `code` is core::CodeName of the error (stable, for programs); `detail` is for people.
#pragma once

#include <string_view>

#include "core/json.h"
#include "core/result.h"
#include "net/http_server.h"

namespace agentd::server {

inline constexpr std::string_view kProblemJson = "application/problem+json";
inline constexpr std::string_view kJson = "application/json";

// A problem response with an explicit status and code (for statuses without an ErrorCode, such
// as 405 "method_not_allowed" or 413).
net::HttpResponse ProblemResponse(int status, std::string_view code, std::string_view title,
                                  std::string_view detail);

// The problem response for `error`: status core::HttpStatusFor(code), code core::CodeName(code).
net::HttpResponse ErrorResponse(const core::Error& error);

// 200 (or `status`) with a JSON body.
net::HttpResponse JsonResponse(int status, const core::Json& body);

}  // namespace agentd::server
