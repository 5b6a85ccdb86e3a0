// Doubles shared by the operator tests and bench/operator_bench.cc (not part of the library).
//
// FakeRunService: a RunService over a real RunStore and Bus that admits every submission for a
// known agent straight to Queued (idempotency by the store, as the Scheduler does) and lets the
// caller move runs through their phases, publishing each phase event as the Scheduler would.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/clock.h"
#include "core/ids.h"
#include "scheduler/admission.h"
#include "scheduler/run_service.h"
#include "store/run_store.h"

namespace agentd::operator_::test {

class FakeRunService final : public scheduler::RunService {
 public:
  FakeRunService(store::RunStore& store, bus::Bus& bus, const core::Clock& clock)
      : store_(store), bus_(bus), clock_(clock) {}

  // Agents SubmitAsync knows; others are refused like the Scheduler does (unknown agent).
  void SetAgents(std::set<std::string> agents) {
    std::lock_guard lock(mu_);
    agents_ = std::move(agents);
  }
  // When false, Cancel only records the request (a running run that takes time to stop).
  void SetCancelAtOnce(bool at_once) { cancel_at_once_ = at_once; }

  void SubmitAsync(scheduler::SubmitRequest request,
                   std::function<void(core::Result<store::CreateRunResult>)> done) override {
    ++submissions_;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      if (!agents_.empty() && agents_.count(request.agent) == 0) {
        done(core::InvalidArgument("unknown agent \"" + request.agent + "\""));
        return;
      }
    }
    runs::Run run;
    run.created_at = clock_.Now();
    run.id = core::NewRunId(run.created_at);
    run.request_hash = scheduler::RequestHash(request);
    run.agent = request.agent;
    run.input = request.input;
    run.parameters = request.parameters;
    run.priority = request.priority;
    run.deadline = request.deadline;
    run.labels = request.labels;
    run.idempotency_key = request.idempotency_key;
    run.caller = request.caller;
    run.source = request.source;
    run.phase = runs::Phase::kQueued;
    run.reason = "Admitted";
    store_.CreateRunAsync(std::move(run), [this, done = std::move(done)](
                                              core::Result<store::CreateRunResult> created) {
      if (created.ok() && created->created) {
        ++created_;
        const runs::Run& r = created->run;
        bus_.Publish(runs::Event{.run_id = r.id,
                                 .seq = 1,
                                 .type = "phase",
                                 .data = {{"phase", "Queued"}, {"reason", r.reason}},
                                 .time = r.created_at});
      }
      done(std::move(created));
    });
  }

  core::Result<runs::Run> Cancel(std::string_view run_id, std::string_view) override {
    ++cancels_;
    AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(run_id));
    if (runs::IsTerminal(run.phase)) {
      return core::FailedPrecondition("run " + run.id + " is already terminal");
    }
    if (!cancel_at_once_) return run;
    auto moved = MoveTo(std::string(run_id), runs::Phase::kCancelled, "CancelRequested");
    if (!moved.ok()) return std::move(moved).error();
    return store_.GetRun(run_id);
  }

  core::Result<runs::Run> Approve(std::string_view, std::string_view, std::string_view) override {
    return core::FailedPrecondition("not supported by the fake");
  }
  core::Result<runs::Run> Reject(std::string_view, std::string_view, std::string_view) override {
    return core::FailedPrecondition("not supported by the fake");
  }
  core::Json Budgets() override { return {{"items", core::Json::array()}}; }
  scheduler::SchedulerStats Stats() const override { return {}; }

  // Moves a run forward to `to` the way the Scheduler would (Queued -> Starting -> Running ->
  // terminal), publishing every phase event. `handle` becomes the executor handle on Running.
  core::Status MoveTo(const std::string& run_id, runs::Phase to, std::string reason = "",
                      std::string result = "", core::Json handle = core::Json::object()) {
    AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(run_id));
    using runs::Phase;
    std::vector<Phase> path;
    if (runs::IsTerminal(to) && to != Phase::kCancelled && run.phase == Phase::kQueued) {
      path = {Phase::kStarting, Phase::kRunning, to};
    } else if (to == Phase::kRunning && run.phase == Phase::kQueued) {
      path = {Phase::kStarting, Phase::kRunning};
    } else if (to == Phase::kSucceeded && run.phase == Phase::kStarting) {
      path = {Phase::kRunning, to};
    } else {
      path = {to};
    }
    for (Phase phase : path) {
      store::Transition t;
      t.to = phase;
      t.reason = reason.empty() ? std::string(runs::PhaseName(phase)) : reason;
      t.time = clock_.Now();
      if (phase == Phase::kStarting) {
        t.increment_attempts = true;
        t.started_at = clock_.Now();
      }
      if (phase == Phase::kRunning && !handle.empty()) t.executor_handle = handle;
      if (runs::IsTerminal(phase)) {
        t.finished_at = clock_.Now();
        if (!result.empty()) t.result = result;
      }
      AGENTD_ASSIGN_OR_RETURN(store::TransitionResult moved, store_.TransitionRun(run_id, t));
      bus_.Publish(moved.event);
    }
    return core::Ok();
  }

  int submissions() const { return submissions_.load(); }
  int created() const { return created_.load(); }
  int cancels() const { return cancels_.load(); }
  std::vector<scheduler::SubmitRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  store::RunStore& store_;
  bus::Bus& bus_;
  const core::Clock& clock_;
  std::atomic<bool> cancel_at_once_{true};
  std::atomic<int> submissions_{0};
  std::atomic<int> created_{0};
  std::atomic<int> cancels_{0};
  mutable std::mutex mu_;
  std::set<std::string> agents_;
  std::vector<scheduler::SubmitRequest> requests_;
};

// A RunService that forwards every call to another one; a test or bench overrides only the
// calls it wants to change.
class ForwardingRunService : public scheduler::RunService {
 public:
  explicit ForwardingRunService(scheduler::RunService& inner) : inner_(inner) {}

  void SubmitAsync(scheduler::SubmitRequest request,
                   std::function<void(core::Result<store::CreateRunResult>)> done) override {
    inner_.SubmitAsync(std::move(request), std::move(done));
  }
  core::Result<runs::Run> Cancel(std::string_view id, std::string_view caller) override {
    return inner_.Cancel(id, caller);
  }
  core::Result<runs::Run> Approve(std::string_view id, std::string_view approver,
                                  std::string_view reason) override {
    return inner_.Approve(id, approver, reason);
  }
  core::Result<runs::Run> Reject(std::string_view id, std::string_view approver,
                                 std::string_view reason) override {
    return inner_.Reject(id, approver, reason);
  }
  core::Json Budgets() override { return inner_.Budgets(); }
  scheduler::SchedulerStats Stats() const override { return inner_.Stats(); }

 protected:
  scheduler::RunService& inner_;
};

}  // namespace agentd::operator_::test
