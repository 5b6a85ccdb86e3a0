// RunnerMain end to end, in process: the real OpenAiProvider over libcurl against the
// FakeModelServer, real tools in a temporary workspace, events read back from the journal and
// the events file.
#include "runner/runner_main.h"

#include <cstdlib>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/v1/runner_protocol.h"
#include "runner/fake_events_transport.h"
#include "testing/fake_model_server.h"

namespace agentd::runner {
namespace {

using agentd::testing::FakeModelServer;
using agentd::testing::FakeReply;
using agentd::testing::FakeUsage;
using core::Json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RunResult {
  int exit_code = -1;
  std::vector<api::v1::RunnerEvent> events;
  std::string journal;
  std::string piped;

  std::vector<api::v1::RunnerEvent> Of(std::string_view type) const {
    std::vector<api::v1::RunnerEvent> out;
    for (const auto& e : events) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }
  const Json& result() const { return events.back().data; }
};

class RunnerMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    char tmpl[] = "/tmp/agentd-runner-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    workspace_ = dir_ + "/workspace";
    ASSERT_EQ(::mkdir(workspace_.c_str(), 0700), 0);
  }
  void TearDown() override {
    server_.Stop();
    std::system(("rm -rf " + dir_).c_str());
  }

  api::v1::RunnerSpec Spec() {
    api::v1::RunnerSpec spec;
    spec.run_id = "run-01jtest";
    spec.agent = "developer";
    spec.role = "developer";
    spec.system_prompt = "You are a careful software engineer.";
    spec.input = "add a README";
    spec.model.provider = "openai-compatible";
    spec.model.base_url = server_.base_url();
    spec.model.model = "fake-model";
    spec.model.input_per_million = 500'000;
    spec.model.cached_input_per_million = 250'000;
    spec.model.output_per_million = 1'500'000;
    spec.model.request_timeout = std::chrono::seconds(30);
    spec.tools = {"read_file", "write_file", "list_files", "shell"};
    spec.limits.max_turns = 5;
    spec.workspace = workspace_;
    return spec;
  }

  RunResult Run(const std::string& spec_text, int events_fd = -2) {
    std::string spec_path = dir_ + "/spec.json";
    std::ofstream(spec_path) << spec_text;
    int spec_fd = ::open(spec_path.c_str(), O_RDONLY);
    std::string events_path = dir_ + "/events.jsonl";
    bool own_events = events_fd == -2;
    if (own_events) events_fd = ::open(events_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    journal_path_ = dir_ + "/journal.jsonl";
    ::unlink(journal_path_.c_str());

    RunResult r;
    r.exit_code = RunnerMain({.events_fd = events_fd,
                              .journal_path = journal_path_,
                              .spec_fd = spec_fd,
                              .retry_base_delay = std::chrono::milliseconds(1)});
    ::close(spec_fd);
    if (own_events) {
      ::close(events_fd);
      r.piped = ReadFile(events_path);
    }
    r.journal = ReadFile(journal_path_);
    std::stringstream lines(r.journal);
    for (std::string line; std::getline(lines, line);) {
      auto event = api::v1::ParseRunnerEvent(line);
      EXPECT_TRUE(event.ok()) << line;
      if (event.ok()) r.events.push_back(std::move(event).value());
    }
    return r;
  }
  RunResult Run(const api::v1::RunnerSpec& spec) {
    return Run(core::DumpJson(api::v1::RunnerSpecToJson(spec)));
  }

  static void ExpectWellFormed(const RunResult& r) {
    ASSERT_FALSE(r.events.empty());
    for (size_t i = 0; i < r.events.size(); ++i) {
      EXPECT_EQ(r.events[i].seq, static_cast<int64_t>(i + 1));
    }
    EXPECT_EQ(r.events.back().type, "result");
    EXPECT_EQ(r.Of("result").size(), 1u);
  }

  FakeModelServer server_;
  std::string dir_;
  std::string workspace_;
  std::string journal_path_;
};

TEST_F(RunnerMainTest, ToolUsingConversationWritesAFileAndSucceeds) {
  ::setenv("FAKE_MODEL_KEY_FOR_RUNNER_TEST", "sk-runner-test", 1);
  server_.Enqueue(FakeReply{
      .text = "I'll write the file.",
      .tool_calls = {{.id = "call_w",
                      .name = "write_file",
                      .arguments = R"({"path":"docs/README.md","content":"# Hello\n"})"}}});
  server_.EnqueueText("I wrote docs/README.md.");
  auto spec = Spec();
  spec.model.api_key_env = "FAKE_MODEL_KEY_FOR_RUNNER_TEST";

  RunResult r = Run(spec);

  EXPECT_EQ(r.exit_code, 0);
  ExpectWellFormed(r);
  EXPECT_EQ(r.piped, r.journal);
  EXPECT_EQ(r.events.front().type, "phase");
  EXPECT_EQ(r.events.front().data["phase"], "Running");
  EXPECT_EQ(r.result()["status"], "succeeded");
  EXPECT_EQ(r.result()["reason"], "Completed");
  EXPECT_EQ(r.result()["result"], "I wrote docs/README.md.");
  EXPECT_EQ(ReadFile(workspace_ + "/docs/README.md"), "# Hello\n");

  auto tool_results = r.Of("tool_result");
  ASSERT_EQ(tool_results.size(), 1u);
  EXPECT_EQ(tool_results[0].data["ok"], true);
  EXPECT_EQ(tool_results[0].data["id"], "call_w");
  EXPECT_EQ(r.Of("usage").size(), 2u);
  std::string streamed;
  for (const auto& d : r.Of("delta")) streamed += d.data["content"].get<std::string>();
  EXPECT_EQ(streamed, "I'll write the file.I wrote docs/README.md.");

  auto requests = server_.completion_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer sk-runner-test");
  Json second = requests[1].BodyJson();
  EXPECT_EQ(second["messages"][3]["role"], "tool");
  EXPECT_EQ(second["messages"][3]["tool_call_id"], "call_w");
  EXPECT_NE(second["messages"][3]["content"].get<std::string>().find("wrote 8 bytes"),
            std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat(journal_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(RunnerMainTest, RetriesARateLimitThenSucceeds) {
  server_.Enqueue(FakeReply{.status = 429, .retry_after = "0"});
  server_.EnqueueText("fine now");
  RunResult r = Run(Spec());
  EXPECT_EQ(r.exit_code, 0);
  ExpectWellFormed(r);
  auto errors = r.Of("error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].data["retryable"], true);
  EXPECT_NE(errors[0].data["message"].get<std::string>().find("429"), std::string::npos);
  EXPECT_EQ(r.result()["result"], "fine now");
  EXPECT_EQ(server_.completion_requests().size(), 2u);
}

TEST_F(RunnerMainTest, RetriesACutStreamThenSucceedsWithTheExactText) {
  server_.Enqueue(FakeReply{.text = "this stream is cut short", .cut_after_chunks = 2});
  server_.EnqueueText("complete answer");
  RunResult r = Run(Spec());
  EXPECT_EQ(r.exit_code, 0);
  ExpectWellFormed(r);
  EXPECT_EQ(r.Of("error").size(), 1u);
  auto messages = r.Of("message");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].data["content"], "complete answer");
  EXPECT_EQ(r.result()["result"], "complete answer");
}

TEST_F(RunnerMainTest, FailsWithMaxTurnsExceeded) {
  auto spec = Spec();
  spec.limits.max_turns = 2;
  for (int i = 0; i < 2; ++i) {
    server_.Enqueue(FakeReply{.tool_calls = {{.name = "list_files", .arguments = "{}"}}});
  }
  RunResult r = Run(spec);
  EXPECT_EQ(r.exit_code, 1);
  ExpectWellFormed(r);
  EXPECT_EQ(r.result()["status"], "failed");
  EXPECT_EQ(r.result()["reason"], "MaxTurnsExceeded");
  EXPECT_EQ(server_.completion_requests().size(), 2u);
  auto violations = r.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], "max_turns");
}

TEST_F(RunnerMainTest, StopsBeforeACallItsAllowanceCannotCoverAndKeepsThePartialAnswer) {
  auto spec = Spec();
  spec.tools = {"list_files"};
  spec.model.max_output_tokens = 1000;  // worst-case output: 1000 * 1.50 USD per million
  // The first call's worst case is 1500 micro-dollars plus a few hundred for the prompt; it
  // then costs 1000 * 0.50 + 1000 * 1.50 = 2000, and 2000 + (> 1500) no longer fits in 3000.
  spec.limits.max_cost_micros = 3000;
  server_.Enqueue(FakeReply{.text = "Let me look around first.",
                            .tool_calls = {{.name = "list_files", .arguments = "{}"}},
                            .usage = FakeUsage{.prompt_tokens = 1000, .completion_tokens = 1000}});
  server_.EnqueueText("this answer is never requested");

  RunResult r = Run(spec);

  EXPECT_EQ(r.exit_code, 1);
  ExpectWellFormed(r);
  EXPECT_EQ(server_.completion_requests().size(), 1u);
  EXPECT_EQ(server_.pending_replies(), 1u);
  EXPECT_EQ(r.result()["status"], "failed");
  EXPECT_EQ(r.result()["reason"], "BudgetExceeded");
  EXPECT_EQ(r.result()["result"], "Let me look around first.");
  std::string error = r.result()["error"];
  EXPECT_NE(error.find("spent 0.002 USD"), std::string::npos) << error;
  EXPECT_NE(error.find("allowance of 0.003 USD"), std::string::npos) << error;
  EXPECT_EQ(r.Of("usage").size(), 1u);
  EXPECT_EQ(r.Of("tool_result").size(), 1u);
  auto violations = r.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], "run_cost_limit");
  EXPECT_EQ(violations[0].data["message"], error);
  EXPECT_EQ(r.events[r.events.size() - 2].type, "violation");
}

TEST_F(RunnerMainTest, RefusesAToolTheAgentDoesNotAllowWithAViolationAndGoesOn) {
  auto spec = Spec();
  spec.tools = {"read_file"};
  server_.Enqueue(FakeReply{
      .tool_calls = {{.id = "call_sh", .name = "shell", .arguments = R"({"command":"id"})"}}});
  server_.EnqueueText("I may not use the shell.");

  RunResult r = Run(spec);

  EXPECT_EQ(r.exit_code, 0);
  ExpectWellFormed(r);
  EXPECT_EQ(r.result()["result"], "I may not use the shell.");
  auto violations = r.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], "tool_not_allowed");
  EXPECT_NE(violations[0].data["message"].get<std::string>().find("\"shell\""), std::string::npos);
  auto results = r.Of("tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data["ok"], false);
  auto requests = server_.completion_requests();
  ASSERT_EQ(requests.size(), 2u);
  Json tool_message = requests[1].BodyJson()["messages"][3];
  EXPECT_EQ(tool_message["tool_call_id"], "call_sh");
  EXPECT_NE(tool_message["content"].get<std::string>().find("not available to this agent"),
            std::string::npos);
}

TEST_F(RunnerMainTest, ReportsUsageAndCostForTheModelPrices) {
  server_.Enqueue(FakeReply{
      .text = "cheap",
      .usage =
          FakeUsage{.prompt_tokens = 12'000, .completion_tokens = 3'000, .cached_tokens = 4'000}});
  RunResult r = Run(Spec());
  ASSERT_EQ(r.exit_code, 0);
  auto usage = r.Of("usage");
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].data["model"], "fake-model");
  EXPECT_EQ(usage[0].data["inputTokens"], 12'000);
  EXPECT_EQ(usage[0].data["cachedInputTokens"], 4'000);
  EXPECT_EQ(usage[0].data["outputTokens"], 3'000);
  // 8000 * 0.50 + 4000 * 0.25 + 3000 * 1.50 USD per million = 4000 + 1000 + 4500 micros.
  EXPECT_EQ(usage[0].data["costMicros"], 9'500);
}

TEST_F(RunnerMainTest, RejectsAMalformedSpecWithExitCode2) {
  RunResult r = Run("{not json");
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].type, "result");
  EXPECT_EQ(r.result()["reason"], "InvalidSpec");
  EXPECT_EQ(server_.completion_requests().size(), 0u);
}

TEST_F(RunnerMainTest, RejectsUnknownToolsAndTheAnthropicProvider) {
  auto spec = Spec();
  spec.tools = {"read_file", "launch_missiles"};
  RunResult unknown_tool = Run(spec);
  EXPECT_EQ(unknown_tool.exit_code, 2);
  EXPECT_NE(unknown_tool.result()["error"].get<std::string>().find("launch_missiles"),
            std::string::npos);

  spec = Spec();
  spec.model.provider = "anthropic";
  RunResult anthropic = Run(spec);
  EXPECT_EQ(anthropic.exit_code, 2);
  EXPECT_EQ(anthropic.result()["error"], "provider anthropic is not supported by the runner yet");
}

TEST_F(RunnerMainTest, FailsWithModelErrorWhenRetriesRunOut) {
  auto spec = Spec();
  spec.model.max_retries = 1;
  server_.Enqueue(FakeReply{.status = 500});
  server_.Enqueue(FakeReply{.status = 500});
  RunResult r = Run(spec);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.result()["reason"], "ModelError");
  EXPECT_EQ(server_.completion_requests().size(), 2u);
}

TEST_F(RunnerMainTest, KeepsTheJournalWhenTheEventsPipeIsClosed) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  server_.EnqueueText("nobody listens");
  RunResult r = Run(core::DumpJson(api::v1::RunnerSpecToJson(Spec())), fds[1]);
  ::close(fds[1]);
  EXPECT_EQ(r.exit_code, 0);
  ExpectWellFormed(r);
  EXPECT_EQ(r.result()["status"], "succeeded");
}

TEST_F(RunnerMainTest, SigtermInterruptsASilentModelCallWithExitCode3) {
  server_.Enqueue(FakeReply{.text = "too late", .delay = std::chrono::seconds(60)});
  auto spec_text = core::DumpJson(api::v1::RunnerSpecToJson(Spec()));
  auto run = std::async(std::launch::async, [&] { return Run(spec_text); });
  ASSERT_TRUE(server_.WaitForCompletionRequests(1, std::chrono::seconds(10)));
  ::kill(::getpid(), SIGTERM);
  ASSERT_EQ(run.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  RunResult r = run.get();
  EXPECT_EQ(r.exit_code, 3);
  ExpectWellFormed(r);
  EXPECT_EQ(r.result()["reason"], "Interrupted");
}

TEST_F(RunnerMainTest, SigtermInterruptsARunningShellCommand) {
  server_.Enqueue(
      FakeReply{.tool_calls = {{.name = "shell",
                                .arguments = R"({"command":"echo go > started; sleep 60"})"}}});
  auto spec_text = core::DumpJson(api::v1::RunnerSpecToJson(Spec()));
  auto run = std::async(std::launch::async, [&] { return Run(spec_text); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  struct stat st {};
  while (::stat((workspace_ + "/started").c_str(), &st) != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 2);
  }
  ::kill(::getpid(), SIGTERM);
  ASSERT_EQ(run.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  RunResult r = run.get();
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.result()["reason"], "Interrupted");
  auto results = r.Of("tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data["ok"], false);
}

TEST_F(RunnerMainTest, EndsAsTimedOutWhenTheRunTimeoutPasses) {
  auto spec = Spec();
  spec.limits.timeout = std::chrono::seconds(1);
  server_.Enqueue(FakeReply{.text = "too late", .delay = std::chrono::seconds(60)});
  RunResult r = Run(spec);
  EXPECT_EQ(r.exit_code, 1);
  ExpectWellFormed(r);
  EXPECT_EQ(r.result()["reason"], "TimedOut");
}

// --- events over HTTP (a runner in a Kubernetes pod) ---------------------------------------------

class RunnerOverHttpTest : public RunnerMainTest {
 protected:
  static constexpr char kToken[] = "ab12ab12ab12ab12ab12ab12ab12ab12";

  // The pod's files: the mounted spec and token.
  RunnerOptions PodOptions(const api::v1::RunnerSpec& spec) {
    std::string spec_path = dir_ + "/spec.json";
    std::ofstream(spec_path) << core::DumpJson(api::v1::RunnerSpecToJson(spec));
    std::string token_path = dir_ + "/token";
    std::ofstream(token_path) << kToken << "\n";
    journal_path_ = dir_ + "/journal.jsonl";
    ::unlink(journal_path_.c_str());
    RunnerOptions options;
    options.events_fd = -1;
    options.journal_path = journal_path_;
    options.spec_fd = -1;
    options.spec_file = spec_path;
    options.run_id = spec.run_id;
    options.attempt = spec.attempt;
    options.events_url = "http://agentd.test/api/v1/runs/" + spec.run_id + "/events";
    options.token_file = token_path;
    options.runner_instance = "agentd-run-01jtest-abcde";
    options.events_transport = &events_;
    options.events_delivery.flush_interval = std::chrono::milliseconds(5);
    options.events_delivery.retry.base_delay = std::chrono::milliseconds(1);
    options.retry_base_delay = std::chrono::milliseconds(1);
    options.events_drain_timeout = std::chrono::seconds(10);
    return options;
  }

  std::vector<api::v1::RunnerEvent> JournalEvents() {
    std::vector<api::v1::RunnerEvent> events;
    std::stringstream lines(ReadFile(journal_path_));
    for (std::string line; std::getline(lines, line);) {
      auto event = api::v1::ParseRunnerEvent(line);
      EXPECT_TRUE(event.ok()) << line;
      if (event.ok()) events.push_back(std::move(event).value());
    }
    return events;
  }

  std::string Posted() {
    std::string all;
    for (const auto& r : events_.requests()) all += r.body;
    return all;
  }

  testing::FakeEventsTransport events_;
};

TEST_F(RunnerOverHttpTest, PostsEveryEventWithTheTokenAttemptAndInstanceOfThePod) {
  server_.EnqueueText("done over http");
  auto spec = Spec();
  spec.attempt = 3;

  int code = RunnerMain(PodOptions(spec));

  EXPECT_EQ(code, 0);
  auto requests = events_.requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& r : requests) {
    EXPECT_EQ(r.url, "http://agentd.test/api/v1/runs/run-01jtest/events");
    EXPECT_EQ(testing::HeaderOf(r, "Authorization"), std::string("Bearer ") + kToken);
    EXPECT_EQ(testing::HeaderOf(r, "X-Agentd-Attempt"), "3");
    EXPECT_EQ(testing::HeaderOf(r, "X-Agentd-Runner"), "agentd-run-01jtest-abcde");
  }
  // Everything in the journal was delivered, in order, ending with the result.
  EXPECT_EQ(Posted(), ReadFile(journal_path_));
  auto events = JournalEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, "phase");
  EXPECT_EQ(events.back().type, "result");
  EXPECT_EQ(events.back().data["result"], "done over http");
}

TEST_F(RunnerOverHttpTest, RetriesWhileTheApiIsBriefly503ThenDelivers) {
  events_.Script({testing::FakeAnswer::Problem(503, "unavailable", "restarting"),
                  testing::FakeAnswer::Failure(core::Unavailable("connection refused"))});
  server_.EnqueueText("patient");

  int code = RunnerMain(PodOptions(Spec()));

  EXPECT_EQ(code, 0);
  EXPECT_GE(events_.requests().size(), 3u);
  auto events = JournalEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().data["status"], "succeeded");
  // The refused batch was sent again, not lost: every journal line reached the API.
  std::set<int64_t> posted;
  std::stringstream lines(Posted());
  for (std::string line; std::getline(lines, line);)
    posted.insert(api::v1::ParseRunnerEvent(line)->seq);
  EXPECT_EQ(posted.size(), events.size());
  EXPECT_EQ(*posted.rbegin(), events.back().seq);
}

TEST_F(RunnerOverHttpTest, ASecondPodOfTheAttemptIsFencedAndExitsWith1) {
  // The model call would take a minute: the fence must stop it.
  server_.Enqueue(FakeReply{.text = "never", .delay = std::chrono::seconds(60)});
  events_.Script({testing::FakeAnswer::Problem(
      409, "attempt_fenced", "attempt 1 of run run-01jtest belongs to another runner instance")});

  auto started = std::chrono::steady_clock::now();
  int code = RunnerMain(PodOptions(Spec()));

  EXPECT_EQ(code, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_EQ(events_.requests().size(), 1u);
  auto events = JournalEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "result");
  EXPECT_EQ(events.back().data["status"], "failed");
  EXPECT_EQ(events.back().data["reason"], "EventsRefused");
}

TEST_F(RunnerOverHttpTest, ASpecForAnotherRunOrAttemptIsRefusedWithExitCode2) {
  auto options = PodOptions(Spec());
  options.run_id = "run-01jother";
  EXPECT_EQ(RunnerMain(options), 2);
  auto events = JournalEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().data["reason"], "InvalidSpec");
  EXPECT_NE(events.back().data["error"].get<std::string>().find("run-01jother"), std::string::npos);

  options = PodOptions(Spec());
  options.attempt = 2;
  EXPECT_EQ(RunnerMain(options), 2);
  EXPECT_EQ(server_.completion_requests().size(), 0u);
}

TEST_F(RunnerOverHttpTest, WithoutAReadableTokenNothingIsSentAndTheExitCodeIs2) {
  auto options = PodOptions(Spec());
  options.token_file = dir_ + "/missing-token";
  EXPECT_EQ(RunnerMain(options), 2);

  std::ofstream(dir_ + "/empty-token") << "\n";
  options.token_file = dir_ + "/empty-token";
  EXPECT_EQ(RunnerMain(options), 2);

  options.token_file.clear();
  EXPECT_EQ(RunnerMain(options), 2);

  EXPECT_TRUE(events_.requests().empty());
  EXPECT_EQ(server_.completion_requests().size(), 0u);
  auto events = JournalEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().data["reason"], "InvalidSpec");
}

TEST_F(RunnerOverHttpTest, TheInstanceDefaultsToTheHostnameVariable) {
  server_.EnqueueText("named");
  auto options = PodOptions(Spec());
  options.runner_instance.clear();
  ::setenv("HOSTNAME", "agentd-run-pod-xyz12", 1);

  EXPECT_EQ(RunnerMain(options), 0);

  ASSERT_FALSE(events_.requests().empty());
  EXPECT_EQ(testing::HeaderOf(events_.requests()[0], "X-Agentd-Runner"), "agentd-run-pod-xyz12");
}

}  // namespace
}  // namespace agentd::runner
