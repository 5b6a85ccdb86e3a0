#include "runner/agent_loop.h"

#include <algorithm>

#include "runner/delta_coalescer.h"
#include "runner/text_limits.h"

namespace agentd::runner {
namespace {

using core::Json;

// A single delta event carries at most this much text (a model may send a huge piece at once).
constexpr size_t kMaxDeltaEventBytes = 64 * 1024;
constexpr size_t kMaxToolArgumentsBytes = 4 << 20;

void EmitViolation(EventSink& events, const char* rule, std::string_view message) {
  events.Emit("violation", {{"rule", rule},
                            {"message", Utf8Prefix(message, api::v1::kMaxViolationMessageBytes)}});
}

RunOutcome Failed(RunOutcome outcome, const char* reason, std::string error) {
  outcome.succeeded = false;
  outcome.reason = reason;
  outcome.error = std::move(error);
  return outcome;
}

RunOutcome Stopped(RunOutcome outcome, const api::v1::RunnerSpec& spec, const StopSignal& stop) {
  if (stop.cause() == StopCause::kTimedOut) {
    return Failed(
        std::move(outcome), kReasonTimedOut,
        "the run exceeded its timeout of " + std::to_string(spec.limits.timeout.count()) + "s");
  }
  if (stop.cause() == StopCause::kEventsRefused) {
    return Failed(std::move(outcome), kReasonEventsRefused,
                  "the control plane refused this runner's events (another runner owns the "
                  "attempt, the run has ended, or the control plane cannot be reached)");
  }
  return Failed(std::move(outcome), kReasonInterrupted, "the runner was asked to stop (SIGTERM)");
}

std::string ToolNames(const std::vector<std::unique_ptr<Tool>>& tools) {
  if (tools.empty()) return "none";
  std::string names;
  for (const auto& t : tools) {
    if (!names.empty()) names += ", ";
    names += t->name();
  }
  return names;
}

// Runs one tool call and reports it; returns what the model is told.
ToolOutput RunToolCall(const ToolCall& call, const AgentLoopDeps& deps) {
  std::string_view arguments_text = call.arguments;
  if (arguments_text.find_first_not_of(" \t\r\n") == std::string_view::npos) arguments_text = "{}";
  auto arguments =
      core::ParseJson(arguments_text, {.max_bytes = kMaxToolArgumentsBytes, .max_depth = 64});
  Json shown_arguments =
      arguments.ok() && arguments->is_object()
          ? BoundJsonStrings(*arguments, kMaxToolArgumentEventBytes)
          : Json{{"raw", TruncateText(call.arguments, kMaxToolArgumentEventBytes).text}};
  deps.events.Emit("tool_call",
                   {{"id", call.id}, {"name", call.name}, {"arguments", shown_arguments}});

  auto tool_it = std::find_if(deps.tools.begin(), deps.tools.end(),
                              [&](const auto& t) { return t->name() == call.name; });
  ToolOutput output;
  if (tool_it == deps.tools.end()) {
    std::string shown_name(Utf8Prefix(call.name, 64));
    EmitViolation(deps.events, kRuleToolNotAllowed,
                  "the model asked for tool \"" + shown_name +
                      "\", which this agent does not allow (allowed: " + ToolNames(deps.tools) +
                      "); the call was refused");
    output = {.ok = false,
              .text = "error: tool \"" + shown_name +
                      "\" is not available to this agent (available: " + ToolNames(deps.tools) +
                      ")"};
  } else if (!arguments.ok()) {
    output = {.ok = false,
              .text = "error: the arguments are not valid JSON: " + arguments.error().message};
  } else {
    auto result = (*tool_it)->Call(*arguments);
    if (result.ok()) {
      output = std::move(result).value();
    } else {
      output = {.ok = false, .text = "error: " + result.error().message};
    }
  }
  BoundedText shown = TruncateText(output.text, kMaxToolResultEventBytes);
  deps.events.Emit("tool_result", {{"id", call.id},
                                   {"name", call.name},
                                   {"ok", output.ok},
                                   {"output", shown.text},
                                   {"truncated", output.truncated || shown.truncated}});
  return output;
}

Json MessageForEstimate(const ChatMessage& m) {
  Json j = {{"role", RoleName(m.role)}, {"content", m.content}};
  if (!m.tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& c : m.tool_calls) {
      calls.push_back({{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    }
    j["tool_calls"] = std::move(calls);
  }
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  return j;
}

}  // namespace

int64_t EstimateTokens(size_t bytes) {
  auto n = static_cast<int64_t>(bytes);
  return (n + kEstimateBytesPerToken - 1) / kEstimateBytesPerToken;
}

size_t PromptBytes(const ChatRequest& request) {
  Json messages = Json::array();
  for (const auto& m : request.messages) messages.push_back(MessageForEstimate(m));
  Json tools = Json::array();
  for (const auto& t : request.tools) {
    tools.push_back(
        {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}});
  }
  return core::DumpJson({{"messages", std::move(messages)}, {"tools", std::move(tools)}}).size();
}

core::MicroUsd WorstCaseCallCost(const ChatRequest& request, const api::v1::RunnerModel& prices) {
  core::MicroUsd input_price = std::max(prices.input_per_million, prices.cached_input_per_million);
  return core::CostOfTokens(EstimateTokens(PromptBytes(request)), input_price) +
         core::CostOfTokens(std::max<int64_t>(0, request.max_tokens), prices.output_per_million);
}

core::MicroUsd CostOfUsage(const TokenUsage& usage, const api::v1::RunnerModel& prices) {
  int64_t cached =
      std::clamp<int64_t>(usage.cached_tokens, 0, std::max<int64_t>(0, usage.prompt_tokens));
  int64_t uncached = std::max<int64_t>(0, usage.prompt_tokens - cached);
  return core::CostOfTokens(uncached, prices.input_per_million) +
         core::CostOfTokens(cached, prices.cached_input_per_million) +
         core::CostOfTokens(usage.completion_tokens, prices.output_per_million);
}

RunOutcome RunAgentLoop(const api::v1::RunnerSpec& spec, const AgentLoopDeps& deps) {
  ChatRequest request;
  if (!spec.system_prompt.empty()) {
    request.messages.push_back({.role = Role::kSystem, .content = spec.system_prompt});
  }
  request.messages.push_back({.role = Role::kUser, .content = spec.input});
  for (const auto& tool : deps.tools) {
    request.tools.push_back({.name = std::string(tool->name()),
                             .description = std::string(tool->description()),
                             .parameters = tool->parameters()});
  }
  request.max_tokens = spec.model.max_output_tokens;

  RunOutcome outcome;
  const core::MicroUsd allowance = spec.limits.max_cost_micros;
  if (allowance > 0 && request.max_tokens <= 0) {
    return Failed(std::move(outcome), kReasonInvalidSpec,
                  "the run has a cost allowance of " + core::FormatUsd(allowance) +
                      " USD but the model has no output token limit (maxOutputTokens), so the "
                      "worst case of a call is unbounded");
  }
  // Ends the run because its allowance cannot cover more spending.
  auto budget_exceeded = [&](std::string why) {
    EmitViolation(deps.events, kRuleRunCostLimit, why);
    return Failed(std::move(outcome), kReasonBudgetExceeded, std::move(why));
  };
  auto emit_text = [&](const std::string& text) {
    for (std::string_view piece : SplitUtf8(text, kMaxDeltaEventBytes)) {
      deps.events.Emit("delta", {{"content", piece}});
    }
  };
  for (int turn = 1; turn <= spec.limits.max_turns; ++turn) {
    if (deps.stop.stopped()) return Stopped(std::move(outcome), spec, deps.stop);
    if (allowance > 0) {
      core::MicroUsd worst_case = WorstCaseCallCost(request, spec.model);
      if (outcome.cost_micros + worst_case > allowance) {
        return budget_exceeded("model call " + std::to_string(turn) +
                               " was not made: the run has spent " +
                               core::FormatUsd(outcome.cost_micros) +
                               " USD and the call could cost up to " + core::FormatUsd(worst_case) +
                               " USD (" + std::to_string(EstimateTokens(PromptBytes(request))) +
                               " estimated input tokens, " + std::to_string(request.max_tokens) +
                               " output tokens), which would exceed its allowance of " +
                               core::FormatUsd(allowance) + " USD");
      }
    }
    outcome.turns = turn;

    DeltaCoalescer coalescer;
    auto result = deps.provider.Complete(request, [&](std::string_view delta) {
      std::string ready = coalescer.Add(delta, deps.clock.SteadyNow());
      if (!ready.empty()) emit_text(ready);
    });
    if (std::string rest = coalescer.Flush(deps.clock.SteadyNow()); !rest.empty()) {
      emit_text(rest);
    }
    if (!result.ok()) {
      if (deps.stop.stopped()) return Stopped(std::move(outcome), spec, deps.stop);
      return Failed(std::move(outcome), kReasonModelError, result.error().message);
    }
    ModelTurn& model_turn = result.value();

    const TokenUsage& usage = model_turn.usage;
    core::MicroUsd cost = CostOfUsage(usage, spec.model);
    outcome.total_tokens += usage.prompt_tokens + usage.completion_tokens;
    outcome.cost_micros += cost;
    deps.events.Emit("usage", {{"model", spec.model.model},
                               {"inputTokens", usage.prompt_tokens},
                               {"cachedInputTokens", usage.cached_tokens},
                               {"outputTokens", usage.completion_tokens},
                               {"costMicros", cost}});
    if (!model_turn.text.empty()) outcome.result = model_turn.text;
    if (!model_turn.text.empty() || model_turn.tool_calls.empty()) {
      deps.events.Emit("message",
                       {{"role", "assistant"},
                        {"content", TruncateText(model_turn.text, kMaxMessageEventBytes).text}});
    }
    if (model_turn.tool_calls.empty()) {
      outcome.succeeded = true;
      outcome.reason = kReasonCompleted;
      outcome.result = std::move(model_turn.text);
      return outcome;
    }

    request.messages.push_back({.role = Role::kAssistant,
                                .content = model_turn.text,
                                .tool_calls = model_turn.tool_calls});
    for (const auto& call : model_turn.tool_calls) {
      if (deps.stop.stopped()) return Stopped(std::move(outcome), spec, deps.stop);
      ToolOutput output = RunToolCall(call, deps);
      request.messages.push_back(
          {.role = Role::kTool, .content = std::move(output.text), .tool_call_id = call.id});
    }
    if (deps.stop.stopped()) return Stopped(std::move(outcome), spec, deps.stop);
    if (spec.limits.max_tokens > 0 && outcome.total_tokens >= spec.limits.max_tokens) {
      std::string why = "the run used " + std::to_string(outcome.total_tokens) +
                        " tokens, reaching its limit of " + std::to_string(spec.limits.max_tokens);
      return Failed(std::move(outcome), kReasonTokenLimit, std::move(why));
    }
    if (allowance > 0 && outcome.cost_micros >= allowance) {
      return budget_exceeded("the run has spent " + core::FormatUsd(outcome.cost_micros) +
                             " USD, reaching its allowance of " + core::FormatUsd(allowance) +
                             " USD; no further model call fits");
    }
  }
  std::string why = "no final answer after " + std::to_string(spec.limits.max_turns) + " turns";
  EmitViolation(deps.events, kRuleMaxTurns, why + ", the agent's turn limit");
  return Failed(std::move(outcome), kReasonMaxTurns, std::move(why));
}

Json ResultEventData(const RunOutcome& outcome) {
  return {{"status", outcome.succeeded ? "succeeded" : "failed"},
          {"result", TruncateText(outcome.result, kMaxMessageEventBytes).text},
          {"error", outcome.error},
          {"reason", outcome.reason}};
}

}  // namespace agentd::runner
