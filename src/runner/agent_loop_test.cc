#include "runner/agent_loop.h"

#include <algorithm>
#include <deque>
#include <mutex>

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace agentd::runner {
namespace {

using core::Json;

struct RecordedEvent {
  std::string type;
  Json data;
};

class VectorEventSink final : public EventSink {
 public:
  void Emit(std::string_view type, Json data) override {
    std::lock_guard lock(mu_);
    events_.push_back({std::string(type), std::move(data)});
  }
  std::vector<RecordedEvent> Of(std::string_view type) const {
    std::lock_guard lock(mu_);
    std::vector<RecordedEvent> out;
    for (const auto& e : events_) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }
  std::vector<std::string> Types() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.type);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<RecordedEvent> events_;
};

// A provider that plays back scripted turns, streaming each text in `pieces`.
class ScriptedProvider final : public ModelProvider {
 public:
  struct Step {
    std::vector<std::string> pieces;  // text deltas
    std::vector<ToolCall> tool_calls;
    TokenUsage usage;
    std::optional<core::Error> error;
    std::function<void()> during;  // runs inside the call (e.g. to raise a stop)
  };

  void Add(Step step) { steps_.push_back(std::move(step)); }

  core::Result<ModelTurn> Complete(const ChatRequest& request, const TextSink& on_text) override {
    requests.push_back(request);
    if (steps_.empty()) return core::Internal("script exhausted");
    Step step = std::move(steps_.front());
    steps_.pop_front();
    if (step.during) step.during();
    if (step.error) return *step.error;
    ModelTurn turn;
    for (const auto& p : step.pieces) {
      on_text(p);
      turn.text += p;
    }
    turn.tool_calls = step.tool_calls;
    turn.finish_reason = step.tool_calls.empty() ? "stop" : "tool_calls";
    turn.usage = step.usage;
    return turn;
  }

  std::vector<ChatRequest> requests;

 private:
  std::deque<Step> steps_;
};

// A tool that echoes its "text" argument, or fails when asked to.
class EchoTool final : public Tool {
 public:
  std::string_view name() const override { return "echo"; }
  std::string_view description() const override { return "echoes text"; }
  const Json& parameters() const override {
    static const Json kSchema = {{"type", "object"}};
    return kSchema;
  }
  core::Result<ToolOutput> Call(const Json& args) override {
    ++calls;
    if (args.value("fail", false)) return core::InvalidArgument("asked to fail");
    return ToolOutput{.text = args.value("text", std::string())};
  }
  int calls = 0;
};

api::v1::RunnerSpec Spec() {
  api::v1::RunnerSpec spec;
  spec.run_id = "run-test";
  spec.system_prompt = "You are a test agent.";
  spec.input = "do the thing";
  spec.workspace = "/tmp";
  spec.model.model = "fake-model";
  spec.model.input_per_million = 2'500'000;         // 2.50 USD
  spec.model.cached_input_per_million = 1'250'000;  // 1.25 USD
  spec.model.output_per_million = 10'000'000;       // 10 USD
  spec.limits.max_turns = 5;
  return spec;
}

ToolCall Call(std::string id, std::string name, std::string arguments) {
  return {.id = std::move(id), .name = std::move(name), .arguments = std::move(arguments)};
}

class AgentLoopTest : public ::testing::Test {
 protected:
  AgentLoopTest() { tools_.push_back(std::make_unique<EchoTool>()); }

  RunOutcome Run(const api::v1::RunnerSpec& spec) {
    return RunAgentLoop(spec, AgentLoopDeps{.provider = provider_,
                                            .tools = tools_,
                                            .events = events_,
                                            .clock = clock_,
                                            .stop = stop_});
  }
  EchoTool& echo() { return static_cast<EchoTool&>(*tools_[0]); }

  ScriptedProvider provider_;
  std::vector<std::unique_ptr<Tool>> tools_;
  VectorEventSink events_;
  agentd::testing::FakeClock clock_;
  StopSignal stop_;
};

TEST_F(AgentLoopTest, SucceedsWithTheAnswerOfACallWithoutToolCalls) {
  provider_.Add(
      {.pieces = {"All ", "done."}, .usage = {.prompt_tokens = 10, .completion_tokens = 2}});
  RunOutcome outcome = Run(Spec());
  EXPECT_TRUE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonCompleted);
  EXPECT_EQ(outcome.result, "All done.");
  EXPECT_EQ(outcome.turns, 1);
  ASSERT_EQ(provider_.requests.size(), 1u);
  const auto& messages = provider_.requests[0].messages;
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].role, Role::kSystem);
  EXPECT_EQ(messages[0].content, "You are a test agent.");
  EXPECT_EQ(messages[1].role, Role::kUser);
  EXPECT_EQ(messages[1].content, "do the thing");
  EXPECT_EQ(provider_.requests[0].tools.at(0).name, "echo");
  auto message_events = events_.Of("message");
  ASSERT_EQ(message_events.size(), 1u);
  EXPECT_EQ(message_events[0].data["content"], "All done.");
  EXPECT_EQ(ResultEventData(outcome)["status"], "succeeded");
}

TEST_F(AgentLoopTest, RunsToolCallsAndFeedsResultsBack) {
  provider_.Add(
      {.pieces = {"Calling echo."}, .tool_calls = {Call("c1", "echo", R"({"text":"pong"})")}});
  provider_.Add({.pieces = {"It said pong."}});
  RunOutcome outcome = Run(Spec());
  ASSERT_TRUE(outcome.succeeded) << outcome.error;
  EXPECT_EQ(outcome.result, "It said pong.");
  EXPECT_EQ(echo().calls, 1);

  ASSERT_EQ(provider_.requests.size(), 2u);
  const auto& messages = provider_.requests[1].messages;
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[2].role, Role::kAssistant);
  EXPECT_EQ(messages[2].tool_calls.at(0).id, "c1");
  EXPECT_EQ(messages[3].role, Role::kTool);
  EXPECT_EQ(messages[3].tool_call_id, "c1");
  EXPECT_EQ(messages[3].content, "pong");

  auto calls = events_.Of("tool_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data["name"], "echo");
  EXPECT_EQ(calls[0].data["arguments"]["text"], "pong");
  auto results = events_.Of("tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].data["ok"], true);
  EXPECT_EQ(results[0].data["output"], "pong");
  EXPECT_EQ(events_.Types(),
            (std::vector<std::string>{"delta", "usage", "message", "tool_call", "tool_result",
                                      "delta", "usage", "message"}));
}

TEST_F(AgentLoopTest, AnswersUnknownToolsMalformedArgumentsAndToolErrorsAsErrorResults) {
  provider_.Add({.tool_calls = {Call("a", "rm_rf", "{}"), Call("b", "echo", "{not json"),
                                Call("c", "echo", R"({"fail":true})")}});
  provider_.Add({.pieces = {"ok"}});
  RunOutcome outcome = Run(Spec());
  ASSERT_TRUE(outcome.succeeded);
  const auto& messages = provider_.requests[1].messages;
  ASSERT_EQ(messages.size(), 6u);
  EXPECT_NE(messages[3].content.find("not available to this agent (available: echo)"),
            std::string::npos);
  EXPECT_NE(messages[4].content.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(messages[5].content, "error: asked to fail");
  for (const auto& r : events_.Of("tool_result")) EXPECT_EQ(r.data["ok"], false);
  EXPECT_EQ(events_.Of("tool_call")[1].data["arguments"]["raw"], "{not json");
  EXPECT_EQ(echo().calls, 1);
  // Only the tool the agent does not allow is a violation; bad arguments are the model's slip.
  auto violations = events_.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], kRuleToolNotAllowed);
  EXPECT_NE(violations[0].data["message"].get<std::string>().find("\"rm_rf\""), std::string::npos);
  EXPECT_NE(violations[0].data["message"].get<std::string>().find("allowed: echo"),
            std::string::npos);
  auto types = events_.Types();
  auto call = std::find(types.begin(), types.end(), "tool_call");
  ASSERT_NE(call, types.end());
  EXPECT_EQ(*(call + 1), "violation");
  EXPECT_EQ(*(call + 2), "tool_result");
}

TEST_F(AgentLoopTest, AVeryLongRefusedToolNameGivesABoundedViolationMessage) {
  provider_.Add({.tool_calls = {Call("a", std::string(100'000, 'x'), "{}")}});
  provider_.Add({.pieces = {"ok"}});
  ASSERT_TRUE(Run(Spec()).succeeded);
  auto violations = events_.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_TRUE(api::v1::ValidateViolationData(violations[0].data).ok());
}

TEST_F(AgentLoopTest, FailsWithMaxTurnsExceededWhenTheModelKeepsCallingTools) {
  auto spec = Spec();
  spec.limits.max_turns = 3;
  for (int i = 0; i < 3; ++i) {
    provider_.Add({.tool_calls = {Call("c" + std::to_string(i), "echo", R"({"text":"x"})")}});
  }
  RunOutcome outcome = Run(spec);
  EXPECT_FALSE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonMaxTurns);
  EXPECT_EQ(outcome.turns, 3);
  EXPECT_EQ(provider_.requests.size(), 3u);
  EXPECT_EQ(ResultEventData(outcome)["status"], "failed");
  auto violations = events_.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], kRuleMaxTurns);
  EXPECT_NE(violations[0].data["message"].get<std::string>().find("3 turns"), std::string::npos);
  EXPECT_EQ(events_.Types().back(), "violation");
}

TEST_F(AgentLoopTest, AFailedRunKeepsTheLastNonEmptyAssistantTextAsItsPartialResult) {
  auto spec = Spec();
  spec.limits.max_turns = 2;
  provider_.Add({.pieces = {"first thoughts"}, .tool_calls = {Call("a", "echo", "{}")}});
  provider_.Add({.tool_calls = {Call("b", "echo", "{}")}});  // no text this time
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.reason, kReasonMaxTurns);
  EXPECT_EQ(outcome.result, "first thoughts");
}

TEST_F(AgentLoopTest, ReportsUsageAndCostPerCall) {
  provider_.Add({.tool_calls = {Call("c", "echo", "{}")},
                 .usage = {.prompt_tokens = 1000, .completion_tokens = 500, .cached_tokens = 200}});
  provider_.Add({.pieces = {"fin"}, .usage = {.prompt_tokens = 3, .completion_tokens = 1}});
  RunOutcome outcome = Run(Spec());
  ASSERT_TRUE(outcome.succeeded);
  auto usage = events_.Of("usage");
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].data["model"], "fake-model");
  EXPECT_EQ(usage[0].data["inputTokens"], 1000);
  EXPECT_EQ(usage[0].data["cachedInputTokens"], 200);
  EXPECT_EQ(usage[0].data["outputTokens"], 500);
  // 800 * 2.50 + 200 * 1.25 + 500 * 10 per million = 2000 + 250 + 5000 micro-dollars.
  EXPECT_EQ(usage[0].data["costMicros"], 7250);
  // 3 * 2.50 = 7.5 -> 8, 1 * 10 = 10.
  EXPECT_EQ(usage[1].data["costMicros"], 18);
  EXPECT_EQ(outcome.cost_micros, 7268);
  EXPECT_EQ(outcome.total_tokens, 1504);
}

TEST_F(AgentLoopTest, StopsWhenTheTokenLimitIsReached) {
  auto spec = Spec();
  spec.limits.max_tokens = 100;
  provider_.Add({.tool_calls = {Call("c", "echo", "{}")},
                 .usage = {.prompt_tokens = 90, .completion_tokens = 20}});
  provider_.Add({.pieces = {"never asked"}});
  RunOutcome outcome = Run(spec);
  EXPECT_FALSE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonTokenLimit);
  EXPECT_EQ(provider_.requests.size(), 1u);
}

TEST_F(AgentLoopTest, DoesNotCallWhenTheFirstCallsWorstCaseExceedsTheAllowance) {
  auto spec = Spec();
  // 4096 output tokens at 10 USD per million alone could cost 0.04096 USD.
  spec.limits.max_cost_micros = 5000;
  provider_.Add({.pieces = {"never asked"}});
  RunOutcome outcome = Run(spec);
  EXPECT_FALSE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonBudgetExceeded);
  EXPECT_EQ(outcome.turns, 0);
  EXPECT_TRUE(provider_.requests.empty());
  EXPECT_TRUE(outcome.result.empty());
  auto violations = events_.Of("violation");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].data["rule"], kRuleRunCostLimit);
  EXPECT_NE(violations[0].data["message"].get<std::string>().find("allowance of 0.005 USD"),
            std::string::npos)
      << violations[0].data;
  EXPECT_EQ(ResultEventData(outcome)["reason"], "BudgetExceeded");
}

TEST_F(AgentLoopTest, CallsWhenSpentPlusWorstCaseEqualsTheAllowanceExactly) {
  // Learn the first request (it does not depend on the allowance) from an unlimited run.
  provider_.Add({.pieces = {"a"}});
  ASSERT_TRUE(Run(Spec()).succeeded);
  core::MicroUsd worst_case = WorstCaseCallCost(provider_.requests.at(0), Spec().model);
  ASSERT_GT(worst_case, 40'960);

  auto spec = Spec();
  spec.limits.max_cost_micros = worst_case;
  provider_.Add({.pieces = {"b"}});
  RunOutcome at_limit = Run(spec);
  EXPECT_TRUE(at_limit.succeeded) << at_limit.error;
  EXPECT_EQ(provider_.requests.size(), 2u);

  spec.limits.max_cost_micros = worst_case - 1;
  provider_.Add({.pieces = {"c"}});
  RunOutcome below = Run(spec);
  EXPECT_EQ(below.reason, kReasonBudgetExceeded);
  EXPECT_EQ(provider_.requests.size(), 2u);
}

TEST_F(AgentLoopTest, StopsBeforeASecondCallTheAllowanceCannotCoverAndKeepsThePartialAnswer) {
  auto spec = Spec();
  spec.limits.max_cost_micros = 50'000;  // first call's worst case is about 0.0412 USD
  // 1000 * 2.50 + 1000 * 10 per million = 12500 micro-dollars spent; the second call's worst
  // case (> 40960) no longer fits.
  provider_.Add({.pieces = {"Looking around."},
                 .tool_calls = {Call("c1", "echo", R"({"text":"x"})")},
                 .usage = {.prompt_tokens = 1000, .completion_tokens = 1000}});
  provider_.Add({.pieces = {"never asked"}});
  RunOutcome outcome = Run(spec);
  EXPECT_FALSE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonBudgetExceeded);
  EXPECT_EQ(provider_.requests.size(), 1u);
  EXPECT_EQ(echo().calls, 1);
  EXPECT_EQ(outcome.cost_micros, 12'500);
  EXPECT_EQ(outcome.result, "Looking around.");
  EXPECT_EQ(ResultEventData(outcome)["result"], "Looking around.");
  EXPECT_NE(outcome.error.find("spent 0.0125 USD"), std::string::npos) << outcome.error;
  EXPECT_NE(outcome.error.find("allowance of 0.05 USD"), std::string::npos) << outcome.error;
  EXPECT_EQ(events_.Types(), (std::vector<std::string>{"delta", "usage", "message", "tool_call",
                                                       "tool_result", "violation"}));
  EXPECT_EQ(events_.Of("violation")[0].data["rule"], kRuleRunCostLimit);
  EXPECT_EQ(events_.Of("violation")[0].data["message"], outcome.error);
}

TEST_F(AgentLoopTest, StopsWhenTheModelReportsMoreThanTheEstimateAndUsesUpTheAllowance) {
  auto spec = Spec();
  spec.limits.max_cost_micros = 50'000;
  // 2500 + 50000 micro-dollars: more output than the limit sent, the allowance is used up.
  provider_.Add({.tool_calls = {Call("c1", "echo", "{}")},
                 .usage = {.prompt_tokens = 1000, .completion_tokens = 5000}});
  provider_.Add({.pieces = {"never asked"}});
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.reason, kReasonBudgetExceeded);
  EXPECT_EQ(outcome.cost_micros, 52'500);
  EXPECT_EQ(provider_.requests.size(), 1u);
  EXPECT_NE(outcome.error.find("reaching its allowance"), std::string::npos) << outcome.error;
  EXPECT_EQ(events_.Of("violation").size(), 1u);
}

TEST_F(AgentLoopTest, RefusesAnAllowanceWithoutAnOutputTokenLimit) {
  auto spec = Spec();
  spec.limits.max_cost_micros = 1'000'000;
  spec.model.max_output_tokens = 0;
  provider_.Add({.pieces = {"never asked"}});
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.reason, kReasonInvalidSpec);
  EXPECT_TRUE(provider_.requests.empty());
}

TEST_F(AgentLoopTest, AnUnlimitedAllowanceNeverStopsTheRun) {
  auto spec = Spec();
  spec.limits.max_cost_micros = 0;
  provider_.Add({.tool_calls = {Call("c1", "echo", "{}")},
                 .usage = {.prompt_tokens = 1'000'000, .completion_tokens = 1'000'000}});
  provider_.Add({.pieces = {"done"}});
  RunOutcome outcome = Run(spec);
  EXPECT_TRUE(outcome.succeeded);
  EXPECT_TRUE(events_.Of("violation").empty());
}

TEST_F(AgentLoopTest, LetsAFinalAnswerSucceedEvenIfItCrossesALimit) {
  auto spec = Spec();
  spec.limits.max_tokens = 10;
  provider_.Add({.pieces = {"answer"}, .usage = {.prompt_tokens = 50, .completion_tokens = 5}});
  EXPECT_TRUE(Run(spec).succeeded);
}

TEST_F(AgentLoopTest, EndsWithModelErrorWhenTheProviderFails) {
  provider_.Add({.error = core::Unavailable("model call failed after 5 attempts: HTTP 503")});
  RunOutcome outcome = Run(Spec());
  EXPECT_FALSE(outcome.succeeded);
  EXPECT_EQ(outcome.reason, kReasonModelError);
  EXPECT_NE(outcome.error.find("HTTP 503"), std::string::npos);
}

TEST_F(AgentLoopTest, EndsAsInterruptedWhenStoppedDuringAModelCall) {
  provider_.Add({.error = core::Aborted("cancelled"),
                 .during = [this] { stop_.Stop(StopCause::kInterrupted); }});
  RunOutcome outcome = Run(Spec());
  EXPECT_EQ(outcome.reason, kReasonInterrupted);
}

TEST_F(AgentLoopTest, EndsAsTimedOutAndSkipsRemainingToolsWhenTheDeadlinePasses) {
  provider_.Add({.tool_calls = {Call("a", "echo", "{}"), Call("b", "echo", "{}")},
                 .during = [this] { stop_.Stop(StopCause::kTimedOut); }});
  RunOutcome outcome = Run(Spec());
  EXPECT_EQ(outcome.reason, kReasonTimedOut);
  EXPECT_EQ(echo().calls, 0);
}

TEST_F(AgentLoopTest, CoalescesDeltasButKeepsTheExactText) {
  std::vector<std::string> pieces;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    pieces.push_back("tok" + std::to_string(i) + " ");
    expected += pieces.back();
  }
  provider_.Add({.pieces = pieces});
  RunOutcome outcome = Run(Spec());  // the fake clock does not move: only size flushes
  ASSERT_TRUE(outcome.succeeded);
  auto deltas = events_.Of("delta");
  EXPECT_LT(deltas.size(), 10u);
  EXPECT_GE(deltas.size(), 2u);
  std::string joined;
  for (const auto& d : deltas) joined += d.data["content"].get<std::string>();
  EXPECT_EQ(joined, expected);
  EXPECT_EQ(outcome.result, expected);
}

TEST_F(AgentLoopTest, CutsHugeToolOutputInEventsButNotForTheModel) {
  std::string big(20'000, 'o');
  provider_.Add({.tool_calls = {Call("c", "echo", Json{{"text", big}}.dump())}});
  provider_.Add({.pieces = {"ok"}});
  ASSERT_TRUE(Run(Spec()).succeeded);
  auto result = events_.Of("tool_result").at(0);
  EXPECT_LT(result.data["output"].get<std::string>().size(), kMaxToolResultEventBytes + 100);
  EXPECT_EQ(result.data["truncated"], true);
  EXPECT_EQ(provider_.requests[1].messages[3].content, big);
  auto call = events_.Of("tool_call").at(0);
  EXPECT_LT(call.data["arguments"]["text"].get<std::string>().size(),
            kMaxToolArgumentEventBytes + 100);
}

TEST(EstimateTest, EstimatedTokensRoundUp) {
  EXPECT_EQ(EstimateTokens(0), 0);
  EXPECT_EQ(EstimateTokens(1), 1);
  EXPECT_EQ(EstimateTokens(3), 1);
  EXPECT_EQ(EstimateTokens(4), 2);
  EXPECT_EQ(EstimateTokens(6), 2);
  EXPECT_EQ(EstimateTokens(7), 3);
  EXPECT_EQ(EstimateTokens(3'000'001), 1'000'001);
}

TEST(EstimateTest, PromptBytesCountUtf8BytesOfContentToolCallsAndTools) {
  ChatRequest request;
  request.messages.push_back({.role = Role::kUser, .content = ""});
  size_t empty = PromptBytes(request);
  request.messages[0].content = "ab";
  EXPECT_EQ(PromptBytes(request), empty + 2);
  request.messages[0].content = "\u00e9\u00e9";  // two 2-byte characters, not \u escapes
  EXPECT_EQ(PromptBytes(request), empty + 4);
  size_t before_call = PromptBytes(request);
  request.messages.push_back({.role = Role::kAssistant,
                              .content = "",
                              .tool_calls = {{.id = "c", .name = "echo", .arguments = "{}"}}});
  EXPECT_GT(PromptBytes(request), before_call + 10);
  size_t before_tool = PromptBytes(request);
  request.tools.push_back({.name = "echo", .description = "echoes text", .parameters = {}});
  EXPECT_GT(PromptBytes(request), before_tool + std::string("echoes text").size());
}

TEST(EstimateTest, WorstCaseCostsEstimatedInputAndTheOutputLimitRoundedUp) {
  ChatRequest request;
  request.messages.push_back({.role = Role::kUser, .content = std::string(3000, 'x')});
  request.max_tokens = 100;
  api::v1::RunnerModel prices;
  prices.input_per_million = 1'000'000;  // 1 micro-dollar per token
  prices.output_per_million = 2'000'000;
  int64_t input_tokens = EstimateTokens(PromptBytes(request));
  EXPECT_GE(input_tokens, 1000);
  EXPECT_EQ(WorstCaseCallCost(request, prices), input_tokens + 200);
  // A cached price above the input price is the worst case for input.
  prices.cached_input_per_million = 3'000'000;
  EXPECT_EQ(WorstCaseCallCost(request, prices), 3 * input_tokens + 200);
  // Fractions of a micro-dollar round up.
  prices = {};
  prices.input_per_million = 1;
  prices.output_per_million = 1;
  EXPECT_EQ(WorstCaseCallCost(request, prices), 2);
  request.max_tokens = 0;
  EXPECT_EQ(WorstCaseCallCost(request, prices), 1);
}

TEST(CostOfUsageTest, PricesCachedTokensSeparatelyAndRoundsUp) {
  api::v1::RunnerModel prices;
  prices.input_per_million = 1'000'000;
  prices.cached_input_per_million = 100'000;
  prices.output_per_million = 2'000'000;
  EXPECT_EQ(CostOfUsage({.prompt_tokens = 1, .completion_tokens = 0, .cached_tokens = 0}, prices),
            1);
  EXPECT_EQ(
      CostOfUsage(
          {.prompt_tokens = 1'000'000, .completion_tokens = 1'000'000, .cached_tokens = 500'000},
          prices),
      500'000 + 50'000 + 2'000'000);
  EXPECT_EQ(CostOfUsage({}, prices), 0);
  // More cached tokens than prompt tokens (a confused server) never gives a negative part.
  EXPECT_EQ(CostOfUsage({.prompt_tokens = 10, .completion_tokens = 0, .cached_tokens = 50}, prices),
            1);
}

}  // namespace
}  // namespace agentd::runner
