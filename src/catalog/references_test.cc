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

}  // namespace
}  // namespace agentd::catalog
