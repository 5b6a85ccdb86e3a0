#include "exec/local/local_process_executor.h"

#include <condition_variable>
#include <cstdlib>
#include <fstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ids.h"

namespace agentd::exec::local {
namespace {

using api::v1::RunnerEvent;
using core::Json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 20s;

// Records what the executor reports, per run, and lets a test wait for it.
class RecordingListener : public ExecutionListener {
 public:
  struct Record {
    std::vector<RunnerEvent> events;
    std::optional<ExitInfo> exit;
    int attempt = 0;
    bool events_after_exit = false;
  };

  void OnRunnerEvents(const std::string& run_id, int attempt,
                      std::vector<RunnerEvent> events) override {
    std::lock_guard lock(mu_);
    Record& r = runs_[run_id];
    if (r.exit) r.events_after_exit = true;
    r.attempt = attempt;
    for (auto& e : events) r.events.push_back(std::move(e));
    cv_.notify_all();
  }
  void OnExit(const std::string& run_id, int attempt, const ExitInfo& exit) override {
    std::lock_guard lock(mu_);
    Record& r = runs_[run_id];
    r.attempt = attempt;
    r.exit = exit;
    cv_.notify_all();
  }

  // Waits until `done` holds for the run's record; fails the test after kWait.
  template <typename Pred>
  Record WaitFor(const std::string& run_id, Pred done) {
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, kWait, [&] { return done(runs_[run_id]); });
    EXPECT_TRUE(ok) << "timed out waiting on run " << run_id;
    return runs_[run_id];
  }
  Record WaitForExit(const std::string& run_id) {
    return WaitFor(run_id, [](const Record& r) { return r.exit.has_value(); });
  }
  Record Get(const std::string& run_id) {
    std::lock_guard lock(mu_);
    return runs_[run_id];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Record> runs_;
};

std::vector<RunnerEvent> OfType(const std::vector<RunnerEvent>& events, std::string_view type) {
  std::vector<RunnerEvent> out;
  for (const auto& e : events) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

const RunnerEvent* FindMessage(const std::vector<RunnerEvent>& events, std::string_view role) {
  for (const auto& e : events) {
    if (e.type == "message" && e.data.value("role", "") == role) return &e;
  }
  return nullptr;
}

class LocalProcessExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agentd-exec-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  LocalProcessExecutor::Options MakeOptions() {
    LocalProcessExecutor::Options options;
    options.runner_path = AGENTD_FAKE_RUNNER_PATH;
    options.workspace_root = root_ / "workspaces";
    options.state_dir = root_ / "state";
    options.stop_grace = 200ms;
    return options;
  }

  std::unique_ptr<LocalProcessExecutor> MakeExecutor(
      ExecutionListener& listener, std::optional<LocalProcessExecutor::Options> options = {}) {
    auto executor = LocalProcessExecutor::Create(options.value_or(MakeOptions()), listener, clock_);
    EXPECT_TRUE(executor.ok()) << executor.error().message;
    return std::move(executor).value();
  }

  StartRequest MakeRequest(Json script) {
    StartRequest request;
    request.run.id = core::NewRunId(clock_.Now());
    request.run.attempts = 1;
    request.spec.run_id = request.run.id;
    request.spec.agent = "tester";
    request.spec.parameters = {{"script", std::move(script)}};
    return request;
  }

  core::SystemClock clock_;
  fs::path root_;
};

TEST_F(LocalProcessExecutorTest, DeliversRunnerEventsInOrderThenTheExit) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "hel"}}}},
      {{"op", "event"}, {"type", "delta"}, {"data", {{"content", "lo"}}}},
      {{"op", "result"}, {"status", "succeeded"}, {"result", "hello"}},
  }));

  auto handle = executor->Start(request);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  auto record = listener.WaitForExit(request.run.id);

  ASSERT_EQ(record.events.size(), 4u);
  for (size_t i = 0; i < record.events.size(); ++i) EXPECT_EQ(record.events[i].seq, int64_t(i + 1));
  EXPECT_EQ(record.events[0].type, "phase");
  EXPECT_EQ(record.events[3].type, "result");
  EXPECT_FALSE(record.events_after_exit);
  EXPECT_EQ(record.attempt, 1);
  EXPECT_EQ(record.exit->exit_code, 0);
  EXPECT_EQ(record.exit->term_signal, 0);
  EXPECT_FALSE(record.exit->stopped.has_value());
  ASSERT_TRUE(record.exit->result.has_value());
  EXPECT_EQ((*record.exit->result)["status"], "succeeded");
  EXPECT_EQ((*record.exit->result)["result"], "hello");

  EXPECT_EQ((*handle)["kind"], "local");
  EXPECT_GT((*handle)["pid"].get<int>(), 1);
  EXPECT_EQ((*handle)["pgid"], (*handle)["pid"]);
  EXPECT_TRUE((*handle)["startTime"].is_number_integer());
  EXPECT_EQ((*handle)["journal"], executor->JournalPath(request.run.id, 1).string());
  EXPECT_EQ((*handle)["workspace"], executor->WorkspacePath(request.run.id).string());
  EXPECT_TRUE(fs::exists(executor->HandlePath(request.run.id, 1)));
  // The runner wrote its journal where the executor told it to.
  std::ifstream journal(executor->JournalPath(request.run.id, 1));
  std::string line;
  int lines = 0;
  while (std::getline(journal, line)) ++lines;
  EXPECT_EQ(lines, 4);
  EXPECT_EQ(executor->ActiveCount(), 0u);
}

TEST_F(LocalProcessExecutorTest, TurnsStdoutAndStderrLinesIntoLogEvents) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({
      {{"op", "stderr"}, {"text", "warming up"}},
      {{"op", "stdout"}, {"text", "stray stdout"}},
      {{"op", "exit"}, {"code", 0}},
  }));
  ASSERT_TRUE(executor->Start(request).ok());
  auto record = listener.WaitForExit(request.run.id);

  auto logs = OfType(record.events, "log");
  ASSERT_EQ(logs.size(), 2u);
  std::set<std::string> lines;
  for (const auto& e : logs) {
    EXPECT_EQ(e.seq, 0);
    EXPECT_EQ(e.data["stream"], "stderr");
    lines.insert(e.data["line"].get<std::string>());
  }
  EXPECT_EQ(lines, (std::set<std::string>{"warming up", "stray stdout"}));
}

TEST_F(LocalProcessExecutorTest, ReportsInvalidEventLinesAsLogEventsAndKeepsGoing) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({
      {{"op", "raw"}, {"line", "this is not json"}},
      {{"op", "raw"}, {"line", R"({"seq":7,"type":"bogus","data":{}})"}},
      {{"op", "event"}, {"type", "message"}, {"data", {{"role", "assistant"}, {"content", "ok"}}}},
      {{"op", "exit"}, {"code", 0}},
  }));
  ASSERT_TRUE(executor->Start(request).ok());
  auto record = listener.WaitForExit(request.run.id);

  ASSERT_EQ(record.events.size(), 3u);
  EXPECT_EQ(record.events[0].type, "log");
  EXPECT_EQ(record.events[0].data["stream"], "events");
  EXPECT_EQ(record.events[0].data["line"], "this is not json");
  EXPECT_FALSE(record.events[0].data["rejected"].get<std::string>().empty());
  EXPECT_EQ(record.events[1].type, "log");
  EXPECT_NE(record.events[1].data["rejected"].get<std::string>().find("bogus"), std::string::npos);
  EXPECT_EQ(record.events[2].type, "message");
  EXPECT_EQ(record.events[2].seq, 1);
}

TEST_F(LocalProcessExecutorTest, ReportsTheExitCodeOfARunnerWithoutAResult) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({{{"op", "exit"}, {"code", 3}}}));
  ASSERT_TRUE(executor->Start(request).ok());
  auto record = listener.WaitForExit(request.run.id);
  EXPECT_EQ(record.exit->exit_code, 3);
  EXPECT_EQ(record.exit->term_signal, 0);
  EXPECT_FALSE(record.exit->result.has_value());
}

TEST_F(LocalProcessExecutorTest, GivesTheRunnerOnlyTheAllowlistedEnvironment) {
  ::setenv("AGENTD_TEST_SERVER_SECRET", "must-not-leak", 1);
  ::setenv("AGENTD_TEST_MODEL_KEY", "sk-test", 1);
  RecordingListener listener;
  auto options = MakeOptions();
  options.env["FROM_OPTIONS"] = "o";
  auto executor = MakeExecutor(listener, options);
  auto request = MakeRequest(Json::array({
      {{"op", "env"}, {"name", "AGENTD_TEST_SERVER_SECRET"}},
      {{"op", "env"}, {"name", "AGENTD_TEST_MODEL_KEY"}},
      {{"op", "env"}, {"name", "FROM_REQUEST"}},
      {{"op", "env"}, {"name", "FROM_OPTIONS"}},
      {{"op", "env"}, {"name", "PATH"}},
  }));
  request.spec.model.api_key_env = "AGENTD_TEST_MODEL_KEY";
  request.env["FROM_REQUEST"] = "r";
  ASSERT_TRUE(executor->Start(request).ok());
  auto record = listener.WaitForExit(request.run.id);
  ::unsetenv("AGENTD_TEST_SERVER_SECRET");
  ::unsetenv("AGENTD_TEST_MODEL_KEY");

  std::vector<std::string> seen;
  for (const auto& e : OfType(record.events, "message")) seen.push_back(e.data["content"]);
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0], "<unset>");
  EXPECT_EQ(seen[1], "sk-test");
  EXPECT_EQ(seen[2], "r");
  EXPECT_EQ(seen[3], "o");
  EXPECT_EQ(seen[4], std::getenv("PATH"));
}

TEST_F(LocalProcessExecutorTest, RunnerLeadsItsOwnProcessGroupInAPrivateWorkspaceWithNoStrayFds) {
  int stray = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(stray, 0);
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({{{"op", "facts"}}}));
  auto handle = executor->Start(request);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  auto record = listener.WaitForExit(request.run.id);
  ::close(stray);

  const RunnerEvent* facts = FindMessage(record.events, "facts");
  ASSERT_NE(facts, nullptr);
  EXPECT_EQ(facts->data["pid"], (*handle)["pid"]);
  EXPECT_EQ(facts->data["pgid"], facts->data["pid"]);
  EXPECT_EQ(facts->data["fds"], "0,1,2,3");
  EXPECT_EQ(facts->data["workspace"], executor->WorkspacePath(request.run.id).string());
  EXPECT_EQ(facts->data["workspaceMode"], 0700);
}

TEST_F(LocalProcessExecutorTest, StopKillsTheWholeGroupWithSigkillWhenSigtermIsIgnored) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);  // orphaned grandchildren come to us
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({
      {{"op", "ignoreTerm"}},
      {{"op", "grandchild"}},
      {{"op", "block"}},
  }));
  ASSERT_TRUE(executor->Start(request).ok());
  auto before = listener.WaitFor(
      request.run.id, [](const auto& r) { return FindMessage(r.events, "grandchild") != nullptr; });
  pid_t grandchild =
      std::stoi(FindMessage(before.events, "grandchild")->data["content"].get<std::string>());
  int grandchild_fd = static_cast<int>(::syscall(SYS_pidfd_open, grandchild, 0));
  ASSERT_GE(grandchild_fd, 0);

  const auto stop_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(executor->Stop(request.run.id, StopReason::kCancelled).ok());
  ASSERT_TRUE(executor->Stop(request.run.id, StopReason::kCancelled).ok());  // idempotent
  auto record = listener.WaitForExit(request.run.id);
  const auto took = std::chrono::steady_clock::now() - stop_at;

  EXPECT_EQ(record.exit->stopped, StopReason::kCancelled);
  EXPECT_EQ(record.exit->term_signal, SIGKILL);
  EXPECT_GE(took, 200ms);  // SIGTERM was ignored, so it took the grace period
  pollfd pfd{grandchild_fd, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10'000), 1) << "the grandchild survived";
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PIDFD, static_cast<id_t>(grandchild_fd), &info, WEXITED), 0);
  EXPECT_EQ(info.si_code, CLD_KILLED);
  EXPECT_EQ(info.si_status, SIGKILL);
  ::close(grandchild_fd);
  EXPECT_EQ(executor->Stop(request.run.id, StopReason::kCancelled).error().code,
            core::ErrorCode::kNotFound);
}

TEST_F(LocalProcessExecutorTest, StopEndsARunnerThatHonoursSigtermWithSigterm) {
  RecordingListener listener;
  auto options = MakeOptions();
  options.stop_grace = 10s;
  auto executor = MakeExecutor(listener, options);
  auto request = MakeRequest(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "block"}},
  }));
  ASSERT_TRUE(executor->Start(request).ok());
  listener.WaitFor(request.run.id, [](const auto& r) { return !r.events.empty(); });
  ASSERT_TRUE(executor->Stop(request.run.id, StopReason::kDeadlineExceeded).ok());
  auto record = listener.WaitForExit(request.run.id);
  EXPECT_EQ(record.exit->stopped, StopReason::kDeadlineExceeded);
  EXPECT_EQ(record.exit->term_signal, SIGTERM);
  EXPECT_FALSE(record.exit->result.has_value());
}

TEST_F(LocalProcessExecutorTest, StopOfAnUnknownRunIsNotFound) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  EXPECT_EQ(executor->Stop("run-unknown", StopReason::kCancelled).error().code,
            core::ErrorCode::kNotFound);
}

TEST_F(LocalProcessExecutorTest, RefusesToStartARunThatIsAlreadyExecuting) {
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto request = MakeRequest(Json::array({{{"op", "block"}}}));
  ASSERT_TRUE(executor->Start(request).ok());
  auto again = executor->Start(request);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, core::ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(executor->Stop(request.run.id, StopReason::kCancelled).ok());
  listener.WaitForExit(request.run.id);
}

TEST_F(LocalProcessExecutorTest, CapsLogLineLengthAndRate) {
  RecordingListener listener;
  auto options = MakeOptions();
  options.max_log_line_bytes = 16;
  options.max_log_lines_per_second = 10;
  auto executor = MakeExecutor(listener, options);
  auto request = MakeRequest(Json::array({
      {{"op", "stderr"}, {"text", std::string(100, 'x')}},
      {{"op", "spam"}, {"count", 500}},
  }));
  ASSERT_TRUE(executor->Start(request).ok());
  auto record = listener.WaitForExit(request.run.id);

  auto logs = OfType(record.events, "log");
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs[0].data["line"], std::string(16, 'x'));
  EXPECT_EQ(logs[0].data["truncated"], true);
  int64_t kept = 0, dropped = 0;
  for (const auto& e : logs) {
    if (e.data.contains("dropped")) {
      dropped += e.data["dropped"].get<int64_t>();
    } else {
      ++kept;
    }
  }
  EXPECT_LT(kept, 501);
  EXPECT_EQ(kept + dropped, 501);  // every line is either delivered or counted
}

TEST_F(LocalProcessExecutorTest, StartFailsForAMissingRunnerBinaryAtCreation) {
  RecordingListener listener;
  auto options = MakeOptions();
  options.runner_path = (root_ / "no-such-binary").string();
  auto executor = LocalProcessExecutor::Create(options, listener, clock_);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_F(LocalProcessExecutorTest, AdoptsALiveRunnerStartedByAPreviousExecutor) {
  const fs::path fifo = root_ / "go";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto request = MakeRequest(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "event"}, {"type", "message"}, {"data", {{"role", "assistant"}, {"content", "a"}}}},
      {{"op", "waitFifo"}, {"path", fifo.string()}},
      {{"op", "event"}, {"type", "message"}, {"data", {{"role", "assistant"}, {"content", "b"}}}},
      {{"op", "result"}, {"status", "succeeded"}, {"result", "done"}},
  }));
  runs::Run run = request.run;

  RecordingListener first;
  {
    auto executor = MakeExecutor(first);
    auto handle = executor->Start(request);
    ASSERT_TRUE(handle.ok()) << handle.error().message;
    run.executor_handle = *handle;
    first.WaitFor(run.id, [](const auto& r) { return r.events.size() >= 2; });
    executor->Shutdown();
  }  // the first agentd is gone; its runner is not
  run.phase = runs::Phase::kRunning;
  run.runner_seq = 2;  // both events were committed

  RecordingListener second;
  auto executor = MakeExecutor(second);
  auto adopted = executor->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_TRUE(*adopted);
  EXPECT_TRUE(*executor->Adopt(run));  // adopting twice is harmless
  {
    int fd = ::open(fifo.c_str(), O_WRONLY);  // lets the runner go on
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  auto record = second.WaitForExit(run.id);

  ASSERT_EQ(record.events.size(), 2u);
  EXPECT_EQ(record.events[0].seq, 3);
  EXPECT_EQ(record.events[0].data["content"], "b");
  EXPECT_EQ(record.events[1].type, "result");
  ASSERT_TRUE(record.exit->result.has_value());
  EXPECT_EQ((*record.exit->result)["result"], "done");
  EXPECT_FALSE(first.Get(run.id).exit.has_value());
  // It ran once: one phase event in its journal.
  std::ifstream journal(executor->JournalPath(run.id, 1));
  std::string line;
  int phases = 0;
  while (std::getline(journal, line)) phases += line.find("\"phase\"") != std::string::npos;
  EXPECT_EQ(phases, 1);
}

TEST_F(LocalProcessExecutorTest, AdoptsFromTheHandleFileAndCanStopTheAdoptedRunner) {
  auto request = MakeRequest(Json::array({
      {{"op", "event"}, {"type", "phase"}, {"data", {{"phase", "Running"}}}},
      {{"op", "block"}},
  }));
  runs::Run run = request.run;
  RecordingListener first;
  {
    auto executor = MakeExecutor(first);
    ASSERT_TRUE(executor->Start(request).ok());
    first.WaitFor(run.id, [](const auto& r) { return !r.events.empty(); });
  }
  run.phase = runs::Phase::kStarting;  // the handle never reached the store
  run.runner_seq = 1;

  RecordingListener second;
  auto executor = MakeExecutor(second);
  auto adopted = executor->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  ASSERT_TRUE(*adopted);
  ASSERT_TRUE(executor->Stop(run.id, StopReason::kCancelled).ok());
  auto record = second.WaitForExit(run.id);
  EXPECT_EQ(record.exit->stopped, StopReason::kCancelled);
  EXPECT_TRUE(record.events.empty());
}

class DeadRunnerAdoptionTest : public LocalProcessExecutorTest {
 protected:
  // A run whose handle names a process that no longer exists: our own pid with another start
  // time, which is exactly what a reused pid looks like.
  runs::Run DeadRun(const std::vector<std::string>& journal_lines, int64_t runner_seq) {
    runs::Run run;
    run.id = core::NewRunId(clock_.Now());
    run.attempts = 1;
    run.phase = runs::Phase::kRunning;
    run.runner_seq = runner_seq;
    fs::path journal = root_ / "state" / "runs" / run.id / "attempt-1.jsonl";
    fs::create_directories(journal.parent_path());
    std::ofstream out(journal);
    for (const auto& l : journal_lines) out << l << "\n";
    run.executor_handle = {{"kind", "local"},
                           {"pid", ::getpid()},
                           {"startTime", 1},
                           {"pgid", ::getpid()},
                           {"journal", journal.string()}};
    return run;
  }
};

TEST_F(DeadRunnerAdoptionTest, DeliversTheUncommittedJournalTailAndTheResult) {
  runs::Run run =
      DeadRun({R"({"seq":1,"type":"phase","data":{"phase":"Running"}})",
               R"({"seq":2,"type":"delta","data":{"content":"x"}})",
               R"({"seq":3,"type":"result","data":{"status":"succeeded","result":"r"}})"},
              /*runner_seq=*/1);
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  auto adopted = executor->Adopt(run);
  ASSERT_TRUE(adopted.ok()) << adopted.error().message;
  EXPECT_FALSE(*adopted);
  auto record = listener.WaitForExit(run.id);
  ASSERT_EQ(record.events.size(), 2u);
  EXPECT_EQ(record.events[0].seq, 2);
  EXPECT_EQ(record.events[1].seq, 3);
  ASSERT_TRUE(record.exit->result.has_value());
  EXPECT_EQ((*record.exit->result)["status"], "succeeded");
  EXPECT_EQ(record.exit->exit_code, -1);
  EXPECT_EQ(record.exit->detail, "runner finished while agentd was down");
}

TEST_F(DeadRunnerAdoptionTest, ReportsTheResultEvenWhenItWasCommittedAlready) {
  runs::Run run = DeadRun({R"({"seq":1,"type":"result","data":{"status":"failed","error":"e"}})"},
                          /*runner_seq=*/1);
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  ASSERT_FALSE(*executor->Adopt(run));
  auto record = listener.WaitForExit(run.id);
  EXPECT_TRUE(record.events.empty());
  ASSERT_TRUE(record.exit->result.has_value());
  EXPECT_EQ((*record.exit->result)["status"], "failed");
}

TEST_F(DeadRunnerAdoptionTest, SaysTheProcessDisappearedWhenThereIsNoResult) {
  runs::Run run = DeadRun({R"({"seq":1,"type":"phase","data":{"phase":"Running"}})",
                           R"({"seq":2,"type":"delta","data":{"content":"partial)"},
                          /*runner_seq=*/0);
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  ASSERT_FALSE(*executor->Adopt(run));
  auto record = listener.WaitForExit(run.id);
  ASSERT_EQ(record.events.size(), 1u);  // the torn last line is skipped
  EXPECT_FALSE(record.exit->result.has_value());
  EXPECT_EQ(record.exit->detail, "runner process disappeared while agentd was down");
}

TEST_F(DeadRunnerAdoptionTest, ReportsARunThatNeverGotAProcess) {
  runs::Run run;
  run.id = core::NewRunId(clock_.Now());
  run.attempts = 1;
  run.phase = runs::Phase::kStarting;
  RecordingListener listener;
  auto executor = MakeExecutor(listener);
  ASSERT_FALSE(*executor->Adopt(run));
  auto record = listener.WaitForExit(run.id);
  EXPECT_FALSE(record.exit->result.has_value());
  EXPECT_EQ(record.exit->detail, "no runner process was recorded for this attempt");
}

}  // namespace
}  // namespace agentd::exec::local
