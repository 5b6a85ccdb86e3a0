#include "catalog/references.h"

#include <gtest/gtest.h>

namespace agentd::catalog {
namespace {

Snapshot ValidSnapshot() {
  Snapshot snapshot;
  resources::Model model;
  model.metadata.name = "local";
  snapshot.models.emplace("local", model);
  resources::Instruction instruction;
  instruction.metadata.name = "extra";
  snapshot.instructions.emplace("extra", instruction);
  resources::Agent agent;
  agent.metadata.name = "developer";
  agent.spec.model = "local";
  agent.spec.instructions = {"extra"};
  snapshot.agents.emplace("developer", agent);
  snapshot.locations["Agent/developer"] = "agents.yaml:20";
  return snapshot;
}

TEST(ReferencesTest, AcceptsASnapshotWhoseReferencesResolve) {
  EXPECT_TRUE(ValidateReferences(ValidSnapshot()).ok());
  EXPECT_TRUE(ValidateReferences(Snapshot{}).ok());
}

TEST(ReferencesTest, NamesTheAgentItsLocationAndTheMissingModel) {
  Snapshot snapshot = ValidSnapshot();
  snapshot.models.clear();
  auto status = ValidateReferences(snapshot);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message,
            "agents.yaml:20: Agent \"developer\": spec.model refers to Model \"local\" which does "
            "not exist");
}

TEST(ReferencesTest, NamesTheMissingExtraInstructionByIndex) {
  Snapshot snapshot = ValidSnapshot();
  snapshot.agents["developer"].spec.instructions = {"extra", "nope"};
  snapshot.locations.clear();
  EXPECT_EQ(ValidateReferences(snapshot).error().message,
            "Agent \"developer\": spec.instructions[1] refers to Instruction \"nope\" which does "
            "not exist");
}

TEST(ReferencesTest, CommandAgentsNeedNoModel) {
  Snapshot snapshot = ValidSnapshot();
  snapshot.models.clear();
  snapshot.agents["developer"].spec.runtime = resources::AgentRuntime::kCommand;
  snapshot.agents["developer"].spec.model = "";
  EXPECT_TRUE(ValidateReferences(snapshot).ok());
}

TEST(ReferencesTest, ABudgetMustNameAnExistingAgent) {
  Snapshot snapshot = ValidSnapshot();
  resources::Budget budget;
  budget.metadata.name = "dev";
  budget.spec.scope.agent = "developer";
  snapshot.budgets.emplace("dev", budget);
  EXPECT_TRUE(ValidateReferences(snapshot).ok());
  snapshot.budgets["dev"].spec.scope.agent = "developr";
  snapshot.locations["Budget/dev"] = "budgets.yaml:3";
  EXPECT_EQ(ValidateReferences(snapshot).error().message,
            "budgets.yaml:3: Budget \"dev\": spec.scope.agent refers to Agent \"developr\" "
            "which does not exist");
}

TEST(ReferencesTest, EachTierHasAtMostOnePolicy) {
  Snapshot snapshot = ValidSnapshot();
  resources::TierPolicy policy;
  policy.metadata.name = "a";
  policy.spec.tier = 2;
  snapshot.tier_policies.emplace("a", policy);
  policy.metadata.name = "b";
  policy.spec.tier = 3;
  snapshot.tier_policies.emplace("b", policy);
  EXPECT_TRUE(ValidateReferences(snapshot).ok());
  snapshot.tier_policies["b"].spec.tier = 2;
  EXPECT_EQ(ValidateReferences(snapshot).error().message,
            "TierPolicy \"b\": spec.tier 2 is already the tier of TierPolicy \"a\"");
}

TEST(ReferencesTest, FindReferenceProblemsListsThemAllInOrder) {
  Snapshot snapshot = ValidSnapshot();
  snapshot.models.clear();
  snapshot.instructions.clear();
  resources::Budget budget;
  budget.metadata.name = "ghost";
  budget.spec.scope.agent = "ghost";
  snapshot.budgets.emplace("ghost", budget);
  auto problems = FindReferenceProblems(snapshot);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].message.find("spec.model refers to Model \"local\""), std::string::npos);
  EXPECT_NE(problems[1].message.find("spec.instructions[0] refers to Instruction \"extra\""),
            std::string::npos);
  EXPECT_NE(problems[2].message.find("Budget \"ghost\""), std::string::npos);
  EXPECT_EQ(ValidateReferences(snapshot).error().message, problems[0].message);
  EXPECT_TRUE(FindReferenceProblems(ValidSnapshot()).empty());
}

}  // namespace
}  // namespace agentd::catalog
