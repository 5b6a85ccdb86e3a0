// Kubernetes end to end: the real `agentd serve --executor kubernetes --catalog kubernetes`
// against the fake API server (real wire format: resourceVersions, chunked watches). The test
// plays the parts a cluster would: it applies Model, Agent and Run objects, and when the
// executor creates a Job it acts as the kubelet — runs the real `agentd runner` with the pod's
// flags and the Secret's token and spec (workspace mapped to a temp dir), then marks the Job
// complete. The run's phase, usage and the Run's status must come back.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "core/json.h"
#include "kube/http_kube_client.h"
#include "testing/fake_kube_api_server.h"
#include "tests/integration/fixture.h"

namespace agentd::integration {
namespace {

using core::Json;
using testing::FakeKubeApiServer;
using testing::FakeMode;

constexpr char kNs[] = "agents";
constexpr char kGroup[] = "agentd.dev";

std::string Base64Decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    size_t pos = kAlphabet.find(c);
    if (pos == std::string::npos) continue;
    value = (value << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// Polls `get` until it returns a value, failing after 60 s.
template <typename F>
auto WaitFor(F get, const std::string& what) -> decltype(get()) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto value = get()) return value;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
  }
  ADD_FAILURE() << "timed out waiting for " << what;
  return {};
}

class KubernetesE2eTest : public AgentdTest {
 protected:
  void SetUp() override {
    auto kube = FakeKubeApiServer::Start();
    ASSERT_TRUE(kube.ok()) << kube.error().message;
    kube_ = std::move(*kube);
    StartModel({.mode = FakeMode::kEcho});
    // A kubeconfig pointing at the fake server, as `kubectl` would have.
    WriteFile(config_.Sub("kubeconfig"), R"(apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: {server: )" + kube_->url() + R"(}
users:
- name: tester
  user: {token: fake-token}
contexts:
- name: fake
  context: {cluster: fake, user: tester, namespace: agents}
)");
    Seed("models",
         {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", "Model"},
          {"metadata", {{"name", "fake"}, {"namespace", kNs}}},
          {"spec",
           {{"provider", "openai-compatible"},
            {"baseUrl", model_->base_url()},
            {"model", "fake-model"},
            {"pricing", {{"inputPerMillionUsd", "0.50"}, {"outputPerMillionUsd", "1.50"}}},
            {"maxOutputTokens", 64},
            {"maxRetries", 1}}}});
    Seed("agents",
         {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", "Agent"},
          {"metadata",
           {{"name", "developer"}, {"namespace", kNs}, {"labels", {{"team", "platform"}}}}},
          {"spec",
           {{"role", "developer"},
            {"model", "fake"},
            {"systemPrompt", "You are careful."},
            {"tools", Json::array({"read_file"})},
            {"tier", 3},
            {"limits", {{"maxTurns", 3}, {"timeoutSeconds", 120}}}}}});
    auto server = AgentdServer::Start(
        {.config_dir = config_.path(),
         .data_dir = data_.path(),
         .env = {{"KUBECONFIG", config_.Sub("kubeconfig")},
                 {"K8S_NAMESPACE", kNs},
                 {"EXECUTOR_IMAGE", "registry.example/agentd@sha256:" + std::string(64, 'a')},
                 {"AGENTD_API_URL", "http://agentd.agents.svc:8080"},
                 {"POD_NAME", "agentd-0"},
                 {"OPERATOR_STATUS_COALESCE", "0s"},
                 {"AGENTD_RUNNER_RETRY_BASE_MS", "5"}},
         .extra_args = {"--executor", "kubernetes", "--catalog", "kubernetes"}});
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
  }

  Json Seed(const std::string& resource, Json object) {
    return kube_->Seed(kGroup, "v1alpha1", resource, std::move(object));
  }

  // The run id in the status of the Run `name`, once the operator has written it.
  std::optional<std::string> WaitForRunIdOf(const std::string& name) {
    return WaitFor(
        [&]() -> std::optional<std::string> {
          auto run = kube_->Get(kGroup, "runs", kNs, name);
          if (!run || !(*run).contains("status")) return std::nullopt;
          std::string id = (*run)["status"].value("runId", "");
          return id.empty() ? std::nullopt : std::optional<std::string>(id);
        },
        "status.runId of the Run " + name);
  }

  // The Job the executor created for `run_id`.
  std::optional<Json> WaitForJobOf(const std::string& run_id) {
    return WaitFor(
        [&]() -> std::optional<Json> {
          for (const Json& j : kube_->List("batch", "jobs", kNs)) {
            if (j["metadata"]["annotations"].value("agentd.dev/run-id", "") == run_id) return j;
          }
          return std::nullopt;
        },
        "the Job of " + run_id);
  }

  // Plays the kubelet for the Job of `run_id`: runs the real runner with the pod's flags, the
  // Secret's token and spec, then reports the Job complete. Returns the runner's exit code.
  int RunPod(const std::string& run_id) {
    std::optional<Json> job = WaitForJobOf(run_id);
    if (!job) return -1;
    const std::string name = (*job)["metadata"]["name"];
    std::optional<Json> secret =
        WaitFor([&] { return kube_->Get("", "secrets", kNs, name); }, "the runner Secret " + name);
    if (!secret) return -1;
    Json spec = core::ParseJson(Base64Decode((*secret)["data"]["spec.json"])).value();
    TempDir pod;
    spec["workspace"] = pod.Sub("workspace");  // the pod's emptyDir
    WriteFile(pod.Sub("spec.json"), core::DumpJson(spec));
    WriteFile(pod.Sub("token"), Base64Decode((*secret)["data"]["token"]));
    auto runner = Process::Start(
        {.argv = {BinaryPath("cmd/agentd/agentd"), "runner", "--run-id", run_id, "--attempt", "1",
                  "--spec-file", pod.Sub("spec.json"), "--token-file", pod.Sub("token"),
                  "--events-url", server_->url() + "/api/v1/runs/" + run_id + "/events",
                  "--journal", pod.Sub("journal.jsonl")},
         .env = {{"HOSTNAME", name + "-pod"}, {"AGENTD_RUNNER_RETRY_BASE_MS", "5"}}});
    auto code = runner->Wait(std::chrono::seconds(60));
    // The Job controller's part: the pod succeeded, so the Job is Complete.
    Json done = *kube_->Get("batch", "jobs", kNs, name);
    done["status"] = {{"succeeded", 1},
                      {"conditions", Json::array({{{"type", "Complete"}, {"status", "True"}}})}};
    kube_->Seed("batch", "v1", "jobs", done);
    EXPECT_TRUE(code.ok() && *code == 0) << runner->Stderr();
    return code.ok() ? *code : -1;
  }

  std::unique_ptr<FakeKubeApiServer> kube_;
};

TEST_F(KubernetesE2eTest, RunResourceInJobOutJobStatusInRunStatusOut) {
  Seed("runs", {{"apiVersion", "agentd.dev/v1alpha1"},
                {"kind", "Run"},
                {"metadata", {{"name", "readme"}, {"namespace", kNs}, {"generation", 1}}},
                {"spec", {{"agent", "developer"}, {"input", "add a README"}}}});

  // The operator accepted it: a run exists, named in the Run's status.
  std::optional<std::string> run_id = WaitForRunIdOf("readme");
  ASSERT_TRUE(run_id);
  // No finalizer by default: the Run owns its Job, so Kubernetes deletes the Job with the Run.
  const Json run_object = *kube_->Get(kGroup, "runs", kNs, "readme");
  EXPECT_FALSE(run_object["metadata"].contains("finalizers")) << run_object.dump();
  std::optional<Json> job = WaitForJobOf(*run_id);
  ASSERT_TRUE(job);
  const Json owners = (*job)["metadata"].value("ownerReferences", Json::array());
  ASSERT_EQ(owners.size(), 1u) << job->dump();
  EXPECT_EQ(owners[0]["kind"], "Run");
  EXPECT_EQ(owners[0]["apiVersion"], "agentd.dev/v1alpha1");
  EXPECT_EQ(owners[0]["name"], "readme");
  EXPECT_EQ(owners[0]["uid"], run_object["metadata"]["uid"]);
  EXPECT_EQ(owners[0]["controller"], true);

  ASSERT_EQ(RunPod(*run_id), 0);

  auto done = server_->WaitForRunEnd(*run_id, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ((*done)["phase"], "Succeeded") << done->dump();
  EXPECT_EQ((*done)["source"], "kubectl");
  EXPECT_GT((*done)["usage"]["modelCalls"].get<int64_t>(), 0);
  std::optional<Json> status = WaitFor(
      [&]() -> std::optional<Json> {
        auto run = kube_->Get(kGroup, "runs", kNs, "readme");
        if (!run || (*run)["status"].value("phase", "") != "Succeeded") return std::nullopt;
        return (*run)["status"];
      },
      "the Run's status phase Succeeded");
  ASSERT_TRUE(status);
  bool succeeded = false;
  for (const Json& c : (*status)["conditions"]) {
    if (c["type"] == "Succeeded") {
      succeeded = c["status"] == "True";
      EXPECT_EQ(c["observedGeneration"], 1);
    }
  }
  EXPECT_TRUE(succeeded) << status->dump();
  EXPECT_FALSE((*status).value("jobName", "").empty()) << status->dump();
  EXPECT_NE((*status)["usage"].value("costUsd", "0"), "0") << status->dump();

  // The catalog source marks the Agent Ready (debounced, so it may come after the run ended).
  std::optional<Json> ready = WaitFor(
      [&]() -> std::optional<Json> {
        auto agent = kube_->Get(kGroup, "agents", kNs, "developer");
        if (!agent || !(*agent).contains("status")) return std::nullopt;
        for (const Json& c : (*agent)["status"].value("conditions", Json::array())) {
          if (c["type"] == "Ready") return c;
        }
        return std::nullopt;
      },
      "the Agent's Ready condition");
  ASSERT_TRUE(ready);
  EXPECT_EQ((*ready)["status"], "True") << ready->dump();
}

TEST_F(KubernetesE2eTest, DeletingARunCancelsItsRunAndRemovesItsJob) {
  Seed("runs", {{"apiVersion", "agentd.dev/v1alpha1"},
                {"kind", "Run"},
                {"metadata", {{"name", "stop-me"}, {"namespace", kNs}, {"generation", 1}}},
                {"spec", {{"agent", "developer"}, {"input", "a long task"}}}});
  const std::optional<std::string> run_id = WaitForRunIdOf("stop-me");
  ASSERT_TRUE(run_id);
  const std::optional<Json> job_object = WaitForJobOf(*run_id);
  ASSERT_TRUE(job_object);
  const std::string job = (*job_object)["metadata"]["name"];

  // kubectl delete run/stop-me: the Run is gone at once (no finalizer; the garbage collector
  // would delete the Job it owns); the operator sees the deletion and cancels the run, whose
  // executor deletes the Job itself (the fake API server has no garbage collector).
  kube::KubeConfig config;
  config.server = kube_->url();
  config.token = "fake-token";
  auto client = kube::HttpKubeClient::Connect(config);
  ASSERT_TRUE(client->Delete({{kGroup, "v1alpha1", "runs"}, kNs, "stop-me"}).ok());

  auto done = server_->WaitForRunEnd(*run_id, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ((*done)["phase"], "Cancelled") << done->dump();
  EXPECT_TRUE(WaitFor([&] { return !kube_->Get("batch", "jobs", kNs, job).has_value(); },
                      "the Job to be deleted"));
  EXPECT_FALSE(kube_->Get(kGroup, "runs", kNs, "stop-me").has_value());
}

}  // namespace
}  // namespace agentd::integration
