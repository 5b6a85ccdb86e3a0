#include "exec/kubernetes/job_status.h"

#include <gtest/gtest.h>

#include "core/time.h"

namespace agentd::exec::kubernetes {
namespace {

using core::Json;
using namespace std::chrono_literals;

const core::TimePoint kCreated = core::TimePoint(std::chrono::seconds(1'800'000'000));

Json Job(Json conditions = Json::array()) {
  return Json{{"metadata", {{"name", "agentd-run-1"}}}, {"status", {{"conditions", conditions}}}};
}

Json Condition(const char* type, const char* status, const char* reason = "",
               const char* message = "") {
  return Json{{"type", type}, {"status", status}, {"reason", reason}, {"message", message}};
}

Json Pod(const char* name, const char* phase, core::TimePoint created = kCreated) {
  return Json{{"metadata", {{"name", name}, {"creationTimestamp", core::FormatRfc3339(created)}}},
              {"status", {{"phase", phase}}}};
}

Json Terminated(const char* reason, int exit_code, const char* message = "") {
  return Json{
      {"name", "runner"},
      {"state",
       {{"terminated", {{"reason", reason}, {"exitCode", exit_code}, {"message", message}}}}}};
}

Json Waiting(const char* name, const char* reason, const char* message = "") {
  return Json{{"name", name}, {"state", {{"waiting", {{"reason", reason}, {"message", message}}}}}};
}

const StuckPodGrace kGrace{300s, 600s};

TEST(EvaluateAttemptTest, CompleteJobExitsWithCodeZero) {
  auto s =
      EvaluateAttempt(Job({Condition("SuccessCriteriaMet", "True"), Condition("Complete", "True")}),
                      {}, kCreated, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kFinished);
  EXPECT_EQ(s.exit.exit_code, 0);
  EXPECT_TRUE(s.exit.reason.empty());
  EXPECT_FALSE(s.exit.stopped);
}

TEST(EvaluateAttemptTest, ConditionsThatAreNotTrueDoNotFinishTheJob) {
  auto s = EvaluateAttempt(Job({Condition("Complete", "False"), Condition("Failed", "Unknown")}),
                           {Pod("p", "Running")}, kCreated, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kActive);
  EXPECT_FALSE(s.recheck_at);
}

TEST(EvaluateAttemptTest, DeadlineExceededIsAStopForTheDeadline) {
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "DeadlineExceeded",
                                          "Job was active longer than specified "
                                          "deadline")}),
                           {Pod("p", "Failed")}, kCreated, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kFinished);
  ASSERT_TRUE(s.exit.stopped);
  EXPECT_EQ(*s.exit.stopped, StopReason::kDeadlineExceeded);
  EXPECT_EQ(s.exit.reason, "DeadlineExceeded");
  EXPECT_NE(s.exit.detail.find("longer than specified deadline"), std::string::npos);
}

TEST(EvaluateAttemptTest, OomKilledRunnerReportsOomKilledAndItsExitCode) {
  Json pod = Pod("agentd-run-1-x", "Failed");
  pod["status"]["containerStatuses"] = Json::array({Terminated("OOMKilled", 137)});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded")}), {pod},
                           kCreated, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kFinished);
  EXPECT_EQ(s.exit.reason, "OOMKilled");
  EXPECT_EQ(s.exit.exit_code, 137);
  EXPECT_NE(s.exit.detail.find("agentd-run-1-x"), std::string::npos) << s.exit.detail;
}

TEST(EvaluateAttemptTest, RunnerErrorIsAPlainExitCodeWithItsMessage) {
  Json pod = Pod("p", "Failed");
  pod["status"]["containerStatuses"] =
      Json::array({Terminated("Error", 3, "runner: cannot reach the API")});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded")}), {pod},
                           kCreated, kGrace);
  EXPECT_EQ(s.exit.exit_code, 3);
  EXPECT_TRUE(s.exit.reason.empty());
  EXPECT_NE(s.exit.detail.find("cannot reach the API"), std::string::npos);
}

TEST(EvaluateAttemptTest, EvictedPodReportsEvicted) {
  Json pod = Pod("p", "Failed");
  pod["status"]["reason"] = "Evicted";
  pod["status"]["message"] = "The node was low on resource: memory.";
  pod["status"]["containerStatuses"] = Json::array({Terminated("Error", 137)});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded")}), {pod},
                           kCreated, kGrace);
  EXPECT_EQ(s.exit.reason, "Evicted");
  EXPECT_NE(s.exit.detail.find("low on resource"), std::string::npos);
}

TEST(EvaluateAttemptTest, DisruptionTargetMeansEvictedOrPreempted) {
  Json pod = Pod("p", "Failed");
  pod["status"]["conditions"] =
      Json::array({Condition("DisruptionTarget", "True", "EvictionByEvictionAPI", "drain")});
  Json failed = Job({Condition("Failed", "True", "BackoffLimitExceeded")});
  EXPECT_EQ(EvaluateAttempt(failed, {pod}, kCreated, kGrace).exit.reason, "Evicted");
  pod["status"]["conditions"][0]["reason"] = "PreemptionByScheduler";
  EXPECT_EQ(EvaluateAttempt(failed, {pod}, kCreated, kGrace).exit.reason, "Preempted");
}

TEST(EvaluateAttemptTest, FailedWeightsInitContainerIsNamed) {
  Json pod = Pod("p", "Failed");
  Json init = Terminated("Error", 1, "sha256sum: WARNING: 1 computed checksum did NOT match");
  init["name"] = "fetch-weights";
  pod["status"]["initContainerStatuses"] = Json::array({init});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded")}), {pod},
                           kCreated, kGrace);
  EXPECT_EQ(s.exit.reason, "ModelWeightsFetchFailed");
  EXPECT_EQ(s.exit.exit_code, 1);
  EXPECT_NE(s.exit.detail.find("checksum"), std::string::npos);
}

TEST(EvaluateAttemptTest, FailedJobWithoutPodsKeepsTheJobsReason) {
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded",
                                          "Job has reached the specified "
                                          "backoff limit")}),
                           {}, kCreated, kGrace);
  EXPECT_EQ(s.exit.reason, "BackoffLimitExceeded");
  EXPECT_NE(s.exit.detail.find("backoff limit"), std::string::npos);
  auto odd = EvaluateAttempt(Job({Condition("Failed", "True", "no good")}), {}, kCreated, kGrace);
  EXPECT_EQ(odd.exit.reason, "JobFailed");
}

TEST(EvaluateAttemptTest, FailedJobWhosePodStillLooksAliveSaysItsStatusIsPending) {
  Json failed = Job({Condition("Failed", "True", "BackoffLimitExceeded")});
  auto lagging = EvaluateAttempt(failed, {Pod("p", "Running")}, kCreated, kGrace);
  EXPECT_EQ(lagging.state, AttemptStatus::State::kFinished);
  EXPECT_TRUE(lagging.pod_status_pending);
  EXPECT_EQ(lagging.exit.reason, "BackoffLimitExceeded");
  // No pod seen yet (the pod watch lags the Job watch): its status may still come.
  EXPECT_TRUE(EvaluateAttempt(failed, {}, kCreated, kGrace).pod_status_pending);
  Json oom = Pod("p", "Failed");
  oom["status"]["containerStatuses"] = Json::array({Terminated("OOMKilled", 137)});
  EXPECT_FALSE(EvaluateAttempt(failed, {oom}, kCreated, kGrace).pod_status_pending);
}

TEST(EvaluateAttemptTest, TheFailedPodWinsOverAnotherOne) {
  Json ok = Pod("a", "Succeeded", kCreated + 10s);
  ok["status"]["containerStatuses"] = Json::array({Terminated("Completed", 0)});
  Json oom = Pod("b", "Failed", kCreated);
  oom["status"]["containerStatuses"] = Json::array({Terminated("OOMKilled", 137)});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "BackoffLimitExceeded")}), {ok, oom},
                           kCreated, kGrace);
  EXPECT_EQ(s.exit.reason, "OOMKilled");
}

TEST(EvaluateAttemptTest, ImagePullBackOffWithinTheGraceWaitsUntilItEnds) {
  Json pod = Pod("p", "Pending");
  pod["status"]["containerStatuses"] =
      Json::array({Waiting("runner", "ImagePullBackOff", "Back-off pulling image \"x\"")});
  auto s = EvaluateAttempt(Job(), {pod}, kCreated + 100s, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kActive);
  ASSERT_TRUE(s.recheck_at);
  EXPECT_EQ(*s.recheck_at, kCreated + 300s);
}

TEST(EvaluateAttemptTest, ImagePullBackOffBeyondTheGraceIsStuck) {
  Json pod = Pod("p", "Pending");
  pod["status"]["containerStatuses"] =
      Json::array({Waiting("runner", "ImagePullBackOff", "Back-off pulling image \"x\"")});
  auto s = EvaluateAttempt(Job(), {pod}, kCreated + 300s, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kStuck);
  EXPECT_EQ(s.exit.reason, "ImagePullBackOff");
  EXPECT_NE(s.exit.detail.find("Back-off pulling image"), std::string::npos);
  EXPECT_NE(s.exit.detail.find("300s"), std::string::npos);
}

TEST(EvaluateAttemptTest, StuckInitContainerCountsToo) {
  Json pod = Pod("p", "Pending");
  pod["status"]["initContainerStatuses"] =
      Json::array({Waiting("fetch-weights", "CreateContainerConfigError", "secret not found")});
  auto s = EvaluateAttempt(Job(), {pod}, kCreated + 301s, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kStuck);
  EXPECT_EQ(s.exit.reason, "CreateContainerConfigError");
}

TEST(EvaluateAttemptTest, UnschedulableCountsFromTheConditionsTransition) {
  Json pod = Pod("p", "Pending");
  Json scheduled = Condition("PodScheduled", "False", "Unschedulable",
                             "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
  scheduled["lastTransitionTime"] = core::FormatRfc3339(kCreated + 60s);
  pod["status"]["conditions"] = Json::array({scheduled});
  auto within = EvaluateAttempt(Job(), {pod}, kCreated + 600s, kGrace);
  EXPECT_EQ(within.state, AttemptStatus::State::kActive);
  ASSERT_TRUE(within.recheck_at);
  EXPECT_EQ(*within.recheck_at, kCreated + 660s);
  auto beyond = EvaluateAttempt(Job(), {pod}, kCreated + 660s, kGrace);
  EXPECT_EQ(beyond.state, AttemptStatus::State::kStuck);
  EXPECT_EQ(beyond.exit.reason, "Unschedulable");
  EXPECT_NE(beyond.exit.detail.find("Insufficient nvidia.com/gpu"), std::string::npos);
}

TEST(EvaluateAttemptTest, OrdinaryWaitingAndRunningPodsAreNotStuck) {
  Json creating = Pod("a", "Pending");
  creating["status"]["containerStatuses"] = Json::array({Waiting("runner", "ContainerCreating")});
  Json running = Pod("b", "Running");
  auto s = EvaluateAttempt(Job(), {creating, running}, kCreated + 3600s, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kActive);
  EXPECT_FALSE(s.recheck_at);
}

TEST(EvaluateAttemptTest, TerminatingPodsAreNotStuck) {
  Json pod = Pod("p", "Pending");
  pod["metadata"]["deletionTimestamp"] = core::FormatRfc3339(kCreated + 1s);
  pod["status"]["containerStatuses"] = Json::array({Waiting("runner", "ErrImagePull")});
  EXPECT_EQ(EvaluateAttempt(Job(), {pod}, kCreated + 3600s, kGrace).state,
            AttemptStatus::State::kActive);
}

TEST(EvaluateAttemptTest, AFinishedJobIsNotStuck) {
  Json pod = Pod("p", "Pending");
  pod["status"]["containerStatuses"] = Json::array({Waiting("runner", "ImagePullBackOff")});
  auto s = EvaluateAttempt(Job({Condition("Failed", "True", "DeadlineExceeded")}), {pod},
                           kCreated + 3600s, kGrace);
  EXPECT_EQ(s.state, AttemptStatus::State::kFinished);
  EXPECT_EQ(s.exit.reason, "DeadlineExceeded");
}

TEST(PodFailureExitTest, RunningPodHasNoExit) {
  EXPECT_FALSE(PodFailureExit(Pod("p", "Running")));
  EXPECT_FALSE(PodFailureExit(Json::object()));
}

TEST(PodFailureExitTest, SignalIsKept) {
  Json pod = Pod("p", "Failed");
  Json t = Terminated("Error", 143);
  t["state"]["terminated"]["signal"] = 15;
  pod["status"]["containerStatuses"] = Json::array({t});
  auto exit = PodFailureExit(pod);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->term_signal, 15);
  EXPECT_EQ(exit->exit_code, 143);
}

TEST(IsStuckWaitingReasonTest, KnowsTheReasonsAPodDoesNotRecoverFrom) {
  for (const char* r :
       {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}) {
    EXPECT_TRUE(IsStuckWaitingReason(r)) << r;
  }
  EXPECT_FALSE(IsStuckWaitingReason("ContainerCreating"));
  EXPECT_FALSE(IsStuckWaitingReason("PodInitializing"));
}

}  // namespace
}  // namespace agentd::exec::kubernetes
