// Governance end to end: the real agentd and agentctl over HTTP, budgets and tiers from a config
// directory, approvals by a second identity, the runner's per-call reservation, usage reports
// and the audit log verified, exported and tampered with.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/json.h"
#include "tests/integration/fixture.h"

namespace agentd::integration {
namespace {

using testing::FakeMode;
using testing::FakeReply;
using testing::FakeToolCall;
using testing::FakeUsage;

constexpr char kAliceKey[] = "alice-key-0123456789";
constexpr char kBobKey[] = "bob-key-0123456789abc";

// A model at $0.50 / $1.50 per million tokens with small replies, a tier-3 developer whose
// allowance is $0.001, a tier-4 architect (approval required by its tier) and an organisation
// budget.
std::string GovernanceYaml(const std::string& base_url, const std::string& org_limit) {
  return R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: fake}
spec:
  provider: openai-compatible
  baseUrl: )" +
         base_url + R"(
  model: fake-model
  pricing: {inputPerMillionUsd: "0.50", outputPerMillionUsd: "1.50"}
  maxOutputTokens: 16
  maxRetries: 1
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: developer, labels: {team: platform}}
spec:
  role: developer
  model: fake
  systemPrompt: You are a careful software engineer.
  tools: [read_file, list_files]
  limits: {maxTurns: 5, timeoutSeconds: 120, maxCostUsd: "0.001"}
  tier: 3
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: architect, labels: {team: platform}}
spec:
  role: architect
  model: fake
  systemPrompt: You design systems.
  tools: [read_file]
  limits: {maxTurns: 3, timeoutSeconds: 120, maxCostUsd: "0.01"}
  tier: 4
---
apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: organisation}
spec:
  scope: {}
  period: month
  limitUsd: ")" +
         org_limit + R"("
  action: reject
)";
}

class GovernanceE2eTest : public AgentdTest {
 protected:
  void StartGoverned(const std::string& org_limit, std::map<std::string, std::string> env = {}) {
    if (!model_) StartModel({.mode = FakeMode::kEcho});
    WriteFile(config_.Sub("objects.yaml"), GovernanceYaml(model_->base_url(), org_limit));
    env["SUBMIT_API_KEYS"] = std::string("alice:") + kAliceKey + ",bob:" + kBobKey;
    env.emplace("AGENTD_RUNNER_RETRY_BASE_MS", "5");
    auto server = AgentdServer::Start(
        {.config_dir = config_.path(), .data_dir = data_.path(), .env = env, .api_key = kAliceKey});
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
  }

  core::Json GetJson(const std::string& path) {
    auto r = server_->Get(path);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return core::ParseJson(r->body).value();
  }

  std::string Metrics() {
    auto r = server_->Get("/metrics");
    return r.ok() ? r->body : "";
  }
};

TEST_F(GovernanceE2eTest, SubmissionsPastTheBudgetAreRefusedWithProblemJson) {
  // Nothing executes, so every admitted run keeps its $0.001 reserved.
  StartGoverned("0.0025", {{"WORKER_CONCURRENCY", "0"}});
  Submit("one");
  Submit("two");

  auto third = server_->Post("/api/v1/runs", R"({"agent":"developer","input":"three"})");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->status, 429) << third->body;
  core::Json problem = core::ParseJson(third->body).value();
  EXPECT_EQ(problem["code"], "budget_exceeded");
  EXPECT_EQ(problem["budget"], "organisation");
  EXPECT_EQ(problem["reservedUsd"], "0.002");
  EXPECT_EQ(problem["limitUsd"], "0.0025");
  CliResult cli = RunAgentctl(*server_, {"run", "developer", "four"});
  EXPECT_EQ(cli.exit_code, 5) << cli.out << cli.err;
  EXPECT_NE(cli.err.find("budget_exceeded"), std::string::npos) << cli.err;

  core::Json budgets = GetJson("/api/v1/budgets");
  ASSERT_EQ(budgets["items"].size(), 1u);
  EXPECT_EQ(budgets["items"][0]["reservedUsd"], "0.002");
  EXPECT_EQ(GetJson("/api/v1/runs")["items"].size(), 2u);  // nothing stored for the refusals
  EXPECT_NE(Metrics().find("agent_governance_violations_total{agent=\"developer\",rule=\"budget_"
                           "exceeded\"} 2"),
            std::string::npos);
  EXPECT_NE(Metrics().find("agentd_budget_reserved_dollars{budget=\"organisation\"} 0.002"),
            std::string::npos)
      << Metrics();
}

TEST_F(GovernanceE2eTest, ApprovalByASecondIdentityThenUsageAndAVerifiedAuditTrail) {
  StartGoverned("100");
  auto created = server_->Post("/api/v1/runs", R"({"agent":"architect","input":"design it"})");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 201) << created->body;
  core::Json run = core::ParseJson(created->body).value();
  const std::string id = run["id"];
  EXPECT_EQ(run["phase"], "AwaitingApproval");
  EXPECT_NE(Metrics().find("agentd_runs_awaiting_approval 1"), std::string::npos);

  CliResult self = RunAgentctl(*server_, {"runs", "approve", id, "--reason", "mine"});
  EXPECT_EQ(self.exit_code, 8) << self.err;  // permission denied
  EXPECT_NE(self.err.find("cannot approve it too"), std::string::npos) << self.err;
  CliResult approved = RunAgentctl(*server_, {"runs", "approve", id, "--reason", "looks fine"},
                                   std::chrono::seconds(60), kBobKey);
  EXPECT_EQ(approved.exit_code, 0) << approved.out << approved.err;
  auto done = server_->WaitForRunEnd(id, std::chrono::seconds(60));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ((*done)["phase"], "Succeeded") << done->dump();
  EXPECT_EQ((*done)["governance"]["tier"], 4);
  EXPECT_EQ((*done)["governance"]["budgets"], core::Json::array({"organisation"}));

  core::Json usage = GetJson("/api/v1/usage?groupBy=agent,team");
  ASSERT_EQ(usage["rows"].size(), 1u) << usage.dump();
  EXPECT_EQ(usage["rows"][0]["group"]["agent"], "architect");
  EXPECT_EQ(usage["rows"][0]["group"]["team"], "platform");
  EXPECT_EQ(usage["rows"][0]["costUsd"], (*done)["usage"]["costUsd"]);
  CliResult usage_cli = RunAgentctl(*server_, {"usage", "--group-by", "agent"});
  EXPECT_EQ(usage_cli.exit_code, 0) << usage_cli.err;
  EXPECT_NE(usage_cli.out.find("architect"), std::string::npos) << usage_cli.out;

  // The audit trail: who submitted, who approved, the run's steps; it verifies.
  core::Json audit = GetJson("/api/v1/audit?subject=" + id);
  std::vector<std::string> actions;
  for (const auto& e : audit["items"]) actions.push_back(e["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"run.submitted", "run.approved", "run.started",
                                               "run.finished"}));
  EXPECT_EQ(audit["items"][0]["actor"], "alice");
  EXPECT_EQ(audit["items"][1]["actor"], "bob");
  CliResult verify = RunAgentctl(*server_, {"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // An export with a signed checkpoint verifies offline; a tampered copy does not.
  auto checkpoint = server_->Post("/api/v1/audit/checkpoints", "");
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->status, 201) << checkpoint->body;
  const std::string exported = data_.Sub("audit.jsonl");
  CliResult exp = RunAgentctl(*server_, {"audit", "export", "--out", exported});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  CliResult offline = RunAgentctl(*server_, {"audit", "verify", "--file", exported});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;

  std::ifstream in(exported);
  std::stringstream text;
  text << in.rdbuf();
  std::string tampered = text.str();
  const size_t at = tampered.find("\"actor\":\"bob\"");
  ASSERT_NE(at, std::string::npos);
  tampered.replace(at, 13, "\"actor\":\"eve\"");
  const std::string forged = data_.Sub("forged.jsonl");
  WriteFile(forged, tampered);
  CliResult broken = RunAgentctl(*server_, {"audit", "verify", "--file", forged});
  EXPECT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  EXPECT_NE((broken.out + broken.err).find("broken at entry"), std::string::npos)
      << broken.out << broken.err;
}

TEST_F(GovernanceE2eTest, RunnerStopsBeforeACallItsAllowanceCannotCover) {
  StartModel({.mode = FakeMode::kScript});
  // The first call costs 1900 input tokens ($0.00095) + 10 output, most of the $0.001; the
  // second call's worst case cannot fit what is left, so it is never made.
  model_->Enqueue(FakeReply{.text = "Looking around first.",
                            .tool_calls = {{.name = "list_files", .arguments = "{}"}},
                            .usage = FakeUsage{.prompt_tokens = 1900, .completion_tokens = 10}});
  model_->EnqueueText("never sent");
  StartGoverned("100");
  const std::string id = Submit("tidy up");

  auto done = server_->WaitForRunEnd(id, std::chrono::seconds(60));

  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ((*done)["phase"], "Failed");
  EXPECT_EQ((*done)["conditions"][0]["reason"], "BudgetExceeded") << done->dump();
  EXPECT_EQ((*done)["result"], "Looking around first.");
  EXPECT_EQ(model_->completion_requests().size(), 1u);
  core::Json events = GetJson("/api/v1/runs/" + id + "/events?limit=1000");
  bool violation = false;
  for (const auto& e : events["items"]) {
    violation = violation || (e["type"] == "violation" && e["data"]["rule"] == "run_cost_limit");
  }
  EXPECT_TRUE(violation) << events.dump();
  EXPECT_NE(Metrics().find(
                "agent_governance_violations_total{agent=\"developer\",rule=\"run_cost_limit\"} 1"),
            std::string::npos)
      << Metrics();
  core::Json audit = GetJson("/api/v1/audit?action=policy.violation");
  ASSERT_EQ(audit["items"].size(), 1u) << audit.dump();
  EXPECT_EQ(audit["items"][0]["subject"], id);
}

}  // namespace
}  // namespace agentd::integration
