#include "runs/run.h"

#include "core/time.h"

namespace agentd::runs {

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPending:
      return "Pending";
    case Phase::kAwaitingApproval:
      return "AwaitingApproval";
    case Phase::kQueued:
      return "Queued";
    case Phase::kStarting:
      return "Starting";
    case Phase::kRunning:
      return "Running";
    case Phase::kSucceeded:
      return "Succeeded";
    case Phase::kFailed:
      return "Failed";
    case Phase::kTimedOut:
      return "TimedOut";
    case Phase::kCancelled:
      return "Cancelled";
    case Phase::kRejected:
      return "Rejected";
  }
  return "Unknown";
}

core::Result<Phase> ParsePhase(std::string_view name) {
  for (Phase p : {Phase::kPending, Phase::kAwaitingApproval, Phase::kQueued, Phase::kStarting,
                  Phase::kRunning, Phase::kSucceeded, Phase::kFailed, Phase::kTimedOut,
                  Phase::kCancelled, Phase::kRejected}) {
    if (PhaseName(p) == name) return p;
  }
  return core::InvalidArgument("unknown phase \"" + std::string(name.substr(0, 40)) + "\"");
}

bool IsTerminal(Phase phase) {
  switch (phase) {
    case Phase::kSucceeded:
    case Phase::kFailed:
    case Phase::kTimedOut:
    case Phase::kCancelled:
    case Phase::kRejected:
      return true;
    default:
      return false;
  }
}

bool CanTransition(Phase from, Phase to) {
  using P = Phase;
  switch (from) {
    case P::kPending:
      return to == P::kAwaitingApproval || to == P::kQueued || to == P::kRejected;
    case P::kAwaitingApproval:
      return to == P::kQueued || to == P::kRejected || to == P::kCancelled;
    case P::kQueued:
      return to == P::kStarting || to == P::kCancelled || to == P::kTimedOut || to == P::kFailed;
    case P::kStarting:
      return to == P::kRunning || to == P::kSucceeded || to == P::kFailed || to == P::kTimedOut ||
             to == P::kCancelled || to == P::kQueued;
    case P::kRunning:
      return to == P::kSucceeded || to == P::kFailed || to == P::kTimedOut || to == P::kCancelled;
    default:
      return false;  // terminal
  }
}

Usage& Usage::operator+=(const Usage& other) {
  input_tokens += other.input_tokens;
  cached_input_tokens += other.cached_input_tokens;
  output_tokens += other.output_tokens;
  cost_micros += other.cost_micros;
  model_calls += other.model_calls;
  return *this;
}

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kApi:
      return "api";
    case Source::kCli:
      return "cli";
    case Source::kWebhook:
      return "webhook";
    case Source::kSchedule:
      return "schedule";
    case Source::kSlack:
      return "slack";
    case Source::kKubectl:
      return "kubectl";
  }
  return "api";
}

core::Result<Source> ParseSource(std::string_view name) {
  for (Source s : {Source::kApi, Source::kCli, Source::kWebhook, Source::kSchedule, Source::kSlack,
                   Source::kKubectl}) {
    if (SourceName(s) == name) return s;
  }
  return core::InvalidArgument("unknown source \"" + std::string(name.substr(0, 40)) + "\"");
}

core::Json RunToJson(const Run& run) {
  core::Json j = {
      {"id", run.id},
      {"agent", run.agent},
      {"input", run.input},
      {"parameters", run.parameters},
      {"priority", run.priority},
      {"labels", run.labels},
      {"source", SourceName(run.source)},
      {"phase", PhaseName(run.phase)},
      {"createdAt", core::FormatRfc3339(run.created_at)},
      {"attempts", run.attempts},
      {"usage",
       {{"inputTokens", run.usage.input_tokens},
        {"cachedInputTokens", run.usage.cached_input_tokens},
        {"outputTokens", run.usage.output_tokens},
        {"modelCalls", run.usage.model_calls},
        {"costUsd", core::FormatUsd(run.usage.cost_micros)}}},
  };
  if (run.deadline) j["deadlineSeconds"] = run.deadline->count();
  if (!run.caller.empty()) j["caller"] = run.caller;
  if (!run.idempotency_key.empty()) j["idempotencyKey"] = run.idempotency_key;
  j["conditions"] = core::Json::array({{{"type", PhaseName(run.phase)},
                                        {"status", "True"},
                                        {"reason", run.reason},
                                        {"message", run.message}}});
  j["startedAt"] = run.started_at ? core::Json(core::FormatRfc3339(*run.started_at)) : nullptr;
  j["finishedAt"] = run.finished_at ? core::Json(core::FormatRfc3339(*run.finished_at)) : nullptr;
  j["result"] = run.result.empty() ? core::Json(nullptr) : core::Json(run.result);
  j["error"] = run.error.empty() ? core::Json(nullptr) : core::Json(run.error);
  core::Json governance = {{"allowanceUsd", core::FormatUsd(run.allowance_micros)},
                           {"budgets", run.budgets}};
  if (!run.team.empty()) governance["team"] = run.team;
  if (!run.cost_center.empty()) governance["costCenter"] = run.cost_center;
  if (run.tier != 0) governance["tier"] = run.tier;
  if (!run.config_digest.empty()) governance["configDigest"] = run.config_digest;
  if (run.approval_expires_at) {
    governance["approvalExpiresAt"] = core::FormatRfc3339(*run.approval_expires_at);
  }
  j["governance"] = std::move(governance);
  return j;
}

core::Json EventToJson(const Event& event) {
  return {{"runId", event.run_id},
          {"seq", event.seq},
          {"type", event.type},
          {"time", core::FormatRfc3339(event.time)},
          {"data", event.data}};
}

}  // namespace agentd::runs
