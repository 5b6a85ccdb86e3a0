// Tier policies, the effective limits of a run, and which budgets apply to it (issue 4). Pure
// functions over resources values: no I/O, no clock, thread-safe.
//
// A tier (1-4, seed 004) sets the outer limits of its agents: the TierPolicy object of the tier,
// or the built-in defaults below. An agent may tighten them, never loosen them; loosening is a
// violation with a stable rule name (the `rule` label of agent_governance_violations_total) and
// admission refuses runs of such an agent. The rules and the table are in docs/objects.md.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"
#include "resources/types.h"

namespace agentd::governance {

// The per-run cost cap of a run whose agent and tier set none: $5.
inline constexpr core::MicroUsd kDefaultRunCapMicros = 5 * core::kMicrosPerUsd;
// How long a run waits for approval when neither the agent nor its tier says.
inline constexpr std::chrono::seconds kDefaultApprovalTimeout{86400};

// Violation rule names (stable: metric labels, runner `violation` events, audit entries).
inline constexpr std::string_view kRuleModelNotAllowed = "model_not_allowed";
inline constexpr std::string_view kRuleToolNotAllowed = "tool_not_allowed";
inline constexpr std::string_view kRuleMaxCostAboveTier = "max_cost_above_tier";
inline constexpr std::string_view kRuleMaxTurnsAboveTier = "max_turns_above_tier";
inline constexpr std::string_view kRuleBudgetExceeded = "budget_exceeded";
inline constexpr std::string_view kRuleRunCostLimit = "run_cost_limit";
inline constexpr std::string_view kRuleMaxTurns = "max_turns";

// The built-in policy of seed 004's tiers:
//   1 observer:   read_file, list_files;             $0.50 per run, 10 turns
//   2 assistant:  read_file, list_files, write_file; $2,  25 turns
//   3 operator:   any tool;                          $5,  50 turns
//   4 autonomous: any tool;                          $10, 100 turns, approval required
// Every tier allows any model and waits 86400 s for approval. A tier outside 1-4 gets a policy
// with that tier number and no limits at all.
resources::TierPolicySpec DefaultTierPolicy(int tier);

// The spec of the TierPolicy object whose spec.tier is `tier` (the catalog keeps at most one per
// tier; should there be several, the first by name), else DefaultTierPolicy(tier).
resources::TierPolicySpec ResolveTierPolicy(
    int tier, const std::map<std::string, resources::TierPolicy, std::less<>>& policies);

struct PolicyViolation {
  std::string rule;     // one of the kRule* names above
  std::string field;    // the agent's field that breaks the rule: "spec.tools[2]"
  std::string message;  // for people: `tool "shell" is not allowed in tier 1 (allowed: ...)`

  friend bool operator==(const PolicyViolation&, const PolicyViolation&) = default;
};

// Where `agent` loosens `tier`; empty when it keeps within it. In this order:
//   model_not_allowed    the tier lists allowedModels and the agent's model (when set) is not in
//                        it;
//   tool_not_allowed     one per listed tool the tier's allowedTools (when set) does not hold;
//   max_cost_above_tier  the tier caps the cost per run and the agent's limits.maxCostUsd is
//                        above the cap (0, no cap of its own, is within: it gets the tier's);
//   max_turns_above_tier the tier caps turns and limits.maxTurns is above the cap.
// The agent's own tier number is not looked at: pass the policy to check against.
std::vector<PolicyViolation> CheckAgentAgainstTier(const resources::Agent& agent,
                                                   const resources::TierPolicySpec& tier);

// The limits a run of the agent gets.
struct EffectivePolicy {
  // The agent's tools that the tier allows (all of them for a compliant agent), in its order.
  std::vector<std::string> tools;
  // The lower of the agent's limits.maxCostUsd and the tier's maxCostPerRunUsd, counting only the
  // nonzero ones; kDefaultRunCapMicros when both are 0. Never 0: it is the run's allowance.
  core::MicroUsd max_cost_per_run = kDefaultRunCapMicros;
  // The lower of the agent's limits.maxTurns and the tier's maxTurns when that is > 0.
  int max_turns = 0;
  // The agent or the tier requires approval.
  bool require_approval = false;
  // The agent's approval.timeoutSeconds when > 0, else the tier's approvalTimeoutSeconds (when >
  // 0), else kDefaultApprovalTimeout.
  std::chrono::seconds approval_timeout = kDefaultApprovalTimeout;

  friend bool operator==(const EffectivePolicy&, const EffectivePolicy&) = default;
};

// `tier` is the resolved policy of the agent's tier (ResolveTierPolicy), or null for an agent
// with tier 0, which gets its own limits only.
EffectivePolicy Effective(const resources::Agent& agent, const resources::TierPolicySpec* tier);

// Who a run is attributed to, as budget scopes see it.
struct RunAttribution {
  std::string agent;       // Agent name
  std::string team;        // the agent's `team` label ("" when it has none)
  std::string namespace_;  // the agent's namespace ("" outside a cluster)
  std::string caller;      // the submitter's identity ("ci", "key-1a2b3c4d", "anonymous")
  int tier = 0;            // the agent's tier; 0 = unset
};

// True when every scope field the budget sets equals the run's (scope.apiKey against caller); an
// empty scope applies to every run. An unset attribute of the run matches only an unset field:
// a run of an agent without a team falls under no team budget.
bool BudgetApplies(const resources::BudgetSpec& budget, const RunAttribution& run);

}  // namespace agentd::governance
