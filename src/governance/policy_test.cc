#include "governance/policy.h"

#include <gtest/gtest.h>

namespace agentd::governance {
namespace {

using resources::Agent;
using resources::TierPolicy;
using resources::TierPolicySpec;
using std::chrono::seconds;
using Strings = std::vector<std::string>;

constexpr core::MicroUsd kUsd = core::kMicrosPerUsd;

Agent MakeAgent(int tier, Strings tools, core::MicroUsd max_cost, int max_turns) {
  Agent agent;
  agent.metadata.name = "dev";
  agent.spec.model = "local";
  agent.spec.tier = tier;
  agent.spec.tools = std::move(tools);
  agent.spec.limits.max_cost_micros = max_cost;
  agent.spec.limits.max_turns = max_turns;
  return agent;
}

std::vector<std::string> RulesOf(const std::vector<PolicyViolation>& violations) {
  std::vector<std::string> rules;
  for (const PolicyViolation& violation : violations) rules.push_back(violation.rule);
  return rules;
}

TEST(DefaultTierPolicyTest, HoldsTheFourTiersOfSeed004) {
  TierPolicySpec observer = DefaultTierPolicy(1);
  EXPECT_EQ(observer.tier, 1);
  EXPECT_EQ(observer.allowed_tools, (Strings{"read_file", "list_files"}));
  EXPECT_EQ(observer.max_cost_per_run_micros, kUsd / 2);
  EXPECT_EQ(observer.max_turns, 10);
  EXPECT_FALSE(observer.require_approval);

  TierPolicySpec assistant = DefaultTierPolicy(2);
  EXPECT_EQ(assistant.allowed_tools, (Strings{"read_file", "list_files", "write_file"}));
  EXPECT_EQ(assistant.max_cost_per_run_micros, 2 * kUsd);
  EXPECT_EQ(assistant.max_turns, 25);
  EXPECT_FALSE(assistant.require_approval);

  TierPolicySpec operator_tier = DefaultTierPolicy(3);
  EXPECT_FALSE(operator_tier.allowed_tools.has_value());
  EXPECT_EQ(operator_tier.max_cost_per_run_micros, 5 * kUsd);
  EXPECT_EQ(operator_tier.max_turns, 50);
  EXPECT_FALSE(operator_tier.require_approval);

  TierPolicySpec autonomous = DefaultTierPolicy(4);
  EXPECT_FALSE(autonomous.allowed_tools.has_value());
  EXPECT_EQ(autonomous.max_cost_per_run_micros, 10 * kUsd);
  EXPECT_EQ(autonomous.max_turns, 100);
  EXPECT_TRUE(autonomous.require_approval);

  for (int tier = 1; tier <= 4; ++tier) {
    EXPECT_FALSE(DefaultTierPolicy(tier).allowed_models.has_value()) << tier;
    EXPECT_EQ(DefaultTierPolicy(tier).approval_timeout, seconds(86400)) << tier;
  }
}

TEST(DefaultTierPolicyTest, ATierOutsideOneToFourHasNoLimits) {
  for (int tier : {0, 5, -1}) {
    TierPolicySpec spec = DefaultTierPolicy(tier);
    EXPECT_EQ(spec.tier, tier);
    EXPECT_FALSE(spec.allowed_models.has_value());
    EXPECT_FALSE(spec.allowed_tools.has_value());
    EXPECT_EQ(spec.max_cost_per_run_micros, 0);
    EXPECT_EQ(spec.max_turns, 0);
    EXPECT_FALSE(spec.require_approval);
    EXPECT_TRUE(CheckAgentAgainstTier(MakeAgent(tier, {"shell"}, 100 * kUsd, 1000), spec).empty());
  }
}

TEST(ResolveTierPolicyTest, PrefersTheObjectOfTheTierOverTheDefault) {
  std::map<std::string, TierPolicy, std::less<>> policies;
  TierPolicy strict;
  strict.metadata.name = "strict-operators";
  strict.spec.tier = 3;
  strict.spec.max_turns = 5;  // the object replaces the defaults whole: no cost cap
  policies.emplace(strict.metadata.name, strict);

  EXPECT_EQ(ResolveTierPolicy(3, policies), strict.spec);
  EXPECT_EQ(ResolveTierPolicy(3, policies).max_cost_per_run_micros, 0);
  EXPECT_EQ(ResolveTierPolicy(2, policies), DefaultTierPolicy(2));
  EXPECT_EQ(ResolveTierPolicy(4, {}), DefaultTierPolicy(4));
}

TEST(CheckAgentAgainstTierTest, AnAgentThatTightensItsTierIsClean) {
  Agent agent = MakeAgent(2, {"read_file"}, kUsd, 5);
  EXPECT_TRUE(CheckAgentAgainstTier(agent, DefaultTierPolicy(2)).empty());
  // No cost cap of its own is within the tier: the run gets the tier's cap.
  agent.spec.limits.max_cost_micros = 0;
  EXPECT_TRUE(CheckAgentAgainstTier(agent, DefaultTierPolicy(2)).empty());
  // Exactly at the caps is within.
  EXPECT_TRUE(
      CheckAgentAgainstTier(MakeAgent(2, {"write_file"}, 2 * kUsd, 25), DefaultTierPolicy(2))
          .empty());
}

TEST(CheckAgentAgainstTierTest, ReportsEveryWayAnAgentLoosensItsTier) {
  Agent agent = MakeAgent(1, {"read_file", "shell", "write_file"}, 2 * kUsd, 11);
  auto violations = CheckAgentAgainstTier(agent, DefaultTierPolicy(1));
  EXPECT_EQ(RulesOf(violations), (Strings{"tool_not_allowed", "tool_not_allowed",
                                          "max_cost_above_tier", "max_turns_above_tier"}));
  ASSERT_EQ(violations.size(), 4u);
  EXPECT_EQ(violations[0],
            (PolicyViolation{"tool_not_allowed", "spec.tools[1]",
                             "tool \"shell\" is not allowed in tier 1 (allowed: read_file, "
                             "list_files)"}));
  EXPECT_EQ(violations[1].field, "spec.tools[2]");
  EXPECT_EQ(violations[2], (PolicyViolation{"max_cost_above_tier", "spec.limits.maxCostUsd",
                                            "maxCostUsd \"2\" is above the tier 1 cap of \"0.5\" "
                                            "per run"}));
  EXPECT_EQ(violations[3], (PolicyViolation{"max_turns_above_tier", "spec.limits.maxTurns",
                                            "maxTurns 11 is above the tier 1 cap of 10 per run"}));
}

TEST(CheckAgentAgainstTierTest, ChecksTheModelAgainstAnAllowList) {
  TierPolicySpec tier = DefaultTierPolicy(3);
  tier.allowed_models = Strings{"openai"};
  Agent agent = MakeAgent(3, {}, 0, 20);
  auto violations = CheckAgentAgainstTier(agent, tier);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0], (PolicyViolation{"model_not_allowed", "spec.model",
                                            "model \"local\" is not allowed in tier 3 (allowed: "
                                            "openai)"}));
  agent.spec.model = "openai";
  EXPECT_TRUE(CheckAgentAgainstTier(agent, tier).empty());
  // A command agent without a model has nothing to check.
  agent.spec.model = "";
  EXPECT_TRUE(CheckAgentAgainstTier(agent, tier).empty());
  tier.allowed_models = Strings{};
  agent.spec.model = "openai";
  EXPECT_NE(CheckAgentAgainstTier(agent, tier)[0].message.find("(allowed: none)"),
            std::string::npos);
}

TEST(EffectiveTest, TakesTheLowerOfTheNonzeroCostCaps) {
  TierPolicySpec tier = DefaultTierPolicy(3);  // $5
  EXPECT_EQ(Effective(MakeAgent(3, {}, 2 * kUsd, 20), &tier).max_cost_per_run, 2 * kUsd);
  EXPECT_EQ(Effective(MakeAgent(3, {}, 8 * kUsd, 20), &tier).max_cost_per_run, 5 * kUsd);
  EXPECT_EQ(Effective(MakeAgent(3, {}, 0, 20), &tier).max_cost_per_run, 5 * kUsd);
  TierPolicySpec uncapped = DefaultTierPolicy(3);
  uncapped.max_cost_per_run_micros = 0;
  EXPECT_EQ(Effective(MakeAgent(3, {}, 7 * kUsd, 20), &uncapped).max_cost_per_run, 7 * kUsd);
  EXPECT_EQ(Effective(MakeAgent(3, {}, 0, 20), &uncapped).max_cost_per_run, kDefaultRunCapMicros);
}

TEST(EffectiveTest, AnAgentWithoutATierGetsItsOwnCapOrFiveDollars) {
  EXPECT_EQ(kDefaultRunCapMicros, 5 * kUsd);
  EffectivePolicy own = Effective(MakeAgent(0, {"shell"}, 12 * kUsd, 300), nullptr);
  EXPECT_EQ(own.max_cost_per_run, 12 * kUsd);
  EXPECT_EQ(own.max_turns, 300);
  EXPECT_EQ(own.tools, Strings{"shell"});
  EXPECT_FALSE(own.require_approval);
  EXPECT_EQ(own.approval_timeout, seconds(86400));
  EXPECT_EQ(Effective(MakeAgent(0, {}, 0, 20), nullptr).max_cost_per_run, kDefaultRunCapMicros);
}

TEST(EffectiveTest, TurnsAreTheLowerOfAgentAndTier) {
  TierPolicySpec tier = DefaultTierPolicy(2);  // 25
  EXPECT_EQ(Effective(MakeAgent(2, {}, 0, 10), &tier).max_turns, 10);
  EXPECT_EQ(Effective(MakeAgent(2, {}, 0, 40), &tier).max_turns, 25);
  tier.max_turns = 0;  // no cap of the tier
  EXPECT_EQ(Effective(MakeAgent(2, {}, 0, 40), &tier).max_turns, 40);
}

TEST(EffectiveTest, KeepsOnlyTheToolsTheTierAllows) {
  TierPolicySpec tier = DefaultTierPolicy(1);
  EXPECT_EQ(Effective(MakeAgent(1, {"shell", "list_files", "read_file"}, 0, 5), &tier).tools,
            (Strings{"list_files", "read_file"}));
  TierPolicySpec any = DefaultTierPolicy(3);
  EXPECT_EQ(Effective(MakeAgent(3, {"shell", "read_file"}, 0, 5), &any).tools,
            (Strings{"shell", "read_file"}));
}

TEST(EffectiveTest, ApprovalIsRequiredByEitherAndTheAgentTimeoutWins) {
  TierPolicySpec tier4 = DefaultTierPolicy(4);
  tier4.approval_timeout = seconds(3600);
  Agent agent = MakeAgent(4, {}, 0, 20);
  EffectivePolicy from_tier = Effective(agent, &tier4);
  EXPECT_TRUE(from_tier.require_approval);
  EXPECT_EQ(from_tier.approval_timeout, seconds(3600));

  agent.spec.approval.timeout = seconds(600);
  EXPECT_EQ(Effective(agent, &tier4).approval_timeout, seconds(600));

  TierPolicySpec tier3 = DefaultTierPolicy(3);
  EXPECT_FALSE(Effective(agent, &tier3).require_approval);
  agent.spec.approval.required = true;
  EXPECT_TRUE(Effective(agent, &tier3).require_approval);
  EXPECT_TRUE(Effective(agent, nullptr).require_approval);
  EXPECT_EQ(Effective(agent, nullptr).approval_timeout, seconds(600));
  agent.spec.approval.timeout = seconds(0);
  EXPECT_EQ(Effective(agent, nullptr).approval_timeout, kDefaultApprovalTimeout);
}

TEST(BudgetAppliesTest, AnEmptyScopeAppliesToEveryRun) {
  resources::BudgetSpec organisation;
  EXPECT_TRUE(BudgetApplies(organisation, RunAttribution{}));
  EXPECT_TRUE(BudgetApplies(organisation, RunAttribution{"dev", "platform", "ns", "ci", 3}));
}

TEST(BudgetAppliesTest, EverySetScopeFieldMustMatch) {
  RunAttribution run{
      .agent = "dev", .team = "platform", .namespace_ = "agents", .caller = "ci", .tier = 3};
  resources::BudgetSpec budget;
  budget.scope.team = "platform";
  EXPECT_TRUE(BudgetApplies(budget, run));
  budget.scope.tier = 3;
  EXPECT_TRUE(BudgetApplies(budget, run));
  budget.scope.agent = "dev";
  budget.scope.namespace_ = "agents";
  budget.scope.api_key = "ci";
  EXPECT_TRUE(BudgetApplies(budget, run));

  auto differs = [&](auto change) {
    resources::BudgetSpec changed = budget;
    change(changed.scope);
    return !BudgetApplies(changed, run);
  };
  EXPECT_TRUE(differs([](resources::BudgetScope& s) { s.agent = "reviewer"; }));
  EXPECT_TRUE(differs([](resources::BudgetScope& s) { s.team = "sre"; }));
  EXPECT_TRUE(differs([](resources::BudgetScope& s) { s.tier = 4; }));
  EXPECT_TRUE(differs([](resources::BudgetScope& s) { s.namespace_ = "other"; }));
  EXPECT_TRUE(differs([](resources::BudgetScope& s) { s.api_key = "key-1a2b3c4d"; }));
}

TEST(BudgetAppliesTest, ARunWithoutATeamFallsUnderNoTeamBudget) {
  resources::BudgetSpec team;
  team.scope.team = "platform";
  EXPECT_FALSE(BudgetApplies(team, RunAttribution{.agent = "dev"}));
  resources::BudgetSpec tier;
  tier.scope.tier = 2;
  EXPECT_FALSE(BudgetApplies(tier, RunAttribution{.agent = "dev"}));
}

}  // namespace
}  // namespace agentd::governance
