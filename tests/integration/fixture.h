// Shared setup for the integration tests: a fake model server in this process and a config
// directory whose `fake` Model points at it.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"
#include "testing/fake_model_server.h"
#include "tests/integration/harness.h"

namespace agentd::integration {

inline std::string ConfigYaml(const std::string& base_url, int max_retries = 1) {
  return R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: fake}
spec:
  provider: openai-compatible
  baseUrl: )" +
         base_url + R"(
  model: fake-model
  pricing: {inputPerMillionUsd: "0.50", outputPerMillionUsd: "1.50"}
  maxRetries: )" +
         std::to_string(max_retries) + R"(
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: global-security}
spec: {scope: global, priority: 30, text: "Never print secrets."}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: developer}
spec:
  role: developer
  model: fake
  systemPrompt: You are a careful software engineer.
  tools: [read_file, write_file, list_files, shell]
  limits: {maxTurns: 5, timeoutSeconds: 120}
)";
}

class AgentdTest : public ::testing::Test {
 protected:
  void StartModel(testing::FakeModelServerOptions options = {}) {
    model_ = std::make_unique<testing::FakeModelServer>(options);
    ASSERT_TRUE(model_->Start().ok());
  }

  void StartServer(std::map<std::string, std::string> env = {}, int max_retries = 1) {
    if (!model_) StartModel();
    WriteFile(config_.Sub("objects.yaml"), ConfigYaml(model_->base_url(), max_retries));
    env.emplace("AGENTD_RUNNER_RETRY_BASE_MS", "5");
    auto server =
        AgentdServer::Start({.config_dir = config_.path(), .data_dir = data_.path(), .env = env});
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
  }

  std::string Submit(const std::string& input, const std::string& extra = "") {
    auto r = server_->Post("/api/v1/runs",
                           R"({"agent":"developer","input":")" + input + "\"" + extra + "}");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201) << r->body;
    return core::ParseJson(r->body).value().value("id", "");
  }

  TempDir config_;
  TempDir data_;
  std::unique_ptr<testing::FakeModelServer> model_;
  std::unique_ptr<AgentdServer> server_;
};

}  // namespace agentd::integration
