#include "operator/run_status.h"

#include <algorithm>

#include "api/v1/submit.h"
#include "core/money.h"
#include "kube/resource.h"
#include "operator/conditions.h"

namespace agentd::operator_ {

using core::Json;
using runs::Phase;

namespace {

core::Error SpecError(std::string message) {
  return core::InvalidArgument("spec." + std::move(message));
}

// Every phase, for recognising phase-typed conditions.
constexpr Phase kAllPhases[] = {Phase::kPending,  Phase::kAwaitingApproval, Phase::kQueued,
                                Phase::kStarting, Phase::kRunning,          Phase::kSucceeded,
                                Phase::kFailed,   Phase::kTimedOut,         Phase::kCancelled,
                                Phase::kRejected};

bool IsPhaseName(std::string_view type) {
  return std::any_of(std::begin(kAllPhases), std::end(kAllPhases),
                     [&](Phase p) { return runs::PhaseName(p) == type; });
}

// When the run entered its current phase, as far as the run tells.
core::TimePoint PhaseTime(const runs::Run& run, core::TimePoint now) {
  if (runs::IsTerminal(run.phase)) return run.finished_at.value_or(now);
  switch (run.phase) {
    case Phase::kPending:
    case Phase::kAwaitingApproval:
    case Phase::kQueued:
      // A requeued run (Starting -> Queued) has a start time; its Queued is not its creation.
      return run.started_at ? now : run.created_at;
    case Phase::kStarting:
    case Phase::kRunning:
      return run.started_at.value_or(now);
    default:
      return now;
  }
}

Json StatusObject(const Json& current) { return current.is_object() ? current : Json::object(); }

// Turns every True phase condition other than `phase` False ("the run moved to <phase>"); those
// already False keep their reason and message (when the run left them) and get the generation.
void LeaveOtherPhases(Json& conditions, std::string_view phase, int64_t generation,
                      core::TimePoint now) {
  if (!conditions.is_array()) return;
  std::vector<Json> others;
  for (const Json& c : conditions) {
    if (!c.is_object()) continue;
    std::string type = c.value("type", "");
    if (type != phase && IsPhaseName(type)) others.push_back(c);
  }
  for (const Json& old : others) {
    Condition c{.type = old.value("type", ""),
                .status = ConditionStatus::kFalse,
                .reason = old.value("reason", ""),
                .message = old.value("message", ""),
                .observed_generation = generation};
    if (old.value("status", "") == "True") {
      c.reason = std::string(phase);
      c.message = "the run moved to " + std::string(phase);
    }
    SetCondition(conditions, c, now);
  }
}

}  // namespace

core::Result<scheduler::SubmitRequest> SubmitRequestFor(const Json& run_object) {
  if (!run_object.is_object()) return core::InvalidArgument("the Run is not a JSON object");
  const std::string ns = kube::NamespaceOf(run_object);
  auto spec_it = run_object.find("spec");
  if (spec_it == run_object.end() || !spec_it->is_object()) {
    return core::InvalidArgument("spec is missing");
  }
  const Json& spec = *spec_it;
  api::v1::SubmitBody body;
  scheduler::SubmitRequest request;

  auto agent = spec.find("agent");
  if (agent == spec.end() || !agent->is_string() || agent->get<std::string>().empty()) {
    return SpecError("agent is required: the name of an Agent");
  }
  body.agent = agent->get<std::string>();
  if (auto input = spec.find("input"); input != spec.end() && !input->is_null()) {
    if (!input->is_string()) return SpecError("input must be a string");
    body.input = input->get<std::string>();
  }
  if (auto params = spec.find("parameters"); params != spec.end() && !params->is_null()) {
    if (!params->is_object()) return SpecError("parameters must be an object");
    body.parameters = *params;
  }
  if (auto priority = spec.find("priority"); priority != spec.end() && !priority->is_null()) {
    if (!priority->is_number_integer()) return SpecError("priority must be an integer");
    int64_t p = priority->get<int64_t>();
    if (p < api::v1::kMinPriority || p > api::v1::kMaxPriority) {
      return SpecError("priority must be between " + std::to_string(api::v1::kMinPriority) +
                       " and " + std::to_string(api::v1::kMaxPriority) + ", got " +
                       std::to_string(p));
    }
    body.priority = static_cast<int>(p);
  }
  if (auto deadline = spec.find("deadlineSeconds");
      deadline != spec.end() && !deadline->is_null()) {
    if (!deadline->is_number_integer()) return SpecError("deadlineSeconds must be an integer");
    int64_t d = deadline->get<int64_t>();
    if (d < 0 || d > api::v1::kMaxDeadline.count()) {
      return SpecError("deadlineSeconds must be between 0 and " +
                       std::to_string(api::v1::kMaxDeadline.count()) + ", got " +
                       std::to_string(d));
    }
    if (d > 0) body.deadline = std::chrono::seconds(d);
  }
  if (auto labels = spec.find("labels"); labels != spec.end() && !labels->is_null()) {
    if (!labels->is_object()) return SpecError("labels must be an object of strings");
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) return SpecError("labels." + key + " must be a string");
      body.labels.emplace(key, value.get<std::string>());
    }
  }
  if (auto valid = api::v1::ValidateSubmitBody(body); !valid.ok()) {
    return core::InvalidArgument("spec: " + valid.error().message);
  }

  std::string key;
  if (auto idem = spec.find("idempotencyKey"); idem != spec.end() && !idem->is_null()) {
    if (!idem->is_string()) return SpecError("idempotencyKey must be a string");
    key = idem->get<std::string>();
    bool printable = std::all_of(key.begin(), key.end(), [](char c) { return c > 32 && c < 127; });
    if (key.empty() || key.size() > 128 || !printable) {
      return SpecError("idempotencyKey must be 1-128 printable ASCII characters");
    }
  }
  if (key.empty()) {
    std::string uid = kube::UidOf(run_object);
    if (uid.empty()) return core::InvalidArgument("metadata.uid is missing");
    key = kIdempotencyKeyPrefix + uid;
  }

  request.agent = std::move(body.agent);
  request.input = std::move(body.input);
  request.parameters = std::move(body.parameters);
  request.priority = body.priority;
  request.deadline = body.deadline;
  request.labels = std::move(body.labels);
  // Who the run belongs to: the Kubernetes executor makes the Run the owner of the Job, and the
  // reconciler finds runs whose Run is gone (validation kept users out of this prefix).
  request.labels[runs::kRunObjectNameLabel] = kube::NameOf(run_object);
  request.labels[runs::kRunObjectNamespaceLabel] = ns;
  request.labels[runs::kRunObjectUidLabel] = kube::UidOf(run_object);
  request.idempotency_key = std::move(key);
  request.caller = "kubernetes:" + ns;
  request.source = runs::Source::kKubectl;
  return request;
}

bool HasFinalizer(const Json& object, std::string_view finalizer) {
  if (!object.is_object() || !object.contains("metadata")) return false;
  const Json& meta = object["metadata"];
  if (!meta.is_object() || !meta.contains("finalizers") || !meta["finalizers"].is_array()) {
    return false;
  }
  for (const Json& f : meta["finalizers"]) {
    if (f.is_string() && f.get<std::string>() == finalizer) return true;
  }
  return false;
}

Json WithFinalizer(Json object, std::string_view finalizer) {
  if (HasFinalizer(object, finalizer)) return object;
  Json& meta = object["metadata"];
  if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) {
    meta["finalizers"] = Json::array();
  }
  meta["finalizers"].push_back(std::string(finalizer));
  return object;
}

Json WithoutFinalizer(Json object, std::string_view finalizer) {
  if (!HasFinalizer(object, finalizer)) return object;
  Json kept = Json::array();
  for (const Json& f : object["metadata"]["finalizers"]) {
    if (!(f.is_string() && f.get<std::string>() == finalizer)) kept.push_back(f);
  }
  object["metadata"]["finalizers"] = std::move(kept);
  return object;
}

bool IsBeingDeleted(const Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return false;
  }
  const Json& meta = object["metadata"];
  return meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026
  size_t cut = max_bytes >= kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  // Back up over continuation bytes (10xxxxxx) so the cut is on a character boundary.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  if (out.size() + kEllipsis.size() <= max_bytes) out += kEllipsis;
  return out;
}

std::string JobNameOf(const Json& handle) {
  if (!handle.is_object()) return "";
  for (const char* key : {"job", "jobName"}) {
    auto it = handle.find(key);
    if (it == handle.end()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("name") && (*it)["name"].is_string()) {
      return (*it)["name"].get<std::string>();
    }
  }
  return "";
}

Json RunStatusFor(const Json& current_status, const runs::Run& run, int64_t generation,
                  core::TimePoint now, const RunStatusOptions& options) {
  Json current = StatusObject(current_status);
  Json conditions = current.contains("conditions") && current["conditions"].is_array()
                        ? current["conditions"]
                        : Json::array();
  const std::string phase(runs::PhaseName(run.phase));
  SetCondition(conditions,
               {.type = "Accepted",
                .status = ConditionStatus::kTrue,
                .reason = "Submitted",
                .message = "agentd run " + run.id,
                .observed_generation = generation},
               run.created_at);
  // Conditions of earlier refusals (a Rejected from a refused submission) are not phases the
  // run went through; they were replaced by the run's own.
  LeaveOtherPhases(conditions, phase, generation, PhaseTime(run, now));
  SetCondition(conditions,
               {.type = phase,
                .status = ConditionStatus::kTrue,
                .reason = run.reason.empty() ? phase : run.reason,
                .message = run.message,
                .observed_generation = generation},
               PhaseTime(run, now));

  Json status = Json::object();
  status["phase"] = phase;
  status["observedGeneration"] = generation;
  status["runId"] = run.id;
  status["attempts"] = run.attempts;
  status["conditions"] = std::move(conditions);
  if (run.started_at) status["startedAt"] = kube::FormatTime(*run.started_at);
  if (run.finished_at) status["finishedAt"] = kube::FormatTime(*run.finished_at);
  status["usage"] = {{"inputTokens", run.usage.input_tokens},
                     {"cachedInputTokens", run.usage.cached_input_tokens},
                     {"outputTokens", run.usage.output_tokens},
                     {"modelCalls", run.usage.model_calls},
                     {"costUsd", core::FormatUsd(run.usage.cost_micros)}};
  if (!run.result.empty()) status["result"] = TruncateUtf8(run.result, options.max_result_bytes);
  if (!run.error.empty()) status["error"] = TruncateUtf8(run.error, options.max_result_bytes);
  if (std::string job = JobNameOf(run.executor_handle); !job.empty()) status["jobName"] = job;
  return status;
}

std::optional<Refusal> RefusalFor(const core::Error& error) {
  switch (error.code) {
    case core::ErrorCode::kInvalidArgument:
    case core::ErrorCode::kFailedPrecondition:
    case core::ErrorCode::kNotFound:
    case core::ErrorCode::kAlreadyExists:
      return Refusal::kPending;
    case core::ErrorCode::kPermissionDenied:
    case core::ErrorCode::kResourceExhausted:
      return Refusal::kRejected;
    default:
      return std::nullopt;
  }
}

std::string RefusalReason(const core::Error& error) {
  if (!error.reason.empty()) return CamelCaseReason(error.reason);
  switch (error.code) {
    case core::ErrorCode::kInvalidArgument:
      return error.message.find("unknown agent") != std::string::npos ? "UnknownAgent"
                                                                      : "InvalidSpec";
    case core::ErrorCode::kFailedPrecondition:
      return "AgentNotRunnable";
    case core::ErrorCode::kNotFound:
      return "NotFound";
    case core::ErrorCode::kAlreadyExists:
      return "IdempotencyKeyConflict";
    case core::ErrorCode::kPermissionDenied:
      return "PolicyDenied";
    case core::ErrorCode::kResourceExhausted:
      return "BudgetExceeded";
    default:
      return CamelCaseReason(core::CodeName(error.code));
  }
}

Json RefusedRunStatus(const Json& current_status, const core::Error& error, Refusal refusal,
                      int64_t generation, core::TimePoint now) {
  Json current = StatusObject(current_status);
  Json conditions = current.contains("conditions") && current["conditions"].is_array()
                        ? current["conditions"]
                        : Json::array();
  const std::string reason = RefusalReason(error);
  SetCondition(conditions,
               {.type = "Accepted",
                .status = ConditionStatus::kFalse,
                .reason = reason,
                .message = error.message,
                .observed_generation = generation},
               now);
  const std::string phase = refusal == Refusal::kRejected ? "Rejected" : "Pending";
  if (refusal == Refusal::kRejected) {
    SetCondition(conditions,
                 {.type = "Rejected",
                  .status = ConditionStatus::kTrue,
                  .reason = reason,
                  .message = error.message,
                  .observed_generation = generation},
                 now);
  } else {
    // A refusal that may pass later: no phase is reached yet.
    LeaveOtherPhases(conditions, phase, generation, now);
  }
  Json status = Json::object();
  status["phase"] = phase;
  status["observedGeneration"] = generation;
  status["conditions"] = std::move(conditions);
  return status;
}

Json RunNotFoundStatus(const Json& current_status, std::string_view run_id, int64_t generation,
                       core::TimePoint now) {
  Json status = StatusObject(current_status);
  Json conditions = status.contains("conditions") && status["conditions"].is_array()
                        ? status["conditions"]
                        : Json::array();
  SetCondition(conditions,
               {.type = "Accepted",
                .status = ConditionStatus::kFalse,
                .reason = "RunNotFound",
                .message = "agentd has no run " + std::string(run_id) +
                           " (was its database replaced?); delete the Run and create it again",
                .observed_generation = generation},
               now);
  status["conditions"] = std::move(conditions);
  status["observedGeneration"] = generation;
  return status;
}

}  // namespace agentd::operator_
