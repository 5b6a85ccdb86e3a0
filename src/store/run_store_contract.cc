#include "store/run_store_contract.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gmock/gmock.h>

#include "core/ids.h"
#include "core/time.h"
#include "governance/audit_chain.h"
#include "governance/checkpoint.h"

namespace agentd::store {

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RunStoreContractTest);

std::string RunStoreFactoryName(const ::testing::TestParamInfo<RunStoreFactory>& info) {
  return info.param.name;
}

void RunStoreContractTest::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr) << "the factory could not open a store";
  agent_ = "agent-" + core::RandomHex(6);
}

namespace {

using core::TimePoint;
using runs::Event;
using runs::Phase;
using ::testing::HasSubstr;

// A fixed instant with a millisecond part, so truncation bugs show.
const TimePoint kT0 = core::FromUnixMillis(1'800'000'000'123);

TimePoint At(int64_t ms_after_t0) { return kT0 + std::chrono::milliseconds(ms_after_t0); }

runs::Run NewRun(const std::string& agent, TimePoint created_at = kT0) {
  runs::Run run;
  run.id = core::NewRunId(created_at);
  run.agent = agent;
  run.input = "do the thing";
  run.phase = Phase::kQueued;
  run.reason = "Admitted";
  run.message = "waiting for capacity";
  run.created_at = created_at;
  return run;
}

// Every field set to something other than its default.
runs::Run FullRun(const std::string& agent) {
  runs::Run run = NewRun(agent);
  run.input = "summarise \"the\" report\nline two \xc3\xa9";
  run.parameters = {{"depth", 3}, {"tags", {"a", "b"}}, {"nested", {{"x", nullptr}}}};
  run.priority = 7;
  run.deadline = std::chrono::seconds(90);
  run.labels = {{"team", "search"}, {"cost-center", "cc-42"}, {"agentd.dev/tier", "gold"}};
  run.idempotency_key = "key-" + core::RandomHex(8);
  run.request_hash = core::RandomHex(32);
  run.caller = "apikey:ci";
  run.source = runs::Source::kWebhook;
  run.phase = Phase::kAwaitingApproval;
  run.reason = "ApprovalRequired";
  run.message = "cost above the threshold";
  run.started_at = At(1000);
  run.finished_at = At(2000);
  run.attempts = 2;
  run.usage = {.input_tokens = 10,
               .cached_input_tokens = 4,
               .output_tokens = 5,
               .cost_micros = 1234,
               .model_calls = 2};
  run.result = "done";
  run.error = "none really";
  run.executor_handle = {{"pid", 4242}, {"startTime", 99}};
  run.runner_token_hash = core::RandomHex(32);
  run.runner_seq = 3;
  run.team = "search-" + core::RandomHex(4);
  run.cost_center = "cc-42";
  run.tier = 3;
  run.config_digest = core::RandomHex(32);
  run.allowance_micros = 5'000'000;
  run.budgets = {"org", "team-search", "agent \"quoted\""};
  run.approval_expires_at = At(86'400'000);
  return run;
}

void ExpectSameRun(const runs::Run& got, const runs::Run& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.agent, want.agent);
  EXPECT_EQ(got.input, want.input);
  EXPECT_EQ(got.parameters, want.parameters);
  EXPECT_EQ(got.priority, want.priority);
  EXPECT_EQ(got.deadline, want.deadline);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.idempotency_key, want.idempotency_key);
  EXPECT_EQ(got.request_hash, want.request_hash);
  EXPECT_EQ(got.caller, want.caller);
  EXPECT_EQ(got.source, want.source);
  EXPECT_EQ(got.phase, want.phase);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.message, want.message);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.started_at, want.started_at);
  EXPECT_EQ(got.finished_at, want.finished_at);
  EXPECT_EQ(got.attempts, want.attempts);
  EXPECT_EQ(got.usage, want.usage);
  EXPECT_EQ(got.result, want.result);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.executor_handle, want.executor_handle);
  EXPECT_EQ(got.runner_token_hash, want.runner_token_hash);
  EXPECT_EQ(got.runner_seq, want.runner_seq);
  EXPECT_EQ(got.team, want.team);
  EXPECT_EQ(got.cost_center, want.cost_center);
  EXPECT_EQ(got.tier, want.tier);
  EXPECT_EQ(got.config_digest, want.config_digest);
  EXPECT_EQ(got.allowance_micros, want.allowance_micros);
  EXPECT_EQ(got.budgets, want.budgets);
  EXPECT_EQ(got.approval_expires_at, want.approval_expires_at);
}

#define ASSERT_OK(expr)                                                 \
  do {                                                                  \
    const auto& agentd_result_ = (expr);                                \
    ASSERT_TRUE(agentd_result_.ok()) << agentd_result_.error().message; \
  } while (false)
#define EXPECT_OK(expr)                                                 \
  do {                                                                  \
    const auto& agentd_result_ = (expr);                                \
    EXPECT_TRUE(agentd_result_.ok()) << agentd_result_.error().message; \
  } while (false)

Transition To(Phase to, std::string reason = "Test") {
  Transition t;
  t.to = to;
  t.reason = std::move(reason);
  t.message = "moved by a test";
  t.time = At(500);
  return t;
}

std::vector<Event> AllEvents(RunStore& store, const std::string& run_id) {
  auto events = store.ListEvents(run_id, 0, 100000);
  EXPECT_TRUE(events.ok()) << events.error().message;
  return events.ok() ? *events : std::vector<Event>{};
}

// Collects every run of `filter` by following cursors.
std::vector<runs::Run> ListAll(RunStore& store, const RunFilter& filter, int page_size) {
  std::vector<runs::Run> all;
  std::string cursor;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = store.ListRuns(filter, page_size, cursor);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) break;
    EXPECT_LE(static_cast<int>(page->runs.size()), page_size);
    all.insert(all.end(), page->runs.begin(), page->runs.end());
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  return all;
}

std::vector<std::string> Ids(const std::vector<runs::Run>& runs) {
  std::vector<std::string> ids;
  for (const runs::Run& run : runs) ids.push_back(run.id);
  return ids;
}

// Waits (with a deadline) until `count` reaches `want`.
bool WaitForCount(std::mutex& mu, std::condition_variable& cv, const int& count, int want) {
  std::unique_lock lock(mu);
  return cv.wait_for(lock, std::chrono::seconds(120), [&] { return count >= want; });
}

// --- create and get ---

TEST_P(RunStoreContractTest, CreateThenGetReturnsEveryField) {
  runs::Run run = FullRun(agent_);

  auto created = store_->CreateRun(run);

  ASSERT_OK(created);
  EXPECT_TRUE(created->created);
  ExpectSameRun(created->run, run);
  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  ExpectSameRun(*got, run);
  EXPECT_GE(got->version, 1);
  EXPECT_EQ(got->version, created->run.version);
}

TEST_P(RunStoreContractTest, CreateKeepsTimesToTheMillisecond) {
  runs::Run run = NewRun(agent_, kT0 + std::chrono::microseconds(456));
  run.approval_expires_at = At(1000) + std::chrono::microseconds(789);

  ASSERT_OK(store_->CreateRun(run));

  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(core::ToUnixMillis(got->created_at), core::ToUnixMillis(kT0));
  EXPECT_EQ(got->approval_expires_at, At(1000));
}

TEST_P(RunStoreContractTest, ARunWithoutGovernanceFieldsReadsBackWithTheirDefaults) {
  runs::Run run = NewRun(agent_);

  ASSERT_OK(store_->CreateRun(run));

  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->team, "");
  EXPECT_EQ(got->cost_center, "");
  EXPECT_EQ(got->tier, 0);
  EXPECT_EQ(got->config_digest, "");
  EXPECT_EQ(got->allowance_micros, 0);
  EXPECT_TRUE(got->budgets.empty());
  EXPECT_FALSE(got->approval_expires_at.has_value());
}

TEST_P(RunStoreContractTest, CreateWithANegativeAllowanceIsInvalidArgument) {
  runs::Run run = NewRun(agent_);
  run.allowance_micros = -1;

  auto created = store_->CreateRun(run);

  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store_->GetRun(run.id).ok());
}

TEST_P(RunStoreContractTest, CreateWritesAFirstPhaseEventWithSequenceOne) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));

  std::vector<Event> events = AllEvents(*store_, run.id);

  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].run_id, run.id);
  EXPECT_EQ(events[0].seq, 1);
  EXPECT_EQ(events[0].type, "phase");
  EXPECT_EQ(events[0].data,
            (core::Json{
                {"phase", "Queued"}, {"reason", "Admitted"}, {"message", "waiting for capacity"}}));
  EXPECT_EQ(events[0].time, kT0);
}

TEST_P(RunStoreContractTest, CreateWithTheSameIdempotencyKeyAndRequestReturnsTheFirstRun) {
  runs::Run first = NewRun(agent_);
  first.idempotency_key = "idem-" + core::RandomHex(8);
  first.request_hash = "hash-a";
  ASSERT_OK(store_->CreateRun(first));
  runs::Run second = NewRun(agent_, At(10));
  second.idempotency_key = first.idempotency_key;
  second.request_hash = "hash-a";

  auto again = store_->CreateRun(second);

  ASSERT_OK(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->run.id, first.id);
  EXPECT_FALSE(store_->GetRun(second.id).ok());
}

TEST_P(RunStoreContractTest, CreateWithTheSameIdempotencyKeyAndAnotherRequestIsAlreadyExists) {
  runs::Run first = NewRun(agent_);
  first.idempotency_key = "idem-" + core::RandomHex(8);
  first.request_hash = "hash-a";
  ASSERT_OK(store_->CreateRun(first));
  runs::Run second = NewRun(agent_);
  second.idempotency_key = first.idempotency_key;
  second.request_hash = "hash-b";

  auto conflict = store_->CreateRun(second);

  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_THAT(conflict.error().message, HasSubstr(first.idempotency_key));
  EXPECT_FALSE(store_->GetRun(second.id).ok());
}

TEST_P(RunStoreContractTest, ConcurrentCreatesWithOneIdempotencyKeyMakeOneRun) {
  const std::string key = "idem-" + core::RandomHex(8);
  constexpr int kCreates = 32;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<core::Result<CreateRunResult>> results;

  for (int i = 0; i < kCreates; ++i) {
    runs::Run run = NewRun(agent_, At(i));
    run.idempotency_key = key;
    run.request_hash = "same";
    store_->CreateRunAsync(run, [&](core::Result<CreateRunResult> result) {
      std::lock_guard lock(mu);
      results.push_back(std::move(result));
      ++done;
      cv.notify_all();
    });
  }

  ASSERT_TRUE(WaitForCount(mu, cv, done, kCreates));
  std::lock_guard lock(mu);
  int created = 0;
  std::set<std::string> ids;
  for (const auto& result : results) {
    ASSERT_OK(result);
    created += result->created ? 1 : 0;
    ids.insert(result->run.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ListAll(*store_, {.agent = agent_}, 100).size(), 1u);
}

TEST_P(RunStoreContractTest, CreateWithAnExistingIdIsAlreadyExists) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  runs::Run copy = run;
  copy.input = "something else";

  auto again = store_->CreateRun(copy);

  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(store_->GetRun(run.id)->input, "do the thing");
}

TEST_P(RunStoreContractTest, GetOfAnUnknownRunIsNotFound) {
  auto got = store_->GetRun("run-00000000000000000000000000");

  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, core::ErrorCode::kNotFound);
}

// --- transitions ---

TEST_P(RunStoreContractTest, TransitionsAlongTheHappyPathUpdateTheRunAndLogEachPhase) {
  runs::Run run = NewRun(agent_);
  auto created = store_->CreateRun(run);
  ASSERT_OK(created);

  Transition start = To(Phase::kStarting, "Claimed");
  start.from = {Phase::kQueued};
  start.expect_attempt = 0;
  start.increment_attempts = true;
  start.executor_handle = core::Json{{"pid", 77}};
  start.runner_token_hash = "tokenhash";
  auto starting = store_->TransitionRun(run.id, start);
  ASSERT_OK(starting);
  Transition running = To(Phase::kRunning, "RunnerStarted");
  running.expect_attempt = 1;
  running.started_at = At(600);
  ASSERT_OK(store_->TransitionRun(run.id, running));
  Transition succeed = To(Phase::kSucceeded, "Completed");
  succeed.finished_at = At(900);
  succeed.result = "42";
  auto succeeded = store_->TransitionRun(run.id, succeed);
  ASSERT_OK(succeeded);

  EXPECT_EQ(starting->run.phase, Phase::kStarting);
  EXPECT_EQ(starting->run.attempts, 1);
  EXPECT_EQ(starting->event.seq, 2);
  EXPECT_EQ(succeeded->event.seq, 4);
  EXPECT_EQ(succeeded->event.type, "phase");
  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->phase, Phase::kSucceeded);
  EXPECT_EQ(got->reason, "Completed");
  EXPECT_EQ(got->message, "moved by a test");
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(got->executor_handle, (core::Json{{"pid", 77}}));
  EXPECT_EQ(got->runner_token_hash, "tokenhash");
  EXPECT_EQ(got->started_at, At(600));
  EXPECT_EQ(got->finished_at, At(900));
  EXPECT_EQ(got->result, "42");
  EXPECT_EQ(got->version, created->run.version + 3);
  ExpectSameRun(succeeded->run, *got);
  std::vector<Event> events = AllEvents(*store_, run.id);
  ASSERT_EQ(events.size(), 4u);
  std::vector<std::string> phases;
  for (const Event& e : events) {
    EXPECT_EQ(e.seq, static_cast<int64_t>(phases.size()) + 1);
    phases.push_back(e.data.value("phase", ""));
  }
  EXPECT_THAT(phases, ::testing::ElementsAre("Queued", "Starting", "Running", "Succeeded"));
  EXPECT_EQ(events[3].data,
            (core::Json{
                {"phase", "Succeeded"}, {"reason", "Completed"}, {"message", "moved by a test"}}));
  EXPECT_EQ(events[3].time, At(500));
}

TEST_P(RunStoreContractTest, TransitionOutOfATerminalPhaseIsRefused) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->TransitionRun(run.id, To(Phase::kStarting)));
  ASSERT_OK(store_->TransitionRun(run.id, To(Phase::kSucceeded)));
  auto before = store_->GetRun(run.id);
  ASSERT_OK(before);

  auto refused = store_->TransitionRun(run.id, To(Phase::kCancelled));

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message, HasSubstr(run.id));
  EXPECT_THAT(refused.error().message, HasSubstr("Succeeded"));
  EXPECT_THAT(refused.error().message, HasSubstr("Cancelled"));
  auto after = store_->GetRun(run.id);
  ASSERT_OK(after);
  EXPECT_EQ(after->phase, Phase::kSucceeded);
  EXPECT_EQ(after->version, before->version);
  EXPECT_EQ(AllEvents(*store_, run.id).size(), 3u);
}

TEST_P(RunStoreContractTest, TransitionTheStateMachineForbidsIsRefused) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));

  auto refused = store_->TransitionRun(run.id, To(Phase::kRunning));

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kQueued);
}

TEST_P(RunStoreContractTest, TransitionGuardedOnTheCurrentPhaseIsRefusedFromAnyOther) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  Transition cancel = To(Phase::kCancelled);
  cancel.from = {Phase::kStarting, Phase::kRunning};

  auto refused = store_->TransitionRun(run.id, cancel);

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kQueued);
  cancel.from = {Phase::kQueued};
  ASSERT_OK(store_->TransitionRun(run.id, cancel));
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kCancelled);
}

TEST_P(RunStoreContractTest, TransitionFromAStaleAttemptIsRefused) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  Transition start = To(Phase::kStarting);
  start.increment_attempts = true;
  ASSERT_OK(store_->TransitionRun(run.id, start));
  Transition stale = To(Phase::kRunning);
  stale.expect_attempt = 0;

  auto refused = store_->TransitionRun(run.id, stale);

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kStarting);
  stale.expect_attempt = 1;
  EXPECT_TRUE(store_->TransitionRun(run.id, stale).ok());
}

TEST_P(RunStoreContractTest, TransitionOfAnUnknownRunIsNotFound) {
  auto missing = store_->TransitionRun("run-00000000000000000000000000", To(Phase::kCancelled));

  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
}

TEST_P(RunStoreContractTest, RacingClaimsOfOneRunLetExactlyOneWin) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  std::atomic<int> wins{0};
  std::atomic<int> refusals{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      Transition claim = To(Phase::kStarting);
      claim.from = {Phase::kQueued};
      claim.expect_attempt = 0;
      claim.increment_attempts = true;
      auto result = store_->TransitionRun(run.id, claim);
      if (result.ok()) {
        ++wins;
      } else if (result.error().code == core::ErrorCode::kFailedPrecondition) {
        ++refusals;
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(refusals.load(), 7);
  EXPECT_EQ(store_->GetRun(run.id)->attempts, 1);
  EXPECT_EQ(AllEvents(*store_, run.id).size(), 2u);
}

// --- events ---

TEST_P(RunStoreContractTest, ConcurrentAppendsGetSequenceNumbersWithoutGaps) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 40;
  std::atomic<int> appended{0};
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < kCallsPerThread; ++call) {
        int n = 1 + (t + call) % 3;
        std::vector<EventDraft> drafts;
        for (int k = 0; k < n; ++k) {
          drafts.push_back(
              {.type = "log", .data = {{"thread", t}, {"call", call}, {"k", k}}, .time = At(call)});
        }
        auto written = store_->AppendEvents(run.id, drafts);
        if (!written.ok() || static_cast<int>(written->size()) != n) {
          ++failures;
          continue;
        }
        // One call's events are consecutive.
        for (int k = 1; k < n; ++k) {
          if ((*written)[k].seq != (*written)[k - 1].seq + 1) ++failures;
        }
        appended += n;
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(failures.load(), 0);
  std::vector<Event> events = AllEvents(*store_, run.id);
  ASSERT_EQ(static_cast<int>(events.size()), 1 + appended.load());
  std::vector<std::pair<int, int>> last_seen(kThreads, {-1, -1});
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].seq, static_cast<int64_t>(i) + 1);
    if (i == 0) continue;
    // Each thread's events appear in the order it appended them.
    int t = events[i].data.value("thread", -1);
    ASSERT_TRUE(t >= 0 && t < kThreads) << events[i].data.dump();
    std::pair<int, int> position{events[i].data.value("call", -1), events[i].data.value("k", -1)};
    EXPECT_LT(last_seen[t], position) << "thread " << t << " at seq " << events[i].seq;
    last_seen[t] = position;
  }
}

TEST_P(RunStoreContractTest, AppendReturnsTheWrittenEventsWithSequenceAndTime) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));

  auto written =
      store_->AppendEvents(run.id, {{.type = "message", .data = {{"text", "hi"}}, .time = At(7)},
                                    {.type = "result", .data = {{"text", "bye"}}, .time = At(8)}});

  ASSERT_OK(written);
  ASSERT_EQ(written->size(), 2u);
  EXPECT_EQ((*written)[0].seq, 2);
  EXPECT_EQ((*written)[0].run_id, run.id);
  EXPECT_EQ((*written)[0].type, "message");
  EXPECT_EQ((*written)[0].time, At(7));
  EXPECT_EQ((*written)[1].seq, 3);
  std::vector<Event> events = AllEvents(*store_, run.id);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].data, (core::Json{{"text", "bye"}}));
  EXPECT_EQ(events[2].time, At(8));
}

TEST_P(RunStoreContractTest, EventsTheRunnerAlreadySentAreDropped) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  auto first = store_->AppendEvents(run.id, {{.type = "log", .time = At(1), .runner_seq = 1},
                                             {.type = "log", .time = At(1), .runner_seq = 2},
                                             {.type = "log", .time = At(1), .runner_seq = 3}});
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 3u);

  // A restarted reader replays the runner's journal from the start.
  auto replay = store_->AppendEvents(
      run.id, {{.type = "log", .data = {{"n", 2}}, .time = At(2), .runner_seq = 2},
               {.type = "log", .data = {{"n", 3}}, .time = At(2), .runner_seq = 3},
               {.type = "log", .data = {{"n", 4}}, .time = At(2), .runner_seq = 4},
               {.type = "phase-note", .data = {{"n", 0}}, .time = At(2), .runner_seq = 0},
               {.type = "log", .data = {{"n", 5}}, .time = At(2), .runner_seq = 5}});

  ASSERT_OK(replay);
  ASSERT_EQ(replay->size(), 3u);
  EXPECT_EQ((*replay)[0].data, (core::Json{{"n", 4}}));
  EXPECT_EQ((*replay)[0].seq, 5);
  EXPECT_EQ((*replay)[1].type, "phase-note");
  EXPECT_EQ((*replay)[2].data, (core::Json{{"n", 5}}));
  EXPECT_EQ(store_->GetRun(run.id)->runner_seq, 5);
  EXPECT_EQ(AllEvents(*store_, run.id).size(), 7u);
  auto nothing_new = store_->AppendEvents(run.id, {{.type = "log", .runner_seq = 5}});
  ASSERT_OK(nothing_new);
  EXPECT_TRUE(nothing_new->empty());
}

TEST_P(RunStoreContractTest, UsageEventsAddUpInTheRunTotals) {
  runs::Run run = NewRun(agent_);
  auto created = store_->CreateRun(run);
  ASSERT_OK(created);
  runs::Usage call1{.input_tokens = 100,
                    .cached_input_tokens = 20,
                    .output_tokens = 30,
                    .cost_micros = 1500,
                    .model_calls = 1};
  runs::Usage call2{.input_tokens = 7,
                    .cached_input_tokens = 0,
                    .output_tokens = 3,
                    .cost_micros = 25,
                    .model_calls = 1};

  ASSERT_OK(store_->AppendEvents(
      run.id, {{.type = "usage", .time = At(1), .usage = UsageRecord{"m1", call1}},
               {.type = "log", .time = At(1)}}));
  ASSERT_OK(store_->AppendEvents(
      run.id, {{.type = "usage", .time = At(2), .usage = UsageRecord{"m2", call2}}}));

  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  runs::Usage want = call1;
  want += call2;
  EXPECT_EQ(got->usage, want);
  EXPECT_GT(got->version, created->run.version);
}

TEST_P(RunStoreContractTest, AppendToAnUnknownRunIsNotFound) {
  auto missing = store_->AppendEvents("run-00000000000000000000000000", {{.type = "log"}});

  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
}

TEST_P(RunStoreContractTest, ListEventsPagesWithAfterSeqAndLimit) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  std::vector<EventDraft> drafts(9, EventDraft{.type = "log", .time = At(1)});
  ASSERT_OK(store_->AppendEvents(run.id, drafts));

  auto page = store_->ListEvents(run.id, 3, 4);
  auto tail = store_->ListEvents(run.id, 8, 100);
  auto none = store_->ListEvents(run.id, 10, 100);

  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 4u);
  EXPECT_EQ(page->front().seq, 4);
  EXPECT_EQ(page->back().seq, 7);
  ASSERT_OK(tail);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ(tail->back().seq, 10);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  auto unknown = store_->ListEvents("run-00000000000000000000000000", 0, 10);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, core::ErrorCode::kNotFound);
}

// --- listing ---

TEST_P(RunStoreContractTest, ListRunsPagesNewestFirstWithoutDuplicatesOrOmissions) {
  std::vector<runs::Run> created;
  for (int i = 0; i < 23; ++i) {
    // Three runs per millisecond, so pages also break inside runs created at the same time.
    runs::Run run = NewRun(agent_, At(i / 3));
    ASSERT_OK(store_->CreateRun(run));
    created.push_back(run);
  }
  std::sort(created.begin(), created.end(), [](const runs::Run& a, const runs::Run& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });

  std::vector<runs::Run> listed = ListAll(*store_, {.agent = agent_}, 5);

  EXPECT_EQ(Ids(listed), Ids(created));
  auto first_page = store_->ListRuns({.agent = agent_}, 23, "");
  ASSERT_OK(first_page);
  EXPECT_EQ(first_page->runs.size(), 23u);
  EXPECT_TRUE(first_page->next_cursor.empty());
}

TEST_P(RunStoreContractTest, ListRunsFiltersByAgentPhaseAndLabels) {
  const std::string team = "team-" + core::RandomHex(4);
  runs::Run a = NewRun(agent_, At(1));
  a.labels = {{"team", team}, {"tier", "gold"}};
  runs::Run b = NewRun(agent_, At(2));
  b.labels = {{"team", team}, {"tier", "silver"}};
  runs::Run c = NewRun(agent_, At(3));
  c.labels = {{"team", "other"}, {"tier", "gold"}};
  runs::Run d = NewRun(agent_ + "-other", At(4));
  d.labels = {{"team", team}, {"tier", "gold"}};
  for (const runs::Run& run : {a, b, c, d}) ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->TransitionRun(b.id, To(Phase::kCancelled)));

  auto by_agent = ListAll(*store_, {.agent = agent_}, 10);
  auto by_team = ListAll(*store_, {.labels = {{"team", team}}}, 10);
  auto by_team_and_tier = ListAll(*store_, {.labels = {{"team", team}, {"tier", "gold"}}}, 10);
  auto by_agent_and_label =
      ListAll(*store_, {.agent = agent_, .labels = {{"team", team}, {"tier", "gold"}}}, 10);
  auto cancelled = ListAll(*store_, {.agent = agent_, .phase = Phase::kCancelled}, 10);
  auto queued = ListAll(*store_, {.agent = agent_, .phase = Phase::kQueued}, 10);
  auto no_such_label = ListAll(*store_, {.labels = {{"team", team + "-nope"}}}, 10);

  EXPECT_EQ(Ids(by_agent), (std::vector<std::string>{c.id, b.id, a.id}));
  EXPECT_EQ(Ids(by_team), (std::vector<std::string>{d.id, b.id, a.id}));
  EXPECT_EQ(Ids(by_team_and_tier), (std::vector<std::string>{d.id, a.id}));
  EXPECT_EQ(Ids(by_agent_and_label), (std::vector<std::string>{a.id}));
  EXPECT_EQ(Ids(cancelled), (std::vector<std::string>{b.id}));
  EXPECT_EQ(Ids(queued), (std::vector<std::string>{c.id, a.id}));
  EXPECT_TRUE(no_such_label.empty());
}

TEST_P(RunStoreContractTest, ListRunsRejectsABadLimitOrCursor) {
  ASSERT_OK(store_->CreateRun(NewRun(agent_)));

  for (int limit : {0, -1, 1001}) {
    auto page = store_->ListRuns({.agent = agent_}, limit, "");
    ASSERT_FALSE(page.ok()) << limit;
    EXPECT_EQ(page.error().code, core::ErrorCode::kInvalidArgument);
  }
  for (const char* cursor : {"garbage", ".", "12.", ".run-x", "x1.run-x"}) {
    auto page = store_->ListRuns({.agent = agent_}, 10, cursor);
    ASSERT_FALSE(page.ok()) << cursor;
    EXPECT_EQ(page.error().code, core::ErrorCode::kInvalidArgument) << cursor;
  }
  EXPECT_TRUE(store_->ListRuns({.agent = agent_}, 1000, "").ok());
}

TEST_P(RunStoreContractTest, ListRunsInPhasesReturnsThoseRunsOldestFirst) {
  runs::Run queued_late = NewRun(agent_, At(30));
  runs::Run running = NewRun(agent_, At(20));
  runs::Run waiting = NewRun(agent_, At(10));
  waiting.phase = Phase::kAwaitingApproval;
  runs::Run queued_early = NewRun(agent_, At(5));
  runs::Run done = NewRun(agent_, At(1));
  for (const runs::Run& run : {queued_late, running, waiting, queued_early, done}) {
    ASSERT_OK(store_->CreateRun(run));
  }
  ASSERT_OK(store_->TransitionRun(running.id, To(Phase::kStarting)));
  ASSERT_OK(store_->TransitionRun(running.id, To(Phase::kRunning)));
  ASSERT_OK(store_->TransitionRun(done.id, To(Phase::kCancelled)));

  auto listed = store_->ListRunsInPhases({Phase::kQueued, Phase::kRunning});

  ASSERT_OK(listed);
  std::vector<std::string> ours;
  for (const runs::Run& run : *listed) {
    if (run.agent == agent_) ours.push_back(run.id);
  }
  EXPECT_EQ(ours, (std::vector<std::string>{queued_early.id, running.id, queued_late.id}));
  auto empty = store_->ListRunsInPhases({});
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

// --- throughput under concurrency ---

TEST_P(RunStoreContractTest, ManyConcurrentAsyncCreationsAllSucceedAndAreReadable) {
  constexpr int kThreads = 64;
  constexpr int kPerThread = 200;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::string> failures;
  std::vector<std::string> ids(kThreads * kPerThread);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        runs::Run run = NewRun(agent_, At(i));
        ids[t * kPerThread + i] = run.id;
        store_->CreateRunAsync(std::move(run), [&](core::Result<CreateRunResult> result) {
          std::lock_guard lock(mu);
          if (!result.ok()) failures.push_back(result.error().message);
          ++done;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& t : threads) t.join();

  ASSERT_TRUE(WaitForCount(mu, cv, done, kThreads * kPerThread));
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  }
  for (const std::string& id : ids) {
    auto got = store_->GetRun(id);
    ASSERT_TRUE(got.ok()) << id << ": " << got.error().message;
  }
  std::vector<runs::Run> listed = ListAll(*store_, {.agent = agent_}, 1000);
  std::vector<std::string> listed_ids = Ids(listed);
  EXPECT_EQ(listed_ids.size(), ids.size());
  EXPECT_EQ(std::set<std::string>(listed_ids.begin(), listed_ids.end()),
            std::set<std::string>(ids.begin(), ids.end()));
}

// --- governance fields of transitions ---

TEST_P(RunStoreContractTest, TransitionsSetAndClearTheApprovalExpiryAllowanceAndBudgets) {
  runs::Run run = NewRun(agent_);
  run.phase = Phase::kAwaitingApproval;
  run.approval_expires_at = At(60'000);
  ASSERT_OK(store_->CreateRun(run));

  Transition extend = To(Phase::kAwaitingApproval);
  extend.from = {Phase::kAwaitingApproval};
  // Not a legal phase change (AwaitingApproval -> AwaitingApproval): refused, nothing changes.
  extend.approval_expires_at = At(120'000);
  ASSERT_FALSE(store_->TransitionRun(run.id, extend).ok());
  EXPECT_EQ(store_->GetRun(run.id)->approval_expires_at, At(60'000));

  Transition approve = To(Phase::kQueued, "Approved");
  approve.clear_approval_expiry = true;
  approve.allowance_micros = 2'500'000;
  approve.budgets = std::vector<std::string>{"org", "team-x"};
  auto approved = store_->TransitionRun(run.id, approve);
  ASSERT_OK(approved);
  EXPECT_FALSE(approved->run.approval_expires_at.has_value());
  EXPECT_EQ(approved->run.allowance_micros, 2'500'000);
  EXPECT_EQ(approved->run.budgets, (std::vector<std::string>{"org", "team-x"}));
  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  ExpectSameRun(*got, approved->run);

  // A transition that does not mention them keeps them.
  ASSERT_OK(store_->TransitionRun(run.id, To(Phase::kStarting)));
  got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->allowance_micros, 2'500'000);
  EXPECT_EQ(got->budgets, (std::vector<std::string>{"org", "team-x"}));

  // Releasing the reservation: allowance 0 and no budgets.
  Transition finish = To(Phase::kSucceeded, "Completed");
  finish.allowance_micros = 0;
  finish.budgets = std::vector<std::string>{};
  ASSERT_OK(store_->TransitionRun(run.id, finish));
  got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(got->allowance_micros, 0);
  EXPECT_TRUE(got->budgets.empty());
}

TEST_P(RunStoreContractTest, ATransitionSetsTheApprovalExpiryToTheMillisecond) {
  runs::Run run = NewRun(agent_);
  run.phase = Phase::kPending;
  ASSERT_OK(store_->CreateRun(run));
  Transition wait = To(Phase::kAwaitingApproval, "ApprovalRequired");
  wait.approval_expires_at = At(5000) + std::chrono::microseconds(999);

  auto waiting = store_->TransitionRun(run.id, wait);

  ASSERT_OK(waiting);
  EXPECT_EQ(waiting->run.approval_expires_at, At(5000));
  EXPECT_EQ(store_->GetRun(run.id)->approval_expires_at, At(5000));
}

TEST_P(RunStoreContractTest, ATransitionWithANegativeAllowanceIsRefusedAndChangesNothing) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  Transition bad = To(Phase::kStarting);
  bad.allowance_micros = -5;

  auto refused = store_->TransitionRun(run.id, bad);

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kQueued);
  EXPECT_EQ(AllEvents(*store_, run.id).size(), 1u);
}

// --- usage queries ---

core::TimePoint Utc(std::string_view rfc3339) {
  auto parsed = core::ParseRfc3339(rfc3339);
  EXPECT_TRUE(parsed.ok()) << rfc3339;
  return parsed.ok() ? *parsed : core::TimePoint{};
}

EventDraft UsageEvent(std::string model, core::TimePoint time, int64_t cost_micros,
                      int64_t input_tokens = 10) {
  return EventDraft{.type = "usage",
                    .data = {{"model", model}},
                    .time = time,
                    .usage = UsageRecord{std::move(model),
                                         {.input_tokens = input_tokens,
                                          .cached_input_tokens = 1,
                                          .output_tokens = 2,
                                          .cost_micros = cost_micros,
                                          .model_calls = 1}}};
}

// A query over a wide window around kT0 limited to one team.
UsageQuery TeamQuery(const std::string& team, std::vector<std::string> group_by = {}) {
  UsageQuery query;
  query.from = Utc("2020-01-01T00:00:00Z");
  query.to = Utc("2040-01-01T00:00:00Z");
  query.group_by = std::move(group_by);
  query.team = team;
  return query;
}

TEST_P(RunStoreContractTest, UsageRowsTakeTheRunsAttribution) {
  runs::Run run = NewRun(agent_);
  run.team = "team-" + core::RandomHex(6);
  run.cost_center = "cc-" + core::RandomHex(4);
  run.tier = 3;
  run.caller = "key-" + core::RandomHex(4);
  ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->AppendEvents(
      run.id, {UsageEvent("m1", At(1), 100, 10), UsageEvent("m2", At(2), 250, 5)}));

  auto rows = store_->QueryUsage(
      TeamQuery(run.team, {"agent", "team", "costCenter", "tier", "caller", "model"}));

  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  const std::map<std::string, std::string> want_m1 = {
      {"agent", agent_}, {"team", run.team},     {"costCenter", run.cost_center},
      {"tier", "3"},     {"caller", run.caller}, {"model", "m1"}};
  EXPECT_EQ((*rows)[0].group, want_m1);
  EXPECT_EQ((*rows)[0].runs, 1);
  EXPECT_EQ((*rows)[0].usage, (runs::Usage{.input_tokens = 10,
                                           .cached_input_tokens = 1,
                                           .output_tokens = 2,
                                           .cost_micros = 100,
                                           .model_calls = 1}));
  EXPECT_EQ((*rows)[1].group.at("model"), "m2");
  EXPECT_EQ((*rows)[1].usage.cost_micros, 250);
}

TEST_P(RunStoreContractTest, QueryUsageGroupsInTheGivenOrderAndSortsRowsByTheirValues) {
  const std::string team = "team-" + core::RandomHex(6);
  runs::Run b = NewRun(agent_ + "-b");
  b.team = team;
  runs::Run a1 = NewRun(agent_ + "-a");
  a1.team = team;
  runs::Run a2 = NewRun(agent_ + "-a");
  a2.team = team;
  for (const runs::Run& run : {b, a1, a2}) ASSERT_OK(store_->CreateRun(run));
  // UTC day boundaries: the last millisecond of a day and the first of the next.
  const TimePoint day1 = Utc("2027-01-15T23:59:59.999Z");
  const TimePoint day2 = Utc("2027-01-16T00:00:00Z");
  ASSERT_OK(store_->AppendEvents(b.id, {UsageEvent("m", day1, 7)}));
  ASSERT_OK(store_->AppendEvents(a1.id, {UsageEvent("m", day2, 20), UsageEvent("m", day1, 1)}));
  ASSERT_OK(store_->AppendEvents(a2.id, {UsageEvent("m", day1, 3), UsageEvent("m", day2, 40)}));

  auto by_agent_day = store_->QueryUsage(TeamQuery(team, {"agent", "day"}));
  auto by_day_agent = store_->QueryUsage(TeamQuery(team, {"day", "agent"}));

  ASSERT_OK(by_agent_day);
  ASSERT_EQ(by_agent_day->size(), 3u);
  const auto& rows = *by_agent_day;
  EXPECT_EQ(rows[0].group,
            (std::map<std::string, std::string>{{"agent", agent_ + "-a"}, {"day", "2027-01-15"}}));
  EXPECT_EQ(rows[0].usage.cost_micros, 4);
  EXPECT_EQ(rows[0].usage.model_calls, 2);
  EXPECT_EQ(rows[0].runs, 2);
  EXPECT_EQ(rows[1].group,
            (std::map<std::string, std::string>{{"agent", agent_ + "-a"}, {"day", "2027-01-16"}}));
  EXPECT_EQ(rows[1].usage.cost_micros, 60);
  EXPECT_EQ(rows[1].runs, 2);
  EXPECT_EQ(rows[2].group,
            (std::map<std::string, std::string>{{"agent", agent_ + "-b"}, {"day", "2027-01-15"}}));
  EXPECT_EQ(rows[2].usage.cost_micros, 7);
  EXPECT_EQ(rows[2].runs, 1);
  ASSERT_OK(by_day_agent);
  ASSERT_EQ(by_day_agent->size(), 3u);
  EXPECT_EQ((*by_day_agent)[0].group.at("day"), "2027-01-15");
  EXPECT_EQ((*by_day_agent)[0].group.at("agent"), agent_ + "-a");
  EXPECT_EQ((*by_day_agent)[1].group.at("day"), "2027-01-15");
  EXPECT_EQ((*by_day_agent)[1].group.at("agent"), agent_ + "-b");
  EXPECT_EQ((*by_day_agent)[2].group.at("day"), "2027-01-16");
}

TEST_P(RunStoreContractTest, QueryUsageGroupsByUtcMonthAndTierAsDecimalText) {
  const std::string team = "team-" + core::RandomHex(6);
  runs::Run low = NewRun(agent_);
  low.team = team;
  low.tier = 2;
  runs::Run high = NewRun(agent_);
  high.team = team;
  high.tier = 4;
  for (const runs::Run& run : {low, high}) ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->AppendEvents(low.id, {UsageEvent("m", Utc("2027-01-31T23:59:59.999Z"), 1),
                                          UsageEvent("m", Utc("2027-02-01T00:00:00Z"), 2)}));
  ASSERT_OK(store_->AppendEvents(high.id, {UsageEvent("m", Utc("2027-02-14T12:00:00Z"), 4)}));

  auto rows = store_->QueryUsage(TeamQuery(team, {"month", "tier"}));

  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].group,
            (std::map<std::string, std::string>{{"month", "2027-01"}, {"tier", "2"}}));
  EXPECT_EQ((*rows)[0].usage.cost_micros, 1);
  EXPECT_EQ((*rows)[1].group,
            (std::map<std::string, std::string>{{"month", "2027-02"}, {"tier", "2"}}));
  EXPECT_EQ((*rows)[1].usage.cost_micros, 2);
  EXPECT_EQ((*rows)[2].group,
            (std::map<std::string, std::string>{{"month", "2027-02"}, {"tier", "4"}}));
  EXPECT_EQ((*rows)[2].usage.cost_micros, 4);
}

TEST_P(RunStoreContractTest, QueryUsageWithoutGroupByIsOneTotalRowEvenWhenNothingMatches) {
  const std::string team = "team-" + core::RandomHex(6);
  runs::Run one = NewRun(agent_);
  one.team = team;
  runs::Run two = NewRun(agent_);
  two.team = team;
  for (const runs::Run& run : {one, two}) ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->AppendEvents(one.id, {UsageEvent("m1", At(1), 5, 100)}));
  ASSERT_OK(store_->AppendEvents(
      two.id, {UsageEvent("m2", At(2), 6, 200), UsageEvent("m2", At(3), 7, 300)}));

  auto total = store_->QueryUsage(TeamQuery(team));
  auto nothing = store_->QueryUsage(TeamQuery(team + "-none"));
  auto nothing_grouped = store_->QueryUsage(TeamQuery(team + "-none", {"agent"}));

  ASSERT_OK(total);
  ASSERT_EQ(total->size(), 1u);
  EXPECT_TRUE((*total)[0].group.empty());
  EXPECT_EQ((*total)[0].runs, 2);
  EXPECT_EQ((*total)[0].usage, (runs::Usage{.input_tokens = 600,
                                            .cached_input_tokens = 3,
                                            .output_tokens = 6,
                                            .cost_micros = 18,
                                            .model_calls = 3}));
  ASSERT_OK(nothing);
  ASSERT_EQ(nothing->size(), 1u);
  EXPECT_EQ((*nothing)[0].runs, 0);
  EXPECT_EQ((*nothing)[0].usage, runs::Usage{});
  ASSERT_OK(nothing_grouped);
  EXPECT_TRUE(nothing_grouped->empty());
}

TEST_P(RunStoreContractTest, QueryUsageCountsTheHalfOpenIntervalFromInclusiveToExclusive) {
  const std::string team = "team-" + core::RandomHex(6);
  runs::Run run = NewRun(agent_);
  run.team = team;
  ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->AppendEvents(
      run.id, {UsageEvent("m", At(0), 1), UsageEvent("m", At(10), 2), UsageEvent("m", At(20), 4)}));
  UsageQuery query = TeamQuery(team);
  query.from = At(0);
  query.to = At(20);

  auto rows = store_->QueryUsage(query);
  query.from = At(20);
  auto empty_interval = store_->QueryUsage(query);

  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].usage.cost_micros, 3);
  ASSERT_OK(empty_interval);
  ASSERT_EQ(empty_interval->size(), 1u);
  EXPECT_EQ((*empty_interval)[0].usage.cost_micros, 0);
}

TEST_P(RunStoreContractTest, QueryUsageFiltersAllMatch) {
  const std::string team = "team-" + core::RandomHex(6);
  runs::Run a = NewRun(agent_);
  a.team = team;
  a.cost_center = "cc-a";
  a.tier = 1;
  a.caller = "alice";
  runs::Run b = NewRun(agent_ + "-other");
  b.team = team;
  b.cost_center = "cc-b";
  b.tier = 2;
  b.caller = "bob";
  for (const runs::Run& run : {a, b}) ASSERT_OK(store_->CreateRun(run));
  ASSERT_OK(store_->AppendEvents(a.id, {UsageEvent("m1", At(1), 1), UsageEvent("m2", At(1), 2)}));
  ASSERT_OK(store_->AppendEvents(b.id, {UsageEvent("m1", At(1), 4), UsageEvent("m2", At(1), 8)}));
  auto cost = [&](UsageQuery query) -> int64_t {
    auto rows = store_->QueryUsage(query);
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    if (!rows.ok() || rows->size() != 1) return -1;
    return (*rows)[0].usage.cost_micros;
  };

  UsageQuery q = TeamQuery(team);
  EXPECT_EQ(cost(q), 15);
  q.agent = agent_;
  EXPECT_EQ(cost(q), 3);
  q.model = "m2";
  EXPECT_EQ(cost(q), 2);
  q = TeamQuery(team);
  q.cost_center = "cc-b";
  EXPECT_EQ(cost(q), 12);
  q = TeamQuery(team);
  q.tier = 1;
  EXPECT_EQ(cost(q), 3);
  q = TeamQuery(team);
  q.caller = "bob";
  q.model = "m1";
  EXPECT_EQ(cost(q), 4);
  q.caller = "carol";
  EXPECT_EQ(cost(q), 0);
}

TEST_P(RunStoreContractTest, QueryUsageRejectsUnknownOrRepeatedDimensionsAndABackwardInterval) {
  UsageQuery query = TeamQuery("team-" + core::RandomHex(6));
  for (std::vector<std::string> group_by :
       std::vector<std::vector<std::string>>{{"week"}, {"agent", "agent"}, {"Agent"}, {""}}) {
    query.group_by = group_by;
    auto rows = store_->QueryUsage(query);
    ASSERT_FALSE(rows.ok()) << ::testing::PrintToString(group_by);
    EXPECT_EQ(rows.error().code, core::ErrorCode::kInvalidArgument);
  }
  query.group_by = {};
  std::swap(query.from, query.to);
  auto backwards = store_->QueryUsage(query);
  ASSERT_FALSE(backwards.ok());
  EXPECT_EQ(backwards.error().code, core::ErrorCode::kInvalidArgument);
  // Every documented dimension at once is fine.
  query = TeamQuery("team-" + core::RandomHex(6));
  query.group_by.assign(std::begin(kUsageDimensions), std::end(kUsageDimensions));
  EXPECT_OK(store_->QueryUsage(query));
}

// --- audit log ---

using governance::AuditEntry;
using governance::AuditEntryDraft;

AuditEntryDraft Draft(std::string actor, std::string action, std::string subject,
                      TimePoint time = kT0, core::Json details = core::Json::object()) {
  return AuditEntryDraft{.time = time,
                         .actor = std::move(actor),
                         .action = std::move(action),
                         .subject = std::move(subject),
                         .details = std::move(details)};
}

AuditHead Head(RunStore& store) {
  auto head = store.GetAuditHead();
  EXPECT_TRUE(head.ok()) << head.error().message;
  return head.ok() ? *head : AuditHead{};
}

// Every entry after `after_index`, ascending.
std::vector<AuditEntry> AuditAfter(RunStore& store, int64_t after_index) {
  std::vector<AuditEntry> all;
  while (true) {
    auto page = store.ReadAudit(after_index, 10000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->empty()) return all;
    after_index = page->back().index;
    all.insert(all.end(), page->begin(), page->end());
  }
}

// The entries continue the chain after `head` without gaps: consecutive indices, each linked to
// its predecessor, each hash intact.
void ExpectChainContinues(const AuditHead& head, const std::vector<AuditEntry>& entries) {
  int64_t index = head.count;
  std::string prev = head.head_hash;
  for (const AuditEntry& entry : entries) {
    ++index;
    EXPECT_EQ(entry.index, index);
    EXPECT_EQ(entry.prev_hash, prev) << "entry " << entry.index;
    EXPECT_EQ(entry.hash, governance::EntryHash(entry)) << "entry " << entry.index;
    prev = entry.hash;
  }
}

std::vector<core::Json> AsJson(const std::vector<AuditEntry>& entries) {
  std::vector<core::Json> out;
  for (const AuditEntry& entry : entries) out.push_back(governance::EntryToJson(entry));
  return out;
}

TEST_P(RunStoreContractTest, AppendAuditChainsTheEntriesAfterTheHeadAndReturnsThemAsStored) {
  AuditHead before = Head(*store_);
  const std::string actor = "actor-" + core::RandomHex(4);

  auto appended = store_->AppendAudit(
      {Draft(actor, "run.submitted", "run-1", At(1) + std::chrono::microseconds(700),
             {{"agent", agent_},
              {"allowanceMicros", 5000000},
              {"budgets", {"org"}},
              {"nested", {{"ok", true}, {"none", nullptr}}},
              {"text", "\xc3\xa9 \"q\"\n"}}),
       Draft(actor, "run.admitted", "run-1", At(2)), Draft(actor, "catalog.changed", "", At(3))});

  ASSERT_OK(appended);
  ASSERT_EQ(appended->size(), 3u);
  ExpectChainContinues(before, *appended);
  const AuditEntry& first = (*appended)[0];
  EXPECT_EQ(first.time, At(1));
  EXPECT_EQ(first.actor, actor);
  EXPECT_EQ(first.action, "run.submitted");
  EXPECT_EQ(first.subject, "run-1");
  EXPECT_EQ(first.details["allowanceMicros"], 5000000);
  EXPECT_EQ(first.details["text"], "\xc3\xa9 \"q\"\n");
  EXPECT_EQ((*appended)[2].subject, "");
  auto head = store_->GetAuditHead();
  ASSERT_OK(head);
  EXPECT_EQ(head->count, before.count + 3);
  EXPECT_EQ(head->head_hash, appended->back().hash);
  auto read = store_->ReadAudit(before.count, 100);
  ASSERT_OK(read);
  EXPECT_EQ(AsJson(*read), AsJson(*appended));
}

TEST_P(RunStoreContractTest, AppendAuditOfNothingWritesNothing) {
  AuditHead before = Head(*store_);

  auto appended = store_->AppendAudit({});

  ASSERT_OK(appended);
  EXPECT_TRUE(appended->empty());
  EXPECT_EQ(Head(*store_).count, before.count);
}

TEST_P(RunStoreContractTest, AppendAuditRefusesAnInvalidDraftAndWritesNoneOfTheBatch) {
  AuditHead before = Head(*store_);
  const std::string actor = "actor-" + core::RandomHex(4);

  auto with_float = store_->AppendAudit(
      {Draft(actor, "run.submitted", "r"), Draft(actor, "x", "r", kT0, {{"ratio", 0.5}})});
  auto without_actor = store_->AppendAudit({Draft("", "run.submitted", "r")});
  auto without_action = store_->AppendAudit({Draft(actor, "", "r")});

  for (const auto* refused : {&with_float, &without_actor, &without_action}) {
    ASSERT_FALSE(refused->ok());
    EXPECT_EQ(refused->error().code, core::ErrorCode::kInvalidArgument);
  }
  EXPECT_THAT(with_float.error().message, HasSubstr("ratio"));
  AuditHead after = Head(*store_);
  EXPECT_EQ(after.count, before.count);
  EXPECT_EQ(after.head_hash, before.head_hash);
  // The next entry continues from the old head.
  auto next = store_->AppendAudit({Draft(actor, "run.submitted", "r")});
  ASSERT_OK(next);
  ExpectChainContinues(before, *next);
}

TEST_P(RunStoreContractTest, CreateRunWritesItsAuditEntriesAndAReplayOrConflictWritesNone) {
  const std::string actor = "actor-" + core::RandomHex(4);
  runs::Run run = NewRun(agent_);
  run.idempotency_key = "idem-" + core::RandomHex(8);
  run.request_hash = "hash-a";
  AuditHead before = Head(*store_);

  auto created = store_->CreateRun(run, {Draft(actor, "run.submitted", run.id, At(1)),
                                         Draft(actor, "run.admitted", run.id, At(1))});
  ASSERT_OK(created);
  ASSERT_TRUE(created->created);
  AuditHead after_create = Head(*store_);
  runs::Run replay = NewRun(agent_);
  replay.idempotency_key = run.idempotency_key;
  replay.request_hash = "hash-a";
  auto replayed = store_->CreateRun(replay, {Draft(actor, "run.submitted", replay.id, At(2))});
  runs::Run conflict = replay;
  conflict.request_hash = "hash-b";
  auto conflicted = store_->CreateRun(conflict, {Draft(actor, "run.submitted", replay.id, At(3))});

  ASSERT_OK(replayed);
  EXPECT_FALSE(replayed->created);
  ASSERT_FALSE(conflicted.ok());
  EXPECT_EQ(after_create.count, before.count + 2);
  AuditHead after = Head(*store_);
  EXPECT_EQ(after.count, after_create.count);
  EXPECT_EQ(after.head_hash, after_create.head_hash);
  auto ours = store_->ListAudit({.actor = actor}, 100, "");
  ASSERT_OK(ours);
  ASSERT_EQ(ours->entries.size(), 2u);
  EXPECT_EQ(ours->entries[0].action, "run.submitted");
  EXPECT_EQ(ours->entries[1].action, "run.admitted");
  ExpectChainContinues(before, ours->entries);
}

TEST_P(RunStoreContractTest, CreateRunWithAnInvalidAuditDraftCreatesNothing) {
  runs::Run run = NewRun(agent_);
  AuditHead before = Head(*store_);

  auto created = store_->CreateRun(run, {Draft("", "run.submitted", run.id)});

  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_FALSE(store_->GetRun(run.id).ok());
  EXPECT_EQ(Head(*store_).count, before.count);
}

TEST_P(RunStoreContractTest, ATransitionWritesItsAuditEntriesAndARefusedOneWritesNone) {
  const std::string actor = "actor-" + core::RandomHex(4);
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  AuditHead before = Head(*store_);
  Transition claim = To(Phase::kStarting, "Claimed");
  claim.from = {Phase::kQueued};
  claim.audit = {Draft(actor, "run.started", run.id, At(5), {{"attempt", 1}})};

  auto claimed = store_->TransitionRun(run.id, claim);
  auto refused = store_->TransitionRun(run.id, claim);  // no longer Queued
  Transition backwards = To(Phase::kPending);           // forbidden by the state machine
  backwards.audit = {Draft(actor, "run.rejected", run.id)};
  auto forbidden = store_->TransitionRun(run.id, backwards);
  Transition unknown = To(Phase::kCancelled);
  unknown.audit = {Draft(actor, "run.cancelled", "run-00000000000000000000000000")};
  auto missing = store_->TransitionRun("run-00000000000000000000000000", unknown);

  ASSERT_OK(claimed);
  ASSERT_FALSE(refused.ok());
  ASSERT_FALSE(forbidden.ok());
  ASSERT_FALSE(missing.ok());
  auto ours = store_->ListAudit({.actor = actor}, 100, "");
  ASSERT_OK(ours);
  ASSERT_EQ(ours->entries.size(), 1u);
  EXPECT_EQ(ours->entries[0].action, "run.started");
  EXPECT_EQ(ours->entries[0].details, (core::Json{{"attempt", 1}}));
  EXPECT_EQ(ours->entries[0].time, At(5));
  ExpectChainContinues(before, ours->entries);
  EXPECT_EQ(Head(*store_).count, before.count + 1);
}

TEST_P(RunStoreContractTest, AnInvalidAuditDraftFailsItsTransitionAndChangesNothing) {
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  AuditHead before = Head(*store_);
  Transition cancel = To(Phase::kCancelled);
  cancel.audit = {Draft("someone", "run.cancelled", run.id),
                  Draft("someone", "run.cancelled", run.id, kT0, {{"share", 0.25}})};

  auto refused = store_->TransitionRun(run.id, cancel);

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->GetRun(run.id)->phase, Phase::kQueued);
  EXPECT_EQ(AllEvents(*store_, run.id).size(), 1u);
  EXPECT_EQ(Head(*store_).count, before.count);
}

TEST_P(RunStoreContractTest, EventsWriteTheirAuditEntriesUnlessDeduplicated) {
  const std::string actor = "runner-" + core::RandomHex(4);
  runs::Run run = NewRun(agent_);
  ASSERT_OK(store_->CreateRun(run));
  AuditHead before = Head(*store_);
  auto tool_call = [&](int64_t runner_seq, std::string name) {
    return EventDraft{.type = "tool_call",
                      .data = {{"name", name}},
                      .time = At(runner_seq),
                      .runner_seq = runner_seq,
                      .audit = Draft(actor, "tool.called", run.id, At(runner_seq),
                                     {{"name", name}, {"seq", runner_seq}})};
  };

  ASSERT_OK(store_->AppendEvents(run.id, {tool_call(1, "read_file"), tool_call(2, "shell")}));
  // A replay of the journal: 2 is dropped with its audit entry, 3 is new.
  auto replay = store_->AppendEvents(
      run.id, {tool_call(2, "shell"), {.type = "log", .time = At(3)}, tool_call(3, "write_file")});

  ASSERT_OK(replay);
  EXPECT_EQ(replay->size(), 2u);
  auto ours = store_->ListAudit({.actor = actor}, 100, "");
  ASSERT_OK(ours);
  std::vector<std::string> names;
  for (const AuditEntry& entry : ours->entries) names.push_back(entry.details.value("name", ""));
  EXPECT_THAT(names, ::testing::ElementsAre("read_file", "shell", "write_file"));
  ExpectChainContinues(before, ours->entries);
}

TEST_P(RunStoreContractTest, ListAuditFiltersByActorActionSubjectAndTime) {
  const std::string actor = "actor-" + core::RandomHex(4);
  const std::string other = actor + "-other";
  ASSERT_OK(store_->AppendAudit(
      {Draft(actor, "run.submitted", "s1", At(0)), Draft(actor, "run.started", "s1", At(10)),
       Draft(actor, "runs.listed", "s2", At(20)), Draft(actor, "runner.note", "s2", At(30)),
       Draft(actor, "budget.exceeded", "s2", At(40)),
       Draft(other, "run.submitted", "s1", At(50))}));
  auto actions = [&](const AuditFilter& filter) {
    std::vector<std::string> out;
    auto page = store_->ListAudit(filter, 100, "");
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok()) return out;
    EXPECT_TRUE(page->next_cursor.empty());
    for (const AuditEntry& entry : page->entries) out.push_back(entry.action);
    return out;
  };
  using ::testing::ElementsAre;

  EXPECT_THAT(actions({.actor = actor}), ElementsAre("run.submitted", "run.started", "runs.listed",
                                                     "runner.note", "budget.exceeded"));
  EXPECT_THAT(actions({.actor = actor, .action = "run."}),
              ElementsAre("run.submitted", "run.started"));
  EXPECT_THAT(actions({.actor = actor, .action = "run.started"}), ElementsAre("run.started"));
  EXPECT_THAT(actions({.actor = actor, .action = "run"}), ElementsAre());
  EXPECT_THAT(actions({.actor = actor, .subject = "s2"}),
              ElementsAre("runs.listed", "runner.note", "budget.exceeded"));
  EXPECT_THAT(actions({.actor = actor, .from = At(10), .to = At(30)}),
              ElementsAre("run.started", "runs.listed"));
  EXPECT_THAT(actions({.actor = other}), ElementsAre("run.submitted"));
  EXPECT_THAT(actions({.actor = actor, .action = "run.", .subject = "s1", .from = At(5)}),
              ElementsAre("run.started"));
}

TEST_P(RunStoreContractTest, ListAuditPagesAscendingWithoutDuplicatesOrOmissions) {
  const std::string actor = "actor-" + core::RandomHex(4);
  std::vector<AuditEntryDraft> drafts;
  for (int i = 0; i < 11; ++i) {
    drafts.push_back(Draft(actor, "test.entry", "s", At(i), {{"i", i}}));
    // Entries of someone else in between, which the filter skips.
    drafts.push_back(Draft(actor + "-noise", "test.entry", "s", At(i)));
  }
  ASSERT_OK(store_->AppendAudit(drafts));

  std::vector<int> seen;
  std::string cursor;
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto page = store_->ListAudit({.actor = actor}, 4, cursor);
    ASSERT_OK(page);
    EXPECT_LE(page->entries.size(), 4u);
    for (const AuditEntry& entry : page->entries) seen.push_back(entry.details.value("i", -1));
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }

  EXPECT_EQ(pages, 2);
  EXPECT_THAT(seen, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
}

TEST_P(RunStoreContractTest, ListAuditRejectsABadLimitOrCursor) {
  for (int limit : {0, -1, 1001}) {
    auto page = store_->ListAudit({}, limit, "");
    ASSERT_FALSE(page.ok()) << limit;
    EXPECT_EQ(page.error().code, core::ErrorCode::kInvalidArgument);
  }
  for (const char* cursor : {"garbage", "-3", "1.5", " 7"}) {
    auto page = store_->ListAudit({}, 10, cursor);
    ASSERT_FALSE(page.ok()) << cursor;
    EXPECT_EQ(page.error().code, core::ErrorCode::kInvalidArgument) << cursor;
  }
  EXPECT_OK(store_->ListAudit({.actor = "nobody-" + core::RandomHex(4)}, 1000, ""));
}

TEST_P(RunStoreContractTest, ReadAuditReturnsEntriesAfterAnIndexUpToTheLimit) {
  const std::string actor = "actor-" + core::RandomHex(4);
  AuditHead before = Head(*store_);
  std::vector<AuditEntryDraft> drafts;
  for (int i = 0; i < 5; ++i) drafts.push_back(Draft(actor, "test.entry", "", At(i), {{"i", i}}));
  auto appended = store_->AppendAudit(drafts);
  ASSERT_OK(appended);

  auto middle = store_->ReadAudit(before.count + 1, 2);
  auto tail = store_->ReadAudit(before.count + 3, 10000);
  auto past_the_end = store_->ReadAudit(before.count + 5, 10);

  ASSERT_OK(middle);
  ASSERT_EQ(middle->size(), 2u);
  EXPECT_EQ((*middle)[0].index, before.count + 2);
  EXPECT_EQ((*middle)[1].details, (core::Json{{"i", 2}}));
  ASSERT_OK(tail);
  EXPECT_EQ(AsJson(*tail), AsJson({(*appended)[3], (*appended)[4]}));
  ASSERT_OK(past_the_end);
  EXPECT_TRUE(past_the_end->empty());
  for (int limit : {0, 10001}) {
    auto bad = store_->ReadAudit(0, limit);
    ASSERT_FALSE(bad.ok()) << limit;
    EXPECT_EQ(bad.error().code, core::ErrorCode::kInvalidArgument);
  }
  auto negative = store_->ReadAudit(-1, 10);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_P(RunStoreContractTest, CheckpointsAreKeptAndListedInCountOrder) {
  const std::string key_id = core::RandomHex(8);
  AuditHead head = Head(*store_);
  governance::Checkpoint later{.count = head.count + 5,
                               .head_hash = core::RandomHex(32),
                               .time = At(2000) + std::chrono::microseconds(300),
                               .key_id = key_id,
                               .signature_b64 = "c2lnbmF0dXJlIGIK"};
  governance::Checkpoint earlier{.count = head.count,
                                 .head_hash = head.head_hash,
                                 .time = At(1000),
                                 .key_id = key_id,
                                 .signature_b64 = "c2lnbmF0dXJlIGEK"};

  ASSERT_OK(store_->SaveCheckpoint(later));
  ASSERT_OK(store_->SaveCheckpoint(earlier));
  auto negative = store_->SaveCheckpoint({.count = -1, .head_hash = "x", .key_id = key_id});
  auto listed = store_->ListCheckpoints();

  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().code, core::ErrorCode::kInvalidArgument);
  ASSERT_OK(listed);
  std::vector<governance::Checkpoint> ours;
  int64_t previous_count = -1;
  for (const governance::Checkpoint& checkpoint : *listed) {
    EXPECT_GE(checkpoint.count, previous_count);
    previous_count = checkpoint.count;
    if (checkpoint.key_id == key_id) ours.push_back(checkpoint);
  }
  ASSERT_EQ(ours.size(), 2u);
  later.time = At(2000);
  EXPECT_EQ(governance::CheckpointToJson(ours[0]), governance::CheckpointToJson(earlier));
  EXPECT_EQ(governance::CheckpointToJson(ours[1]), governance::CheckpointToJson(later));
}

TEST_P(RunStoreContractTest, ConcurrentAuditWritesFromManyThreadsFormOneChain) {
  const std::string actor = "actor-" + core::RandomHex(4);
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 25;
  std::vector<runs::Run> runs;
  for (int t = 0; t < kThreads; ++t) {
    runs.push_back(NewRun(agent_, At(t)));
    ASSERT_OK(store_->CreateRun(runs.back()));
  }
  AuditHead before = Head(*store_);
  std::atomic<int> written{0};
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < kCallsPerThread; ++call) {
        core::Json details = {{"thread", t}, {"call", call}};
        switch (call % 3) {
          case 0: {
            auto r = store_->AppendAudit({Draft(actor, "test.a", "", At(call), details),
                                          Draft(actor, "test.b", "", At(call), details)});
            if (r.ok())
              written += 2;
            else
              ++failures;
            break;
          }
          case 1: {
            EventDraft event{.type = "log", .time = At(call)};
            event.audit = Draft(actor, "test.event", runs[t].id, At(call), details);
            auto r = store_->AppendEvents(runs[t].id, {event});
            if (r.ok())
              ++written;
            else
              ++failures;
            break;
          }
          default: {
            // Refused (Queued -> Running is not allowed): writes nothing.
            Transition refused = To(Phase::kRunning);
            refused.audit = {Draft(actor, "test.refused", runs[t].id, At(call), details)};
            if (store_->TransitionRun(runs[t].id, refused).ok()) ++failures;
            break;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  std::vector<AuditEntry> entries = AuditAfter(*store_, before.count);
  ExpectChainContinues(before, entries);
  std::vector<std::pair<int, int>> last_seen(kThreads, {-1, -1});
  int ours = 0;
  for (const AuditEntry& entry : entries) {
    if (entry.actor != actor) continue;
    ++ours;
    EXPECT_NE(entry.action, "test.refused");
    int t = entry.details.value("thread", -1);
    ASSERT_TRUE(t >= 0 && t < kThreads);
    std::pair<int, int> position{entry.details.value("call", -1), entry.action == "test.b"};
    EXPECT_LT(last_seen[t], position) << "thread " << t << " at entry " << entry.index;
    last_seen[t] = position;
  }
  EXPECT_EQ(ours, written.load());
  AuditHead after = Head(*store_);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(after.count, entries.back().index);
  EXPECT_EQ(after.head_hash, entries.back().hash);
}

// --- runner instance claims (fencing a second pod of one attempt) ---

// A run claimed by the dispatcher: Starting at attempt 1.
runs::Run StartedRun(RunStore& store, const std::string& agent) {
  runs::Run run = NewRun(agent);
  EXPECT_TRUE(store.CreateRun(run).ok());
  Transition claim = To(Phase::kStarting);
  claim.from = {Phase::kQueued};
  claim.increment_attempts = true;
  auto started = store.TransitionRun(run.id, claim);
  EXPECT_TRUE(started.ok());
  return started.ok() ? started->run : run;
}

TEST_P(RunStoreContractTest, TheFirstRunnerInstanceToClaimAnAttemptHoldsIt) {
  runs::Run run = StartedRun(*store_, agent_);

  auto first = store_->ClaimRunnerInstance(run.id, 1, "pod-a");
  auto again = store_->ClaimRunnerInstance(run.id, 1, "pod-a");
  auto second = store_->ClaimRunnerInstance(run.id, 1, "pod-b");

  ASSERT_OK(first);
  EXPECT_TRUE(*first);
  ASSERT_OK(again);
  EXPECT_TRUE(*again);
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
  // The refused instance did not take the claim over.
  EXPECT_TRUE(*store_->ClaimRunnerInstance(run.id, 1, "pod-a"));
}

TEST_P(RunStoreContractTest, ClaimingAnotherAttemptOrAnUnknownRunIsRefused) {
  runs::Run run = StartedRun(*store_, agent_);

  auto stale = store_->ClaimRunnerInstance(run.id, 0, "pod-a");
  auto future = store_->ClaimRunnerInstance(run.id, 2, "pod-a");
  auto unknown = store_->ClaimRunnerInstance("run-00000000000000000000000000", 1, "pod-a");
  auto empty = store_->ClaimRunnerInstance(run.id, 1, "");

  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, core::ErrorCode::kFailedPrecondition);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, core::ErrorCode::kFailedPrecondition);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, core::ErrorCode::kNotFound);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, core::ErrorCode::kInvalidArgument);
  // None of them claimed anything.
  EXPECT_TRUE(*store_->ClaimRunnerInstance(run.id, 1, "pod-b"));
}

TEST_P(RunStoreContractTest, ANewAttemptClearsTheClaimAndTheRunnersSequence) {
  runs::Run run = StartedRun(*store_, agent_);
  ASSERT_TRUE(*store_->ClaimRunnerInstance(run.id, 1, "pod-a"));
  ASSERT_OK(store_->AppendEvents(run.id, {{.type = "log", .time = At(1), .runner_seq = 1},
                                          {.type = "log", .time = At(1), .runner_seq = 2}}));
  Transition back = To(Phase::kQueued);
  back.expect_attempt = 1;
  ASSERT_OK(store_->TransitionRun(run.id, back));
  Transition claim = To(Phase::kStarting);
  claim.increment_attempts = true;

  auto second = store_->TransitionRun(run.id, claim);

  ASSERT_OK(second);
  EXPECT_EQ(second->run.attempts, 2);
  EXPECT_EQ(second->run.runner_seq, 0);
  EXPECT_EQ(store_->GetRun(run.id)->runner_seq, 0);
  auto new_pod = store_->ClaimRunnerInstance(run.id, 2, "pod-b");
  ASSERT_OK(new_pod);
  EXPECT_TRUE(*new_pod);
  EXPECT_EQ(store_->ClaimRunnerInstance(run.id, 1, "pod-a").error().code,
            core::ErrorCode::kFailedPrecondition);
  // The new attempt's runner counts from 1 again, and its events are kept.
  auto fresh = store_->AppendEvents(run.id, {{.type = "log", .time = At(2), .runner_seq = 1}});
  ASSERT_OK(fresh);
  EXPECT_EQ(fresh->size(), 1u);
}

TEST_P(RunStoreContractTest, TransitionsWithinAnAttemptKeepTheClaimAndTheRunnersSequence) {
  runs::Run run = StartedRun(*store_, agent_);
  ASSERT_TRUE(*store_->ClaimRunnerInstance(run.id, 1, "pod-a"));
  ASSERT_OK(store_->AppendEvents(run.id, {{.type = "log", .time = At(1), .runner_seq = 4}}));
  Transition running = To(Phase::kRunning);
  running.expect_attempt = 1;

  auto moved = store_->TransitionRun(run.id, running);

  ASSERT_OK(moved);
  EXPECT_EQ(moved->run.runner_seq, 4);
  EXPECT_FALSE(*store_->ClaimRunnerInstance(run.id, 1, "pod-b"));
  EXPECT_TRUE(*store_->ClaimRunnerInstance(run.id, 1, "pod-a"));
}

TEST_P(RunStoreContractTest, RacingInstancesOfOneAttemptLetExactlyOneWin) {
  runs::Run run = StartedRun(*store_, agent_);
  std::atomic<int> wins{0};
  std::atomic<int> losses{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto claimed = store_->ClaimRunnerInstance(run.id, 1, "pod-" + std::to_string(i));
      if (claimed.ok()) (*claimed ? wins : losses)++;
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(losses.load(), 7);
}

}  // namespace
}  // namespace agentd::store
