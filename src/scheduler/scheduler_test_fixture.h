// Test-only: the fixture of the scheduler's tests (a real SQLite store in a temp dir, a fake
// executor the test drives, a FakeClock), shared by scheduler_test.cc and governance_test.cc.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include "bus/memory_bus.h"
#include "core/ids.h"
#include "scheduler/scheduler.h"
#include "scheduler/test_catalog.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"

namespace agentd::scheduler::fixtures {

using api::v1::RunnerEvent;
using core::Json;
using exec::ExitInfo;
using exec::StopReason;
using runs::Phase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline constexpr auto kWait = 10s;

// Records what the scheduler asks of an executor. Exits are delivered by the test itself,
// calling the scheduler's OnExit/OnRunnerEvents as the executor's thread would.
class FakeExecutor final : public exec::Executor {
 public:
  core::Result<Json> Start(const exec::StartRequest& request) override {
    std::lock_guard lock(mu_);
    starts_.push_back(request);
    cv_.notify_all();
    if (!start_errors_.empty()) {
      core::Error error = start_errors_.front();
      start_errors_.pop_front();
      return error;
    }
    return Json{{"kind", "fake"}, {"n", starts_.size()}};
  }
  core::Status Stop(const std::string& run_id, StopReason reason) override {
    std::lock_guard lock(mu_);
    stops_.emplace_back(run_id, reason);
    cv_.notify_all();
    return core::Ok();
  }
  core::Result<bool> Adopt(const runs::Run& run) override {
    std::lock_guard lock(mu_);
    adopted_.push_back(run.id);
    if (adopt_error_.count(run.id) != 0) return core::Internal("handle is unreadable");
    return alive_.count(run.id) != 0;
  }
  void Shutdown() override {
    std::lock_guard lock(mu_);
    ++shutdowns_;
  }

  void FailNextStart(core::Error error) {
    std::lock_guard lock(mu_);
    start_errors_.push_back(std::move(error));
  }
  void SetAlive(const std::string& id) {
    std::lock_guard lock(mu_);
    alive_.insert(id);
  }
  void FailAdopt(const std::string& id) {
    std::lock_guard lock(mu_);
    adopt_error_.insert(id);
  }
  std::vector<exec::StartRequest> WaitForStarts(size_t n) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, kWait, [&] { return starts_.size() >= n; }))
        << "expected " << n << " starts, saw " << starts_.size();
    return starts_;
  }
  std::vector<std::pair<std::string, StopReason>> WaitForStops(size_t n) {
    std::unique_lock lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, kWait, [&] { return stops_.size() >= n; }))
        << "expected " << n << " stops, saw " << stops_.size();
    return stops_;
  }
  size_t StartCount() {
    std::lock_guard lock(mu_);
    return starts_.size();
  }
  size_t StopCount() {
    std::lock_guard lock(mu_);
    return stops_.size();
  }
  std::vector<std::string> Adopted() {
    std::lock_guard lock(mu_);
    return adopted_;
  }
  int Shutdowns() {
    std::lock_guard lock(mu_);
    return shutdowns_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<exec::StartRequest> starts_;
  std::vector<std::pair<std::string, StopReason>> stops_;
  std::deque<core::Error> start_errors_;
  std::set<std::string> alive_, adopt_error_;
  std::vector<std::string> adopted_;
  int shutdowns_ = 0;
};

inline ExitInfo Succeeded(const std::string& answer) {
  ExitInfo exit;
  exit.exit_code = 0;
  exit.result = Json{{"status", "succeeded"}, {"result", answer}};
  return exit;
}

inline ExitInfo StoppedBy(StopReason reason) {
  ExitInfo exit;
  exit.term_signal = SIGTERM;
  exit.stopped = reason;
  return exit;
}

// Polls `done` until it holds (for state that has no event to wait on), failing after kWait.
template <typename Pred>
bool PollUntil(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "condition not reached in time";
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

inline RunnerEvent Event(int64_t seq, std::string type, Json data) {
  return {.seq = seq, .type = std::move(type), .data = std::move(data), .time = {}};
}

// Waits until the stored run `id` satisfies `done`, woken by the events published for it on
// `bus` (which follow the commits); fails the test after `wait`.
template <typename Pred>
runs::Run WaitForStoredRun(bus::Bus& bus, store::RunStore& store, const std::string& id, Pred done,
                           std::chrono::milliseconds wait = kWait) {
  std::mutex m;
  std::condition_variable cv;
  int changes = 0;
  auto sub = bus.Subscribe(id, [&](const runs::Event&) {
    std::lock_guard lock(m);
    ++changes;
    cv.notify_all();
  });
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int seen = 0;
  for (;;) {
    auto stored = store.GetRun(id);
    EXPECT_TRUE(stored.ok()) << stored.error().message;
    runs::Run run = stored.ok() ? *stored : runs::Run{};
    if (done(run)) return run;
    std::unique_lock lock(m);
    if (!cv.wait_until(lock, deadline, [&] { return changes != seen; })) {
      ADD_FAILURE() << "run " << id << " stayed " << runs::PhaseName(run.phase) << " ("
                    << run.reason << ": " << run.message << ")";
      return run;
    }
    seen = changes;
  }
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agentd-sched-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = store::SqliteRunStore::Open(
        (dir_ / "runs.db").string(),
        {.synchronous = store::SqliteSynchronous::kNormal, .clock = &clock_});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    catalog_.Replace(fixtures::MakeSnapshot({fixtures::MakeAgent("developer", "local"),
                                             fixtures::MakeAgent("limited", "local", 1),
                                             fixtures::MakeAgent("reviewer", "local")}));
  }
  void TearDown() override {
    for (auto& s : schedulers_) s->Shutdown();
    schedulers_.clear();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A scheduler with a fresh FakeExecutor (executor_ points at the newest).
  Scheduler& MakeScheduler(Scheduler::Options options = {}) {
    executors_.push_back(std::make_unique<FakeExecutor>());
    executor_ = executors_.back().get();
    schedulers_.push_back(std::make_unique<Scheduler>(*store_, catalog_, bus_, registry_, clock_,
                                                      std::move(options)));
    schedulers_.back()->SetExecutor(executor_);
    return *schedulers_.back();
  }
  // A scheduler that has recovered (from an empty or prepared store) and is dispatching.
  Scheduler& StartScheduler(Scheduler::Options options = {}) {
    Scheduler& scheduler = MakeScheduler(std::move(options));
    EXPECT_TRUE(scheduler.Recover().ok());
    scheduler.Start();
    return scheduler;
  }
  Scheduler::Options Concurrency(int n) {
    Scheduler::Options options;
    options.global_concurrency = n;
    return options;
  }

  core::Result<store::CreateRunResult> Submit(Scheduler& scheduler, SubmitRequest request) {
    std::promise<core::Result<store::CreateRunResult>> promise;
    scheduler.SubmitAsync(std::move(request),
                          [&promise](auto result) { promise.set_value(std::move(result)); });
    return promise.get_future().get();
  }
  std::string SubmitOk(Scheduler& scheduler, SubmitRequest request) {
    auto created = Submit(scheduler, std::move(request));
    EXPECT_TRUE(created.ok()) << created.error().message;
    return created.ok() ? created->run.id : "";
  }

  runs::Run Get(const std::string& id) {
    auto run = store_->GetRun(id);
    EXPECT_TRUE(run.ok()) << run.error().message;
    return run.ok() ? *run : runs::Run{};
  }

  // Waits until the stored run satisfies `done` (see WaitForStoredRun).
  template <typename Pred>
  runs::Run WaitForRun(const std::string& id, Pred done) {
    return WaitForStoredRun(bus_, *store_, id, done);
  }
  runs::Run WaitForPhase(const std::string& id, Phase phase) {
    return WaitForRun(id, [phase](const runs::Run& r) { return r.phase == phase; });
  }

  // A run created straight in the store, as an earlier agentd process left it.
  runs::Run StoredRun(const std::string& agent, Phase phase, Json handle = Json::object()) {
    runs::Run run;
    run.created_at = clock_.Now();
    run.id = core::NewRunId(run.created_at);
    run.agent = agent;
    run.phase = Phase::kQueued;
    run.reason = "Admitted";
    auto created = store_->CreateRun(run);
    EXPECT_TRUE(created.ok());
    if (phase == Phase::kQueued) return created->run;
    store::Transition claim{.to = Phase::kStarting,
                            .reason = "Dispatched",
                            .increment_attempts = true,
                            .started_at = clock_.Now()};
    auto starting = store_->TransitionRun(run.id, claim);
    EXPECT_TRUE(starting.ok());
    if (phase == Phase::kStarting) return starting->run;
    auto running = store_->TransitionRun(
        run.id, {.to = Phase::kRunning, .reason = "Started", .executor_handle = handle});
    EXPECT_TRUE(running.ok());
    return running->run;
  }

  testing::FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<store::SqliteRunStore> store_;
  catalog::Catalog catalog_;
  bus::MemoryBus bus_;
  telemetry::Registry registry_;
  std::vector<std::unique_ptr<FakeExecutor>> executors_;
  FakeExecutor* executor_ = nullptr;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
};

}  // namespace agentd::scheduler::fixtures
