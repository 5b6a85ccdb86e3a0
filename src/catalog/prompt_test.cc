#include "catalog/prompt.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace agentd::catalog {
namespace {

using resources::Agent;
using resources::Instruction;
using resources::InstructionScope;

Instruction Global(const std::string& name, int priority, const std::string& text) {
  Instruction out;
  out.metadata.name = name;
  out.spec.scope = InstructionScope::kGlobal;
  out.spec.priority = priority;
  out.spec.text = text;
  return out;
}

Instruction Local(const std::string& name, std::vector<std::string> roles,
                  const std::string& text) {
  Instruction out;
  out.metadata.name = name;
  out.spec.scope = InstructionScope::kLocal;
  out.spec.roles = std::move(roles);
  out.spec.text = text;
  return out;
}

Agent MakeAgent(const std::string& role, const std::string& prompt,
                std::vector<std::string> extra = {}) {
  Agent out;
  out.metadata.name = role;
  out.spec.role = role;
  out.spec.system_prompt = prompt;
  out.spec.instructions = std::move(extra);
  return out;
}

Snapshot With(std::vector<Instruction> instructions) {
  Snapshot snapshot;
  for (Instruction& i : instructions) {
    std::string name = i.metadata.name;
    snapshot.instructions.emplace(name, std::move(i));
  }
  return snapshot;
}

std::vector<std::string> Names(const std::vector<const Instruction*>& instructions) {
  std::vector<std::string> out;
  for (const Instruction* i : instructions) out.push_back(i->metadata.name);
  return out;
}

TEST(PromptTest, GlobalByPriorityThenLocalForTheRoleByNameThenExtrasInListedOrder) {
  Snapshot snapshot = With({
      Global("global-security", 30, "s"),
      Global("global-code-quality", 10, "q"),
      Global("global-commit-format", 20, "c"),
      Local("local-zeta", {"developer"}, "z"),
      Local("local-alpha", {"reviewer", "developer"}, "a"),
      Local("local-reviewer-checklist", {"reviewer"}, "r"),
      Local("extra-two", {"ops"}, "2"),
      Local("extra-one", {"ops"}, "1"),
  });
  Agent agent = MakeAgent("developer", "p", {"extra-two", "extra-one"});
  EXPECT_EQ(
      Names(SelectInstructions(snapshot, agent)),
      (std::vector<std::string>{"global-code-quality", "global-commit-format", "global-security",
                                "local-alpha", "local-zeta", "extra-two", "extra-one"}));
}

TEST(PromptTest, TiesInPriorityAreBrokenByName) {
  Snapshot snapshot = With({Global("b", 5, "x"), Global("a", 5, "x"), Global("c", 1, "x")});
  EXPECT_EQ(Names(SelectInstructions(snapshot, MakeAgent("dev", ""))),
            (std::vector<std::string>{"c", "a", "b"}));
}

TEST(PromptTest, ExtrasAlreadyIncludedOrMissingAreSkipped) {
  Snapshot snapshot = With({Global("g", 1, "x"), Local("l", {"dev"}, "x"), Local("o", {"x"}, "x")});
  Agent agent = MakeAgent("dev", "", {"l", "g", "missing", "o", "o"});
  EXPECT_EQ(Names(SelectInstructions(snapshot, agent)), (std::vector<std::string>{"g", "l", "o"}));
}

TEST(PromptTest, ComposesSectionsWithHeadingsSeparatedByBlankLines) {
  Snapshot snapshot = With({
      Global("global-security", 30, "Never print secrets.\n"),
      Global("global-code-quality", 10, "- Small functions.\n- Clear names.\n"),
      Local("local-developer-workflow", {"developer"}, "Run the tests first."),
      Local("local-docs-standards", {"docs"}, "Not for developers."),
  });
  Agent agent = MakeAgent("developer", "You are a careful software engineer.\n");
  EXPECT_EQ(ComposeSystemPrompt(snapshot, agent),
            "You are a careful software engineer.\n"
            "\n"
            "## global-code-quality\n"
            "\n"
            "- Small functions.\n"
            "- Clear names.\n"
            "\n"
            "## global-security\n"
            "\n"
            "Never print secrets.\n"
            "\n"
            "## local-developer-workflow\n"
            "\n"
            "Run the tests first.");
}

TEST(PromptTest, WithoutASystemPromptStartsAtTheFirstInstruction) {
  Snapshot snapshot = With({Global("g", 1, "  text  ")});
  EXPECT_EQ(ComposeSystemPrompt(snapshot, MakeAgent("dev", "  \n")), "## g\n\ntext");
  EXPECT_EQ(ComposeSystemPrompt(Snapshot{}, MakeAgent("dev", "only me")), "only me");
}

}  // namespace
}  // namespace agentd::catalog
