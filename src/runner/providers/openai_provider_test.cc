#include "runner/providers/openai_provider.h"

#include <thread>

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"
#include "runner/providers/provider_factory.h"
#include "testing/fake_model_server.h"

namespace agentd::runner {
namespace {

using agentd::testing::FakeModelServer;
using agentd::testing::FakeReply;
using agentd::testing::FakeUsage;
using core::Json;

ChatRequest SimpleRequest() {
  ChatRequest r;
  r.messages = {{.role = Role::kSystem, .content = "be brief"},
                {.role = Role::kUser, .content = "hello"}};
  r.tools = {{.name = "read_file",
              .description = "reads",
              .parameters = {{"type", "object"}, {"properties", Json::object()}}}};
  r.max_tokens = 321;
  return r;
}

class OpenAiProviderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  std::unique_ptr<OpenAiProvider> Provider(int max_retries = 3) {
    OpenAiOptions options;
    options.base_url = server_.base_url() + "/";
    options.model = "test-model";
    options.api_key = "sk-test-key";
    options.request_timeout = std::chrono::seconds(10);
    options.retry = {.max_retries = max_retries, .base_delay = std::chrono::milliseconds(1)};
    options.cancel = &cancel_;
    options.on_retry = [this](const RetryNotice& n) { retries_.push_back(n); };
    return std::make_unique<OpenAiProvider>(transport_, std::move(options));
  }

  FakeModelServer server_;
  httpclient::CurlHttpTransport transport_;
  std::atomic<bool> cancel_{false};
  std::vector<RetryNotice> retries_;
};

TEST_F(OpenAiProviderTest, StreamsTextDeltasAndReturnsTheTurnWithUsage) {
  server_.Enqueue(FakeReply{
      .text = "Hello, world! This is streamed.",
      .usage = FakeUsage{.prompt_tokens = 100, .completion_tokens = 20, .cached_tokens = 40}});
  std::vector<std::string> deltas;
  auto turn =
      Provider()->Complete(SimpleRequest(), [&](std::string_view d) { deltas.emplace_back(d); });
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(turn->text, "Hello, world! This is streamed.");
  EXPECT_GT(deltas.size(), 2u);
  std::string joined;
  for (const auto& d : deltas) joined += d;
  EXPECT_EQ(joined, turn->text);
  EXPECT_EQ(turn->finish_reason, "stop");
  EXPECT_TRUE(turn->tool_calls.empty());
  EXPECT_EQ(turn->usage.prompt_tokens, 100);
  EXPECT_EQ(turn->usage.completion_tokens, 20);
  EXPECT_EQ(turn->usage.cached_tokens, 40);
}

TEST_F(OpenAiProviderTest, SendsTheOpenAiRequestShape) {
  server_.EnqueueText("ok");
  ASSERT_TRUE(Provider()->Complete(SimpleRequest(), nullptr).ok());
  auto requests = server_.completion_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer sk-test-key");
  Json body = requests[0].BodyJson();
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["max_tokens"], 321);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][1]["content"], "hello");
  EXPECT_EQ(body["tools"][0]["type"], "function");
  EXPECT_EQ(body["tools"][0]["function"]["name"], "read_file");
}

TEST_F(OpenAiProviderTest, AssemblesToolCallsFromArgumentFragments) {
  server_.Enqueue(FakeReply{
      .text = "Let me look.",
      .tool_calls = {{.id = "call_a", .name = "read_file", .arguments = R"({"path":"x.txt"})"},
                     {.id = "call_b",
                      .name = "write_file",
                      .arguments = R"({"path":"y.txt","content":"multi\nline \u00e9"})"}}});
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(turn->finish_reason, "tool_calls");
  EXPECT_EQ(turn->text, "Let me look.");
  ASSERT_EQ(turn->tool_calls.size(), 2u);
  EXPECT_EQ(turn->tool_calls[0].id, "call_a");
  EXPECT_EQ(turn->tool_calls[0].name, "read_file");
  EXPECT_EQ(turn->tool_calls[0].arguments, R"({"path":"x.txt"})");
  EXPECT_EQ(turn->tool_calls[1].id, "call_b");
  EXPECT_EQ(Json::parse(turn->tool_calls[1].arguments)["content"], "multi\nline \u00e9");
}

TEST_F(OpenAiProviderTest, SendsToolCallsAndToolResultsBackInWireFormat) {
  server_.EnqueueText("done");
  ChatRequest request = SimpleRequest();
  request.messages.push_back(
      {.role = Role::kAssistant, .tool_calls = {{.id = "c1", .name = "shell", .arguments = "{}"}}});
  request.messages.push_back({.role = Role::kTool, .content = "output", .tool_call_id = "c1"});
  ASSERT_TRUE(Provider()->Complete(request, nullptr).ok());
  Json messages = server_.completion_requests()[0].BodyJson()["messages"];
  EXPECT_TRUE(messages[2]["content"].is_null());
  EXPECT_EQ(messages[2]["tool_calls"][0]["function"]["name"], "shell");
  EXPECT_EQ(messages[2]["tool_calls"][0]["type"], "function");
  EXPECT_EQ(messages[3]["role"], "tool");
  EXPECT_EQ(messages[3]["tool_call_id"], "c1");
}

TEST_F(OpenAiProviderTest, RetriesRateLimitThenSucceeds) {
  server_.Enqueue(FakeReply{.status = 429, .retry_after = "0"});
  server_.EnqueueText("after the limit");
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(turn->text, "after the limit");
  ASSERT_EQ(retries_.size(), 1u);
  EXPECT_EQ(retries_[0].attempt, 1);
  EXPECT_EQ(retries_[0].delay, std::chrono::milliseconds(0));
  EXPECT_NE(retries_[0].error.find("429"), std::string::npos);
  EXPECT_EQ(server_.completion_requests().size(), 2u);
}

TEST_F(OpenAiProviderTest, RetriesServerErrorsWithBackoff) {
  server_.Enqueue(FakeReply{.status = 500});
  server_.Enqueue(FakeReply{.status = 503});
  server_.EnqueueText("third time");
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(retries_.size(), 2u);
}

TEST_F(OpenAiProviderTest, RetriesAStreamCutMidwayAndReturnsOnlyTheRetriedText) {
  server_.Enqueue(FakeReply{.text = "first attempt that is cut", .cut_after_chunks = 3});
  server_.EnqueueText("second attempt");
  std::string seen;
  auto turn = Provider()->Complete(SimpleRequest(), [&](std::string_view d) { seen += d; });
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(turn->text, "second attempt");
  EXPECT_EQ(retries_.size(), 1u);
  EXPECT_TRUE(seen.ends_with("second attempt"));
}

TEST_F(OpenAiProviderTest, TreatsACleanEndWithoutDoneOrFinishReasonAsCut) {
  server_.Enqueue(FakeReply{.text = "partial", .cut_after_chunks = 2, .clean_cut = true});
  server_.EnqueueText("complete");
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  ASSERT_TRUE(turn.ok()) << turn.error().message;
  EXPECT_EQ(turn->text, "complete");
  ASSERT_EQ(retries_.size(), 1u);
  EXPECT_NE(retries_[0].error.find("ended early"), std::string::npos);
}

TEST_F(OpenAiProviderTest, GivesUpAfterMaxRetries) {
  for (int i = 0; i < 3; ++i) server_.Enqueue(FakeReply{.status = 502});
  auto turn = Provider(/*max_retries=*/2)->Complete(SimpleRequest(), nullptr);
  ASSERT_FALSE(turn.ok());
  EXPECT_EQ(turn.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(turn.error().message.find("after 3 attempts"), std::string::npos);
  EXPECT_EQ(server_.completion_requests().size(), 3u);
}

TEST_F(OpenAiProviderTest, DoesNotRetryAuthenticationFailures) {
  server_.Enqueue(FakeReply{
      .status = 401,
      .error_body =
          R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})"});
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  ASSERT_FALSE(turn.ok());
  EXPECT_EQ(turn.error().code, core::ErrorCode::kUnauthenticated);
  EXPECT_NE(turn.error().message.find("Incorrect API key provided"), std::string::npos);
  EXPECT_EQ(turn.error().message.find("sk-test-key"), std::string::npos);
  EXPECT_EQ(server_.completion_requests().size(), 1u);
}

TEST_F(OpenAiProviderTest, CancelStopsASilentCall) {
  server_.Enqueue(FakeReply{.text = "late", .delay = std::chrono::seconds(30)});
  std::thread canceller([&] {
    server_.WaitForCompletionRequests(1, std::chrono::seconds(10));
    cancel_ = true;
  });
  auto turn = Provider()->Complete(SimpleRequest(), nullptr);
  canceller.join();
  ASSERT_FALSE(turn.ok());
  EXPECT_EQ(turn.error().code, core::ErrorCode::kAborted);
  EXPECT_TRUE(retries_.empty());
}

TEST(ChatStreamAccumulatorTest, ConcatenatesFragmentsPerIndexAcrossChunks) {
  ChatStreamAccumulator acc;
  std::string text;
  TextSink sink = [&](std::string_view d) { text += d; };
  for (
      const char* chunk :
      {R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
       R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"sh","arguments":"{\"c"}}]}}]})",
       R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"read_file","arguments":""}}]}}]})",
       R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"md\":1}"}}]}}]})",
       R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"","arguments":"{}"}}]}}]})",
       R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null})",
       R"({"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}})",
       "[DONE]"}) {
    ASSERT_TRUE(acc.OnData(chunk, sink).ok()) << chunk;
  }
  auto turn = acc.Finish();
  ASSERT_TRUE(turn.ok());
  ASSERT_EQ(turn->tool_calls.size(), 2u);
  EXPECT_EQ(turn->tool_calls[0].id, "a");
  EXPECT_EQ(turn->tool_calls[0].name, "read_file");
  EXPECT_EQ(turn->tool_calls[0].arguments, "{}");
  EXPECT_EQ(turn->tool_calls[1].name, "sh");
  EXPECT_EQ(turn->tool_calls[1].arguments, R"({"cmd":1})");
  EXPECT_EQ(turn->usage.prompt_tokens, 9);
  EXPECT_EQ(turn->usage.cached_tokens, 2);
  EXPECT_EQ(text, "");
}

TEST(ChatStreamAccumulatorTest, HandlesServersThatOmitTheToolCallIndex) {
  ChatStreamAccumulator acc;
  for (
      const char* chunk :
      {R"({"choices":[{"delta":{"tool_calls":[{"id":"x","function":{"name":"a","arguments":"{\"p\""}}]}}]})",
       R"({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}]})",
       R"({"choices":[{"delta":{"tool_calls":[{"id":"y","function":{"name":"b","arguments":"{}"}}]}}]})",
       R"({"choices":[{"delta":{},"finish_reason":"tool_calls"}]})"}) {
    ASSERT_TRUE(acc.OnData(chunk, nullptr).ok());
  }
  auto turn = acc.Finish();
  ASSERT_TRUE(turn.ok());
  ASSERT_EQ(turn->tool_calls.size(), 2u);
  EXPECT_EQ(turn->tool_calls[0].arguments, R"({"p":1})");
  EXPECT_EQ(turn->tool_calls[1].id, "y");
}

TEST(ChatStreamAccumulatorTest, ReportsIncompleteStreamsAndErrors) {
  ChatStreamAccumulator acc;
  ASSERT_TRUE(acc.OnData(R"({"choices":[{"delta":{"content":"hal"}}]})", nullptr).ok());
  auto turn = acc.Finish();
  ASSERT_FALSE(turn.ok());
  EXPECT_EQ(turn.error().code, core::ErrorCode::kUnavailable);

  ChatStreamAccumulator bad;
  EXPECT_EQ(bad.OnData("{not json", nullptr).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.OnData(R"({"error":{"message":"overloaded"}})", nullptr).error().code,
            core::ErrorCode::kUnavailable);
}

TEST(ChatCompletionTest, ParsesANonStreamingAnswer) {
  auto turn = ParseChatCompletion(Json::parse(R"({
    "choices":[{"index":0,"message":{"role":"assistant","content":null,
      "tool_calls":[{"id":"c","type":"function","function":{"name":"shell","arguments":"{}"}}]},
      "finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":3,"completion_tokens":1}})"));
  ASSERT_TRUE(turn.ok());
  EXPECT_EQ(turn->tool_calls.at(0).name, "shell");
  EXPECT_EQ(turn->usage.prompt_tokens, 3);
}

TEST(BuildChatCompletionBodyTest, UsesMaxCompletionTokensForOpenAi) {
  Json body = BuildChatCompletionBody(SimpleRequest(), "gpt", MaxTokensField::kMaxCompletionTokens);
  EXPECT_EQ(body["max_completion_tokens"], 321);
  EXPECT_FALSE(body.contains("max_tokens"));
}

TEST(ProviderFactoryTest, RefusesAnthropicAndUnknownProviders) {
  httpclient::CurlHttpTransport transport;
  api::v1::RunnerModel model{.provider = "anthropic", .model = "claude"};
  auto anthropic = NewModelProvider(model, {.transport = &transport});
  ASSERT_FALSE(anthropic.ok());
  EXPECT_EQ(anthropic.error().message, "provider anthropic is not supported by the runner yet");
  model.provider = "bogus";
  EXPECT_FALSE(NewModelProvider(model, {.transport = &transport}).ok());
}

TEST(ProviderFactoryTest, RequiresTheKeyVariableForOpenAiOnly) {
  httpclient::CurlHttpTransport transport;
  auto no_env = [](const char*) { return std::optional<std::string>(); };
  api::v1::RunnerModel model{.provider = "openai", .model = "gpt", .api_key_env = "K"};
  auto openai = NewModelProvider(model, {.transport = &transport, .get_env = no_env});
  ASSERT_FALSE(openai.ok());
  EXPECT_EQ(openai.error().code, core::ErrorCode::kFailedPrecondition);
  model.provider = "openai-compatible";
  model.base_url = "http://127.0.0.1:1/v1";
  EXPECT_TRUE(NewModelProvider(model, {.transport = &transport, .get_env = no_env}).ok());
}

TEST(ProviderFactoryTest, SaysWhyAnOpenAiModelWithOnlyASecretRefCannotRunLocally) {
  httpclient::CurlHttpTransport transport;
  // What the scheduler builds for a Model with apiKey {secretRef: ...} and no env.
  api::v1::RunnerModel model{.provider = "openai", .model = "gpt", .api_key_env = ""};
  auto openai = NewModelProvider(model, {.transport = &transport});
  ASSERT_FALSE(openai.ok());
  EXPECT_EQ(openai.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_NE(openai.error().message.find("apiKey.env"), std::string::npos) << openai.error().message;
  EXPECT_NE(openai.error().message.find("secretRef"), std::string::npos);
  // A local OpenAI-compatible server needs no key.
  model.provider = "openai-compatible";
  model.base_url = "http://127.0.0.1:1/v1";
  EXPECT_TRUE(NewModelProvider(model, {.transport = &transport}).ok());
}

}  // namespace
}  // namespace agentd::runner
