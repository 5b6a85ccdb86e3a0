#include "scheduler/scheduler.h"

#include <deque>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include "bus/memory_bus.h"
#include "core/hash.h"
#include "core/ids.h"
#include "scheduler/admission.h"
#include "scheduler/scheduler_test_fixture.h"
#include "scheduler/test_catalog.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"

namespace agentd::scheduler {
namespace {

using namespace fixtures;  // SchedulerTest, FakeExecutor, Event, Succeeded, kWait, Phase, ...

TEST_F(SchedulerTest, RejectsAnUnknownAgentWithoutStoringAnything) {
  auto& scheduler = StartScheduler();
  auto created = Submit(scheduler, {.agent = "triage"});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(created.error().message, "unknown agent \"triage\"");
  auto page = store_->ListRuns({}, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->runs.empty());
}

TEST_F(SchedulerTest, StartsASubmittedRunAndRecordsItsHandle) {
  auto& scheduler = StartScheduler();
  auto created = Submit(scheduler, {.agent = "developer",
                                    .input = "add a README",
                                    .labels = {{"team", "infra"}},
                                    .caller = "key:ci"});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->run.phase, Phase::kQueued);
  EXPECT_EQ(created->run.reason, "Admitted");
  EXPECT_EQ(created->run.request_hash.size(), 64u);
  const std::string id = created->run.id;

  auto starts = executor_->WaitForStarts(1);
  runs::Run run = WaitForPhase(id, Phase::kRunning);
  const exec::StartRequest& start = starts[0];
  EXPECT_EQ(start.run.id, id);
  EXPECT_EQ(start.run.attempts, 1);
  EXPECT_EQ(start.spec.run_id, id);
  EXPECT_EQ(start.spec.input, "add a README");
  EXPECT_EQ(start.spec.model.api_key_env, "LOCAL_API_KEY");
  EXPECT_EQ(start.spec.workspace, "/workspace/" + id);
  EXPECT_EQ(start.runner_token.size(), 64u);

  EXPECT_EQ(run.attempts, 1);
  EXPECT_EQ(run.reason, "Started");
  EXPECT_EQ(run.executor_handle, (Json{{"kind", "fake"}, {"n", 1}}));
  EXPECT_EQ(run.runner_token_hash, core::Sha256Hex(start.runner_token));
  EXPECT_TRUE(run.started_at.has_value());
  EXPECT_EQ(run.caller, "key:ci");
  auto events = store_->ListEvents(id, 0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> phases;
  for (const auto& e : *events) phases.push_back(e.data.value("phase", ""));
  EXPECT_EQ(phases, (std::vector<std::string>{"Queued", "Starting", "Running"}));
}

TEST_F(SchedulerTest, RepeatedIdempotencyKeyReturnsTheFirstRunAndQueuesItOnce) {
  auto& scheduler = StartScheduler(Concurrency(0));
  auto first = Submit(scheduler, {.agent = "developer", .input = "x", .idempotency_key = "k1"});
  auto second = Submit(scheduler, {.agent = "developer", .input = "x", .idempotency_key = "k1"});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->run.id, first->run.id);
  EXPECT_EQ(scheduler.Stats().queued, 1);
  auto conflict = Submit(scheduler, {.agent = "developer", .input = "y", .idempotency_key = "k1"});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, core::ErrorCode::kAlreadyExists);
}

TEST_F(SchedulerTest, StartsRunsByPriorityThenAge) {
  auto& scheduler = MakeScheduler(Concurrency(1));
  // Queued before the dispatcher starts, so the order alone decides.
  const std::string low = SubmitOk(scheduler, {.agent = "developer", .priority = 0});
  clock_.Advance(1000ms);
  const std::string high_old = SubmitOk(scheduler, {.agent = "reviewer", .priority = 5});
  clock_.Advance(1000ms);
  const std::string high_new = SubmitOk(scheduler, {.agent = "developer", .priority = 5});
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();

  std::vector<std::string> order;
  for (size_t i = 1; i <= 3; ++i) {
    auto starts = executor_->WaitForStarts(i);
    ASSERT_EQ(starts.size(), i);
    order.push_back(starts.back().run.id);
    scheduler.OnExit(starts.back().run.id, 1, Succeeded("ok"));
  }
  EXPECT_EQ(order, (std::vector<std::string>{high_old, high_new, low}));
  for (const auto& id : order) EXPECT_EQ(Get(id).phase, Phase::kSucceeded);
}

TEST_F(SchedulerTest, NeverRunsMoreThanTheGlobalLimit) {
  auto& scheduler = StartScheduler(Concurrency(2));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(SubmitOk(scheduler, {.agent = "developer"}));

  auto starts = executor_->WaitForStarts(2);
  EXPECT_EQ(starts.size(), 2u);
  EXPECT_EQ(executor_->StartCount(), 2u);
  EXPECT_EQ(scheduler.Stats().running, 2);
  EXPECT_EQ(scheduler.Stats().queued, 1);

  std::set<std::string> waiting(ids.begin(), ids.end());
  waiting.erase(starts[0].run.id);
  waiting.erase(starts[1].run.id);
  ASSERT_EQ(waiting.size(), 1u);
  scheduler.OnExit(starts[0].run.id, 1, Succeeded("ok"));
  starts = executor_->WaitForStarts(3);
  EXPECT_EQ(starts[2].run.id, *waiting.begin());
}

TEST_F(SchedulerTest, HonoursThePerAgentLimitWithoutBlockingOtherAgents) {
  auto& scheduler = MakeScheduler(Concurrency(3));
  const std::string l1 = SubmitOk(scheduler, {.agent = "limited", .priority = 9});
  clock_.Advance(1ms);
  const std::string l2 = SubmitOk(scheduler, {.agent = "limited", .priority = 9});
  const std::string d1 = SubmitOk(scheduler, {.agent = "developer"});
  const std::string d2 = SubmitOk(scheduler, {.agent = "developer"});
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();

  auto starts = executor_->WaitForStarts(3);
  std::multiset<std::string> started;
  for (const auto& s : starts) started.insert(s.run.id);
  EXPECT_EQ(started, (std::multiset<std::string>{l1, d1, d2}));
  EXPECT_EQ(Get(l2).phase, Phase::kQueued);

  scheduler.OnExit(l1, 1, Succeeded("ok"));
  starts = executor_->WaitForStarts(4);
  EXPECT_EQ(starts[3].run.id, l2);
}

TEST_F(SchedulerTest, StoresRunnerEventsWithUsageAndPublishesThemAfterCommit) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);

  std::vector<runs::Event> published;
  std::mutex m;
  auto sub = bus_.Subscribe(id, [&](const runs::Event& e) {
    std::lock_guard lock(m);
    // Committed first: the store already has it.
    auto stored = store_->ListEvents(id, e.seq - 1, 1);
    EXPECT_TRUE(stored.ok() && stored->size() == 1 && (*stored)[0].type == e.type);
    if (e.type != "phase") published.push_back(e);  // the Running one may still be on its way
  });
  scheduler.OnRunnerEvents(
      id, 1,
      {Event(1, "phase", {{"phase", "Running"}}), Event(2, "delta", {{"content", "hi"}}),
       Event(3, "usage",
             {{"model", "qwen"},
              {"inputTokens", 100},
              {"cachedInputTokens", 10},
              {"outputTokens", 20},
              {"costMicros", 1500}}),
       Event(0, "log", {{"stream", "stderr"}, {"line", "warn"}})});
  // A replayed batch (journal after a restart) and a stale attempt change nothing.
  scheduler.OnRunnerEvents(id, 1, {Event(2, "delta", {{"content", "hi"}})});
  scheduler.OnRunnerEvents(id, 2, {Event(9, "delta", {{"content", "stale"}})});

  runs::Run run = Get(id);
  EXPECT_EQ(run.runner_seq, 3);
  EXPECT_EQ(run.usage.input_tokens, 100);
  EXPECT_EQ(run.usage.cached_input_tokens, 10);
  EXPECT_EQ(run.usage.output_tokens, 20);
  // Priced by the scheduler from the tokens (90 + 10 cached + 20 at the "local" model's
  // prices, each part rounded up), not the 1500 the runner claimed.
  EXPECT_EQ(run.usage.cost_micros, 45 + 3 + 30);
  auto events = store_->ListEvents(id, 3, 100);  // after Queued, Starting, Running
  ASSERT_TRUE(events.ok());
  std::vector<std::string> types;
  for (const auto& e : *events) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<std::string>{"delta", "usage", "log"}));
  {
    std::lock_guard lock(m);
    ASSERT_EQ(published.size(), 3u);
    EXPECT_EQ(published[0].seq, 4);
  }

  scheduler.OnRunnerEvents(id, 1,
                           {Event(4, "result", {{"status", "succeeded"}, {"result", "42"}})});
  scheduler.OnExit(id, 1, Succeeded("42"));
  run = Get(id);
  EXPECT_EQ(run.phase, Phase::kSucceeded);
  EXPECT_EQ(run.reason, "Completed");
  EXPECT_EQ(run.result, "42");
  EXPECT_TRUE(run.finished_at.has_value());

  const std::string metrics = registry_.Render();
  EXPECT_NE(metrics.find("agent_tasks_total{agent=\"developer\",status=\"succeeded\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("agent_tokens_total{agent=\"developer\",model=\"qwen\",kind=\"input\"} 100"),
      std::string::npos);
  EXPECT_NE(
      metrics.find("agent_tokens_total{agent=\"developer\",model=\"qwen\",kind=\"output\"} 20"),
      std::string::npos);
  EXPECT_NE(metrics.find("agent_task_duration_seconds_count{agent=\"developer\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("agentd_runs_running 0"), std::string::npos);
  EXPECT_NE(metrics.find("agentd_dispatch_latency_seconds_count 1"), std::string::npos);
}

TEST_F(SchedulerTest, FailedRunCountsAsAnErrorWithItsReason) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  ExitInfo exit;
  exit.term_signal = SIGKILL;
  scheduler.OnExit(id, 1, exit);
  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kFailed);
  EXPECT_EQ(run.reason, "RunnerKilled");
  EXPECT_NE(run.error.find("runner killed by signal 9"), std::string::npos);
  const std::string metrics = registry_.Render();
  EXPECT_NE(metrics.find("agent_errors_total{agent=\"developer\",reason=\"RunnerKilled\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(SchedulerTest, CancelsAQueuedRunAtOnceAndNeverStartsIt) {
  auto& scheduler = StartScheduler(Concurrency(1));
  const std::string blocker = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  const std::string queued = SubmitOk(scheduler, {.agent = "developer"});

  auto cancelled = scheduler.Cancel(queued, "alice");
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  EXPECT_EQ(cancelled->phase, Phase::kCancelled);
  EXPECT_EQ(cancelled->message, "cancelled by alice");
  EXPECT_EQ(scheduler.Stats().queued, 0);

  scheduler.OnExit(blocker, 1, Succeeded("ok"));
  const std::string next = SubmitOk(scheduler, {.agent = "developer"});
  auto starts = executor_->WaitForStarts(2);
  EXPECT_EQ(starts[1].run.id, next);
  EXPECT_EQ(Get(queued).phase, Phase::kCancelled);
}

TEST_F(SchedulerTest, CancelsARunningRunByStoppingItAndEndsCancelledOnExit) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);

  auto during = scheduler.Cancel(id, "alice");
  ASSERT_TRUE(during.ok());
  EXPECT_EQ(during->phase, Phase::kRunning);  // until the process has exited
  auto stops = executor_->WaitForStops(1);
  EXPECT_EQ(stops[0], std::make_pair(id, StopReason::kCancelled));
  ASSERT_TRUE(scheduler.Cancel(id, "bob").ok());  // idempotent: no second stop
  EXPECT_EQ(executor_->StopCount(), 1u);

  scheduler.OnExit(id, 1, StoppedBy(StopReason::kCancelled));
  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kCancelled);
  EXPECT_EQ(run.message, "cancelled by alice");

  auto again = scheduler.Cancel(id, "alice");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(again.error().message, "run " + id + " is already Cancelled");
}

TEST_F(SchedulerTest, CancelOfAnUnknownRunIsNotFound) {
  auto& scheduler = StartScheduler();
  auto result = scheduler.Cancel("run-01jx0000000000000000000000", "alice");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kNotFound);
}

TEST_F(SchedulerTest, StopsARunPastItsDeadlineAndEndsTimedOut) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});  // agent timeout 60 s
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);
  scheduler.OnRunnerEvents(id, 1, {Event(1, "delta", {{"content", "working"}})});

  clock_.Advance(59s);
  scheduler.Wake();
  clock_.Advance(2s);
  scheduler.Wake();
  auto stops = executor_->WaitForStops(1);
  EXPECT_EQ(stops[0], std::make_pair(id, StopReason::kDeadlineExceeded));

  scheduler.OnExit(id, 1, StoppedBy(StopReason::kDeadlineExceeded));
  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kTimedOut);
  EXPECT_EQ(run.reason, "DeadlineExceeded");
}

TEST_F(SchedulerTest, TheRunsOwnDeadlineWinsOverTheAgentTimeout) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer", .deadline = 5s});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);
  scheduler.OnRunnerEvents(id, 1, {Event(1, "delta", {{"content", "working"}})});
  clock_.Advance(6s);
  scheduler.Wake();
  auto stops = executor_->WaitForStops(1);
  EXPECT_EQ(stops[0].second, StopReason::kDeadlineExceeded);
}

TEST_F(SchedulerTest, StopsARunnerThatNeverReportsIn) {
  Scheduler::Options options;
  options.start_timeout = 30s;
  auto& scheduler = StartScheduler(options);
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);
  clock_.Advance(31s);
  scheduler.Wake();
  executor_->WaitForStops(1);
  scheduler.OnExit(id, 1, StoppedBy(StopReason::kDeadlineExceeded));
  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kTimedOut);
  EXPECT_EQ(run.reason, "StartTimeout");
}

TEST_F(SchedulerTest, TimesOutARunThatWaitedInTheQueuePastItsDeadline) {
  auto& scheduler = StartScheduler(Concurrency(1));
  SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  const std::string waiting = SubmitOk(scheduler, {.agent = "developer", .deadline = 10s});
  clock_.Advance(11s);
  scheduler.Wake();
  runs::Run run = WaitForPhase(waiting, Phase::kTimedOut);
  EXPECT_EQ(run.reason, "QueueTimeout");
  EXPECT_EQ(scheduler.Stats().queued, 0);
  EXPECT_EQ(executor_->StartCount(), 1u);
}

TEST_F(SchedulerTest, RequeuesWithBackoffWhenTheExecutorIsUnavailable) {
  auto& scheduler = MakeScheduler();
  executor_->FailNextStart(core::Unavailable("out of processes"));
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  runs::Run run = WaitForRun(id, [](const runs::Run& r) {
    return r.phase == Phase::kQueued && r.reason == "ExecutorUnavailable";
  });
  EXPECT_EQ(run.message, "out of processes");
  PollUntil([&] { return scheduler.Stats().queued == 1; });

  clock_.Advance(1000ms);  // the first backoff
  scheduler.Wake();
  auto starts = executor_->WaitForStarts(2);
  EXPECT_EQ(starts[1].run.id, id);
  EXPECT_EQ(starts[1].run.attempts, 2);
  EXPECT_EQ(WaitForPhase(id, Phase::kRunning).attempts, 2);
}

TEST_F(SchedulerTest, FailsARunTheExecutorCannotStart) {
  auto& scheduler = MakeScheduler();
  executor_->FailNextStart(core::Internal("runner binary missing"));
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  runs::Run run = WaitForPhase(id, Phase::kFailed);
  EXPECT_EQ(run.reason, "StartFailed");
  EXPECT_EQ(run.error, "runner binary missing");
  PollUntil([&] { return scheduler.Stats().running == 0; });
}

TEST_F(SchedulerTest, FailsARunWhoseAgentLeftTheCatalogBeforeItStarted) {
  auto& scheduler = StartScheduler(Concurrency(0));
  const std::string id = SubmitOk(scheduler, {.agent = "reviewer"});
  catalog_.Replace(fixtures::MakeSnapshot({fixtures::MakeAgent("developer", "local")}));
  schedulers_.back()->Shutdown();
  auto& next = MakeScheduler(Concurrency(1));
  ASSERT_TRUE(next.Recover().ok());
  next.Start();
  runs::Run run = WaitForPhase(id, Phase::kFailed);
  EXPECT_EQ(run.reason, "InvalidSpec");
  EXPECT_EQ(executor_->StartCount(), 0u);
}

TEST_F(SchedulerTest, RecoveryRequeuesQueuedRunsAndAdoptsExecutingOnesWithoutStartingThem) {
  const runs::Run queued = StoredRun("developer", Phase::kQueued);
  const runs::Run alive = StoredRun("developer", Phase::kRunning, {{"kind", "fake"}, {"n", 7}});
  const runs::Run gone = StoredRun("developer", Phase::kRunning, {{"kind", "fake"}, {"n", 8}});
  const runs::Run never_spawned = StoredRun("reviewer", Phase::kStarting);

  auto& scheduler = MakeScheduler(Concurrency(2));
  executor_->SetAlive(alive.id);
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();

  auto adopted = executor_->Adopted();
  EXPECT_EQ(std::set<std::string>(adopted.begin(), adopted.end()),
            (std::set<std::string>{alive.id, gone.id, never_spawned.id}));
  // Three adopted runs hold the two slots: the queued run waits.
  EXPECT_EQ(scheduler.Stats().running, 3);
  EXPECT_EQ(scheduler.Stats().queued, 1);
  EXPECT_EQ(executor_->StartCount(), 0u);

  // The executor reports what it found for the gone ones.
  ExitInfo lost;
  lost.detail = "runner process disappeared while agentd was down";
  scheduler.OnExit(gone.id, 1, lost);
  scheduler.OnExit(never_spawned.id, 1, lost);
  runs::Run gone_now = Get(gone.id);
  EXPECT_EQ(gone_now.phase, Phase::kFailed);
  EXPECT_EQ(gone_now.reason, "ProcessLost");
  EXPECT_EQ(gone_now.error, "runner process disappeared while agentd was down");

  auto starts = executor_->WaitForStarts(1);
  EXPECT_EQ(starts[0].run.id, queued.id);

  // The adopted live run goes on: its events are accepted and its exit recorded.
  scheduler.OnRunnerEvents(alive.id, 1, {Event(5, "delta", {{"content", "still here"}})});
  EXPECT_EQ(Get(alive.id).runner_seq, 5);
  scheduler.OnExit(alive.id, 1, Succeeded("finished after the restart"));
  EXPECT_EQ(Get(alive.id).phase, Phase::kSucceeded);
  EXPECT_EQ(executor_->StartCount(), 1u);  // nothing was started twice
}

TEST_F(SchedulerTest, RecoveredRunsKeepTheirDeadline) {
  const runs::Run alive = StoredRun("developer", Phase::kRunning, {{"kind", "fake"}});
  auto& scheduler = MakeScheduler();
  executor_->SetAlive(alive.id);
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();
  clock_.Advance(61s);  // the agent's timeout counts from the original start
  scheduler.Wake();
  auto stops = executor_->WaitForStops(1);
  EXPECT_EQ(stops[0], std::make_pair(alive.id, StopReason::kDeadlineExceeded));
}

TEST_F(SchedulerTest, RecoveryFailsARunItCannotReadopt) {
  const runs::Run broken = StoredRun("developer", Phase::kRunning, {{"kind", "fake"}});
  auto& scheduler = MakeScheduler();
  executor_->FailAdopt(broken.id);
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();
  runs::Run run = Get(broken.id);
  EXPECT_EQ(run.phase, Phase::kFailed);
  EXPECT_EQ(run.reason, "ProcessLost");
  EXPECT_NE(run.error.find("cannot re-adopt"), std::string::npos);
  EXPECT_EQ(scheduler.Stats().running, 0);
}

TEST_F(SchedulerTest, ARestartAdoptsWhatTheFirstSchedulerStarted) {
  auto& first = MakeScheduler();
  ASSERT_TRUE(first.Recover().ok());
  first.Start();
  const std::string id = SubmitOk(first, {.agent = "developer"});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);
  first.Shutdown();
  EXPECT_EQ(executor_->Shutdowns(), 1);
  EXPECT_EQ(executor_->StopCount(), 0u);  // shutting down leaves runners running

  auto& second = MakeScheduler();
  executor_->SetAlive(id);
  ASSERT_TRUE(second.Recover().ok());
  second.Start();
  EXPECT_EQ(executor_->Adopted(), std::vector<std::string>{id});
  EXPECT_EQ(executor_->StartCount(), 0u);
  second.OnExit(id, 1, Succeeded("done"));
  EXPECT_EQ(Get(id).phase, Phase::kSucceeded);
}

TEST_F(SchedulerTest, IgnoresTheExitOfAStaleAttempt) {
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  executor_->WaitForStarts(1);
  WaitForPhase(id, Phase::kRunning);
  scheduler.OnExit(id, 7, Succeeded("from an old attempt"));
  EXPECT_EQ(Get(id).phase, Phase::kRunning);
  EXPECT_EQ(scheduler.Stats().running, 1);
}

}  // namespace
}  // namespace agentd::scheduler
