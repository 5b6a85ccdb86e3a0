// HttpServer: a small HTTP/1.1 server (Boost.Beast underneath, hidden behind this header) that
// hands each request to one Handler and lets the handler answer now or later, from any thread,
// with a complete response or a stream (server-sent events).
//
// Protocol behaviour:
//  * HTTP/1.1 keep-alive; requests on one connection are handled one after the other (pipelined
//    requests wait), so responses always come back in request order.
//  * Every response carries Content-Length; a stream uses chunked transfer encoding (HTTP/1.0
//    peers get an unframed body ended by closing the connection). A streamed response is the
//    last one on its connection.
//  * Errors found before the handler runs answer application/problem+json and close the
//    connection: 400 for a malformed request, 413 for a body above max_body_bytes, 431 for a
//    header block above max_header_bytes.
//  * `Connection: close` from the client is honoured; a connection idle (or sending a request
//    slower) than idle_timeout is closed.
//
// Threads: `threads` event loops, each owning its connections. The handler runs on the
// connection's loop thread; it must not block for long (a short store read is fine), and it
// answers through the Responder, possibly later from another thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace agentd::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // raw request target, e.g. "/api/v1/runs?limit=5"
  std::string path;    // target up to '?', not percent-decoded
  // Query parameters, percent-decoded ('+' is a space); a repeated name has several entries.
  std::multimap<std::string, std::string, std::less<>> query;
  HeaderList headers;  // names lowercased, in arrival order
  std::string body;
  std::string remote;  // "ip:port" of the peer
  int version = 11;    // 10 or 11

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string> Header(std::string_view name) const;
  // The first query parameter named `name`, if any.
  std::optional<std::string> Query(std::string_view name) const;
  // Every value of the query parameter `name`, in order.
  std::vector<std::string> QueryAll(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HeaderList headers;  // Content-Length and Connection are added by the server
  std::string body;
};

// The writing end of a streamed response. Thread-safe. Data is queued in a bounded buffer and
// written by the connection's loop as fast as the peer reads it; a peer that falls so far behind
// that the buffer would exceed its bound is disconnected.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Queues `data` as the next part of the body. False once the stream is closed (by Close, the
  // peer going away, an overflow of the buffer, or the server stopping); the data is dropped.
  virtual bool Write(std::string data) = 0;
  // Ends the stream after everything queued so far has been sent. Idempotent.
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // Bytes queued and not yet handed to the socket.
  virtual size_t buffered() const = 0;
  // Runs `callback` once on the connection's loop thread when everything queued so far has been
  // written (soon, if nothing is queued). For flow control: write a batch, then continue from the
  // callback. Dropped, never run, if the stream closes first.
  virtual void OnDrained(std::function<void()> callback) = 0;
  // Runs `callback` once on the connection's loop thread when the stream has ended for any
  // reason (never inside Write or Close). Runs soon if it already has.
  virtual void OnClose(std::function<void()> callback) = 0;
};

struct StreamOptions {
  // When nothing has been written for this long, `heartbeat` is written (e.g. an SSE comment),
  // which also detects dead peers. Zero disables it.
  std::chrono::milliseconds heartbeat_interval{0};
  std::string heartbeat;
};

// Answers one request: exactly one call of Send, SendWith or StartStream (later calls are
// ignored). Thread-safe; may be called from any thread, after the handler has returned. If the
// last reference is dropped without an answer, the server answers 500.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void Send(HttpResponse response) = 0;
  // Like Send, but `make` runs on the connection's loop thread, so a caller on a busy thread
  // (e.g. a store's commit thread) hands over the raw result and leaves the encoding to the loop.
  virtual void SendWith(std::function<HttpResponse()> make) = 0;
  // Sends the status and headers at once and returns the writer for the body.
  virtual std::shared_ptr<StreamWriter> StartStream(int status, HeaderList headers,
                                                    StreamOptions options = {}) = 0;
};

using Handler = std::function<void(HttpRequest&&, std::shared_ptr<Responder>)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP address or a name to resolve
  uint16_t port = 8080;            // 0 picks a free port; see HttpServer::port()
  int threads = 2;                 // event loops
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds idle_timeout{60'000};
  size_t max_stream_buffer_bytes = 1 << 20;  // per streamed response
  // How long Stop() lets requests in progress finish before closing their connections.
  std::chrono::milliseconds shutdown_grace{5'000};
};

// Lifecycle: Listen() binds (errors are returned, e.g. kUnavailable for a port in use), Start()
// or Run() serves, Stop() stops accepting, closes idle connections and streams, lets requests in
// progress finish (up to shutdown_grace), then joins the loop threads. The destructor stops.
// The handler must stay valid until Stop() has returned.
class HttpServer {
 public:
  static core::Result<std::unique_ptr<HttpServer>> Listen(HttpServerOptions options,
                                                          Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  uint16_t port() const;
  // Starts the loop threads and returns.
  void Start();
  // Starts the loop threads and blocks until Stop() (from another thread) has finished.
  void Run();
  // Idempotent. Must not be called from a handler (it joins the loop threads).
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Standard reason phrase for `status` ("Not Found"); "Unknown" for codes it does not know.
std::string_view ReasonPhrase(int status);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); malformed escapes are kept
// as they are.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace agentd::net
