// Runner events over HTTP (Scheduler::IngestRunnerEvents): the token, attempt and instance
// checks that fence a second pod of one attempt, and the result that reaches OnExit through
// events when the executor only sees the Job end.
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_test_fixture.h"

namespace agentd::scheduler {
namespace {

using namespace fixtures;  // SchedulerTest, FakeExecutor, Event, kWait, Phase, ...

class IngestTest : public SchedulerTest {
 protected:
  // Submits a run and waits until it is Running; returns its id and the runner token the
  // executor was given (what the pod would read from its Secret).
  std::pair<std::string, std::string> StartRun(Scheduler& scheduler) {
    const std::string id = SubmitOk(scheduler, {.agent = "developer"});
    auto starts = executor_->WaitForStarts(1);
    WaitForPhase(id, Phase::kRunning);
    return {id, starts.empty() ? std::string() : starts.back().runner_token};
  }

  std::vector<std::string> StoredTypes(const std::string& id) {
    auto events = store_->ListEvents(id, 0, 1000);
    EXPECT_TRUE(events.ok());
    std::vector<std::string> types;
    if (!events.ok()) return types;
    for (const runs::Event& e : *events) {
      if (e.type != "phase") types.push_back(e.type);
    }
    return types;
  }

  static std::vector<api::v1::RunnerEvent> Batch() {
    return {Event(1, "phase", {{"phase", "Running"}}),
            Event(2, "message", {{"role", "assistant"}, {"content", "hello"}}),
            Event(3, "usage", {{"model", "qwen"}, {"inputTokens", 10}, {"outputTokens", 2}})};
  }
};

TEST_F(IngestTest, AcceptsEventsSignedWithTheRunsTokenAndStoresThemPriced) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_EQ(token.size(), 64u);

  auto accepted = scheduler.IngestRunnerEvents(id, 1, "pod-a", token, Batch());

  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(*accepted, 3);
  EXPECT_EQ(StoredTypes(id), (std::vector<std::string>{"message", "usage"}));
  runs::Run run = Get(id);
  EXPECT_EQ(run.runner_seq, 3);
  EXPECT_EQ(run.usage.input_tokens, 10);
  EXPECT_EQ(run.usage.cost_micros, 5 + 3);  // the "local" model's prices, each part rounded up
}

TEST_F(IngestTest, ARetriedBatchIsStoredOnce) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(scheduler.IngestRunnerEvents(id, 1, "pod-a", token, Batch()).ok());

  // The answer to the first POST was lost; the runner sends the same batch again.
  auto again = scheduler.IngestRunnerEvents(id, 1, "pod-a", token, Batch());

  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, 3);
  EXPECT_EQ(StoredTypes(id), (std::vector<std::string>{"message", "usage"}));
  EXPECT_EQ(Get(id).usage.input_tokens, 10);
}

TEST_F(IngestTest, AWrongOrMissingTokenIsUnauthenticatedAndStoresNothing) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  std::string wrong = token;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';

  for (const std::string& presented : {wrong, std::string(), core::Sha256Hex(token)}) {
    auto refused = scheduler.IngestRunnerEvents(id, 1, "pod-a", presented, Batch());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, core::ErrorCode::kUnauthenticated);
    EXPECT_EQ(refused.error().message.find(token), std::string::npos);
  }
  EXPECT_TRUE(StoredTypes(id).empty());
  // Nobody claimed the attempt either: the real pod still can.
  EXPECT_TRUE(scheduler.IngestRunnerEvents(id, 1, "pod-b", token, Batch()).ok());
}

TEST_F(IngestTest, AnUnknownRunIsNotFound) {
  auto& scheduler = StartScheduler();

  auto missing =
      scheduler.IngestRunnerEvents("run-00000000000000000000000000", 1, "pod-a", "t", Batch());

  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
}

TEST_F(IngestTest, AStaleAttemptIsFenced) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);

  for (int attempt : {0, 2}) {
    auto fenced = scheduler.IngestRunnerEvents(id, attempt, "pod-a", token, Batch());
    ASSERT_FALSE(fenced.ok());
    EXPECT_EQ(fenced.error().code, core::ErrorCode::kFailedPrecondition);
    EXPECT_EQ(fenced.error().reason, "attempt_fenced");
  }
  EXPECT_TRUE(StoredTypes(id).empty());
}

TEST_F(IngestTest, ASecondInstanceOfTheAttemptIsFencedAndTheFirstGoesOn) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(scheduler.IngestRunnerEvents(id, 1, "pod-a", token, Batch()).ok());

  // Kubernetes started a second pod for the same Job: same Secret, same attempt.
  auto second = scheduler.IngestRunnerEvents(
      id, 1, "pod-b", token, {Event(1, "message", {{"role", "assistant"}, {"content", "dup"}})});

  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(second.error().reason, "attempt_fenced");
  EXPECT_NE(second.error().message.find("another runner instance"), std::string::npos);
  auto first = scheduler.IngestRunnerEvents(
      id, 1, "pod-a", token, {Event(4, "message", {{"role", "assistant"}, {"content", "more"}})});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(StoredTypes(id), (std::vector<std::string>{"message", "usage", "message"}));
}

TEST_F(IngestTest, TheClaimOutlivesARestartOfTheControlPlane) {
  std::string id;
  std::string token;
  {
    auto& first = StartScheduler();
    std::tie(id, token) = StartRun(first);
    ASSERT_TRUE(first.IngestRunnerEvents(id, 1, "pod-a", token, Batch()).ok());
    first.Shutdown();
  }
  auto& second = MakeScheduler();
  executor_->SetAlive(id);
  ASSERT_TRUE(second.Recover().ok());
  second.Start();

  auto intruder = second.IngestRunnerEvents(
      id, 1, "pod-b", token, {Event(4, "message", {{"role", "assistant"}, {"content", "x"}})});
  auto owner = second.IngestRunnerEvents(
      id, 1, "pod-a", token, {Event(4, "message", {{"role", "assistant"}, {"content", "y"}})});

  ASSERT_FALSE(intruder.ok());
  EXPECT_EQ(intruder.error().reason, "attempt_fenced");
  ASSERT_TRUE(owner.ok()) << owner.error().message;
}

TEST_F(IngestTest, AFinishedRunRefusesEventsWithRunFinished) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(scheduler.Cancel(id, "alice").ok());
  scheduler.OnExit(id, 1, StoppedBy(StopReason::kCancelled));
  ASSERT_EQ(Get(id).phase, Phase::kCancelled);

  auto late = scheduler.IngestRunnerEvents(id, 1, "pod-a", token, Batch());

  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(late.error().reason, "run_finished");
}

TEST_F(IngestTest, AnExitWithoutAResultUsesTheResultEventThatCameOverHttp) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(
      scheduler
          .IngestRunnerEvents(
              id, 1, "pod-a", token,
              {Event(1, "phase", {{"phase", "Running"}}),
               Event(2, "result",
                     {{"status", "succeeded"}, {"result", "the answer"}, {"reason", "Completed"}})})
          .ok());

  // The Kubernetes executor saw the Job complete: exit code 0, no result of its own.
  ExitInfo job_complete;
  job_complete.exit_code = 0;
  scheduler.OnExit(id, 1, job_complete);

  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kSucceeded);
  EXPECT_EQ(run.reason, "Completed");
  EXPECT_EQ(run.result, "the answer");
}

TEST_F(IngestTest, AFailedResultOverHttpGivesTheRunnersReason) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(scheduler
                  .IngestRunnerEvents(id, 1, "pod-a", token,
                                      {Event(7, "result",
                                             {{"status", "failed"},
                                              {"result", "partial"},
                                              {"error", "too many turns"},
                                              {"reason", "MaxTurnsExceeded"}})})
                  .ok());
  ExitInfo job_failed;
  job_failed.exit_code = 1;

  scheduler.OnExit(id, 1, job_failed);

  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kFailed);
  EXPECT_EQ(run.reason, "MaxTurnsExceeded");
  EXPECT_EQ(run.error, "too many turns");
  EXPECT_EQ(run.result, "partial");
}

TEST_F(IngestTest, AfterARestartTheResultIsFoundInTheLog) {
  std::string id;
  std::string token;
  {
    auto& first = StartScheduler();
    std::tie(id, token) = StartRun(first);
    ASSERT_TRUE(first
                    .IngestRunnerEvents(
                        id, 1, "pod-a", token,
                        {Event(1, "result", {{"status", "succeeded"}, {"result", "done before"}})})
                    .ok());
    first.Shutdown();
  }
  auto& second = MakeScheduler();
  ASSERT_TRUE(second.Recover().ok());  // the executor finds the Job finished...
  second.Start();
  ExitInfo job_complete;
  job_complete.exit_code = 0;

  second.OnExit(id, 1, job_complete);  // ...and reports it without a result

  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kSucceeded);
  EXPECT_EQ(run.result, "done before");
}

TEST_F(IngestTest, AnExitWithoutAnyResultStillFailsAsBefore) {
  auto& scheduler = StartScheduler();
  auto [id, token] = StartRun(scheduler);
  ASSERT_TRUE(
      scheduler
          .IngestRunnerEvents(id, 1, "pod-a", token,
                              {Event(1, "message", {{"role", "assistant"}, {"content", "hm"}})})
          .ok());
  ExitInfo crashed;
  crashed.exit_code = 137;

  scheduler.OnExit(id, 1, crashed);

  runs::Run run = Get(id);
  EXPECT_EQ(run.phase, Phase::kFailed);
  EXPECT_EQ(run.reason, "RunnerExited");
}

TEST_F(IngestTest, AResultOfAnEarlierAttemptIsNotTakenForTheCurrentOnesResult) {
  // Attempt 1 left a result in the log, then the run went back to the queue (its executor was
  // unavailable) and was claimed again.
  const runs::Run run = StoredRun("developer", Phase::kStarting);
  ASSERT_TRUE(store_
                  ->AppendEvents(run.id, {{.type = "result",
                                           .data = {{"status", "succeeded"}, {"result", "old"}},
                                           .runner_seq = 9}})
                  .ok());
  ASSERT_TRUE(
      store_->TransitionRun(run.id, {.to = Phase::kQueued, .reason = "ExecutorUnavailable"}).ok());
  ASSERT_TRUE(
      store_
          ->TransitionRun(
              run.id, {.to = Phase::kStarting, .reason = "Dispatched", .increment_attempts = true})
          .ok());
  auto& scheduler = MakeScheduler();
  executor_->SetAlive(run.id);
  ASSERT_TRUE(scheduler.Recover().ok());
  scheduler.Start();
  ExitInfo crashed;
  crashed.exit_code = 1;

  scheduler.OnExit(run.id, 2, crashed);

  runs::Run now = Get(run.id);
  EXPECT_EQ(now.phase, Phase::kFailed);
  EXPECT_EQ(now.reason, "RunnerExited");
  EXPECT_EQ(now.result, "");
}

}  // namespace
}  // namespace agentd::scheduler
