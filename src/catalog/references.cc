#include "catalog/references.h"

#include <map>
#include <string>

namespace agentd::catalog {

namespace {

core::Error ObjectError(const Snapshot& snapshot, std::string_view kind, const std::string& name,
                        const std::string& message) {
  std::string location = snapshot.LocationOf(kind, name);
  std::string prefix = location.empty() ? "" : location + ": ";
  return core::InvalidArgument(prefix + std::string(kind) + " \"" + name + "\": " + message);
}

}  // namespace

std::vector<core::Error> FindReferenceProblems(const Snapshot& snapshot) {
  std::vector<core::Error> problems;
  for (const auto& [name, agent] : snapshot.agents) {
    const resources::AgentSpec& spec = agent.spec;
    if (!spec.model.empty() && snapshot.FindModel(spec.model) == nullptr) {
      problems.push_back(
          ObjectError(snapshot, "Agent", name,
                      "spec.model refers to Model \"" + spec.model + "\" which does not exist"));
    }
    for (size_t i = 0; i < spec.instructions.size(); ++i) {
      if (snapshot.FindInstruction(spec.instructions[i]) == nullptr) {
        problems.push_back(ObjectError(snapshot, "Agent", name,
                                       "spec.instructions[" + std::to_string(i) +
                                           "] refers to Instruction \"" + spec.instructions[i] +
                                           "\" which does not exist"));
      }
    }
  }
  for (const auto& [name, budget] : snapshot.budgets) {
    const std::string& agent = budget.spec.scope.agent;
    if (!agent.empty() && snapshot.FindAgent(agent) == nullptr) {
      problems.push_back(
          ObjectError(snapshot, "Budget", name,
                      "spec.scope.agent refers to Agent \"" + agent + "\" which does not exist"));
    }
  }
  std::map<int, std::string> policy_of_tier;  // the first TierPolicy (by name) of each tier
  for (const auto& [name, policy] : snapshot.tier_policies) {
    auto [it, inserted] = policy_of_tier.emplace(policy.spec.tier, name);
    if (inserted) continue;
    std::string first_location = snapshot.LocationOf("TierPolicy", it->second);
    problems.push_back(ObjectError(
        snapshot, "TierPolicy", name,
        "spec.tier " + std::to_string(policy.spec.tier) + " is already the tier of TierPolicy \"" +
            it->second + "\"" + (first_location.empty() ? "" : " (at " + first_location + ")")));
  }
  return problems;
}

core::Status ValidateReferences(const Snapshot& snapshot) {
  std::vector<core::Error> problems = FindReferenceProblems(snapshot);
  if (problems.empty()) return core::Ok();
  return std::move(problems.front());
}

}  // namespace agentd::catalog
