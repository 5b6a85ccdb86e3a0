// Checking a submission: pure functions over the request and a catalog snapshot. Budgets, tier
// policy and approvals are decided by the Governor (governor.h).
#pragma once

#include <string>

#include "catalog/snapshot.h"
#include "core/result.h"
#include "runs/run.h"
#include "scheduler/run_service.h"

namespace agentd::scheduler {

// Can this request run at all with this catalog? kInvalidArgument `unknown agent "x"`;
// kFailedPrecondition when the agent's model is missing or its runtime cannot run yet.
core::Status ValidateSubmission(const catalog::Snapshot& snapshot, const SubmitRequest& request);

// SHA-256 hex of the request's canonical JSON (api::v1::CanonicalRequestHash, the same form
// the API uses), for idempotency checks. Labels under runs::kReservedLabelPrefix (which Run
// object asked) are left out.
std::string RequestHash(const SubmitRequest& request);

}  // namespace agentd::scheduler
