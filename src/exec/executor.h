// Executor: starts, stops and re-adopts runs. One implementation per mechanism:
// LocalProcessExecutor (exec/local), KubernetesJobExecutor (exec/kubernetes).
//
// An executor reports what happens to the runs it runs through the ExecutionListener it was
// built with. Callbacks arrive on the executor's own thread(s), never while the executor holds
// a lock the listener could need; per run they arrive in order, and OnExit is the last one.
#pragma once

#include <string>
#include <vector>

#include "api/v1/runner_protocol.h"
#include "core/json.h"
#include "core/result.h"
#include "runs/run.h"

namespace agentd::exec {

enum class StopReason { kCancelled, kDeadlineExceeded, kShutdown };
std::string_view StopReasonName(StopReason reason);

// How an execution ended, as the executor saw it. The scheduler turns this into a phase with the
// pure function scheduler::DecideOutcome.
struct ExitInfo {
  // The runner's last "result" event if it sent one (data as in runner_protocol.h).
  std::optional<core::Json> result;
  int exit_code = -1;                 // -1 if unknown (not our child, or killed)
  int term_signal = 0;                // signal that ended it, 0 if none
  std::optional<StopReason> stopped;  // set when we stopped it
  std::string detail;  // e.g. "OOMKilled", "process disappeared while agentd was down"
  // Why the execution ended, when the executor knows a cause beyond the exit code: a CamelCase
  // word such as "OOMKilled", "Evicted", "ImagePullBackOff", "Unschedulable", "JobDeleted".
  // Empty when none (a plain exit, a signal, or nothing known). DecideOutcome uses it for a run
  // that did not report a result.
  std::string reason;
};

class ExecutionListener {
 public:
  virtual ~ExecutionListener() = default;
  // Events the runner reported, in order, already validated (ParseRunnerEvent). Events the
  // executor adds itself (the runner's stderr lines, lines it rejected) are "log" events with
  // seq 0: they are not part of the runner's numbered stream and are never deduplicated.
  virtual void OnRunnerEvents(const std::string& run_id, int attempt,
                              std::vector<api::v1::RunnerEvent> events) = 0;
  virtual void OnExit(const std::string& run_id, int attempt, const ExitInfo& exit) = 0;
};

struct StartRequest {
  runs::Run run;  // attempts already incremented for this start
  api::v1::RunnerSpec spec;
  std::string runner_token;  // run-scoped secret (Kubernetes runners post events with it)
  std::map<std::string, std::string> env;  // extra environment (e.g. the model's key env)
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Starts the run; returns the executor handle to persist (pid + start time, Job name + uid).
  // kUnavailable when it could not start now (the scheduler requeues), others are final.
  virtual core::Result<core::Json> Start(const StartRequest& request) = 0;

  // Stops the run: SIGTERM to its process group (or Job deletion), then SIGKILL after the grace
  // period. Idempotent; kNotFound if the executor does not know the run. OnExit follows.
  virtual core::Status Stop(const std::string& run_id, StopReason reason) = 0;

  // Re-attaches to a run started by an earlier agentd process, from its persisted handle.
  // Returns true if it is still executing (events and OnExit will follow); false if it is gone,
  // in which case OnExit is still called once with what could be recovered (e.g. its result
  // from the journal).
  virtual core::Result<bool> Adopt(const runs::Run& run) = 0;

  // Stops watching (does not kill runs: they are adopted by the next process). Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace agentd::exec
