// The pure half of the Run reconciler: what a Run custom resource asks for (a run request) and
// what its status should say about the run agentd holds for it. No I/O; thread-safe.
//
// A Run's status (written through the /status subresource):
//   phase                the run's phase ("Queued", ..., "Succeeded"); "Pending" while no run
//                        could be submitted (the reason is in the Accepted condition)
//   runId, attempts, startedAt, finishedAt, usage {inputTokens, cachedInputTokens, outputTokens,
//   modelCalls, costUsd}, result (cut to max_result_bytes), error, jobName
//   observedGeneration   metadata.generation of the spec this status was computed from
//   conditions           Accepted (True once a run exists; False with the reason a submission
//                        was refused), and one condition per phase reached, typed by the phase
//                        name: the current phase's is True, those of phases the run has left
//                        are False with the phase it moved to as reason. `kubectl wait
//                        run/x --for=condition=Succeeded` therefore returns once it succeeded.
// Every condition carries observedGeneration. Transition times come from the run (created,
// started, finished) where it has them, so computing a status twice gives the same JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"
#include "runs/run.h"
#include "scheduler/run_service.h"

namespace agentd::operator_ {

// Held by every Run the operator has started to act on, so deleting the Run waits until its run
// is terminal (cancelled) and its Job gone.
inline constexpr char kRunFinalizer[] = "agentd.dev/run-cleanup";

// The prefix of the idempotency key of a Run without spec.idempotencyKey: "k8s-" + its uid.
inline constexpr char kIdempotencyKeyPrefix[] = "k8s-";

// The run request of a Run object: spec.agent (required), input, parameters, priority,
// deadlineSeconds (0 or absent = the agent's timeout), labels plus runs::kRunObjectNameLabel,
// kRunObjectNamespaceLabel and kRunObjectUidLabel naming the Run; idempotency key
// spec.idempotencyKey when set, else "k8s-" + metadata.uid; source kKubectl; caller
// "kubernetes:<namespace>". kInvalidArgument naming the field (`spec.priority must be an
// integer`, or the api/v1 submit validation message) for a spec agentd cannot run.
core::Result<scheduler::SubmitRequest> SubmitRequestFor(const core::Json& run_object);

bool HasFinalizer(const core::Json& object, std::string_view finalizer);
// `object` with the finalizer appended (unchanged when present).
core::Json WithFinalizer(core::Json object, std::string_view finalizer);
// `object` without the finalizer (every occurrence).
core::Json WithoutFinalizer(core::Json object, std::string_view finalizer);
// metadata.deletionTimestamp is set.
bool IsBeingDeleted(const core::Json& object);

struct RunStatusOptions {
  size_t max_result_bytes = 4096;
};

// The status a Run whose run is `run` should have, starting from its current status (whose
// conditions are kept and updated). `now` stamps condition transitions the run has no time for.
core::Json RunStatusFor(const core::Json& current_status, const runs::Run& run, int64_t generation,
                        core::TimePoint now, const RunStatusOptions& options = {});

// How a refused submission shows.
enum class Refusal {
  kPending,   // phase Pending: the spec or the catalog must change (unknown agent, invalid spec,
              // idempotency key taken by another request); tried again when either does
  kRejected,  // phase Rejected, terminal: policy or budget said no (as a REST submission would)
};

// Refusal kind of a SubmitAsync error, or nullopt for transient errors worth a retry with
// backoff (unavailable, internal, deadline exceeded, aborted).
std::optional<Refusal> RefusalFor(const core::Error& error);
// "UnknownAgent", "InvalidSpec", "IdempotencyKeyConflict", "BudgetExceeded", ...
std::string RefusalReason(const core::Error& error);

// The status of a Run whose submission was refused: no runId; Accepted False with the reason;
// for kRejected also a Rejected condition.
core::Json RefusedRunStatus(const core::Json& current_status, const core::Error& error,
                            Refusal refusal, int64_t generation, core::TimePoint now);

// The status of a Run whose status names a run agentd does not have (its store was replaced):
// the current status with Accepted False, reason RunNotFound. The run is not submitted again.
core::Json RunNotFoundStatus(const core::Json& current_status, std::string_view run_id,
                             int64_t generation, core::TimePoint now);

// The Job name in an executor handle ({"job": "run-x"} or {"job": {"name": "run-x"}}), or "".
std::string JobNameOf(const core::Json& executor_handle);

// `text` cut to at most `max_bytes` bytes on a UTF-8 character boundary, with "…" appended when
// cut.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

}  // namespace agentd::operator_
