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
}

#define ASSERT_OK(expr)                                                 \
  do {                                                                  \
    const auto& agentd_result_ = (expr);                                \
    ASSERT_TRUE(agentd_result_.ok()) << agentd_result_.error().message; \
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

  ASSERT_OK(store_->CreateRun(run));

  auto got = store_->GetRun(run.id);
  ASSERT_OK(got);
  EXPECT_EQ(core::ToUnixMillis(got->created_at), core::ToUnixMillis(kT0));
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

}  // namespace
}  // namespace agentd::store
