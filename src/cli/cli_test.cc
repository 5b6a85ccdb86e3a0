#include "cli/cli.h"

#include <deque>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "cli/api_client.h"
#include "cli/follow.h"
#include "core/time.h"
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
                      std::vector<std::string>{"runs", "logs", "run-1", "--bogus"}));

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
  for (const char* text : {"run", "runs", "version", "AGENTD_URL", "AGENTD_TOKEN",
                           "Exit codes:", "3  the run TimedOut", "11  server unavailable"}) {
    EXPECT_NE(top.out.find(text), std::string::npos) << text << "\n" << top.out;
  }
  EXPECT_EQ(run.code, 0);
  for (const char* text : {"--follow", "--wait", "--deadline", "--idempotency-key", "stdin"}) {
    EXPECT_NE(run.out.find(text), std::string::npos) << text << "\n" << run.out;
  }
  EXPECT_EQ(logs.code, 0);
  EXPECT_NE(logs.out.find("--follow"), std::string::npos) << logs.out;
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
