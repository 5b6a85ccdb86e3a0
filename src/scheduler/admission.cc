#include "scheduler/admission.h"

#include <openssl/evp.h>

#include "api/v1/submit.h"

namespace agentd::scheduler {

core::Status ValidateSubmission(const catalog::Snapshot& snapshot, const SubmitRequest& request) {
  const resources::Agent* agent = snapshot.FindAgent(request.agent);
  if (agent == nullptr) {
    return core::InvalidArgument("unknown agent \"" + request.agent.substr(0, 100) + "\"");
  }
  if (agent->spec.runtime != resources::AgentRuntime::kLlm) {
    return core::FailedPrecondition("agent \"" + request.agent +
                                    "\" has runtime command, which agentd cannot run yet");
  }
  if (snapshot.FindModel(agent->spec.model) == nullptr) {
    return core::FailedPrecondition("agent \"" + request.agent + "\" uses model \"" +
                                    agent->spec.model + "\", which is not in the catalog");
  }
  return core::Ok();
}

std::string RequestHash(const SubmitRequest& request) {
  api::v1::SubmitBody body;
  body.agent = request.agent;
  body.input = request.input;
  body.parameters = request.parameters;
  body.priority = request.priority;
  body.deadline = request.deadline;
  // Labels under the reserved prefix say which Run asked (operator), not what was asked: two Runs
  // that share an idempotency key and a spec share one run.
  for (const auto& [key, value] : request.labels) {
    if (!key.starts_with(runs::kReservedLabelPrefix)) body.labels.emplace(key, value);
  }
  return api::v1::CanonicalRequestHash(body);
}

}  // namespace agentd::scheduler
