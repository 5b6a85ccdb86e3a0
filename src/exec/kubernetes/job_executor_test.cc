#include "exec/kubernetes/job_executor.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"
#include "kube/config.h"
#include "kube/http_kube_client.h"
#include "testing/fake_clock.h"
#include "testing/fake_kube_api_server.h"

namespace agentd::exec::kubernetes {
namespace {

using core::Json;
using namespace std::chrono_literals;
namespace kr = kube::resources;

constexpr char kNs[] = "runs";

// Polls `condition` until it holds or the deadline passes (no fixed sleeps).
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

// Returns at once, so the client's Retry-After waits cost no time.
class ImmediateSleeper final : public kube::Sleeper {
 public:
  bool SleepFor(std::chrono::nanoseconds, const kube::Cancellation* cancel) override {
    return cancel == nullptr || !cancel->cancelled();
  }
};

struct RecordedExit {
  std::string run_id;
  int attempt = 0;
  ExitInfo exit;
};

class RecordingListener final : public ExecutionListener {
 public:
  void OnRunnerEvents(const std::string&, int, std::vector<api::v1::RunnerEvent>) override {
    std::lock_guard lock(mu_);
    ++event_calls_;
  }
  void OnExit(const std::string& run_id, int attempt, const ExitInfo& exit) override {
    std::lock_guard lock(mu_);
    exits_.push_back({run_id, attempt, exit});
  }
  std::vector<RecordedExit> exits() const {
    std::lock_guard lock(mu_);
    return exits_;
  }
  int event_calls() const {
    std::lock_guard lock(mu_);
    return event_calls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedExit> exits_;
  int event_calls_ = 0;
};

class JobExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::FakeKubeApiServerOptions server_options;
    server_options.clock = &clock_;
    auto server = testing::FakeKubeApiServer::Start(server_options);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    kube::KubeConfig config;
    config.server = server_->url();
    config.token = "test-token";
    config.ns = kNs;
    kube::HttpKubeClientOptions client_options;
    client_options.sleeper = &sleeper_;
    client_ = std::make_unique<kube::HttpKubeClient>(config, transport_, client_options);

    auto snapshot = std::make_shared<catalog::Snapshot>();
    resources::Model model;
    model.metadata.name = "gpt";
    model.spec.provider = resources::kProviderOpenAi;
    model.spec.model = "gpt-4o";
    model.spec.api_key.secret_ref = resources::SecretKeyRef{.name = "openai", .key = "api-key"};
    snapshot->models.emplace("gpt", model);
    resources::Agent agent;
    agent.metadata.name = "reviewer";
    agent.metadata.labels = {{"team", "platform"}};
    agent.spec.model = "gpt";
    agent.spec.tier = 2;
    agent.spec.resources = {.cpu = "500m", .memory = "1Gi", .gpu = 0};
    snapshot->agents.emplace("reviewer", agent);
    snapshot_ = snapshot;

    executor_ = MakeExecutor();
    ASSERT_NE(executor_, nullptr);
  }

  void TearDown() override {
    executor_.reset();
    client_.reset();
    server_.reset();
  }

  JobExecutorOptions Options() {
    JobExecutorOptions options;
    options.job.namespace_ = kNs;
    options.job.image = "ghcr.io/agentd/agentd:test";
    options.job.api_url = "http://agentd.agentd-system.svc:8080";
    options.grace = {300s, 600s};
    options.deadline_margin = 30s;
    options.snapshot = [this] { return snapshot_; };
    return options;
  }

  std::unique_ptr<KubernetesJobExecutor> MakeExecutor() {
    auto executor = KubernetesJobExecutor::Create(Options(), *client_, listener_, clock_);
    EXPECT_TRUE(executor.ok()) << executor.error().message;
    if (!executor.ok()) return nullptr;
    EXPECT_TRUE((*executor)->WaitForSync(10s));
    return std::move(executor).value();
  }

  static StartRequest Request(const std::string& run_id, int attempt) {
    StartRequest request;
    request.run.id = run_id;
    request.run.agent = "reviewer";
    request.run.attempts = attempt;
    request.spec.run_id = run_id;
    request.spec.attempt = attempt;
    request.spec.agent = "reviewer";
    request.spec.input = "review the change";
    request.spec.model.provider = "openai";
    request.spec.model.model = "gpt-4o";
    request.spec.model.api_key_env = "OPENAI_API_KEY";  // the control plane's; not the pod's
    request.spec.limits.timeout = 60s;
    request.spec.workspace = "/var/lib/agentd/workspaces/" + run_id;
    request.runner_token = "tok-" + run_id + "-" + std::to_string(attempt);
    return request;
  }

  std::optional<Json> Job(const std::string& run_id) const {
    return server_->Get("batch", "jobs", kNs, JobName(run_id));
  }

  void SetJobCondition(const std::string& run_id, const char* type, const char* reason,
                       const char* message = "") {
    Json patch = {{"status",
                   {{"conditions", Json::array({{{"type", type},
                                                 {"status", "True"},
                                                 {"reason", reason},
                                                 {"message", message}}})}}}};
    auto patched =
        client_->PatchStatus({kr::kJobs, kNs, JobName(run_id)}, kube::PatchType::kMerge, patch);
    ASSERT_TRUE(patched.ok()) << patched.error().message;
  }

  // Plays the Job controller: a pod from the Job's template.
  std::string CreatePod(const std::string& run_id) {
    auto job = Job(run_id);
    EXPECT_TRUE(job.has_value());
    if (!job) return "";
    const Json& tmpl = (*job)["spec"]["template"];
    const std::string name = JobName(run_id) + "-p" + std::to_string(++pods_);
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata",
                 {{"name", name},
                  {"namespace", kNs},
                  {"labels", tmpl["metadata"]["labels"]},
                  {"annotations", tmpl["metadata"]["annotations"]}}},
                {"spec", tmpl["spec"]}};
    auto created = client_->Create(kr::kPods, kNs, pod);
    EXPECT_TRUE(created.ok()) << created.error().message;
    return name;
  }

  // Plays the kubelet.
  void SetPodStatus(const std::string& pod, Json status) {
    auto patched = client_->PatchStatus({kr::kPods, kNs, pod}, kube::PatchType::kMerge,
                                        Json{{"status", std::move(status)}});
    ASSERT_TRUE(patched.ok()) << patched.error().message;
  }

  bool WaitForExits(size_t n) {
    return Eventually([&] { return listener_.exits().size() >= n; });
  }

  testing::FakeClock clock_;
  ImmediateSleeper sleeper_;
  httpclient::CurlHttpTransport transport_;
  std::unique_ptr<testing::FakeKubeApiServer> server_;
  std::unique_ptr<kube::HttpKubeClient> client_;
  std::shared_ptr<const catalog::Snapshot> snapshot_;
  RecordingListener listener_;
  std::unique_ptr<KubernetesJobExecutor> executor_;
  int pods_ = 0;
};

TEST_F(JobExecutorTest, StartCreatesTheSecretAndARestrictedJobThatOwnsIt) {
  auto handle = executor_->Start(Request("run-1", 1));
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_EQ((*handle)["kind"], "kubernetes");
  EXPECT_EQ((*handle)["namespace"], kNs);
  EXPECT_EQ((*handle)["job"], JobName("run-1"));
  EXPECT_EQ((*handle)["attempt"], 1);

  auto job = Job("run-1");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*handle)["uid"], kube::UidOf(*job));
  const Json& pod_spec = (*job)["spec"]["template"]["spec"];
  auto restricted = CheckRestrictedPodSecurity(pod_spec);
  EXPECT_TRUE(restricted.ok()) << restricted.error().message;
  EXPECT_EQ((*job)["spec"]["backoffLimit"], 0);
  EXPECT_EQ((*job)["spec"]["activeDeadlineSeconds"], 90);  // 60s timeout + 30s margin
  EXPECT_EQ((*job)["metadata"]["labels"][kRunLabel], "run-1");

  auto secret = server_->Get("", "secrets", kNs, JobName("run-1"));
  ASSERT_TRUE(secret.has_value());
  const Json& owners = (*secret)["metadata"]["ownerReferences"];
  ASSERT_EQ(owners.size(), 1u);
  EXPECT_EQ(owners[0]["kind"], "Job");
  EXPECT_EQ(owners[0]["apiVersion"], "batch/v1");
  EXPECT_EQ(owners[0]["name"], JobName("run-1"));
  EXPECT_EQ(owners[0]["uid"], kube::UidOf(*job));
  auto token = kube::DecodeBase64((*secret)["data"][kRunnerSecretTokenKey].get<std::string>());
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, "tok-run-1-1");
  auto spec_text = kube::DecodeBase64((*secret)["data"][kRunnerSecretSpecKey].get<std::string>());
  ASSERT_TRUE(spec_text.has_value());
  auto spec_json = core::ParseJson(*spec_text);
  ASSERT_TRUE(spec_json.ok());
  auto spec = api::v1::RunnerSpecFromJson(*spec_json);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->run_id, "run-1");
  EXPECT_EQ(spec->workspace, "/workspace");
  EXPECT_EQ(spec->model.api_key_env, kModelApiKeyEnv);
  // The pod's volume is that Secret.
  bool mounts_secret = false;
  for (const Json& v : pod_spec["volumes"]) {
    mounts_secret |= v.contains("secret") && v["secret"]["secretName"] == JobName("run-1");
  }
  EXPECT_TRUE(mounts_secret);
  EXPECT_EQ(executor_->ActiveCount(), 1u);
}

TEST_F(JobExecutorTest, CompletedJobReportsExitZeroOnce) {
  ASSERT_TRUE(executor_->Start(Request("run-ok", 1)).ok());
  SetJobCondition("run-ok", "Complete", "CompletionsReached");
  ASSERT_TRUE(WaitForExits(1));
  auto exits = listener_.exits();
  EXPECT_EQ(exits[0].run_id, "run-ok");
  EXPECT_EQ(exits[0].attempt, 1);
  EXPECT_EQ(exits[0].exit.exit_code, 0);
  EXPECT_TRUE(exits[0].exit.reason.empty());
  EXPECT_FALSE(exits[0].exit.stopped);
  EXPECT_EQ(executor_->ActiveCount(), 0u);
  // Later changes (the TTL controller deleting the Job) report nothing more.
  server_->Remove("batch", "jobs", kNs, JobName("run-ok"));
  ASSERT_TRUE(executor_->Start(Request("run-other", 1)).ok());
  SetJobCondition("run-other", "Complete", "CompletionsReached");
  ASSERT_TRUE(WaitForExits(2));
  EXPECT_EQ(listener_.exits().size(), 2u);
  EXPECT_EQ(listener_.exits()[1].run_id, "run-other");
  EXPECT_EQ(listener_.event_calls(), 0);
}

TEST_F(JobExecutorTest, OomKilledPodReportsOomKilled) {
  ASSERT_TRUE(executor_->Start(Request("run-oom", 1)).ok());
  const std::string pod = CreatePod("run-oom");
  SetPodStatus(pod, {{"phase", "Running"}});
  SetPodStatus(
      pod, {{"phase", "Failed"},
            {"containerStatuses",
             Json::array(
                 {{{"name", "runner"},
                   {"state", {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}}}})}});
  EXPECT_TRUE(listener_.exits().empty());  // the Job has not failed yet
  SetJobCondition("run-oom", "Failed", "BackoffLimitExceeded",
                  "Job has reached the specified backoff limit");
  ASSERT_TRUE(WaitForExits(1));
  const auto exits = listener_.exits();
  const ExitInfo& exit = exits[0].exit;
  EXPECT_EQ(exit.reason, "OOMKilled");
  EXPECT_EQ(exit.exit_code, 137);
  EXPECT_NE(exit.detail.find(pod), std::string::npos) << exit.detail;
}

TEST_F(JobExecutorTest, JobDeadlineIsReportedAsAStopForTheDeadline) {
  ASSERT_TRUE(executor_->Start(Request("run-late", 1)).ok());
  SetJobCondition("run-late", "Failed", "DeadlineExceeded",
                  "Job was active longer than specified deadline");
  ASSERT_TRUE(WaitForExits(1));
  const auto exits = listener_.exits();
  const ExitInfo& exit = exits[0].exit;
  ASSERT_TRUE(exit.stopped.has_value());
  EXPECT_EQ(*exit.stopped, StopReason::kDeadlineExceeded);
  EXPECT_EQ(exit.reason, "DeadlineExceeded");
}

TEST_F(JobExecutorTest, ImagePullBackOffBeyondTheGraceDeletesTheJobAndReportsIt) {
  ASSERT_TRUE(executor_->Start(Request("run-pull", 1)).ok());
  const std::string pod = CreatePod("run-pull");
  SetPodStatus(pod, {{"phase", "Pending"},
                     {"containerStatuses",
                      Json::array({{{"name", "runner"},
                                    {"state",
                                     {{"waiting",
                                       {{"reason", "ImagePullBackOff"},
                                        {"message", "Back-off pulling image \"nope:1\""}}}}}}})}});
  // Within the grace: the executor sets a timer for when it ends and leaves the Job alone.
  std::optional<core::TimePoint> recheck;
  ASSERT_TRUE(Eventually([&] {
    recheck = executor_->RecheckAt("run-pull");
    return recheck.has_value();
  }));
  EXPECT_EQ(*recheck, clock_.Now() + 300s);
  EXPECT_TRUE(Job("run-pull").has_value());
  EXPECT_TRUE(listener_.exits().empty());

  clock_.Advance(300s);
  executor_->Wake();
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_FALSE(Job("run-pull").has_value());
  const auto exits = listener_.exits();
  const ExitInfo& exit = exits[0].exit;
  EXPECT_EQ(exit.reason, "ImagePullBackOff");
  EXPECT_FALSE(exit.stopped);
  EXPECT_NE(exit.detail.find("nope:1"), std::string::npos) << exit.detail;
  // A Warning Event on the Job says why.
  auto events = server_->List("events.k8s.io", "events", kNs);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reason"], "ImagePullBackOff");
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["regarding"]["name"], JobName("run-pull"));
}

TEST_F(JobExecutorTest, StopDeletesTheJobWithBackgroundPropagation) {
  ASSERT_TRUE(executor_->Start(Request("run-stop", 1)).ok());
  const std::string uid = kube::UidOf(*Job("run-stop"));
  EXPECT_TRUE(executor_->Stop("run-stop", StopReason::kCancelled).ok());
  // Idempotent: a second Stop neither deletes again nor changes the reason (it may also find the
  // run already ended).
  auto again = executor_->Stop("run-stop", StopReason::kShutdown);
  EXPECT_TRUE(again.ok() || again.error().code == core::ErrorCode::kNotFound);
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_FALSE(Job("run-stop").has_value());
  const auto exits = listener_.exits();
  const ExitInfo& exit = exits[0].exit;
  ASSERT_TRUE(exit.stopped.has_value());
  EXPECT_EQ(*exit.stopped, StopReason::kCancelled);

  int deletes = 0;
  for (const auto& request : server_->requests()) {
    if (request.verb != "delete" || request.resource != "jobs") continue;
    ++deletes;
    auto body = core::ParseJson(request.body);
    ASSERT_TRUE(body.ok()) << request.body;
    EXPECT_EQ((*body)["propagationPolicy"], "Background");
    EXPECT_EQ((*body)["preconditions"]["uid"], uid);
  }
  EXPECT_EQ(deletes, 1);
  EXPECT_EQ(executor_->Stop("run-stop", StopReason::kCancelled).error().code,
            core::ErrorCode::kNotFound);
}

TEST_F(JobExecutorTest, StopOfAnUnknownRunIsNotFound) {
  EXPECT_EQ(executor_->Stop("run-nope", StopReason::kCancelled).error().code,
            core::ErrorCode::kNotFound);
}

TEST_F(JobExecutorTest, JobDeletedBySomeoneElseIsReported) {
  ASSERT_TRUE(executor_->Start(Request("run-gone", 1)).ok());
  ASSERT_TRUE(server_->Remove("batch", "jobs", kNs, JobName("run-gone")));
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_EQ(listener_.exits()[0].exit.reason, "JobDeleted");
  EXPECT_FALSE(listener_.exits()[0].exit.stopped);
}

TEST_F(JobExecutorTest, AdoptOfAFinishedJobReportsItsExit) {
  auto handle = executor_->Start(Request("run-fin", 1));
  ASSERT_TRUE(handle.ok());
  executor_.reset();  // agentd goes down; the Job finishes meanwhile
  const std::string pod = CreatePod("run-fin");
  SetPodStatus(pod, {{"phase", "Failed"},
                     {"reason", "Evicted"},
                     {"message", "The node was low on resource: memory."}});
  SetJobCondition("run-fin", "Failed", "BackoffLimitExceeded");

  executor_ = MakeExecutor();
  runs::Run run = Request("run-fin", 1).run;
  run.executor_handle = *handle;
  auto adopted = executor_->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_FALSE(*adopted);
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_EQ(listener_.exits()[0].exit.reason, "Evicted");
  EXPECT_EQ(listener_.exits().size(), 1u);
}

TEST_F(JobExecutorTest, AdoptOfAGoneJobReportsWhatItKnows) {
  runs::Run run = Request("run-lost", 2).run;
  run.executor_handle = {{"kind", "kubernetes"},
                         {"namespace", kNs},
                         {"job", JobName("run-lost")},
                         {"uid", "u-1"},
                         {"attempt", 2}};
  auto adopted = executor_->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_FALSE(*adopted);
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_EQ(listener_.exits()[0].attempt, 2);
  EXPECT_NE(listener_.exits()[0].exit.detail.find("not found"), std::string::npos);
}

TEST_F(JobExecutorTest, RestartAdoptsTheExistingJobByLabelWithoutWriting) {
  ASSERT_TRUE(executor_->Start(Request("run-live", 1)).ok());
  executor_.reset();
  server_->ResetCounts();

  executor_ = MakeExecutor();
  runs::Run run = Request("run-live", 1).run;  // no handle: the store never got it
  auto adopted = executor_->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_TRUE(*adopted);
  EXPECT_EQ(server_->TotalWrites(), 0);
  bool listed_by_label = false;
  for (const auto& request : server_->requests()) {
    listed_by_label |=
        request.verb == "list" && request.resource == "jobs" &&
        request.target.find("labelSelector=agentd.dev%2Frun%3Drun-live") != std::string::npos;
  }
  EXPECT_TRUE(listed_by_label);
  EXPECT_EQ(server_->List("batch", "jobs", kNs).size(), 1u);

  SetJobCondition("run-live", "Complete", "CompletionsReached");
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_EQ(listener_.exits()[0].exit.exit_code, 0);
}

TEST_F(JobExecutorTest, StartOfAnAttemptWhoseJobExistsAdoptsIt) {
  auto first = executor_->Start(Request("run-twice", 1));
  ASSERT_TRUE(first.ok());
  executor_.reset();
  server_->ResetCounts();

  executor_ = MakeExecutor();
  auto second = executor_->Start(Request("run-twice", 1));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ((*second)["uid"], (*first)["uid"]);
  EXPECT_EQ(server_->Writes("jobs"), 1);  // the create that answered AlreadyExists
  EXPECT_EQ(server_->Requests("delete"), 0);
  EXPECT_EQ(server_->List("batch", "jobs", kNs).size(), 1u);
}

TEST_F(JobExecutorTest, StartReplacesTheJobOfAnEarlierAttempt) {
  auto first = executor_->Start(Request("run-retry", 1));
  ASSERT_TRUE(first.ok());
  SetJobCondition("run-retry", "Failed", "BackoffLimitExceeded");
  // No pod was ever seen: the executor waits pod_status_wait for one, then goes by the Job.
  ASSERT_TRUE(Eventually([&] { return executor_->RecheckAt("run-retry").has_value(); }));
  clock_.Advance(std::chrono::seconds(10));
  executor_->Wake();
  ASSERT_TRUE(WaitForExits(1));
  EXPECT_EQ(listener_.exits()[0].exit.reason, "BackoffLimitExceeded");

  auto second = executor_->Start(Request("run-retry", 2));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE((*second)["uid"], (*first)["uid"]);
  auto job = Job("run-retry");
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ((*job)["metadata"]["annotations"][kAttemptAnnotation], "2");
  auto secret = server_->Get("", "secrets", kNs, JobName("run-retry"));
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ((*secret)["metadata"]["ownerReferences"][0]["uid"], (*second)["uid"]);
  EXPECT_EQ(kube::DecodeBase64((*secret)["data"][kRunnerSecretTokenKey].get<std::string>()),
            "tok-run-retry-2");
}

TEST_F(JobExecutorTest, RateLimitedCreatesAreRetriedThenReportedUnavailable) {
  server_->InjectFault(
      {.count = 2, .status = 429, .retry_after_seconds = 1, .verb = "create", .resource = "jobs"});
  auto retried = executor_->Start(Request("run-429", 1));
  ASSERT_TRUE(retried.ok()) << retried.error().message;

  server_->InjectFault({.count = 100,
                        .status = 429,
                        .retry_after_seconds = 1,
                        .verb = "create",
                        .resource = "jobs"});
  auto refused = executor_->Start(Request("run-busy", 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kUnavailable) << refused.error().message;
  EXPECT_FALSE(Job("run-busy").has_value());
  EXPECT_FALSE(server_->Get("", "secrets", kNs, JobName("run-busy")).has_value());
  EXPECT_EQ(executor_->ActiveCount(), 1u);  // only run-429

  server_->ClearFaults();
  auto requeued = executor_->Start(Request("run-busy", 2));
  ASSERT_TRUE(requeued.ok()) << requeued.error().message;
}

TEST_F(JobExecutorTest, UnknownAgentIsAFinalErrorWithoutWrites) {
  server_->ResetCounts();
  StartRequest request = Request("run-x", 1);
  request.run.agent = "nobody";
  auto started = executor_->Start(request);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(server_->TotalWrites(), 0);
}

TEST_F(JobExecutorTest, ShutdownRefusesNewStarts) {
  executor_->Shutdown();
  executor_->Shutdown();
  EXPECT_EQ(executor_->Start(Request("run-late", 1)).error().code, core::ErrorCode::kUnavailable);
}

// --- Options from the environment -----------------------------------------------------------

auto Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

TEST(JobExecutorOptionsFromEnvTest, ReadsEveryVariable) {
  auto options = JobExecutorOptionsFromEnv(Env({{"K8S_NAMESPACE", "agentd-runs"},
                                                {"EXECUTOR_IMAGE", "agentd:1"},
                                                {"AGENTD_API_URL", "http://agentd:8080"},
                                                {"EXECUTOR_SERVICE_ACCOUNT", "runner"},
                                                {"UPLOADS_PVC_NAME", "uploads"},
                                                {"MODELS_CACHE_PVC", "models"},
                                                {"EXECUTOR_IMAGE_PULL_POLICY", "Always"},
                                                {"EXECUTOR_JOB_TTL", "10m"},
                                                {"EXECUTOR_PENDING_GRACE", "2m"},
                                                {"EXECUTOR_UNSCHEDULABLE_GRACE", "30m"},
                                                {"EXECUTOR_DEADLINE_MARGIN", "5s"},
                                                {"POD_NAME", "agentd-0"}}));
  ASSERT_TRUE(options.ok()) << options.error().message;
  EXPECT_EQ(options->job.namespace_, "agentd-runs");
  EXPECT_EQ(options->job.image, "agentd:1");
  EXPECT_EQ(options->job.api_url, "http://agentd:8080");
  EXPECT_EQ(options->job.service_account, "runner");
  EXPECT_EQ(options->job.uploads_pvc, "uploads");
  EXPECT_EQ(options->job.models_cache_pvc, "models");
  EXPECT_EQ(options->job.image_pull_policy, "Always");
  EXPECT_EQ(options->job.ttl_seconds_after_finished, 600);
  EXPECT_EQ(options->grace.pending, 120s);
  EXPECT_EQ(options->grace.unschedulable, 1800s);
  EXPECT_EQ(options->deadline_margin, 5s);
  EXPECT_EQ(options->instance, "agentd-0");
  EXPECT_FALSE(options->snapshot);
}

TEST(JobExecutorOptionsFromEnvTest, NamesWhatIsMissingOrWrong) {
  auto missing = JobExecutorOptionsFromEnv(Env({{"EXECUTOR_IMAGE", "agentd:1"}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("K8S_NAMESPACE"), std::string::npos);
  std::map<std::string, std::string> base = {
      {"K8S_NAMESPACE", "runs"}, {"EXECUTOR_IMAGE", "agentd:1"}, {"AGENTD_API_URL", "agentd:8080"}};
  auto bad_url = JobExecutorOptionsFromEnv(Env(base));
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.error().message.find("AGENTD_API_URL"), std::string::npos);
  base["AGENTD_API_URL"] = "https://agentd";
  base["EXECUTOR_PENDING_GRACE"] = "soon";
  auto bad_grace = JobExecutorOptionsFromEnv(Env(base));
  ASSERT_FALSE(bad_grace.ok());
  EXPECT_NE(bad_grace.error().message.find("EXECUTOR_PENDING_GRACE"), std::string::npos);
  base.erase("EXECUTOR_PENDING_GRACE");
  auto defaults = JobExecutorOptionsFromEnv(Env(base));
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->job.ttl_seconds_after_finished, 3600);
  EXPECT_EQ(defaults->grace.pending, 300s);
}

TEST(JobExecutorOptionsFromEnvTest, RunsInTheExecutorNamespaceApartFromTheControlPlane) {
  std::map<std::string, std::string> vars = {{"K8S_NAMESPACE", "agentd-system"},
                                             {"EXECUTOR_NAMESPACE", "agentd-runs"},
                                             {"EXECUTOR_IMAGE", "agentd:1"},
                                             {"AGENTD_API_URL", "http://agentd:8080"}};
  auto apart = JobExecutorOptionsFromEnv(Env(vars));
  ASSERT_TRUE(apart.ok()) << apart.error().message;
  EXPECT_EQ(apart->job.namespace_, "agentd-runs");

  vars.erase("K8S_NAMESPACE");  // the executor alone does not need the control plane's
  auto runs_only = JobExecutorOptionsFromEnv(Env(vars));
  ASSERT_TRUE(runs_only.ok()) << runs_only.error().message;
  EXPECT_EQ(runs_only->job.namespace_, "agentd-runs");
}

TEST(JobExecutorOptionsFromEnvTest, FallsBackToTheControlPlaneNamespace) {
  auto shared = JobExecutorOptionsFromEnv(Env({{"K8S_NAMESPACE", "agentd"},
                                               {"EXECUTOR_NAMESPACE", ""},  // empty = unset
                                               {"EXECUTOR_IMAGE", "agentd:1"},
                                               {"AGENTD_API_URL", "http://agentd:8080"}}));
  ASSERT_TRUE(shared.ok()) << shared.error().message;
  EXPECT_EQ(shared->job.namespace_, "agentd");

  auto neither = JobExecutorOptionsFromEnv(
      Env({{"EXECUTOR_IMAGE", "agentd:1"}, {"AGENTD_API_URL", "http://agentd:8080"}}));
  ASSERT_FALSE(neither.ok());
  EXPECT_EQ(neither.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(neither.error().message.find("EXECUTOR_NAMESPACE"), std::string::npos);
  EXPECT_NE(neither.error().message.find("K8S_NAMESPACE"), std::string::npos);
}

TEST(KubernetesJobExecutorCreateTest, RefusesOptionsThatCannotWork) {
  httpclient::CurlHttpTransport transport;
  kube::KubeConfig config;
  config.server = "http://127.0.0.1:1";
  kube::HttpKubeClient client(config, transport);
  RecordingListener listener;
  testing::FakeClock clock;
  JobExecutorOptions options;
  options.job.namespace_ = "runs";
  options.job.api_url = "http://agentd";
  auto created = KubernetesJobExecutor::Create(options, client, listener, clock);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("snapshot"), std::string::npos);
}

}  // namespace
}  // namespace agentd::exec::kubernetes
