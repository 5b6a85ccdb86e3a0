// End-to-end behaviour of `agentd serve` + `agentctl` + `agentd runner` over real HTTP, with the
// fake OpenAI-compatible server standing in for the model.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/fixture.h"

namespace agentd::integration {
namespace {

using testing::FakeMode;
using testing::FakeModelServerOptions;
using testing::FakeReply;
using testing::FakeToolCall;
using testing::WhenExhausted;

core::Json Events(AgentdServer& server, const std::string& id) {
  auto r = server.Get("/api/v1/runs/" + id + "/events?limit=1000");
  EXPECT_TRUE(r.ok());
  return core::ParseJson(r->body).value()["items"];
}

TEST_F(AgentdTest, FollowStreamsTheRunAndExitsZeroWhenItSucceeds) {
  StartModel({.mode = FakeMode::kDeveloper});
  StartServer();
  CliResult cli =
      RunAgentctl(*server_, {"run", "developer", "add a README to the workspace", "--follow"});
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_NE(cli.out.find("write_file"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("Done: I wrote README.md"), std::string::npos) << cli.out;

  CliResult list = RunAgentctl(*server_, {"runs", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  core::Json runs = core::ParseJson(list.out).value();
  core::Json items = runs.is_array() ? runs : runs["items"];
  ASSERT_EQ(items.size(), 1u) << list.out;
  core::Json run = items[0];
  EXPECT_EQ(run["phase"], "Succeeded");
  EXPECT_EQ(run["result"], "Done: I wrote README.md for the task.");
  EXPECT_EQ(run["usage"]["modelCalls"], 2);
  EXPECT_GT(run["usage"]["inputTokens"].get<int64_t>(), 0);
  EXPECT_NE(run["usage"]["costUsd"], "0");
  std::string workspace = server_->data_dir() + "/workspaces/" + run["id"].get<std::string>();
  EXPECT_TRUE(std::filesystem::exists(workspace + "/README.md")) << workspace;

  // The model saw the composed system prompt: the agent's prompt, then the global instruction.
  auto first = model_->completion_requests().at(0).BodyJson();
  std::string system = first["messages"][0]["content"];
  EXPECT_LT(system.find("careful software engineer"), system.find("Never print secrets."));
}

TEST_F(AgentdTest, FailedRunExitsOneWithTheModelError) {
  StartModel({.when_exhausted = WhenExhausted::kRepeatLast});
  model_->Enqueue(FakeReply{.status = 500, .error_body = R"({"error":{"message":"boom"}})"});
  StartServer({}, /*max_retries=*/1);
  CliResult cli = RunAgentctl(*server_, {"run", "developer", "anything", "--wait"});
  EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
}

TEST_F(AgentdTest, RunPastItsDeadlineIsTimedOutAndExitsThree) {
  StartModel({.when_exhausted = WhenExhausted::kRepeatLast});
  model_->Enqueue(FakeReply{.text = "too late", .delay = std::chrono::seconds(60)});
  StartServer({{"AGENTD_STOP_GRACE", "1s"}});
  CliResult cli = RunAgentctl(*server_, {"run", "developer", "slow", "--deadline", "1s", "--wait"});
  EXPECT_EQ(cli.exit_code, 3) << cli.out << cli.err;
}

TEST_F(AgentdTest, CancellingAFollowedRunExitsFour) {
  StartModel({.when_exhausted = WhenExhausted::kRepeatLast});
  model_->Enqueue(FakeReply{.text = "never", .delay = std::chrono::seconds(60)});
  StartServer({{"AGENTD_STOP_GRACE", "1s"}});
  std::string id = Submit("wait for me");
  ASSERT_TRUE(model_->WaitForCompletionRequests(1, std::chrono::seconds(20)));
  auto follower = Process::Start(
      {.argv = {BinaryPath("cmd/agentctl/agentctl"), "runs", "logs", id, "-f"},
       .env = {{"AGENTD_URL", server_->url()}, {"AGENTD_TOKEN", server_->api_key()}}});
  CliResult cancel = RunAgentctl(*server_, {"runs", "cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  auto run = server_->WaitForRunEnd(id, std::chrono::seconds(30));
  ASSERT_TRUE(run.ok()) << run.error().message;
  EXPECT_EQ((*run)["phase"], "Cancelled");
  auto code = follower->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 4) << follower->Stdout() << follower->Stderr();
  // Cancelling again is refused: the run is terminal.
  EXPECT_EQ(server_->Post("/api/v1/runs/" + id + "/cancel", "")->status, 409);
}

TEST_F(AgentdTest, BadRequestsGetProblemJsonAndLoseNothing) {
  StartServer();
  auto expect_problem = [](const core::Result<httpclient::Response>& r, int status,
                           const std::string& words) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->Header("content-type").value_or(""), "application/problem+json");
    EXPECT_NE(r->body.find(words), std::string::npos) << r->body;
  };
  expect_problem(server_->Post("/api/v1/runs", "{\"agent\":"), 400, "JSON");
  expect_problem(server_->Post("/api/v1/runs", R"({"agent":7,"input":"x"})"), 400, "agent");
  expect_problem(server_->Post("/api/v1/runs", R"({"agent":"nobody","input":"x"})"), 400, "nobody");
  expect_problem(server_->Post("/api/v1/runs", R"({"agent":"developer","input":"x","bogus":1})"),
                 400, "bogus");
  expect_problem(server_->Post("/api/v1/runs", R"({"agent":"developer","input":")" +
                                                   std::string(2 << 20, 'a') + "\"}"),
                 413, "");
  expect_problem(server_->Get("/api/v1/runs/run-00000000000000000000000000"), 404, "");
  httpclient::Request no_auth{.method = "GET", .url = server_->url() + "/api/v1/runs"};
  httpclient::CurlHttpTransport transport;
  expect_problem(transport.Send(no_auth), 401, "");
  // Nothing was accepted by the bad requests, and the server still works.
  EXPECT_EQ(core::ParseJson(server_->Get("/api/v1/runs")->body).value()["items"].size(), 0u);
  EXPECT_EQ(server_->Get("/health")->status, 200);
}

TEST_F(AgentdTest, ToolCallsThatEscapeTheWorkspaceAreRefusedAndTheRunGoesOn) {
  StartModel();
  model_->Enqueue(FakeReply{
      .tool_calls = {{.name = "read_file", .arguments = R"({"path":"../../../../etc/passwd"})"}}});
  model_->Enqueue(
      FakeReply{.tool_calls = {
                    {.name = "write_file", .arguments = R"({"path":"/tmp/evil","content":"x"})"}}});
  model_->EnqueueText("could not");
  StartServer();
  std::string id = Submit("read passwd");
  auto run = server_->WaitForRunEnd(id, std::chrono::seconds(30));
  ASSERT_TRUE(run.ok()) << run.error().message;
  EXPECT_EQ((*run)["phase"], "Succeeded");
  int refused = 0;
  for (const auto& e : Events(*server_, id)) {
    if (e["type"] == "tool_result") {
      EXPECT_EQ(e["data"]["ok"], false) << e.dump();
      ++refused;
    }
  }
  EXPECT_EQ(refused, 2);
  EXPECT_FALSE(std::filesystem::exists("/tmp/evil"));
}

TEST_F(AgentdTest, IdempotencyKeyReturnsTheFirstRunAndRefusesAnotherBody) {
  StartModel({.mode = FakeMode::kEcho});
  StartServer();
  std::string body = R"({"agent":"developer","input":"once"})";
  auto first = server_->Post("/api/v1/runs", body, {{"Idempotency-Key", "k-1"}});
  auto again = server_->Post("/api/v1/runs", body, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(first->status, 201);
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(core::ParseJson(first->body).value()["id"], core::ParseJson(again->body).value()["id"]);
  auto other = server_->Post("/api/v1/runs", R"({"agent":"developer","input":"twice"})",
                             {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(other->status, 409) << other->body;
}

TEST_F(AgentdTest, EventStreamResumesAfterLastEventIdWithoutGapsOrDuplicates) {
  StartModel({.mode = FakeMode::kDeveloper});
  StartServer();
  std::string id = Submit("stream me");
  ASSERT_TRUE(server_->WaitForRunEnd(id, std::chrono::seconds(30)).ok());
  core::Json all = Events(*server_, id);
  ASSERT_GT(all.size(), 4u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]["seq"], static_cast<int>(i + 1));

  httpclient::CurlHttpTransport transport;
  httpclient::Request r{.url = server_->url() + "/api/v1/runs/" + id + "/events",
                        .headers = {{"Authorization", "Bearer " + server_->api_key()},
                                    {"Accept", "text/event-stream"},
                                    {"Last-Event-ID", "3"}}};
  std::string body;
  auto resp = transport.SendStreaming(r, [&](std::string_view chunk) {
    body.append(chunk);
    return true;
  });
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  // Every event after 3, once, in order; the stream ended by itself after the terminal phase.
  std::string expected_ids;
  for (size_t seq = 4; seq <= all.size(); ++seq)
    expected_ids += "id: " + std::to_string(seq) + "\n";
  std::string got_ids;
  size_t pos = 0;
  while ((pos = body.find("id: ", pos)) != std::string::npos) {
    size_t end = body.find('\n', pos);
    got_ids += body.substr(pos, end - pos + 1);
    pos = end;
  }
  EXPECT_EQ(got_ids, expected_ids) << body;
}

TEST_F(AgentdTest, ProbesAndMetricsAnswer) {
  StartModel({.mode = FakeMode::kEcho});
  StartServer();
  std::string id = Submit("count me");
  ASSERT_TRUE(server_->WaitForRunEnd(id, std::chrono::seconds(30)).ok());
  EXPECT_EQ(server_->Get("/health")->body, R"({"status":"ok"})");
  EXPECT_EQ(server_->Get("/ready")->status, 200);
  std::string metrics = server_->Get("/metrics")->body;
  for (const char* name :
       {"agent_tasks_total{agent=\"developer\",status=\"succeeded\"} 1",
        "agent_task_duration_seconds_count", "agent_task_cost_dollars", "agent_errors_total",
        "agentd_runs_queued", "agentd_runs_running", "agentd_http_requests_total"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name << "\n" << metrics;
  }
}

}  // namespace
}  // namespace agentd::integration
