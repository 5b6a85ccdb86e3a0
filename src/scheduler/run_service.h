// RunService: what the API (and later webhooks, schedules and the operator) may ask of the
// control plane. The Scheduler implements it. Reads (get, list, events) go to the RunStore
// directly; everything that changes a run goes through here.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1/runner_protocol.h"
#include "core/json.h"
#include "core/result.h"
#include "runs/run.h"
#include "store/run_store.h"

namespace agentd::scheduler {

// A validated submission (the API parses and bounds the JSON; see api/v1/submit.h).
struct SubmitRequest {
  std::string agent;
  std::string input;
  core::Json parameters = core::Json::object();
  int priority = 0;
  std::optional<std::chrono::seconds> deadline;
  std::map<std::string, std::string> labels;
  std::string idempotency_key;  // empty = none
  std::string caller;           // identity of the caller, never a secret
  runs::Source source = runs::Source::kApi;
};

struct SchedulerStats {
  int64_t queued = 0;
  int64_t running = 0;  // Starting + Running
  int64_t awaiting_approval = 0;
};

class RunService {
 public:
  virtual ~RunService() = default;

  // Checks the request against the catalog (kInvalidArgument naming an unknown agent), admits it,
  // stores it durably (group-committed), queues it, then calls `done` (on any thread).
  // Idempotency: see RunStore::CreateRunAsync.
  virtual void SubmitAsync(SubmitRequest request,
                           std::function<void(core::Result<store::CreateRunResult>)> done) = 0;

  // Cancels a run: a queued one at once, a running one by stopping its process (the phase becomes
  // Cancelled when it has exited). Idempotent while not terminal; kFailedPrecondition once it is
  // terminal, kNotFound for an unknown id. Returns the run as it is after the request.
  virtual core::Result<runs::Run> Cancel(std::string_view run_id, std::string_view caller) = 0;

  // Decides a run that waits in AwaitingApproval: Approve queues it (reserving its allowance
  // against its budgets, over the limit if need be: the approver accepted that), Reject ends it
  // Rejected. `approver` is the caller's identity, `reason` free text (both audited). Errors:
  // kNotFound; kFailedPrecondition with reason "not_awaiting_approval" when the run is in
  // another phase; kPermissionDenied with reason "self_approval" when the approver submitted
  // the run (unless self-approval is allowed). Returns the run after the decision.
  virtual core::Result<runs::Run> Approve(std::string_view run_id, std::string_view approver,
                                          std::string_view reason) = 0;
  virtual core::Result<runs::Run> Reject(std::string_view run_id, std::string_view approver,
                                         std::string_view reason) = 0;

  // Events a runner posted over HTTP (POST /api/v1/runs/{id}/events, a Kubernetes pod), already
  // parsed and validated (api::v1::ParseRunnerEvent). Checks, in order: the run exists
  // (kNotFound); SHA-256(token) equals the run's runner_token_hash, compared in constant time
  // (kUnauthenticated; the token is never echoed); the run is not terminal (kFailedPrecondition,
  // reason "run_finished"); `attempt` is the run's current attempt and the run is Starting or
  // Running (kFailedPrecondition, reason "attempt_fenced"); `runner_instance` holds the
  // attempt's claim, taking it when nobody has (RunStore::ClaimRunnerInstance; another instance
  // is refused with "attempt_fenced"). Then the events are recorded as if the executor had
  // reported them (ExecutionListener::OnRunnerEvents: priced, deduplicated by runner seq, so a
  // retried batch is stored once). Returns how many events of the batch are now recorded (all
  // of them; duplicates of events recorded earlier included). kUnavailable when the store is
  // busy or the attempt is not (yet) executing in this process: the runner retries.
  // The default (for test doubles that do not need it) refuses with kInternal.
  virtual core::Result<int64_t> IngestRunnerEvents(std::string_view /*run_id*/, int /*attempt*/,
                                                   std::string_view /*runner_instance*/,
                                                   std::string_view /*token*/,
                                                   std::vector<api::v1::RunnerEvent> /*events*/) {
    return core::Internal("this RunService does not take runner events");
  }

  // The budgets and their state now (GET /api/v1/budgets): {"items": [...]}, see docs/api.md.
  virtual core::Json Budgets() = 0;

  virtual SchedulerStats Stats() const = 0;
};

}  // namespace agentd::scheduler
