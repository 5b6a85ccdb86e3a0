#include "scheduler/runner_spec.h"

#include "catalog/prompt.h"

namespace agentd::scheduler {

std::chrono::seconds RunTimeout(const runs::Run& run, const resources::Agent* agent,
                                std::chrono::seconds fallback) {
  if (run.deadline && run.deadline->count() > 0) return *run.deadline;
  if (agent != nullptr && agent->spec.limits.timeout.count() > 0) return agent->spec.limits.timeout;
  return fallback;
}

core::Result<api::v1::RunnerSpec> BuildRunnerSpec(const runs::Run& run,
                                                  const catalog::Snapshot& snapshot,
                                                  const std::filesystem::path& workspace_root,
                                                  std::chrono::seconds fallback_timeout) {
  const resources::Agent* agent = snapshot.FindAgent(run.agent);
  if (agent == nullptr) {
    return core::FailedPrecondition("agent \"" + run.agent + "\" of run " + run.id +
                                    " is no longer in the catalog");
  }
  if (agent->spec.runtime != resources::AgentRuntime::kLlm) {
    return core::FailedPrecondition("agent \"" + run.agent +
                                    "\" has runtime command, which agentd cannot run yet");
  }
  const resources::Model* model = snapshot.FindModel(agent->spec.model);
  if (model == nullptr) {
    return core::FailedPrecondition("agent \"" + run.agent + "\" uses model \"" +
                                    agent->spec.model + "\", which is not in the catalog");
  }
  if (!workspace_root.is_absolute()) {
    return core::InvalidArgument("workspace root \"" + workspace_root.string() +
                                 "\" is not an absolute path");
  }

  api::v1::RunnerSpec spec;
  spec.run_id = run.id;
  spec.attempt = std::max(1, run.attempts);
  spec.agent = run.agent;
  spec.role = agent->spec.role;
  spec.system_prompt = catalog::ComposeSystemPrompt(snapshot, *agent);
  spec.input = run.input;
  spec.parameters = run.parameters;
  spec.tools = agent->spec.tools;
  spec.workspace = (workspace_root / run.id).string();

  const resources::ModelSpec& m = model->spec;
  spec.model.provider = m.provider;
  spec.model.base_url = m.base_url;
  spec.model.model = m.model;
  spec.model.api_key_env = m.api_key.env;
  spec.model.input_per_million = m.pricing.input_per_million;
  spec.model.cached_input_per_million = m.pricing.cached_input_per_million;
  spec.model.output_per_million = m.pricing.output_per_million;
  spec.model.max_output_tokens = m.max_output_tokens;
  spec.model.request_timeout = m.request_timeout;
  spec.model.max_retries = m.max_retries;

  const resources::AgentLimits& l = agent->spec.limits;
  spec.limits.max_turns = l.max_turns;
  spec.limits.max_tokens = l.max_tokens;
  spec.limits.max_cost_micros = l.max_cost_micros;
  spec.limits.timeout = RunTimeout(run, agent, fallback_timeout);
  spec.limits.shell_timeout = l.shell_timeout;
  spec.limits.max_tool_output_bytes = l.max_tool_output_bytes;
  return spec;
}

}  // namespace agentd::scheduler
