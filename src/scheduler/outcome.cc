#include "scheduler/outcome.h"

#include <string.h>

namespace agentd::scheduler {

namespace {

constexpr size_t kMaxErrorBytes = 8 * 1024;

std::string StringField(const core::Json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || it->is_null()) return "";
  std::string text = it->is_string() ? it->get<std::string>() : core::DumpJson(*it);
  return text;
}

std::string SignalText(int signal) {
  std::string text = "runner killed by signal " + std::to_string(signal);
  if (const char* abbrev = sigabbrev_np(signal); abbrev != nullptr) {
    text += " (SIG" + std::string(abbrev) + ")";
  }
  return text;
}

}  // namespace

bool IsCamelCaseReason(std::string_view reason) {
  if (reason.empty() || reason.size() > 64) return false;
  if (reason[0] < 'A' || reason[0] > 'Z') return false;
  for (char c : reason) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Outcome DecideOutcome(const exec::ExitInfo& exit) {
  using runs::Phase;
  const core::Json* result = exit.result && exit.result->is_object() ? &*exit.result : nullptr;
  const std::string status = result ? StringField(*result, "status") : "";
  // The answer, or the partial answer of a run that did not succeed.
  const std::string answer = result ? StringField(*result, "result") : "";

  if (status == "succeeded") {
    return {Phase::kSucceeded, "Completed", "the agent finished", answer, ""};
  }
  if (exit.stopped) {
    switch (*exit.stopped) {
      case exec::StopReason::kCancelled:
        return {Phase::kCancelled, "Cancelled", "cancelled; the runner was stopped", answer,
                "cancelled"};
      case exec::StopReason::kDeadlineExceeded:
        return {Phase::kTimedOut, "DeadlineExceeded", "the run passed its deadline and was stopped",
                answer, "deadline exceeded"};
      case exec::StopReason::kShutdown:
        return {Phase::kFailed, "Shutdown", "the runner was stopped by a shutdown", answer,
                "stopped by a shutdown"};
    }
  }
  if (result != nullptr) {
    if (status == "failed") {
      std::string reason = StringField(*result, "reason");
      if (!IsCamelCaseReason(reason)) reason = "AgentFailed";
      std::string error = StringField(*result, "error");
      if (error.empty()) error = "the agent failed";
      if (error.size() > kMaxErrorBytes) error.resize(kMaxErrorBytes);
      return {Phase::kFailed, reason, error, answer, error};
    }
    std::string error =
        "the runner reported an unknown result status \"" + status.substr(0, 40) + "\"";
    return {Phase::kFailed, "InvalidResult", error, answer, error};
  }
  if (IsCamelCaseReason(exit.reason)) {
    std::string error = exit.detail;
    if (error.empty()) error = "the runner ended without a result: " + exit.reason;
    if (error.size() > kMaxErrorBytes) error.resize(kMaxErrorBytes);
    return {Phase::kFailed, exit.reason, error, "", error};
  }
  if (exit.term_signal != 0) {
    std::string error = SignalText(exit.term_signal) + " before it reported a result";
    return {Phase::kFailed, "RunnerKilled", error, "", error};
  }
  if (exit.exit_code >= 0) {
    std::string error =
        "runner exited with code " + std::to_string(exit.exit_code) + " without a result";
    return {Phase::kFailed, "RunnerExited", error, "", error};
  }
  std::string error = exit.detail.empty() ? "the runner process was lost" : exit.detail;
  return {Phase::kFailed, "ProcessLost", error, "", error};
}

}  // namespace agentd::scheduler
