// The pure half of watching a Job: what a `batch/v1` Job and its pods say about one attempt of a
// run, as an exec::ExitInfo. Nothing here does I/O; KubernetesJobExecutor (job_executor.h) feeds
// it the objects its watches cache and acts on the answer.
//
// The mapping (EvaluateAttempt), in order:
//  1. Job condition Complete=True                    -> finished, exit_code 0.
//  2. Job condition Failed=True, reason DeadlineExceeded (activeDeadlineSeconds passed)
//                                                    -> finished, stopped = kDeadlineExceeded,
//     reason "DeadlineExceeded": the same outcome (TimedOut) as when the scheduler's own deadline
//     timer stops the run. The executor sets activeDeadlineSeconds a margin after the scheduler's
//     deadline, so normally the scheduler stops the run first and the Job's deadline is only the
//     backstop for while agentd is down.
//  3. Job condition Failed=True, any other reason (BackoffLimitExceeded, ...) -> finished, from
//     the failed pod (PodFailureExit): the pod's status.reason (Evicted, ...), a DisruptionTarget
//     condition (Evicted, Preempted), a failed init container (ModelWeightsFetchFailed,
//     InitContainerFailed), the runner container's terminated state (OOMKilled with its exit
//     code; Error/Completed as the plain exit code, so the scheduler says RunnerExited; any other
//     CamelCase reason as is). Without a failed pod: the Job's reason (else "JobFailed"), and
//     pod_status_pending when a pod still looks alive.
//  4. No finished condition, a pod Pending and stuck (StuckPod): a container (or init container)
//     waiting with ImagePullBackOff, ErrImagePull, ErrImageNeverPull, InvalidImageName,
//     CreateContainerConfigError or CreateContainerError for longer than grace.pending (counted
//     from the pod's creationTimestamp), or condition PodScheduled=False reason Unschedulable for
//     longer than grace.unschedulable (counted from the condition's lastTransitionTime)
//                                                    -> stuck: the executor deletes the Job and
//     reports the exit with that reason. Within the grace: active, with recheck_at = when the
//     grace ends.
//  5. Otherwise                                      -> active.
// A missing Job (deleted, or removed by its TTL) is the executor's call, not this function's.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "exec/executor.h"

namespace agentd::exec::kubernetes {

// How long a pod may stay stuck before the executor gives up on it.
struct StuckPodGrace {
  std::chrono::seconds pending{300};        // waiting on an image or on its configuration
  std::chrono::seconds unschedulable{600};  // long enough for a cluster autoscaler to add a node
};

struct AttemptStatus {
  enum class State {
    kActive,    // still going (or not started yet)
    kFinished,  // the Job finished: report `exit`
    kStuck,     // a pod is stuck beyond its grace: delete the Job, then report `exit`
  };
  State state = State::kActive;
  ExitInfo exit;  // kFinished and kStuck
  // kActive with a pod stuck within its grace: when the grace ends (look again then).
  std::optional<core::TimePoint> recheck_at;
  // kFinished from a Failed Job whose pods said nothing yet while one of them still looks
  // alive: the pod's final status may simply not have been seen yet (Jobs and pods are watched
  // separately), so `exit` (from the Job's reason) is only the fallback.
  bool pod_status_pending = false;
};

// `job` is the attempt's Job; `pods` its pods (any order, terminating ones included). `now` is
// compared with the pods' timestamps.
AttemptStatus EvaluateAttempt(const core::Json& job, const std::vector<core::Json>& pods,
                              core::TimePoint now, const StuckPodGrace& grace);

// The building blocks, exposed for tests.

// The Job's terminal condition (Complete or Failed with status "True"), if any.
struct JobFinish {
  bool succeeded = false;
  std::string reason;  // e.g. "BackoffLimitExceeded", "DeadlineExceeded"
  std::string message;
};
std::optional<JobFinish> FinishedCondition(const core::Json& job);

// What a failed pod says about how the runner ended; nullopt when the pod has not failed (phase
// Failed, a terminated runner container or a failed init container).
std::optional<ExitInfo> PodFailureExit(const core::Json& pod);

// A Pending pod that is stuck, with the time its grace counts from.
struct PodStuck {
  std::string reason;   // "ImagePullBackOff", "Unschedulable", ...
  std::string message;  // the kubelet's or scheduler's message
  core::TimePoint since;
  std::chrono::seconds grace{0};
};
std::optional<PodStuck> StuckPod(const core::Json& pod, const StuckPodGrace& grace);

// True for the container waiting reasons that mean a pod will not start by itself.
bool IsStuckWaitingReason(std::string_view reason);

}  // namespace agentd::exec::kubernetes
