#include "runs/run.h"

#include <gtest/gtest.h>

namespace agentd::runs {
namespace {

const Phase kAll[] = {Phase::kPending,   Phase::kAwaitingApproval, Phase::kQueued,
                      Phase::kStarting,  Phase::kRunning,          Phase::kSucceeded,
                      Phase::kFailed,    Phase::kTimedOut,         Phase::kCancelled,
                      Phase::kRejected};

TEST(RunPhaseTest, TerminalPhasesNeverChange) {
  for (Phase from : kAll) {
    if (!IsTerminal(from)) continue;
    for (Phase to : kAll) EXPECT_FALSE(CanTransition(from, to)) << PhaseName(from);
  }
}

TEST(RunPhaseTest, TheHappyPathIsAllowed) {
  EXPECT_TRUE(CanTransition(Phase::kPending, Phase::kQueued));
  EXPECT_TRUE(CanTransition(Phase::kQueued, Phase::kStarting));
  EXPECT_TRUE(CanTransition(Phase::kStarting, Phase::kRunning));
  EXPECT_TRUE(CanTransition(Phase::kRunning, Phase::kSucceeded));
}

TEST(RunPhaseTest, RunsDoNotGoBackwardsExceptARequeueFromStarting) {
  EXPECT_FALSE(CanTransition(Phase::kRunning, Phase::kQueued));
  EXPECT_FALSE(CanTransition(Phase::kRunning, Phase::kStarting));
  EXPECT_FALSE(CanTransition(Phase::kQueued, Phase::kRunning));
  EXPECT_TRUE(CanTransition(Phase::kStarting, Phase::kQueued));
  EXPECT_FALSE(CanTransition(Phase::kQueued, Phase::kQueued));
}

TEST(RunPhaseTest, ApprovalGatesTheQueue) {
  EXPECT_TRUE(CanTransition(Phase::kAwaitingApproval, Phase::kQueued));
  EXPECT_TRUE(CanTransition(Phase::kAwaitingApproval, Phase::kRejected));
  EXPECT_FALSE(CanTransition(Phase::kAwaitingApproval, Phase::kStarting));
}

TEST(RunPhaseTest, PhaseNamesRoundTrip) {
  for (Phase p : kAll) EXPECT_EQ(*ParsePhase(PhaseName(p)), p);
  EXPECT_FALSE(ParsePhase("queued").ok());
}

TEST(RunJsonTest, RendersTheApiShape) {
  runs::Run run;
  run.id = "run-x";
  run.agent = "developer";
  run.usage.cost_micros = 1500;
  core::Json j = RunToJson(run);
  EXPECT_EQ(j["phase"], "Queued");
  EXPECT_EQ(j["usage"]["costUsd"], "0.0015");
  EXPECT_TRUE(j["startedAt"].is_null());
  EXPECT_TRUE(j["result"].is_null());
}

}  // namespace
}  // namespace agentd::runs
