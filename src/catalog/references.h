// Cross-object validation of a Snapshot: the checks no single object can make alone.
#pragma once

#include "catalog/snapshot.h"
#include "core/result.h"

namespace agentd::catalog {

// Checks that every Agent's model names an existing Model and every extra instruction an
// existing Instruction. Returns the first problem as kInvalidArgument naming the object (with
// where it was read from, when known) and the field, e.g.
//   agents.yaml:20: Agent "developer": spec.model refers to Model "gpt" which does not exist
core::Status ValidateReferences(const Snapshot& snapshot);

}  // namespace agentd::catalog
