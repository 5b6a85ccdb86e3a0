// kill -9 of `agentd serve` under load: no accepted run is lost, none is started twice, and runs
// that were executing are re-adopted by the next process.
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/fixture.h"

namespace agentd::integration {
namespace {

TEST_F(AgentdTest, KillNineUnderLoadLosesNoAcceptedRunAndStartsNoneTwice) {
  StartModel({.mode = testing::FakeMode::kEcho});
  StartServer({{"WORKER_CONCURRENCY", "4"}});

  std::mutex mu;
  std::set<std::string> accepted;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      httpclient::CurlHttpTransport transport;
      for (int i = 0; !stop.load(); ++i) {
        httpclient::Request r{.method = "POST",
                              .url = server_->url() + "/api/v1/runs",
                              .headers = {{"Authorization", "Bearer " + server_->api_key()},
                                          {"Content-Type", "application/json"}},
                              .body = R"({"agent":"developer","input":"client )" +
                                      std::to_string(c) + " run " + std::to_string(i) + "\"}",
                              .timeout = std::chrono::seconds(5)};
        auto resp = transport.Send(r);
        if (!resp.ok()) break;  // the server is gone
        if (resp->status == 201) {
          std::lock_guard lock(mu);
          accepted.insert(core::ParseJson(resp->body).value()["id"].get<std::string>());
        }
      }
    });
  }
  // Let it take load, including runs that are executing, then kill it without warning.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (accepted.size() >= 300 && model_->completion_requests().size() >= 4) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling with a deadline
  }
  server_->process().Kill(SIGKILL);
  ASSERT_TRUE(server_->process().Wait().ok());
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_GE(accepted.size(), 300u);

  // Restart on the same data directory.
  server_.reset();
  StartServer({{"WORKER_CONCURRENCY", "8"}});
  for (const auto& id : accepted) {
    auto run = server_->WaitForRunEnd(id, std::chrono::seconds(120));
    ASSERT_TRUE(run.ok()) << run.error().message;
    EXPECT_LE((*run)["attempts"].get<int>(), 1) << run->dump();
    std::string phase = (*run)["phase"];
    // A run the dead server had just spawned may end Failed if its process left no trace;
    // everything else completes.
    EXPECT_TRUE(phase == "Succeeded" || phase == "Failed") << run->dump();
    EXPECT_FALSE(std::filesystem::exists(server_->data_dir() + "/runs/" + id + "/attempt-2.jsonl"));
  }
  // Each run in echo mode makes exactly one model call: more calls than runs would mean a run
  // executed twice. (Runs committed but not yet acknowledged when the server died count too.)
  size_t total = 0;
  std::string cursor;
  do {
    auto page =
        server_->Get("/api/v1/runs?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_TRUE(page.ok());
    core::Json j = core::ParseJson(page->body).value();
    total += j["items"].size();
    for (const auto& run : j["items"]) {
      auto ended = server_->WaitForRunEnd(run["id"], std::chrono::seconds(120));
      ASSERT_TRUE(ended.ok()) << ended.error().message;
    }
    cursor = j["nextCursor"].is_string() ? j["nextCursor"].get<std::string>() : "";
  } while (!cursor.empty());
  EXPECT_GE(total, accepted.size());
  EXPECT_LE(model_->completion_requests().size(), total);
}

}  // namespace
}  // namespace agentd::integration
