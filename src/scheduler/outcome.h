// How an execution ended, as a phase: the pure decision the scheduler applies on exit.
#pragma once

#include <string>

#include "exec/executor.h"
#include "runs/run.h"

namespace agentd::scheduler {

struct Outcome {
  runs::Phase phase = runs::Phase::kFailed;
  std::string reason;   // CamelCase, e.g. "Completed", "DeadlineExceeded", "ProcessLost"
  std::string message;  // for people
  // The agent's answer; for a run that did not succeed, the partial answer of its result event
  // (the runner's last assistant text, possibly empty). Empty when there was no result event.
  std::string result;
  std::string error;  // why it did not succeed (empty when it did)
};

// In order of precedence:
//  1. a result event with status "succeeded"           -> Succeeded (Completed): the work is
//     done even if a stop request raced with the end;
//  2. stopped by us: kCancelled -> Cancelled (Cancelled); kDeadlineExceeded -> TimedOut
//     (DeadlineExceeded); kShutdown -> Failed (Shutdown);
//  3. a result event with status "failed"              -> Failed with the runner's reason when it
//     is a CamelCase word (else AgentFailed; e.g. BudgetExceeded when the run's allowance could
//     not cover its next model call) and its error text;
//     any other status                                 -> Failed (InvalidResult);
//  4. no result, the executor names a cause (ExitInfo.reason, a CamelCase word such as
//     OOMKilled, Evicted, ImagePullBackOff, Unschedulable, JobDeleted)
//                                                      -> Failed with that reason and the
//     executor's detail as the error;
//  5. no result, killed by a signal                    -> Failed (RunnerKilled),
//     "runner killed by signal N (SIGNAME)";
//  6. no result, an exit code                          -> Failed (RunnerExited);
//  7. no result, nothing known (adoption found it gone) -> Failed (ProcessLost) with the
//     executor's detail.
// Whenever there is a result event (cases 2 and 3 included), its "result" text is kept in
// Outcome.result: a failed, cancelled or timed-out run keeps its partial answer.
Outcome DecideOutcome(const exec::ExitInfo& exit);

// True for a reason a runner may report: 1-64 ASCII letters and digits, starting with an
// upper-case letter.
bool IsCamelCaseReason(std::string_view reason);

}  // namespace agentd::scheduler
