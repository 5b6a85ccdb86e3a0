#include "testing/fake_model_server.h"

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"
#include "httpclient/sse.h"

namespace agentd::testing {
namespace {

using core::Json;

struct Streamed {
  int status = 0;
  std::vector<Json> chunks;
  bool done = false;
};

Streamed PostStreaming(const std::string& base_url, const Json& body) {
  httpclient::CurlHttpTransport transport;
  httpclient::Request request;
  request.method = "POST";
  request.url = base_url + "/chat/completions";
  request.body = body.dump();
  httpclient::SseParser parser;
  Streamed out;
  auto response = transport.SendStreaming(request, [&](std::string_view bytes) {
    return parser
        .Feed(bytes,
              [&](const httpclient::SseEvent& e) {
                if (e.data == "[DONE]") {
                  out.done = true;
                } else {
                  out.chunks.push_back(Json::parse(e.data));
                }
              })
        .ok();
  });
  EXPECT_TRUE(response.ok());
  if (response.ok()) out.status = response->status;
  return out;
}

Json ChatBody(bool include_usage) {
  return {{"model", "m"},
          {"stream", true},
          {"stream_options", {{"include_usage", include_usage}}},
          {"messages", {{{"role", "user"}, {"content", "write it"}}}}};
}

TEST(FakeModelServerTest, StreamsToolCallArgumentsInFragmentsAndEndsWithUsageAndDone) {
  FakeModelServer server;
  ASSERT_TRUE(server.Start().ok());
  server.Enqueue(FakeReply{
      .tool_calls = {{.id = "call_1",
                      .name = "write_file",
                      .arguments = R"({"path":"a.txt","content":"hello world"})"}},
      .usage = FakeUsage{.prompt_tokens = 11, .completion_tokens = 7, .cached_tokens = 3}});

  Streamed s = PostStreaming(server.base_url(), ChatBody(true));

  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  std::string args;
  int fragments = 0;
  std::string name;
  for (const auto& c : s.chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (c["choices"].empty()) continue;
    const auto& delta = c["choices"][0]["delta"];
    if (delta.contains("tool_calls")) {
      const auto& tc = delta["tool_calls"][0];
      EXPECT_EQ(tc["index"], 0);
      if (tc.contains("id")) {
        EXPECT_EQ(tc["id"], "call_1");
      }
      if (tc["function"].contains("name")) name += tc["function"]["name"].get<std::string>();
      args += tc["function"]["arguments"].get<std::string>();
      ++fragments;
    }
  }
  EXPECT_EQ(name, "write_file");
  EXPECT_EQ(args, R"({"path":"a.txt","content":"hello world"})");
  EXPECT_GT(fragments, 3);
  const Json& last = s.chunks.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["prompt_tokens"], 11);
  EXPECT_EQ(last["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
  EXPECT_EQ(s.chunks[s.chunks.size() - 2]["choices"][0]["finish_reason"], "tool_calls");
}

TEST(FakeModelServerTest, OmitsUsageChunkUnlessRequested) {
  FakeModelServer server;
  ASSERT_TRUE(server.Start().ok());
  server.EnqueueText("hi");
  Streamed s = PostStreaming(server.base_url(), ChatBody(false));
  ASSERT_FALSE(s.chunks.empty());
  EXPECT_FALSE(s.chunks.back().contains("usage"));
  EXPECT_EQ(s.chunks.back()["choices"][0]["finish_reason"], "stop");
}

TEST(FakeModelServerTest, AnswersWith500WhenScriptIsExhausted) {
  FakeModelServer server;
  ASSERT_TRUE(server.Start().ok());
  Streamed s = PostStreaming(server.base_url(), ChatBody(true));
  EXPECT_EQ(s.status, 500);
}

TEST(FakeModelServerTest, RepeatsLastReplyWhenConfigured) {
  FakeModelServer server({.when_exhausted = WhenExhausted::kRepeatLast});
  ASSERT_TRUE(server.Start().ok());
  server.EnqueueText("again");
  for (int i = 0; i < 3; ++i) {
    Streamed s = PostStreaming(server.base_url(), ChatBody(true));
    EXPECT_EQ(s.status, 200);
  }
  EXPECT_EQ(server.completion_requests().size(), 3u);
}

TEST(FakeModelServerTest, DeveloperModeWritesReadmeThenAnswersDone) {
  FakeModelServer server({.mode = FakeMode::kDeveloper});
  ASSERT_TRUE(server.Start().ok());
  Streamed first = PostStreaming(server.base_url(), ChatBody(true));
  bool saw_write = false;
  for (const auto& c : first.chunks) {
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains("tool_calls")) {
      const auto& f = c["choices"][0]["delta"]["tool_calls"][0]["function"];
      if (f.contains("name") && f["name"] == "write_file") saw_write = true;
    }
  }
  EXPECT_TRUE(saw_write);

  Json second_body = ChatBody(true);
  second_body["messages"].push_back({{"role", "tool"}, {"tool_call_id", "x"}, {"content", "ok"}});
  Streamed second = PostStreaming(server.base_url(), second_body);
  std::string text;
  for (const auto& c : second.chunks) {
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content")) {
      text += c["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_NE(text.find("Done"), std::string::npos);
}

TEST(FakeModelServerTest, ParsesScriptFile) {
  auto script = ParseFakeScript(Json::parse(R"({
    "model": "demo", "mode": "script", "whenExhausted": "repeat-last", "chunkDelayMs": 3,
    "responses": [
      {"text": "hi", "usage": {"promptTokens": 5, "completionTokens": 2, "cachedTokens": 1}},
      {"toolCalls": [{"name": "shell", "arguments": {"command": "ls"}}]},
      {"status": 429, "retryAfter": 2},
      {"text": "cut", "cutAfterChunks": 1, "cleanCut": true, "delayMs": 5}
    ]})"));
  ASSERT_TRUE(script.ok()) << script.error().message;
  EXPECT_EQ(script->options.model, "demo");
  EXPECT_EQ(script->options.when_exhausted, WhenExhausted::kRepeatLast);
  EXPECT_EQ(script->options.chunk_delay, std::chrono::milliseconds(3));
  ASSERT_EQ(script->replies.size(), 4u);
  EXPECT_EQ(script->replies[0].usage->cached_tokens, 1);
  EXPECT_EQ(script->replies[1].tool_calls[0].arguments, R"({"command":"ls"})");
  EXPECT_EQ(script->replies[2].retry_after, "2");
  EXPECT_EQ(script->replies[3].cut_after_chunks, 1);
  EXPECT_TRUE(script->replies[3].clean_cut);
}

TEST(FakeModelServerTest, RejectsUnknownScriptFields) {
  auto script = ParseFakeScript(Json::parse(R"({"responses": [{"txt": "typo"}]})"));
  ASSERT_FALSE(script.ok());
  EXPECT_NE(script.error().message.find("txt"), std::string::npos);
}

TEST(FakeModelServerTest, StopInterruptsDelayedReplies) {
  FakeModelServer server;
  ASSERT_TRUE(server.Start().ok());
  server.Enqueue(FakeReply{.text = "never", .delay = std::chrono::minutes(5)});
  std::thread client([&] {
    httpclient::CurlHttpTransport transport;
    httpclient::Request request{.method = "POST",
                                .url = server.base_url() + "/chat/completions",
                                .body = ChatBody(true).dump()};
    auto response = transport.SendStreaming(request, [](std::string_view) { return true; });
    EXPECT_FALSE(response.ok());
  });
  ASSERT_TRUE(server.WaitForCompletionRequests(1, std::chrono::seconds(10)));
  auto started = std::chrono::steady_clock::now();
  server.Stop();
  client.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

}  // namespace
}  // namespace agentd::testing
