// Composition of an agent's system prompt from the catalog: pure functions over values.
#pragma once

#include <string>
#include <vector>

#include "catalog/snapshot.h"
#include "resources/types.h"

namespace agentd::catalog {

// The instructions that apply to `agent`, in composition order:
//   1. global instructions by ascending priority (ties by name);
//   2. local instructions whose roles include the agent's role, by name;
//   3. the agent's extra instructions in the order listed, skipping any already included and
//      any not in the snapshot (ValidateReferences rejects those before a snapshot is used).
// The pointers point into `snapshot`.
std::vector<const resources::Instruction*> SelectInstructions(const Snapshot& snapshot,
                                                              const resources::Agent& agent);

// The agent's systemPrompt, then each selected instruction as a section headed
// "## <instruction name>", sections separated by a blank line; surrounding whitespace of each
// part is trimmed and empty parts are left out. Example:
//   You are a careful software engineer.
//
//   ## global-code-quality
//
//   Prefer small functions...
std::string ComposeSystemPrompt(const Snapshot& snapshot, const resources::Agent& agent);

}  // namespace agentd::catalog
