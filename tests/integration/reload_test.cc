// The catalog directory is reloaded while agentd runs: a valid change applies to new runs only,
// an invalid one is rejected whole, and neither disturbs a run in flight.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/fixture.h"

namespace agentd::integration {
namespace {

// Polls GET /api/v1/agents/{name} until it answers `status`.
bool WaitForAgentStatus(AgentdServer& server, const std::string& name, int status) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = server.Get("/api/v1/agents/" + name);
    if (r.ok() && r->status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling with a deadline
  }
  return false;
}

TEST_F(AgentdTest, ReloadAppliesToNewRunsAndNeverDisturbsARunInFlight) {
  StartModel({.when_exhausted = testing::WhenExhausted::kRepeatLast});
  model_->Enqueue(
      testing::FakeReply{.text = "finished anyway", .delay = std::chrono::milliseconds(1500)});
  StartServer({{"AGENTD_RELOAD_DEBOUNCE", "50ms"}});
  std::string id = Submit("long job");
  ASSERT_TRUE(model_->WaitForCompletionRequests(1, std::chrono::seconds(20)));

  // An invalid change is rejected whole: the agent is still there.
  WriteFile(config_.Sub("broken.yaml"),
            "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: Bad_Name}\nspec: {}\n");
  auto log = server_->process().WaitForOutput("catalog reload rejected", std::chrono::seconds(20));
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_NE(log->find("broken.yaml:3"), std::string::npos) << *log;  // the error names the file
  EXPECT_EQ(server_->Get("/api/v1/agents/developer")->status, 200);
  // Then a valid change: the bad file goes and the agent is renamed.
  std::string yaml = ReadFile(config_.Sub("objects.yaml"));
  std::filesystem::remove(config_.Sub("broken.yaml"));
  size_t at = yaml.find("metadata: {name: developer}");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, std::string("metadata: {name: developer}").size(), "metadata: {name: builder}");
  WriteFile(config_.Sub("objects.yaml"), yaml);
  ASSERT_TRUE(WaitForAgentStatus(*server_, "builder", 200));
  ASSERT_TRUE(WaitForAgentStatus(*server_, "developer", 404));

  // New runs see the new objects...
  auto refused = server_->Post("/api/v1/runs", R"({"agent":"developer","input":"x"})");
  EXPECT_EQ(refused->status, 400) << refused->body;
  // ...and the run in flight finishes with the objects it started with.
  auto run = server_->WaitForRunEnd(id, std::chrono::seconds(30));
  ASSERT_TRUE(run.ok()) << run.error().message;
  EXPECT_EQ((*run)["phase"], "Succeeded") << run->dump();
  EXPECT_EQ((*run)["result"], "finished anyway");
}

}  // namespace
}  // namespace agentd::integration
