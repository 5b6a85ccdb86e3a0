#include "exec/kubernetes/job_builder.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace agentd::exec::kubernetes {
namespace {

using core::Json;

constexpr char kWeightsSha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Fixture {
  runs::Run run;
  resources::Agent agent;
  resources::Model model;
  JobOptions options;

  Fixture() {
    run.id = "run-01jd2k3m4n5p6q7r8s9t0vwxyz";
    run.agent = "reviewer";
    run.attempts = 1;
    agent.metadata.name = "reviewer";
    agent.metadata.labels = {{"team", "platform"}, {"cost-center", "cc-1234"}};
    agent.spec.model = "gpt";
    agent.spec.tier = 2;
    agent.spec.resources = {.cpu = "500m", .memory = "1Gi", .gpu = 0};
    model.metadata.name = "gpt";
    model.spec.provider = resources::kProviderOpenAi;
    model.spec.api_key.secret_ref = resources::SecretKeyRef{.name = "openai", .key = "api-key"};
    options.namespace_ = "agentd-runs";
    options.image = "ghcr.io/agentd/agentd:1.0";
    options.api_url = "http://agentd.agentd-system.svc:8080/";
  }

  core::Result<Json> Build(std::chrono::seconds deadline = std::chrono::seconds(900)) const {
    return BuildJob(JobInputs{.run = run,
                              .agent = agent,
                              .model = &model,
                              .deadline = deadline,
                              .runner_token_secret_name = "agentd-run-token-abc"},
                    options);
  }
};

const Json& PodSpec(const Json& job) { return job["spec"]["template"]["spec"]; }
const Json& Runner(const Json& job) { return PodSpec(job)["containers"][0]; }

const Json* FindByName(const Json& list, std::string_view name) {
  for (const auto& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

TEST(BuildJobTest, BuiltJobPassesRestrictedPodSecurity) {
  Fixture f;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  auto status = CheckRestrictedPodSecurity(PodSpec(*job));
  EXPECT_TRUE(status.ok()) << status.error().message;
  EXPECT_FALSE(PodSpec(*job).contains("initContainers"));
}

TEST(BuildJobTest, JobWithWeightsUploadsAndGpuPassesRestrictedPodSecurity) {
  Fixture f;
  f.model.spec.weights =
      resources::LocalWeights{.url = "https://example.com/w.gguf", .sha256 = kWeightsSha};
  f.options.models_cache_pvc = "models-cache";
  f.options.uploads_pvc = "uploads";
  f.agent.spec.resources.gpu = 2;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& pod = PodSpec(*job);
  auto status = CheckRestrictedPodSecurity(pod);
  EXPECT_TRUE(status.ok()) << status.error().message;

  ASSERT_EQ(pod["initContainers"].size(), 1u);
  const Json& init = pod["initContainers"][0];
  EXPECT_EQ(init["name"], kWeightsInitContainerName);
  const Json* url = FindByName(init["env"], "AGENTD_WEIGHTS_URL");
  const Json* sha = FindByName(init["env"], "AGENTD_WEIGHTS_SHA256");
  ASSERT_NE(url, nullptr);
  ASSERT_NE(sha, nullptr);
  EXPECT_EQ((*url)["value"], "https://example.com/w.gguf");
  EXPECT_EQ((*sha)["value"], kWeightsSha);
  // The script reads URL and digest from env, never has them spliced in.
  EXPECT_EQ(init["command"][2].get<std::string>().find("example.com"), std::string::npos);
  EXPECT_NE(init["command"][2].get<std::string>().find("sha256sum -c"), std::string::npos);

  const Json* models = FindByName(pod["volumes"], "models");
  ASSERT_NE(models, nullptr);
  EXPECT_EQ((*models)["persistentVolumeClaim"]["claimName"], "models-cache");
  const Json* runner_models = FindByName(Runner(*job)["volumeMounts"], "models");
  ASSERT_NE(runner_models, nullptr);
  EXPECT_EQ((*runner_models)["mountPath"], "/models");
  const Json* weights_env = FindByName(Runner(*job)["env"], kModelWeightsEnv);
  ASSERT_NE(weights_env, nullptr);
  EXPECT_EQ((*weights_env)["value"], std::string("/models/") + kWeightsSha);

  const Json* uploads = FindByName(Runner(*job)["volumeMounts"], "uploads");
  ASSERT_NE(uploads, nullptr);
  EXPECT_EQ((*uploads)["mountPath"], "/uploads");
  EXPECT_EQ((*uploads)["readOnly"], true);
  EXPECT_EQ((*FindByName(pod["volumes"], "uploads"))["persistentVolumeClaim"]["readOnly"], true);
}

TEST(BuildJobTest, SetsJobLevelPolicyAndHardenedPod) {
  Fixture f;
  auto job = f.Build(std::chrono::seconds(1234));
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ((*job)["apiVersion"], "batch/v1");
  EXPECT_EQ((*job)["kind"], "Job");
  EXPECT_EQ((*job)["metadata"]["namespace"], "agentd-runs");
  EXPECT_EQ((*job)["spec"]["activeDeadlineSeconds"], 1234);
  EXPECT_EQ((*job)["spec"]["backoffLimit"], 0);
  EXPECT_EQ((*job)["spec"]["ttlSecondsAfterFinished"], 3600);
  const Json& pod = PodSpec(*job);
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  EXPECT_EQ(pod["enableServiceLinks"], false);
  EXPECT_EQ(pod["securityContext"]["runAsUser"], 1001);
  EXPECT_EQ(pod["securityContext"]["fsGroup"], 1001);
  EXPECT_EQ(Runner(*job)["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ((*FindByName(pod["volumes"], "workspace"))["emptyDir"], Json::object());
  EXPECT_EQ((*FindByName(pod["volumes"], "tmp"))["emptyDir"], Json::object());
  EXPECT_EQ((*FindByName(Runner(*job)["volumeMounts"], "tmp"))["mountPath"], "/tmp");
}

TEST(BuildJobTest, RunnerArgsNameTheRunAttemptAndEventsUrl) {
  Fixture f;
  f.run.attempts = 3;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& args = Runner(*job)["args"];
  EXPECT_EQ(args[0], "runner");
  std::map<std::string, std::string> flags;
  for (size_t i = 1; i + 1 < args.size(); i += 2) flags[args[i]] = args[i + 1];
  EXPECT_EQ(flags["--run-id"], f.run.id);
  EXPECT_EQ(flags["--attempt"], "3");
  EXPECT_EQ(flags["--events-url"],
            "http://agentd.agentd-system.svc:8080/api/v1/runs/" + f.run.id + "/events");
  EXPECT_EQ(flags["--token-file"], "/var/run/agentd/runner/token");
  const Json* secret = FindByName(PodSpec(*job)["volumes"], "runner-secret");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ((*secret)["secret"]["secretName"], "agentd-run-token-abc");
}

TEST(BuildJobTest, ModelSecretRefBecomesSecretKeyRefWithNoLiteralKey) {
  Fixture f;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json* key = FindByName(Runner(*job)["env"], kModelApiKeyEnv);
  ASSERT_NE(key, nullptr);
  EXPECT_FALSE(key->contains("value"));
  EXPECT_EQ((*key)["valueFrom"]["secretKeyRef"]["name"], "openai");
  EXPECT_EQ((*key)["valueFrom"]["secretKeyRef"]["key"], "api-key");
  // No env entry anywhere in the pod carries a literal value for the key.
  for (const auto& e : Runner(*job)["env"]) {
    if (e["name"] == kModelApiKeyEnv) {
      EXPECT_FALSE(e.contains("value"));
    }
  }
  EXPECT_EQ(job->dump().find("sk-"), std::string::npos);
}

TEST(BuildJobTest, RefusesAModelKeyThatOnlyLivesInTheControlPlaneEnv) {
  Fixture f;
  f.model.spec.api_key = resources::SecretSource{.env = "OPENAI_API_KEY", .secret_ref = {}};
  auto job = f.Build();
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(job.error().message.find("secretRef"), std::string::npos);
}

TEST(BuildJobTest, ModelWithoutKeyGetsNoKeyEnv) {
  Fixture f;
  f.model.spec.api_key = {};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(FindByName(Runner(*job)["env"], kModelApiKeyEnv), nullptr);
}

TEST(BuildJobTest, LabelsCarryIdentityAndCostAttributionOnJobAndPod) {
  Fixture f;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  for (const Json* labels :
       {&(*job)["metadata"]["labels"], &(*job)["spec"]["template"]["metadata"]["labels"]}) {
    EXPECT_EQ((*labels)["app.kubernetes.io/name"], "agentd");
    EXPECT_EQ((*labels)["app.kubernetes.io/component"], "runner");
    EXPECT_EQ((*labels)["app.kubernetes.io/managed-by"], "agentd");
    EXPECT_EQ((*labels)[kRunLabel], f.run.id);
    EXPECT_EQ((*labels)[kAgentLabel], "reviewer");
    EXPECT_EQ((*labels)[kTeamLabel], "platform");
    EXPECT_EQ((*labels)[kCostCenterLabel], "cc-1234");
    EXPECT_EQ((*labels)[kTierLabel], "2");
    for (const auto& [k, v] : labels->items()) {
      EXPECT_TRUE(IsValidLabelValue(v.get<std::string>())) << k;
    }
  }
  EXPECT_EQ((*job)["metadata"]["annotations"][kRunIdAnnotation], f.run.id);
}

TEST(BuildJobTest, OmitsUnsetCostLabels) {
  Fixture f;
  f.agent.metadata.labels.clear();
  f.agent.spec.tier = 0;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& labels = (*job)["metadata"]["labels"];
  EXPECT_FALSE(labels.contains(kTeamLabel));
  EXPECT_FALSE(labels.contains(kCostCenterLabel));
  EXPECT_FALSE(labels.contains(kTierLabel));
}

TEST(BuildJobTest, ResourcesComeFromTheAgentWithGpuAsExtendedResource) {
  Fixture f;
  f.agent.spec.resources.gpu = 1;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& res = Runner(*job)["resources"];
  EXPECT_EQ(res["requests"]["cpu"], "500m");
  EXPECT_EQ(res["limits"]["memory"], "1Gi");
  EXPECT_EQ(res["limits"]["nvidia.com/gpu"], "1");
  EXPECT_EQ(PodSpec(*job)["tolerations"][0]["key"], "nvidia.com/gpu");

  f.agent.spec.resources.gpu = 0;
  auto cpu_only = f.Build();
  ASSERT_TRUE(cpu_only.ok());
  EXPECT_FALSE(Runner(*cpu_only)["resources"]["limits"].contains("nvidia.com/gpu"));
  EXPECT_FALSE(PodSpec(*cpu_only).contains("tolerations"));
}

TEST(BuildJobTest, SameInputsGiveTheSameJob) {
  Fixture f;
  auto a = f.Build();
  auto b = f.Build();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*a)["metadata"]["name"], "agentd-" + f.run.id);
}

TEST(BuildJobTest, RefusesInvalidInputsNamingThem) {
  struct Case {
    std::string name;
    std::function<void(Fixture&)> mutate;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"no image", [](Fixture& f) { f.options.image.clear(); }, "image"},
      {"no namespace", [](Fixture& f) { f.options.namespace_.clear(); }, "namespace"},
      {"bad api url", [](Fixture& f) { f.options.api_url = "agentd:8080"; }, "api URL"},
      {"bad team", [](Fixture& f) { f.agent.metadata.labels["team"] = "Team Platform!"; }, "team"},
      {"bad cost center",
       [](Fixture& f) { f.agent.metadata.labels["cost-center"] = std::string(64, 'a'); },
       "cost-center"},
      {"tier", [](Fixture& f) { f.agent.spec.tier = 7; }, "tier"},
      {"cpu", [](Fixture& f) { f.agent.spec.resources.cpu = "lots"; }, "resources.cpu"},
      {"gpu", [](Fixture& f) { f.agent.spec.resources.gpu = -1; }, "gpu"},
      {"attempts", [](Fixture& f) { f.run.attempts = 0; }, "attempts"},
      {"reserved env", [](Fixture& f) { f.agent.spec.env["AGENTD_X"] = "1"; }, "AGENTD_X"},
      {"weights without pvc",
       [](Fixture& f) {
         f.model.spec.weights =
             resources::LocalWeights{.url = "https://x/w", .sha256 = kWeightsSha};
       },
       "models-cache PVC"},
      {"bad weights digest",
       [](Fixture& f) {
         f.options.models_cache_pvc = "models";
         f.model.spec.weights = resources::LocalWeights{.url = "https://x/w", .sha256 = "abc"};
       },
       "sha256"},
      {"pull policy", [](Fixture& f) { f.options.image_pull_policy = "Sometimes"; }, "pull policy"},
      {"node selector", [](Fixture& f) { f.agent.spec.kubernetes.node_selector["bad key"] = "x"; },
       "kubernetes.nodeSelector entry \"bad key\""},
      {"toleration",
       [](Fixture& f) {
         f.agent.spec.kubernetes.tolerations.push_back({.key = "k",
                                                        .operator_ = "Exists",
                                                        .value = "v",
                                                        .effect = "",
                                                        .toleration_seconds = {}});
       },
       "kubernetes.tolerations[0]"},
      {"toleration seconds",
       [](Fixture& f) {
         f.agent.spec.kubernetes.tolerations.push_back({.key = "k",
                                                        .operator_ = "Equal",
                                                        .value = "v",
                                                        .effect = "NoSchedule",
                                                        .toleration_seconds = 5});
       },
       "kubernetes.tolerations[0]"},
      {"agent service account",
       [](Fixture& f) { f.agent.spec.kubernetes.service_account_name = "Bad_SA"; },
       "serviceAccountName \"Bad_SA\""},
  };
  for (const auto& c : cases) {
    Fixture f;
    c.mutate(f);
    auto job = f.Build();
    ASSERT_FALSE(job.ok()) << c.name;
    EXPECT_EQ(job.error().code, core::ErrorCode::kInvalidArgument) << c.name;
    EXPECT_NE(job.error().message.find(c.expect), std::string::npos)
        << c.name << ": " << job.error().message;
  }
  Fixture f;
  EXPECT_FALSE(f.Build(std::chrono::seconds(0)).ok());
}

// --- scheduling, service account, ownerReference ---------------------------------------------

resources::Toleration Toleration(std::string key, std::string op, std::string value,
                                 std::string effect, std::optional<int64_t> seconds = {}) {
  return {.key = std::move(key),
          .operator_ = std::move(op),
          .value = std::move(value),
          .effect = std::move(effect),
          .toleration_seconds = seconds};
}

TEST(BuildJobTest, WithoutAgentSchedulingThePodHasNoneAndNoServiceAccountToken) {
  Fixture f;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& pod = PodSpec(*job);
  EXPECT_FALSE(pod.contains("nodeSelector"));
  EXPECT_FALSE(pod.contains("tolerations"));
  EXPECT_FALSE(pod.contains("serviceAccountName"));
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  EXPECT_FALSE((*job)["metadata"].contains("ownerReferences"));
}

TEST(BuildJobTest, NodeSelectorAndTolerationsComeFromTheAgent) {
  Fixture f;
  f.agent.spec.kubernetes.node_selector = {{"cloud.google.com/gke-accelerator", "nvidia-l4"},
                                           {"pool", "agents"}};
  f.agent.spec.kubernetes.tolerations = {
      Toleration("dedicated", "Equal", "agents", "NoSchedule"),
      Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute", 30),
      Toleration("", "Exists", "", "")};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& pod = PodSpec(*job);
  EXPECT_EQ(pod["nodeSelector"],
            Json({{"cloud.google.com/gke-accelerator", "nvidia-l4"}, {"pool", "agents"}}));
  EXPECT_EQ(pod["tolerations"], Json::array({{{"key", "dedicated"},
                                              {"operator", "Equal"},
                                              {"value", "agents"},
                                              {"effect", "NoSchedule"}},
                                             {{"key", "node.kubernetes.io/unreachable"},
                                              {"operator", "Exists"},
                                              {"effect", "NoExecute"},
                                              {"tolerationSeconds", 30}},
                                             {{"operator", "Exists"}}}));
  auto status = CheckRestrictedPodSecurity(pod);
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST(BuildJobTest, GpuAgentsGetTheGpuTolerationOnceNextToTheirOwn) {
  Fixture f;
  f.agent.spec.resources.gpu = 1;
  f.agent.spec.kubernetes.tolerations = {Toleration("dedicated", "Equal", "gpu", "NoSchedule")};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json gpu = {{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}};
  const Json& tolerations = PodSpec(*job)["tolerations"];
  ASSERT_EQ(tolerations.size(), 2u) << tolerations.dump();
  EXPECT_EQ(tolerations[0]["key"], "dedicated");
  EXPECT_EQ(tolerations[1], gpu);

  // Listed by the agent too: still once.
  f.agent.spec.kubernetes.tolerations.push_back(
      Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"));
  auto listed = f.Build();
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  const Json& again = PodSpec(*listed)["tolerations"];
  EXPECT_EQ(std::count(again.begin(), again.end(), gpu), 1) << again.dump();
  EXPECT_EQ(again.size(), 2u);
}

TEST(BuildJobTest, AgentServiceAccountOverridesTheExecutorsAndMayMountItsToken) {
  Fixture f;
  f.options.service_account = "agentd-runner";
  auto executor_default = f.Build();
  ASSERT_TRUE(executor_default.ok()) << executor_default.error().message;
  EXPECT_EQ(PodSpec(*executor_default)["serviceAccountName"], "agentd-runner");
  EXPECT_EQ(PodSpec(*executor_default)["automountServiceAccountToken"], false);

  f.agent.spec.kubernetes.service_account_name = "cluster-reader";
  f.agent.spec.kubernetes.automount_service_account_token = true;
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json& pod = PodSpec(*job);
  EXPECT_EQ(pod["serviceAccountName"], "cluster-reader");
  EXPECT_EQ(pod["automountServiceAccountToken"], true);
  auto status = CheckRestrictedPodSecurity(pod);
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST(BuildJobTest, EveryNewFieldTogetherStillPassesRestrictedPodSecurity) {
  Fixture f;
  f.agent.spec.resources.gpu = 2;
  f.agent.spec.kubernetes = {
      .node_selector = {{"pool", "gpu"}},
      .tolerations = {Toleration("dedicated", "Equal", "gpu", "NoExecute", 600)},
      .service_account_name = "trainer",
      .automount_service_account_token = true};
  f.model.spec.weights = resources::LocalWeights{.url = "https://x/w", .sha256 = kWeightsSha};
  f.options.models_cache_pvc = "models";
  f.options.uploads_pvc = "uploads";
  f.run.labels = {{runs::kRunObjectNameLabel, "train"},
                  {runs::kRunObjectUidLabel, "6f1c0a2e-1b7d-4c1e-9d2a-0f3b5c7d9e11"},
                  {runs::kRunObjectNamespaceLabel, "agentd-runs"}};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  auto status = CheckRestrictedPodSecurity(PodSpec(*job));
  EXPECT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ((*job)["metadata"]["ownerReferences"].size(), 1u);
}

TEST(BuildJobTest, JobIsOwnedByTheRunObjectInTheSameNamespace) {
  Fixture f;
  f.run.labels = {{"team", "infra"},
                  {runs::kRunObjectNameLabel, "fix-readme"},
                  {runs::kRunObjectUidLabel, "6f1c0a2e-1b7d-4c1e-9d2a-0f3b5c7d9e11"},
                  {runs::kRunObjectNamespaceLabel, "agentd-runs"}};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ((*job)["metadata"]["ownerReferences"],
            Json::array({{{"apiVersion", "agentd.dev/v1alpha1"},
                          {"kind", "Run"},
                          {"name", "fix-readme"},
                          {"uid", "6f1c0a2e-1b7d-4c1e-9d2a-0f3b5c7d9e11"},
                          {"controller", true},
                          {"blockOwnerDeletion", true}}}));
  // Only the Job: the pod is owned by the Job, as always.
  EXPECT_FALSE((*job)["spec"]["template"]["metadata"].contains("ownerReferences"));
}

TEST(BuildJobTest, NoOwnerReferenceAcrossNamespacesOrWithoutAllThreeLabels) {
  const std::map<std::string, std::string> complete = {
      {runs::kRunObjectNameLabel, "fix-readme"},
      {runs::kRunObjectUidLabel, "6f1c0a2e-1b7d-4c1e-9d2a-0f3b5c7d9e11"},
      {runs::kRunObjectNamespaceLabel, "agentd-runs"}};
  struct Case {
    std::string name;
    std::function<void(std::map<std::string, std::string>&)> mutate;
  };
  const std::vector<Case> cases = {
      {"Run in the control plane's namespace",
       [](auto& labels) { labels[runs::kRunObjectNamespaceLabel] = "agentd-system"; }},
      {"no namespace label", [](auto& labels) { labels.erase(runs::kRunObjectNamespaceLabel); }},
      {"no name label", [](auto& labels) { labels.erase(runs::kRunObjectNameLabel); }},
      {"no uid label", [](auto& labels) { labels.erase(runs::kRunObjectUidLabel); }},
      {"empty uid", [](auto& labels) { labels[runs::kRunObjectUidLabel] = ""; }},
  };
  for (const Case& c : cases) {
    Fixture f;
    f.run.labels = complete;
    c.mutate(f.run.labels);
    auto job = f.Build();
    ASSERT_TRUE(job.ok()) << c.name << ": " << job.error().message;
    EXPECT_FALSE((*job)["metadata"].contains("ownerReferences")) << c.name;
  }
}

TEST(BuildJobTest, ModelWithBothEnvAndSecretRefUsesTheSecret) {
  Fixture f;
  f.model.spec.api_key = {
      .env = "OPENAI_API_KEY",
      .secret_ref = resources::SecretKeyRef{.name = "openai", .key = "api-key"}};
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  const Json* key = FindByName(Runner(*job)["env"], kModelApiKeyEnv);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ((*key)["valueFrom"]["secretKeyRef"]["name"], "openai");
  EXPECT_EQ(FindByName(Runner(*job)["env"], "OPENAI_API_KEY"), nullptr);
}

TEST(BuildJobTest, AgentImageOverridesTheDefault) {
  Fixture f;
  f.agent.spec.image = "registry.example/custom:2";
  auto job = f.Build();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(Runner(*job)["image"], "registry.example/custom:2");
}

TEST(JobNameTest, IsTheRunIdWithAPrefixWhenThatFits) {
  EXPECT_EQ(JobName("run-01jd2k3m4n5p6q7r8s9t0vwxyz"), "agentd-run-01jd2k3m4n5p6q7r8s9t0vwxyz");
}

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

TEST(JobNameTest, IsValidDeterministicAndDistinctForLongOrOddIds) {
  const std::string long_a = "run-" + std::string(100, 'a') + "-one";
  const std::string long_b = "run-" + std::string(100, 'a') + "-two";
  const std::string odd = "Run_ID.With/Odd--Chars-";
  for (const auto& id : {long_a, long_b, odd, std::string("-"), std::string("")}) {
    const std::string name = JobName(id);
    EXPECT_TRUE(IsDns1123Label(name)) << "'" << id << "' -> '" << name << "'";
    EXPECT_EQ(name, JobName(id));
    const std::string label = RunLabelValue(id);
    EXPECT_TRUE(IsValidLabelValue(label) && !label.empty()) << label;
  }
  EXPECT_NE(JobName(long_a), JobName(long_b));
  EXPECT_NE(RunLabelValue(long_a), RunLabelValue(long_b));
  EXPECT_EQ(JobName(long_a).rfind("agentd-run-aaaa", 0), 0u);
}

TEST(BuildJobTest, LongRunIdsStillGiveValidNameAndLabel) {
  Fixture f;
  f.run.id = "run-" + std::string(80, 'x');
  auto job = f.Build();
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_TRUE(IsDns1123Label((*job)["metadata"]["name"].get<std::string>()));
  EXPECT_TRUE(IsValidLabelValue((*job)["metadata"]["labels"][kRunLabel].get<std::string>()));
  EXPECT_EQ((*job)["metadata"]["annotations"][kRunIdAnnotation], f.run.id);
}

// --- CheckRestrictedPodSecurity ---------------------------------------------------------------

Json GoodPod() {
  Fixture f;
  f.model.spec.weights = resources::LocalWeights{.url = "https://x/w", .sha256 = kWeightsSha};
  f.options.models_cache_pvc = "models";
  auto job = f.Build();
  AGENTD_CHECK(job.ok()) << job.error().message;
  return PodSpec(*job);
}

void ExpectRefused(const Json& pod, const std::string& field) {
  auto status = CheckRestrictedPodSecurity(pod);
  ASSERT_FALSE(status.ok()) << "expected a violation of " << field;
  EXPECT_EQ(status.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message.find(field), std::string::npos) << status.error().message;
}

TEST(CheckRestrictedPodSecurityTest, RefusesPrivilegedContainer) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"]["privileged"] = true;
  ExpectRefused(pod, "containers[0] (runner).securityContext.privileged");
}

TEST(CheckRestrictedPodSecurityTest, RefusesHostPathVolume) {
  Json pod = GoodPod();
  pod["volumes"].push_back({{"name", "host"}, {"hostPath", {{"path", "/"}}}});
  ExpectRefused(pod, ".hostPath");
}

TEST(CheckRestrictedPodSecurityTest, RefusesOtherVolumeTypes) {
  Json pod = GoodPod();
  pod["volumes"].push_back({{"name", "n"}, {"nfs", {{"server", "x"}, {"path", "/"}}}});
  ExpectRefused(pod, ".nfs");
}

TEST(CheckRestrictedPodSecurityTest, RefusesMissingDropAllInInitContainer) {
  Json pod = GoodPod();
  pod["initContainers"][0]["securityContext"]["capabilities"]["drop"] = Json::array({"NET_RAW"});
  ExpectRefused(pod, "initContainers[0] (fetch-weights).securityContext.capabilities.drop");
}

TEST(CheckRestrictedPodSecurityTest, RefusesAddedCapabilitiesOtherThanNetBindService) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"]["capabilities"]["add"] =
      Json::array({"NET_BIND_SERVICE"});
  EXPECT_TRUE(CheckRestrictedPodSecurity(pod).ok());
  pod["containers"][0]["securityContext"]["capabilities"]["add"] = Json::array({"SYS_ADMIN"});
  ExpectRefused(pod, "capabilities.add");
}

TEST(CheckRestrictedPodSecurityTest, RefusesRunAsUserZeroEvenWithRunAsNonRoot) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"]["runAsUser"] = 0;
  ASSERT_EQ(pod["containers"][0]["securityContext"]["runAsNonRoot"], true);
  ExpectRefused(pod, "containers[0] (runner).securityContext.runAsUser");
  Json pod_level = GoodPod();
  pod_level["securityContext"]["runAsUser"] = 0;
  ExpectRefused(pod_level, "securityContext.runAsUser");
}

TEST(CheckRestrictedPodSecurityTest, RunAsNonRootMayComeFromThePodButNotBeOverriddenToFalse) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"].erase("runAsNonRoot");
  EXPECT_TRUE(CheckRestrictedPodSecurity(pod).ok());
  pod["securityContext"].erase("runAsNonRoot");
  ExpectRefused(pod, "containers[0] (runner).securityContext.runAsNonRoot");
  Json overridden = GoodPod();
  overridden["containers"][0]["securityContext"]["runAsNonRoot"] = false;
  ExpectRefused(overridden, "runAsNonRoot");
}

TEST(CheckRestrictedPodSecurityTest, RefusesPrivilegeEscalationUnlessExplicitlyFalse) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"].erase("allowPrivilegeEscalation");
  ExpectRefused(pod, "allowPrivilegeEscalation");
}

TEST(CheckRestrictedPodSecurityTest, RefusesUnconfinedSeccomp) {
  Json pod = GoodPod();
  pod["containers"][0]["securityContext"]["seccompProfile"]["type"] = "Unconfined";
  ExpectRefused(pod, "containers[0] (runner).securityContext.seccompProfile.type");
  Json missing = GoodPod();
  missing["securityContext"].erase("seccompProfile");
  missing["containers"][0]["securityContext"].erase("seccompProfile");
  ExpectRefused(missing, "seccompProfile");
  Json localhost = GoodPod();
  localhost["securityContext"]["seccompProfile"] = {{"type", "Localhost"},
                                                    {"localhostProfile", "p.json"}};
  EXPECT_TRUE(CheckRestrictedPodSecurity(localhost).ok());
}

TEST(CheckRestrictedPodSecurityTest, RefusesHostNamespacesPortsAndUnsafeSysctls) {
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
    Json pod = GoodPod();
    pod[host] = true;
    ExpectRefused(pod, host);
  }
  Json port = GoodPod();
  port["containers"][0]["ports"] = Json::array({{{"containerPort", 80}, {"hostPort", 80}}});
  ExpectRefused(port, "ports[0].hostPort");
  Json sysctl = GoodPod();
  sysctl["securityContext"]["sysctls"] = Json::array({{{"name", "kernel.msgmax"}, {"value", "1"}}});
  ExpectRefused(sysctl, "sysctls[0]");
}

TEST(CheckRestrictedPodSecurityTest, ChecksEphemeralContainersToo) {
  Json pod = GoodPod();
  pod["ephemeralContainers"] = Json::array({{{"name", "debug"}, {"image", "busybox"}}});
  ExpectRefused(pod, "ephemeralContainers[0] (debug)");
}

}  // namespace
}  // namespace agentd::exec::kubernetes
