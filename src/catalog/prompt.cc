#include "catalog/prompt.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace agentd::catalog {

using resources::Instruction;
using resources::InstructionScope;

namespace {

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::vector<const Instruction*> SelectInstructions(const Snapshot& snapshot,
                                                   const resources::Agent& agent) {
  std::vector<const Instruction*> global;
  std::vector<const Instruction*> local;  // the map iterates by name already
  for (const auto& [name, instruction] : snapshot.instructions) {
    const auto& roles = instruction.spec.roles;
    if (instruction.spec.scope == InstructionScope::kGlobal) {
      global.push_back(&instruction);
    } else if (std::find(roles.begin(), roles.end(), agent.spec.role) != roles.end()) {
      local.push_back(&instruction);
    }
  }
  std::stable_sort(global.begin(), global.end(), [](const Instruction* a, const Instruction* b) {
    return a->spec.priority < b->spec.priority;  // stable: ties stay in name order
  });

  std::vector<const Instruction*> out = std::move(global);
  out.insert(out.end(), local.begin(), local.end());
  std::set<const Instruction*> included(out.begin(), out.end());
  for (const std::string& name : agent.spec.instructions) {
    const Instruction* extra = snapshot.FindInstruction(name);
    if (extra != nullptr && included.insert(extra).second) out.push_back(extra);
  }
  return out;
}

std::string ComposeSystemPrompt(const Snapshot& snapshot, const resources::Agent& agent) {
  std::string out(Trim(agent.spec.system_prompt));
  for (const Instruction* instruction : SelectInstructions(snapshot, agent)) {
    std::string_view text = Trim(instruction->spec.text);
    if (text.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += "## " + instruction->metadata.name + "\n\n";
    out += text;
  }
  return out;
}

}  // namespace agentd::catalog
