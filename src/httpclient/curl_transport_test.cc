#include "httpclient/curl_transport.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpclient/sse.h"
#include "testing/fake_model_server.h"

namespace agentd::httpclient {
namespace {

using agentd::testing::FakeModelServer;
using agentd::testing::FakeReply;

class CurlHttpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  Request ChatRequest(bool stream) {
    Request r;
    r.method = "POST";
    r.url = server_.base_url() + "/chat/completions";
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-test"}};
    core::Json body = {
        {"model", "m"}, {"stream", stream}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    r.body = body.dump();
    r.timeout = std::chrono::seconds(10);
    r.idle_timeout = std::chrono::seconds(10);
    return r;
  }

  FakeModelServer server_;
  CurlHttpTransport transport_;
};

TEST_F(CurlHttpTransportTest, SendsBodyAndHeadersAndReturnsJsonResponse) {
  server_.EnqueueText("hello there");
  auto response = transport_.Send(ChatRequest(false));
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  auto doc = core::ParseJson(response->body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["choices"][0]["message"]["content"], "hello there");

  auto requests = server_.completion_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer sk-test");
  EXPECT_EQ(requests[0].BodyJson()["messages"][0]["content"], "hi");
  EXPECT_FALSE(requests[0].Header("expect").has_value());
}

TEST_F(CurlHttpTransportTest, StreamsServerSentEventsChunkByChunk) {
  server_.EnqueueText("streamed words arrive in pieces");
  std::string raw;
  int calls = 0;
  auto response = transport_.SendStreaming(ChatRequest(true), [&](std::string_view chunk) {
    raw.append(chunk);
    ++calls;
    return true;
  });
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "text/event-stream");
  EXPECT_TRUE(response->body.empty());
  EXPECT_GE(calls, 1);

  SseParser parser;
  std::string text;
  bool done = false;
  ASSERT_TRUE(parser
                  .Feed(raw,
                        [&](const SseEvent& e) {
                          if (e.data == "[DONE]") {
                            done = true;
                            return;
                          }
                          auto chunk = core::ParseJson(e.data);
                          ASSERT_TRUE(chunk.ok());
                          const auto& delta = (*chunk)["choices"][0]["delta"];
                          if (delta.contains("content"))
                            text += delta["content"].get<std::string>();
                        })
                  .ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(text, "streamed words arrive in pieces");
}

TEST_F(CurlHttpTransportTest, ReturnsErrorStatusWithLowercasedHeadersAndBufferedBody) {
  server_.Enqueue(FakeReply{.status = 429, .retry_after = "7"});
  bool body_called = false;
  auto response = transport_.SendStreaming(ChatRequest(true), [&](std::string_view) {
    body_called = true;
    return true;
  });
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->Header("retry-after"), "7");
  EXPECT_FALSE(body_called);
  EXPECT_NE(response->body.find("rate_limit_exceeded"), std::string::npos);
}

TEST_F(CurlHttpTransportTest, AbortsWhenCallbackReturnsFalse) {
  server_.EnqueueText(std::string(2000, 'a'));
  auto response =
      transport_.SendStreaming(ChatRequest(true), [](std::string_view) { return false; });
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kAborted);
}

TEST_F(CurlHttpTransportTest, RejectsResponseLargerThanLimit) {
  server_.EnqueueText(std::string(50'000, 'b'));
  Request request = ChatRequest(false);
  request.max_response_bytes = 10'000;
  auto response = transport_.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kResourceExhausted);
}

TEST_F(CurlHttpTransportTest, ReportsStreamCutMidBodyAsUnavailable) {
  server_.Enqueue(FakeReply{.text = "this will be cut", .cut_after_chunks = 2});
  auto response =
      transport_.SendStreaming(ChatRequest(true), [](std::string_view) { return true; });
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kUnavailable) << response.error().message;
}

TEST_F(CurlHttpTransportTest, TimesOutWhenServerIsSilentLongerThanIdleTimeout) {
  server_.Enqueue(FakeReply{.text = "late", .delay = std::chrono::seconds(30)});
  Request request = ChatRequest(true);
  request.idle_timeout = std::chrono::milliseconds(200);
  auto started = std::chrono::steady_clock::now();
  auto response = transport_.SendStreaming(request, [](std::string_view) { return true; });
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(CurlHttpTransportTest, AppliesWholeRequestTimeoutToSend) {
  server_.Enqueue(FakeReply{.text = "late", .delay = std::chrono::seconds(30)});
  Request request = ChatRequest(false);
  request.timeout = std::chrono::milliseconds(200);
  auto response = transport_.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kDeadlineExceeded);
}

TEST_F(CurlHttpTransportTest, CancelFlagAbortsASilentStream) {
  server_.Enqueue(FakeReply{.text = "late", .delay = std::chrono::seconds(30)});
  std::atomic<bool> cancel{false};
  Request request = ChatRequest(true);
  request.cancel = &cancel;
  std::thread canceller([&] {
    server_.WaitForCompletionRequests(1, std::chrono::seconds(10));
    cancel = true;
  });
  auto response = transport_.SendStreaming(request, [](std::string_view) { return true; });
  canceller.join();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kAborted);
}

TEST_F(CurlHttpTransportTest, ReportsConnectionRefusedAsUnavailable) {
  // A port that was free a moment ago: bind, read the port, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  Request request;
  request.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  auto response = transport_.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, core::ErrorCode::kUnavailable);
}

TEST_F(CurlHttpTransportTest, RejectsHeaderInjectionAndBadSchemes) {
  Request request = ChatRequest(false);
  request.headers.emplace_back("X-Evil", "a\r\nHost: elsewhere");
  auto injected = transport_.Send(request);
  ASSERT_FALSE(injected.ok());
  EXPECT_EQ(injected.error().code, core::ErrorCode::kInvalidArgument);

  Request file;
  file.url = "file:///etc/passwd";
  auto scheme = transport_.Send(file);
  ASSERT_FALSE(scheme.ok());
  EXPECT_EQ(scheme.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_F(CurlHttpTransportTest, ErrorMessagesDoNotContainQueryStrings) {
  Request request;
  request.url = "http://127.0.0.1:1/path?key=secret-value";
  auto response = transport_.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().message.find("secret-value"), std::string::npos);
}

TEST_F(CurlHttpTransportTest, ServesManyConcurrentRequestsFromOneTransport) {
  agentd::testing::FakeModelServer echo({.mode = agentd::testing::FakeMode::kEcho});
  ASSERT_TRUE(echo.Start().ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok_count{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      Request r = ChatRequest(false);
      r.url = echo.base_url() + "/chat/completions";
      auto response = transport_.Send(r);
      if (response.ok() && response->status == 200 &&
          response->body.find("echo: hi") != std::string::npos) {
        ++ok_count;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok_count.load(), 8);
}

}  // namespace
}  // namespace agentd::httpclient
