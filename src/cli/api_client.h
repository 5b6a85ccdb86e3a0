// ApiClient: the typed client of the agentd REST API v1 (ARCHITECTURE.md §8) that agentctl uses.
//
// Each method is one request through an injected httpclient::HttpTransport. Success returns
// the server's JSON; an HTTP error status becomes a core::Error whose code follows the status
// (404 -> kNotFound, 401 -> kUnauthenticated, ...) and whose message is the problem+json
// `detail` (or `title`) of the answer; transport failures keep the transport's code
// (kUnavailable, kDeadlineExceeded). Not thread-safe; one client per command.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "httpclient/http_client.h"
#include "httpclient/sse.h"

namespace agentd::cli {

struct ApiClientOptions {
  std::string base_url = "http://127.0.0.1:8080";  // a trailing "/" is ignored
  std::string token;                               // empty: no Authorization header
  std::string user_agent = "agentctl";
  std::chrono::milliseconds timeout{30'000};  // per plain request
  // For event streams: the longest silence between two chunks (the server sends keep-alive
  // comments more often than this).
  std::chrono::milliseconds stream_idle_timeout{90'000};
};

struct SubmitRunRequest {
  std::string agent;
  std::string input;
  core::Json parameters = core::Json::object();
  int priority = 0;
  std::optional<std::chrono::seconds> deadline;
  std::map<std::string, std::string> labels;
  std::string idempotency_key;  // sent as the Idempotency-Key header; empty: none
};

struct ListRunsQuery {
  std::string agent;                // empty: any
  std::string phase;                // empty: any
  std::vector<std::string> labels;  // "key=value", all must match
  int limit = 0;                    // 0: the server's default
  std::string cursor;               // from a previous RunPage
};

struct RunPage {
  std::vector<core::Json> items;  // run objects, newest first
  std::string next_cursor;        // empty on the last page
};

// GET /api/v1/usage filters; empty members are not sent.
struct UsageQuery {
  std::string from;                   // RFC 3339; server default: start of the UTC month
  std::string to;                     // RFC 3339; server default: now
  std::vector<std::string> group_by;  // "agent", "day", ... (sent as groupBy=a,b)
  std::string agent;
  std::string team;
  std::string cost_center;
  int tier = 0;  // 0: any
  std::string model;
  std::string caller;
};

// GET /api/v1/audit filters; empty members are not sent.
struct AuditQuery {
  std::string actor;
  std::string action;
  std::string subject;
  std::string from;  // RFC 3339
  std::string to;    // RFC 3339
  int limit = 0;     // 0: the server's default page size
  std::string cursor;
};

struct AuditPage {
  std::vector<core::Json> items;  // governance::EntryToJson objects
  std::string next_cursor;        // empty on the last page
};

struct EventPage {
  std::vector<core::Json> items;  // {"runId","seq","type","time","data"}
  int64_t next_after = 0;         // pass as `after` for the next page
};

// The JSON body of a submission: {"agent","input","parameters","priority","labels"} and
// "deadlineSeconds" when a deadline is set.
core::Json SubmitRunBody(const SubmitRunRequest& request);

// The error code for an HTTP error status; `problem_code` (the problem+json "code", may be
// empty) refines it when it names a code with the same status (e.g. 409 "already_exists").
core::ErrorCode ErrorCodeForHttpStatus(int status, std::string_view problem_code = "");

// Turns a non-2xx answer into an Error: the problem+json detail or title when the body is one,
// else "HTTP <status> from <what>".
core::Error ErrorFromResponse(const httpclient::Response& response, std::string_view what);

// The problem+json "code" of an error answer, or "" when the body is not a problem document.
std::string ProblemCode(const httpclient::Response& response);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view text);

class ApiClient {
 public:
  ApiClient(httpclient::HttpTransport& transport, ApiClientOptions options);

  const ApiClientOptions& options() const { return options_; }

  // POST /api/v1/runs. The created run (201), or the first run for a replayed idempotency key
  // (200).
  core::Result<core::Json> SubmitRun(const SubmitRunRequest& request);
  // GET /api/v1/runs/{id}.
  core::Result<core::Json> GetRun(std::string_view run_id);
  // GET /api/v1/runs with filters; one page.
  core::Result<RunPage> ListRuns(const ListRunsQuery& query);
  // POST /api/v1/runs/{id}/cancel. The run after the request; a terminal run is an error
  // (kFailedPrecondition, from the server's 409).
  core::Result<core::Json> CancelRun(std::string_view run_id);
  // GET /api/v1/runs/{id}/events?after=N[&limit=M]: one page of the event log as JSON.
  core::Result<EventPage> ListEvents(std::string_view run_id, int64_t after, int limit = 0);
  // GET /api/v1/runs/{id}/events as text/event-stream, resuming after `last_event_id` (sent as
  // Last-Event-ID when > 0). Calls `on_event` for each event as it arrives, on this thread;
  // returning false from it closes the stream. Returns Ok when the server ends the stream or
  // on_event stopped it; a transport error when the connection fails or drops; a mapped error
  // when the server answers with an error status.
  core::Status StreamEvents(std::string_view run_id, int64_t last_event_id,
                            const std::function<bool(const httpclient::SseEvent&)>& on_event);

  // POST /api/v1/runs/{id}/approve and /reject with {"reason": ...} ({} when `reason` is
  // empty). The run after the decision. A run that is not AwaitingApproval is
  // kFailedPrecondition (409 not_awaiting_approval); approving one's own run is
  // kPermissionDenied (403 self_approval).
  core::Result<core::Json> ApproveRun(std::string_view run_id, std::string_view reason);
  core::Result<core::Json> RejectRun(std::string_view run_id, std::string_view reason);
  // GET /api/v1/usage: {"from","to","groupBy","rows":[{"group",...}],"total"}.
  core::Result<core::Json> GetUsage(const UsageQuery& query);
  // GET /api/v1/budgets: {"items": [budget status]}.
  core::Result<core::Json> ListBudgets();
  // GET /api/v1/audit with filters; one page.
  core::Result<AuditPage> ListAudit(const AuditQuery& query);
  // GET /api/v1/audit/verify: the server's verification of its own chain.
  core::Result<core::Json> VerifyAudit();
  // GET /api/v1/audit/export (application/x-ndjson), streamed: `on_chunk` gets the body piece
  // by piece as it arrives, unchanged; returning false from it aborts (kAborted). Not bounded in
  // size or total time, only in silence (`timeout` between two chunks).
  core::Status ExportAudit(const std::function<bool(std::string_view)>& on_chunk);

  // The problem+json "code" of the last error answer from the server (e.g. "budget_exceeded"),
  // or "" when the last call succeeded, failed in the transport or the answer had no code.
  const std::string& last_problem_code() const { return last_problem_code_; }

 private:
  httpclient::Request NewRequest(std::string method, std::string path) const;
  // Sends, checks for 2xx and parses the JSON body. `what` names the call in errors.
  core::Result<core::Json> Call(const httpclient::Request& request, std::string_view what);
  core::Result<core::Json> Decide(std::string_view run_id, std::string_view decision,
                                  std::string_view reason);
  // Remembers the problem code of an error answer (see last_problem_code()).
  core::Error ErrorFrom(const httpclient::Response& response, std::string_view what);

  httpclient::HttpTransport& transport_;
  ApiClientOptions options_;
  std::string last_problem_code_;
};

}  // namespace agentd::cli
