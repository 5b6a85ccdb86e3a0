#include "cli/api_client.h"

#include <limits>
#include <utility>

namespace agentd::cli {

namespace {

using core::Json;

constexpr size_t kMaxErrorBodyBytes = 64 * 1024;

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// path + "?k=v&..." with the values percent-encoded; pairs with empty values are left out.
std::string WithQuery(std::string path,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  char separator = '?';
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    path += separator + key + "=" + UrlEncode(value);
    separator = '&';
  }
  return path;
}

std::string RunPath(std::string_view run_id) { return "/api/v1/runs/" + UrlEncode(run_id); }

std::string StringField(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

core::Result<std::vector<Json>> Items(const Json& body, std::string_view what) {
  if (!body.is_object() || !body.contains("items") || !body["items"].is_array()) {
    return core::Internal("malformed answer to " + std::string(what) + ": no \"items\" array");
  }
  return body["items"].get<std::vector<Json>>();
}

}  // namespace

Json SubmitRunBody(const SubmitRunRequest& request) {
  Json body = {{"agent", request.agent},
               {"input", request.input},
               {"parameters", request.parameters},
               {"priority", request.priority},
               {"labels", request.labels}};
  if (request.deadline) body["deadlineSeconds"] = request.deadline->count();
  return body;
}

core::ErrorCode ErrorCodeForHttpStatus(int status, std::string_view problem_code) {
  using core::ErrorCode;
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kFailedPrecondition, ErrorCode::kAborted, ErrorCode::kUnauthenticated,
        ErrorCode::kPermissionDenied, ErrorCode::kResourceExhausted, ErrorCode::kDeadlineExceeded,
        ErrorCode::kUnavailable, ErrorCode::kInternal}) {
    if (!problem_code.empty() && core::CodeName(code) == problem_code) {
      // 413 is the server's status for oversized bodies (kResourceExhausted).
      if (core::HttpStatusFor(code) == status ||
          (status == 413 && code == ErrorCode::kResourceExhausted)) {
        return code;
      }
    }
  }
  switch (status) {
    case 400:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 402:  // budget_exceeded
      return ErrorCode::kResourceExhausted;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kFailedPrecondition;
    case 408:
    case 504:
      return ErrorCode::kDeadlineExceeded;
    case 413:
    case 429:
      return ErrorCode::kResourceExhausted;
    case 502:
    case 503:
      return ErrorCode::kUnavailable;
    default:
      break;
  }
  if (status >= 500) return ErrorCode::kInternal;
  return ErrorCode::kInvalidArgument;
}

core::Error ErrorFromResponse(const httpclient::Response& response, std::string_view what) {
  std::string detail;
  std::string problem_code;
  auto parsed = core::ParseJson(response.body.substr(0, kMaxErrorBodyBytes));
  if (parsed.ok() && parsed->is_object()) {
    detail = StringField(*parsed, "detail");
    if (detail.empty()) detail = StringField(*parsed, "title");
    problem_code = StringField(*parsed, "code");
  }
  if (detail.empty()) {
    detail = "HTTP " + std::to_string(response.status) + " from " + std::string(what);
  }
  return {ErrorCodeForHttpStatus(response.status, problem_code), std::move(detail)};
}

std::string ProblemCode(const httpclient::Response& response) {
  auto parsed = core::ParseJson(response.body.substr(0, kMaxErrorBodyBytes));
  if (!parsed.ok() || !parsed->is_object()) return "";
  return StringField(*parsed, "code");
}

std::string UrlEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

ApiClient::ApiClient(httpclient::HttpTransport& transport, ApiClientOptions options)
    : transport_(transport), options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') {
    options_.base_url.pop_back();
  }
}

httpclient::Request ApiClient::NewRequest(std::string method, std::string path) const {
  httpclient::Request request;
  request.method = std::move(method);
  request.url = options_.base_url + path;
  request.timeout = options_.timeout;
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", options_.user_agent);
  if (!options_.token.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options_.token);
  }
  return request;
}

core::Result<Json> ApiClient::Call(const httpclient::Request& request, std::string_view what) {
  last_problem_code_.clear();
  auto response = transport_.Send(request);
  if (!response.ok()) return std::move(response).error();  // names the method and URL
  if (!IsSuccess(response->status)) return ErrorFrom(*response, what);
  if (response->body.empty()) return Json::object();
  auto body = core::ParseJson(response->body, {.max_bytes = 64 << 20, .max_depth = 64});
  if (!body.ok()) {
    return core::Internal("malformed answer to " + std::string(what) + ": " + body.error().message);
  }
  return std::move(body).value();
}

core::Error ApiClient::ErrorFrom(const httpclient::Response& response, std::string_view what) {
  last_problem_code_ = ProblemCode(response);
  return ErrorFromResponse(response, what);
}

core::Result<Json> ApiClient::SubmitRun(const SubmitRunRequest& request) {
  httpclient::Request http = NewRequest("POST", "/api/v1/runs");
  http.headers.emplace_back("Content-Type", "application/json");
  if (!request.idempotency_key.empty()) {
    http.headers.emplace_back("Idempotency-Key", request.idempotency_key);
  }
  http.body = core::DumpJson(SubmitRunBody(request));
  return Call(http, "POST /api/v1/runs");
}

core::Result<Json> ApiClient::GetRun(std::string_view run_id) {
  return Call(NewRequest("GET", RunPath(run_id)), "GET " + RunPath(run_id));
}

core::Result<RunPage> ApiClient::ListRuns(const ListRunsQuery& query) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!query.agent.empty()) params.emplace_back("agent", query.agent);
  if (!query.phase.empty()) params.emplace_back("phase", query.phase);
  for (const auto& label : query.labels) params.emplace_back("label", label);
  if (query.limit > 0) params.emplace_back("limit", std::to_string(query.limit));
  if (!query.cursor.empty()) params.emplace_back("cursor", query.cursor);
  std::string path = "/api/v1/runs";
  for (size_t i = 0; i < params.size(); ++i) {
    path += (i == 0 ? "?" : "&") + params[i].first + "=" + UrlEncode(params[i].second);
  }
  AGENTD_ASSIGN_OR_RETURN(Json body, Call(NewRequest("GET", path), "GET /api/v1/runs"));
  AGENTD_ASSIGN_OR_RETURN(auto items, Items(body, "GET /api/v1/runs"));
  return RunPage{std::move(items), StringField(body, "nextCursor")};
}

core::Result<Json> ApiClient::CancelRun(std::string_view run_id) {
  std::string path = RunPath(run_id) + "/cancel";
  httpclient::Request http = NewRequest("POST", path);
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = "{}";
  return Call(http, "POST " + path);
}

core::Result<EventPage> ApiClient::ListEvents(std::string_view run_id, int64_t after, int limit) {
  std::string path = RunPath(run_id) + "/events?after=" + std::to_string(after);
  if (limit > 0) path += "&limit=" + std::to_string(limit);
  std::string what = "GET " + RunPath(run_id) + "/events";
  AGENTD_ASSIGN_OR_RETURN(Json body, Call(NewRequest("GET", path), what));
  AGENTD_ASSIGN_OR_RETURN(auto items, Items(body, what));
  EventPage page{std::move(items), after};
  if (body.contains("nextAfter") && body["nextAfter"].is_number_integer()) {
    page.next_after = body["nextAfter"].get<int64_t>();
  } else if (!page.items.empty() && page.items.back().contains("seq") &&
             page.items.back()["seq"].is_number_integer()) {
    page.next_after = page.items.back()["seq"].get<int64_t>();
  }
  return page;
}

core::Status ApiClient::StreamEvents(
    std::string_view run_id, int64_t last_event_id,
    const std::function<bool(const httpclient::SseEvent&)>& on_event) {
  std::string path = RunPath(run_id) + "/events";
  std::string what = "GET " + path + " (stream)";
  httpclient::Request http = NewRequest("GET", path);
  http.headers[0].second = "text/event-stream";  // Accept, set first by NewRequest
  if (last_event_id > 0) http.headers.emplace_back("Last-Event-ID", std::to_string(last_event_id));
  // A stream lasts as long as the run: only silence is bounded, not time or size.
  http.timeout = std::chrono::hours(24 * 7);
  http.idle_timeout = options_.stream_idle_timeout;
  http.max_response_bytes = std::numeric_limits<size_t>::max();

  httpclient::SseParser parser;
  core::Status parse_status;
  bool stopped = false;
  // Transports give an error answer's document in Response::body; one that streams it anyway
  // is covered too: its start is kept, and it holds no "data:" lines, so yields no events.
  std::string head;
  auto response = transport_.SendStreaming(http, [&](std::string_view chunk) {
    if (head.size() < kMaxErrorBodyBytes) {
      head.append(chunk.substr(0, kMaxErrorBodyBytes - head.size()));
    }
    parse_status = parser.Feed(chunk, [&](const httpclient::SseEvent& event) {
      if (!stopped && !on_event(event)) stopped = true;
    });
    return parse_status.ok() && !stopped;
  });
  if (!parse_status.ok()) return parse_status.error().Wrap(what);
  if (stopped) return core::Ok();
  if (!response.ok()) return std::move(response).error();
  if (!IsSuccess(response->status)) {
    httpclient::Response error_response = *response;
    if (error_response.body.empty()) error_response.body = head;
    return ErrorFrom(error_response, what);
  }
  return core::Ok();
}

core::Result<Json> ApiClient::Decide(std::string_view run_id, std::string_view decision,
                                     std::string_view reason) {
  std::string path = RunPath(run_id) + "/" + std::string(decision);
  httpclient::Request http = NewRequest("POST", path);
  http.headers.emplace_back("Content-Type", "application/json");
  Json body = Json::object();
  if (!reason.empty()) body["reason"] = std::string(reason);
  http.body = core::DumpJson(body);
  return Call(http, "POST " + path);
}

core::Result<Json> ApiClient::ApproveRun(std::string_view run_id, std::string_view reason) {
  return Decide(run_id, "approve", reason);
}

core::Result<Json> ApiClient::RejectRun(std::string_view run_id, std::string_view reason) {
  return Decide(run_id, "reject", reason);
}

core::Result<Json> ApiClient::GetUsage(const UsageQuery& query) {
  std::string group_by;
  for (const auto& group : query.group_by) {
    if (!group_by.empty()) group_by += ',';
    group_by += group;
  }
  std::string path = WithQuery(
      "/api/v1/usage", {{"from", query.from},
                        {"to", query.to},
                        {"groupBy", group_by},
                        {"agent", query.agent},
                        {"team", query.team},
                        {"costCenter", query.cost_center},
                        {"tier", query.tier > 0 ? std::to_string(query.tier) : std::string()},
                        {"model", query.model},
                        {"caller", query.caller}});
  AGENTD_ASSIGN_OR_RETURN(Json body, Call(NewRequest("GET", path), "GET /api/v1/usage"));
  if (!body.is_object() || !body.contains("rows") || !body["rows"].is_array()) {
    return core::Internal("malformed answer to GET /api/v1/usage: no \"rows\" array");
  }
  return body;
}

core::Result<Json> ApiClient::ListBudgets() {
  AGENTD_ASSIGN_OR_RETURN(Json body,
                          Call(NewRequest("GET", "/api/v1/budgets"), "GET /api/v1/budgets"));
  AGENTD_RETURN_IF_ERROR(Items(body, "GET /api/v1/budgets"));
  return body;
}

core::Result<AuditPage> ApiClient::ListAudit(const AuditQuery& query) {
  std::string path = WithQuery(
      "/api/v1/audit", {{"actor", query.actor},
                        {"action", query.action},
                        {"subject", query.subject},
                        {"from", query.from},
                        {"to", query.to},
                        {"limit", query.limit > 0 ? std::to_string(query.limit) : std::string()},
                        {"cursor", query.cursor}});
  AGENTD_ASSIGN_OR_RETURN(Json body, Call(NewRequest("GET", path), "GET /api/v1/audit"));
  AGENTD_ASSIGN_OR_RETURN(auto items, Items(body, "GET /api/v1/audit"));
  return AuditPage{std::move(items), StringField(body, "nextCursor")};
}

core::Result<Json> ApiClient::VerifyAudit() {
  AGENTD_ASSIGN_OR_RETURN(
      Json body, Call(NewRequest("GET", "/api/v1/audit/verify"), "GET /api/v1/audit/verify"));
  if (!body.is_object() || !body.contains("ok") || !body["ok"].is_boolean()) {
    return core::Internal("malformed answer to GET /api/v1/audit/verify: no boolean \"ok\"");
  }
  return body;
}

core::Status ApiClient::ExportAudit(const std::function<bool(std::string_view)>& on_chunk) {
  constexpr std::string_view kWhat = "GET /api/v1/audit/export";
  last_problem_code_.clear();
  httpclient::Request http = NewRequest("GET", "/api/v1/audit/export");
  http.headers[0].second = "application/x-ndjson";  // Accept, set first by NewRequest
  // The whole audit trail: bounded by silence only, not by time or size.
  http.timeout = std::chrono::hours(24);
  http.idle_timeout = options_.timeout;
  http.max_response_bytes = std::numeric_limits<size_t>::max();
  bool stopped = false;
  std::string head;
  auto response = transport_.SendStreaming(http, [&](std::string_view chunk) {
    if (head.size() < kMaxErrorBodyBytes) {
      head.append(chunk.substr(0, kMaxErrorBodyBytes - head.size()));
    }
    if (!on_chunk(chunk)) stopped = true;
    return !stopped;
  });
  if (stopped) return core::Aborted(std::string(kWhat) + ": stopped by the reader");
  if (!response.ok()) return std::move(response).error();
  if (!IsSuccess(response->status)) {
    httpclient::Response error_response = *response;
    if (error_response.body.empty()) error_response.body = head;
    return ErrorFrom(error_response, kWhat);
  }
  return core::Ok();
}

}  // namespace agentd::cli
