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

  // The budgets and their state now (GET /api/v1/budgets): {"items": [...]}, see docs/api.md.
  virtual core::Json Budgets() = 0;

  virtual SchedulerStats Stats() const = 0;
};

}  // namespace agentd::scheduler
