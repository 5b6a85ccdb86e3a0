#include "operator/run_status.h"

#include <gtest/gtest.h>

#include "operator/conditions.h"

namespace agentd::operator_ {
namespace {

using core::Json;
using namespace std::chrono_literals;

const core::TimePoint kT0 = core::TimePoint(std::chrono::seconds(1'800'000'000));

Json RunObject(Json spec = {{"agent", "triage"}, {"input", "look at #12"}}) {
  return {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", "Run"},
          {"metadata",
           {{"name", "fix-12"},
            {"namespace", "team-a"},
            {"uid", "0b7d6c1e-1111-2222-3333-444455556666"},
            {"generation", 1}}},
          {"spec", std::move(spec)}};
}

runs::Run MakeRun(runs::Phase phase) {
  runs::Run run;
  run.id = "run_01";
  run.agent = "triage";
  run.phase = phase;
  run.created_at = kT0;
  return run;
}

const Json* Cond(const Json& status, const std::string& type) {
  return FindCondition(status["conditions"], type);
}

// --- SubmitRequestFor ----------------------------------------------------------------------

TEST(SubmitRequestForTest, MapsTheSpecAndKeysTheRequestOnTheUid) {
  Json spec = {{"agent", "triage"}, {"input", "look at #12"}, {"parameters", {{"repo", "x"}}},
               {"priority", 7},     {"deadlineSeconds", 600}, {"labels", {{"team", "infra"}}}};
  auto request = SubmitRequestFor(RunObject(spec));
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->agent, "triage");
  EXPECT_EQ(request->input, "look at #12");
  EXPECT_EQ(request->parameters, (Json{{"repo", "x"}}));
  EXPECT_EQ(request->priority, 7);
  EXPECT_EQ(request->deadline, std::chrono::seconds(600));
  // The user's labels, and the Run the run belongs to.
  EXPECT_EQ(request->labels,
            (std::map<std::string, std::string>{
                {"team", "infra"},
                {runs::kRunObjectNameLabel, "fix-12"},
                {runs::kRunObjectNamespaceLabel, "team-a"},
                {runs::kRunObjectUidLabel, "0b7d6c1e-1111-2222-3333-444455556666"}}));
  EXPECT_EQ(request->idempotency_key, "k8s-0b7d6c1e-1111-2222-3333-444455556666");
  EXPECT_EQ(request->source, runs::Source::kKubectl);
  EXPECT_EQ(request->caller, "kubernetes:team-a");
}

TEST(SubmitRequestForTest, LabelsUnderTheReservedPrefixAreRefused) {
  auto request = SubmitRequestFor(
      RunObject({{"agent", "triage"}, {"labels", {{runs::kRunObjectUidLabel, "someone-else"}}}}));
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(request.error().message.find("reserved"), std::string::npos) << request.error().message;
}

TEST(SubmitRequestForTest, ZeroDeadlineMeansTheAgentsAndAnExplicitKeyIsUsedAsIs) {
  auto request = SubmitRequestFor(
      RunObject({{"agent", "triage"}, {"deadlineSeconds", 0}, {"idempotencyKey", "nightly-1"}}));
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->deadline, std::nullopt);
  EXPECT_EQ(request->idempotency_key, "nightly-1");
}

TEST(SubmitRequestForTest, RefusesASpecAgentdCannotRunNamingTheField) {
  auto no_agent = SubmitRequestFor(RunObject({{"input", "x"}}));
  ASSERT_FALSE(no_agent.ok());
  EXPECT_EQ(no_agent.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(no_agent.error().message.find("spec.agent"), std::string::npos);

  auto priority = SubmitRequestFor(RunObject({{"agent", "a"}, {"priority", "high"}}));
  ASSERT_FALSE(priority.ok());
  EXPECT_NE(priority.error().message.find("spec.priority"), std::string::npos);

  auto label = SubmitRequestFor(RunObject({{"agent", "a"}, {"labels", {{"bad key!", "v"}}}}));
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.error().message.find("label key"), std::string::npos);

  auto agent = SubmitRequestFor(RunObject({{"agent", "Not_A_Label"}}));
  EXPECT_FALSE(agent.ok());
}

// --- finalizers ----------------------------------------------------------------------------

TEST(FinalizerTest, AddsOnceAndRemovesOnlyOurs) {
  Json object = RunObject();
  object["metadata"]["finalizers"] = {"other.io/keep"};
  EXPECT_FALSE(HasFinalizer(object, kRunFinalizer));
  Json with = WithFinalizer(object, kRunFinalizer);
  EXPECT_TRUE(HasFinalizer(with, kRunFinalizer));
  EXPECT_EQ(WithFinalizer(with, kRunFinalizer), with);
  EXPECT_EQ(with["metadata"]["finalizers"], (Json{"other.io/keep", kRunFinalizer}));
  Json without = WithoutFinalizer(with, kRunFinalizer);
  EXPECT_EQ(without["metadata"]["finalizers"], (Json{"other.io/keep"}));
  EXPECT_FALSE(IsBeingDeleted(without));
  without["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:00Z";
  EXPECT_TRUE(IsBeingDeleted(without));
}

// --- RunStatusFor --------------------------------------------------------------------------

TEST(RunStatusForTest, AQueuedRunShowsItsIdPhaseAndAcceptedCondition) {
  runs::Run run = MakeRun(runs::Phase::kQueued);
  Json status = RunStatusFor(Json::object(), run, 3, kT0 + 5s);
  EXPECT_EQ(status["phase"], "Queued");
  EXPECT_EQ(status["runId"], "run_01");
  EXPECT_EQ(status["observedGeneration"], 3);
  EXPECT_EQ(status["attempts"], 0);
  const Json* accepted = Cond(status, "Accepted");
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ((*accepted)["status"], "True");
  const Json* queued = Cond(status, "Queued");
  ASSERT_NE(queued, nullptr);
  EXPECT_EQ((*queued)["status"], "True");
  EXPECT_EQ((*queued)["observedGeneration"], 3);
  EXPECT_EQ((*queued)["lastTransitionTime"], kube::FormatTime(kT0));
  EXPECT_FALSE(status.contains("finishedAt"));
  EXPECT_EQ(status["usage"]["costUsd"], core::FormatUsd(0));
}

TEST(RunStatusForTest, ComputingTheSameStatusTwiceGivesTheSameJson) {
  runs::Run run = MakeRun(runs::Phase::kRunning);
  run.started_at = kT0 + 1s;
  Json first = RunStatusFor(Json::object(), run, 1, kT0 + 2s);
  Json second = RunStatusFor(first, run, 1, kT0 + 90s);
  EXPECT_EQ(first, second);
}

TEST(RunStatusForTest, ASucceededRunHasSucceededTrueAndLeavesEarlierPhasesFalse) {
  runs::Run run = MakeRun(runs::Phase::kRunning);
  run.started_at = kT0 + 1s;
  Json running = RunStatusFor(Json::object(), run, 1, kT0 + 2s);

  run.phase = runs::Phase::kSucceeded;
  run.reason = "Completed";
  run.message = "the agent finished";
  run.finished_at = kT0 + 60s;
  run.attempts = 1;
  run.usage = {.input_tokens = 1200, .output_tokens = 300, .cost_micros = 3805, .model_calls = 2};
  run.result = "done";
  run.executor_handle = {{"job", "run-01"}};
  Json done = RunStatusFor(running, run, 1, kT0 + 61s);

  EXPECT_EQ(done["phase"], "Succeeded");
  const Json* succeeded = Cond(done, "Succeeded");
  ASSERT_NE(succeeded, nullptr);
  EXPECT_EQ((*succeeded)["status"], "True");
  EXPECT_EQ((*succeeded)["reason"], "Completed");
  EXPECT_EQ((*succeeded)["message"], "the agent finished");
  EXPECT_EQ((*succeeded)["observedGeneration"], 1);
  EXPECT_EQ((*succeeded)["lastTransitionTime"], kube::FormatTime(kT0 + 60s));
  const Json* was_running = Cond(done, "Running");
  ASSERT_NE(was_running, nullptr);
  EXPECT_EQ((*was_running)["status"], "False");
  EXPECT_EQ((*was_running)["reason"], "Succeeded");
  EXPECT_EQ(done["startedAt"], kube::FormatTime(kT0 + 1s));
  EXPECT_EQ(done["finishedAt"], kube::FormatTime(kT0 + 60s));
  EXPECT_EQ(done["attempts"], 1);
  EXPECT_EQ(done["usage"]["inputTokens"], 1200);
  EXPECT_EQ(done["usage"]["outputTokens"], 300);
  EXPECT_EQ(done["usage"]["costUsd"], core::FormatUsd(3805));
  EXPECT_EQ(done["result"], "done");
  EXPECT_EQ(done["jobName"], "run-01");
}

TEST(RunStatusForTest, ANewGenerationIsObservedOnEveryCondition) {
  runs::Run run = MakeRun(runs::Phase::kQueued);
  Json first = RunStatusFor(Json::object(), run, 1, kT0);
  Json second = RunStatusFor(first, run, 2, kT0);
  EXPECT_EQ(second["observedGeneration"], 2);
  for (const Json& c : second["conditions"]) EXPECT_EQ(c["observedGeneration"], 2) << c.dump();
}

TEST(RunStatusForTest, TheResultIsCutTo4KiBOnACharacterBoundary) {
  runs::Run run = MakeRun(runs::Phase::kSucceeded);
  run.finished_at = kT0;
  std::string long_result;
  while (long_result.size() < 5000) long_result += "\xC3\xA9";  // é, two bytes
  run.result = long_result;
  Json status = RunStatusFor(Json::object(), run, 1, kT0);
  std::string result = status["result"];
  EXPECT_LE(result.size(), 4096u);
  EXPECT_GT(result.size(), 4000u);
  EXPECT_EQ(result.substr(result.size() - 3), "\xE2\x80\xA6");
  // Valid UTF-8: the part before the ellipsis is whole two-byte characters.
  EXPECT_EQ((result.size() - 3) % 2, 0u);
}

TEST(JobNameOfTest, ReadsAStringOrAnObjectHandle) {
  EXPECT_EQ(JobNameOf({{"job", "run-x"}}), "run-x");
  EXPECT_EQ(JobNameOf({{"job", {{"name", "run-y"}, {"uid", "u"}}}}), "run-y");
  EXPECT_EQ(JobNameOf({{"pid", 12}}), "");
}

// --- refusals ------------------------------------------------------------------------------

TEST(RefusedRunStatusTest, AnUnknownAgentIsPendingWithAcceptedFalse) {
  core::Error error = core::InvalidArgument("unknown agent \"triage\"");
  ASSERT_EQ(RefusalFor(error), Refusal::kPending);
  Json status = RefusedRunStatus(Json::object(), error, Refusal::kPending, 4, kT0);
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_FALSE(status.contains("runId"));
  const Json* accepted = Cond(status, "Accepted");
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ((*accepted)["status"], "False");
  EXPECT_EQ((*accepted)["reason"], "UnknownAgent");
  EXPECT_EQ((*accepted)["message"], "unknown agent \"triage\"");
  EXPECT_EQ((*accepted)["observedGeneration"], 4);
}

TEST(RefusedRunStatusTest, ABudgetRefusalIsRejectedWithTheErrorsReason) {
  core::Error error = core::ResourceExhausted("budget \"team-a\" is exhausted");
  error.reason = "budget_exceeded";
  ASSERT_EQ(RefusalFor(error), Refusal::kRejected);
  Json status = RefusedRunStatus(Json::object(), error, Refusal::kRejected, 1, kT0);
  EXPECT_EQ(status["phase"], "Rejected");
  const Json* rejected = Cond(status, "Rejected");
  ASSERT_NE(rejected, nullptr);
  EXPECT_EQ((*rejected)["status"], "True");
  EXPECT_EQ((*rejected)["reason"], "BudgetExceeded");
}

TEST(RefusedRunStatusTest, TransientErrorsAreNotRefusals) {
  EXPECT_EQ(RefusalFor(core::Unavailable("busy")), std::nullopt);
  EXPECT_EQ(RefusalFor(core::Internal("bug")), std::nullopt);
  EXPECT_EQ(RefusalFor(core::DeadlineExceeded("slow")), std::nullopt);
}

// --- conditions ----------------------------------------------------------------------------

TEST(SetConditionTest, KeepsTheTransitionTimeWhileTheStatusHolds) {
  Json conditions;
  EXPECT_TRUE(SetCondition(
      conditions, {.type = "Ready", .status = ConditionStatus::kFalse, .reason = "A"}, kT0));
  EXPECT_FALSE(SetCondition(
      conditions, {.type = "Ready", .status = ConditionStatus::kFalse, .reason = "A"}, kT0 + 10s));
  EXPECT_TRUE(SetCondition(
      conditions, {.type = "Ready", .status = ConditionStatus::kFalse, .reason = "B"}, kT0 + 20s));
  EXPECT_EQ(conditions[0]["lastTransitionTime"], kube::FormatTime(kT0));
  EXPECT_TRUE(SetCondition(
      conditions, {.type = "Ready", .status = ConditionStatus::kTrue, .reason = "B"}, kT0 + 30s));
  EXPECT_EQ(conditions[0]["lastTransitionTime"], kube::FormatTime(kT0 + 30s));
  EXPECT_EQ(conditions.size(), 1u);
}

TEST(CamelCaseReasonTest, TurnsSnakeCaseIntoCamelCase) {
  EXPECT_EQ(CamelCaseReason("budget_exceeded"), "BudgetExceeded");
  EXPECT_EQ(CamelCaseReason("self-approval"), "SelfApproval");
  EXPECT_EQ(CamelCaseReason(""), "");
}

}  // namespace
}  // namespace agentd::operator_
