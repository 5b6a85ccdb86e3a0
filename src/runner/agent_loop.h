// The agent loop: converse with the model and run its tool calls until it gives a final answer
// or a limit stops it. Pure apart from its injected dependencies (provider, tools, event sink,
// clock, stop signal), so it is tested with a scripted provider.
//
//   messages = [system: spec.system_prompt, user: spec.input]
//   up to limits.max_turns times:
//     cost reservation (limits.max_cost_micros > 0): if spent so far + WorstCaseCallCost of the
//       request > the allowance, do not call: `violation {rule: run_cost_limit}` -> failed
//       "BudgetExceeded"
//     call the model; stream `delta` events (coalesced), then one `usage` event (cost from the
//     spec's prices; the real usage is what is spent) and a `message` event with the whole
//     assistant text
//     no tool calls      -> succeeded ("Completed") with that text
//     else for each call -> `tool_call`, run it (a tool the agent does not allow also gets a
//                           `violation {rule: tool_not_allowed}`; it, malformed arguments and
//                           tool errors become error results for the model, the run goes on),
//                           `tool_result`, append the tool message
//     then stop if limits.max_tokens is reached ("TokenLimitExceeded") or the spent cost
//     reached the allowance (the model reported more than the estimate: `violation
//     {rule: run_cost_limit}`, "BudgetExceeded")
//   -> `violation {rule: max_turns}`, failed "MaxTurnsExceeded"
// Model errors end the run ("ModelError"); a stop signal ends it as "Interrupted" or
// "TimedOut". The limits stop further spending: a final answer that arrives in the call that
// crosses a limit still succeeds. A run that fails keeps the last non-empty assistant text as
// its partial `result`. The caller emits the `result` event (ResultEventData).
//
// A spec with an allowance but no output limit (model.max_output_tokens <= 0) has no bounded
// worst case and fails before any call ("InvalidSpec").
// The reservation is checked once per logical model call, before it is sent: the provider's
// retries re-send the same request, failed attempts report no usage, so neither the estimate
// nor the spent cost changes between attempts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/v1/runner_protocol.h"
#include "core/clock.h"
#include "core/money.h"
#include "runner/event_sink.h"
#include "runner/model_provider.h"
#include "runner/stop_signal.h"
#include "runner/tools/tool.h"

namespace agentd::runner {

// `reason` values of the result event.
inline constexpr char kReasonCompleted[] = "Completed";
inline constexpr char kReasonMaxTurns[] = "MaxTurnsExceeded";
inline constexpr char kReasonModelError[] = "ModelError";
inline constexpr char kReasonInterrupted[] = "Interrupted";
inline constexpr char kReasonTimedOut[] = "TimedOut";
inline constexpr char kReasonEventsRefused[] = "EventsRefused";
inline constexpr char kReasonTokenLimit[] = "TokenLimitExceeded";
inline constexpr char kReasonBudgetExceeded[] = "BudgetExceeded";
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
inline constexpr char kReasonWorkspaceError[] = "WorkspaceError";

// Bounds of event payloads (the model and tools see the full text).
inline constexpr size_t kMaxMessageEventBytes = 64 * 1024;
inline constexpr size_t kMaxToolResultEventBytes = 8 * 1024;
inline constexpr size_t kMaxToolArgumentEventBytes = 4 * 1024;

// `rule` values of the violation events the runner emits (governance design, "Violations").
inline constexpr char kRuleRunCostLimit[] = "run_cost_limit";
inline constexpr char kRuleToolNotAllowed[] = "tool_not_allowed";
inline constexpr char kRuleMaxTurns[] = "max_turns";

// Bytes per token assumed by the input estimate (conservative: English text averages ~4).
inline constexpr int64_t kEstimateBytesPerToken = 3;

struct AgentLoopDeps {
  ModelProvider& provider;
  const std::vector<std::unique_ptr<Tool>>& tools;  // the tools the spec allows
  EventSink& events;
  const core::Clock& clock;
  const StopSignal& stop;
};

struct RunOutcome {
  bool succeeded = false;
  std::string result;  // the final answer; when failed, the last non-empty assistant text
  std::string error;   // why it failed
  std::string reason;  // one of the kReason* values
  int turns = 0;       // model calls made
  int64_t total_tokens = 0;
  core::MicroUsd cost_micros = 0;
};

// Input tokens not served from cache at the input price, cached ones at the cached price,
// output at the output price; each part rounded up to a micro-dollar (core::CostOfTokens).
core::MicroUsd CostOfUsage(const TokenUsage& usage, const api::v1::RunnerModel& prices);

// ceil(bytes / kEstimateBytesPerToken); 0 for 0 bytes.
int64_t EstimateTokens(size_t bytes);

// The UTF-8 bytes of the request's prompt, provider-neutrally serialized: its messages (role,
// content, tool calls with id, name and arguments, tool_call_id) and its tool definitions
// (name, description, parameters) as one compact JSON document.
size_t PromptBytes(const ChatRequest& request);

// The most one call with `request` can cost: EstimateTokens(PromptBytes) input tokens at the
// higher of the input and cached-input prices, plus request.max_tokens output tokens (the limit
// sent to the model; <= 0 counts as 0) at the output price, each rounded up
// (core::CostOfTokens).
core::MicroUsd WorstCaseCallCost(const ChatRequest& request, const api::v1::RunnerModel& prices);

RunOutcome RunAgentLoop(const api::v1::RunnerSpec& spec, const AgentLoopDeps& deps);

// The data of the final `result` event:
// {"status":"succeeded"|"failed","result":...,"error":...,"reason":...}.
core::Json ResultEventData(const RunOutcome& outcome);

}  // namespace agentd::runner
