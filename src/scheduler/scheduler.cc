#include "scheduler/scheduler.h"

#include <algorithm>
#include <cctype>

#include "auth/runner_token.h"
#include "core/hash.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/money.h"
#include "core/time.h"
#include "scheduler/admission.h"
#include "scheduler/outcome.h"
#include "scheduler/runner_spec.h"

namespace agentd::scheduler {

using core::Json;
using runs::Phase;

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A non-negative integer field of an untrusted usage event; anything else counts as 0.
int64_t Count(const Json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_number_integer()) return 0;
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    return v > static_cast<uint64_t>(INT64_MAX) ? 0 : static_cast<int64_t>(v);
  }
  return std::max<int64_t>(0, it->get<int64_t>());
}

// A string field of an untrusted event; anything else is "".
std::string Text(const Json& data, const char* key) {
  auto it = data.find(key);
  return it != data.end() && it->is_string() ? it->get<std::string>() : std::string();
}

store::UsageRecord UsageFromEvent(const Json& data) {
  store::UsageRecord record;
  if (auto m = data.find("model"); m != data.end() && m->is_string()) record.model = *m;
  record.usage.input_tokens = Count(data, "inputTokens");
  record.usage.cached_input_tokens = Count(data, "cachedInputTokens");
  record.usage.output_tokens = Count(data, "outputTokens");
  record.usage.cost_micros = Count(data, "costMicros");
  record.usage.model_calls = 1;
  return record;
}

QueuedRun ToQueued(const runs::Run& run, std::chrono::steady_clock::time_point now) {
  QueuedRun q;
  q.id = run.id;
  q.agent = run.agent;
  q.priority = run.priority;
  q.created_at = run.created_at;
  if (run.deadline && run.deadline->count() > 0) q.queue_deadline = run.created_at + *run.deadline;
  q.enqueued_at = now;
  return q;
}

// The prices of the agent's model in `snapshot` (zero when either is gone).
resources::Pricing PricingOf(const catalog::Snapshot& snapshot, const std::string& agent_name) {
  const resources::Agent* agent = snapshot.FindAgent(agent_name);
  const resources::Model* model =
      agent != nullptr ? snapshot.FindModel(agent->spec.model) : nullptr;
  return model != nullptr ? model->spec.pricing : resources::Pricing{};
}

// A runner's usage event priced by the control plane: costMicros is recomputed from the token
// counts and the model's prices, so a runner cannot under-report what it spent.
void PriceUsageEvent(Json& data, const resources::Pricing& p) {
  data["costMicros"] = core::CostOfCall(
      Count(data, "inputTokens"), Count(data, "cachedInputTokens"), Count(data, "outputTokens"),
      p.input_per_million, p.cached_input_per_million, p.output_per_million);
}

std::string CancelMessage(const std::string& caller) {
  return caller.empty() ? "cancelled" : "cancelled by " + caller;
}

governance::AuditEntryDraft Audit(core::TimePoint time, std::string actor, std::string action,
                                  std::string subject, Json details = Json::object()) {
  return {.time = time,
          .actor = actor.empty() ? std::string("anonymous") : std::move(actor),
          .action = std::move(action),
          .subject = std::move(subject),
          .details = std::move(details)};
}

// The audit entry of a terminal transition.
governance::AuditEntryDraft FinishedAudit(const store::Transition& t, std::string_view run_id,
                                          std::string actor) {
  const bool cancelled = t.to == Phase::kCancelled;
  return Audit(t.time, std::move(actor), cancelled ? "run.cancelled" : "run.finished",
               std::string(run_id),
               {{"phase", runs::PhaseName(t.to)}, {"reason", t.reason}, {"message", t.message}});
}

}  // namespace

Scheduler::Scheduler(store::RunStore& store, catalog::Catalog& catalog, bus::Bus& bus,
                     telemetry::Registry& registry, core::Clock& clock, Options options)
    : store_(store),
      catalog_(catalog),
      bus_(bus),
      clock_(clock),
      options_(std::move(options)),
      tasks_total_(registry.AddCounter("agent_tasks_total",
                                       "Runs that reached a final phase, by agent and phase.",
                                       {"agent", "status"})),
      task_duration_(registry.AddHistogram("agent_task_duration_seconds",
                                           "Time from start to the final phase of runs.", {"agent"},
                                           telemetry::RunDurationBuckets())),
      task_cost_(registry.AddHistogram("agent_task_cost_dollars", "Model cost of finished runs.",
                                       {"agent"}, telemetry::CostBuckets())),
      errors_total_(registry.AddCounter("agent_errors_total",
                                        "Runs that ended Failed or TimedOut, by reason.",
                                        {"agent", "reason"})),
      tokens_total_(registry.AddCounter("agent_tokens_total", "Model tokens used by runs.",
                                        {"agent", "model", "kind"})),
      queued_gauge_(registry.AddGauge("agentd_runs_queued", "Runs waiting for capacity.")),
      running_gauge_(registry.AddGauge("agentd_runs_running", "Runs starting or running.")),
      dispatch_latency_(registry.AddHistogram(
          "agentd_dispatch_latency_seconds",
          "From a run entering the in-memory queue to its runner process being started.", {},
          telemetry::HttpLatencyBuckets())),
      awaiting_gauge_(registry.AddGauge("agentd_runs_awaiting_approval",
                                        "Runs waiting for a person to approve or reject them.")),
      started_total_(registry.AddCounter("agentd_runs_started_total",
                                         "Runner starts (every attempt of every run).")),
      governor_(store, registry, clock, options_.governor) {
  queued_gauge_.WithLabels({}).Set(0);
  running_gauge_.WithLabels({}).Set(0);
  awaiting_gauge_.WithLabels({}).Set(0);
  started_total_.WithLabels({});
}

Scheduler::~Scheduler() { StopDispatcher(); }

void Scheduler::SetExecutor(exec::Executor* executor) {
  std::lock_guard lock(mu_);
  AGENTD_CHECK(!recovered_ && !started_) << "SetExecutor after Recover";
  executor_ = executor;
}

void Scheduler::Start() {
  std::lock_guard lock(mu_);
  AGENTD_CHECK(recovered_) << "Scheduler::Start before a successful Recover";
  AGENTD_CHECK(!started_) << "Scheduler::Start called twice";
  started_ = true;
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void Scheduler::StopDispatcher() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    WakeLocked();
    settled_cv_.notify_all();
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  // Their callbacks touch this object; the store answers every one of them.
  std::unique_lock lock(mu_);
  submits_cv_.wait(lock, [this] { return inflight_submits_ == 0; });
}

void Scheduler::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  StopDispatcher();
  FlushLaterEvents();  // what the dispatcher had not written yet
  if (executor_ != nullptr) executor_->Shutdown();
}

void Scheduler::Wake() {
  std::lock_guard lock(mu_);
  WakeLocked();
}

void Scheduler::WakeLocked() {
  wake_ = true;
  wake_cv_.notify_one();
}

// --- Submission ---------------------------------------------------------------------------------

void Scheduler::SubmitAsync(SubmitRequest request,
                            std::function<void(core::Result<store::CreateRunResult>)> done) {
  bool accepting = false;
  {
    std::lock_guard lock(mu_);
    accepting = !stopping_;
    if (accepting) ++inflight_submits_;  // Shutdown waits for these
  }
  if (!accepting) {
    done(core::Unavailable("the scheduler is shutting down"));
    return;
  }
  const auto snapshot = catalog_.Current();
  if (auto valid = ValidateSubmission(*snapshot, request); !valid.ok()) {
    {
      std::lock_guard lock(mu_);
      --inflight_submits_;
      submits_cv_.notify_all();
    }
    done(std::move(valid).error());
    return;
  }
  runs::Run run;
  run.created_at = clock_.Now();
  run.id = core::NewRunId(run.created_at);
  run.request_hash = RequestHash(request);
  run.agent = std::move(request.agent);
  run.input = std::move(request.input);
  run.parameters = std::move(request.parameters);
  run.priority = request.priority;
  run.deadline = request.deadline;
  run.labels = std::move(request.labels);
  run.idempotency_key = std::move(request.idempotency_key);
  run.caller = std::move(request.caller);
  run.source = request.source;
  Governor::Decision decision = governor_.Admit(run, *snapshot);
  if (decision.refusal) {
    // Refused outright: nothing is stored but the audit entries, written by the dispatcher so
    // that a flood of refused requests never holds an HTTP thread on a commit.
    {
      std::lock_guard lock(mu_);
      for (auto& draft : decision.audit) later_audit_.push_back(std::move(draft));
      if (!decision.audit.empty()) WakeLocked();
      --inflight_submits_;
      submits_cv_.notify_all();
    }
    done(std::move(*decision.refusal));
    return;
  }
  run.phase = decision.phase;
  run.reason = std::move(decision.reason);
  run.message = std::move(decision.message);
  std::vector<store::EventDraft> violations;
  for (Json& v : decision.violations) {
    violations.push_back({.type = "violation", .data = std::move(v), .time = run.created_at});
  }

  // Runs on the store's writer thread: keep it short.
  std::string id = run.id;
  store_.CreateRunAsync(
      std::move(run), std::move(decision.audit),
      [this, id = std::move(id), violations = std::move(violations),
       done = std::move(done)](core::Result<store::CreateRunResult> created) mutable {
        if (!created.ok() || !created->created) governor_.Release(id);  // not stored after all
        if (created.ok() && created->created) {
          const runs::Run& r = created->run;
          if (r.phase == Phase::kQueued) {
            std::lock_guard lock(mu_);
            EnqueueLocked(ToQueued(r, clock_.SteadyNow()));
            UpdateGaugesLocked();
            WakeLocked();
          } else if (r.phase == Phase::kAwaitingApproval) {
            std::lock_guard lock(mu_);
            AddAwaitingLocked(r);
            UpdateGaugesLocked();
            WakeLocked();
          }
          // The store wrote this as the run's first event (seq 1).
          bus_.Publish(runs::Event{.run_id = r.id,
                                   .seq = 1,
                                   .type = "phase",
                                   .data = {{"phase", runs::PhaseName(r.phase)},
                                            {"reason", r.reason},
                                            {"message", r.message}},
                                   .time = r.created_at});
          if (!violations.empty()) AppendLater(r.id, std::move(violations));
        }
        done(std::move(created));
        std::lock_guard lock(mu_);
        --inflight_submits_;
        submits_cv_.notify_all();
      });
}

core::Result<runs::Run> Scheduler::Cancel(std::string_view run_id, std::string_view caller) {
  const std::string id(run_id);
  for (int round = 0; round < 3; ++round) {
    AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(id));
    if (runs::IsTerminal(run.phase)) {
      return core::FailedPrecondition("run " + id + " is already " +
                                      std::string(runs::PhaseName(run.phase)));
    }
    std::optional<QueuedRun> taken;
    bool tracked = false;
    bool stop_now = false;
    {
      std::lock_guard lock(mu_);
      taken = TakeQueuedLocked(id);
      if (taken) {
        UpdateGaugesLocked();
      } else if (auto it = active_.find(id); it != active_.end()) {
        tracked = true;
        Active& a = it->second;
        if (!a.cancel_requested) {
          a.cancel_requested = true;
          a.cancel_caller = std::string(caller);
        }
        // Before start_settled the dispatcher sees cancel_requested and stops or finishes it.
        if (a.start_settled && !a.stop_sent) {
          a.stop_sent = true;
          stop_now = true;
        }
      }
    }
    if (taken ||
        (!tracked && (run.phase == Phase::kQueued || run.phase == Phase::kAwaitingApproval))) {
      auto done = FinishQueued(id, Phase::kCancelled, "Cancelled",
                               CancelMessage(std::string(caller)), caller);
      if (done.ok()) return done->run;
      if (done.error().code != core::ErrorCode::kFailedPrecondition) {
        if (taken) RestoreQueued(std::move(*taken));  // still Queued in the store
        return done.error();
      }
      continue;  // it moved on meanwhile (claimed, or cancelled by someone else): look again
    }
    if (stop_now || !tracked) {
      // Not tracked but Starting/Running: this process has not adopted it (yet); stopping it is
      // still right if the executor knows it.
      auto stopped = executor_ != nullptr ? executor_->Stop(id, exec::StopReason::kCancelled)
                                          : core::Status(core::Ok());
      if (!stopped.ok() && stopped.error().code != core::ErrorCode::kNotFound) {
        return stopped.error();
      }
    }
    core::LogInfo("cancel requested", {{"run", id}, {"caller", std::string(caller)}});
    return store_.GetRun(id);
  }
  return core::Aborted("run " + id + " kept changing while it was being cancelled; try again");
}

core::Result<store::TransitionResult> Scheduler::FinishQueued(std::string_view run_id, Phase phase,
                                                              std::string reason,
                                                              std::string message,
                                                              std::string_view actor) {
  store::Transition t;
  t.to = phase;
  t.reason = std::move(reason);
  t.message = std::move(message);
  t.from = {Phase::kQueued, Phase::kAwaitingApproval};
  t.time = clock_.Now();
  t.finished_at = t.time;
  if (phase != Phase::kCancelled) t.error = t.message;
  t.audit.push_back(FinishedAudit(t, run_id, std::string(actor)));
  auto done = store_.TransitionRun(run_id, t);
  if (done.ok()) {
    {
      std::lock_guard lock(mu_);
      RemoveAwaitingLocked(run_id);
      UpdateGaugesLocked();
    }
    bus_.Publish(done->event);
    RecordFinished(done->run);
  }
  return done;
}

// --- Dispatch -----------------------------------------------------------------------------------

void Scheduler::DispatchLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::vector<Timer> due;
    const core::TimePoint now = clock_.Now();
    while (!timers_.empty() && timers_.begin()->at <= now) {
      due.push_back(*timers_.begin());
      timers_.erase(timers_.begin());
    }
    std::vector<QueuedRun> picks;
    if (due.empty()) {  // timers first: they can change what is queued and what is running
      picks = PickNext(queue_, running_, LimitsLocked());
      for (const QueuedRun& pick : picks) {
        TakeQueuedLocked(pick.id);
        AddActiveLocked(pick.id, pick.agent).enqueued_at = pick.enqueued_at;
      }
      if (!picks.empty()) UpdateGaugesLocked();
    }
    if (due.empty() && picks.empty() && later_events_.empty() && later_audit_.empty()) {
      if (!wake_) {
        auto woken = [this] { return wake_ || stopping_; };
        if (timers_.empty()) {
          wake_cv_.wait(lock, woken);
        } else {
          wake_cv_.wait_for(lock, timers_.begin()->at - clock_.Now(), woken);
        }
      }
      wake_ = false;
      continue;
    }
    lock.unlock();
    FlushLaterEvents();
    for (const Timer& timer : due) HandleTimer(timer);
    for (const QueuedRun& pick : picks) Dispatch(pick);
    lock.lock();
  }
}

void Scheduler::Dispatch(const QueuedRun& pick) {
  const auto snapshot = catalog_.Current();
  const std::string token = core::RandomHex(32);
  store::Transition claim;
  claim.to = Phase::kStarting;
  claim.reason = "Dispatched";
  claim.message = "claimed by the scheduler; starting the runner";
  claim.from = {Phase::kQueued};
  claim.increment_attempts = true;
  claim.runner_token_hash = core::Sha256Hex(token);
  claim.time = clock_.Now();
  claim.started_at = claim.time;
  claim.audit.push_back(Audit(claim.time, "scheduler", "run.started", pick.id));
  auto claimed = store_.TransitionRun(pick.id, claim);
  if (!claimed.ok()) {
    std::lock_guard lock(mu_);
    RemoveActiveLocked(pick.id);
    const core::ErrorCode code = claimed.error().code;
    if (code == core::ErrorCode::kFailedPrecondition || code == core::ErrorCode::kNotFound) {
      // Cancelled or timed out between the pick and the claim: nothing to start.
      core::LogInfo("run left the queue before it could start",
                    {{"run", pick.id}, {"why", claimed.error().message}});
    } else {
      core::LogWarn("cannot claim a queued run; will retry",
                    {{"run", pick.id}, {"error", claimed.error().message}});
      RequeueLocked(pick);
    }
    UpdateGaugesLocked();
    WakeLocked();
    return;
  }
  bus_.Publish(claimed->event);
  runs::Run run = std::move(claimed->run);

  std::string cancel_caller;
  bool cancelled = false;
  {
    std::lock_guard lock(mu_);
    Active& a = active_.at(run.id);
    a.attempt = run.attempts;
    a.team = run.team;
    a.tier = run.tier;
    a.caller = run.caller;
    a.pricing = PricingOf(*snapshot, run.agent);
    cancelled = a.cancel_requested;
    cancel_caller = a.cancel_caller;
  }
  if (cancelled) {
    FinishUnstarted(run, Phase::kCancelled, "Cancelled", CancelMessage(cancel_caller));
    return;
  }
  auto spec = BuildRunnerSpec(run, *snapshot, options_.workspace_root, options_.default_deadline);
  if (!spec.ok()) {
    FinishUnstarted(run, Phase::kFailed, "InvalidSpec", spec.error().message);
    return;
  }
  exec::StartRequest request;
  request.run = run;
  request.spec = std::move(spec).value();
  request.runner_token = token;
  if (const resources::Agent* agent = snapshot->FindAgent(run.agent)) {
    request.env = agent->spec.env;
  }

  auto handle = executor_->Start(request);
  if (!handle.ok()) {
    const std::string message = handle.error().message;
    if (handle.error().code != core::ErrorCode::kUnavailable) {
      FinishUnstarted(run, Phase::kFailed, "StartFailed", message);
      return;
    }
    store::Transition back;
    back.to = Phase::kQueued;
    back.reason = "ExecutorUnavailable";
    back.message = message;
    back.from = {Phase::kStarting};
    back.expect_attempt = run.attempts;
    back.time = clock_.Now();
    auto requeued = store_.TransitionRun(run.id, back);
    bool cancel_now = false;
    {
      std::lock_guard lock(mu_);
      cancel_now = active_.at(run.id).cancel_requested;
      cancel_caller = active_.at(run.id).cancel_caller;
      RemoveActiveLocked(run.id);
      if (requeued.ok() && !cancel_now) {
        RequeueLocked(ToQueued(requeued->run, pick.enqueued_at));
      }
      UpdateGaugesLocked();
      settled_cv_.notify_all();
      WakeLocked();
    }
    if (requeued.ok()) bus_.Publish(requeued->event);
    if (cancel_now) {
      // Cancel saw the run starting and left it to us; it is Queued again now.
      {
        std::lock_guard lock(mu_);
        unavailable_streak_.erase(run.id);
      }
      auto done = FinishQueued(run.id, Phase::kCancelled, "Cancelled", CancelMessage(cancel_caller),
                               cancel_caller);
      if (!done.ok()) {
        core::LogWarn("cannot cancel a requeued run",
                      {{"run", run.id}, {"error", done.error().message}});
      }
    }
    return;
  }
  started_total_.WithLabels({}).Inc();
  const auto spawned = clock_.SteadyNow();
  const core::TimePoint spawned_at = clock_.Now();
  dispatch_latency_.WithLabels({}).Observe(
      std::chrono::duration<double>(spawned - pick.enqueued_at).count());

  store::Transition running;
  running.to = Phase::kRunning;
  running.reason = "Started";
  running.message = "runner process started";
  running.from = {Phase::kStarting};
  running.expect_attempt = run.attempts;
  running.executor_handle = *handle;
  running.time = clock_.Now();
  auto started = store_.TransitionRun(run.id, running);
  if (started.ok()) {
    bus_.Publish(started->event);
  } else {
    // The executor keeps a copy of the handle for adoption; the run goes on.
    core::LogError("cannot record that a run started",
                   {{"run", run.id}, {"error", started.error().message}});
  }

  bool stop_now = false;
  {
    std::lock_guard lock(mu_);
    unavailable_streak_.erase(run.id);
    Active& a = active_.at(run.id);
    a.start_settled = true;
    const resources::Agent* agent = snapshot->FindAgent(run.agent);
    const core::TimePoint started_at = run.started_at.value_or(claim.time);
    AddTimerLocked(a, {started_at + RunTimeout(run, agent, options_.default_deadline),
                       TimerKind::kRunDeadline, run.id, run.attempts});
    if (!a.first_event_seen) {
      AddTimerLocked(a, {spawned_at + options_.start_timeout, TimerKind::kStartDeadline, run.id,
                         run.attempts});
    }
    if (a.cancel_requested && !a.stop_sent) {
      a.stop_sent = true;
      stop_now = true;
    }
    settled_cv_.notify_all();
  }
  if (stop_now) {
    auto stopped = executor_->Stop(run.id, exec::StopReason::kCancelled);
    if (!stopped.ok() && stopped.error().code != core::ErrorCode::kNotFound) {
      core::LogError("cannot stop a cancelled run",
                     {{"run", run.id}, {"error", stopped.error().message}});
    }
  }
}

void Scheduler::FinishUnstarted(const runs::Run& run, Phase phase, std::string reason,
                                std::string message) {
  store::Transition t;
  t.to = phase;
  t.reason = std::move(reason);
  t.message = std::move(message);
  t.from = {Phase::kStarting};
  t.expect_attempt = run.attempts;
  t.time = clock_.Now();
  t.finished_at = t.time;
  if (phase != Phase::kCancelled) t.error = t.message;
  t.audit.push_back(FinishedAudit(t, run.id, "scheduler"));
  auto done = store_.TransitionRun(run.id, t);
  {
    // Memory first, then the bus: whoever sees the event sees the slot free.
    std::lock_guard lock(mu_);
    RemoveActiveLocked(run.id);
    unavailable_streak_.erase(run.id);
    UpdateGaugesLocked();
    settled_cv_.notify_all();
    WakeLocked();
  }
  if (done.ok()) {
    bus_.Publish(done->event);
    RecordFinished(done->run);
  } else {
    core::LogError("cannot finish a run that did not start",
                   {{"run", run.id}, {"error", done.error().message}});
  }
}

void Scheduler::HandleTimer(const Timer& timer) {
  switch (timer.kind) {
    case TimerKind::kApprovalExpiry: {
      {
        std::lock_guard lock(mu_);
        auto it = awaiting_.find(timer.run_id);
        if (it == awaiting_.end() || it->second.at != timer.at) return;  // decided meanwhile
      }
      auto expired = Decide(timer.run_id, "scheduler", "", /*approve=*/false, /*expired=*/true);
      if (!expired.ok() && expired.error().code == core::ErrorCode::kUnavailable) {
        std::lock_guard lock(mu_);  // the store is busy: try again in a second
        auto it = awaiting_.find(timer.run_id);
        if (it != awaiting_.end()) {
          timers_.erase(it->second);
          it->second.at = clock_.Now() + std::chrono::seconds(1);
          timers_.insert(it->second);
        }
      }
      return;
    }
    case TimerKind::kRequeue: {
      std::lock_guard lock(mu_);
      auto it = delayed_.find(timer.run_id);
      if (it == delayed_.end()) return;
      QueuedRun run = std::move(it->second);
      delayed_.erase(it);
      EnqueueLocked(std::move(run));
      return;
    }
    case TimerKind::kQueueDeadline: {
      std::optional<QueuedRun> taken;
      {
        std::lock_guard lock(mu_);
        taken = TakeQueuedLocked(timer.run_id);
        if (!taken) return;  // started or cancelled meanwhile
        UpdateGaugesLocked();
      }
      auto done = FinishQueued(timer.run_id, Phase::kTimedOut, "QueueTimeout",
                               "the run waited in the queue past its deadline", "scheduler");
      if (!done.ok()) {
        core::LogWarn("cannot time out a queued run",
                      {{"run", timer.run_id}, {"error", done.error().message}});
        if (done.error().code != core::ErrorCode::kFailedPrecondition) {
          // Still Queued in the store: keep it and try again in a second.
          taken->queue_deadline = clock_.Now() + std::chrono::seconds(1);
          RestoreQueued(std::move(*taken));
        }
      }
      return;
    }
    case TimerKind::kStartDeadline:
    case TimerKind::kRunDeadline: {
      {
        std::lock_guard lock(mu_);
        auto it = active_.find(timer.run_id);
        if (it == active_.end() || it->second.attempt != timer.attempt) return;
        Active& a = it->second;
        if (a.stop_sent) return;
        if (timer.kind == TimerKind::kStartDeadline) {
          if (a.first_event_seen) return;
          a.start_timed_out = true;
        }
        a.stop_sent = true;
      }
      core::LogInfo(timer.kind == TimerKind::kStartDeadline
                        ? "runner did not report in time; stopping it"
                        : "run passed its deadline; stopping it",
                    {{"run", timer.run_id}, {"attempt", timer.attempt}});
      auto stopped = executor_->Stop(timer.run_id, exec::StopReason::kDeadlineExceeded);
      if (!stopped.ok() && stopped.error().code != core::ErrorCode::kNotFound) {
        core::LogError("cannot stop a run past its deadline",
                       {{"run", timer.run_id}, {"error", stopped.error().message}});
      }
      return;
    }
  }
}

// --- Executor callbacks -------------------------------------------------------------------------

void Scheduler::OnRunnerEvents(const std::string& run_id, int attempt,
                               std::vector<api::v1::RunnerEvent> events) {
  // Errors are logged where they happen; the executor has no one to report them to.
  (void)RecordRunnerEvents(run_id, attempt, std::move(events));
}

core::Result<int64_t> Scheduler::IngestRunnerEvents(std::string_view run_id, int attempt,
                                                    std::string_view runner_instance,
                                                    std::string_view token,
                                                    std::vector<api::v1::RunnerEvent> events) {
  const std::string id(run_id);
  auto fenced = [&id, attempt](std::string message) {
    core::Error e = core::FailedPrecondition(std::move(message));
    e.reason = "attempt_fenced";
    e.fields.emplace_back("runId", id);
    e.fields.emplace_back("attempt", std::to_string(attempt));
    return e;
  };
  AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(id));
  if (!auth::RunnerTokenMatches(token, run.runner_token_hash)) {
    return core::Unauthenticated("the runner token is not valid for run " + id);
  }
  if (runs::IsTerminal(run.phase)) {
    core::Error e = core::FailedPrecondition("run " + id + " has already ended (" +
                                             std::string(runs::PhaseName(run.phase)) +
                                             "); its runner must stop");
    e.reason = "run_finished";
    return e;
  }
  if (attempt != run.attempts) {
    return fenced("run " + id + " is at attempt " + std::to_string(run.attempts) + ", not " +
                  std::to_string(attempt) + "; this runner belongs to a stale attempt");
  }
  if (run.phase != Phase::kStarting && run.phase != Phase::kRunning) {
    return fenced("run " + id + " is " + std::string(runs::PhaseName(run.phase)) + "; attempt " +
                  std::to_string(attempt) + " is no longer executing");
  }
  bool known_holder = false;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    known_holder = it != active_.end() && it->second.attempt == attempt &&
                   !it->second.runner_instance.empty() &&
                   it->second.runner_instance == runner_instance;
  }
  if (!known_holder) {
    auto claimed = store_.ClaimRunnerInstance(id, attempt, runner_instance);
    if (!claimed.ok()) {
      if (claimed.error().code == core::ErrorCode::kFailedPrecondition) {
        return fenced(claimed.error().message);
      }
      return claimed.error();
    }
    if (!*claimed) {
      core::LogWarn(
          "refused events from a second runner instance of one attempt",
          {{"run", id}, {"attempt", attempt}, {"instance", std::string(runner_instance)}});
      return fenced("attempt " + std::to_string(attempt) + " of run " + id +
                    " belongs to another runner instance; \"" + std::string(runner_instance) +
                    "\" must stop");
    }
    std::lock_guard lock(mu_);
    auto it = active_.find(id);
    if (it != active_.end() && it->second.attempt == attempt) {
      it->second.runner_instance = std::string(runner_instance);
    }
  }
  const auto count = static_cast<int64_t>(events.size());
  if (count == 0) return count;
  AGENTD_RETURN_IF_ERROR(RecordRunnerEvents(id, attempt, std::move(events)));
  return count;
}

core::Status Scheduler::RecordRunnerEvents(const std::string& run_id, int attempt,
                                           std::vector<api::v1::RunnerEvent> events) {
  std::string agent;
  resources::Pricing pricing;
  runs::Run attribution;  // what the governor needs to know of the run
  {
    std::unique_lock lock(mu_);
    // The Running transition is written right after Start returns; wait for it so that a fast
    // runner's events never precede it in the log.
    settled_cv_.wait(lock, [&] {
      auto it = active_.find(run_id);
      return it == active_.end() || it->second.start_settled || stopping_;
    });
    auto it = active_.find(run_id);
    if (it == active_.end() || it->second.attempt != attempt) {
      core::LogWarn("dropping events of a run attempt that is not executing",
                    {{"run", run_id}, {"attempt", attempt}, {"events", events.size()}});
      return core::Unavailable("attempt " + std::to_string(attempt) + " of run " + run_id +
                               " is not executing in this scheduler");
    }
    Active& a = it->second;
    agent = a.agent;
    attribution.id = run_id;
    attribution.agent = a.agent;
    attribution.team = a.team;
    attribution.tier = a.tier;
    attribution.caller = a.caller;
    pricing = a.pricing;
    if (!a.first_event_seen) {
      a.first_event_seen = true;
      for (auto t = a.timers.begin(); t != a.timers.end();) {
        if (t->kind == TimerKind::kStartDeadline) {
          timers_.erase(*t);
          t = a.timers.erase(t);
        } else {
          ++t;
        }
      }
    }
  }
  std::vector<store::EventDraft> drafts;
  drafts.reserve(events.size());
  std::optional<Json> result;  // of the last "result" event
  for (auto& e : events) {
    if (e.type == "phase") continue;  // the scheduler's own transitions are the phase record
    if (e.type == "result" && e.data.is_object()) result = e.data;
    store::EventDraft draft;
    draft.type = std::move(e.type);
    draft.time = e.time;
    draft.runner_seq = e.seq;
    if (draft.type == "usage") {
      if (!e.data.is_object()) continue;  // the runner protocol guarantees objects; be safe
      PriceUsageEvent(e.data, pricing);
      draft.usage = UsageFromEvent(e.data);
    }
    if (draft.type == "tool_call") {
      draft.audit = Audit(e.time, "agent:" + agent, "tool.called", run_id,
                          {{"tool", Text(e.data, "name")}, {"callId", Text(e.data, "id")}});
    } else if (draft.type == "violation") {
      draft.audit = Audit(e.time, "agent:" + agent, "policy.violation", run_id,
                          {{"rule", Text(e.data, "rule")}, {"message", Text(e.data, "message")}});
    }
    draft.data = std::move(e.data);
    drafts.push_back(std::move(draft));
  }
  if (drafts.empty()) return core::Ok();
  const bool has_usage = std::any_of(
      drafts.begin(), drafts.end(), [](const store::EventDraft& d) { return d.usage.has_value(); });
  if (has_usage) governor_.Sync(*catalog_.Current());
  auto written = store_.AppendEvents(run_id, std::move(drafts));
  if (!written.ok()) {
    core::LogError("cannot store runner events",
                   {{"run", run_id}, {"error", written.error().message}});
    return written.error();
  }
  if (result) {
    std::lock_guard lock(mu_);
    auto it = active_.find(run_id);
    if (it != active_.end() && it->second.attempt == attempt) it->second.last_result = result;
  }
  std::vector<store::EventDraft> budget_events;
  for (const runs::Event& event : *written) {
    bus_.Publish(event);
    if (event.type == "usage") {
      CountTokens(agent, event.data);
      Governor::UsageEffects effects =
          governor_.OnUsage(attribution, UsageFromEvent(event.data).usage.cost_micros);
      for (size_t i = 0; i < effects.budget_events.size(); ++i) {
        store::EventDraft draft{
            .type = "budget", .data = std::move(effects.budget_events[i]), .time = event.time};
        if (i < effects.audit.size()) draft.audit = std::move(effects.audit[i]);
        budget_events.push_back(std::move(draft));
      }
    } else if (event.type == "violation") {
      const std::string rule = Text(event.data, "rule");
      governor_.CountViolation(agent, rule.empty() ? "unknown" : rule);
    }
  }
  if (!budget_events.empty()) {
    auto more = store_.AppendEvents(run_id, std::move(budget_events));
    if (!more.ok()) {
      core::LogError("cannot store budget events",
                     {{"run", run_id}, {"error", more.error().message}});
    } else {
      for (const runs::Event& event : *more) bus_.Publish(event);
    }
  }
  return core::Ok();
}

std::optional<Json> Scheduler::LastResultFromLog(const std::string& run_id) {
  constexpr int kPage = 1000;
  std::optional<Json> result;
  int64_t after = 0;
  while (true) {
    auto page = store_.ListEvents(run_id, after, kPage);
    if (!page.ok()) {
      core::LogWarn("cannot read a run's log for its result",
                    {{"run", run_id}, {"error", page.error().message}});
      return std::nullopt;
    }
    for (const runs::Event& event : *page) {
      if (event.type == "phase" && Text(event.data, "phase") == "Starting") {
        result.reset();  // a new attempt: earlier results are not its own
      } else if (event.type == "result" && event.data.is_object()) {
        result = event.data;
      }
    }
    if (static_cast<int>(page->size()) < kPage) return result;
    after = page->back().seq;
  }
}

void Scheduler::OnExit(const std::string& run_id, int attempt, const exec::ExitInfo& exit) {
  bool tracked = false;
  Active active;
  {
    std::unique_lock lock(mu_);
    settled_cv_.wait(lock, [&] {
      auto it = active_.find(run_id);
      return it == active_.end() || it->second.start_settled || stopping_;
    });
    auto it = active_.find(run_id);
    if (it != active_.end() && it->second.attempt == attempt) {
      tracked = true;
      active = it->second;
    }
  }
  // An executor that only sees the process or Job end (Kubernetes) has no result of its own:
  // the runner sent it as an event.
  std::optional<Json> reported = exit.result;
  if (!reported) reported = active.last_result;
  if (!reported) reported = LastResultFromLog(run_id);
  exec::ExitInfo effective;
  const exec::ExitInfo* decided = &exit;
  if (reported && !exit.result) {
    effective = exit;
    effective.result = std::move(reported);
    decided = &effective;
  }
  Outcome outcome = DecideOutcome(*decided);
  if (active.start_timed_out && outcome.phase == Phase::kTimedOut) {
    outcome.reason = "StartTimeout";
    outcome.message = "the runner did not report within " +
                      std::to_string(options_.start_timeout.count()) + "s of being started";
    outcome.error = outcome.message;
  }
  if (outcome.phase == Phase::kCancelled) {
    outcome.message = CancelMessage(active.cancel_caller);
    outcome.error.clear();
  }
  store::Transition t;
  t.to = outcome.phase;
  t.reason = outcome.reason;
  t.message = outcome.message;
  t.from = {Phase::kStarting, Phase::kRunning};
  t.expect_attempt = attempt;  // a stale attempt cannot end the current one
  t.time = clock_.Now();
  t.finished_at = t.time;
  if (!outcome.result.empty()) t.result = outcome.result;
  if (!outcome.error.empty()) t.error = outcome.error;
  t.audit.push_back(FinishedAudit(
      t, run_id, outcome.phase == Phase::kCancelled ? active.cancel_caller : "scheduler"));
  auto done = store_.TransitionRun(run_id, t);
  if (tracked) {
    // Memory first, then the bus: whoever sees the event sees the slot free.
    std::lock_guard lock(mu_);
    auto it = active_.find(run_id);
    if (it != active_.end() && it->second.attempt == attempt) RemoveActiveLocked(run_id);
    UpdateGaugesLocked();
    WakeLocked();
  }
  if (done.ok()) {
    bus_.Publish(done->event);
    RecordFinished(done->run);
    core::LogInfo(
        "run finished",
        {{"run", run_id}, {"phase", runs::PhaseName(outcome.phase)}, {"reason", outcome.reason}});
  } else {
    core::LogWarn("cannot record the end of a run",
                  {{"run", run_id}, {"attempt", attempt}, {"error", done.error().message}});
  }
}

// --- Recovery -----------------------------------------------------------------------------------

core::Status Scheduler::Recover() {
  {
    std::lock_guard lock(mu_);
    AGENTD_CHECK(executor_ != nullptr) << "Scheduler::Recover without an executor";
    AGENTD_CHECK(!recovered_) << "Scheduler::Recover called twice";
  }
  AGENTD_ASSIGN_OR_RETURN(auto queued, store_.ListRunsInPhases({Phase::kQueued}));
  AGENTD_ASSIGN_OR_RETURN(auto executing,
                          store_.ListRunsInPhases({Phase::kStarting, Phase::kRunning}));
  AGENTD_ASSIGN_OR_RETURN(auto awaiting, store_.ListRunsInPhases({Phase::kAwaitingApproval}));
  const auto snapshot = catalog_.Current();
  {
    std::vector<runs::Run> open = queued;
    open.insert(open.end(), executing.begin(), executing.end());
    open.insert(open.end(), awaiting.begin(), awaiting.end());
    AGENTD_RETURN_IF_ERROR(governor_.Recover(*snapshot, open));
  }
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.SteadyNow();
    for (const runs::Run& run : queued) EnqueueLocked(ToQueued(run, now));
    for (const runs::Run& run : awaiting) AddAwaitingLocked(run);
    for (const runs::Run& run : executing) {
      Active& a = AddActiveLocked(run.id, run.agent);
      a.attempt = run.attempts;
      a.team = run.team;
      a.tier = run.tier;
      a.caller = run.caller;
      a.pricing = PricingOf(*snapshot, run.agent);
      a.start_settled = true;
      a.first_event_seen = true;  // the start timeout only guards starts made by this process
      const core::TimePoint started_at = run.started_at.value_or(clock_.Now());
      AddTimerLocked(a, {started_at + RunTimeout(run, snapshot->FindAgent(run.agent),
                                                 options_.default_deadline),
                         TimerKind::kRunDeadline, run.id, run.attempts});
    }
    UpdateGaugesLocked();
    recovered_ = true;
  }
  int alive = 0;
  for (const runs::Run& run : executing) {
    auto adopted = executor_->Adopt(run);
    if (adopted.ok()) {
      alive += *adopted ? 1 : 0;
      continue;  // when gone, the executor reports the exit with what it recovered
    }
    core::LogError("cannot re-adopt a run", {{"run", run.id}, {"error", adopted.error().message}});
    exec::ExitInfo lost;
    lost.detail = "cannot re-adopt the runner after a restart: " + adopted.error().message;
    OnExit(run.id, run.attempts, lost);
  }
  core::LogInfo("scheduler recovered runs", {{"queued", queued.size()},
                                             {"awaitingApproval", awaiting.size()},
                                             {"executing", executing.size()},
                                             {"adoptedAlive", alive}});
  return core::Ok();
}

// --- Stats and metrics --------------------------------------------------------------------------

SchedulerStats Scheduler::Stats() const {
  std::lock_guard lock(mu_);
  return {static_cast<int64_t>(queue_.size() + delayed_.size()),
          static_cast<int64_t>(active_.size()), static_cast<int64_t>(awaiting_.size())};
}

void Scheduler::RecordFinished(const runs::Run& run) {
  governor_.Release(run.id);
  tasks_total_.WithLabels({run.agent, Lower(runs::PhaseName(run.phase))}).Inc();
  if (run.phase == Phase::kFailed || run.phase == Phase::kTimedOut) {
    errors_total_.WithLabels({run.agent, run.reason}).Inc();
  }
  if (run.started_at) {
    const core::TimePoint end = run.finished_at.value_or(clock_.Now());
    task_duration_.WithLabels({run.agent})
        .Observe(std::max(0.0, std::chrono::duration<double>(end - *run.started_at).count()));
    task_cost_.WithLabels({run.agent}).Observe(core::ToUsdDouble(run.usage.cost_micros));
  }
}

void Scheduler::CountTokens(const std::string& agent, const Json& data) {
  store::UsageRecord usage = UsageFromEvent(data);
  const std::pair<const char*, int64_t> kinds[] = {
      {"input", usage.usage.input_tokens},
      {"cached_input", usage.usage.cached_input_tokens},
      {"output", usage.usage.output_tokens}};
  for (const auto& [kind, tokens] : kinds) {
    if (tokens > 0) {
      tokens_total_.WithLabels({agent, usage.model, kind}).Inc(static_cast<double>(tokens));
    }
  }
}

void Scheduler::RestoreQueued(QueuedRun run) {
  std::lock_guard lock(mu_);
  EnqueueLocked(std::move(run));
  UpdateGaugesLocked();
  WakeLocked();
}

// --- Helpers (mu_ held) -------------------------------------------------------------------------

void Scheduler::EnqueueLocked(QueuedRun run) {
  if (active_.count(run.id) != 0 || delayed_.count(run.id) != 0) return;
  std::optional<core::TimePoint> deadline = run.queue_deadline;
  std::string id = run.id;
  if (!queue_.Push(std::move(run))) return;
  if (deadline) timers_.insert({*deadline, TimerKind::kQueueDeadline, id, 0});
}

std::optional<QueuedRun> Scheduler::TakeQueuedLocked(std::string_view run_id) {
  std::optional<QueuedRun> run = queue_.Erase(run_id);
  if (!run) {
    auto it = delayed_.find(run_id);
    if (it == delayed_.end()) return std::nullopt;
    run = std::move(it->second);
    delayed_.erase(it);
  }
  if (run->queue_deadline) {
    timers_.erase({*run->queue_deadline, TimerKind::kQueueDeadline, run->id, 0});
  }
  return run;
}

void Scheduler::RequeueLocked(QueuedRun run) {
  int& streak = unavailable_streak_[run.id];
  streak = std::min(streak + 1, 16);
  auto delay = options_.requeue_backoff * (1 << (streak - 1));
  delay = std::min<std::chrono::milliseconds>(delay, options_.max_requeue_backoff);
  const std::string id = run.id;
  if (run.queue_deadline) {
    timers_.insert({*run.queue_deadline, TimerKind::kQueueDeadline, id, 0});
  }
  delayed_[id] = std::move(run);
  timers_.insert({clock_.Now() + delay, TimerKind::kRequeue, id, 0});
}

Scheduler::Active& Scheduler::AddActiveLocked(const std::string& run_id, const std::string& agent) {
  auto [it, inserted] = active_.try_emplace(run_id);
  if (inserted) {
    it->second.agent = agent;
    ++running_.total;
    ++running_.per_agent[agent];
  }
  return it->second;
}

void Scheduler::RemoveActiveLocked(const std::string& run_id) {
  auto it = active_.find(run_id);
  if (it == active_.end()) return;
  for (const Timer& t : it->second.timers) timers_.erase(t);
  --running_.total;
  auto count = running_.per_agent.find(it->second.agent);
  if (count != running_.per_agent.end() && --count->second <= 0) running_.per_agent.erase(count);
  active_.erase(it);
}

void Scheduler::AddTimerLocked(Active& active, Timer timer) {
  timers_.insert(timer);
  active.timers.push_back(std::move(timer));
  WakeLocked();  // the dispatcher may be waiting for a later deadline
}

ConcurrencyLimits Scheduler::LimitsLocked() const {
  ConcurrencyLimits limits;
  limits.global = options_.global_concurrency;
  if (queue_.empty()) return limits;
  const auto snapshot = catalog_.Current();
  for (const std::string& agent : queue_.Agents()) {
    if (const resources::Agent* a = snapshot->FindAgent(agent)) {
      if (a->spec.limits.max_concurrent > 0) {
        limits.per_agent[agent] = a->spec.limits.max_concurrent;
      }
    }
  }
  return limits;
}

void Scheduler::UpdateGaugesLocked() {
  queued_gauge_.WithLabels({}).Set(static_cast<double>(queue_.size() + delayed_.size()));
  running_gauge_.WithLabels({}).Set(static_cast<double>(active_.size()));
  awaiting_gauge_.WithLabels({}).Set(static_cast<double>(awaiting_.size()));
}

void Scheduler::AddAwaitingLocked(const runs::Run& run) {
  RemoveAwaitingLocked(run.id);
  Timer timer{run.approval_expires_at.value_or(clock_.Now()), TimerKind::kApprovalExpiry, run.id,
              0};
  awaiting_.emplace(run.id, timer);
  timers_.insert(timer);
}

void Scheduler::RemoveAwaitingLocked(std::string_view run_id) {
  auto it = awaiting_.find(run_id);
  if (it == awaiting_.end()) return;
  timers_.erase(it->second);
  awaiting_.erase(it);
}

// --- Approvals ----------------------------------------------------------------------------------

core::Result<runs::Run> Scheduler::Approve(std::string_view run_id, std::string_view approver,
                                           std::string_view reason) {
  return Decide(run_id, approver, reason, /*approve=*/true, /*expired=*/false);
}

core::Result<runs::Run> Scheduler::Reject(std::string_view run_id, std::string_view approver,
                                          std::string_view reason) {
  return Decide(run_id, approver, reason, /*approve=*/false, /*expired=*/false);
}

core::Result<runs::Run> Scheduler::Decide(std::string_view run_id, std::string_view approver,
                                          std::string_view reason, bool approve, bool expired) {
  const std::string id(run_id);
  AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(id));
  auto not_awaiting = [&](const runs::Run& r) {
    core::Error e = core::FailedPrecondition(
        "run " + id + " is " + std::string(runs::PhaseName(r.phase)) + ", not AwaitingApproval");
    e.reason = "not_awaiting_approval";
    return e;
  };
  if (run.phase != Phase::kAwaitingApproval) return not_awaiting(run);
  const std::string who = approver.empty() ? std::string("anonymous") : std::string(approver);
  if (approve && !options_.allow_self_approval && !run.caller.empty() && run.caller == approver) {
    core::Error e =
        core::PermissionDenied("\"" + who + "\" submitted run " + id +
                               " and cannot approve it too; another identity must (or set "
                               "AGENTD_ALLOW_SELF_APPROVAL=true)");
    e.reason = "self_approval";
    return e;
  }
  store::Transition t;
  t.from = {Phase::kAwaitingApproval};
  t.time = clock_.Now();
  t.clear_approval_expiry = true;
  Json details = {{"approver", who}, {"reason", std::string(reason)}};
  if (approve) {
    governor_.ReserveForApproval(run, *catalog_.Current());
    t.to = Phase::kQueued;
    t.reason = "Approved";
    t.message = "approved by " + who + (reason.empty() ? "" : ": " + std::string(reason));
    t.allowance_micros = run.allowance_micros;
    t.budgets = run.budgets;
    details["allowanceUsd"] = core::FormatUsd(run.allowance_micros);
    details["budgets"] = run.budgets;
    t.audit.push_back(Audit(t.time, who, "run.approved", id, std::move(details)));
  } else {
    t.to = Phase::kRejected;
    t.finished_at = t.time;
    if (expired) {
      t.reason = "ApprovalExpired";
      t.message = "nobody approved the run before " +
                  core::FormatRfc3339(run.approval_expires_at.value_or(t.time));
      t.audit.push_back(Audit(t.time, "scheduler", "run.approval_expired", id));
    } else {
      t.reason = "ApprovalRejected";
      t.message = "rejected by " + who + (reason.empty() ? "" : ": " + std::string(reason));
      t.audit.push_back(Audit(t.time, who, "run.approval_rejected", id, std::move(details)));
    }
    t.error = t.message;
  }
  auto done = store_.TransitionRun(id, t);
  if (!done.ok()) {
    if (done.error().code != core::ErrorCode::kFailedPrecondition) return done.error();
    AGENTD_ASSIGN_OR_RETURN(runs::Run now, store_.GetRun(id));  // decided by someone else
    return not_awaiting(now);
  }
  {
    std::lock_guard lock(mu_);
    RemoveAwaitingLocked(id);
    if (approve) EnqueueLocked(ToQueued(done->run, clock_.SteadyNow()));
    UpdateGaugesLocked();
    WakeLocked();
  }
  bus_.Publish(done->event);
  if (!approve) RecordFinished(done->run);
  core::LogInfo(approve ? "run approved" : "run rejected",
                {{"run", id}, {"by", who}, {"reason", done->run.reason}});
  return done->run;
}

void Scheduler::AppendLater(std::string run_id, std::vector<store::EventDraft> drafts) {
  std::lock_guard lock(mu_);
  later_events_.emplace_back(std::move(run_id), std::move(drafts));
  WakeLocked();
}

void Scheduler::FlushLaterEvents() {
  std::vector<std::pair<std::string, std::vector<store::EventDraft>>> batch;
  std::vector<governance::AuditEntryDraft> audit;
  {
    std::lock_guard lock(mu_);
    batch.swap(later_events_);
    audit.swap(later_audit_);
  }
  if (!audit.empty()) {
    if (auto wrote = store_.AppendAudit(std::move(audit)); !wrote.ok()) {
      core::LogError("cannot audit refused submissions", {{"error", wrote.error().message}});
    }
  }
  for (auto& [run_id, drafts] : batch) {
    auto written = store_.AppendEvents(run_id, std::move(drafts));
    if (!written.ok()) {
      core::LogError("cannot store admission events",
                     {{"run", run_id}, {"error", written.error().message}});
      continue;
    }
    for (const runs::Event& event : *written) bus_.Publish(event);
  }
}

}  // namespace agentd::scheduler
