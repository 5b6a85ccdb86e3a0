#include "catalog/references.h"

#include <string>

namespace agentd::catalog {

namespace {

core::Error AgentError(const Snapshot& snapshot, const resources::Agent& agent,
                       const std::string& message) {
  std::string location = snapshot.LocationOf("Agent", agent.metadata.name);
  std::string prefix = location.empty() ? "" : location + ": ";
  return core::InvalidArgument(prefix + "Agent \"" + agent.metadata.name + "\": " + message);
}

}  // namespace

core::Status ValidateReferences(const Snapshot& snapshot) {
  for (const auto& [name, agent] : snapshot.agents) {
    const resources::AgentSpec& spec = agent.spec;
    if (!spec.model.empty() && snapshot.FindModel(spec.model) == nullptr) {
      return AgentError(snapshot, agent,
                        "spec.model refers to Model \"" + spec.model + "\" which does not exist");
    }
    for (size_t i = 0; i < spec.instructions.size(); ++i) {
      if (snapshot.FindInstruction(spec.instructions[i]) == nullptr) {
        return AgentError(snapshot, agent,
                          "spec.instructions[" + std::to_string(i) + "] refers to Instruction \"" +
                              spec.instructions[i] + "\" which does not exist");
      }
    }
  }
  return core::Ok();
}

}  // namespace agentd::catalog
