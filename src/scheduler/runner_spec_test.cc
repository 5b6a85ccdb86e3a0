#include "scheduler/runner_spec.h"

#include <gtest/gtest.h>

#include "catalog/prompt.h"
#include "scheduler/test_catalog.h"

namespace agentd::scheduler {
namespace {

using namespace std::chrono_literals;
using fixtures::MakeAgent;
using fixtures::MakeSnapshot;

runs::Run MakeRun(const std::string& agent) {
  runs::Run run;
  run.id = "run-01jx0000000000000000000000";
  run.agent = agent;
  run.input = "add a README";
  run.parameters = {{"branch", "main"}};
  run.attempts = 2;
  return run;
}

TEST(BuildRunnerSpecTest, CarriesTheAgentModelPromptLimitsAndWorkspace) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "local")});
  auto spec = BuildRunnerSpec(MakeRun("developer"), *snapshot, "/var/lib/agentd/workspaces");
  ASSERT_TRUE(spec.ok()) << spec.error().message;

  EXPECT_EQ(spec->run_id, "run-01jx0000000000000000000000");
  EXPECT_EQ(spec->attempt, 2);
  EXPECT_EQ(spec->agent, "developer");
  EXPECT_EQ(spec->role, "developer");
  EXPECT_EQ(spec->input, "add a README");
  EXPECT_EQ(spec->parameters["branch"], "main");
  EXPECT_EQ(spec->tools, (std::vector<std::string>{"read_file", "shell"}));
  EXPECT_EQ(spec->system_prompt,
            catalog::ComposeSystemPrompt(*snapshot, *snapshot->FindAgent("developer")));
  EXPECT_NE(spec->system_prompt.find("You are developer."), std::string::npos);
  EXPECT_EQ(spec->workspace, "/var/lib/agentd/workspaces/run-01jx0000000000000000000000");

  EXPECT_EQ(spec->model.provider, "openai-compatible");
  EXPECT_EQ(spec->model.base_url, "http://127.0.0.1:8000/v1");
  EXPECT_EQ(spec->model.model, "qwen2.5-coder-7b");
  EXPECT_EQ(spec->model.api_key_env, "LOCAL_API_KEY");
  EXPECT_EQ(spec->model.input_per_million, 500'000);
  EXPECT_EQ(spec->model.cached_input_per_million, 250'000);
  EXPECT_EQ(spec->model.output_per_million, 1'500'000);
  EXPECT_EQ(spec->model.max_output_tokens, 2048);
  EXPECT_EQ(spec->model.request_timeout, 30s);
  EXPECT_EQ(spec->model.max_retries, 2);

  EXPECT_EQ(spec->limits.max_turns, 7);
  EXPECT_EQ(spec->limits.timeout, 60s);
}

TEST(BuildRunnerSpecTest, TheRunsOwnDeadlineOverridesTheAgentTimeout) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "local")});
  runs::Run run = MakeRun("developer");
  run.deadline = 15s;
  auto spec = BuildRunnerSpec(run, *snapshot, "/w");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->limits.timeout, 15s);
}

TEST(BuildRunnerSpecTest, FailsWhenTheAgentOrItsModelIsGone) {
  auto no_agent = MakeSnapshot({});
  auto r1 = BuildRunnerSpec(MakeRun("developer"), *no_agent, "/w");
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_NE(r1.error().message.find("\"developer\""), std::string::npos);

  auto no_model = MakeSnapshot({MakeAgent("developer", "missing")});
  auto r2 = BuildRunnerSpec(MakeRun("developer"), *no_model, "/w");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("\"missing\""), std::string::npos);
}

TEST(BuildRunnerSpecTest, RejectsARelativeWorkspaceRoot) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "local")});
  auto spec = BuildRunnerSpec(MakeRun("developer"), *snapshot, "relative/dir");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code, core::ErrorCode::kInvalidArgument);
}

TEST(RunTimeoutTest, PrefersRunThenAgentThenFallback) {
  runs::Run run;
  auto agent = MakeAgent("a", "local");
  EXPECT_EQ(RunTimeout(run, &agent, 900s), 60s);
  EXPECT_EQ(RunTimeout(run, nullptr, 900s), 900s);
  agent.spec.limits.timeout = 0s;
  EXPECT_EQ(RunTimeout(run, &agent, 900s), 900s);
  run.deadline = 5s;
  EXPECT_EQ(RunTimeout(run, &agent, 900s), 5s);
}

}  // namespace
}  // namespace agentd::scheduler
