// The agent loop: converse with the model and run its tool calls until it gives a final answer
// or a limit stops it. Pure apart from its injected dependencies (provider, tools, event sink,
// clock, stop signal), so it is tested with a scripted provider.
//
//   messages = [system: spec.system_prompt, user: spec.input]
//   up to limits.max_turns times:
//     call the model; stream `delta` events (coalesced), then one `usage` event (cost from the
//     spec's prices) and a `message` event with the whole assistant text
//     no tool calls      -> succeeded ("Completed") with that text
//     else for each call -> `tool_call`, run it (unknown or not-allowed tools, malformed
//                           arguments and tool errors become error results for the model),
//                           `tool_result`, append the tool message
//     then stop if limits.max_tokens or limits.max_cost_micros has been reached
//   -> failed "MaxTurnsExceeded"
// Model errors end the run ("ModelError"); a stop signal ends it as "Interrupted" or
// "TimedOut". The limits stop further spending: a final answer that arrives in the call that
// crosses a limit still succeeds. The caller emits the `result` event (ResultEventData).
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
inline constexpr char kReasonTokenLimit[] = "TokenLimitExceeded";
inline constexpr char kReasonCostLimit[] = "CostLimitExceeded";
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
inline constexpr char kReasonWorkspaceError[] = "WorkspaceError";

// Bounds of event payloads (the model and tools see the full text).
inline constexpr size_t kMaxMessageEventBytes = 64 * 1024;
inline constexpr size_t kMaxToolResultEventBytes = 8 * 1024;
inline constexpr size_t kMaxToolArgumentEventBytes = 4 * 1024;

struct AgentLoopDeps {
  ModelProvider& provider;
  const std::vector<std::unique_ptr<Tool>>& tools;  // the tools the spec allows
  EventSink& events;
  const core::Clock& clock;
  const StopSignal& stop;
};

struct RunOutcome {
  bool succeeded = false;
  std::string result;  // the final answer
  std::string error;   // why it failed
  std::string reason;  // one of the kReason* values
  int turns = 0;       // model calls made
  int64_t total_tokens = 0;
  core::MicroUsd cost_micros = 0;
};

// Input tokens not served from cache at the input price, cached ones at the cached price,
// output at the output price; each part rounded up to a micro-dollar (core::CostOfTokens).
core::MicroUsd CostOfUsage(const TokenUsage& usage, const api::v1::RunnerModel& prices);

RunOutcome RunAgentLoop(const api::v1::RunnerSpec& spec, const AgentLoopDeps& deps);

// The data of the final `result` event:
// {"status":"succeeded"|"failed","result":...,"error":...,"reason":...}.
core::Json ResultEventData(const RunOutcome& outcome);

}  // namespace agentd::runner
