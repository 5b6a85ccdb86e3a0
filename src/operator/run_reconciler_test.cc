#include "operator/run_reconciler.h"

#include <future>
#include <memory>

#include <gtest/gtest.h>

#include "bus/memory_bus.h"
#include "kube/kube_test_util.h"
#include "operator/conditions.h"
#include "operator/operator_test_util.h"
#include "store/sqlite/sqlite_run_store.h"

namespace agentd::operator_ {
namespace {

using core::Json;
using kube::test::Eventually;
using namespace std::chrono_literals;

Json RunCr(const std::string& name, const std::string& agent = "triage") {
  return {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", "Run"},
          {"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"spec", {{"agent", agent}, {"input", "fix issue #12"}}}};
}

class RunReconcilerTest : public kube::test::FakeClusterTest {
 protected:
  void SetUp() override {
    FakeClusterTest::SetUp();
    auto store = store::SqliteRunStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    service_ = std::make_unique<test::FakeRunService>(*store_, bus_, clock_);
    service_->SetAgents({"triage"});
  }
  void TearDown() override {
    if (reconciler_) reconciler_->Stop();
  }

  void StartReconciler(RunReconcilerOptions options = {.status_coalesce = 0ms}) {
    options.ns = "ns";
    options.reflector_backoff = {.initial = 10ms, .max = 100ms};
    reconciler_ = std::make_unique<RunReconciler>(
        RunReconcilerDeps{*client_, *service_, *store_, bus_, clock_}, options);
    reconciler_->Start();
    ASSERT_TRUE(reconciler_->WaitForSync(10s));
  }

  Json Seed(const Json& object) { return server_->Seed("agentd.dev", "v1alpha1", "runs", object); }
  std::optional<Json> Get(const std::string& name) {
    return server_->Get("agentd.dev", "runs", "ns", name);
  }
  Json Status(const std::string& name) {
    auto object = Get(name);
    return object && object->contains("status") ? (*object)["status"] : Json::object();
  }
  std::string Phase(const std::string& name) { return Status(name).value("phase", ""); }
  std::string RunIdOf(const std::string& name) { return Status(name).value("runId", ""); }
  core::Status DeleteCr(const std::string& name) {
    auto deleted = client_->Delete({kinds::kRuns, "ns", name});
    if (!deleted.ok()) return std::move(deleted).error();
    return core::Ok();
  }

  core::SystemClock clock_;
  bus::MemoryBus bus_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::unique_ptr<test::FakeRunService> service_;
  std::unique_ptr<RunReconciler> reconciler_;
};

TEST_F(RunReconcilerTest, ARunResourceBecomesOneRunAndItsStatusFollowsThePhases) {
  StartReconciler();
  Seed(RunCr("fix-12"));

  // One submission, then runId and Queued in the status; no finalizer (the Run owns its Job).
  ASSERT_TRUE(Eventually([&] { return Phase("fix-12") == "Queued"; })) << Status("fix-12");
  Json object = *Get("fix-12");
  EXPECT_FALSE(HasFinalizer(object, kRunFinalizer));
  const std::string run_id = RunIdOf("fix-12");
  ASSERT_FALSE(run_id.empty());
  EXPECT_EQ(service_->submissions(), 1);
  auto requests = service_->requests();
  EXPECT_EQ(requests[0].idempotency_key, "k8s-" + kube::UidOf(object));
  EXPECT_EQ(requests[0].source, runs::Source::kKubectl);
  EXPECT_EQ(requests[0].agent, "triage");
  EXPECT_EQ(requests[0].input, "fix issue #12");
  EXPECT_TRUE(IsConditionTrue(object, "Queued"));
  EXPECT_TRUE(IsConditionTrue(object, "Accepted"));

  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kRunning, "", "", {{"job", "run-abc"}}).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-12") == "Running"; })) << Status("fix-12");
  EXPECT_EQ(Status("fix-12")["jobName"], "run-abc");
  EXPECT_EQ(Status("fix-12")["attempts"], 1);

  ASSERT_TRUE(
      service_->MoveTo(run_id, runs::Phase::kSucceeded, "Completed", "all tests pass").ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-12") == "Succeeded"; })) << Status("fix-12");
  object = *Get("fix-12");
  ASSERT_TRUE(IsConditionTrue(object, "Succeeded"));
  const Json* succeeded = FindCondition(object["status"]["conditions"], "Succeeded");
  EXPECT_EQ((*succeeded)["observedGeneration"], kube::GenerationOf(object));
  EXPECT_EQ((*succeeded)["reason"], "Completed");
  EXPECT_FALSE(IsConditionTrue(object, "Running"));
  EXPECT_EQ(object["status"]["result"], "all tests pass");
  EXPECT_EQ(object["status"]["observedGeneration"], kube::GenerationOf(object));
  EXPECT_TRUE(object["status"].contains("finishedAt"));
  EXPECT_EQ(service_->submissions(), 1);
  // A terminal run is no longer followed.
  EXPECT_TRUE(Eventually([&] { return reconciler_->tracked_runs() == 0; }));
}

TEST_F(RunReconcilerTest, WithTheFinalizerDeletingARunningRunWaitsUntilItIsCancelled) {
  StartReconciler({.finalizer = true, .status_coalesce = 0ms});
  Seed(RunCr("fix-13"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-13").empty(); }));
  const std::string run_id = RunIdOf("fix-13");
  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kRunning).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-13") == "Running"; }));

  // The executor takes a while to stop it: the finalizer holds the resource meanwhile.
  service_->SetCancelAtOnce(false);
  ASSERT_TRUE(DeleteCr("fix-13").ok());
  ASSERT_TRUE(Eventually([&] { return service_->cancels() >= 1; }));
  auto held = Get("fix-13");
  ASSERT_TRUE(held.has_value());
  EXPECT_TRUE(IsBeingDeleted(*held));
  EXPECT_TRUE(HasFinalizer(*held, kRunFinalizer));

  // The run ends Cancelled: the finalizer goes, and with it the resource.
  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kCancelled, "CancelRequested").ok());
  ASSERT_TRUE(Eventually([&] { return !Get("fix-13").has_value(); }));
  EXPECT_EQ(store_->GetRun(run_id)->phase, runs::Phase::kCancelled);
  EXPECT_EQ(service_->submissions(), 1);
}

TEST_F(RunReconcilerTest, WithTheFinalizerDeletingAQueuedRunCancelsItAtOnce) {
  StartReconciler({.finalizer = true, .status_coalesce = 0ms});
  Seed(RunCr("fix-14"));
  ASSERT_TRUE(Eventually([&] { return Phase("fix-14") == "Queued"; }));
  EXPECT_TRUE(HasFinalizer(*Get("fix-14"), kRunFinalizer));
  const std::string run_id = RunIdOf("fix-14");
  ASSERT_TRUE(DeleteCr("fix-14").ok());
  ASSERT_TRUE(Eventually([&] { return !Get("fix-14").has_value(); }));
  EXPECT_EQ(service_->cancels(), 1);
  EXPECT_EQ(store_->GetRun(run_id)->phase, runs::Phase::kCancelled);
  // (The worker counts its write once the API server has answered it.)
  EXPECT_TRUE(Eventually([&] { return reconciler_->stats().finalizer_removals == 1; }));
}

TEST_F(RunReconcilerTest, DeletingARunningRunCancelsIt) {
  StartReconciler();
  Seed(RunCr("fix-24"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-24").empty(); }));
  const std::string run_id = RunIdOf("fix-24");
  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kRunning).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-24") == "Running"; }));
  const int64_t writes = server_->Writes("runs");

  ASSERT_TRUE(DeleteCr("fix-24").ok());  // gone at once: nothing holds it
  EXPECT_FALSE(Get("fix-24").has_value());
  ASSERT_TRUE(Eventually([&] { return store_->GetRun(run_id)->phase == runs::Phase::kCancelled; }));
  EXPECT_EQ(service_->cancels(), 1);
  EXPECT_EQ(server_->Writes("runs"), writes + 1);  // the test's own delete
  EXPECT_TRUE(Eventually([&] { return reconciler_->tracked_runs() == 0; }));
}

TEST_F(RunReconcilerTest, ARunDeletedWhileNoReconcilerWatchedIsCancelledAfterTheNextList) {
  StartReconciler();
  Seed(RunCr("fix-25"));
  Seed(RunCr("fix-26"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-25").empty() && !RunIdOf("fix-26").empty(); }));
  const std::string gone = RunIdOf("fix-25");
  const std::string kept = RunIdOf("fix-26");
  ASSERT_TRUE(service_->MoveTo(gone, runs::Phase::kRunning).ok());

  reconciler_->Stop();  // the operator is down (or another replica is about to lead)
  ASSERT_TRUE(DeleteCr("fix-25").ok());
  StartReconciler();
  ASSERT_TRUE(Eventually([&] { return store_->GetRun(gone)->phase == runs::Phase::kCancelled; }));
  EXPECT_EQ(service_->cancels(), 1);
  EXPECT_EQ(store_->GetRun(kept)->phase, runs::Phase::kQueued);
  // A REST run (no Run labels) is none of the sweep's business.
  std::promise<core::Result<store::CreateRunResult>> rest;
  service_->SubmitAsync({.agent = "triage", .input = "x"},
                        [&](auto r) { rest.set_value(std::move(r)); });
  auto rest_run = rest.get_future().get();
  ASSERT_TRUE(rest_run.ok());
  reconciler_->ResyncAll();
  reconciler_->Stop();
  StartReconciler();
  ASSERT_TRUE(Eventually([&] { return reconciler_->stats().reconciles >= 2; }));
  EXPECT_EQ(store_->GetRun(rest_run->run.id)->phase, runs::Phase::kQueued);
  EXPECT_EQ(service_->cancels(), 1);
}

TEST_F(RunReconcilerTest, ARestartedReconcilerNeitherSubmitsAgainNorWrites) {
  StartReconciler();
  Seed(RunCr("fix-15"));
  Seed(RunCr("fix-16"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-15").empty() && !RunIdOf("fix-16").empty(); }));
  ASSERT_TRUE(service_->MoveTo(RunIdOf("fix-15"), runs::Phase::kSucceeded).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-15") == "Succeeded"; }));

  reconciler_->Stop();
  const int64_t writes = server_->Writes("runs");
  const int64_t reconciles = reconciler_->stats().reconciles;
  reconciler_->Start();
  ASSERT_TRUE(reconciler_->WaitForSync(10s));
  // Every Run is reconciled again after the relist, and again on a resync: nothing changes.
  ASSERT_TRUE(Eventually([&] { return reconciler_->stats().reconciles >= reconciles + 2; }));
  EXPECT_EQ(server_->Writes("runs"), writes);
  reconciler_->ResyncAll();
  ASSERT_TRUE(Eventually([&] { return reconciler_->stats().reconciles >= reconciles + 4; }));
  EXPECT_EQ(server_->Writes("runs"), writes);
  EXPECT_EQ(service_->submissions(), 2);
  EXPECT_EQ(service_->created(), 2);
  // The still-running fix-16 is followed again: its end still reaches the status.
  ASSERT_TRUE(service_->MoveTo(RunIdOf("fix-16"), runs::Phase::kFailed, "ProcessExited").ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-16") == "Failed"; }));
  EXPECT_EQ(service_->submissions(), 2);
}

TEST_F(RunReconcilerTest, ARunSubmittedBeforeACrashIsFoundByItsKeyNotSubmittedTwice) {
  // The previous leader submitted (the run exists under the key) but died before writing the
  // status.
  Json stored = Seed(RunCr("fix-17"));
  auto request = SubmitRequestFor(stored);
  ASSERT_TRUE(request.ok());
  std::promise<core::Result<store::CreateRunResult>> first;
  service_->SubmitAsync(*request, [&](auto r) { first.set_value(std::move(r)); });
  auto existing = first.get_future().get();
  ASSERT_TRUE(existing.ok());

  StartReconciler();
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-17").empty(); }));
  EXPECT_EQ(RunIdOf("fix-17"), existing->run.id);
  EXPECT_EQ(service_->created(), 1);
  EXPECT_EQ(reconciler_->stats().runs_created, 0);
}

TEST_F(RunReconcilerTest, RunsThatShareAnIdempotencyKeyAndASpecShareOneRun) {
  StartReconciler();
  Json first = RunCr("nightly-a");
  first["spec"]["idempotencyKey"] = "nightly-2026-11-22";
  Json second = RunCr("nightly-b");
  second["spec"]["idempotencyKey"] = "nightly-2026-11-22";
  Seed(first);
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("nightly-a").empty(); }));
  Seed(second);
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("nightly-b").empty(); })) << Status("nightly-b");
  EXPECT_EQ(RunIdOf("nightly-a"), RunIdOf("nightly-b"));
  EXPECT_EQ(service_->created(), 1);
  // The run names the Run that asked first (its Job's owner).
  auto run = store_->GetRun(RunIdOf("nightly-a"));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->labels.at(runs::kRunObjectNameLabel), "nightly-a");
}

TEST_F(RunReconcilerTest, AnUnknownAgentLeavesTheRunPendingUntilTheCatalogHasIt) {
  StartReconciler();
  Seed(RunCr("fix-18", "planner"));
  ASSERT_TRUE(Eventually([&] { return Phase("fix-18") == "Pending"; })) << Status("fix-18");
  Json status = Status("fix-18");
  const Json* accepted = FindCondition(status["conditions"], "Accepted");
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ((*accepted)["status"], "False");
  EXPECT_EQ((*accepted)["reason"], "UnknownAgent");
  EXPECT_FALSE(status.contains("runId"));
  // The echo of our own status write does not submit again.
  ASSERT_TRUE(Eventually([&] { return reconciler_->stats().reconciles >= 2; }));
  const int submissions = service_->submissions();
  EXPECT_LE(submissions, 2);

  service_->SetAgents({"triage", "planner"});
  reconciler_->ResyncPending();
  ASSERT_TRUE(Eventually([&] { return Phase("fix-18") == "Queued"; })) << Status("fix-18");
  EXPECT_TRUE(IsConditionTrue(*Get("fix-18"), "Accepted"));
  EXPECT_EQ(service_->created(), 1);
}

TEST_F(RunReconcilerTest, AnInvalidSpecIsReportedWithoutASubmission) {
  StartReconciler();
  Json cr = RunCr("fix-19");
  cr["spec"]["priority"] = 5000;
  Seed(cr);
  ASSERT_TRUE(Eventually([&] { return Phase("fix-19") == "Pending"; }));
  const Json status = Status("fix-19");
  const Json* accepted = FindCondition(status["conditions"], "Accepted");
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ((*accepted)["reason"], "InvalidSpec");
  EXPECT_NE((*accepted)["message"].get<std::string>().find("spec.priority"), std::string::npos);
  EXPECT_EQ(service_->submissions(), 0);
}

TEST_F(RunReconcilerTest, ARunMissingFromTheStoreIsReportedNotSubmittedAgain) {
  Json cr = RunCr("fix-23");
  cr["metadata"]["finalizers"] = {kRunFinalizer};
  cr["status"] = {{"runId", "run-01gone"}, {"phase", "Running"}};
  Seed(cr);
  ASSERT_EQ(Status("fix-23")["runId"], "run-01gone");
  StartReconciler();
  ASSERT_TRUE(Eventually([&] {
    Json status = Status("fix-23");
    const Json* accepted =
        status.contains("conditions") ? FindCondition(status["conditions"], "Accepted") : nullptr;
    return accepted != nullptr && (*accepted)["reason"] == "RunNotFound";
  })) << Status("fix-23");
  EXPECT_EQ(Status("fix-23")["runId"], "run-01gone");
  EXPECT_EQ(service_->submissions(), 0);
}

TEST_F(RunReconcilerTest, FastPhaseChangesCoalesceIntoOneStatusWrite) {
  StartReconciler({.status_coalesce = 2s});
  Seed(RunCr("fix-20"));
  ASSERT_TRUE(Eventually([&] { return service_->created() == 1; }));
  // Find the run by its key: the status is held back for now.
  std::string run_id;
  ASSERT_TRUE(Eventually([&] {
    auto page = store_->ListRuns({}, 10, "");
    if (!page.ok() || page->runs.empty()) return false;
    run_id = page->runs[0].id;
    return true;
  }));
  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kRunning).ok());
  ASSERT_TRUE(service_->MoveTo(run_id, runs::Phase::kSucceeded).ok());
  ASSERT_TRUE(Eventually([&] { return Phase("fix-20") == "Succeeded"; }));
  // One status: Queued and Running were never written on their own.
  EXPECT_EQ(server_->Writes("runs"), 1);
  EXPECT_EQ(reconciler_->stats().finalizer_adds, 0);
  // (The worker counts its write once the API server has answered it.)
  EXPECT_TRUE(Eventually([&] { return reconciler_->stats().status_writes == 1; }));
}

TEST_F(RunReconcilerTest, ATransientSubmissionFailureIsRetried) {
  // A store that is down makes SubmitAsync fail with kUnavailable; the key is retried with
  // backoff, and once the service answers the run is created once.
  class FlakyService final : public test::ForwardingRunService {
   public:
    using ForwardingRunService::ForwardingRunService;
    void SubmitAsync(scheduler::SubmitRequest request,
                     std::function<void(core::Result<store::CreateRunResult>)> done) override {
      if (failures_left_-- > 0) {
        done(core::Unavailable("store is busy"));
        return;
      }
      inner_.SubmitAsync(std::move(request), std::move(done));
    }

   private:
    std::atomic<int> failures_left_{2};
  };
  FlakyService flaky(*service_);
  reconciler_ = std::make_unique<RunReconciler>(
      RunReconcilerDeps{*client_, flaky, *store_, bus_, clock_},
      RunReconcilerOptions{.ns = "ns", .status_coalesce = 0ms, .queue = {.base_delay = 1ms}});
  reconciler_->Start();
  Seed(RunCr("fix-21"));
  ASSERT_TRUE(Eventually([&] { return Phase("fix-21") == "Queued"; }));
  EXPECT_EQ(reconciler_->stats().errors, 2);
  EXPECT_EQ(service_->created(), 1);
  reconciler_->Stop();
}

TEST_F(RunReconcilerTest, AConflictingWriteIsRetriedFromTheNewerObject) {
  StartReconciler();
  // Every write of the first round fails with 409, as if someone else had written first.
  server_->InjectFault({.count = 1, .status = 409, .verb = "update", .resource = "runs"});
  Seed(RunCr("fix-22"));
  ASSERT_TRUE(Eventually([&] { return Phase("fix-22") == "Queued"; }));
  EXPECT_GE(reconciler_->stats().errors, 1);
  EXPECT_EQ(service_->submissions(), 1);
}

}  // namespace
}  // namespace agentd::operator_
