#include "net/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/raw_http_client.h"

namespace agentd::net {
namespace {

using namespace std::chrono_literals;
using testing::RawHttpClient;
using testing::RawResponse;

// Polls `condition` until it holds or the deadline passes.
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

std::unique_ptr<HttpServer> StartServer(Handler handler, HttpServerOptions options = {}) {
  options.port = 0;
  auto server = HttpServer::Listen(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << (server.ok() ? "" : server.error().message);
  if (!server.ok()) return nullptr;
  (*server)->Start();
  return std::move(server).value();
}

Handler EchoHandler() {
  return [](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    responder->Send({200,
                     {{"Content-Type", "text/plain"}, {"X-Method", request.method}},
                     request.path + "|" + request.body});
  };
}

std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

std::string Post(std::string_view path, std::string_view body) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

TEST(HttpServerTest, ListensOnAPickedPortAndServesKeepAliveRequests) {
  auto server = StartServer(EchoHandler());
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Send(Post("/echo/" + std::to_string(i), "body" + std::to_string(i))));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "/echo/" + std::to_string(i) + "|body" + std::to_string(i));
    EXPECT_EQ(response->headers["x-method"], "POST");
    EXPECT_EQ(response->headers.count("connection"), 0u);
  }
}

TEST(HttpServerTest, ListenFailsWhenThePortIsTaken) {
  auto first = StartServer(EchoHandler());
  ASSERT_NE(first, nullptr);
  HttpServerOptions options;
  options.port = first->port();
  auto second = HttpServer::Listen(options, EchoHandler());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(second.error().message.find(std::to_string(first->port())), std::string::npos);
}

TEST(HttpServerTest, DecodesPathQueryAndHeaders) {
  std::mutex mu;
  std::optional<HttpRequest> seen;
  auto server = StartServer([&](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    {
      std::lock_guard lock(mu);
      seen = std::move(request);
    }
    responder->Send({204, {}, ""});
  });
  RawHttpClient client(server->port());
  ASSERT_TRUE(
      client.Send(Get("/api/v1/runs?label=a%3Db&label=c=d&q=x+y%21&flag", "X-Thing: Yes\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  std::lock_guard lock(mu);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->path, "/api/v1/runs");
  EXPECT_EQ(seen->QueryAll("label"), (std::vector<std::string>{"a=b", "c=d"}));
  EXPECT_EQ(seen->Query("q"), "x y!");
  EXPECT_EQ(seen->Query("flag"), "");
  EXPECT_EQ(seen->Query("missing"), std::nullopt);
  EXPECT_EQ(seen->Header("x-thing"), "Yes");
  EXPECT_EQ(seen->Header("X-THING"), "Yes");
  EXPECT_NE(seen->remote.find("127.0.0.1:"), std::string::npos);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrderEvenWhenTheFirstIsSlow) {
  std::vector<std::thread> threads;
  std::mutex mu;
  auto server = StartServer([&](HttpRequest&& request, std::shared_ptr<Responder> responder) {
    if (request.path == "/slow") {
      std::lock_guard lock(mu);
      // The answer comes later, from another thread.
      threads.emplace_back([responder] { responder->Send({200, {}, "slow"}); });
      return;
    }
    responder->Send({200, {}, "fast"});
  });
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/slow") + Get("/fast") + Get("/fast")));
  auto first = client.ReadResponse();
  auto second = client.ReadResponse();
  auto third = client.ReadResponse();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->body, "slow");
  EXPECT_EQ(second->body, "fast");
  EXPECT_EQ(third->body, "fast");
  std::lock_guard lock(mu);
  for (auto& t : threads) t.join();
}

TEST(HttpServerTest, SendWithRunsTheProducerAndAnswers) {
  std::thread worker;
  auto server = StartServer([&](HttpRequest&&, std::shared_ptr<Responder> responder) {
    worker = std::thread([responder] {
      responder->SendWith([] { return HttpResponse{201, {{"Location", "/x"}}, "made"}; });
    });
  });
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Post("/", "")));
  auto response = client.ReadResponse();
  worker.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->headers["location"], "/x");
  EXPECT_EQ(response->body, "made");
}

TEST(HttpServerTest, AHandlerThatDropsTheResponderGets500) {
  auto server = StartServer([](HttpRequest&&, std::shared_ptr<Responder>) {});
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->headers["content-type"], "application/problem+json");
}

TEST(HttpServerTest, OnlyTheFirstAnswerCounts) {
  auto server = StartServer([](HttpRequest&&, std::shared_ptr<Responder> responder) {
    responder->Send({200, {}, "first"});
    responder->Send({500, {}, "second"});
    auto writer = responder->StartStream(200, {});
    EXPECT_TRUE(writer->closed());
    EXPECT_FALSE(writer->Write("x"));
  });
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "first");
}

TEST(HttpServerTest, BodyAboveTheLimitAnswers413AndCloses) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  bool called = false;
  auto server = StartServer(
      [&](HttpRequest&&, std::shared_ptr<Responder> responder) {
        called = true;
        responder->Send({200, {}, ""});
      },
      options);
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Post("/big", std::string(5000, 'x'))));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->headers["content-type"], "application/problem+json");
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_NE(response->body.find("\"status\":413"), std::string::npos);
  EXPECT_NE(response->body.find("1024"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_FALSE(called);
}

TEST(HttpServerTest, ExpectContinueGetsA100BeforeTheBody) {
  auto server = StartServer(EchoHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(
      "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  auto interim = client.ReadHead(std::chrono::steady_clock::now() + 5s);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("abc"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "/e|abc");
}

TEST(HttpServerTest, HeaderBlockAboveTheLimitAnswers431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(EchoHandler(), options);
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/", "X-Big: " + std::string(4000, 'a') + "\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->headers["content-type"], "application/problem+json");
}

TEST(HttpServerTest, MalformedRequestAnswers400AndCloses) {
  auto server = StartServer(EchoHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send("THIS IS NOT HTTP\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_NE(response->body.find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  auto server = StartServer(EchoHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/bye", "Connection: close\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
  auto server = StartServer(EchoHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "/old|");
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpServerTest, IdleConnectionsAreClosedAfterTheTimeout) {
  HttpServerOptions options;
  options.idle_timeout = 200ms;
  auto server = StartServer(EchoHandler(), options);
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/")));
  ASSERT_TRUE(client.ReadResponse());
  EXPECT_TRUE(client.WaitClosed(5s));
}

// A handler that starts a stream and hands the writer to the test.
struct StreamCapture {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<StreamWriter> writer;
  std::atomic<bool> closed_callback_ran{false};

  Handler MakeHandler(StreamOptions options = {}) {
    return [this, options](HttpRequest&&, std::shared_ptr<Responder> responder) {
      auto w = responder->StartStream(200, {{"Content-Type", "text/event-stream"}}, options);
      w->OnClose([this] { closed_callback_ran = true; });
      std::lock_guard lock(mu);
      writer = w;
      cv.notify_all();
    };
  }
  std::shared_ptr<StreamWriter> Wait() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 5s, [this] { return writer != nullptr; });
    return writer;
  }
};

TEST(HttpServerTest, StreamDeliversEachWriteAsAChunkAndEndsOnClose) {
  StreamCapture capture;
  auto server = StartServer(capture.MakeHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/events")));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto head = client.ReadHead(deadline);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["transfer-encoding"], "chunked");
  EXPECT_EQ(head->headers["content-type"], "text/event-stream");
  auto writer = capture.Wait();
  ASSERT_NE(writer, nullptr);

  EXPECT_TRUE(writer->Write("one\n"));
  EXPECT_EQ(client.ReadChunk(deadline), "one\n");
  EXPECT_TRUE(writer->Write("two\n"));
  EXPECT_EQ(client.ReadChunk(deadline), "two\n");

  std::atomic<bool> drained{false};
  writer->OnDrained([&] { drained = true; });
  EXPECT_TRUE(Eventually([&] { return drained.load(); }));

  writer->Close();
  EXPECT_TRUE(writer->closed());
  EXPECT_FALSE(writer->Write("late"));
  EXPECT_EQ(client.ReadChunk(deadline), "");  // the last chunk
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_TRUE(Eventually([&] { return capture.closed_callback_ran.load(); }));
}

TEST(HttpServerTest, StreamNoticesWhenTheClientGoesAway) {
  StreamCapture capture;
  auto server = StartServer(capture.MakeHandler());
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/events")));
  ASSERT_TRUE(client.ReadHead(std::chrono::steady_clock::now() + 5s));
  auto writer = capture.Wait();
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(capture.closed_callback_ran.load());

  client.Close();
  EXPECT_TRUE(Eventually([&] { return capture.closed_callback_ran.load(); }));
  EXPECT_TRUE(writer->closed());
  EXPECT_FALSE(writer->Write("anyone?"));

  std::atomic<bool> late_callback{false};
  writer->OnClose([&] { late_callback = true; });  // after the end: still runs
  EXPECT_TRUE(Eventually([&] { return late_callback.load(); }));
}

TEST(HttpServerTest, StreamWritesHeartbeatsWhenIdle) {
  StreamCapture capture;
  auto server =
      StartServer(capture.MakeHandler({.heartbeat_interval = 30ms, .heartbeat = ": hb\n\n"}));
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/events")));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  ASSERT_TRUE(client.ReadHead(deadline));
  EXPECT_EQ(client.ReadChunk(deadline), ": hb\n\n");
  EXPECT_EQ(client.ReadChunk(deadline), ": hb\n\n");
}

TEST(HttpServerTest, StreamDisconnectsAClientThatDoesNotRead) {
  HttpServerOptions options;
  options.max_stream_buffer_bytes = 64 << 10;
  StreamCapture capture;
  auto server = StartServer(capture.MakeHandler(), options);
  RawHttpClient client(server->port());
  client.ShrinkReceiveBuffer();
  ASSERT_TRUE(client.Send(Get("/events")));
  auto writer = capture.Wait();
  ASSERT_NE(writer, nullptr);
  std::string block(16 << 10, 'x');
  bool refused = false;
  for (int i = 0; i < 64 * 1024 && !refused; ++i) {  // at most 1 GiB
    refused = !writer->Write(block);
    if (i % 64 == 0) std::this_thread::sleep_for(1ms);  // let the loop fill the socket
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(writer->closed());
  EXPECT_TRUE(Eventually([&] { return capture.closed_callback_ran.load(); }));
}

TEST(HttpServerTest, StopEndsStreamsAndIdleConnectionsAndIsIdempotent) {
  StreamCapture capture;
  auto server = StartServer(capture.MakeHandler());
  RawHttpClient streaming(server->port());
  ASSERT_TRUE(streaming.Send(Get("/events")));
  ASSERT_NE(capture.Wait(), nullptr);
  RawHttpClient idle(server->port());
  ASSERT_TRUE(idle.connected());

  server->Stop();
  server->Stop();
  EXPECT_TRUE(capture.closed_callback_ran.load());
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_FALSE(capture.writer->Write("after stop"));
}

TEST(HttpServerTest, StopLetsARequestInProgressFinish) {
  std::shared_ptr<Responder> held;
  std::mutex mu;
  auto server = StartServer([&](HttpRequest&&, std::shared_ptr<Responder> responder) {
    std::lock_guard lock(mu);
    held = std::move(responder);
  });
  RawHttpClient client(server->port());
  ASSERT_TRUE(client.Send(Get("/")));
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(mu);
    return held != nullptr;
  }));
  uint16_t port = server->port();
  std::thread stopper([&] { server->Stop(); });
  // Stop has begun once new connections are refused; it now waits for the answer.
  EXPECT_TRUE(Eventually([&] { return !RawHttpClient(port).connected(); }));
  {
    std::lock_guard lock(mu);
    held->Send({200, {}, "finished"});
  }
  auto response = client.ReadResponse();
  stopper.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "finished");
  EXPECT_EQ(response->headers["connection"], "close");
}

TEST(HttpServerTest, ManyClientsInParallel) {
  auto server = StartServer(EchoHandler());
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      RawHttpClient client(server->port());
      for (int i = 0; i < 50; ++i) {
        std::string body = std::to_string(c) + "-" + std::to_string(i);
        if (!client.Send(Post("/p", body))) return;
        auto response = client.ReadResponse();
        if (response && response->body == "/p|" + body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 16 * 50);
}

TEST(PercentDecodeTest, DecodesEscapesAndKeepsMalformedOnes) {
  EXPECT_EQ(PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(PercentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(PercentDecode("100%", true), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", true), "%zz%4");
  EXPECT_EQ(PercentDecode("%41%62", true), "Ab");
}

}  // namespace
}  // namespace agentd::net
