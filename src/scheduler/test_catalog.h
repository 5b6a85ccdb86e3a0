// Test-only: small catalogs for the scheduler's tests.
#pragma once

#include <memory>
#include <string>

#include "catalog/snapshot.h"

namespace agentd::scheduler::fixtures {

inline resources::Model MakeModel(const std::string& name) {
  resources::Model model;
  model.metadata.name = name;
  model.spec.provider = "openai-compatible";
  model.spec.base_url = "http://127.0.0.1:8000/v1";
  model.spec.model = "qwen2.5-coder-7b";
  model.spec.api_key.env = "LOCAL_API_KEY";
  model.spec.pricing = {.input_per_million = 500'000,
                        .cached_input_per_million = 250'000,
                        .output_per_million = 1'500'000};
  model.spec.max_output_tokens = 2048;
  model.spec.request_timeout = std::chrono::seconds(30);
  model.spec.max_retries = 2;
  return model;
}

inline resources::Agent MakeAgent(const std::string& name, const std::string& model,
                                  int max_concurrent = 0) {
  resources::Agent agent;
  agent.metadata.name = name;
  agent.spec.role = "developer";
  agent.spec.model = model;
  agent.spec.system_prompt = "You are " + name + ".";
  agent.spec.tools = {"read_file", "shell"};
  agent.spec.limits.max_turns = 7;
  agent.spec.limits.timeout = std::chrono::seconds(60);
  agent.spec.limits.max_concurrent = max_concurrent;
  return agent;
}

// A snapshot with model "local" and the given agents (all using "local").
inline std::shared_ptr<const catalog::Snapshot> MakeSnapshot(
    std::initializer_list<resources::Agent> agents) {
  auto snapshot = std::make_shared<catalog::Snapshot>();
  snapshot->models.emplace("local", MakeModel("local"));
  for (const auto& agent : agents) snapshot->agents.emplace(agent.metadata.name, agent);
  return snapshot;
}

}  // namespace agentd::scheduler::fixtures
