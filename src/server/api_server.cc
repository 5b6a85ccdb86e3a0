#include "server/api_server.h"

#include <chrono>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1/runner_protocol.h"
#include "api/v1/submit.h"
#include "auth/runner_token.h"
#include "core/env.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/money.h"
#include "core/text.h"
#include "core/time.h"
#include "resources/codec.h"
#include "server/event_stream.h"
#include "server/problem.h"

namespace agentd::server {

namespace {

enum class RouteId {
  kNotFound,
  kHealth,
  kReady,
  kMetrics,
  kOpenApi,
  kRuns,
  kJobsSubmit,
  kRun,
  kRunCancel,
  kRunEvents,
  kRunApprove,
  kRunReject,
  kUsage,
  kBudgets,
  kAudit,
  kAuditVerify,
  kAuditCheckpoints,
  kAuditExport,
  kCatalogList,
  kCatalogItem,
};

constexpr std::string_view kRunsPrefix = "/api/v1/runs";
constexpr int kDefaultListLimit = 50;
constexpr int kDefaultEventLimit = 100;
constexpr int kMaxLimit = 1000;
constexpr size_t kMaxIdempotencyKey = 128;

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The method as a metric label: a fixed set, so clients cannot mint label values.
std::string_view MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "OTHER";
}

bool IsCatalogKind(std::string_view kind) {
  return kind == "agents" || kind == "models" || kind == "instructions";
}

}  // namespace

struct ApiServer::Route {
  RouteId id = RouteId::kNotFound;
  std::string_view pattern = "unmatched";  // the metric label
  std::string_view allow;                  // methods, for 405 and the Allow header
  bool needs_auth = false;
  std::string param;      // {id} or {name}
  std::string_view kind;  // agents | models | instructions
};

namespace {

ApiServer::Route MatchRoute(std::string_view path) {
  using Route = ApiServer::Route;
  Route route;
  route.needs_auth = StartsWith(path, "/api/");
  if (path == "/health") return {RouteId::kHealth, "/health", "GET"};
  if (path == "/ready") return {RouteId::kReady, "/ready", "GET"};
  if (path == "/metrics") return {RouteId::kMetrics, "/metrics", "GET"};
  if (path == "/openapi.json") return {RouteId::kOpenApi, "/openapi.json", "GET"};
  if (path == "/api/jobs/submit") return {RouteId::kJobsSubmit, "/api/jobs/submit", "POST", true};
  if (StartsWith(path, kRunsPrefix)) {
    std::string_view rest = path.substr(kRunsPrefix.size());
    if (rest.empty()) return {RouteId::kRuns, "/api/v1/runs", "GET, POST", true};
    if (rest[0] != '/') return route;
    rest.remove_prefix(1);
    size_t slash = rest.find('/');
    std::string_view id = rest.substr(0, slash);
    std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (id.empty()) return route;
    if (slash == std::string_view::npos) {
      return {RouteId::kRun, "/api/v1/runs/{id}", "GET", true, std::string(id)};
    }
    if (tail == "cancel") {
      return {RouteId::kRunCancel, "/api/v1/runs/{id}/cancel", "POST", true, std::string(id)};
    }
    if (tail == "events") {
      // POST is a runner's: authenticated by its runner token instead of an API key.
      return {RouteId::kRunEvents, "/api/v1/runs/{id}/events", "GET, POST", true, std::string(id)};
    }
    if (tail == "approve") {
      return {RouteId::kRunApprove, "/api/v1/runs/{id}/approve", "POST", true, std::string(id)};
    }
    if (tail == "reject") {
      return {RouteId::kRunReject, "/api/v1/runs/{id}/reject", "POST", true, std::string(id)};
    }
    return route;
  }
  if (path == "/api/v1/usage") return {RouteId::kUsage, "/api/v1/usage", "GET", true};
  if (path == "/api/v1/budgets") return {RouteId::kBudgets, "/api/v1/budgets", "GET", true};
  if (path == "/api/v1/audit") return {RouteId::kAudit, "/api/v1/audit", "GET", true};
  if (path == "/api/v1/audit/verify") {
    return {RouteId::kAuditVerify, "/api/v1/audit/verify", "GET", true};
  }
  if (path == "/api/v1/audit/checkpoints") {
    return {RouteId::kAuditCheckpoints, "/api/v1/audit/checkpoints", "GET, POST", true};
  }
  if (path == "/api/v1/audit/export") {
    return {RouteId::kAuditExport, "/api/v1/audit/export", "GET", true};
  }
  if (StartsWith(path, "/api/v1/")) {
    std::string_view rest = path.substr(8);
    size_t slash = rest.find('/');
    std::string_view kind = rest.substr(0, slash);
    if (!IsCatalogKind(kind)) return route;
    // Patterns are static strings (metric labels), one per kind.
    static constexpr std::string_view kListPatterns[] = {"/api/v1/agents", "/api/v1/models",
                                                         "/api/v1/instructions"};
    static constexpr std::string_view kItemPatterns[] = {
        "/api/v1/agents/{name}", "/api/v1/models/{name}", "/api/v1/instructions/{name}"};
    size_t index = kind == "agents" ? 0 : kind == "models" ? 1 : 2;
    if (slash == std::string_view::npos) {
      return {RouteId::kCatalogList, kListPatterns[index], "GET", true, "", kind};
    }
    std::string_view name = rest.substr(slash + 1);
    if (name.empty() || name.find('/') != std::string_view::npos) return route;
    return {RouteId::kCatalogItem, kItemPatterns[index], "GET", true, std::string(name), kind};
  }
  return route;
}

bool MethodAllowed(std::string_view method, std::string_view allow) {
  if (method == "HEAD") method = "GET";  // the server leaves the body out
  size_t pos = 0;
  while (pos < allow.size()) {
    size_t comma = allow.find(',', pos);
    std::string_view item =
        allow.substr(pos, comma == std::string_view::npos ? allow.npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item == method) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

core::Result<int> LimitParam(const net::HttpRequest& request, int fallback) {
  auto text = request.Query("limit");
  if (!text) return fallback;
  AGENTD_ASSIGN_OR_RETURN(int64_t value,
                          core::ParseInt(*text, 1, kMaxLimit, "query parameter \"limit\""));
  return static_cast<int>(value);
}

core::Result<int64_t> SequenceParam(std::string_view text, std::string_view what) {
  return core::ParseInt(text, 0, std::numeric_limits<int64_t>::max(), what);
}

core::Status ParseLabelSelector(const std::vector<std::string>& values,
                                std::map<std::string, std::string>& labels) {
  for (const std::string& value : values) {
    for (const std::string& pair : core::SplitList(value, ',')) {
      size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        return core::InvalidArgument("label filter " + core::QuoteForMessage(pair) +
                                     " must be key=value");
      }
      std::string key = pair.substr(0, eq);
      std::string val = pair.substr(eq + 1);
      if (!api::v1::IsLabelKey(key) || !api::v1::IsLabelValue(val)) {
        return core::InvalidArgument("label filter " + core::QuoteForMessage(pair) +
                                     " is not a valid label key=value");
      }
      labels[key] = val;
    }
  }
  return core::Ok();
}

net::HttpResponse RunResponse(int status, const runs::Run& run) {
  return JsonResponse(status, runs::RunToJson(run));
}

}  // namespace

// Records the status and latency of each answer.
class ApiServer::Instrumented final : public net::Responder {
 public:
  Instrumented(std::shared_ptr<net::Responder> inner, ApiServer& server, std::string_view method,
               std::string_view route, std::chrono::steady_clock::time_point start)
      : inner_(std::move(inner)), server_(server), method_(method), route_(route), start_(start) {}

  void Send(net::HttpResponse response) override {
    Record(server_, method_, route_, start_, response.status);
    inner_->Send(std::move(response));
  }

  void SendWith(std::function<net::HttpResponse()> make) override {
    inner_->SendWith([&server = server_, method = method_, route = route_, start = start_,
                      make = std::move(make)] {
      net::HttpResponse response = make();
      Record(server, method, route, start, response.status);
      return response;
    });
  }

  std::shared_ptr<net::StreamWriter> StartStream(int status, net::HeaderList headers,
                                                 net::StreamOptions options) override {
    Record(server_, method_, route_, start_, status);
    return inner_->StartStream(status, std::move(headers), std::move(options));
  }

 private:
  static void Record(ApiServer& server, std::string_view method, std::string_view route,
                     std::chrono::steady_clock::time_point start, int status) {
    server.requests_.WithLabels({std::string(method), std::string(route), std::to_string(status)})
        .Inc();
    std::chrono::duration<double> elapsed = server.deps_.clock.SteadyNow() - start;
    server.durations_.WithLabels({std::string(route)}).Observe(elapsed.count());
    if (status >= 500 && status != 503) {  // 503s (not ready, busy) are expected and retried
      core::LogWarn("http request failed",
                    {{"method", method}, {"route", route}, {"status", status}});
    }
  }

  std::shared_ptr<net::Responder> inner_;
  ApiServer& server_;
  std::string_view method_;  // static strings
  std::string_view route_;
  std::chrono::steady_clock::time_point start_;
};

struct ApiServer::Call {
  net::HttpRequest request;
  std::shared_ptr<Instrumented> responder;
  Route route;
  std::string identity;

  void Send(net::HttpResponse response) { responder->Send(std::move(response)); }
  void Fail(const core::Error& error) { responder->Send(ErrorResponse(error)); }
};

ApiServer::ApiServer(ApiServerDeps deps, ApiServerOptions options)
    : deps_(deps),
      options_(std::move(options)),
      requests_(deps.metrics.AddCounter("agentd_http_requests_total",
                                        "HTTP requests answered, by method, route and status",
                                        {"method", "route", "code"})),
      durations_(deps.metrics.AddHistogram("agentd_http_request_duration_seconds",
                                           "Time from request to answer (for event streams: "
                                           "to the start of the stream)",
                                           {"route"}, telemetry::HttpLatencyBuckets())),
      followers_gauge_(
          deps.metrics.AddGauge("agentd_sse_followers", "Open event streams (SSE followers)")
              .WithLabels({})) {}

ApiServer::~ApiServer() = default;

net::Handler ApiServer::Handler() {
  return [this](net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
    Handle(std::move(request), std::move(responder));
  };
}

void ApiServer::Handle(net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
  auto start = deps_.clock.SteadyNow();
  Call call;
  call.route = MatchRoute(request.path);
  call.responder = std::make_shared<Instrumented>(
      std::move(responder), *this, MethodLabel(request.method), call.route.pattern, start);
  call.request = std::move(request);

  const bool runner_ingest = call.route.id == RouteId::kRunEvents && call.request.method == "POST";
  if (call.route.needs_auth && !runner_ingest) {
    auto header = call.request.Header("authorization");
    auto identity = deps_.auth.Authenticate(header ? std::optional<std::string_view>(*header)
                                                   : std::optional<std::string_view>());
    if (!identity.ok()) {
      net::HttpResponse response = ErrorResponse(identity.error());
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"agentd\"");
      call.Send(std::move(response));
      return;
    }
    call.identity = std::move(identity).value();
  }
  if (call.route.id == RouteId::kNotFound) {
    call.Send(ProblemResponse(404, "not_found", "Not found",
                              "no such resource: " + core::QuoteForMessage(call.request.path)));
    return;
  }
  if (!MethodAllowed(call.request.method, call.route.allow)) {
    bool catalog = call.route.id == RouteId::kCatalogList || call.route.id == RouteId::kCatalogItem;
    std::string detail =
        catalog ? "the catalog is read-only through the API: objects are loaded from the "
                  "--config directory"
                : "method " + core::QuoteForMessage(call.request.method) +
                      " is not allowed here; use " + std::string(call.route.allow);
    net::HttpResponse response =
        ProblemResponse(405, "method_not_allowed", "Method not allowed", detail);
    response.headers.emplace_back("Allow", std::string(call.route.allow));
    call.Send(std::move(response));
    return;
  }

  switch (call.route.id) {
    case RouteId::kHealth:
      call.Send(JsonResponse(200, {{"status", "ok"}}));
      return;
    case RouteId::kReady:
      if (!options_.ready || options_.ready()) {
        call.Send(JsonResponse(200, {{"status", "ok"}}));
      } else {
        call.Send(JsonResponse(503, {{"status", "not ready"}}));
      }
      return;
    case RouteId::kMetrics:
      call.Send({200,
                 {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                 deps_.metrics.Render()});
      return;
    case RouteId::kOpenApi:
      call.Send({200, {{"Content-Type", std::string(kJson)}}, std::string(OpenApiDocument())});
      return;
    case RouteId::kRuns:
      if (call.request.method == "POST") {
        Submit(call);
      } else {
        ListRuns(call);
      }
      return;
    case RouteId::kJobsSubmit:
      Submit(call);
      return;
    case RouteId::kRun:
      GetRun(call);
      return;
    case RouteId::kRunCancel:
      CancelRun(call);
      return;
    case RouteId::kRunEvents:
      if (runner_ingest) {
        IngestEvents(call);
      } else {
        Events(call);
      }
      return;
    case RouteId::kRunApprove:
    case RouteId::kRunReject:
      Decide(call, call.route.id == RouteId::kRunApprove);
      return;
    case RouteId::kUsage:
      Usage(call);
      return;
    case RouteId::kBudgets:
      Budgets(call);
      return;
    case RouteId::kAudit:
      AuditList(call);
      return;
    case RouteId::kAuditVerify:
      AuditVerify(call);
      return;
    case RouteId::kAuditCheckpoints:
      AuditCheckpoints(call);
      return;
    case RouteId::kAuditExport:
      AuditExport(call);
      return;
    case RouteId::kCatalogList:
    case RouteId::kCatalogItem:
      Catalog(call);
      return;
    case RouteId::kNotFound:
      break;
  }
  call.Send(ProblemResponse(404, "not_found", "Not found", "no such resource"));
}

// --- runs ---------------------------------------------------------------------------------------

void ApiServer::Submit(Call& call) {
  std::string idempotency_key;
  if (auto key = call.request.Header("idempotency-key")) {
    bool printable = !key->empty() && key->size() <= kMaxIdempotencyKey;
    for (char c : *key) printable = printable && c >= 0x20 && c <= 0x7e;
    if (!printable) {
      call.Fail(core::InvalidArgument(
          "the Idempotency-Key header must be 1-128 printable ASCII characters"));
      return;
    }
    idempotency_key = std::move(*key);
  }
  auto body = api::v1::ParseSubmitRequest(call.request.body);
  if (!body.ok()) {
    if (body.error().code == core::ErrorCode::kResourceExhausted) {
      call.Send(
          ProblemResponse(413, "resource_exhausted", "Payload too large", body.error().message));
    } else {
      call.Fail(body.error());
    }
    return;
  }
  scheduler::SubmitRequest request;
  request.agent = std::move(body->agent);
  request.input = std::move(body->input);
  request.parameters = std::move(body->parameters);
  request.priority = body->priority;
  request.deadline = body->deadline;
  request.labels = std::move(body->labels);
  request.idempotency_key = std::move(idempotency_key);
  request.caller = call.identity;
  request.source = runs::Source::kApi;

  // The callback may run on the store's commit thread: it only hands the result over; the JSON
  // is made on the connection's loop thread.
  deps_.runs.SubmitAsync(
      std::move(request),
      [responder = call.responder](core::Result<store::CreateRunResult> result) mutable {
        responder->SendWith([result = std::move(result)] {
          if (!result.ok()) return ErrorResponse(result.error());
          const store::CreateRunResult& created = *result;
          net::HttpResponse response = RunResponse(created.created ? 201 : 200, created.run);
          response.headers.emplace_back("Location", "/api/v1/runs/" + created.run.id);
          if (!created.created) response.headers.emplace_back("Idempotent-Replayed", "true");
          return response;
        });
      });
}

void ApiServer::ListRuns(Call& call) {
  store::RunFilter filter;
  if (auto agent = call.request.Query("agent"); agent && !agent->empty()) filter.agent = *agent;
  if (auto phase = call.request.Query("phase"); phase && !phase->empty()) {
    auto parsed = runs::ParsePhase(*phase);
    if (!parsed.ok()) {
      call.Fail(core::InvalidArgument("query parameter \"phase\": " + parsed.error().message));
      return;
    }
    filter.phase = *parsed;
  }
  if (auto status = ParseLabelSelector(call.request.QueryAll("label"), filter.labels);
      !status.ok()) {
    call.Fail(status.error());
    return;
  }
  auto limit = LimitParam(call.request, kDefaultListLimit);
  if (!limit.ok()) {
    call.Fail(limit.error());
    return;
  }
  std::string cursor = call.request.Query("cursor").value_or("");
  auto page = deps_.store.ListRuns(filter, *limit, cursor);
  if (!page.ok()) {
    call.Fail(page.error());
    return;
  }
  core::Json items = core::Json::array();
  for (const runs::Run& run : page->runs) items.push_back(runs::RunToJson(run));
  core::Json body = {{"items", std::move(items)}};
  body["nextCursor"] =
      page->next_cursor.empty() ? core::Json(nullptr) : core::Json(page->next_cursor);
  call.Send(JsonResponse(200, body));
}

namespace {

core::Error RunNotFound(std::string_view id) {
  return core::NotFound("run " + core::QuoteForMessage(id) + " not found");
}

}  // namespace

void ApiServer::GetRun(Call& call) {
  const std::string& id = call.route.param;
  if (!core::IsValidRunId(id)) {
    call.Fail(RunNotFound(id));
    return;
  }
  auto run = deps_.store.GetRun(id);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  call.Send(RunResponse(200, *run));
}

void ApiServer::CancelRun(Call& call) {
  const std::string& id = call.route.param;
  if (!core::IsValidRunId(id)) {
    call.Fail(RunNotFound(id));
    return;
  }
  auto run = deps_.runs.Cancel(id, call.identity);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  call.Send(RunResponse(200, *run));
}

void ApiServer::Events(Call& call) {
  const std::string& id = call.route.param;
  if (!core::IsValidRunId(id)) {
    call.Fail(RunNotFound(id));
    return;
  }
  auto accept = call.request.Header("accept");
  auto follow_param = call.request.Query("follow");
  bool follow = (accept && accept->find("text/event-stream") != std::string::npos) ||
                (follow_param && (*follow_param == "true" || *follow_param == "1"));

  int64_t after = 0;
  auto last_event_id = call.request.Header("last-event-id");
  if (follow && last_event_id && !last_event_id->empty()) {
    auto parsed = SequenceParam(*last_event_id, "header \"Last-Event-ID\"");
    if (!parsed.ok()) {
      call.Fail(parsed.error());
      return;
    }
    after = *parsed;
  } else if (auto text = call.request.Query("after")) {
    auto parsed = SequenceParam(*text, "query parameter \"after\"");
    if (!parsed.ok()) {
      call.Fail(parsed.error());
      return;
    }
    after = *parsed;
  }
  if (follow) {
    FollowEvents(call, after);
    return;
  }

  auto limit = LimitParam(call.request, kDefaultEventLimit);
  if (!limit.ok()) {
    call.Fail(limit.error());
    return;
  }
  auto run = deps_.store.GetRun(id);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  auto events = deps_.store.ListEvents(id, after, *limit);
  if (!events.ok()) {
    call.Fail(events.error());
    return;
  }
  core::Json items = core::Json::array();
  int64_t next_after = after;
  for (const runs::Event& event : *events) {
    items.push_back(runs::EventToJson(event));
    next_after = event.seq;
  }
  call.Send(JsonResponse(200, {{"items", std::move(items)}, {"nextAfter", next_after}}));
}

namespace {

constexpr int64_t kMaxAttempt = 1'000'000;

net::HttpResponse Unauthenticated(const core::Error& error) {
  net::HttpResponse response = ErrorResponse(error);
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"agentd-runner\"");
  return response;
}

// The lines of a batch as RunnerEvents; kInvalidArgument naming the first bad line (1-based).
// Blank lines (a trailing newline, CRLF endings) are skipped.
core::Result<std::vector<api::v1::RunnerEvent>> ParseRunnerBatch(std::string_view body) {
  std::vector<api::v1::RunnerEvent> events;
  size_t pos = 0;
  int64_t line_number = 0;
  while (pos < body.size()) {
    size_t newline = body.find('\n', pos);
    std::string_view line = body.substr(
        pos, newline == std::string_view::npos ? std::string_view::npos : newline - pos);
    pos = newline == std::string_view::npos ? body.size() : newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto event = api::v1::ParseRunnerEvent(line);
    if (!event.ok()) {
      core::Error error = core::InvalidArgument("line " + std::to_string(line_number) +
                                                " of the batch: " + event.error().message +
                                                "; nothing of this batch was stored");
      error.fields.emplace_back("line", std::to_string(line_number));
      return error;
    }
    events.push_back(std::move(event).value());
  }
  return events;
}

}  // namespace

void ApiServer::IngestEvents(Call& call) {
  const std::string& id = call.route.param;
  // The token first: nothing about the run is answered to a caller without one.
  auto authorization = call.request.Header("authorization");
  auto token = auth::BearerToken(authorization ? std::optional<std::string_view>(*authorization)
                                               : std::optional<std::string_view>());
  if (!token) {
    call.Send(Unauthenticated(
        core::Unauthenticated("send the run's runner token as \"Authorization: Bearer <token>\"")));
    return;
  }
  if (!core::IsValidRunId(id)) {
    call.Fail(RunNotFound(id));
    return;
  }
  const std::string attempt_header = api::v1::kRunnerAttemptHeader;
  const std::string instance_header = api::v1::kRunnerInstanceHeader;
  auto attempt_text = call.request.Header(attempt_header);
  if (!attempt_text) {
    call.Fail(core::InvalidArgument("header " + attempt_header +
                                    " is required: the attempt the runner belongs to"));
    return;
  }
  auto attempt = core::ParseInt(*attempt_text, 1, kMaxAttempt, "header " + attempt_header);
  if (!attempt.ok()) {
    call.Fail(attempt.error());
    return;
  }
  auto instance = call.request.Header(instance_header);
  if (!instance || !api::v1::IsValidRunnerInstance(*instance)) {
    call.Fail(core::InvalidArgument("header " + instance_header +
                                    " must name the runner instance (the pod name): 1-253 "
                                    "letters, digits, '.', '_' or '-'"));
    return;
  }
  if (call.request.body.size() > api::v1::kMaxRunnerBatchBytes) {
    call.Send(ProblemResponse(413, "resource_exhausted", "Payload too large",
                              "a batch of runner events is at most " +
                                  std::to_string(api::v1::kMaxRunnerBatchBytes) +
                                  " bytes; send smaller batches"));
    return;
  }
  // Authenticate before parsing: an anonymous caller gets no work out of the server. The
  // scheduler checks the token again against the run as it is when the events are recorded.
  auto run = deps_.store.GetRun(id);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  if (!auth::RunnerTokenMatches(*token, run->runner_token_hash)) {
    call.Send(
        Unauthenticated(core::Unauthenticated("the runner token is not valid for run " + id)));
    return;
  }
  auto events = ParseRunnerBatch(call.request.body);
  if (!events.ok()) {
    call.Fail(events.error());
    return;
  }
  auto accepted = deps_.runs.IngestRunnerEvents(id, static_cast<int>(*attempt), *instance, *token,
                                                std::move(events).value());
  if (!accepted.ok()) {
    const core::Error& error = accepted.error();
    if (error.code == core::ErrorCode::kUnauthenticated) {
      call.Send(Unauthenticated(error));
      return;
    }
    net::HttpResponse response = ErrorResponse(error);
    if (error.code == core::ErrorCode::kUnavailable) {
      response.headers.emplace_back("Retry-After", "1");
    }
    call.Send(std::move(response));
    return;
  }
  call.Send(JsonResponse(200, {{"accepted", *accepted}}));
}

void ApiServer::FollowEvents(Call& call, int64_t after) {
  if (followers_.load() >= options_.max_sse_followers) {
    net::HttpResponse response = ErrorResponse(
        core::Unavailable("too many open event streams (" +
                          std::to_string(options_.max_sse_followers) + "); retry later"));
    response.headers.emplace_back("Retry-After", "5");
    call.Send(std::move(response));
    return;
  }
  followers_.fetch_add(1);
  followers_gauge_.Add(1);
  auto stream = std::make_shared<EventStream>(
      deps_.store, call.route.param, after,
      EventStream::Options{.page_size = std::max(1, options_.event_page_size)}, [this] {
        followers_.fetch_sub(1);
        followers_gauge_.Add(-1);
      });
  stream->Subscribe(deps_.bus);  // before reading the run, so nothing later is missed
  auto run = deps_.store.GetRun(call.route.param);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  auto writer = call.responder->StartStream(
      200,
      {{"Content-Type", "text/event-stream; charset=utf-8"},
       {"Cache-Control", "no-cache"},
       {"X-Accel-Buffering", "no"}},
      {.heartbeat_interval = options_.keepalive_interval, .heartbeat = ": keep-alive\n\n"});
  stream->Start(std::move(writer), runs::IsTerminal(run->phase));
}

// --- catalog ------------------------------------------------------------------------------------

void ApiServer::Catalog(Call& call) {
  std::shared_ptr<const catalog::Snapshot> snapshot = deps_.catalog.Current();
  std::string_view kind = call.route.kind;
  if (call.route.id == RouteId::kCatalogList) {
    core::Json items = core::Json::array();
    if (kind == "agents") {
      for (const auto& [name, agent] : snapshot->agents) items.push_back(resources::ToJson(agent));
    } else if (kind == "models") {
      for (const auto& [name, model] : snapshot->models) items.push_back(resources::ToJson(model));
    } else {
      for (const auto& [name, instruction] : snapshot->instructions) {
        items.push_back(resources::ToJson(instruction));
      }
    }
    call.Send(
        JsonResponse(200, {{"items", std::move(items)}, {"generation", snapshot->generation}}));
    return;
  }
  const std::string& name = call.route.param;
  std::optional<core::Json> found;
  std::string_view singular;
  if (kind == "agents") {
    singular = "agent";
    if (auto it = snapshot->agents.find(name); it != snapshot->agents.end()) {
      found = resources::ToJson(it->second);
    }
  } else if (kind == "models") {
    singular = "model";
    if (auto it = snapshot->models.find(name); it != snapshot->models.end()) {
      found = resources::ToJson(it->second);
    }
  } else {
    singular = "instruction";
    if (auto it = snapshot->instructions.find(name); it != snapshot->instructions.end()) {
      found = resources::ToJson(it->second);
    }
  }
  if (!found) {
    call.Fail(
        core::NotFound(std::string(singular) + " " + core::QuoteForMessage(name) + " not found"));
    return;
  }
  call.Send(JsonResponse(200, *found));
}

// --- governance ---------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxReasonBytes = 1024;
constexpr size_t kMaxFilterBytes = 256;

// An optional RFC 3339 query parameter.
core::Result<std::optional<core::TimePoint>> TimeParam(const net::HttpRequest& request,
                                                       std::string_view name) {
  auto text = request.Query(name);
  if (!text || text->empty()) return std::optional<core::TimePoint>();
  auto parsed = core::ParseRfc3339(*text);
  if (!parsed.ok()) {
    return core::InvalidArgument("query parameter \"" + std::string(name) +
                                 "\" must be an RFC 3339 time such as 2026-11-01T00:00:00Z, got " +
                                 core::QuoteForMessage(*text));
  }
  return std::optional<core::TimePoint>(*parsed);
}

// An optional short text query parameter.
core::Result<std::optional<std::string>> TextParam(const net::HttpRequest& request,
                                                   std::string_view name) {
  auto text = request.Query(name);
  if (!text || text->empty()) return std::optional<std::string>();
  if (text->size() > kMaxFilterBytes) {
    return core::InvalidArgument("query parameter \"" + std::string(name) + "\" is longer than " +
                                 std::to_string(kMaxFilterBytes) + " bytes");
  }
  return std::optional<std::string>(std::move(*text));
}

core::Json UsageJson(const runs::Usage& usage, int64_t runs) {
  return {{"runs", runs},
          {"modelCalls", usage.model_calls},
          {"inputTokens", usage.input_tokens},
          {"cachedInputTokens", usage.cached_input_tokens},
          {"outputTokens", usage.output_tokens},
          {"costUsd", core::FormatUsd(usage.cost_micros)}};
}

core::TimePoint StartOfUtcMonth(core::TimePoint now) {
  const auto days = std::chrono::floor<std::chrono::days>(now);
  const std::chrono::year_month_day ymd{days};
  return std::chrono::sys_days{ymd.year() / ymd.month() / 1};
}

}  // namespace

void ApiServer::Decide(Call& call, bool approve) {
  const std::string& id = call.route.param;
  if (!core::IsValidRunId(id)) {
    call.Fail(RunNotFound(id));
    return;
  }
  std::string reason;
  if (!call.request.body.empty()) {
    auto body = core::ParseJson(call.request.body);
    if (!body.ok() || !body->is_object()) {
      call.Fail(core::InvalidArgument(
          "the body must be a JSON object such as {\"reason\": \"...\"}, or empty"));
      return;
    }
    for (const auto& [key, value] : body->items()) {
      if (key != "reason") {
        call.Fail(core::InvalidArgument("unknown field " + core::QuoteForMessage(key) +
                                        "; the body takes only \"reason\""));
        return;
      }
      if (!value.is_string() || value.get_ref<const std::string&>().size() > kMaxReasonBytes) {
        call.Fail(core::InvalidArgument("\"reason\" must be a string of at most " +
                                        std::to_string(kMaxReasonBytes) + " bytes"));
        return;
      }
      reason = value.get<std::string>();
    }
  }
  auto run = approve ? deps_.runs.Approve(id, call.identity, reason)
                     : deps_.runs.Reject(id, call.identity, reason);
  if (!run.ok()) {
    call.Fail(run.error());
    return;
  }
  call.Send(RunResponse(200, *run));
}

void ApiServer::Usage(Call& call) {
  store::UsageQuery query;
  const core::TimePoint now = deps_.clock.Now();
  auto from = TimeParam(call.request, "from");
  auto to = TimeParam(call.request, "to");
  if (!from.ok() || !to.ok()) {
    call.Fail(!from.ok() ? from.error() : to.error());
    return;
  }
  query.from = from->value_or(StartOfUtcMonth(now));
  query.to = to->value_or(now + std::chrono::milliseconds(1));
  if (query.from > query.to) {
    call.Fail(core::InvalidArgument("\"from\" is after \"to\""));
    return;
  }
  if (auto group = call.request.Query("groupBy"); group && !group->empty()) {
    for (std::string& dim : core::SplitList(*group)) {
      bool known = false;
      for (std::string_view d : store::kUsageDimensions) known = known || d == dim;
      if (!known) {
        std::string all;
        for (std::string_view d : store::kUsageDimensions) {
          all += (all.empty() ? "" : ", ") + std::string(d);
        }
        call.Fail(core::InvalidArgument("unknown groupBy dimension " + core::QuoteForMessage(dim) +
                                        "; use any of " + all));
        return;
      }
      query.group_by.push_back(std::move(dim));
    }
  }
  const std::pair<std::string_view, std::optional<std::string>*> filters[] = {
      {"agent", &query.agent},
      {"team", &query.team},
      {"costCenter", &query.cost_center},
      {"model", &query.model},
      {"caller", &query.caller}};
  for (const auto& [name, field] : filters) {
    auto value = TextParam(call.request, name);
    if (!value.ok()) {
      call.Fail(value.error());
      return;
    }
    *field = std::move(*value);
  }
  if (auto tier = call.request.Query("tier"); tier && !tier->empty()) {
    auto parsed = core::ParseInt(*tier, 1, 4, "query parameter \"tier\"");
    if (!parsed.ok()) {
      call.Fail(parsed.error());
      return;
    }
    query.tier = static_cast<int>(*parsed);
  }
  auto rows = deps_.store.QueryUsage(query);
  if (!rows.ok()) {
    call.Fail(rows.error());
    return;
  }
  core::Json items = core::Json::array();
  runs::Usage total;
  int64_t total_runs = 0;
  for (const store::UsageRow& row : *rows) {
    core::Json item = UsageJson(row.usage, row.runs);
    item["group"] = row.group;
    items.push_back(std::move(item));
    total += row.usage;
    total_runs += row.runs;
  }
  // A run spread over several groups (days, models) is counted once per group; the total of
  // runs is exact only without grouping.
  core::Json body = {{"from", core::FormatRfc3339(query.from)},
                     {"to", core::FormatRfc3339(query.to)},
                     {"groupBy", query.group_by},
                     {"rows", std::move(items)},
                     {"total", UsageJson(total, total_runs)}};
  call.Send(JsonResponse(200, body));
}

void ApiServer::Budgets(Call& call) { call.Send(JsonResponse(200, deps_.runs.Budgets())); }

void ApiServer::AuditList(Call& call) {
  store::AuditFilter filter;
  const std::pair<std::string_view, std::optional<std::string>*> texts[] = {
      {"actor", &filter.actor}, {"action", &filter.action}, {"subject", &filter.subject}};
  for (const auto& [name, field] : texts) {
    auto value = TextParam(call.request, name);
    if (!value.ok()) {
      call.Fail(value.error());
      return;
    }
    *field = std::move(*value);
  }
  auto from = TimeParam(call.request, "from");
  auto to = TimeParam(call.request, "to");
  if (!from.ok() || !to.ok()) {
    call.Fail(!from.ok() ? from.error() : to.error());
    return;
  }
  filter.from = *from;
  filter.to = *to;
  auto limit = LimitParam(call.request, kDefaultListLimit);
  if (!limit.ok()) {
    call.Fail(limit.error());
    return;
  }
  auto page = deps_.store.ListAudit(filter, *limit, call.request.Query("cursor").value_or(""));
  if (!page.ok()) {
    call.Fail(page.error());
    return;
  }
  core::Json items = core::Json::array();
  for (const auto& entry : page->entries) items.push_back(governance::EntryToJson(entry));
  core::Json body = {{"items", std::move(items)}};
  body["nextCursor"] =
      page->next_cursor.empty() ? core::Json(nullptr) : core::Json(page->next_cursor);
  call.Send(JsonResponse(200, body));
}

void ApiServer::AuditVerify(Call& call) {
  if (deps_.audit == nullptr) {
    call.Fail(core::NotFound("the audit service is not configured"));
    return;
  }
  auto result = deps_.audit->Verify();
  if (!result.ok()) {
    call.Fail(result.error());
    return;
  }
  call.Send(JsonResponse(200, *result));
}

void ApiServer::AuditCheckpoints(Call& call) {
  if (deps_.audit == nullptr) {
    call.Fail(core::NotFound("the audit service is not configured"));
    return;
  }
  if (call.request.method == "POST") {
    auto made = deps_.audit->CheckpointNow();
    if (!made.ok()) {
      call.Fail(made.error());
      return;
    }
    call.Send(JsonResponse(201, governance::CheckpointToJson(*made)));
    return;
  }
  auto all = deps_.store.ListCheckpoints();
  if (!all.ok()) {
    call.Fail(all.error());
    return;
  }
  core::Json items = core::Json::array();
  for (const auto& c : *all) items.push_back(governance::CheckpointToJson(c));
  call.Send(JsonResponse(200, {{"keyId", deps_.audit->KeyId()},
                               {"publicKey", deps_.audit->PublicKeyPem()},
                               {"items", std::move(items)}}));
}

void ApiServer::AuditExport(Call& call) {
  if (deps_.audit == nullptr) {
    call.Fail(core::NotFound("the audit service is not configured"));
    return;
  }
  std::string body;
  auto status = deps_.audit->Export([&body](std::string_view line) {
    body.append(line);
    body.push_back('\n');
    return true;
  });
  if (!status.ok()) {
    call.Fail(status.error());
    return;
  }
  call.Send({200, {{"Content-Type", "application/x-ndjson"}}, std::move(body)});
}

}  // namespace agentd::server
