// The API over real HTTP: a net::HttpServer on port 0, the real SqliteRunStore (":memory:"), the
// MemoryBus, and a fake RunService that does what the scheduler's does to the store.
#include "server/api_server.h"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "api/v1/submit.h"
#include "auth/runner_token.h"
#include "bus/memory_bus.h"
#include "core/hash.h"
#include "core/ids.h"
#include "core/time.h"
#include "resources/codec.h"
#include "server/problem.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"
#include "testing/raw_http_client.h"

namespace agentd::server {
namespace {

using namespace std::chrono_literals;
using testing::RawHttpClient;
using testing::RawResponse;

constexpr char kKey[] = "test-key-123";

template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

// Creates runs in the store like the scheduler does (validation, hash, durable insert) and
// cancels them; publishes what it commits.
class FakeRunService final : public scheduler::RunService {
 public:
  FakeRunService(store::RunStore& store, bus::Bus& bus, catalog::Catalog& catalog,
                 const core::Clock& clock)
      : store_(store), bus_(bus), catalog_(catalog), clock_(clock) {}

  void SubmitAsync(scheduler::SubmitRequest request,
                   std::function<void(core::Result<store::CreateRunResult>)> done) override {
    if (catalog_.Current()->FindAgent(request.agent) == nullptr) {
      done(core::InvalidArgument("unknown agent \"" + request.agent + "\""));
      return;
    }
    api::v1::SubmitBody body{request.agent,    request.input,    request.parameters,
                             request.priority, request.deadline, request.labels};
    runs::Run run;
    run.id = core::NewRunId(clock_.Now());
    run.agent = request.agent;
    run.input = request.input;
    run.parameters = request.parameters;
    run.priority = request.priority;
    run.deadline = request.deadline;
    run.labels = request.labels;
    run.idempotency_key = request.idempotency_key;
    run.request_hash = api::v1::CanonicalRequestHash(body);
    run.caller = request.caller;
    run.source = request.source;
    run.phase = runs::Phase::kQueued;
    run.created_at = clock_.Now();
    last_caller_ = request.caller;
    store_.CreateRunAsync(std::move(run), std::move(done));
  }

  core::Result<runs::Run> Cancel(std::string_view run_id, std::string_view) override {
    AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(run_id));
    if (runs::IsTerminal(run.phase)) {
      return core::FailedPrecondition("run \"" + run.id + "\" has already ended (" +
                                      std::string(runs::PhaseName(run.phase)) + ")");
    }
    store::Transition transition;
    transition.to = runs::Phase::kCancelled;
    transition.reason = "CancelledByUser";
    transition.time = clock_.Now();
    transition.finished_at = clock_.Now();
    AGENTD_ASSIGN_OR_RETURN(store::TransitionResult result,
                            store_.TransitionRun(run_id, transition));
    bus_.Publish(result.event);
    return result.run;
  }

  // Records the decision and answers with the run as stored; the scheduler's own tests cover
  // the state changes.
  core::Result<runs::Run> Approve(std::string_view run_id, std::string_view approver,
                                  std::string_view reason) override {
    last_decision_ = "approve " + std::string(approver) + " " + std::string(reason);
    return store_.GetRun(run_id);
  }
  core::Result<runs::Run> Reject(std::string_view run_id, std::string_view approver,
                                 std::string_view reason) override {
    last_decision_ = "reject " + std::string(approver) + " " + std::string(reason);
    return store_.GetRun(run_id);
  }
  core::Json Budgets() override { return {{"items", core::Json::array()}}; }

  // What the scheduler does, minus pricing and governance: token, phase, attempt and instance
  // checks against the store, then the events appended with their runner seq.
  core::Result<int64_t> IngestRunnerEvents(std::string_view run_id, int attempt,
                                           std::string_view runner_instance, std::string_view token,
                                           std::vector<api::v1::RunnerEvent> events) override {
    ++ingest_calls_;
    AGENTD_ASSIGN_OR_RETURN(runs::Run run, store_.GetRun(run_id));
    if (!auth::RunnerTokenMatches(token, run.runner_token_hash)) {
      return core::Unauthenticated("the runner token is not valid for run " + run.id);
    }
    auto refuse = [](std::string reason, std::string message) {
      core::Error e = core::FailedPrecondition(std::move(message));
      e.reason = std::move(reason);
      return e;
    };
    if (runs::IsTerminal(run.phase)) return refuse("run_finished", "run has ended");
    if (attempt != run.attempts) return refuse("attempt_fenced", "stale attempt");
    AGENTD_ASSIGN_OR_RETURN(bool holder,
                            store_.ClaimRunnerInstance(run_id, attempt, runner_instance));
    if (!holder) return refuse("attempt_fenced", "another runner instance holds the attempt");
    std::vector<store::EventDraft> drafts;
    for (auto& e : events) {
      if (e.type == "phase") continue;
      drafts.push_back(
          {.type = e.type, .data = std::move(e.data), .time = e.time, .runner_seq = e.seq});
    }
    AGENTD_ASSIGN_OR_RETURN(auto written, store_.AppendEvents(run_id, std::move(drafts)));
    for (const auto& event : written) bus_.Publish(event);
    return static_cast<int64_t>(events.size());
  }

  scheduler::SchedulerStats Stats() const override { return {}; }

  std::string last_caller() const { return last_caller_; }
  std::string last_decision() const { return last_decision_; }
  int ingest_calls() const { return ingest_calls_.load(); }

 private:
  store::RunStore& store_;
  bus::Bus& bus_;
  catalog::Catalog& catalog_;
  const core::Clock& clock_;
  std::string last_caller_;
  std::string last_decision_;
  std::atomic<int> ingest_calls_{0};
};

// One parsed server-sent event (or comment).
struct SseFrame {
  int64_t id = -1;
  std::string event;
  std::string data;
  std::string comment;
};

// Reads a chunked SSE body from a RawHttpClient, frame by frame.
class SseReader {
 public:
  explicit SseReader(RawHttpClient& client) : client_(client) {}

  // The next frame, or nullopt at the end of the stream or on timeout.
  std::optional<SseFrame> Next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t end = text_.find("\n\n");
      if (end != std::string::npos) {
        std::string block = text_.substr(0, end);
        text_.erase(0, end + 2);
        return Parse(block);
      }
      if (ended_) return std::nullopt;
      auto chunk = client_.ReadChunk(deadline);
      if (!chunk) return std::nullopt;
      if (chunk->empty()) ended_ = true;
      text_ += *chunk;
    }
  }
  // Reads frames up to the end of the stream; true if it ended (rather than timed out).
  bool ReadToEnd(std::vector<SseFrame>& frames, std::chrono::milliseconds timeout = 5s) {
    while (auto frame = Next(timeout)) frames.push_back(*frame);
    return ended_;
  }
  bool ended() const { return ended_; }

 private:
  static SseFrame Parse(const std::string& block) {
    SseFrame frame;
    size_t pos = 0;
    while (pos <= block.size()) {
      size_t nl = block.find('\n', pos);
      std::string line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (line.rfind("id: ", 0) == 0) frame.id = std::stoll(line.substr(4));
      if (line.rfind("event: ", 0) == 0) frame.event = line.substr(7);
      if (line.rfind("data: ", 0) == 0) frame.data = line.substr(6);
      if (line.rfind(":", 0) == 0) frame.comment = line.substr(1);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    return frame;
  }

  RawHttpClient& client_;
  std::string text_;
  bool ended_ = false;
};

std::vector<int64_t> Ids(const std::vector<SseFrame>& frames) {
  std::vector<int64_t> ids;
  for (const auto& f : frames) {
    if (f.id >= 0) ids.push_back(f.id);
  }
  return ids;
}

std::vector<int64_t> Range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }
  void TearDown() override { StopServer(); }

  void StartServer(ApiServerOptions options, net::HttpServerOptions http_options = {}) {
    auto store = store::SqliteRunStore::Open(":memory:", {.clock = &clock_});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();

    auto snapshot = std::make_shared<catalog::Snapshot>();
    auto objects = resources::ParseObjects(R"(
apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: local}
spec: {provider: openai-compatible, baseUrl: "http://127.0.0.1:9/v1", model: m}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: dev}
spec: {role: developer, model: local}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: be-kind}
spec: {scope: global, priority: 10, text: "Be kind."}
)",
                                           "test.yaml");
    ASSERT_TRUE(objects.ok()) << objects.error().message;
    for (auto& object : *objects) {
      if (auto* m = std::get_if<resources::Model>(&object)) snapshot->models[m->metadata.name] = *m;
      if (auto* a = std::get_if<resources::Agent>(&object)) snapshot->agents[a->metadata.name] = *a;
      if (auto* i = std::get_if<resources::Instruction>(&object)) {
        snapshot->instructions[i->metadata.name] = *i;
      }
    }
    snapshot->generation = 3;
    catalog_.Replace(snapshot);

    auto auth = auth::ApiKeyAuthenticator::FromList(std::string("tester:") + kKey);
    ASSERT_TRUE(auth.ok());
    auth_ = std::move(auth).value();
    runs_ = std::make_unique<FakeRunService>(*store_, bus_, catalog_, clock_);
    registry_ = std::make_unique<telemetry::Registry>();
    auto signer = governance::CheckpointSigner::Generate();
    ASSERT_TRUE(signer.ok());
    audit_ = std::make_unique<audit::AuditService>(*store_, std::move(*signer), clock_,
                                                   audit::AuditService::Options{});
    api_ = std::make_unique<ApiServer>(
        ApiServerDeps{*runs_, *store_, bus_, catalog_, *registry_, auth_, clock_, audit_.get()},
        options);
    http_options.port = 0;
    auto http = net::HttpServer::Listen(http_options, api_->Handler());
    ASSERT_TRUE(http.ok()) << http.error().message;
    http_ = std::move(http).value();
    http_->Start();
  }

  void StopServer() {
    if (http_) http_->Stop();
    http_.reset();
    api_.reset();
    audit_.reset();
    runs_.reset();
    store_.reset();
  }

  std::string Request(std::string_view method, std::string_view target, std::string_view body = "",
                      std::string_view extra_headers = "", bool with_key = true) {
    std::string text = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
    if (with_key) text += std::string("Authorization: Bearer ") + kKey + "\r\n";
    text += extra_headers;
    if (!body.empty() || method == "POST") {
      text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n";
    }
    text += "\r\n";
    text += body;
    return text;
  }

  RawResponse Call(std::string_view method, std::string_view target, std::string_view body = "",
                   std::string_view extra_headers = "", bool with_key = true) {
    RawHttpClient client(http_->port());
    EXPECT_TRUE(client.Send(Request(method, target, body, extra_headers, with_key)));
    auto response = client.ReadResponse();
    EXPECT_TRUE(response) << method << " " << target;
    return response.value_or(RawResponse{});
  }

  static core::Json JsonOf(const RawResponse& response) {
    auto json = core::ParseJson(response.body);
    EXPECT_TRUE(json.ok()) << response.body;
    return json.ok() ? *json : core::Json();
  }

  // Submits a run and returns its id.
  std::string Submit(std::string_view body = R"({"agent": "dev", "input": "hi"})") {
    RawResponse response = Call("POST", "/api/v1/runs", body);
    EXPECT_EQ(response.status, 201) << response.body;
    return JsonOf(response).value("id", "");
  }

  // Commits and publishes, like the executor does.
  void Emit(const std::string& run_id, int n) {
    std::vector<store::EventDraft> drafts;
    for (int i = 0; i < n; ++i) {
      drafts.push_back({.type = "log", .data = {{"line", i}}, .time = clock_.Now()});
    }
    auto events = store_->AppendEvents(run_id, drafts);
    ASSERT_TRUE(events.ok()) << events.error().message;
    for (const auto& event : *events) bus_.Publish(event);
  }
  void Move(const std::string& run_id, runs::Phase to) {
    store::Transition transition;
    transition.to = to;
    transition.reason = "Test";
    transition.time = clock_.Now();
    auto result = store_->TransitionRun(run_id, transition);
    ASSERT_TRUE(result.ok()) << result.error().message;
    bus_.Publish(result->event);
  }

  // Opens an event stream; returns the client positioned after the response head.
  std::unique_ptr<RawHttpClient> Follow(const std::string& run_id, std::string_view extra = "") {
    auto client = std::make_unique<RawHttpClient>(http_->port());
    EXPECT_TRUE(
        client->Send(Request("GET", "/api/v1/runs/" + run_id + "/events", "",
                             std::string("Accept: text/event-stream\r\n") + std::string(extra))));
    auto head = client->ReadHead(std::chrono::steady_clock::now() + 5s);
    EXPECT_TRUE(head);
    if (head) {
      EXPECT_EQ(head->status, 200);
      EXPECT_EQ(head->headers["content-type"], "text/event-stream; charset=utf-8");
    }
    return client;
  }

  testing::FakeClock clock_;
  bus::MemoryBus bus_;
  catalog::Catalog catalog_;
  auth::ApiKeyAuthenticator auth_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::unique_ptr<FakeRunService> runs_;
  std::unique_ptr<telemetry::Registry> registry_;
  std::unique_ptr<audit::AuditService> audit_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<net::HttpServer> http_;
};

void ExpectProblem(const RawResponse& response, int status, std::string_view code) {
  EXPECT_EQ(response.status, status) << response.body;
  EXPECT_EQ(response.headers.at("content-type"), "application/problem+json");
  auto json = core::ParseJson(response.body);
  ASSERT_TRUE(json.ok()) << response.body;
  EXPECT_EQ(json->value("status", 0), status);
  EXPECT_EQ(json->value("code", ""), code);
  EXPECT_EQ(json->value("type", ""), "https://agentd.dev/problems/" + std::string(code));
  EXPECT_FALSE(json->value("title", "").empty());
  EXPECT_FALSE(json->value("detail", "").empty());
}

// --- submit -------------------------------------------------------------------------------------

TEST_F(ApiServerTest, SubmitAnswers201WithTheRunAndItsLocation) {
  RawResponse response = Call("POST", "/api/v1/runs",
                              R"({"agent": "dev", "input": "add a README", "priority": 5,
                                  "labels": {"team": "infra"}, "deadlineSeconds": 60})");
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.headers["content-type"], "application/json");
  core::Json run = JsonOf(response);
  std::string id = run.value("id", "");
  EXPECT_TRUE(core::IsValidRunId(id)) << id;
  EXPECT_EQ(response.headers["location"], "/api/v1/runs/" + id);
  EXPECT_EQ(run["agent"], "dev");
  EXPECT_EQ(run["input"], "add a README");
  EXPECT_EQ(run["phase"], "Queued");
  EXPECT_EQ(run["priority"], 5);
  EXPECT_EQ(run["deadlineSeconds"], 60);
  EXPECT_EQ(run["labels"]["team"], "infra");
  EXPECT_EQ(run["caller"], "tester");
  EXPECT_EQ(runs_->last_caller(), "tester");

  // Durable: it is in the store.
  auto stored = store_->GetRun(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->input, "add a README");
}

TEST_F(ApiServerTest, JobsSubmitIsAnAliasOfSubmit) {
  RawResponse response = Call("POST", "/api/jobs/submit", R"({"agent": "dev", "input": "x"})");
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.headers["location"].rfind("/api/v1/runs/run-", 0), 0u);
}

TEST_F(ApiServerTest, AnIdempotentReplayAnswers200WithTheFirstRun) {
  std::string key = "Idempotency-Key: deploy-42\r\n";
  RawResponse first = Call("POST", "/api/v1/runs", R"({"agent": "dev", "input": "x"})", key);
  ASSERT_EQ(first.status, 201) << first.body;
  // Same request, spelled differently: still the same run.
  RawResponse again =
      Call("POST", "/api/v1/runs", R"({"input": "x", "priority": 0, "agent": "dev"})", key);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(JsonOf(again)["id"], JsonOf(first)["id"]);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(again.headers["location"], first.headers["location"]);

  RawResponse conflict = Call("POST", "/api/v1/runs", R"({"agent": "dev", "input": "y"})", key);
  ExpectProblem(conflict, 409, "already_exists");
}

TEST_F(ApiServerTest, RejectsBadIdempotencyKeys) {
  ExpectProblem(Call("POST", "/api/v1/runs", R"({"agent": "dev"})",
                     "Idempotency-Key: " + std::string(129, 'k') + "\r\n"),
                400, "invalid_argument");
}

TEST_F(ApiServerTest, BadJsonAnswers400WithAUsefulDetail) {
  RawResponse malformed = Call("POST", "/api/v1/runs", R"({"agent": "dev",)");
  ExpectProblem(malformed, 400, "invalid_argument");
  EXPECT_NE(JsonOf(malformed)["detail"].get<std::string>().find("malformed JSON"),
            std::string::npos);

  RawResponse wrong_type = Call("POST", "/api/v1/runs", R"({"agent": "dev", "priority": "high"})");
  ExpectProblem(wrong_type, 400, "invalid_argument");
  EXPECT_EQ(JsonOf(wrong_type)["detail"], "field \"priority\" must be an integer, got string");

  RawResponse unknown_field = Call("POST", "/api/v1/runs", R"({"agnet": "dev"})");
  EXPECT_NE(JsonOf(unknown_field)["detail"].get<std::string>().find("did you mean \"agent\""),
            std::string::npos);
}

TEST_F(ApiServerTest, UnknownAgentAnswers400FromTheService) {
  RawResponse response = Call("POST", "/api/v1/runs", R"({"agent": "nobody"})");
  ExpectProblem(response, 400, "invalid_argument");
  EXPECT_NE(JsonOf(response)["detail"].get<std::string>().find("nobody"), std::string::npos);
}

TEST_F(ApiServerTest, OversizedBodyAnswers413) {
  std::string body = R"({"agent": "dev", "input": ")" + std::string(2 << 20, 'x') + "\"}";
  RawResponse response = Call("POST", "/api/v1/runs", body);
  ExpectProblem(response, 413, "resource_exhausted");
}

// --- auth ---------------------------------------------------------------------------------------

TEST_F(ApiServerTest, ApiRoutesNeedAValidKeyAndNeverEchoIt) {
  RawResponse missing = Call("GET", "/api/v1/runs", "", "", /*with_key=*/false);
  ExpectProblem(missing, 401, "unauthenticated");
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer realm=\"agentd\"");

  RawResponse wrong = Call("POST", "/api/v1/runs", R"({"agent": "dev"})",
                           "Authorization: Bearer not-the-key-xyz\r\n", /*with_key=*/false);
  ExpectProblem(wrong, 401, "unauthenticated");
  EXPECT_EQ(wrong.body.find("not-the-key-xyz"), std::string::npos);
  EXPECT_EQ(store_->ListRuns({}, 10, "")->runs.size(), 0u);

  // Unknown /api paths are not revealed without a key either.
  ExpectProblem(Call("GET", "/api/v1/secret-place", "", "", false), 401, "unauthenticated");
}

TEST_F(ApiServerTest, ProbesMetricsAndTheApiDescriptionArePublic) {
  RawResponse health = Call("GET", "/health", "", "", false);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(JsonOf(health), core::Json({{"status", "ok"}}));
  EXPECT_EQ(Call("GET", "/ready", "", "", false).status, 200);
  RawResponse metrics = Call("GET", "/metrics", "", "", false);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Call("GET", "/openapi.json", "", "", false).status, 200);
}

TEST_F(ApiServerTest, ReadyFollowsThePredicate) {
  StopServer();
  std::atomic<bool> ready{false};
  StartServer({.ready = [&] { return ready.load(); }});
  RawResponse not_ready = Call("GET", "/ready", "", "", false);
  EXPECT_EQ(not_ready.status, 503);
  ready = true;
  EXPECT_EQ(Call("GET", "/ready", "", "", false).status, 200);
}

// --- get, list, cancel --------------------------------------------------------------------------

TEST_F(ApiServerTest, GetReturnsTheRunAndUnknownIdsAre404) {
  std::string id = Submit();
  RawResponse got = Call("GET", "/api/v1/runs/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(JsonOf(got)["id"], id);

  ExpectProblem(Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now())), 404, "not_found");
  RawResponse junk = Call("GET", "/api/v1/runs/..%2F..%2Fetc");
  ExpectProblem(junk, 404, "not_found");
}

TEST_F(ApiServerTest, CancelEndsAQueuedRunAndATerminalRunAnswers409) {
  std::string id = Submit();
  RawResponse cancelled = Call("POST", "/api/v1/runs/" + id + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(JsonOf(cancelled)["phase"], "Cancelled");

  ExpectProblem(Call("POST", "/api/v1/runs/" + id + "/cancel"), 409, "failed_precondition");
  ExpectProblem(Call("POST", "/api/v1/runs/" + core::NewRunId(clock_.Now()) + "/cancel"), 404,
                "not_found");
}

TEST_F(ApiServerTest, ListPagesThroughEveryRunNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1s);
    ids.push_back(Submit(R"({"agent": "dev", "labels": {"n": ")" + std::to_string(i % 2) + "\"}}"));
  }
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    RawResponse page =
        Call("GET", "/api/v1/runs?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.body;
    core::Json json = JsonOf(page);
    EXPECT_LE(json["items"].size(), 2u);
    for (const auto& item : json["items"]) seen.push_back(item["id"]);
    cursor = json["nextCursor"].is_null() ? "" : json["nextCursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(seen, newest_first);

  core::Json odd = JsonOf(Call("GET", "/api/v1/runs?label=n%3D1"));
  EXPECT_EQ(odd["items"].size(), 2u);
  core::Json by_agent = JsonOf(Call("GET", "/api/v1/runs?agent=dev&phase=Queued&limit=1000"));
  EXPECT_EQ(by_agent["items"].size(), 5u);
  EXPECT_TRUE(by_agent["nextCursor"].is_null());
}

TEST_F(ApiServerTest, ListRejectsBadFilters) {
  ExpectProblem(Call("GET", "/api/v1/runs?phase=Sleeping"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/runs?limit=0"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/runs?limit=1001"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/runs?label=novalue"), 400, "invalid_argument");
}

// --- events -------------------------------------------------------------------------------------

TEST_F(ApiServerTest, EventsAsJsonPageWithAfterAndLimit) {
  std::string id = Submit();
  Emit(id, 4);  // seq 2..5
  core::Json first = JsonOf(Call("GET", "/api/v1/runs/" + id + "/events?limit=3"));
  ASSERT_EQ(first["items"].size(), 3u);
  EXPECT_EQ(first["items"][0]["seq"], 1);
  EXPECT_EQ(first["items"][0]["type"], "phase");
  EXPECT_EQ(first["nextAfter"], 3);
  core::Json second = JsonOf(Call("GET", "/api/v1/runs/" + id + "/events?after=3"));
  ASSERT_EQ(second["items"].size(), 2u);
  EXPECT_EQ(second["items"][1]["seq"], 5);
  EXPECT_EQ(second["nextAfter"], 5);
  ExpectProblem(Call("GET", "/api/v1/runs/" + id + "/events?after=-1"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now()) + "/events"), 404,
                "not_found");
}

TEST_F(ApiServerTest, SseSendsTheBacklogThenLiveEventsAndEndsAfterTheTerminalPhase) {
  std::string id = Submit();
  Emit(id, 3);  // backlog: 1 (Queued), 2..4
  auto client = Follow(id);
  SseReader reader(*client);
  std::vector<SseFrame> frames;
  for (int i = 0; i < 4; ++i) {
    auto frame = reader.Next();
    ASSERT_TRUE(frame);
    frames.push_back(*frame);
  }
  EXPECT_EQ(Ids(frames), Range(1, 4));
  EXPECT_EQ(frames[0].event, "phase");
  auto data = core::ParseJson(frames[1].data);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ((*data)["seq"], 2);
  EXPECT_EQ((*data)["runId"], id);
  EXPECT_EQ((*data)["data"]["line"], 0);

  Emit(id, 2);                        // 5, 6 live
  Move(id, runs::Phase::kStarting);   // 7
  Move(id, runs::Phase::kRunning);    // 8
  Emit(id, 1);                        // 9
  Move(id, runs::Phase::kSucceeded);  // 10, terminal
  ASSERT_TRUE(reader.ReadToEnd(frames));
  EXPECT_EQ(Ids(frames), Range(1, 10));
  EXPECT_EQ(frames.back().event, "phase");
  EXPECT_TRUE(client->WaitClosed());
  EXPECT_TRUE(Eventually([&] { return api_->followers() == 0; }));
  EXPECT_EQ(bus_.SubscriberCount(), 0u);
}

TEST_F(ApiServerTest, SseResumesAfterLastEventIdWithoutGapsOrDuplicates) {
  std::string id = Submit();
  Emit(id, 5);  // 1..6
  {
    auto client = Follow(id);
    SseReader reader(*client);
    for (int64_t want = 1; want <= 3; ++want) {
      auto frame = reader.Next();
      ASSERT_TRUE(frame);
      EXPECT_EQ(frame->id, want);
    }
  }             // the client goes away after event 3
  Emit(id, 2);  // 7, 8 while nobody listens
  auto client = Follow(id, "Last-Event-ID: 3\r\n");
  SseReader reader(*client);
  Move(id, runs::Phase::kCancelled);  // 9
  std::vector<SseFrame> frames;
  ASSERT_TRUE(reader.ReadToEnd(frames));
  EXPECT_EQ(Ids(frames), Range(4, 9));
}

TEST_F(ApiServerTest, SseOfAFinishedRunReplaysAndEnds) {
  std::string id = Submit();
  ASSERT_EQ(Call("POST", "/api/v1/runs/" + id + "/cancel").status, 200);
  auto client = Follow(id);
  SseReader reader(*client);
  std::vector<SseFrame> frames;
  ASSERT_TRUE(reader.ReadToEnd(frames));
  EXPECT_EQ(Ids(frames), Range(1, 2));

  auto after_end = Follow(id, "Last-Event-ID: 2\r\n");
  SseReader empty(*after_end);
  std::vector<SseFrame> none;
  ASSERT_TRUE(empty.ReadToEnd(none));
  EXPECT_TRUE(Ids(none).empty());
}

TEST_F(ApiServerTest, SseFollowQueryParameterAndAfterWork) {
  std::string id = Submit();
  Emit(id, 2);  // 1..3
  RawHttpClient client(http_->port());
  ASSERT_TRUE(client.Send(Request("GET", "/api/v1/runs/" + id + "/events?follow=true&after=2")));
  ASSERT_TRUE(client.ReadHead(std::chrono::steady_clock::now() + 5s));
  SseReader reader(client);
  auto frame = reader.Next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->id, 3);
}

TEST_F(ApiServerTest, SseOfAnUnknownRunIs404AndHoldsNoFollower) {
  RawResponse response = Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now()) + "/events", "",
                              "Accept: text/event-stream\r\n");
  ExpectProblem(response, 404, "not_found");
  EXPECT_EQ(api_->followers(), 0);
  EXPECT_EQ(bus_.SubscriberCount(), 0u);
  ExpectProblem(Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now()) + "/events", "",
                     "Accept: text/event-stream\r\nLast-Event-ID: x\r\n"),
                400, "invalid_argument");
}

TEST_F(ApiServerTest, SseSendsKeepAliveCommentsWhenIdle) {
  StopServer();
  StartServer({.keepalive_interval = 30ms});
  std::string id = Submit();
  auto client = Follow(id);
  SseReader reader(*client);
  auto first = reader.Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, 1);
  auto keepalive = reader.Next();
  ASSERT_TRUE(keepalive);
  EXPECT_EQ(keepalive->comment, " keep-alive");
  EXPECT_EQ(keepalive->id, -1);
}

TEST_F(ApiServerTest, SseRefusesFollowersBeyondTheLimit) {
  StopServer();
  StartServer({.max_sse_followers = 1});
  std::string id = Submit();
  auto first = Follow(id);
  ASSERT_TRUE(Eventually([&] { return api_->followers() == 1; }));
  RawResponse refused =
      Call("GET", "/api/v1/runs/" + id + "/events", "", "Accept: text/event-stream\r\n");
  ExpectProblem(refused, 503, "unavailable");
  EXPECT_EQ(refused.headers["retry-after"], "5");
  first->Close();
  EXPECT_TRUE(Eventually([&] { return api_->followers() == 0; }));
}

TEST_F(ApiServerTest, ManyFollowersOfOneRunAllReceiveEveryEvent) {
  constexpr int kFollowers = 100;
  std::string id = Submit();
  std::vector<std::unique_ptr<RawHttpClient>> clients;
  for (int i = 0; i < kFollowers; ++i) clients.push_back(Follow(id));
  ASSERT_TRUE(Eventually([&] { return api_->followers() == kFollowers; }));
  std::thread producer([&] {
    for (int i = 0; i < 20; ++i) Emit(id, 5);  // 2..101
    Move(id, runs::Phase::kCancelled);         // 102
  });
  int complete = 0;
  for (auto& client : clients) {
    SseReader reader(*client);
    std::vector<SseFrame> frames;
    if (reader.ReadToEnd(frames, 10s) && Ids(frames) == Range(1, 102)) ++complete;
  }
  producer.join();
  EXPECT_EQ(complete, kFollowers);
  EXPECT_TRUE(Eventually([&] { return api_->followers() == 0; }));
}

// --- routing, catalog, metrics ------------------------------------------------------------------

TEST_F(ApiServerTest, UnknownRoutesAre404AndWrongMethods405WithAllow) {
  ExpectProblem(Call("GET", "/nope", "", "", false), 404, "not_found");
  ExpectProblem(Call("GET", "/api/v1/runs/x/y/z"), 404, "not_found");
  RawResponse wrong = Call("DELETE", "/api/v1/runs");
  ExpectProblem(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong.headers["allow"], "GET, POST");
  RawResponse get_cancel = Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now()) + "/cancel");
  EXPECT_EQ(get_cancel.status, 405);
  EXPECT_EQ(get_cancel.headers["allow"], "POST");
}

TEST_F(ApiServerTest, CatalogIsReadableAndReadOnly) {
  core::Json agents = JsonOf(Call("GET", "/api/v1/agents"));
  ASSERT_EQ(agents["items"].size(), 1u);
  EXPECT_EQ(agents["items"][0]["metadata"]["name"], "dev");
  EXPECT_EQ(agents["generation"], 3);
  core::Json model = JsonOf(Call("GET", "/api/v1/models/local"));
  EXPECT_EQ(model["kind"], "Model");
  EXPECT_EQ(model["spec"]["model"], "m");
  core::Json instructions = JsonOf(Call("GET", "/api/v1/instructions"));
  EXPECT_EQ(instructions["items"][0]["metadata"]["name"], "be-kind");
  ExpectProblem(Call("GET", "/api/v1/agents/ghost"), 404, "not_found");

  RawResponse put = Call("PUT", "/api/v1/agents/dev", R"({"kind": "Agent"})");
  ExpectProblem(put, 405, "method_not_allowed");
  EXPECT_NE(JsonOf(put)["detail"].get<std::string>().find("read-only"), std::string::npos);
  EXPECT_EQ(put.headers["allow"], "GET");
  ExpectProblem(Call("DELETE", "/api/v1/models/local"), 405, "method_not_allowed");
}

TEST_F(ApiServerTest, MetricsCountRequestsByRoutePattern) {
  std::string id = Submit();
  Call("GET", "/api/v1/runs/" + id);
  Call("GET", "/api/v1/runs/" + core::NewRunId(clock_.Now()));
  std::string text = Call("GET", "/metrics", "", "", false).body;
  EXPECT_NE(
      text.find(R"(agentd_http_requests_total{method="POST",route="/api/v1/runs",code="201"} 1)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(agentd_http_requests_total{method="GET",route="/api/v1/runs/{id}",code="200"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(agentd_http_requests_total{method="GET",route="/api/v1/runs/{id}",code="404"} 1)"),
      std::string::npos);
  EXPECT_NE(text.find("agentd_http_request_duration_seconds_bucket{route=\"/api/v1/runs/{id}\""),
            std::string::npos);
  EXPECT_NE(text.find("agentd_sse_followers 0"), std::string::npos);
  EXPECT_EQ(text.find(id), std::string::npos);  // raw paths never become labels
}

TEST_F(ApiServerTest, OpenApiDocumentDescribesEveryRoute) {
  RawResponse response = Call("GET", "/openapi.json", "", "", false);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  core::Json doc = JsonOf(response);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  for (const char* path : {"/api/v1/runs",
                           "/api/jobs/submit",
                           "/api/v1/runs/{id}",
                           "/api/v1/runs/{id}/cancel",
                           "/api/v1/runs/{id}/events",
                           "/api/v1/runs/{id}/approve",
                           "/api/v1/runs/{id}/reject",
                           "/api/v1/usage",
                           "/api/v1/budgets",
                           "/api/v1/audit",
                           "/api/v1/audit/verify",
                           "/api/v1/audit/checkpoints",
                           "/api/v1/audit/export",
                           "/api/v1/agents",
                           "/api/v1/agents/{name}",
                           "/api/v1/models",
                           "/api/v1/models/{name}",
                           "/api/v1/instructions",
                           "/api/v1/instructions/{name}",
                           "/health",
                           "/ready",
                           "/metrics",
                           "/openapi.json"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
}

TEST_F(ApiServerTest, ApproveAndRejectPassTheCallerAndReasonAndCheckTheBody) {
  std::string id = Submit();
  RawResponse approved =
      Call("POST", "/api/v1/runs/" + id + "/approve", R"({"reason": "ship it"})");
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(runs_->last_decision(), "approve tester ship it");
  ASSERT_EQ(Call("POST", "/api/v1/runs/" + id + "/reject").status, 200);
  EXPECT_EQ(runs_->last_decision(), "reject tester ");

  ExpectProblem(Call("POST", "/api/v1/runs/" + id + "/approve", R"({"reason": 7})"), 400,
                "invalid_argument");
  ExpectProblem(Call("POST", "/api/v1/runs/" + id + "/approve", R"({"why": "x"})"), 400,
                "invalid_argument");
  ExpectProblem(Call("POST", "/api/v1/runs/" + id + "/approve",
                     R"({"reason": ")" + std::string(2000, 'x') + R"("})"),
                400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/runs/" + id + "/approve"), 405, "method_not_allowed");
}

TEST_F(ApiServerTest, ProblemsCarryTheErrorsReasonAndFields) {
  core::Error error = core::ResourceExhausted("budget \"org\" cannot fit this run");
  error.reason = "budget_exceeded";
  error.fields = {{"budget", "org"}, {"status", "not allowed to override"}};

  net::HttpResponse response = ErrorResponse(error);

  EXPECT_EQ(response.status, 429);
  core::Json body = core::ParseJson(response.body).value();
  EXPECT_EQ(body["code"], "budget_exceeded");
  EXPECT_EQ(body["budget"], "org");
  EXPECT_EQ(body["status"], 429);  // standard members win
}

TEST_F(ApiServerTest, UsageSumsTheLedgerAndRefusesBadParameters) {
  std::string id = Submit();
  store::EventDraft usage{.type = "usage", .data = {{"model", "m"}}, .time = clock_.Now()};
  usage.usage = store::UsageRecord{
      .model = "m",
      .usage = {.input_tokens = 10, .output_tokens = 2, .cost_micros = 1500, .model_calls = 1}};
  ASSERT_TRUE(store_->AppendEvents(id, {usage}).ok());

  RawResponse response = Call("GET", "/api/v1/usage?groupBy=agent,model");

  ASSERT_EQ(response.status, 200) << response.body;
  core::Json body = JsonOf(response);
  ASSERT_EQ(body["rows"].size(), 1u) << body.dump();
  EXPECT_EQ(body["rows"][0]["group"]["agent"], "dev");
  EXPECT_EQ(body["rows"][0]["costUsd"], "0.0015");
  EXPECT_EQ(body["total"]["inputTokens"], 10);
  ExpectProblem(Call("GET", "/api/v1/usage?groupBy=planet"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/usage?from=yesterday"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/usage?tier=9"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"), 400,
                "invalid_argument");
}

TEST_F(ApiServerTest, AuditListVerifyCheckpointAndExport) {
  ASSERT_TRUE(
      store_
          ->AppendAudit({{.time = clock_.Now(),
                          .actor = "tester",
                          .action = "run.submitted",
                          .subject = "run-1"},
                         {.time = clock_.Now(), .actor = "system", .action = "catalog.loaded"}})
          .ok());

  core::Json list = JsonOf(Call("GET", "/api/v1/audit?action=run."));
  ASSERT_EQ(list["items"].size(), 1u) << list.dump();
  EXPECT_EQ(list["items"][0]["actor"], "tester");
  RawResponse made = Call("POST", "/api/v1/audit/checkpoints");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(JsonOf(made)["count"], 2);
  core::Json verify = JsonOf(Call("GET", "/api/v1/audit/verify"));
  EXPECT_TRUE(verify["ok"].get<bool>()) << verify.dump();
  EXPECT_EQ(verify["checkpoint"]["count"], 2);
  RawResponse exported = Call("GET", "/api/v1/audit/export");
  ASSERT_EQ(exported.status, 200);
  EXPECT_EQ(exported.headers["content-type"], "application/x-ndjson");
  EXPECT_EQ(std::count(exported.body.begin(), exported.body.end(), '\n'), 4);  // header, 2, 1
  ExpectProblem(Call("GET", "/api/v1/audit?from=soon"), 400, "invalid_argument");
  ExpectProblem(Call("GET", "/api/v1/audit", "", "", false), 401, "unauthenticated");
}

TEST_F(ApiServerTest, KeepAliveClientCanSubmitManyRunsOnOneConnection) {
  RawHttpClient client(http_->port());
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(client.Send(Request("POST", "/api/v1/runs", R"({"agent": "dev"})")));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 201);
    ids.insert(JsonOf(*response)["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 50u);
}

// --- runner event ingest ------------------------------------------------------------------------

constexpr char kRunnerToken[] = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";

class IngestApiTest : public ApiServerTest {
 protected:
  // A run the scheduler has claimed (attempt 1, with kRunnerToken's hash) and started.
  std::string RunningRun() {
    std::string id = Submit();
    store::Transition claim;
    claim.to = runs::Phase::kStarting;
    claim.reason = "Dispatched";
    claim.increment_attempts = true;
    claim.runner_token_hash = core::Sha256Hex(kRunnerToken);
    EXPECT_TRUE(store_->TransitionRun(id, claim).ok());
    Move(id, runs::Phase::kRunning);
    return id;
  }

  RawResponse Post(const std::string& id, std::string_view body,
                   std::string_view token = kRunnerToken, std::string_view attempt = "1",
                   std::string_view instance = "pod-a") {
    std::string headers;
    if (!token.empty()) headers += "Authorization: Bearer " + std::string(token) + "\r\n";
    if (!attempt.empty()) headers += "X-Agentd-Attempt: " + std::string(attempt) + "\r\n";
    if (!instance.empty()) headers += "X-Agentd-Runner: " + std::string(instance) + "\r\n";
    return Call("POST", "/api/v1/runs/" + id + "/events", body, headers, /*with_key=*/false);
  }

  // The event types stored after the run's phase events.
  std::vector<std::string> RunnerTypes(const std::string& id) {
    std::vector<std::string> types;
    auto events = store_->ListEvents(id, 0, 1000);
    EXPECT_TRUE(events.ok());
    if (!events.ok()) return types;
    for (const auto& e : *events) {
      if (e.type != "phase") types.push_back(e.type);
    }
    return types;
  }

  static constexpr std::string_view kBatch =
      "{\"seq\":1,\"type\":\"phase\",\"data\":{\"phase\":\"Running\"}}\n"
      "{\"seq\":2,\"type\":\"message\",\"time\":\"2026-01-02T03:04:05Z\","
      "\"data\":{\"role\":\"assistant\",\"content\":\"hi\"}}\r\n"
      "\n"
      "{\"seq\":3,\"type\":\"log\",\"data\":{\"stream\":\"stderr\",\"line\":\"x\"}}\n";
};

TEST_F(IngestApiTest, ARunnersBatchIsAcceptedWithItsRunTokenAndNoApiKey) {
  std::string id = RunningRun();

  RawResponse response = Post(id, kBatch);

  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(JsonOf(response), core::Json({{"accepted", 3}}));
  EXPECT_EQ(RunnerTypes(id), (std::vector<std::string>{"message", "log"}));
  auto events = store_->ListEvents(id, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(core::FormatRfc3339(events->at(events->size() - 2).time), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(store_->GetRun(id)->runner_seq, 3);
}

TEST_F(IngestApiTest, ARetriedBatchIsAcceptedAgainAndStoredOnce) {
  std::string id = RunningRun();
  ASSERT_EQ(Post(id, kBatch).status, 200);

  RawResponse again = Post(id, kBatch);

  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(JsonOf(again)["accepted"], 3);
  EXPECT_EQ(RunnerTypes(id), (std::vector<std::string>{"message", "log"}));
}

TEST_F(IngestApiTest, AMissingOrWrongTokenIs401AndNeverEchoed) {
  std::string id = RunningRun();

  RawResponse missing = Post(id, kBatch, "");
  RawResponse wrong = Post(id, kBatch, "not-the-runner-token-xyz");
  RawResponse api_key = Post(id, kBatch, kKey);  // an API key is not a runner token
  RawResponse basic = Call("POST", "/api/v1/runs/" + id + "/events", kBatch,
                           std::string("Authorization: Basic ") + kRunnerToken +
                               "\r\nX-Agentd-Attempt: 1\r\nX-Agentd-Runner: pod-a\r\n",
                           /*with_key=*/false);

  for (const RawResponse* r : {&missing, &wrong, &api_key, &basic}) {
    ExpectProblem(*r, 401, "unauthenticated");
    EXPECT_EQ(r->headers.at("www-authenticate"), "Bearer realm=\"agentd-runner\"");
    EXPECT_EQ(r->body.find("not-the-runner-token-xyz"), std::string::npos);
    EXPECT_EQ(r->body.find(kRunnerToken), std::string::npos);
  }
  EXPECT_EQ(runs_->ingest_calls(), 0);
  EXPECT_TRUE(RunnerTypes(id).empty());
}

TEST_F(IngestApiTest, ReadingEventsStillNeedsAnApiKey) {
  std::string id = RunningRun();

  RawResponse with_runner_token =
      Call("GET", "/api/v1/runs/" + id + "/events", "",
           std::string("Authorization: Bearer ") + kRunnerToken + "\r\n", /*with_key=*/false);

  ExpectProblem(with_runner_token, 401, "unauthenticated");
  EXPECT_EQ(Call("GET", "/api/v1/runs/" + id + "/events").status, 200);
}

TEST_F(IngestApiTest, AnUnknownRunIs404) {
  ExpectProblem(Post("run-00000000000000000000000000", kBatch), 404, "not_found");
  ExpectProblem(Post("not-a-run-id", kBatch), 404, "not_found");
  EXPECT_EQ(runs_->ingest_calls(), 0);
}

TEST_F(IngestApiTest, AStaleAttemptIs409AttemptFenced) {
  std::string id = RunningRun();

  RawResponse stale = Post(id, kBatch, kRunnerToken, "2");

  ExpectProblem(stale, 409, "attempt_fenced");
  EXPECT_TRUE(RunnerTypes(id).empty());
}

TEST_F(IngestApiTest, ASecondRunnerInstanceOfTheAttemptIsRefusedAndTheFirstGoesOn) {
  std::string id = RunningRun();
  ASSERT_EQ(Post(id, kBatch, kRunnerToken, "1", "pod-a").status, 200);

  RawResponse second = Post(id,
                            "{\"seq\":4,\"type\":\"message\",\"data\":{\"role\":"
                            "\"assistant\",\"content\":\"from the second pod\"}}\n",
                            kRunnerToken, "1", "pod-b");
  RawResponse first = Post(id,
                           "{\"seq\":4,\"type\":\"log\",\"data\":{\"stream\":\"stderr\","
                           "\"line\":\"first pod\"}}\n",
                           kRunnerToken, "1", "pod-a");

  ExpectProblem(second, 409, "attempt_fenced");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(RunnerTypes(id), (std::vector<std::string>{"message", "log", "log"}));
}

TEST_F(IngestApiTest, AFinishedRunIs409RunFinished) {
  std::string id = RunningRun();
  Move(id, runs::Phase::kSucceeded);

  ExpectProblem(Post(id, kBatch), 409, "run_finished");
}

TEST_F(IngestApiTest, ABadLineIs400NamingItAndNothingOfTheBatchIsStored) {
  std::string id = RunningRun();
  std::string body = std::string(kBatch) + "{\"seq\":4,\"type\":\"log\",\n";  // line 5

  RawResponse bad_json = Post(id, body);
  RawResponse unknown_type = Post(id, "{\"seq\":1,\"type\":\"teleport\",\"data\":{}}\n");
  RawResponse no_seq = Post(id, "{\"type\":\"log\",\"data\":{}}");

  ExpectProblem(bad_json, 400, "invalid_argument");
  EXPECT_NE(JsonOf(bad_json)["detail"].get<std::string>().find("line 5"), std::string::npos)
      << bad_json.body;
  EXPECT_EQ(JsonOf(bad_json)["line"], "5");
  ExpectProblem(unknown_type, 400, "invalid_argument");
  EXPECT_NE(JsonOf(unknown_type)["detail"].get<std::string>().find("line 1"), std::string::npos);
  ExpectProblem(no_seq, 400, "invalid_argument");
  EXPECT_EQ(runs_->ingest_calls(), 0);
  EXPECT_TRUE(RunnerTypes(id).empty());
}

TEST_F(IngestApiTest, MissingOrMalformedRunnerHeadersAre400) {
  std::string id = RunningRun();

  ExpectProblem(Post(id, kBatch, kRunnerToken, ""), 400, "invalid_argument");
  ExpectProblem(Post(id, kBatch, kRunnerToken, "first"), 400, "invalid_argument");
  ExpectProblem(Post(id, kBatch, kRunnerToken, "0"), 400, "invalid_argument");
  ExpectProblem(Post(id, kBatch, kRunnerToken, "1", ""), 400, "invalid_argument");
  ExpectProblem(Post(id, kBatch, kRunnerToken, "1", "pod/a"), 400, "invalid_argument");
  ExpectProblem(Post(id, kBatch, kRunnerToken, "1", std::string(254, 'p')), 400,
                "invalid_argument");
  EXPECT_EQ(runs_->ingest_calls(), 0);
}

TEST_F(IngestApiTest, ABatchOverOneMebibyteIs413) {
  // Even when the HTTP server would take bigger bodies, the route refuses them.
  StopServer();
  StartServer({}, {.max_body_bytes = 4 << 20});
  std::string id = RunningRun();
  std::string line = "{\"seq\":1,\"type\":\"log\",\"data\":{\"stream\":\"stderr\",\"line\":\"" +
                     std::string(100 * 1024, 'x') + "\"}}\n";
  std::string body;
  while (body.size() <= api::v1::kMaxRunnerBatchBytes) body += line;

  RawResponse response = Post(id, body);

  ExpectProblem(response, 413, "resource_exhausted");
  EXPECT_EQ(runs_->ingest_calls(), 0);
  EXPECT_TRUE(RunnerTypes(id).empty());
}

}  // namespace
}  // namespace agentd::server
