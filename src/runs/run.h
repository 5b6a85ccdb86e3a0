// The run: its phases, the allowed transitions between them (a pure function), its usage and
// its events. These are plain values shared by the store, the scheduler, the executors and the
// API; nothing here does I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/money.h"
#include "core/result.h"

namespace agentd::runs {

enum class Phase {
  kPending,           // validated, not yet admitted (transient; never stored by the embedded path)
  kAwaitingApproval,  // admitted, waits for a person
  kQueued,            // admitted, waits for capacity
  kStarting,          // claimed by the scheduler, executor is starting it
  kRunning,           // the runner process reported in
  kSucceeded,         // terminal
  kFailed,            // terminal
  kTimedOut,          // terminal
  kCancelled,         // terminal
  kRejected,          // terminal: admission or approval said no
};

std::string_view PhaseName(Phase phase);  // "Queued", ...
core::Result<Phase> ParsePhase(std::string_view name);
bool IsTerminal(Phase phase);

// The state machine. Terminal phases never change; everything else moves forward only:
//   Pending -> AwaitingApproval | Queued | Rejected
//   AwaitingApproval -> Queued | Rejected | Cancelled
//   Queued -> Starting | Cancelled | TimedOut | Failed
//   Starting -> Running | Succeeded | Failed | TimedOut | Cancelled | Queued (requeue on an
//               executor that could not start it)
//   Running -> Succeeded | Failed | TimedOut | Cancelled
bool CanTransition(Phase from, Phase to);

// Tokens and cost, summed over every model call of the run.
struct Usage {
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t output_tokens = 0;
  core::MicroUsd cost_micros = 0;
  int64_t model_calls = 0;

  Usage& operator+=(const Usage& other);
  friend bool operator==(const Usage&, const Usage&) = default;
};

// Labels the operator puts on the runs it submits for a Run custom resource: the object's name,
// uid and namespace. The Kubernetes executor gives the run's Job an ownerReference to that Run
// when all three are set and the namespace is the executor's (job_builder.h). Callers may not
// set labels under kReservedLabelPrefix themselves (api/v1 ValidateSubmitBody refuses them), so
// these labels always come from the operator.
inline constexpr char kRunObjectNameLabel[] = "k8s.agentd.dev/run-name";
inline constexpr char kRunObjectUidLabel[] = "k8s.agentd.dev/run-uid";
inline constexpr char kRunObjectNamespaceLabel[] = "k8s.agentd.dev/run-namespace";
inline constexpr char kReservedLabelPrefix[] = "k8s.agentd.dev/";

// Who or what submitted a run.
enum class Source { kApi, kCli, kWebhook, kSchedule, kSlack, kKubectl };
std::string_view SourceName(Source source);
core::Result<Source> ParseSource(std::string_view name);

struct Run {
  std::string id;     // core::NewRunId
  std::string agent;  // Agent object name
  std::string input;
  core::Json parameters = core::Json::object();
  int priority = 0;                              // higher first
  std::optional<std::chrono::seconds> deadline;  // overrides the agent's timeout when set
  std::map<std::string, std::string> labels;
  std::string idempotency_key;  // empty when none
  std::string request_hash;     // SHA-256 hex of the canonical request, for idempotency checks
  std::string caller;           // identity of the API key or user (never the key itself)
  Source source = Source::kApi;

  Phase phase = Phase::kQueued;
  std::string reason;   // CamelCase machine reason of the last transition, e.g. "ProcessExited"
  std::string message;  // human text of the last transition

  core::TimePoint created_at;
  std::optional<core::TimePoint> started_at;
  std::optional<core::TimePoint> finished_at;
  int attempts = 0;  // executor starts; fencing token for the runner's events
  Usage usage;
  std::string result;  // the agent's final answer
  std::string error;   // why it failed, for people

  // Executor handle, opaque JSON owned by the executor (pid + start time, or Job name + uid).
  core::Json executor_handle = core::Json::object();
  // SHA-256 hex of the run-scoped token the runner authenticates its events with.
  std::string runner_token_hash;
  // Highest runner-side event number already committed (dedup when re-reading a journal).
  int64_t runner_seq = 0;

  // Governance, fixed at admission (docs/governance.md). The cost attribution comes from the
  // agent at submission time, so later edits of the agent do not rewrite history.
  std::string team;                     // the agent's "team" label
  std::string cost_center;              // the agent's "cost-center" label
  int tier = 0;                         // the agent's tier, 1-4; 0 = none
  std::string config_digest;            // SHA-256 hex of the agent's and model's canonical JSON
  core::MicroUsd allowance_micros = 0;  // worst-case cost reserved at admission (per-run cap)
  std::vector<std::string> budgets;     // the budgets the allowance is reserved against
  // While AwaitingApproval: when the request expires (then Rejected, reason ApprovalExpired).
  std::optional<core::TimePoint> approval_expires_at;

  int64_t version = 0;  // bumped on every write; optimistic concurrency
};

// One entry of a run's event log. `seq` is assigned by the store, 1, 2, 3, ... per run.
struct Event {
  std::string run_id;
  int64_t seq = 0;
  std::string type;  // phase, log, message, delta, tool_call, tool_result, usage, result, error
  core::Json data = core::Json::object();
  core::TimePoint time;
};

// The JSON shapes of the public API (section 8 of ARCHITECTURE.md).
core::Json RunToJson(const Run& run);
core::Json EventToJson(const Event& event);

}  // namespace agentd::runs
