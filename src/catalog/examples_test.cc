// The shipped examples/ directory must load, be valid and hold the instruction set of seed 000.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "catalog/directory_source.h"
#include "catalog/prompt.h"

namespace agentd::catalog {
namespace {

using resources::InstructionScope;

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* source_dir = std::getenv("AGENTD_SOURCE_DIR");  // set by CTest
    if (source_dir == nullptr) source_dir = AGENTD_DEFAULT_SOURCE_DIR;
    auto loaded = LoadSnapshotFromDirectory(std::filesystem::path(source_dir) / "examples");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    snapshot_ = std::move(loaded).value();
  }
  Snapshot snapshot_;
};

TEST_F(ExamplesTest, ShipsTheSixGlobalInstructionsOfSeed000ByPriority) {
  std::map<std::string, int> global;
  for (const auto& [name, instruction] : snapshot_.instructions) {
    if (instruction.spec.scope == InstructionScope::kGlobal)
      global[name] = instruction.spec.priority;
  }
  EXPECT_EQ(global, (std::map<std::string, int>{{"global-code-quality", 10},
                                                {"global-commit-format", 20},
                                                {"global-security", 30},
                                                {"global-documentation", 40},
                                                {"global-testing", 50},
                                                {"global-repo-compliance", 60}}));
}

TEST_F(ExamplesTest, ShipsTheEightLocalInstructionsOfSeed000ByRole) {
  std::map<std::string, std::vector<std::string>> local;
  for (const auto& [name, instruction] : snapshot_.instructions) {
    if (instruction.spec.scope == InstructionScope::kLocal) local[name] = instruction.spec.roles;
  }
  using Roles = std::vector<std::string>;
  EXPECT_EQ(local, (std::map<std::string, Roles>{
                       {"local-developer-workflow", Roles{"developer", "codex-developer"}},
                       {"local-reviewer-checklist", Roles{"reviewer", "codex-reviewer"}},
                       {"local-docs-standards", Roles{"docs"}},
                       {"local-architect-design", Roles{"architect"}},
                       {"local-ops-runbook", Roles{"ops"}},
                       {"local-security-audit", Roles{"security"}},
                       {"local-triage-process", Roles{"triage"}},
                       {"local-testing-strategy", Roles{"testing"}},
                   }));
  EXPECT_EQ(snapshot_.instructions.size(), 14u);
}

TEST_F(ExamplesTest, InstructionsHaveRealText) {
  for (const auto& [name, instruction] : snapshot_.instructions) {
    const std::string& text = instruction.spec.text;
    EXPECT_GT(text.size(), 300u) << name << " is too short to be useful";
    size_t bullets = 0;
    for (size_t pos = text.find("\n- "); pos != std::string::npos;
         pos = text.find("\n- ", pos + 1)) {
      ++bullets;
    }
    EXPECT_GE(bullets + (text.starts_with("- ") ? 1 : 0), 4u) << name;
  }
}

TEST_F(ExamplesTest, ShipsAnAgentForEveryRoleWithItsLocalInstruction) {
  std::set<std::string> names;
  for (const auto& [name, agent] : snapshot_.agents) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"architect", "developer", "docs", "ops", "reviewer",
                                          "security", "testing", "triage"}));
  for (const auto& [name, agent] : snapshot_.agents) {
    EXPECT_EQ(agent.spec.role, name);
    EXPECT_FALSE(agent.spec.system_prompt.empty()) << name;
    EXPECT_FALSE(agent.spec.tools.empty()) << name;
    auto selected = SelectInstructions(snapshot_, agent);
    ASSERT_EQ(selected.size(), 7u) << name << ": six global instructions and one local";
    EXPECT_EQ(selected[6]->spec.scope, InstructionScope::kLocal) << name;
  }
}

TEST_F(ExamplesTest, ShipsALocalAndAnOpenAiModel) {
  const resources::Model* local = snapshot_.FindModel("local");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->spec.provider, "openai-compatible");
  EXPECT_EQ(local->spec.base_url, "http://127.0.0.1:8000/v1");
  EXPECT_EQ(local->spec.api_key.env, "OPENAI_API_KEY");
  const resources::Model* openai = snapshot_.FindModel("openai");
  ASSERT_NE(openai, nullptr);
  EXPECT_EQ(openai->spec.provider, "openai");
  EXPECT_EQ(openai->spec.model, "gpt-4o-mini");
  EXPECT_EQ(openai->spec.pricing.input_per_million, 150'000);
  EXPECT_EQ(openai->spec.pricing.output_per_million, 600'000);
}

TEST_F(ExamplesTest, ShipsNestedBudgetsWithTheOrganisationLimitOfSeed004) {
  const resources::Budget* organisation = snapshot_.FindBudget("organisation");
  ASSERT_NE(organisation, nullptr);
  EXPECT_TRUE(organisation->spec.scope.empty());
  EXPECT_EQ(organisation->spec.period, "month");
  EXPECT_EQ(organisation->spec.limit_micros, 1600 * core::kMicrosPerUsd);
  EXPECT_EQ(organisation->spec.action, resources::BudgetAction::kReject);

  std::map<std::string, core::MicroUsd> per_agent;  // agent -> monthly limit in USD
  std::set<std::string> teams;
  for (const auto& [name, budget] : snapshot_.budgets) {
    const resources::BudgetScope& scope = budget.spec.scope;
    if (!scope.agent.empty()) {
      EXPECT_NE(snapshot_.FindAgent(scope.agent), nullptr) << name;
      per_agent[scope.agent] = budget.spec.limit_micros / core::kMicrosPerUsd;
    }
    if (!scope.team.empty()) teams.insert(scope.team);
  }
  // Seed 004 section 6.2's monthly AI cost of the agents it names.
  EXPECT_EQ(per_agent, (std::map<std::string, core::MicroUsd>{
                           {"security", 100}, {"ops", 200}, {"architect", 300}}));
  EXPECT_EQ(teams, (std::set<std::string>{"platform", "sre"}));
  EXPECT_EQ(snapshot_.budgets.size(), 7u);
  // No TierPolicy objects: the built-in tier defaults apply.
  EXPECT_TRUE(snapshot_.tier_policies.empty());
}

TEST_F(ExamplesTest, EveryAgentHasATierAndALabelledTeam) {
  for (const auto& [name, agent] : snapshot_.agents) {
    EXPECT_GE(agent.spec.tier, 1) << name;
    EXPECT_LE(agent.spec.tier, 4) << name;
    EXPECT_TRUE(agent.metadata.labels.contains("team")) << name;
  }
}

TEST_F(ExamplesTest, TheDeveloperPromptComposesInTheDocumentedOrder) {
  std::string prompt = ComposeSystemPrompt(snapshot_, *snapshot_.FindAgent("developer"));
  size_t last = 0;
  for (const char* heading : {"## global-code-quality", "## global-commit-format",
                              "## global-security", "## global-documentation", "## global-testing",
                              "## global-repo-compliance", "## local-developer-workflow"}) {
    size_t at = prompt.find(heading);
    ASSERT_NE(at, std::string::npos) << heading;
    EXPECT_GT(at, last) << heading;
    last = at;
  }
  EXPECT_EQ(prompt.find("## local-reviewer-checklist"), std::string::npos);
}

}  // namespace
}  // namespace agentd::catalog
