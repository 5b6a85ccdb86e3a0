// Cross-object validation of a Snapshot: the checks no single object can make alone.
#pragma once

#include <vector>

#include "catalog/snapshot.h"
#include "core/result.h"

namespace agentd::catalog {

// Checks that every Agent's model names an existing Model and every extra instruction an
// existing Instruction, that every Budget's scope.agent (when set) names an existing Agent, and
// that no two TierPolicy objects have the same tier. Returns the first problem as
// kInvalidArgument naming the object (with where it was read from, when known) and the field,
// e.g.
//   agents.yaml:20: Agent "developer": spec.model refers to Model "gpt" which does not exist
//   budgets.yaml:9: Budget "ops": spec.scope.agent refers to Agent "op" which does not exist
//   tiers.yaml:7: TierPolicy "tier-3b": spec.tier 3 is already the tier of TierPolicy "tier-3"
//   (at tiers.yaml:1)
core::Status ValidateReferences(const Snapshot& snapshot);

// Every problem ValidateReferences would find, in a stable order (agents, budgets, tier
// policies, each by name); empty when the snapshot is consistent.
std::vector<core::Error> FindReferenceProblems(const Snapshot& snapshot);

}  // namespace agentd::catalog
