#include "exec/kubernetes/job_status.h"

#include <algorithm>
#include <array>

#include "core/time.h"
#include "exec/kubernetes/job_builder.h"

namespace agentd::exec::kubernetes {
namespace {

using core::Json;

constexpr size_t kMaxMessageBytes = 1024;

const Json& Field(const Json& obj, std::string_view key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string Str(const Json& obj, std::string_view key) {
  const Json& v = Field(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::optional<int64_t> Int(const Json& obj, std::string_view key) {
  const Json& v = Field(obj, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::optional<core::TimePoint> Time(const Json& obj, std::string_view key) {
  const std::string text = Str(obj, key);
  if (text.empty()) return std::nullopt;
  auto parsed = core::ParseRfc3339(text);
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

std::string Cut(std::string text) {
  if (text.size() > kMaxMessageBytes) {
    text.resize(kMaxMessageBytes);
    text += "...";
  }
  return text;
}

// "reason: message", either part may be empty.
std::string Explain(const std::string& reason, const std::string& message) {
  if (reason.empty()) return Cut(message);
  if (message.empty()) return reason;
  return reason + ": " + Cut(message);
}

// The same rule as scheduler::IsCamelCaseReason (exec does not depend on the scheduler).
bool IsCamelCase(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'A' || s[0] > 'Z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

// The condition of `type` with status "True", or null.
const Json* TrueCondition(const Json& status, std::string_view type) {
  const Json& conditions = Field(status, "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const Json& c : conditions) {
    if (Str(c, "type") == type && Str(c, "status") == "True") return &c;
  }
  return nullptr;
}

// The status of the runner container (by name; the first one when none is named runner).
const Json* RunnerStatus(const Json& status) {
  const Json& statuses = Field(status, "containerStatuses");
  if (!statuses.is_array() || statuses.empty()) return nullptr;
  for (const Json& s : statuses) {
    if (Str(s, "name") == kRunnerContainerName) return &s;
  }
  return &statuses.front();
}

std::string Seconds(std::chrono::seconds s) { return std::to_string(s.count()) + "s"; }

}  // namespace

bool IsStuckWaitingReason(std::string_view reason) {
  static constexpr std::array<std::string_view, 6> kStuck = {
      "ImagePullBackOff", "ErrImagePull",         "ErrImageNeverPull",
      "InvalidImageName", "CreateContainerError", "CreateContainerConfigError"};
  return std::find(kStuck.begin(), kStuck.end(), reason) != kStuck.end();
}

std::optional<JobFinish> FinishedCondition(const Json& job) {
  const Json& status = Field(job, "status");
  if (const Json* c = TrueCondition(status, "Complete")) {
    return JobFinish{true, Str(*c, "reason"), Str(*c, "message")};
  }
  if (const Json* c = TrueCondition(status, "Failed")) {
    return JobFinish{false, Str(*c, "reason"), Str(*c, "message")};
  }
  return std::nullopt;
}

std::optional<ExitInfo> PodFailureExit(const Json& pod) {
  const std::string pod_name = Str(Field(pod, "metadata"), "name");
  const Json& status = Field(pod, "status");
  const bool failed_phase = Str(status, "phase") == "Failed";
  const Json* runner = RunnerStatus(status);
  static const Json kNull;
  const Json& terminated = runner != nullptr ? Field(Field(*runner, "state"), "terminated") : kNull;
  const bool runner_ended = terminated.is_object();

  // A failed init container: the runner never started.
  const Json& init_statuses = Field(status, "initContainerStatuses");
  if (init_statuses.is_array()) {
    for (const Json& s : init_statuses) {
      const Json& t = Field(Field(s, "state"), "terminated");
      if (!t.is_object() || Int(t, "exitCode").value_or(0) == 0) continue;
      const std::string name = Str(s, "name");
      ExitInfo exit;
      exit.exit_code = static_cast<int>(*Int(t, "exitCode"));
      exit.reason =
          name == kWeightsInitContainerName ? "ModelWeightsFetchFailed" : "InitContainerFailed";
      exit.detail = "pod " + pod_name + ": init container " + name + " failed with exit code " +
                    std::to_string(exit.exit_code);
      const std::string why = Explain(Str(t, "reason"), Str(t, "message"));
      if (!why.empty()) exit.detail += " (" + why + ")";
      return exit;
    }
  }
  if (!failed_phase && !runner_ended) return std::nullopt;

  ExitInfo exit;
  if (runner_ended) {
    exit.exit_code = static_cast<int>(Int(terminated, "exitCode").value_or(-1));
    exit.term_signal = static_cast<int>(Int(terminated, "signal").value_or(0));
  }
  // The kubelet's verdict on the whole pod (Evicted, OutOfcpu, Shutdown, ...) explains more than
  // the container's exit code.
  if (const std::string reason = Str(status, "reason"); failed_phase && !reason.empty()) {
    exit.reason = IsCamelCase(reason) ? reason : "PodFailed";
    exit.detail = "pod " + pod_name + ": " + Explain(reason, Str(status, "message"));
    return exit;
  }
  if (const Json* c = TrueCondition(status, "DisruptionTarget")) {
    const std::string reason = Str(*c, "reason");
    exit.reason = reason == "PreemptionByScheduler" ? "Preempted" : "Evicted";
    exit.detail = "pod " + pod_name + " was disrupted: " + Explain(reason, Str(*c, "message"));
    return exit;
  }
  if (runner_ended) {
    const std::string reason = Str(terminated, "reason");
    if (reason == "OOMKilled") {
      exit.reason = "OOMKilled";
    } else if (reason != "Error" && reason != "Completed" && IsCamelCase(reason)) {
      exit.reason = reason;
    }
    exit.detail = "pod " + pod_name + ": container " + Str(*runner, "name") + " terminated";
    if (!reason.empty()) exit.detail += " (" + reason + ")";
    exit.detail += " with exit code " + std::to_string(exit.exit_code);
    if (const std::string message = Str(terminated, "message"); !message.empty()) {
      exit.detail += ": " + Cut(message);
    }
    return exit;
  }
  exit.reason = "PodFailed";
  exit.detail = "pod " + pod_name + " failed";
  if (const std::string message = Str(status, "message"); !message.empty()) {
    exit.detail += ": " + Cut(message);
  }
  return exit;
}

std::optional<PodStuck> StuckPod(const Json& pod, const StuckPodGrace& grace) {
  const Json& meta = Field(pod, "metadata");
  const Json& status = Field(pod, "status");
  const std::string phase = Str(status, "phase");
  if (!phase.empty() && phase != "Pending") return std::nullopt;
  if (!Field(meta, "deletionTimestamp").is_null()) return std::nullopt;
  const std::optional<core::TimePoint> created = Time(meta, "creationTimestamp");

  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const Json& statuses = Field(status, list);
    if (!statuses.is_array()) continue;
    for (const Json& s : statuses) {
      const Json& waiting = Field(Field(s, "state"), "waiting");
      const std::string reason = Str(waiting, "reason");
      if (!IsStuckWaitingReason(reason) || !created) continue;
      return PodStuck{reason, Str(waiting, "message"), *created, grace.pending};
    }
  }
  const Json& conditions = Field(status, "conditions");
  if (conditions.is_array()) {
    for (const Json& c : conditions) {
      if (Str(c, "type") != "PodScheduled" || Str(c, "status") != "False" ||
          Str(c, "reason") != "Unschedulable") {
        continue;
      }
      std::optional<core::TimePoint> since = Time(c, "lastTransitionTime");
      if (!since) since = created;
      if (!since) return std::nullopt;
      return PodStuck{"Unschedulable", Str(c, "message"), *since, grace.unschedulable};
    }
  }
  return std::nullopt;
}

AttemptStatus EvaluateAttempt(const Json& job, const std::vector<Json>& pods, core::TimePoint now,
                              const StuckPodGrace& grace) {
  const std::string job_name = Str(Field(job, "metadata"), "name");
  AttemptStatus out;
  if (auto finish = FinishedCondition(job)) {
    out.state = AttemptStatus::State::kFinished;
    if (finish->succeeded) {
      out.exit.exit_code = 0;
      out.exit.detail = "Job " + job_name + " completed";
      return out;
    }
    if (finish->reason == "DeadlineExceeded") {
      out.exit.stopped = StopReason::kDeadlineExceeded;
      out.exit.reason = "DeadlineExceeded";
      out.exit.detail =
          "Job " + job_name + " passed its activeDeadlineSeconds: " + Cut(finish->message);
      return out;
    }
    // The newest pod that says how it failed (normally the only pod: backoffLimit is 0).
    const Json* chosen = nullptr;
    std::optional<ExitInfo> chosen_exit;
    std::string chosen_created;
    for (const Json& pod : pods) {
      auto exit = PodFailureExit(pod);
      if (!exit) continue;
      const std::string created = Str(Field(pod, "metadata"), "creationTimestamp");
      const bool failure = exit->exit_code != 0 || !exit->reason.empty();
      const bool chosen_failure =
          chosen_exit && (chosen_exit->exit_code != 0 || !chosen_exit->reason.empty());
      if (chosen == nullptr || (failure && !chosen_failure) ||
          (failure == chosen_failure && created > chosen_created)) {
        chosen = &pod;
        chosen_exit = std::move(exit);
        chosen_created = created;
      }
    }
    if (chosen_exit) {
      out.exit = std::move(*chosen_exit);
      return out;
    }
    // Jobs and pods come on separate watches: a pod not seen yet, or not seen terminated yet,
    // may still say why (OOMKilled, Evicted). The executor waits a little for it.
    if (pods.empty()) out.pod_status_pending = true;
    for (const Json& pod : pods) {
      const std::string phase = Str(Field(pod, "status"), "phase");
      if (phase != "Failed" && phase != "Succeeded") out.pod_status_pending = true;
    }
    out.exit.reason = IsCamelCase(finish->reason) ? finish->reason : "JobFailed";
    out.exit.detail = "Job " + job_name + " failed: " + Explain(finish->reason, finish->message);
    return out;
  }

  for (const Json& pod : pods) {
    auto stuck = StuckPod(pod, grace);
    if (!stuck) continue;
    const core::TimePoint until = stuck->since + stuck->grace;
    if (now >= until) {
      out.state = AttemptStatus::State::kStuck;
      out.recheck_at.reset();
      out.exit.reason = stuck->reason;
      out.exit.detail = "pod " + Str(Field(pod, "metadata"), "name") + " of Job " + job_name +
                        " was " + stuck->reason + " for more than " + Seconds(stuck->grace);
      if (!stuck->message.empty()) out.exit.detail += ": " + Cut(stuck->message);
      return out;
    }
    if (!out.recheck_at || until < *out.recheck_at) out.recheck_at = until;
  }
  return out;
}

}  // namespace agentd::exec::kubernetes
