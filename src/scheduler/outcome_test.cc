#include "scheduler/outcome.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace agentd::scheduler {
namespace {

using exec::ExitInfo;
using exec::StopReason;
using runs::Phase;

ExitInfo WithResult(core::Json result, int exit_code = 0) {
  ExitInfo exit;
  exit.result = std::move(result);
  exit.exit_code = exit_code;
  return exit;
}

TEST(DecideOutcomeTest, SucceededResultSucceedsWithTheAnswer) {
  auto o = DecideOutcome(WithResult({{"status", "succeeded"}, {"result", "42"}}));
  EXPECT_EQ(o.phase, Phase::kSucceeded);
  EXPECT_EQ(o.reason, "Completed");
  EXPECT_EQ(o.result, "42");
  EXPECT_TRUE(o.error.empty());
}

TEST(DecideOutcomeTest, SucceededResultWinsOverARacingStop) {
  auto exit = WithResult({{"status", "succeeded"}, {"result", "done"}});
  exit.stopped = StopReason::kCancelled;
  EXPECT_EQ(DecideOutcome(exit).phase, Phase::kSucceeded);
}

TEST(DecideOutcomeTest, FailedResultKeepsTheRunnersReasonAndError) {
  auto o = DecideOutcome(
      WithResult({{"status", "failed"}, {"reason", "MaxTurnsExceeded"}, {"error", "20 turns"}}, 1));
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "MaxTurnsExceeded");
  EXPECT_EQ(o.error, "20 turns");
}

TEST(DecideOutcomeTest, BudgetExceededResultFailsWithTheRunnersErrorAndKeepsThePartialAnswer) {
  std::string why =
      "model call 2 was not made: the run has spent 0.002 USD and the call could cost up to "
      "0.0016 USD, which would exceed its allowance of 0.003 USD";
  auto o = DecideOutcome(WithResult({{"status", "failed"},
                                     {"reason", "BudgetExceeded"},
                                     {"error", why},
                                     {"result", "Let me look around first."}},
                                    1));
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "BudgetExceeded");
  EXPECT_EQ(o.error, why);
  EXPECT_EQ(o.message, why);
  EXPECT_EQ(o.result, "Let me look around first.");
}

TEST(DecideOutcomeTest, FailedResultWithoutAnAnswerHasAnEmptyResult) {
  auto o = DecideOutcome(WithResult({{"status", "failed"}, {"reason", "ModelError"}}, 1));
  EXPECT_EQ(o.reason, "ModelError");
  EXPECT_TRUE(o.result.empty());
}

TEST(DecideOutcomeTest, StoppedRunsKeepThePartialAnswerOfTheirResult) {
  auto exit = WithResult({{"status", "failed"}, {"reason", "TimedOut"}, {"result", "half"}}, 1);
  exit.stopped = StopReason::kDeadlineExceeded;
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.phase, Phase::kTimedOut);
  EXPECT_EQ(o.result, "half");
  exit.stopped = StopReason::kCancelled;
  EXPECT_EQ(DecideOutcome(exit).result, "half");
}

TEST(DecideOutcomeTest, FailedResultWithAnOddReasonGetsAgentFailed) {
  auto o = DecideOutcome(WithResult({{"status", "failed"}, {"reason", "not camel; drop table"}}));
  EXPECT_EQ(o.reason, "AgentFailed");
  EXPECT_EQ(o.error, "the agent failed");
}

TEST(DecideOutcomeTest, UnknownResultStatusIsAnInvalidResult) {
  auto o = DecideOutcome(WithResult({{"status", "maybe"}}));
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "InvalidResult");
  EXPECT_NE(o.error.find("maybe"), std::string::npos);
}

TEST(DecideOutcomeTest, CancelledStopIsCancelledEvenWithAFailedResult) {
  auto exit = WithResult({{"status", "failed"}, {"error", "interrupted"}});
  exit.stopped = StopReason::kCancelled;
  EXPECT_EQ(DecideOutcome(exit).phase, Phase::kCancelled);
}

TEST(DecideOutcomeTest, DeadlineStopIsTimedOut) {
  ExitInfo exit;
  exit.term_signal = SIGTERM;
  exit.stopped = StopReason::kDeadlineExceeded;
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.phase, Phase::kTimedOut);
  EXPECT_EQ(o.reason, "DeadlineExceeded");
}

TEST(DecideOutcomeTest, SignalWithoutResultSaysWhichSignal) {
  ExitInfo exit;
  exit.term_signal = SIGKILL;
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "RunnerKilled");
  EXPECT_EQ(o.message.rfind("runner killed by signal 9 (SIGKILL)", 0), 0u) << o.message;
}

TEST(DecideOutcomeTest, ExitCodeWithoutResultFails) {
  ExitInfo exit;
  exit.exit_code = 0;
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "RunnerExited");
  EXPECT_NE(o.message.find("code 0"), std::string::npos);
}

TEST(DecideOutcomeTest, NothingKnownIsAProcessLostWithTheDetail) {
  ExitInfo exit;
  exit.detail = "runner process disappeared while agentd was down";
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.phase, Phase::kFailed);
  EXPECT_EQ(o.reason, "ProcessLost");
  EXPECT_EQ(o.error, exit.detail);
}

TEST(DecideOutcomeTest, ExecutorReasonWithoutResultFailsWithThatReasonAndDetail) {
  for (const char* reason : {"OOMKilled", "Evicted", "ImagePullBackOff", "Unschedulable"}) {
    ExitInfo exit;
    exit.exit_code = 137;
    exit.reason = reason;
    exit.detail = std::string("pod agentd-x-1: ") + reason;
    auto o = DecideOutcome(exit);
    EXPECT_EQ(o.phase, Phase::kFailed) << reason;
    EXPECT_EQ(o.reason, reason);
    EXPECT_EQ(o.error, exit.detail);
    EXPECT_EQ(o.message, exit.detail);
  }
}

TEST(DecideOutcomeTest, ExecutorReasonWithoutDetailStillExplains) {
  ExitInfo exit;
  exit.reason = "Evicted";
  auto o = DecideOutcome(exit);
  EXPECT_EQ(o.reason, "Evicted");
  EXPECT_NE(o.error.find("Evicted"), std::string::npos);
}

TEST(DecideOutcomeTest, ExecutorReasonDoesNotOverrideAResultOrAStop) {
  auto with_result = WithResult({{"status", "succeeded"}, {"result", "ok"}});
  with_result.reason = "OOMKilled";
  EXPECT_EQ(DecideOutcome(with_result).phase, Phase::kSucceeded);

  auto failed = WithResult({{"status", "failed"}, {"reason", "ModelError"}}, 1);
  failed.reason = "Evicted";
  EXPECT_EQ(DecideOutcome(failed).reason, "ModelError");

  ExitInfo stopped;
  stopped.reason = "DeadlineExceeded";
  stopped.stopped = StopReason::kDeadlineExceeded;
  EXPECT_EQ(DecideOutcome(stopped).phase, Phase::kTimedOut);
}

TEST(DecideOutcomeTest, MalformedExecutorReasonIsIgnored) {
  ExitInfo exit;
  exit.exit_code = 2;
  exit.reason = "not camel";
  EXPECT_EQ(DecideOutcome(exit).reason, "RunnerExited");
}

TEST(DecideOutcomeTest, ResultFoundInTheJournalOfAGoneRunnerCounts) {
  ExitInfo exit;
  exit.result = core::Json{{"status", "succeeded"}, {"result", "r"}};
  exit.detail = "runner finished while agentd was down";
  EXPECT_EQ(DecideOutcome(exit).phase, Phase::kSucceeded);
}

TEST(IsCamelCaseReasonTest, AcceptsOnlyShortCamelCaseWords) {
  EXPECT_TRUE(IsCamelCaseReason("BudgetExceeded"));
  EXPECT_TRUE(IsCamelCaseReason("Http429"));
  EXPECT_FALSE(IsCamelCaseReason("lowerCase"));
  EXPECT_FALSE(IsCamelCaseReason("Has Space"));
  EXPECT_FALSE(IsCamelCaseReason(""));
  EXPECT_FALSE(IsCamelCaseReason(std::string(65, 'A')));
}

}  // namespace
}  // namespace agentd::scheduler
