// The scheduler with the real local executor, a real SQLite store and real child processes (the
// exec module's fake runner, which speaks the runner protocol).
#include <condition_variable>
#include <filesystem>
#include <future>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus/memory_bus.h"
#include "exec/local/local_process_executor.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_test_fixture.h"
#include "scheduler/test_catalog.h"
#include "store/sqlite/sqlite_run_store.h"

namespace agentd::scheduler {
namespace {

using core::Json;
using runs::Phase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 20s;

class SchedulerWithLocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agentd-sched-local-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = store::SqliteRunStore::Open((dir_ / "runs.db").string(),
                                             {.synchronous = store::SqliteSynchronous::kNormal});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    catalog_.Replace(fixtures::MakeSnapshot({fixtures::MakeAgent("developer", "local")}));
  }
  void TearDown() override {
    Stop();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts a scheduler and its executor, as `agentd serve` does.
  void Boot() {
    Scheduler::Options options;
    options.workspace_root = dir_ / "workspaces";
    scheduler_ = std::make_unique<Scheduler>(*store_, catalog_, bus_, registry_,
                                             core::SystemClock::Instance(), options);
    exec::local::LocalProcessExecutor::Options exec_options;
    exec_options.runner_path = AGENTD_FAKE_RUNNER_PATH;
    exec_options.workspace_root = dir_ / "workspaces";
    exec_options.state_dir = dir_ / "state";
    exec_options.stop_grace = 2s;
    auto executor = exec::local::LocalProcessExecutor::Create(exec_options, *scheduler_,
                                                              core::SystemClock::Instance());
    ASSERT_TRUE(executor.ok()) << executor.error().message;
    executor_ = std::move(executor).value();
    scheduler_->SetExecutor(executor_.get());
    ASSERT_TRUE(scheduler_->Recover().ok());
    scheduler_->Start();
  }
  // Stops them the way `agentd serve` does on SIGTERM: runners keep running.
  void Stop() {
    if (scheduler_) scheduler_->Shutdown();
    executor_.reset();
    scheduler_.reset();
  }

  std::string Submit(Json script) {
    std::promise<core::Result<store::CreateRunResult>> promise;
    scheduler_->SubmitAsync({.agent = "developer", .parameters = {{"script", std::move(script)}}},
                            [&promise](auto r) { promise.set_value(std::move(r)); });
    auto created = promise.get_future().get();
    EXPECT_TRUE(created.ok()) << created.error().message;
    return created.ok() ? created->run.id : "";
  }

  runs::Run WaitForPhase(const std::string& id, Phase phase) {
    return fixtures::WaitForStoredRun(
        bus_, *store_, id, [phase](const runs::Run& r) { return r.phase == phase; }, kWait);
  }

  std::vector<std::string> EventTypes(const std::string& id) {
    std::vector<std::string> types;
    auto events = store_->ListEvents(id, 0, 1000);
    EXPECT_TRUE(events.ok());
    for (const auto& e : events.value_or({})) {
      types.push_back(e.type == "phase" ? e.data.value("phase", "") : e.type);
    }
    return types;
  }

  fs::path dir_;
  std::unique_ptr<store::SqliteRunStore> store_;
  catalog::Catalog catalog_;
  bus::MemoryBus bus_;
  telemetry::Registry registry_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<exec::local::LocalProcessExecutor> executor_;
};

TEST_F(SchedulerWithLocalExecutorTest, RunsARunnerProcessToSuccess) {
  Boot();
  const std::string id = Submit(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "hello"}}}},
      {{"op", "stderr"}, {"text", "a log line"}},
      {{"op", "event"},
       {"type", "usage"},
       {"data", {{"model", "m"}, {"inputTokens", 10}, {"outputTokens", 5}, {"costMicros", 20}}}},
      {{"op", "result"}, {"status", "succeeded"}, {"result", "all done"}},
  }));
  runs::Run run = WaitForPhase(id, Phase::kSucceeded);
  EXPECT_EQ(run.result, "all done");
  EXPECT_EQ(run.attempts, 1);
  EXPECT_EQ(run.usage.input_tokens, 10);
  EXPECT_EQ(run.usage.cost_micros, 5 + 8);  // priced by the scheduler: 10 in, 5 out
  EXPECT_EQ(run.executor_handle["kind"], "local");
  auto types = EventTypes(id);
  ASSERT_GE(types.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(types.begin(), types.begin() + 3),
            (std::vector<std::string>{"Queued", "Starting", "Running"}));
  EXPECT_EQ(types.back(), "Succeeded");
  EXPECT_NE(std::find(types.begin(), types.end(), "log"), types.end());
  EXPECT_TRUE(fs::is_directory(dir_ / "workspaces" / id));
}

TEST_F(SchedulerWithLocalExecutorTest, CancelStopsTheRunnerProcess) {
  Boot();
  const std::string id = Submit(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "working"}}}},
      {{"op", "block"}},
  }));
  WaitForPhase(id, Phase::kRunning);
  auto cancelled = scheduler_->Cancel(id, "alice");
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  runs::Run run = WaitForPhase(id, Phase::kCancelled);
  EXPECT_EQ(run.message, "cancelled by alice");
}

TEST_F(SchedulerWithLocalExecutorTest, ARestartedServerAdoptsItsRunnerAndRecordsItsEnd) {
  const fs::path fifo = dir_ / "go";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Boot();
  const std::string id = Submit(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "before"}}}},
      {{"op", "waitFifo"}, {"path", fifo.string()}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "after"}}}},
      {{"op", "result"}, {"status", "succeeded"}, {"result", "survived a restart"}},
  }));
  // Wait until "before" is committed, then restart the server.
  for (auto deadline = std::chrono::steady_clock::now() + kWait;;) {
    auto events = EventTypes(id);
    if (std::count(events.begin(), events.end(), "delta") == 1) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the first event never arrived";
    std::this_thread::yield();
  }
  Stop();
  Boot();

  int fd = ::open(fifo.c_str(), O_WRONLY);  // lets the runner finish
  ASSERT_GE(fd, 0);
  ::close(fd);
  runs::Run run = WaitForPhase(id, Phase::kSucceeded);
  EXPECT_EQ(run.result, "survived a restart");
  EXPECT_EQ(run.attempts, 1);  // never started twice
  std::vector<std::string> deltas;
  auto events = store_->ListEvents(id, 0, 1000);
  ASSERT_TRUE(events.ok());
  for (const auto& e : *events) {
    if (e.type == "delta") deltas.push_back(e.data["content"]);
  }
  EXPECT_EQ(deltas, (std::vector<std::string>{"before", "after"}));
}

}  // namespace
}  // namespace agentd::scheduler
