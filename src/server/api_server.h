// ApiServer: the REST API of agentd (docs/api.md), as one net::Handler. It routes, checks the
// caller, translates JSON to calls of RunService / RunStore / Catalog and results back to JSON
// or application/problem+json; it holds no business logic.
//
// Routes (auth = `Authorization: Bearer <api key>` when keys are configured):
//   POST /api/v1/runs, POST /api/jobs/submit     submit (201, or 200 for an idempotent replay)
//   GET  /api/v1/runs                            list (filters, cursor pagination)
//   GET  /api/v1/runs/{id}                       one run
//   POST /api/v1/runs/{id}/cancel                cancel (409 once terminal)
//   GET  /api/v1/runs/{id}/events                the event log as JSON, or SSE when followed
//   POST /api/v1/runs/{id}/events                a runner posts its events (auth: the run's
//                                                runner token, not an API key; see
//                                                RunService::IngestRunnerEvents)
//   POST /api/v1/runs/{id}/approve|reject        decide a run in AwaitingApproval
//   GET  /api/v1/usage, /api/v1/budgets          usage sums, budget status
//   GET  /api/v1/audit[/verify|/export], GET|POST /api/v1/audit/checkpoints   the audit log
//   GET  /api/v1/{agents|models|instructions}[/{name}]   the catalog, read-only
//   GET  /health, /ready, /metrics, /openapi.json         public
//
// Threads: Handle runs on the HTTP server's loop threads; reads of the store and Cancel block
// the loop briefly, submissions complete asynchronously. Every dependency must outlive the
// ApiServer, and the ApiServer must outlive the HttpServer that calls it (stop that first).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "audit/audit_service.h"
#include "auth/api_key_authenticator.h"
#include "bus/bus.h"
#include "catalog/snapshot.h"
#include "core/clock.h"
#include "net/http_server.h"
#include "scheduler/run_service.h"
#include "store/run_store.h"
#include "telemetry/metrics.h"

namespace agentd::server {

struct ApiServerDeps {
  scheduler::RunService& runs;
  store::RunStore& store;
  bus::Bus& bus;
  catalog::Catalog& catalog;
  telemetry::Registry& metrics;
  const auth::ApiKeyAuthenticator& auth;
  const core::Clock& clock;
  // The audit log's keeper (checkpoints, verification, export); the audit routes answer 404
  // without it.
  audit::AuditService* audit = nullptr;
};

struct ApiServerOptions {
  // SSE comment lines (": keep-alive") sent on an idle event stream.
  std::chrono::milliseconds keepalive_interval{15'000};
  // Event streams open at once; more are refused with 503.
  int max_sse_followers = 10'000;
  // Events read from the store per page when streaming a backlog.
  int event_page_size = 256;
  // GET /ready answers 200 while this returns true (always, when empty), else 503.
  std::function<bool()> ready;
};

class ApiServer {
 public:
  ApiServer(ApiServerDeps deps, ApiServerOptions options = {});
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // A handler for net::HttpServer; it refers to this ApiServer.
  net::Handler Handler();
  void Handle(net::HttpRequest&& request, std::shared_ptr<net::Responder> responder);

  // Event streams open now.
  int followers() const { return followers_.load(); }

  struct Route;  // the routing table, in api_server.cc

 private:
  class Instrumented;
  struct Call;

  void Submit(Call& call);
  void ListRuns(Call& call);
  void GetRun(Call& call);
  void CancelRun(Call& call);
  void Events(Call& call);
  void FollowEvents(Call& call, int64_t after);
  void IngestEvents(Call& call);
  void Catalog(Call& call);
  // Governance: approvals, usage, budgets, the audit log.
  void Decide(Call& call, bool approve);
  void Usage(Call& call);
  void Budgets(Call& call);
  void AuditList(Call& call);
  void AuditVerify(Call& call);
  void AuditCheckpoints(Call& call);
  void AuditExport(Call& call);

  ApiServerDeps deps_;
  ApiServerOptions options_;
  telemetry::Family<telemetry::Counter>& requests_;
  telemetry::Family<telemetry::Histogram>& durations_;
  telemetry::Gauge& followers_gauge_;
  std::atomic<int> followers_{0};
};

// The OpenAPI 3.1 description of the routes (src/server/openapi.json, embedded at build time).
std::string_view OpenApiDocument();

}  // namespace agentd::server
