// The body of a run submission (POST /api/v1/runs and its alias POST /api/jobs/submit):
//   {"agent": "triage", "input": "...", "parameters": {...}, "priority": 0,
//    "deadlineSeconds": 600, "labels": {"team": "infra"}}
// parsed from untrusted bytes, bounded and validated. The server turns a SubmitBody into a
// scheduler::SubmitRequest; this module knows nothing of the scheduler.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace agentd::api::v1 {

inline constexpr size_t kMaxSubmitBodyBytes = 1 << 20;
inline constexpr size_t kMaxInputBytes = 256 * 1024;
inline constexpr int kMaxParametersDepth = 8;
inline constexpr int kMinPriority = -1000;
inline constexpr int kMaxPriority = 1000;
inline constexpr std::chrono::seconds kMaxDeadline{7 * 24 * 3600};
inline constexpr size_t kMaxLabels = 32;

struct SubmitBody {
  std::string agent;  // required; a DNS-1123 label (lowercase, digits, '-'), at most 63 chars
  std::string input;  // optional, default ""; UTF-8, at most kMaxInputBytes
  core::Json parameters = core::Json::object();  // optional JSON object, nested <= 8 deep
  int priority = 0;                              // optional, in [-1000, 1000]; higher first
  std::optional<std::chrono::seconds> deadline;  // "deadlineSeconds", (0, 7 days]; 0 = none
  std::map<std::string, std::string> labels;     // <= 32, Kubernetes label syntax
};

// Parses and validates a submission. Never throws. Errors are kInvalidArgument (kResource-
// Exhausted for a body above kMaxSubmitBodyBytes) with a message naming the field and what was
// expected, e.g. `field "priority" must be an integer, got string` or
// `unknown field "agnet" in run request (did you mean "agent"?)`.
core::Result<SubmitBody> ParseSubmitRequest(std::string_view body);

// Validation of an already-built SubmitBody (ParseSubmitRequest calls it); for other front
// ends such as webhooks that fill a SubmitBody themselves.
core::Status ValidateSubmitBody(const SubmitBody& body);

// The canonical JSON of the request (keys sorted, defaults filled in, no whitespace), and its
// SHA-256 in lowercase hex. Two submissions that mean the same have the same hash; used to
// check that a repeated Idempotency-Key comes with the same request.
std::string CanonicalRequestJson(const SubmitBody& body);
std::string CanonicalRequestHash(const SubmitBody& body);

// Syntax checks, exposed for other inputs that carry the same kinds of names.
bool IsDns1123Label(std::string_view name);  // [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63
bool IsLabelKey(std::string_view key);       // [prefix/]name, Kubernetes rules
bool IsLabelValue(std::string_view value);   // "" or a label name, <= 63
bool IsValidUtf8(std::string_view text);

}  // namespace agentd::api::v1
