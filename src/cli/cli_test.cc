#include "cli/cli.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include "cli/api_client.h"
#include "cli/follow.h"
#include "core/time.h"
#include "governance/audit_chain.h"
#include "governance/checkpoint.h"
#include "testing/fake_clock.h"

namespace agentd::cli {
namespace {

using core::Json;
using httpclient::Request;
using httpclient::Response;
using std::chrono::milliseconds;

// One scripted answer of FakeTransport.
struct Reply {
  int status = 200;
  std::string body;                  // Send: the body; a stream: the error document (non-2xx)
  std::vector<std::string> chunks;   // a 2xx stream: its body, piece by piece
  std::optional<core::Error> error;  // returned instead of an answer (for streams: after chunks)
};

// An HttpTransport that answers from a script and records every request. Routes are
// "METHOD /path" (query excluded); streamed requests use the method "SSE". Each route's replies
// are used in order and the last one repeats.
class FakeTransport final : public httpclient::HttpTransport {
 public:
  struct Call {
    Request request;
    std::string route;

    std::string Header(std::string_view name) const {
      for (const auto& [key, value] : request.headers) {
        if (key == name) return value;
      }
      return "<none>";
    }
  };

  void On(const std::string& route, Reply reply) { routes_[route].push_back(std::move(reply)); }

  core::Result<Response> Send(const Request& request) override {
    return Answer(request, request.method, nullptr);
  }
  core::Result<Response> SendStreaming(
      const Request& request, const std::function<bool(std::string_view)>& on_body) override {
    return Answer(request, "SSE", &on_body);
  }

  std::vector<Call> CallsTo(const std::string& route) const {
    std::vector<Call> out;
    for (const auto& call : calls) {
      if (call.route == route) out.push_back(call);
    }
    return out;
  }

  std::vector<Call> calls;

 private:
  core::Result<Response> Answer(const Request& request, const std::string& method,
                                const std::function<bool(std::string_view)>* on_body) {
    std::string path = request.url;
    size_t scheme = path.find("://");
    path = path.substr(path.find('/', scheme == std::string::npos ? 0 : scheme + 3));
    path = path.substr(0, path.find('?'));
    std::string route = method + " " + path;
    calls.push_back({request, route});
    auto it = routes_.find(route);
    if (it == routes_.end()) {
      return Response{404, {}, R"({"title":"Not Found","detail":"no route )" + route + "\"}"};
    }
    Reply reply = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    if (on_body != nullptr && reply.status >= 200 && reply.status < 300) {
      for (const auto& chunk : reply.chunks) {
        if (!(*on_body)(chunk)) return core::Aborted("on_body stopped the transfer");
      }
    }
    if (reply.error) return *reply.error;
    return Response{reply.status, {{"content-type", "application/json"}}, reply.body};
  }

  std::map<std::string, std::deque<Reply>> routes_;
};

// One event in the SSE wire format, data being the whole event object (runs::EventToJson).
std::string SseEvent(int64_t seq, const std::string& type, const Json& data) {
  Json event = {{"runId", "run-1"},
                {"seq", seq},
                {"type", type},
                {"time", "2026-11-21T12:00:00.000Z"},
                {"data", data}};
  return "id: " + std::to_string(seq) + "\nevent: " + type + "\ndata: " + event.dump() + "\n\n";
}

// Cuts a byte stream into pieces of `size` bytes, wherever that falls.
std::vector<std::string> Split(const std::string& text, size_t size) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); i += size) out.push_back(text.substr(i, size));
  return out;
}

Json RunJson(const std::string& phase) {
  Json run = {{"id", "run-1"},
              {"agent", "developer"},
              {"input", "add a README"},
              {"phase", phase},
              {"labels", Json::object()},
              {"createdAt", "2026-11-21T11:58:00.000Z"},
              {"startedAt", "2026-11-21T12:00:00.000Z"},
              {"finishedAt", "2026-11-21T12:00:03.000Z"},
              {"attempts", 1},
              {"usage",
               {{"inputTokens", 10},
                {"cachedInputTokens", 2},
                {"outputTokens", 5},
                {"modelCalls", 1},
                {"costUsd", "0.0001"}}},
              {"result", nullptr},
              {"error", nullptr}};
  run["conditions"] = {{{"type", phase}, {"status", "True"}, {"reason", ""}, {"message", ""}}};
  return run;
}

Reply JsonReply(const Json& body, int status = 200) { return {status, body.dump(), {}, {}}; }

Reply Problem(int status, const std::string& detail, const std::string& code = "") {
  Json problem = {
      {"type", "about:blank"}, {"title", "Error"}, {"status", status}, {"detail", detail}};
  if (!code.empty()) problem["code"] = code;
  return {status, problem.dump(), {}, {}};
}

Reply Stream(const std::string& text, size_t piece, std::optional<core::Error> error = {}) {
  return {200, "", Split(text, piece), std::move(error)};
}

struct CliOutput {
  int code = -1;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  // Runs agentctl with a server URL and token in front of `args`.
  CliOutput Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", "http://agentd.test", "--token", "sekret"});
    return RunBare(std::move(args));
  }

  CliOutput RunBare(std::vector<std::string> args) {
    args.insert(args.begin(), "agentctl");
    std::ostringstream out;
    std::ostringstream err;
    CliEnvironment env;
    env.in = &stdin_;
    env.clock = &clock_;
    env.getenv = [this](const char* name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    env.sleep = [this](milliseconds d) { sleeps_.push_back(d); };
    int code = RunCli(args, out, err, transport_, env);
    return {code, out.str(), err.str()};
  }

  FakeTransport transport_;
  agentd::testing::FakeClock clock_{*core::ParseRfc3339("2026-11-21T12:00:00Z")};
  std::istringstream stdin_;
  std::map<std::string, std::string> env_;
  std::vector<milliseconds> sleeps_;
};

// ---- submit ---------------------------------------------------------------------------------

TEST_F(CliTest, RunSubmitsTheRequestBodyAndHeadersAndPrintsTheRunId) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));

  CliOutput r = Run({"run",
                     "developer",
                     "add",
                     "a",
                     "README",
                     "--priority",
                     "3",
                     "--deadline",
                     "10m",
                     "--label",
                     "team=core",
                     "--label",
                     "env=dev",
                     "--param",
                     "n=3",
                     "--param",
                     "name=bob",
                     "--param",
                     "opts={\"x\":true}",
                     "--idempotency-key",
                     "key-1"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "run-1\n");
  ASSERT_EQ(transport_.calls.size(), 1u);
  const auto& call = transport_.calls[0];
  EXPECT_EQ(call.request.method, "POST");
  EXPECT_EQ(call.request.url, "http://agentd.test/api/v1/runs");
  EXPECT_EQ(call.Header("Authorization"), "Bearer sekret");
  EXPECT_EQ(call.Header("Idempotency-Key"), "key-1");
  EXPECT_EQ(call.Header("Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(call.request.body), Json::parse(R"({
    "agent": "developer", "input": "add a README", "priority": 3, "deadlineSeconds": 600,
    "labels": {"team": "core", "env": "dev"},
    "parameters": {"n": 3, "name": "bob", "opts": {"x": true}}})"));
}

TEST_F(CliTest, RunWithoutOptionalFlagsSendsNoDeadlineAndNoIdempotencyKey) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));

  CliOutput r = Run({"run", "developer", "hello"});

  ASSERT_EQ(r.code, 0) << r.err;
  const auto& call = transport_.calls.at(0);
  EXPECT_EQ(call.Header("Idempotency-Key"), "<none>");
  Json body = Json::parse(call.request.body);
  EXPECT_FALSE(body.contains("deadlineSeconds"));
  EXPECT_EQ(body["priority"], 0);
  EXPECT_EQ(body["labels"], Json::object());
  EXPECT_EQ(body["parameters"], Json::object());
}

TEST_F(CliTest, RunLabelFlagDoesNotSwallowThePositionalArguments) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));

  CliOutput r = Run({"run", "--label", "a=b", "developer", "hello", "world"});

  ASSERT_EQ(r.code, 0) << r.err;
  Json body = Json::parse(transport_.calls.at(0).request.body);
  EXPECT_EQ(body["agent"], "developer");
  EXPECT_EQ(body["input"], "hello world");
  EXPECT_EQ(body["labels"], Json({{"a", "b"}}));
}

TEST_F(CliTest, RunReadsTheInputFromStdinForDash) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  stdin_.str("line one\nline two\n");

  CliOutput r = Run({"run", "developer", "-"});

  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(transport_.calls.at(0).request.body)["input"], "line one\nline two\n");
}

TEST_F(CliTest, RunPrintsTheWholeRunInJsonAndYaml) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));

  CliOutput json = Run({"run", "developer", "hi", "-o", "json"});
  CliOutput yaml = Run({"-o", "yaml", "run", "developer", "hi"});

  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out), RunJson("Queued"));
  ASSERT_EQ(yaml.code, 0) << yaml.err;
  YAML::Node node = YAML::Load(yaml.out);
  EXPECT_EQ(node["id"].as<std::string>(), "run-1");
  EXPECT_EQ(node["phase"].as<std::string>(), "Queued");
  EXPECT_EQ(node["usage"]["costUsd"].as<std::string>(), "0.0001");
  EXPECT_EQ(node["usage"]["costUsd"].Tag(), "!");  // quoted: stays a string
}

TEST_F(CliTest, ServerAndTokenComeFromTheEnvironmentUnlessFlagsAreGiven) {
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Running")));
  env_ = {{"AGENTD_URL", "http://from-env:9000/"}, {"AGENTD_TOKEN", "env-token"}};

  ASSERT_EQ(RunBare({"runs", "get", "run-1"}).code, 0);
  ASSERT_EQ(
      RunBare({"--server", "http://flag:1", "--token", "flag-token", "runs", "get", "run-1"}).code,
      0);
  env_.clear();
  ASSERT_EQ(RunBare({"runs", "get", "run-1"}).code, 0);

  ASSERT_EQ(transport_.calls.size(), 3u);
  EXPECT_EQ(transport_.calls[0].request.url, "http://from-env:9000/api/v1/runs/run-1");
  EXPECT_EQ(transport_.calls[0].Header("Authorization"), "Bearer env-token");
  EXPECT_EQ(transport_.calls[1].request.url, "http://flag:1/api/v1/runs/run-1");
  EXPECT_EQ(transport_.calls[1].Header("Authorization"), "Bearer flag-token");
  EXPECT_EQ(transport_.calls[2].request.url, "http://127.0.0.1:8080/api/v1/runs/run-1");
  EXPECT_EQ(transport_.calls[2].Header("Authorization"), "<none>");
}

// ---- usage errors ---------------------------------------------------------------------------

class ParseErrorTest : public CliTest,
                       public ::testing::WithParamInterface<std::vector<std::string>> {};

TEST_P(ParseErrorTest, ExitsTwoWithTheHelpHintAndSendsNothing) {
  CliOutput r = Run(GetParam());

  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("Run with --help for more information."), std::string::npos) << r.err;
  EXPECT_TRUE(transport_.calls.empty());
}

INSTANTIATE_TEST_SUITE_P(
    BadCommandLines, ParseErrorTest,
    ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"bogus"},
                      std::vector<std::string>{"--nope", "version"},
                      std::vector<std::string>{"runs"}, std::vector<std::string>{"run"},
                      std::vector<std::string>{"run", "developer"},
                      std::vector<std::string>{"run", "dev", "x", "--priority", "high"},
                      std::vector<std::string>{"-o", "xml", "runs", "list"},
                      std::vector<std::string>{"runs", "list", "--limit", "abc"},
                      std::vector<std::string>{"runs", "get"},
                      std::vector<std::string>{"runs", "logs", "run-1", "--bogus"},
                      std::vector<std::string>{"runs", "approve"},
                      std::vector<std::string>{"runs", "reject", "run-1", "--reason"},
                      std::vector<std::string>{"usage", "--tier", "7"},
                      std::vector<std::string>{"audit"},
                      std::vector<std::string>{"audit", "list", "--limit", "0"},
                      std::vector<std::string>{"audit", "verify", "--file"},
                      std::vector<std::string>{"budgets", "extra"}));

class BadValueTest : public CliTest,
                     public ::testing::WithParamInterface<std::vector<std::string>> {};

TEST_P(BadValueTest, ExitsTwoNamingTheValueAndSendsNothing) {
  CliOutput r = Run(GetParam());

  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_TRUE(transport_.calls.empty());
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, BadValueTest,
    ::testing::Values(std::vector<std::string>{"run", "dev", "x", "--label", "novalue"},
                      std::vector<std::string>{"run", "dev", "x", "--param", "=3"},
                      std::vector<std::string>{"run", "dev", "x", "--deadline", "10x"},
                      std::vector<std::string>{"run", "dev", "x", "--deadline", "0s"}));

TEST_F(CliTest, HelpExplainsCommandsEnvironmentAndExitCodes) {
  CliOutput top = Run({"--help"});
  CliOutput run = Run({"run", "--help"});
  CliOutput logs = Run({"runs", "logs", "--help"});

  EXPECT_EQ(top.code, 0);
  for (const char* text :
       {"run", "runs", "usage", "budgets", "audit", "version", "AGENTD_URL", "AGENTD_TOKEN",
        "Exit codes:", "3  the run TimedOut", "11  server unavailable", "budget_exceeded"}) {
    EXPECT_NE(top.out.find(text), std::string::npos) << text << "\n" << top.out;
  }
  EXPECT_EQ(run.code, 0);
  for (const char* text : {"--follow", "--wait", "--deadline", "--idempotency-key", "stdin"}) {
    EXPECT_NE(run.out.find(text), std::string::npos) << text << "\n" << run.out;
  }
  EXPECT_EQ(logs.code, 0);
  EXPECT_NE(logs.out.find("--follow"), std::string::npos) << logs.out;
}

TEST_F(CliTest, HelpOfTheGovernanceCommandsNamesTheirFlags) {
  std::map<std::vector<std::string>, std::vector<std::string>> expected = {
      {{"runs", "approve", "--help"}, {"--reason", "AwaitingApproval"}},
      {{"runs", "reject", "--help"}, {"--reason", "Rejected"}},
      {{"usage", "--help"},
       {"--from", "--to", "--group-by", "--agent", "--team", "--tier", "--model", "--caller",
        "TOTAL"}},
      {{"budgets", "--help"}, {"SPENT", "RESERVED", "nearLimit"}},
      {{"audit", "list", "--help"}, {"--actor", "--action", "--subject", "--limit"}},
      {{"audit", "export", "--help"}, {"--out", "checkpoints"}},
      {{"audit", "verify", "--help"},
       {"--checkpoint", "--public-key", "--file", "audit chain intact", "cut"}},
  };
  for (const auto& [args, texts] : expected) {
    CliOutput r = Run(args);
    EXPECT_EQ(r.code, 0) << args[0];
    for (const auto& text : texts) {
      EXPECT_NE(r.out.find(text), std::string::npos) << args[0] << " " << text << "\n" << r.out;
    }
  }
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(CliTest, VersionPrintsTheVersion) {
  CliOutput r = Run({"version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "agentctl " + std::string(CliVersion()) + "\n");
}

// ---- server errors --------------------------------------------------------------------------

struct ErrorCase {
  Reply reply;
  int exit_code;
  std::string message;
};

class ServerErrorTest : public CliTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(ServerErrorTest, PrintsTheServersDetailAndMapsTheExitCode) {
  transport_.On("GET /api/v1/runs/run-9", GetParam().reply);

  CliOutput r = Run({"runs", "get", "run-9"});

  EXPECT_EQ(r.code, GetParam().exit_code);
  EXPECT_EQ(r.err, "error: " + GetParam().message + "\n");
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, ServerErrorTest,
    ::testing::Values(
        ErrorCase{Problem(404, "run \"run-9\" not found", "not_found"), 6,
                  "run \"run-9\" not found"},
        ErrorCase{Problem(400, "bad run id"), 2, "bad run id"},
        ErrorCase{Problem(401, "missing API key"), 8, "missing API key"},
        ErrorCase{Problem(403, "key may not read runs"), 8, "key may not read runs"},
        ErrorCase{Problem(409, "already there", "already_exists"), 7, "already there"},
        ErrorCase{Problem(429, "budget exceeded"), 9, "budget exceeded"},
        ErrorCase{Problem(503, "store is down"), 11, "store is down"},
        ErrorCase{Problem(504, "slow"), 10, "slow"},
        ErrorCase{Reply{500, "<html>oops</html>", {}, {}}, 12,
                  "HTTP 500 from GET /api/v1/runs/run-9"},
        ErrorCase{Reply{0, "", {}, core::Unavailable("connect to agentd.test: refused")}, 11,
                  "connect to agentd.test: refused"},
        ErrorCase{Reply{0, "", {}, core::DeadlineExceeded("timed out after 30s")}, 10,
                  "timed out after 30s"}));

TEST_F(CliTest, SubmitErrorsUseTheProblemDetail) {
  transport_.On("POST /api/v1/runs", Problem(400, "unknown agent \"nobody\" in run request"));

  CliOutput r = Run({"run", "nobody", "hi", "--follow"});

  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "error: unknown agent \"nobody\" in run request\n");
  EXPECT_EQ(transport_.calls.size(), 1u);  // nothing followed
}

TEST_F(CliTest, CancellingATerminalRunIsAConflict) {
  transport_.On("POST /api/v1/runs/run-1/cancel",
                Problem(409, "run \"run-1\" is Succeeded", "failed_precondition"));

  CliOutput r = Run({"runs", "cancel", "run-1"});

  EXPECT_EQ(r.code, 7);
  EXPECT_EQ(r.err, "error: run \"run-1\" is Succeeded\n");
}

TEST(ErrorCodeForHttpStatusTest, ProblemCodeRefinesOnlyAMatchingStatus) {
  using core::ErrorCode;
  EXPECT_EQ(ErrorCodeForHttpStatus(409), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ErrorCodeForHttpStatus(409, "already_exists"), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ErrorCodeForHttpStatus(409, "aborted"), ErrorCode::kAborted);
  EXPECT_EQ(ErrorCodeForHttpStatus(404, "internal"), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeForHttpStatus(413, "resource_exhausted"), ErrorCode::kResourceExhausted);
  EXPECT_EQ(ErrorCodeForHttpStatus(418), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeForHttpStatus(502), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeForHttpStatus(507), ErrorCode::kInternal);
}

// ---- follow ---------------------------------------------------------------------------------

std::string FullRunStream() {
  return SseEvent(1, "phase", {{"phase", "Queued"}}) +
         SseEvent(2, "phase", {{"phase", "Running"}}) + ": keep-alive\n\n" +
         SseEvent(3, "delta", {{"content", "Hel"}}) + SseEvent(4, "delta", {{"content", "lo"}}) +
         SseEvent(5, "tool_call",
                  {{"id", "c1"}, {"name", "shell"}, {"arguments", {{"command", "ls"}}}}) +
         SseEvent(6, "tool_result",
                  {{"id", "c1"},
                   {"name", "shell"},
                   {"ok", true},
                   {"output", "a\nb\nc\nd\n"},
                   {"truncated", false}}) +
         SseEvent(7, "usage",
                  {{"model", "m"},
                   {"inputTokens", 10},
                   {"cachedInputTokens", 2},
                   {"outputTokens", 5},
                   {"costMicros", 100}}) +
         SseEvent(8, "delta", {{"content", "Done."}}) +
         SseEvent(9, "message", {{"role", "assistant"}, {"content", "Done."}}) +
         SseEvent(10, "result",
                  {{"status", "succeeded"}, {"result", "Done."}, {"error", ""}, {"reason", ""}}) +
         SseEvent(11, "phase", {{"phase", "Succeeded"}, {"reason", "Completed"}});
}

constexpr char kFullRunOutput[] =
    "[Queued]\n"
    "[Running]\n"
    "Hello\n"
    "→ shell {\"command\":\"ls\"}\n"
    "← ok (4 lines)\n"
    "    a\n"
    "    b\n"
    "    c\n"
    "    … 1 more line\n"
    "Done.\n"
    "[Succeeded] Completed\n"
    "usage: 10 input tokens (2 cached), 5 output tokens, 1 model call, $0.0001, took 3.0s\n";

class FollowSplitTest : public CliTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(FollowSplitTest, RendersTheStreamLiveWhereverTheChunksAreCut) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(FullRunStream(), GetParam()));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Succeeded")));

  CliOutput r = Run({"run", "developer", "add a README", "--follow"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, kFullRunOutput);
  EXPECT_EQ(r.err, "run run-1\n");
  auto streams = transport_.CallsTo("SSE /api/v1/runs/run-1/events");
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].Header("Accept"), "text/event-stream");
  EXPECT_EQ(streams[0].Header("Authorization"), "Bearer sekret");
  EXPECT_EQ(streams[0].Header("Last-Event-ID"), "<none>");
  EXPECT_TRUE(sleeps_.empty());
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, FollowSplitTest, ::testing::Values(1, 7, 13, 4096));

TEST_F(CliTest, FollowShowsViolationsAndBudgetWarningsOnStderr) {
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  transport_.On(
      "SSE /api/v1/runs/run-1/events",
      Stream(SseEvent(1, "phase", {{"phase", "Running"}}) +
                 SseEvent(2, "budget",
                          {{"budget", "org"},
                           {"state", "nearLimit"},
                           {"spentUsd", "8"},
                           {"limitUsd", "10"}}) +
                 SseEvent(3, "violation",
                          {{"rule", "run_cost_limit"}, {"message", "the next call may cost more"}}) +
                 SseEvent(4, "phase", {{"phase", "Failed"}, {"reason", "BudgetExceeded"}}),
             4096));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Failed")));

  CliOutput r = Run({"run", "developer", "x", "--follow"});

  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("budget org nearLimit: spent $8 of $10\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("policy: run_cost_limit: the next call may cost more\n"), std::string::npos)
      << r.err;
}

struct PhaseCase {
  std::string phase;
  int exit_code;
};

class FollowExitCodeTest : public CliTest, public ::testing::WithParamInterface<PhaseCase> {};

TEST_P(FollowExitCodeTest, ExitsWithTheCodeOfTheTerminalPhase) {
  const std::string& phase = GetParam().phase;
  std::string stream = SseEvent(1, "phase", {{"phase", "Running"}});
  if (phase == "Failed") {
    stream +=
        SseEvent(2, "error", {{"message", "model unreachable"}}) +
        SseEvent(3, "result",
                 {{"status", "failed"}, {"result", ""}, {"error", "gave up"}, {"reason", ""}});
  }
  stream += SseEvent(9, "phase", {{"phase", phase}, {"reason", "Why"}, {"message", "because"}});
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(stream, 5));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson(phase)));

  CliOutput r = Run({"run", "developer", "x", "-f"});

  EXPECT_EQ(r.code, GetParam().exit_code) << r.err;
  EXPECT_NE(r.out.find("[" + phase + "] Why: because\n"), std::string::npos) << r.out;
  if (phase == "Failed") {
    EXPECT_EQ(r.err, "run run-1\nerror: model unreachable\nerror: gave up\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Phases, FollowExitCodeTest,
                         ::testing::Values(PhaseCase{"Succeeded", 0}, PhaseCase{"Failed", 1},
                                           PhaseCase{"TimedOut", 3}, PhaseCase{"Cancelled", 4},
                                           PhaseCase{"Rejected", 5}));

std::string CountingStream(int from, int to) {
  std::string out;
  for (int seq = from; seq <= to; ++seq) {
    if (seq == 1) {
      out += SseEvent(1, "phase", {{"phase", "Running"}});
    } else if (seq == 6) {
      out += SseEvent(6, "phase", {{"phase", "Succeeded"}});
    } else {
      out += SseEvent(seq, "delta", {{"content", "d" + std::to_string(seq) + " "}});
    }
  }
  return out;
}

constexpr char kCountingOutput[] = "[Running]\nd2 d3 d4 d5 \n[Succeeded]\n";

TEST_F(CliTest, FollowReconnectsWithLastEventIdAndPrintsNothingTwice) {
  std::string second_part = CountingStream(4, 6);
  // The first connection drops in the middle of event 4; the server replays from event 3.
  Reply first = Stream(CountingStream(1, 3) + second_part.substr(0, 20), 6,
                       core::Unavailable("connection reset by peer"));
  transport_.On("SSE /api/v1/runs/run-1/events", first);
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(CountingStream(3, 6), 11));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Succeeded")));

  CliOutput r = Run({"runs", "logs", "run-1", "-f"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find("usage:")), kCountingOutput);
  auto streams = transport_.CallsTo("SSE /api/v1/runs/run-1/events");
  ASSERT_EQ(streams.size(), 2u);
  EXPECT_EQ(streams[0].Header("Last-Event-ID"), "<none>");
  EXPECT_EQ(streams[1].Header("Last-Event-ID"), "3");
  EXPECT_EQ(sleeps_, std::vector<milliseconds>{milliseconds(250)});
}

TEST_F(CliTest, FollowReconnectsWhenTheStreamEndsBeforeTheRunDoes) {
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(CountingStream(1, 2), 100));
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(CountingStream(3, 6), 100));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Running")));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Succeeded")));

  CliOutput r = Run({"runs", "logs", "-f", "run-1"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find("usage:")), kCountingOutput);
  EXPECT_EQ(transport_.CallsTo("SSE /api/v1/runs/run-1/events").at(1).Header("Last-Event-ID"), "2");
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(CliTest, FollowReadsMissingEventsFromTheLogWhenTheRunEndedWithoutThem) {
  // The stream closes early, and by then the run is over: the rest comes from the JSON log.
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(CountingStream(1, 2), 100));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Succeeded")));
  Json page = {{"items", Json::array()}, {"nextAfter", 6}};
  for (int seq = 3; seq <= 6; ++seq) {
    page["items"].push_back(
        Json::parse(CountingStream(seq, seq).substr(CountingStream(seq, seq).find("data: ") + 6)));
  }
  transport_.On("GET /api/v1/runs/run-1/events", JsonReply(page));
  transport_.On("GET /api/v1/runs/run-1/events",
                JsonReply({{"items", Json::array()}, {"nextAfter", 6}}));

  CliOutput r = Run({"runs", "logs", "-f", "run-1"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find("usage:")), kCountingOutput);
  auto pages = transport_.CallsTo("GET /api/v1/runs/run-1/events");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].request.url, "http://agentd.test/api/v1/runs/run-1/events?after=2");
  EXPECT_EQ(pages[1].request.url, "http://agentd.test/api/v1/runs/run-1/events?after=6");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(CliTest, FollowGivesUpAfterBoundedReconnectsWithGrowingBackoff) {
  transport_.On("SSE /api/v1/runs/run-1/events",
                Reply{0, "", {}, core::Unavailable("connection refused")});

  CliOutput r = Run({"runs", "logs", "-f", "run-1"});

  EXPECT_EQ(r.code, 11);
  EXPECT_NE(r.err.find("gave up after 8 reconnects"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
  EXPECT_EQ(transport_.CallsTo("SSE /api/v1/runs/run-1/events").size(), 9u);
  std::vector<milliseconds> expected = {milliseconds(250),  milliseconds(500),  milliseconds(1000),
                                        milliseconds(2000), milliseconds(4000), milliseconds(5000),
                                        milliseconds(5000), milliseconds(5000)};
  EXPECT_EQ(sleeps_, expected);
}

TEST_F(CliTest, FollowStopsAtOnceOnANonRetryableError) {
  transport_.On("SSE /api/v1/runs/run-1/events", Problem(404, "run \"run-1\" not found"));

  CliOutput r = Run({"runs", "logs", "-f", "run-1"});

  EXPECT_EQ(r.code, 6);
  EXPECT_EQ(r.err, "error: run \"run-1\" not found\n");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(CliTest, FollowInJsonPrintsEachEventAsOneJsonLine) {
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(FullRunStream(), 9));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Succeeded")));

  CliOutput r = Run({"runs", "logs", "-f", "run-1", "-o", "json"});

  EXPECT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int64_t expected_seq = 0;
  while (std::getline(lines, line)) {
    Json event = Json::parse(line);
    EXPECT_EQ(event["seq"], ++expected_seq);
    EXPECT_EQ(event["runId"], "run-1");
    EXPECT_TRUE(event.contains("type") && event.contains("data") && event.contains("time"));
  }
  EXPECT_EQ(expected_seq, 11);
}

TEST_F(CliTest, FollowAcceptsStreamsWhoseDataIsOnlyTheEventData) {
  std::string stream =
      "id: 1\nevent: phase\ndata: {\"phase\":\"Running\"}\n\n"
      "id: 2\nevent: delta\ndata: {\"content\":\"hi\"}\n\n"
      "id: 3\nevent: phase\ndata: {\"phase\":\"Cancelled\"}\n\n";
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(stream, 4));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(RunJson("Cancelled")));

  CliOutput r = Run({"runs", "logs", "-f", "run-1"});

  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.out.substr(0, r.out.find("usage:")), "[Running]\nhi\n[Cancelled]\n");
}

// ---- wait -----------------------------------------------------------------------------------

TEST_F(CliTest, WaitPrintsOnlyTheResultAndExitsWithTheOutcome) {
  Json done = RunJson("Succeeded");
  done["result"] = "The README is written.";
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  transport_.On("SSE /api/v1/runs/run-1/events", Stream(FullRunStream(), 64));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(done));

  CliOutput r = Run({"run", "developer", "x", "--wait"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "The README is written.\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, WaitReportsAFailureOnStderr) {
  Json failed = RunJson("Failed");
  failed["error"] = "the model gave up";
  transport_.On("POST /api/v1/runs", JsonReply(RunJson("Queued"), 201));
  transport_.On("SSE /api/v1/runs/run-1/events",
                Stream(SseEvent(1, "phase", {{"phase", "Failed"}}), 64));
  transport_.On("GET /api/v1/runs/run-1", JsonReply(failed));

  CliOutput r = Run({"run", "developer", "x", "--wait"});
  CliOutput json = Run({"run", "developer", "x", "--wait", "-o", "json"});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "run run-1 ended Failed: the model gave up\n");
  EXPECT_EQ(json.code, 1);
  EXPECT_EQ(Json::parse(json.out), failed);
}

// ---- runs list | get | logs | cancel --------------------------------------------------------

Json ListedRun(const std::string& id, const std::string& phase, const std::string& created) {
  Json run = RunJson(phase);
  run["id"] = id;
  run["createdAt"] = created;
  return run;
}

TEST_F(CliTest, ListSendsFiltersFollowsCursorsWithAllAndPrintsATable) {
  transport_.On("GET /api/v1/runs",
                JsonReply({{"items", {ListedRun("run-b", "Running", "2026-11-21T11:59:20Z")}},
                           {"nextCursor", "c/2"}}));
  transport_.On("GET /api/v1/runs",
                JsonReply({{"items", {ListedRun("run-a", "Failed", "2026-11-21T09:00:00Z")}},
                           {"nextCursor", ""}}));

  CliOutput r = Run({"runs", "list", "--agent", "developer", "--phase", "Running", "--label",
                     "team=core", "--limit", "1", "--all"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID      AGENT       PHASE     AGE   COST\n"
            "run-b   developer   Running   40s   $0.0001\n"
            "run-a   developer   Failed    3h    $0.0001\n");
  ASSERT_EQ(transport_.calls.size(), 2u);
  EXPECT_EQ(transport_.calls[0].request.url,
            "http://agentd.test/api/v1/runs?agent=developer&phase=Running&label=team%3Dcore"
            "&limit=1");
  EXPECT_EQ(transport_.calls[1].request.url,
            "http://agentd.test/api/v1/runs?agent=developer&phase=Running&label=team%3Dcore"
            "&limit=1&cursor=c%2F2");
}

TEST_F(CliTest, ListWithoutAllShowsOnePageAndTheNextCursor) {
  transport_.On("GET /api/v1/runs",
                JsonReply({{"items", {ListedRun("run-b", "Running", "2026-11-21T11:59:20Z")}},
                           {"nextCursor", "c2"}}));

  CliOutput table = Run({"runs", "list"});
  CliOutput json = Run({"runs", "list", "-o", "json"});

  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.err.find("--cursor c2"), std::string::npos) << table.err;
  EXPECT_EQ(json.code, 0);
  Json list = Json::parse(json.out);
  EXPECT_EQ(list["nextCursor"], "c2");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], "run-b");
  EXPECT_EQ(transport_.calls.size(), 2u);
}

TEST_F(CliTest, ListSaysSoWhenThereAreNoRuns) {
  transport_.On("GET /api/v1/runs", JsonReply({{"items", Json::array()}}));

  CliOutput r = Run({"runs", "list"});

  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No runs found.\n");
}

TEST_F(CliTest, GetPrintsDetailsJsonOrYaml) {
  Json run = RunJson("Succeeded");
  run["result"] = "all done\nsee README.md";
  transport_.On("GET /api/v1/runs/run-1", JsonReply(run));

  CliOutput table = Run({"runs", "get", "run-1"});
  CliOutput json = Run({"runs", "get", "run-1", "-o", "json"});
  CliOutput yaml = Run({"runs", "get", "run-1", "-o", "yaml"});

  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("Phase:     Succeeded\n"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("Result:\n  all done\n  see README.md\n"), std::string::npos)
      << table.out;
  EXPECT_EQ(Json::parse(json.out), run);
  YAML::Node node = YAML::Load(yaml.out);
  EXPECT_EQ(node["result"].as<std::string>(), "all done\nsee README.md");
  EXPECT_EQ(node["attempts"].as<int>(), 1);
  EXPECT_TRUE(node["error"].IsNull());
}

TEST_F(CliTest, GetEncodesTheRunIdInThePath) {
  transport_.On("GET /api/v1/runs/a%2F..%2Fb", Problem(404, "no such run"));

  CliOutput r = Run({"runs", "get", "a/../b"});

  EXPECT_EQ(r.code, 6);
  EXPECT_EQ(transport_.calls.at(0).request.url, "http://agentd.test/api/v1/runs/a%2F..%2Fb");
}

TEST_F(CliTest, LogsWithoutFollowPrintsTheWholeEventLog) {
  Json first = {{"items", Json::array()}, {"nextAfter", 3}};
  for (int seq = 1; seq <= 3; ++seq) {
    std::string sse = CountingStream(seq, seq);
    first["items"].push_back(Json::parse(sse.substr(sse.find("data: ") + 6)));
  }
  transport_.On("GET /api/v1/runs/run-1/events", JsonReply(first));
  transport_.On("GET /api/v1/runs/run-1/events",
                JsonReply({{"items", Json::array()}, {"nextAfter", 3}}));

  CliOutput r = Run({"runs", "logs", "run-1"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[Running]\nd2 d3 \n");
  auto calls = transport_.CallsTo("GET /api/v1/runs/run-1/events");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].request.url, "http://agentd.test/api/v1/runs/run-1/events?after=0");
  EXPECT_EQ(calls[1].request.url, "http://agentd.test/api/v1/runs/run-1/events?after=3");
  EXPECT_TRUE(transport_.CallsTo("SSE /api/v1/runs/run-1/events").empty());
}

TEST_F(CliTest, CancelPostsAndReportsThePhase) {
  transport_.On("POST /api/v1/runs/run-1/cancel", JsonReply(RunJson("Running")));

  CliOutput r = Run({"runs", "cancel", "run-1"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cancel requested for run run-1 (phase Running)\n");
  EXPECT_EQ(transport_.calls.at(0).request.method, "POST");
  EXPECT_EQ(transport_.calls.at(0).Header("Authorization"), "Bearer sekret");
}

// ---- governance: approvals, rejections at submit --------------------------------------------

TEST_F(CliTest, ApprovePostsTheReasonAndPrintsTheNewPhase) {
  transport_.On("POST /api/v1/runs/run-1/approve", JsonReply(RunJson("Queued")));

  CliOutput r = Run({"runs", "approve", "run-1", "--reason", "looks fine"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "run run-1 approved (phase Queued)\n");
  const auto& call = transport_.calls.at(0);
  EXPECT_EQ(call.request.method, "POST");
  EXPECT_EQ(call.request.url, "http://agentd.test/api/v1/runs/run-1/approve");
  EXPECT_EQ(call.Header("Authorization"), "Bearer sekret");
  EXPECT_EQ(call.Header("Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(call.request.body), Json({{"reason", "looks fine"}}));
}

TEST_F(CliTest, RejectWithoutAReasonSendsAnEmptyObjectAndPrintsTheRunInJson) {
  transport_.On("POST /api/v1/runs/run-1/reject", JsonReply(RunJson("Rejected")));

  CliOutput table = Run({"runs", "reject", "run-1"});
  CliOutput json = Run({"runs", "reject", "run-1", "-o", "json"});

  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out, "run run-1 rejected (phase Rejected)\n");
  EXPECT_EQ(transport_.calls.at(0).request.body, "{}");
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out), RunJson("Rejected"));
}

TEST_F(CliTest, ApprovalConflictsAndSelfApprovalMapToTheirExitCodes) {
  transport_.On(
      "POST /api/v1/runs/run-1/approve",
      Problem(409, "run \"run-1\" is Queued, not AwaitingApproval", "not_awaiting_approval"));
  transport_.On(
      "POST /api/v1/runs/run-2/approve",
      Problem(403, "key-1 submitted run \"run-2\" and may not approve it", "self_approval"));

  CliOutput conflict = Run({"runs", "approve", "run-1"});
  CliOutput self = Run({"runs", "approve", "run-2"});

  EXPECT_EQ(conflict.code, 7);
  EXPECT_EQ(conflict.err, "error: run \"run-1\" is Queued, not AwaitingApproval\n");
  EXPECT_EQ(self.code, 8);
  EXPECT_EQ(self.err, "error: key-1 submitted run \"run-2\" and may not approve it\n");
}

TEST_F(CliTest, AReasonOverOneKibIsAUsageErrorAndSendsNothing) {
  CliOutput r = Run({"runs", "reject", "run-1", "--reason", std::string(1025, 'r')});

  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--reason is 1025 bytes"), std::string::npos) << r.err;
  EXPECT_TRUE(transport_.calls.empty());
}

struct RejectionCase {
  int status;
  std::string code;
};

class SubmitRejectionTest : public CliTest, public ::testing::WithParamInterface<RejectionCase> {};

TEST_P(SubmitRejectionTest, ExitsFiveWithTheProblemDetailAndFollowsNothing) {
  transport_.On("POST /api/v1/runs",
                Problem(GetParam().status,
                        "budget \"platform-team\" has $149.50 of $150 spent; the run needs $5",
                        GetParam().code));

  CliOutput r = Run({"run", "developer", "hi", "--follow"});

  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.err, "run rejected (" + GetParam().code +
                       "): budget \"platform-team\" has $149.50 of $150 spent; the run needs $5\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(transport_.calls.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Codes, SubmitRejectionTest,
                         ::testing::Values(RejectionCase{402, "budget_exceeded"},
                                           RejectionCase{403, "policy_violation"}));

TEST_F(CliTest, OtherSubmitErrorsKeepTheirExitCodes) {
  transport_.On("POST /api/v1/runs", Problem(403, "key may not submit runs", "permission_denied"));

  CliOutput r = Run({"run", "developer", "hi"});

  EXPECT_EQ(r.code, 8);
  EXPECT_EQ(r.err, "error: key may not submit runs\n");
}

// ---- usage and budgets ---------------------------------------------------------------------

Json UsageReport() {
  return Json::parse(R"({
    "from": "2026-11-01T00:00:00Z", "to": "2026-11-21T12:00:00Z", "groupBy": ["agent", "day"],
    "rows": [{"group": {"agent": "developer", "day": "2026-11-20"}, "runs": 3, "modelCalls": 5,
              "inputTokens": 1000, "cachedInputTokens": 0, "outputTokens": 200,
              "costUsd": "0.0123"},
             {"group": {"agent": "reviewer", "day": "2026-11-21"}, "runs": 1, "modelCalls": 2,
              "inputTokens": 50, "cachedInputTokens": 10, "outputTokens": 7, "costUsd": "0.001"}],
    "total": {"runs": 4, "modelCalls": 7, "inputTokens": 1050, "cachedInputTokens": 10,
              "outputTokens": 207, "costUsd": "0.0133"}})");
}

TEST_F(CliTest, UsageSendsTheFiltersAndPrintsGroupsFiguresAndATotal) {
  transport_.On("GET /api/v1/usage", JsonReply(UsageReport()));

  CliOutput r = Run({"usage", "--from", "2026-11-01", "--to", "2026-11-21T12:00:00Z", "--group-by",
                     "agent,day", "--agent", "developer", "--team", "platform", "--cost-center",
                     "cc 7", "--tier", "3", "--model", "gpt", "--caller", "ci"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "AGENT       DAY          RUNS   CALLS   INPUT   OUTPUT   COST\n"
            "developer   2026-11-20   3      5       1000    200      $0.0123\n"
            "reviewer    2026-11-21   1      2       50      7        $0.001\n"
            "TOTAL                    4      7       1050    207      $0.0133\n");
  EXPECT_EQ(transport_.calls.at(0).request.url,
            "http://agentd.test/api/v1/usage?from=2026-11-01T00%3A00%3A00Z"
            "&to=2026-11-21T12%3A00%3A00Z&groupBy=agent%2Cday&agent=developer&team=platform"
            "&costCenter=cc%207&tier=3&model=gpt&caller=ci");
}

TEST_F(CliTest, UsageWithoutFlagsLetsTheServerPickThePeriodAndPrintsJsonAsIs) {
  transport_.On("GET /api/v1/usage", JsonReply(UsageReport()));

  CliOutput r = Run({"usage", "-o", "json"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), UsageReport());
  EXPECT_EQ(transport_.calls.at(0).request.url, "http://agentd.test/api/v1/usage");
}

TEST_F(CliTest, UsageRepeatedGroupByFlagsAreJoined) {
  transport_.On("GET /api/v1/usage", JsonReply(UsageReport()));

  CliOutput r = Run({"usage", "--group-by", "team", "--group-by", "model, day"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(transport_.calls.at(0).request.url,
            "http://agentd.test/api/v1/usage?groupBy=team%2Cmodel%2Cday");
}

TEST_F(CliTest, UsageWithABadTimeIsAUsageError) {
  CliOutput r = Run({"usage", "--from", "last tuesday"});

  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "error: --from \"last tuesday\" is neither an RFC 3339 time nor a date YYYY-MM-DD\n");
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(CliTest, BudgetsPrintsTheTableAndTheWholeAnswerInYaml) {
  Json budgets = Json::parse(R"({"items": [
    {"name": "platform-team", "scope": {"team": "platform"}, "period": "month",
     "timeZone": "Europe/Berlin",
     "window": {"start": "2026-10-31T23:00:00Z", "end": "2026-11-30T23:00:00Z"},
     "limitUsd": "150", "spentUsd": "140", "reservedUsd": "5", "availableUsd": "5",
     "softThresholdUsd": "120", "action": "reject", "state": "nearLimit"}]})");
  transport_.On("GET /api/v1/budgets", JsonReply(budgets));

  CliOutput table = Run({"budgets"});
  CliOutput yaml = Run({"budgets", "-o", "yaml"});

  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_EQ(table.out,
            "NAME            SCOPE           PERIOD   SPENT   RESERVED   LIMIT   STATE\n"
            "platform-team   team=platform   month    $140    $5         $150    nearLimit\n");
  EXPECT_EQ(yaml.code, 0) << yaml.err;
  YAML::Node node = YAML::Load(yaml.out);
  EXPECT_EQ(node["items"][0]["timeZone"].as<std::string>(), "Europe/Berlin");
  EXPECT_EQ(node["items"][0]["availableUsd"].as<std::string>(), "5");
}

TEST_F(CliTest, BudgetsSaysSoWhenThereAreNone) {
  transport_.On("GET /api/v1/budgets", JsonReply({{"items", Json::array()}}));

  CliOutput r = Run({"budgets"});

  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err, "No budgets defined.\n");
}

// ---- audit list and export -----------------------------------------------------------------

Json AuditItem(int64_t index, const std::string& action) {
  return {{"index", index},
          {"time", "2026-11-21T12:00:00.000Z"},
          {"actor", "ci"},
          {"action", action},
          {"subject", "run-" + std::to_string(index)},
          {"details", Json::object()},
          {"prev_hash", "p"},
          {"hash", "h"}};
}

TEST_F(CliTest, AuditListSendsFiltersAndFollowsCursorsUpToTheLimit) {
  transport_.On("GET /api/v1/audit",
                JsonReply({{"items", {AuditItem(1, "run.approved"), AuditItem(2, "run.approved")}},
                           {"nextCursor", "c/2"}}));
  transport_.On("GET /api/v1/audit",
                JsonReply({{"items", {AuditItem(3, "run.approved")}}, {"nextCursor", "c3"}}));

  CliOutput r = Run({"audit", "list", "--actor", "ci", "--action", "run.approved", "--subject",
                     "run 1", "--from", "2026-11-20", "--limit", "3"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "INDEX   TIME                       ACTOR   ACTION         SUBJECT   DETAILS\n"
            "1       2026-11-21T12:00:00.000Z   ci      run.approved   run-1\n"
            "2       2026-11-21T12:00:00.000Z   ci      run.approved   run-2\n"
            "3       2026-11-21T12:00:00.000Z   ci      run.approved   run-3\n");
  EXPECT_EQ(r.err, "More entries: raise --limit (now 3).\n");
  ASSERT_EQ(transport_.calls.size(), 2u);
  EXPECT_EQ(transport_.calls[0].request.url,
            "http://agentd.test/api/v1/audit?actor=ci&action=run.approved&subject=run%201"
            "&from=2026-11-20T00%3A00%3A00Z&limit=3");
  EXPECT_EQ(transport_.calls[1].request.url,
            "http://agentd.test/api/v1/audit?actor=ci&action=run.approved&subject=run%201"
            "&from=2026-11-20T00%3A00%3A00Z&limit=1&cursor=c%2F2");
}

TEST_F(CliTest, AuditListStopsAtTheLastPageAndPrintsJson) {
  transport_.On("GET /api/v1/audit",
                JsonReply({{"items", {AuditItem(1, "run.submitted")}}, {"nextCursor", ""}}));

  CliOutput r = Run({"audit", "list", "-o", "json"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out), Json({{"items", {AuditItem(1, "run.submitted")}}}));
  ASSERT_EQ(transport_.calls.size(), 1u);
  EXPECT_EQ(transport_.calls[0].request.url, "http://agentd.test/api/v1/audit?limit=100");
}

TEST_F(CliTest, AuditExportWritesTheBodyUnchangedToStdout) {
  std::string body = "{\"kind\":\"agentd-audit-export\",\"version\":1}\n{\"kind\":\"entry\"}\n";
  transport_.On("SSE /api/v1/audit/export", Stream(body, 7));

  CliOutput r = Run({"audit", "export"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, body);
  EXPECT_EQ(transport_.calls.at(0).Header("Accept"), "application/x-ndjson");
}

// ---- audit verify ----------------------------------------------------------------------------

// A temporary directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "agentctl-test-XXXXXX");
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string Write(const std::string& name, const std::string& content) const {
    std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }
  std::string Read(const std::string& name) const {
    std::ifstream file(path_ / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  std::filesystem::path path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An audit chain with checkpoints and the export text the server would produce.
class AuditFixture {
 public:
  explicit AuditFixture(int count) : signer_(NewSigner()) {
    for (int n = 1; n <= count; ++n) {
      auto entry = governance::NextEntry(
          entries_.empty() ? nullptr : &entries_.back(),
          governance::AuditEntryDraft{.time = core::FromUnixMillis(1'795'000'000'000 + n * 1000),
                                      .actor = n % 2 == 0 ? "scheduler" : "ci",
                                      .action = n % 2 == 0 ? "run.admitted" : "run.submitted",
                                      .subject = "run-" + std::to_string((n + 1) / 2),
                                      .details = Json{{"n", n}}});
      EXPECT_TRUE(entry.ok()) << entry.error().message;
      entries_.push_back(*std::move(entry));
    }
  }

  static governance::CheckpointSigner NewSigner() {
    auto signer = governance::CheckpointSigner::Generate();
    EXPECT_TRUE(signer.ok());
    return *std::move(signer);
  }

  governance::Checkpoint Sign(int64_t count) const {
    return signer_.Sign(count,
                        count == 0 ? std::string(governance::kGenesisHash)
                                   : entries_[static_cast<size_t>(count - 1)].hash,
                        core::FromUnixMillis(1'795'000'100'000 + count));
  }

  static std::string Export(const std::vector<governance::AuditEntry>& entries,
                            const std::vector<governance::Checkpoint>& checkpoints,
                            const std::string& public_key) {
    std::string text =
        Json({{"kind", "agentd-audit-export"}, {"version", 1}, {"publicKey", public_key}}).dump() +
        "\n";
    for (const auto& entry : entries) {
      text += Json({{"kind", "entry"}, {"entry", governance::EntryToJson(entry)}}).dump() + "\n";
    }
    for (const auto& checkpoint : checkpoints) {
      text +=
          Json({{"kind", "checkpoint"}, {"checkpoint", governance::CheckpointToJson(checkpoint)}})
              .dump() +
          "\n";
    }
    return text;
  }

  std::string Export(const std::vector<governance::Checkpoint>& checkpoints) const {
    return Export(entries_, checkpoints, PublicKey());
  }

  std::string PublicKey() const { return signer_.PublicKeyPem(); }
  std::vector<governance::AuditEntry>& entries() { return entries_; }
  const std::string& Head() const { return entries_.back().hash; }

 private:
  governance::CheckpointSigner signer_;
  std::vector<governance::AuditEntry> entries_;
};

TEST_F(CliTest, AuditVerifyWithoutFlagsPrintsTheServersVerdict) {
  Json intact = {{"ok", true},
                 {"entriesChecked", 12},
                 {"count", 12},
                 {"headHash", "abc123"},
                 {"firstBadIndex", nullptr},
                 {"problem", ""},
                 {"checkpoint",
                  {{"count", 10},
                   {"head_hash", "def"},
                   {"time", "2026-11-21T11:00:00.000Z"},
                   {"key_id", "0123456789abcdef"},
                   {"signature", "c2ln"}}}};
  Json broken = {{"ok", false},          {"entriesChecked", 6}, {"count", 12},
                 {"headHash", "abc123"}, {"firstBadIndex", 7},  {"problem", "entry 7 was altered"},
                 {"checkpoint", nullptr}};
  transport_.On("GET /api/v1/audit/verify", JsonReply(intact));
  transport_.On("GET /api/v1/audit/verify", JsonReply(broken));

  CliOutput good = Run({"audit", "verify"});
  CliOutput bad = Run({"audit", "verify"});
  CliOutput bad_json = Run({"audit", "verify", "-o", "json"});

  EXPECT_EQ(good.code, 0) << good.err;
  EXPECT_EQ(good.out,
            "audit chain intact: 12 entries, head abc123\n"
            "checkpoint: 10 entries, signed 2026-11-21T11:00:00.000Z by key 0123456789abcdef\n");
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.out, "audit chain broken at entry 7: entry 7 was altered\n");
  EXPECT_EQ(bad_json.code, 1);
  EXPECT_EQ(Json::parse(bad_json.out), broken);
}

class AuditVerifyTest : public CliTest {
 protected:
  AuditFixture audit_{5};
  TempDir dir_;
};

TEST_F(AuditVerifyTest, AnIntactExportFileVerifiesOfflineWithEveryCheckpoint) {
  std::string file = dir_.Write("audit.ndjson", audit_.Export({audit_.Sign(3), audit_.Sign(5)}));
  std::string key = dir_.Write("key.pem", audit_.PublicKey());

  CliOutput r = Run({"audit", "verify", "--file", file, "--public-key", key});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1),
            "audit chain intact: 5 entries, head " + audit_.Head() + "\n");
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(transport_.calls.empty());
}

TEST_F(AuditVerifyTest, WithoutAPublicKeyTheExportsKeyIsUsedWithAWarning) {
  std::string file = dir_.Write("audit.ndjson", audit_.Export({audit_.Sign(5)}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: no --public-key"), std::string::npos) << r.err;
}

TEST_F(AuditVerifyTest, AnAlteredEntryIsReportedAtItsIndex) {
  audit_.entries()[2].details = Json{{"n", 300}};  // entry 3, hash left as it was
  std::string file = dir_.Write("audit.ndjson", audit_.Export({}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken at entry 3: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("altered"), std::string::npos) << r.out;
}

TEST_F(AuditVerifyTest, ARemovedEntryIsReportedAtTheGap) {
  audit_.entries().erase(audit_.entries().begin() + 1);  // entry 2
  std::string file = dir_.Write("audit.ndjson", audit_.Export({}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken at entry 2: entry 2 is missing (removed)", 0), 0u)
      << r.out;
}

TEST_F(AuditVerifyTest, SwappedEntriesAreReportedAsReordered) {
  std::swap(audit_.entries()[1], audit_.entries()[2]);
  std::string file = dir_.Write("audit.ndjson", audit_.Export({}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken at entry 2: entries reordered", 0), 0u) << r.out;
}

TEST_F(AuditVerifyTest, ACutTailIsCaughtByTheExportsCheckpoint) {
  governance::Checkpoint at_five = audit_.Sign(5);
  audit_.entries().resize(3);
  std::string file = dir_.Write("audit.ndjson", audit_.Export({at_five}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken at entry 4: chain cut off", 0), 0u) << r.out;
}

TEST_F(AuditVerifyTest, ACutTailWithItsCheckpointGoneNeedsAKeptCheckpoint) {
  std::string checkpoint =
      dir_.Write("checkpoint.json", governance::CheckpointToJson(audit_.Sign(5)).dump());
  std::string key = dir_.Write("key.pem", audit_.PublicKey());
  governance::Checkpoint at_two = audit_.Sign(2);
  audit_.entries().resize(3);
  std::string file = dir_.Write("audit.ndjson", audit_.Export({at_two}));

  CliOutput alone = Run({"audit", "verify", "--file", file, "--public-key", key});
  CliOutput kept =
      Run({"audit", "verify", "--file", file, "--checkpoint", checkpoint, "--public-key", key});

  EXPECT_EQ(alone.code, 0) << alone.out << alone.err;  // the shorter chain is a valid chain
  EXPECT_NE(alone.err.find("note: entries 3..3 come after the checkpoint"), std::string::npos)
      << alone.err;
  EXPECT_EQ(kept.code, 1);
  EXPECT_EQ(kept.out,
            "audit chain broken at entry 4: chain cut off: the checkpoint covers 5 entries but "
            "the chain has 3; entries 4..5 are missing\n");
}

TEST_F(AuditVerifyTest, AnExportWithoutCheckpointsSaysATailCutCannotBeSeen) {
  std::string file = dir_.Write("audit.ndjson", audit_.Export({}));

  CliOutput r = Run({"audit", "verify", "--file", file});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("holds no checkpoint"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;  // no signature to check
}

TEST_F(AuditVerifyTest, AChainRewrittenAndReHashedIsCaughtByTheCheckpoint) {
  std::string checkpoint =
      dir_.Write("checkpoint.json", governance::CheckpointToJson(audit_.Sign(5)).dump());
  std::string key = dir_.Write("key.pem", audit_.PublicKey());
  // Rewrite entry 2 and rebuild every hash after it: a consistent chain of its own.
  auto& entries = audit_.entries();
  std::vector<governance::AuditEntry> rewritten(entries.begin(), entries.begin() + 1);
  for (size_t i = 1; i < entries.size(); ++i) {
    governance::AuditEntryDraft draft{.time = entries[i].time,
                                      .actor = entries[i].actor,
                                      .action = entries[i].action,
                                      .subject = entries[i].subject,
                                      .details = entries[i].details};
    if (i == 1) draft.details = Json{{"n", 2}, {"approved_by", "nobody"}};
    rewritten.push_back(*governance::NextEntry(&rewritten.back(), draft));
  }
  std::string file =
      dir_.Write("audit.ndjson", AuditFixture::Export(rewritten, {}, audit_.PublicKey()));

  CliOutput plain = Run({"audit", "verify", "--file", file});
  CliOutput kept =
      Run({"audit", "verify", "--file", file, "--checkpoint", checkpoint, "--public-key", key});

  EXPECT_EQ(plain.code, 0) << plain.out;
  EXPECT_EQ(kept.code, 1);
  EXPECT_EQ(kept.out,
            "audit chain broken at entry 5: chain rewritten: entry 5 has a different hash than "
            "the signed checkpoint head\n");
}

TEST_F(AuditVerifyTest, ACheckpointSignedByAnotherKeyIsRejected) {
  std::string checkpoint =
      dir_.Write("checkpoint.json", governance::CheckpointToJson(audit_.Sign(5)).dump());
  std::string other_key = dir_.Write("other.pem", AuditFixture::NewSigner().PublicKeyPem());
  std::string file = dir_.Write("audit.ndjson", audit_.Export({}));

  CliOutput r = Run(
      {"audit", "verify", "--file", file, "--checkpoint", checkpoint, "--public-key", other_key});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken: checkpoint invalid: ", 0), 0u) << r.out;
}

TEST_F(AuditVerifyTest, AnExportsCheckpointForgedWithAnotherKeyFailsWithTheKeptKey) {
  // The server (or whoever rewrote the log) signed with a key of its own and shipped that key.
  AuditFixture forger(5);
  std::string file = dir_.Write(
      "audit.ndjson", AuditFixture::Export(forger.entries(), {forger.Sign(5)}, forger.PublicKey()));
  std::string key = dir_.Write("key.pem", audit_.PublicKey());

  CliOutput trusting = Run({"audit", "verify", "--file", file});
  CliOutput careful = Run({"audit", "verify", "--file", file, "--public-key", key});

  EXPECT_EQ(trusting.code, 0);
  EXPECT_NE(trusting.err.find("warning"), std::string::npos);
  EXPECT_EQ(careful.code, 1);
  EXPECT_NE(careful.out.find("checkpoint invalid"), std::string::npos) << careful.out;
}

TEST_F(AuditVerifyTest, ACheckpointFileMayBeAnExportWhoseLastCheckpointIsUsed) {
  std::string kept = dir_.Write("kept.ndjson", audit_.Export({audit_.Sign(2), audit_.Sign(5)}));
  std::string key = dir_.Write("key.pem", audit_.PublicKey());
  audit_.entries().resize(4);
  std::string file = dir_.Write("audit.ndjson", audit_.Export({audit_.Sign(2)}));

  CliOutput r = Run({"audit", "verify", "--file", file, "--checkpoint", kept, "--public-key", key});

  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("audit chain broken at entry 5: chain cut off", 0), 0u) << r.out;
}

TEST_F(AuditVerifyTest, WithACheckpointTheExportIsDownloadedFromTheServer) {
  std::string checkpoint =
      dir_.Write("checkpoint.json", governance::CheckpointToJson(audit_.Sign(4)).dump());
  std::string key = dir_.Write("key.pem", audit_.PublicKey());
  transport_.On("SSE /api/v1/audit/export", Stream(audit_.Export({audit_.Sign(5)}), 100));

  CliOutput r = Run({"audit", "verify", "--checkpoint", checkpoint, "--public-key", key});
  CliOutput json =
      Run({"audit", "verify", "--checkpoint", checkpoint, "--public-key", key, "-o", "json"});

  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1),
            "audit chain intact: 5 entries, head " + audit_.Head() + "\n");
  EXPECT_NE(r.out.find("checkpoint: 4 entries"), std::string::npos) << r.out;
  EXPECT_EQ(r.err,
            "note: entries 5..5 come after the checkpoint; its signature does not cover "
            "them\n");
  EXPECT_EQ(transport_.CallsTo("SSE /api/v1/audit/export").at(0).Header("Authorization"),
            "Bearer sekret");
  ASSERT_EQ(json.code, 0) << json.err;
  Json report = Json::parse(json.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["count"], 5);
  EXPECT_EQ(report["headHash"], audit_.Head());
  EXPECT_EQ(report["checkpoint"]["count"], 4);
  EXPECT_TRUE(report["firstBadIndex"].is_null());
}

TEST_F(AuditVerifyTest, AnUnreadableEntryLineBreaksTheChainThere) {
  std::string text = audit_.Export({});
  // Line 4 is entry 3 (line 1 is the header).
  size_t start = 0;
  for (int line = 1; line < 4; ++line) start = text.find('\n', start) + 1;
  text.replace(start, text.find('\n', start) - start, "{\"kind\":\"entry\",\"entry\":{\"index\":3");
  std::string file = dir_.Write("audit.ndjson", text);
  std::string checkpoint =
      dir_.Write("checkpoint.json", governance::CheckpointToJson(audit_.Sign(5)).dump());
  std::string key = dir_.Write("key.pem", audit_.PublicKey());

  CliOutput r = Run({"audit", "verify", "--file", file});
  CliOutput kept =
      Run({"audit", "verify", "--file", file, "--checkpoint", checkpoint, "--public-key", key});

  for (const CliOutput& result : {r, kept}) {
    EXPECT_EQ(result.code, 1);
    EXPECT_EQ(result.out.rfind("audit chain broken at entry 3: entry at position 3 is unreadable: "
                               "line 4: not JSON",
                               0),
              0u)
        << result.out;
  }
}

TEST_F(AuditVerifyTest, AFileThatIsNotAnExportIsAnError) {
  std::string file = dir_.Write("notes.txt", "hello\n");

  CliOutput r = Run({"audit", "verify", "--file", file});
  CliOutput missing = Run({"audit", "verify", "--file", (dir_.path() / "nope").string()});

  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("is not an agentd audit export"), std::string::npos) << r.err;
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("cannot read --file"), std::string::npos) << missing.err;
}

TEST_F(AuditVerifyTest, AuditExportToAFileIsWrittenOnlyWhenComplete) {
  std::string body = audit_.Export({audit_.Sign(5)});
  transport_.On("SSE /api/v1/audit/export", Stream(body, 64));
  transport_.On("SSE /api/v1/audit/export",
                Stream(body.substr(0, 100), 64, core::Unavailable("connection reset by peer")));
  std::string good = (dir_.path() / "good.ndjson").string();
  std::string bad = (dir_.path() / "bad.ndjson").string();

  CliOutput ok = Run({"audit", "export", "--out", good});
  CliOutput failed = Run({"audit", "export", "--out", bad});

  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(dir_.Read("good.ndjson"), body);
  EXPECT_NE(ok.err.find("audit export written to " + good), std::string::npos) << ok.err;
  EXPECT_EQ(failed.code, 11);
  EXPECT_EQ(failed.err, "error: connection reset by peer\n");
  EXPECT_FALSE(std::filesystem::exists(bad));
  EXPECT_FALSE(std::filesystem::exists(bad + ".partial"));
  // What was exported verifies offline.
  CliOutput verify = Run({"audit", "verify", "--file", good});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

#if __has_include("cli/validate.h")
TEST_F(CliTest, ValidateRunsOfflineAndFailsForAMissingDirectory) {
  CliOutput r = Run({"validate", "/nonexistent/agentctl-validate-dir"});

  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(transport_.calls.empty());
}
#endif

// ---- the renderer on its own ----------------------------------------------------------------

Json Event(int64_t seq, const std::string& type, const Json& data) {
  return {{"runId", "run-1"}, {"seq", seq}, {"type", type}, {"data", data}};
}

TEST(EventRendererTest, PrintsUnstreamedMessagesFailedToolsLogsAndErrors) {
  std::ostringstream out;
  std::ostringstream err;
  EventRenderer renderer(out, err, RenderMode::kHuman);

  renderer.Render(Event(1, "message", {{"role", "assistant"}, {"content", "Let me look."}}));
  renderer.Render(
      Event(2, "tool_call", {{"name", "read_file"}, {"arguments", std::string(300, 'x')}}));
  renderer.Render(Event(
      3, "tool_result",
      {{"name", "read_file"}, {"ok", false}, {"output", "no such file"}, {"truncated", true}}));
  renderer.Render(Event(4, "log", {{"stream", "stderr"}, {"line", "warning: slow"}}));
  renderer.Render(Event(5, "delta", {{"content", "Partial"}}));
  renderer.Render(Event(6, "error", {{"message", "rate limited"}}));
  renderer.Render(Event(7, "result", {{"status", "failed"}, {"error", "rate limited"}}));
  renderer.Render(Event(8, "phase", {{"phase", "Failed"}}));
  renderer.Render(Event(9, "something_new", {{"x", 1}}));
  renderer.Finish(nullptr);

  EXPECT_EQ(out.str(),
            "Let me look.\n"
            "→ read_file " +
                std::string(200, 'x') +
                "…\n"
                "← error (1 line, truncated)\n"
                "    no such file\n"
                "Partial\n"
                "[Failed]\n"
                "usage: 0 input tokens (0 cached), 0 output tokens, 0 model calls, $0\n");
  EXPECT_EQ(err.str(), "[stderr] warning: slow\nerror: rate limited\n");
  EXPECT_EQ(renderer.phase(), runs::Phase::kFailed);
}

TEST(EventRendererTest, PrintsTheResultWhenNoAnswerTextWasStreamed) {
  std::ostringstream out;
  std::ostringstream err;
  EventRenderer renderer(out, err, RenderMode::kHuman);

  renderer.Render(Event(1, "tool_call", {{"name", "shell"}, {"arguments", {{"c", 1}}}}));
  renderer.Render(Event(2, "tool_result", {{"name", "shell"}, {"ok", true}, {"output", ""}}));
  renderer.Render(Event(3, "result", {{"status", "succeeded"}, {"result", "42"}}));

  EXPECT_EQ(out.str(), "→ shell {\"c\":1}\n← ok (0 lines)\n42\n");
}

TEST(EventRendererTest, SumsUsageEventsWhenNoRunIsGiven) {
  std::ostringstream out;
  std::ostringstream err;
  EventRenderer renderer(out, err, RenderMode::kHuman);

  renderer.Render(
      Event(1, "usage", {{"inputTokens", 100}, {"outputTokens", 7}, {"costMicros", 1500}}));
  renderer.Render(Event(2, "usage",
                        {{"inputTokens", 50},
                         {"cachedInputTokens", 40},
                         {"outputTokens", 3},
                         {"costUsd", "0.0005"}}));
  renderer.Finish(nullptr);

  EXPECT_EQ(out.str(),
            "usage: 150 input tokens (40 cached), 10 output tokens, 2 model calls, $0.002\n");
}

TEST(SseToEventJsonTest, FillsRunIdSeqAndTypeFromTheSseFields) {
  Json a = SseToEventJson({"7", "delta", R"({"content":"x"})"}, "run-1");
  EXPECT_EQ(a, Json::parse(R"({"runId":"run-1","seq":7,"type":"delta",
                               "data":{"content":"x"}})"));
  Json b = SseToEventJson({"", "", "not json"}, "run-1");
  EXPECT_EQ(b["type"], "message");
  EXPECT_EQ(b["seq"], 0);
  EXPECT_EQ(b["data"], "not json");
}

}  // namespace
}  // namespace agentd::cli
