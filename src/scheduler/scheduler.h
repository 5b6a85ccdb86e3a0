// Scheduler: admits runs, queues them, starts them on an Executor within the concurrency limits,
// stops them on cancel or deadline, turns what the executor reports into stored events and
// phases, and re-adopts runs after a restart. See docs/scheduler.md.
//
// Lifecycle (two-phase, because the executor needs the scheduler as its listener):
//   Scheduler scheduler(store, catalog, bus, registry, clock, options);
//   auto executor = LocalProcessExecutor::Create(..., /*listener=*/scheduler, clock);
//   scheduler.SetExecutor(executor.get());
//   scheduler.Recover();   // requeue Queued runs, Adopt Starting/Running ones (check the Status)
//   scheduler.Start();     // the dispatcher thread
//   ...
//   scheduler.Shutdown();  // dispatcher stopped, executor->Shutdown(): runners keep running
//                          // and are adopted by the next process's Recover
// Call Shutdown() before the executor is destroyed (the destructor only stops the dispatcher
// and never touches the executor, which may be gone by then).
//
// Phases (the store enforces runs::CanTransition; every write is guarded):
//   Queued -> Starting     claim by the dispatcher: attempts+1, runner token hash, started_at
//   Starting -> Running    right after Executor::Start returned, with the executor handle
//                          (the runner's own "phase" events are not stored: this is the record)
//   Starting -> Queued     the executor was unavailable: requeued after a backoff
//   Starting|Running -> Succeeded|Failed|TimedOut|Cancelled   on exit (DecideOutcome),
//                          fenced by expect_attempt
//   Queued -> Cancelled | TimedOut (QueueTimeout)
//
// Thread safety: every public method may be called from any thread. One dispatcher thread does
// the claims, starts and timers; executor callbacks run on the executor's threads. Store writes
// are never made while the scheduler's lock is held, and events are published to the bus only
// after they were committed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bus/bus.h"
#include "catalog/snapshot.h"
#include "core/clock.h"
#include "exec/executor.h"
#include "scheduler/governor.h"
#include "scheduler/run_queue.h"
#include "scheduler/run_service.h"
#include "store/run_store.h"
#include "telemetry/metrics.h"

namespace agentd::scheduler {

class Scheduler final : public RunService, public exec::ExecutionListener {
 public:
  struct Options {
    int global_concurrency = 5;  // WORKER_CONCURRENCY: Starting + Running runs at once
    // Execution deadline when neither the run nor its agent has one.
    std::chrono::seconds default_deadline{900};
    // From the spawn to the runner's first event; past it the run is stopped (TimedOut,
    // reason StartTimeout).
    std::chrono::seconds start_timeout{60};
    // Where workspaces live, for RunnerSpec.workspace (an executor may place them elsewhere and
    // say so in the spec it sends). Must be absolute.
    std::filesystem::path workspace_root = "/workspace";
    // Requeue delay after Executor::Start said kUnavailable: doubles per consecutive failure.
    std::chrono::milliseconds requeue_backoff{1000};
    std::chrono::milliseconds max_requeue_backoff{60'000};
    // May the caller who submitted a run also approve it? (AGENTD_ALLOW_SELF_APPROVAL)
    bool allow_self_approval = false;
    Governor::Options governor;
  };

  // Registers the metrics on `registry`. All references must outlive the scheduler.
  Scheduler(store::RunStore& store, catalog::Catalog& catalog, bus::Bus& bus,
            telemetry::Registry& registry, core::Clock& clock, Options options);
  ~Scheduler() override;

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Before Start; the executor reports to this scheduler (its ExecutionListener).
  void SetExecutor(exec::Executor* executor);
  // Once, after SetExecutor and before Start: takes over the runs the store holds. Queued runs
  // are queued again in order; Starting and Running ones are handed to Executor::Adopt and
  // tracked as executing (never started again): the executor follows live ones and reports the
  // exit of gone ones; a run it cannot adopt at all ends Failed (ProcessLost). Errors come from
  // the store (nothing is queued then).
  core::Status Recover();
  // Starts the dispatcher. Recover() must have succeeded.
  void Start();
  // Stops the dispatcher, waits for submissions in flight in the store, then shuts the
  // executor down without stopping its runs. Idempotent.
  void Shutdown();
  // Makes the dispatcher look at its queue and timers now. For tests driving a FakeClock (the
  // dispatcher waits for the next deadline in real time) and after a catalog reload.
  void Wake();

  // RunService.
  void SubmitAsync(SubmitRequest request,
                   std::function<void(core::Result<store::CreateRunResult>)> done) override;
  core::Result<runs::Run> Cancel(std::string_view run_id, std::string_view caller) override;
  core::Result<runs::Run> Approve(std::string_view run_id, std::string_view approver,
                                  std::string_view reason) override;
  core::Result<runs::Run> Reject(std::string_view run_id, std::string_view approver,
                                 std::string_view reason) override;
  core::Result<int64_t> IngestRunnerEvents(std::string_view run_id, int attempt,
                                           std::string_view runner_instance, std::string_view token,
                                           std::vector<api::v1::RunnerEvent> events) override;
  SchedulerStats Stats() const override;
  core::Json Budgets() override { return governor_.BudgetsJson(*catalog_.Current()); }

  // Budgets and policy (GET /api/v1/budgets reads it).
  Governor& governor() { return governor_; }

  // ExecutionListener. When the ExitInfo carries no result (the Kubernetes executor learns the
  // exit from the Job's status; the result event came over HTTP), OnExit uses the last "result"
  // event of the attempt: the one OnRunnerEvents/IngestRunnerEvents saw, or after a restart the
  // last one in the run's log since the attempt's claim.
  void OnRunnerEvents(const std::string& run_id, int attempt,
                      std::vector<api::v1::RunnerEvent> events) override;
  void OnExit(const std::string& run_id, int attempt, const exec::ExitInfo& exit) override;

 private:
  enum class TimerKind { kQueueDeadline, kStartDeadline, kRunDeadline, kRequeue, kApprovalExpiry };
  struct Timer {
    core::TimePoint at;
    TimerKind kind = TimerKind::kRunDeadline;
    std::string run_id;
    int attempt = 0;
    friend bool operator<(const Timer& a, const Timer& b) {
      return std::tie(a.at, a.run_id, a.kind, a.attempt) <
             std::tie(b.at, b.run_id, b.kind, b.attempt);
    }
  };
  // A run the dispatcher claimed or adopted, from the claim until its exit is recorded.
  struct Active {
    std::string agent;
    std::string team;  // attribution, for the governor
    int tier = 0;
    std::string caller;
    // The model's prices when the run started: usage is priced here, not by the runner.
    resources::Pricing pricing;
    int attempt = 0;                // 0 until the claim is committed
    bool start_settled = false;     // Start returned and the Running write is done (or failed)
    bool first_event_seen = false;  // the runner reported in
    bool cancel_requested = false;
    std::string cancel_caller;
    bool stop_sent = false;
    bool start_timed_out = false;
    // The runner instance known to hold this attempt's claim (RunStore::ClaimRunnerInstance),
    // so that only its first batch of events costs a store write; empty until then.
    std::string runner_instance;
    // The data of the last "result" event recorded for this attempt.
    std::optional<core::Json> last_result;
    std::chrono::steady_clock::time_point enqueued_at{};
    std::vector<Timer> timers;
  };

  void StopDispatcher();
  void DispatchLoop();
  void Dispatch(const QueuedRun& pick);
  void HandleTimer(const Timer& timer);
  // Ends a claimed run that never got a process (cancelled while starting, unbuildable spec,
  // failed start).
  void FinishUnstarted(const runs::Run& run, runs::Phase phase, std::string reason,
                       std::string message);
  // Terminal transition of a queued run (cancel, queue timeout). Returns the stored result.
  core::Result<store::TransitionResult> FinishQueued(std::string_view run_id, runs::Phase phase,
                                                     std::string reason, std::string message,
                                                     std::string_view actor);
  // Puts back a run taken off the queue whose terminal write failed (it is still Queued).
  void RestoreQueued(QueuedRun run);
  // After any terminal transition: metrics, the rest of the budget reservation released.
  void RecordFinished(const runs::Run& run);
  // Approval decisions and expiry: AwaitingApproval -> Queued | Rejected.
  core::Result<runs::Run> Decide(std::string_view run_id, std::string_view approver,
                                 std::string_view reason, bool approve, bool expired);
  // Appends events (and their audit drafts) to a run from the dispatcher thread: for callers
  // that may not write to the store themselves (the store's writer thread).
  void AppendLater(std::string run_id, std::vector<store::EventDraft> drafts);
  void FlushLaterEvents();
  void CountTokens(const std::string& agent, const core::Json& usage_data);
  // The body of OnRunnerEvents: stores the events of an executing attempt and publishes them.
  // kUnavailable when the attempt is not executing here (dropped) or the store failed.
  core::Status RecordRunnerEvents(const std::string& run_id, int attempt,
                                  std::vector<api::v1::RunnerEvent> events);
  // The data of the last "result" event in the run's log after the latest claim (the phase
  // event "Starting" of the current attempt), or nullopt.
  std::optional<core::Json> LastResultFromLog(const std::string& run_id);

  // With mu_ held.
  void EnqueueLocked(QueuedRun run);
  std::optional<QueuedRun> TakeQueuedLocked(std::string_view run_id);
  void RequeueLocked(QueuedRun run);
  Active& AddActiveLocked(const std::string& run_id, const std::string& agent);
  void RemoveActiveLocked(const std::string& run_id);
  // Tracks an AwaitingApproval run and its expiry timer.
  void AddAwaitingLocked(const runs::Run& run);
  void RemoveAwaitingLocked(std::string_view run_id);
  void AddTimerLocked(Active& active, Timer timer);
  ConcurrencyLimits LimitsLocked() const;
  void UpdateGaugesLocked();
  void WakeLocked();

  store::RunStore& store_;
  catalog::Catalog& catalog_;
  bus::Bus& bus_;
  core::Clock& clock_;
  const Options options_;
  exec::Executor* executor_ = nullptr;

  telemetry::Family<telemetry::Counter>& tasks_total_;
  telemetry::Family<telemetry::Histogram>& task_duration_;
  telemetry::Family<telemetry::Histogram>& task_cost_;
  telemetry::Family<telemetry::Counter>& errors_total_;
  telemetry::Family<telemetry::Counter>& tokens_total_;
  telemetry::Family<telemetry::Gauge>& queued_gauge_;
  telemetry::Family<telemetry::Gauge>& running_gauge_;
  telemetry::Family<telemetry::Histogram>& dispatch_latency_;
  telemetry::Family<telemetry::Gauge>& awaiting_gauge_;
  telemetry::Family<telemetry::Counter>& started_total_;
  Governor governor_;

  mutable std::mutex mu_;
  std::condition_variable wake_cv_;     // the dispatcher waits on it
  std::condition_variable settled_cv_;  // executor callbacks wait for start_settled
  std::condition_variable submits_cv_;  // Shutdown waits for in-flight submissions
  RunQueue queue_;
  std::map<std::string, QueuedRun, std::less<>> delayed_;  // requeued, waiting out a backoff
  std::map<std::string, int, std::less<>> unavailable_streak_;
  std::map<std::string, Active, std::less<>> active_;
  RunningCounts running_;
  std::set<Timer> timers_;
  std::map<std::string, Timer, std::less<>> awaiting_;  // AwaitingApproval runs, their expiry
  std::vector<std::pair<std::string, std::vector<store::EventDraft>>> later_events_;
  std::vector<governance::AuditEntryDraft> later_audit_;  // of refused submissions
  int inflight_submits_ = 0;
  bool wake_ = false;
  bool recovered_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool shut_down_ = false;
  std::thread dispatcher_;
};

}  // namespace agentd::scheduler
