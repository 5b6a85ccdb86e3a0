#include "governance/policy.h"

#include <algorithm>
#include <optional>

namespace agentd::governance {

namespace {

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// "local, openai", or "none" for an empty list.
std::string JoinOrNone(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool Contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

std::string TierName(int tier) { return "tier " + std::to_string(tier); }

}  // namespace

resources::TierPolicySpec DefaultTierPolicy(int tier) {
  resources::TierPolicySpec spec;
  spec.tier = tier;
  spec.approval_timeout = kDefaultApprovalTimeout;
  switch (tier) {
    case 1:
      spec.allowed_tools = std::vector<std::string>{"read_file", "list_files"};
      spec.max_cost_per_run_micros = core::kMicrosPerUsd / 2;
      spec.max_turns = 10;
      break;
    case 2:
      spec.allowed_tools = std::vector<std::string>{"read_file", "list_files", "write_file"};
      spec.max_cost_per_run_micros = 2 * core::kMicrosPerUsd;
      spec.max_turns = 25;
      break;
    case 3:
      spec.max_cost_per_run_micros = 5 * core::kMicrosPerUsd;
      spec.max_turns = 50;
      break;
    case 4:
      spec.max_cost_per_run_micros = 10 * core::kMicrosPerUsd;
      spec.max_turns = 100;
      spec.require_approval = true;
      break;
    default:
      break;  // no limits
  }
  return spec;
}

resources::TierPolicySpec ResolveTierPolicy(
    int tier, const std::map<std::string, resources::TierPolicy, std::less<>>& policies) {
  for (const auto& [name, policy] : policies) {
    if (policy.spec.tier == tier) return policy.spec;
  }
  return DefaultTierPolicy(tier);
}

std::vector<PolicyViolation> CheckAgentAgainstTier(const resources::Agent& agent,
                                                   const resources::TierPolicySpec& tier) {
  const resources::AgentSpec& spec = agent.spec;
  std::vector<PolicyViolation> out;
  if (tier.allowed_models && !spec.model.empty() && !Contains(*tier.allowed_models, spec.model)) {
    out.push_back({std::string(kRuleModelNotAllowed), "spec.model",
                   "model " + Quote(spec.model) + " is not allowed in " + TierName(tier.tier) +
                       " (allowed: " + JoinOrNone(*tier.allowed_models) + ")"});
  }
  if (tier.allowed_tools) {
    for (size_t i = 0; i < spec.tools.size(); ++i) {
      if (Contains(*tier.allowed_tools, spec.tools[i])) continue;
      out.push_back({std::string(kRuleToolNotAllowed), "spec.tools[" + std::to_string(i) + "]",
                     "tool " + Quote(spec.tools[i]) + " is not allowed in " + TierName(tier.tier) +
                         " (allowed: " + JoinOrNone(*tier.allowed_tools) + ")"});
    }
  }
  const core::MicroUsd cost = spec.limits.max_cost_micros;
  if (tier.max_cost_per_run_micros > 0 && cost > tier.max_cost_per_run_micros) {
    out.push_back({std::string(kRuleMaxCostAboveTier), "spec.limits.maxCostUsd",
                   "maxCostUsd " + Quote(core::FormatUsd(cost)) + " is above the " +
                       TierName(tier.tier) + " cap of " +
                       Quote(core::FormatUsd(tier.max_cost_per_run_micros)) + " per run"});
  }
  if (tier.max_turns > 0 && spec.limits.max_turns > tier.max_turns) {
    out.push_back({std::string(kRuleMaxTurnsAboveTier), "spec.limits.maxTurns",
                   "maxTurns " + std::to_string(spec.limits.max_turns) + " is above the " +
                       TierName(tier.tier) + " cap of " + std::to_string(tier.max_turns) +
                       " per run"});
  }
  return out;
}

EffectivePolicy Effective(const resources::Agent& agent, const resources::TierPolicySpec* tier) {
  const resources::AgentSpec& spec = agent.spec;
  EffectivePolicy out;
  for (const std::string& tool : spec.tools) {
    if (tier == nullptr || !tier->allowed_tools || Contains(*tier->allowed_tools, tool)) {
      out.tools.push_back(tool);
    }
  }

  std::optional<core::MicroUsd> cap;
  if (spec.limits.max_cost_micros > 0) cap = spec.limits.max_cost_micros;
  if (tier != nullptr && tier->max_cost_per_run_micros > 0) {
    cap = cap ? std::min(*cap, tier->max_cost_per_run_micros) : tier->max_cost_per_run_micros;
  }
  out.max_cost_per_run = cap.value_or(kDefaultRunCapMicros);

  out.max_turns = spec.limits.max_turns;
  if (tier != nullptr && tier->max_turns > 0)
    out.max_turns = std::min(out.max_turns, tier->max_turns);

  out.require_approval = spec.approval.required || (tier != nullptr && tier->require_approval);
  if (spec.approval.timeout.count() > 0) {
    out.approval_timeout = spec.approval.timeout;
  } else if (tier != nullptr && tier->approval_timeout.count() > 0) {
    out.approval_timeout = tier->approval_timeout;
  } else {
    out.approval_timeout = kDefaultApprovalTimeout;
  }
  return out;
}

bool BudgetApplies(const resources::BudgetSpec& budget, const RunAttribution& run) {
  const resources::BudgetScope& scope = budget.scope;
  if (!scope.agent.empty() && scope.agent != run.agent) return false;
  if (!scope.team.empty() && scope.team != run.team) return false;
  if (scope.tier != 0 && scope.tier != run.tier) return false;
  if (!scope.namespace_.empty() && scope.namespace_ != run.namespace_) return false;
  if (!scope.api_key.empty() && scope.api_key != run.caller) return false;
  return true;
}

}  // namespace agentd::governance
