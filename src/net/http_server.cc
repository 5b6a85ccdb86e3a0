// The only translation unit that includes Boost.Asio/Beast (they are heavy to compile).
//
// Design:
//  * One io_context per loop thread (concurrency hint 1, no strands needed). The acceptor lives
//    on loop 0 and hands each new socket to the loops round-robin; a connection stays on its loop.
//  * One coroutine per connection reads a request (Beast's parser), calls the handler, waits for
//    the answer and writes it. Responses are serialised by hand into one head string plus the
//    body (no copy of the body), written with one gathered write.
//  * Answers from other threads: the Responder stores the answer in the Exchange under its mutex
//    and, only if the connection is already waiting, posts one wake-up to the connection's loop
//    (cancelling a steady_timer the coroutine waits on). A handler that answers before it returns
//    costs no post at all.
//  * Idle and slow peers: each connection has a deadline; one sweeper timer per loop closes the
//    sockets whose deadline has passed (cheaper than a timer per operation).
//  * Streams: a second coroutine reads (and discards) from the socket while the stream is open so
//    a peer that goes away is noticed at once.
#include "net/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <utility>  // before Boost.Asio with g++ 12

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/log.h"

namespace agentd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kNever = SteadyClock::time_point::max();
const boost::system::error_category& kHttpErrors =
    http::make_error_code(http::error::bad_target).category();

std::string_view ToStd(beast::string_view text) { return {text.data(), text.size()}; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IsSafeHeaderText(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// A problem+json body for the errors the server answers itself (before any handler runs).
std::string ProblemBody(int status, std::string_view code, std::string_view detail) {
  std::string body;
  body.reserve(200 + detail.size());
  body += R"({"type":"https://agentd.dev/problems/)";
  body += code;
  body += R"(","title":")";
  body += ReasonPhrase(status);
  body += R"(","status":)";
  body += std::to_string(status);
  body += R"(,"detail":")";
  body += detail;  // fixed ASCII text without quotes, written by this file
  body += R"(","code":")";
  body += code;
  body += "\"}";
  return body;
}

HttpResponse Problem(int status, std::string_view code, std::string_view detail) {
  return {
      status, {{"Content-Type", "application/problem+json"}}, ProblemBody(status, code, detail)};
}

void AppendStatusLine(std::string& out, int status) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += ReasonPhrase(status);
  out += "\r\n";
}

void AppendHeaders(std::string& out, const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "connection") ||
        EqualsIgnoreCase(name, "transfer-encoding")) {
      continue;  // framing is the server's business
    }
    if (name.empty() || !IsSafeHeaderText(name) || !IsSafeHeaderText(value)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

std::string FormatHead(const HttpResponse& response, bool keep_alive, int version) {
  std::string head;
  head.reserve(128 + response.headers.size() * 48);
  AppendStatusLine(head, response.status);
  AppendHeaders(head, response.headers);
  head += "Content-Length: ";
  head += std::to_string(response.body.size());
  head += "\r\n";
  if (!keep_alive) {
    head += "Connection: close\r\n";
  } else if (version == 10) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  return head;
}

void ParseQuery(std::string_view text, HttpRequest& request) {
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    request.query.emplace(PercentDecode(name, true), PercentDecode(value, true));
  }
}

struct Conn;

// One loop thread: its io_context, its connections and its sweeper.
struct Worker {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ioc);
  asio::steady_timer sweeper{ioc};
  asio::steady_timer grace{ioc};
  // Only touched on this loop's thread.
  std::list<Conn*> conns;
  bool draining = false;
};

// The shared state of one request's answer: between the connection's coroutine and the
// Responder / StreamWriter the handler holds (possibly on other threads).
struct Exchange {
  enum class Kind { kNone, kResponse, kProducer, kStream };

  std::mutex mu;
  Kind kind = Kind::kNone;
  HttpResponse response;
  std::function<HttpResponse()> producer;
  int stream_status = 200;
  HeaderList stream_headers;
  StreamOptions stream_options;
  // Stream state.
  std::string pending;
  size_t max_buffer = 1 << 20;
  bool closing = false;   // Close(): end after the pending data
  bool aborted = false;   // overflow; end now
  bool finished = false;  // the stream has ended; callbacks have been taken
  std::vector<std::function<void()>> on_close;
  std::vector<std::function<void()>> on_drained;
  // True while the connection's coroutine sleeps waiting for news from this exchange.
  bool session_waiting = false;

  std::weak_ptr<Conn> conn;
  std::shared_ptr<Worker> worker;

  void WakeLocked();
};

struct Conn {
  Conn(std::shared_ptr<Worker> w, tcp::socket s)
      : worker(std::move(w)), socket(std::move(s)), signal(worker->ioc) {
    signal.expires_at(kNever);
  }

  enum class State { kReading, kHandling, kWriting, kStreaming, kClosing };

  std::shared_ptr<Worker> worker;
  tcp::socket socket;
  asio::steady_timer signal;  // cancelled to wake the coroutine
  beast::flat_buffer buffer;
  std::string remote;
  State state = State::kReading;
  SteadyClock::time_point deadline = kNever;
  bool stopping = false;   // the server is stopping: finish now
  bool peer_gone = false;  // the stream reader saw EOF or an error
  bool reader_running = false;
  std::shared_ptr<Exchange> exchange;

  void CloseSocket() {
    error_code ignored;
    socket.close(ignored);
  }
};

void Exchange::WakeLocked() {
  if (!session_waiting) return;
  session_waiting = false;
  asio::post(worker->ioc, [weak = conn] {
    if (auto c = weak.lock()) c->signal.cancel();
  });
}

class StreamWriterImpl final : public StreamWriter {
 public:
  explicit StreamWriterImpl(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}
  ~StreamWriterImpl() override { Close(); }

  bool Write(std::string data) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->finished || ex_->closing || ex_->aborted) return false;
    if (data.empty()) return true;
    if (ex_->pending.size() + data.size() > ex_->max_buffer) {
      ex_->aborted = true;  // the peer reads too slowly; drop it
      ex_->WakeLocked();
      return false;
    }
    if (ex_->pending.empty()) {
      ex_->pending = std::move(data);
    } else {
      ex_->pending += data;
    }
    ex_->WakeLocked();
    return true;
  }

  void Close() override {
    std::lock_guard lock(ex_->mu);
    if (ex_->finished || ex_->closing) return;
    ex_->closing = true;
    ex_->WakeLocked();
  }

  bool closed() const override {
    std::lock_guard lock(ex_->mu);
    return ex_->finished || ex_->closing || ex_->aborted;
  }

  size_t buffered() const override {
    std::lock_guard lock(ex_->mu);
    return ex_->pending.size();
  }

  void OnDrained(std::function<void()> callback) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->finished || ex_->aborted) return;
    ex_->on_drained.push_back(std::move(callback));
    ex_->WakeLocked();
  }

  void OnClose(std::function<void()> callback) override {
    std::unique_lock lock(ex_->mu);
    if (!ex_->finished) {
      ex_->on_close.push_back(std::move(callback));
      return;
    }
    lock.unlock();
    asio::post(ex_->worker->ioc, std::move(callback));
  }

 private:
  std::shared_ptr<Exchange> ex_;
};

class ResponderImpl final : public Responder {
 public:
  explicit ResponderImpl(std::shared_ptr<Exchange> ex) : ex_(std::move(ex)) {}
  ~ResponderImpl() override {
    std::lock_guard lock(ex_->mu);
    if (ex_->kind != Exchange::Kind::kNone) return;
    ex_->kind = Exchange::Kind::kResponse;
    ex_->response = Problem(500, "internal", "the request handler did not answer");
    ex_->WakeLocked();
  }

  void Send(HttpResponse response) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->kind != Exchange::Kind::kNone) return;
    ex_->kind = Exchange::Kind::kResponse;
    ex_->response = std::move(response);
    ex_->WakeLocked();
  }

  void SendWith(std::function<HttpResponse()> make) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->kind != Exchange::Kind::kNone) return;
    ex_->kind = Exchange::Kind::kProducer;
    ex_->producer = std::move(make);
    ex_->WakeLocked();
  }

  std::shared_ptr<StreamWriter> StartStream(int status, HeaderList headers,
                                            StreamOptions options) override {
    std::lock_guard lock(ex_->mu);
    if (ex_->kind != Exchange::Kind::kNone) {
      // Already answered: hand out a writer that is closed from the start.
      auto dead = std::make_shared<Exchange>();
      dead->finished = true;
      dead->worker = ex_->worker;
      return std::make_shared<StreamWriterImpl>(std::move(dead));
    }
    ex_->kind = Exchange::Kind::kStream;
    ex_->stream_status = status;
    ex_->stream_headers = std::move(headers);
    ex_->stream_options = std::move(options);
    ex_->WakeLocked();
    return std::make_shared<StreamWriterImpl>(ex_);
  }

 private:
  std::shared_ptr<Exchange> ex_;
};

}  // namespace

// --- the server ---------------------------------------------------------------------------------

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {
    int n = std::max(1, options_.threads);
    for (int i = 0; i < n; ++i) workers_.push_back(std::make_shared<Worker>());
    acceptor_.emplace(workers_[0]->ioc);
  }

  core::Status Bind() {
    error_code ec;
    asio::ip::address address = asio::ip::make_address(options_.host, ec);
    if (ec) {
      tcp::resolver resolver(workers_[0]->ioc);
      auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
      if (ec || results.empty()) {
        return core::InvalidArgument("cannot resolve listen host \"" + options_.host +
                                     "\": " + ec.message());
      }
      address = results.begin()->endpoint().address();
    }
    tcp::endpoint endpoint(address, options_.port);
    std::string where = options_.host + ":" + std::to_string(options_.port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return core::Unavailable("cannot listen on " + where + ": " + ec.message());
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(workers_[0]->ioc, AcceptLoop(), asio::detached);
    for (auto& w : workers_) StartSweeper(w);
    return core::Ok();
  }

  uint16_t port() const { return port_; }

  void Start() {
    std::lock_guard lock(lifecycle_mu_);
    if (started_ || stopped_) return;
    started_ = true;
    for (auto& w : workers_) {
      threads_.emplace_back([w] {
        for (;;) {
          try {
            w->ioc.run();
            return;
          } catch (const std::exception& e) {
            // Handlers do not throw by contract; keep the loop alive if one does.
            core::LogError("http loop caught an exception", {{"error", e.what()}});
          }
        }
      });
    }
  }

  void Run() {
    Start();
    std::unique_lock lock(lifecycle_mu_);
    stopped_cv_.wait(lock, [this] { return stopped_; });
  }

  void Stop() {
    std::unique_lock lock(lifecycle_mu_);
    if (stopped_ || stopping_started_) {
      stopped_cv_.wait(lock, [this] { return stopped_; });
      return;
    }
    stopping_started_ = true;
    for (auto& t : threads_) {
      AGENTD_CHECK(t.get_id() != std::this_thread::get_id())
          << "HttpServer::Stop called from a loop thread";
    }
    lock.unlock();

    stopping_.store(true);
    asio::post(workers_[0]->ioc, [this] {
      error_code ignored;
      acceptor_->close(ignored);
    });
    for (auto& w : workers_) {
      asio::post(w->ioc, [this, w] { BeginDrain(*w); });
    }
    std::vector<std::thread> threads;
    lock.lock();
    threads.swap(threads_);
    lock.unlock();
    for (auto& t : threads) t.join();

    lock.lock();
    stopped_ = true;
    stopped_cv_.notify_all();
  }

 private:
  // --- accepting -------------------------------------------------------------------------------

  asio::awaitable<void> AcceptLoop() {
    size_t next = 0;
    for (;;) {
      std::shared_ptr<Worker> worker = workers_[next++ % workers_.size()];
      tcp::socket socket(worker->ioc);
      error_code ec;
      co_await acceptor_->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (stopping_.load()) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        core::LogWarn("http accept failed", {{"error", ec.message()}});
        // Out of file descriptors and the like: pause instead of spinning.
        asio::steady_timer pause(workers_[0]->ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto conn = std::make_shared<Conn>(worker, std::move(socket));
      asio::co_spawn(worker->ioc, Session(conn), asio::detached);
    }
  }

  // --- idle deadlines and shutdown -------------------------------------------------------------

  void StartSweeper(const std::shared_ptr<Worker>& w) {
    auto period = std::clamp<SteadyClock::duration>(
        options_.idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::seconds(1));
    w->sweeper.expires_after(period);
    w->sweeper.async_wait([this, w, period](error_code ec) {
      if (ec || stopping_.load()) return;
      auto now = SteadyClock::now();
      for (Conn* c : w->conns) {
        if (c->deadline < now) c->CloseSocket();  // its pending operation fails; it ends
      }
      StartSweeper(w);
    });
  }

  // On the worker's thread: idle connections close now, streams end now, requests in progress
  // finish (their responses say Connection: close) until the grace period ends.
  void BeginDrain(Worker& w) {
    w.draining = true;
    w.sweeper.cancel();
    for (Conn* c : w.conns) {
      if (c->state == Conn::State::kReading || c->state == Conn::State::kStreaming) {
        c->stopping = true;
        c->CloseSocket();
        c->signal.cancel();
      }
    }
    w.guard.reset();
    if (w.conns.empty()) return;
    w.grace.expires_after(options_.shutdown_grace);
    w.grace.async_wait([&w](error_code ec) {
      if (ec) return;
      for (Conn* c : w.conns) {
        c->stopping = true;
        c->CloseSocket();
        c->signal.cancel();
      }
    });
  }

  // --- one connection --------------------------------------------------------------------------

  // Registers the connection with its worker for the sweeper and shutdown.
  class Registration {
   public:
    explicit Registration(Conn* c) : conn_(c) {
      it_ = c->worker->conns.insert(c->worker->conns.end(), c);
    }
    ~Registration() {
      Worker& w = *conn_->worker;
      w.conns.erase(it_);
      if (w.draining && w.conns.empty()) w.grace.cancel();
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    Conn* conn_;
    std::list<Conn*>::iterator it_;
  };

  asio::awaitable<void> Session(std::shared_ptr<Conn> conn) {
    Registration registration(conn.get());
    if (stopping_.load() || conn->worker->draining) {
      conn->CloseSocket();
      co_return;
    }
    error_code ec;
    auto peer = conn->socket.remote_endpoint(ec);
    if (!ec) conn->remote = peer.address().to_string() + ":" + std::to_string(peer.port());
    conn->buffer.reserve(4096);

    for (;;) {
      // Read one request.
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(
          std::min<size_t>(options_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
      parser.body_limit(options_.max_body_bytes);
      conn->state = Conn::State::kReading;
      conn->deadline = SteadyClock::now() + options_.idle_timeout;
      co_await http::async_read_header(conn->socket, conn->buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !parser.is_done()) {
        auto expect = parser.get().find(http::field::expect);
        if (expect != parser.get().end() &&
            EqualsIgnoreCase(ToStd(expect->value()), "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(conn->socket, asio::buffer(kContinue),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!ec) {
          co_await http::async_read(conn->socket, conn->buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
        }
      }
      conn->deadline = kNever;
      if (ec) {
        // The peer went away or timed out, or the server is stopping: just close.
        if (conn->stopping || ec.category() != kHttpErrors || ec == http::error::end_of_stream ||
            ec == http::error::partial_message) {
          break;
        }
        int status = 400;
        std::string_view code = "invalid_argument";
        std::string detail = "malformed HTTP request: " + ec.message();
        if (ec == http::error::body_limit) {
          status = 413;
          code = "resource_exhausted";
          detail = "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes";
        } else if (ec == http::error::header_limit) {
          status = 431;
          code = "resource_exhausted";
          detail = "request header block exceeds " + std::to_string(options_.max_header_bytes) +
                   " bytes";
        }
        co_await WriteErrorAndLinger(conn, Problem(status, code, detail));
        break;
      }

      auto& message = parser.get();
      int version = static_cast<int>(message.version());
      bool keep_alive = message.keep_alive() && !conn->worker->draining && !stopping_.load();
      bool head_only = message.method() == http::verb::head;

      HttpRequest request;
      request.method = std::string(ToStd(message.method_string()));
      request.target = std::string(ToStd(message.target()));
      size_t q = request.target.find('?');
      request.path = request.target.substr(0, q);
      if (q != std::string::npos)
        ParseQuery(std::string_view(request.target).substr(q + 1), request);
      request.headers.reserve(16);
      for (const auto& field : message) {
        std::string name(ToStd(field.name_string()));
        for (char& c : name) c = AsciiLower(c);
        request.headers.emplace_back(std::move(name), std::string(ToStd(field.value())));
      }
      request.body = std::move(message.body());
      request.remote = conn->remote;
      request.version = version;

      auto ex = std::make_shared<Exchange>();
      ex->conn = conn;
      ex->worker = conn->worker;
      ex->max_buffer = options_.max_stream_buffer_bytes;
      conn->exchange = ex;
      conn->state = Conn::State::kHandling;
      {
        auto responder = std::make_shared<ResponderImpl>(ex);
        try {
          handler_(std::move(request), std::move(responder));
        } catch (const std::exception& e) {
          core::LogError("http handler threw", {{"error", e.what()}});
          std::lock_guard lock(ex->mu);
          if (ex->kind == Exchange::Kind::kNone) {
            ex->kind = Exchange::Kind::kResponse;
            ex->response = Problem(500, "internal", "the request handler failed");
          }
        }
      }

      // Wait for the answer.
      Exchange::Kind kind = Exchange::Kind::kNone;
      for (;;) {
        {
          std::lock_guard lock(ex->mu);
          kind = ex->kind;
          if (kind == Exchange::Kind::kNone) ex->session_waiting = true;
        }
        if (kind != Exchange::Kind::kNone || conn->stopping) break;
        conn->signal.expires_at(kNever);
        co_await conn->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (kind == Exchange::Kind::kNone) break;  // stopping

      if (kind == Exchange::Kind::kStream) {
        co_await Stream(conn, ex, version);
        break;  // a stream is the last response on its connection
      }

      HttpResponse response;
      if (kind == Exchange::Kind::kResponse) {
        response = std::move(ex->response);
      } else {
        try {
          response = ex->producer();
        } catch (const std::exception& e) {
          core::LogError("http response producer threw", {{"error", e.what()}});
          response = Problem(500, "internal", "the request handler failed");
        }
        ex->producer = nullptr;
      }
      conn->exchange.reset();

      keep_alive = keep_alive && !conn->worker->draining && !stopping_.load();
      std::string head = FormatHead(response, keep_alive, version);
      std::array<asio::const_buffer, 2> buffers = {
          asio::buffer(head), head_only ? asio::const_buffer() : asio::buffer(response.body)};
      conn->state = Conn::State::kWriting;
      conn->deadline = SteadyClock::now() + options_.idle_timeout;
      co_await asio::async_write(conn->socket, buffers,
                                 asio::redirect_error(asio::use_awaitable, ec));
      conn->deadline = kNever;
      if (ec || !keep_alive || conn->stopping) break;
    }
    conn->state = Conn::State::kClosing;
    error_code ignored;
    conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
    conn->CloseSocket();
  }

  // Answers an unparseable request and closes without resetting the connection: stop sending,
  // then read and drop what the client still sends (a body we refused) for a short while, so
  // the client sees the answer rather than a reset.
  asio::awaitable<void> WriteErrorAndLinger(std::shared_ptr<Conn> conn, HttpResponse response) {
    std::string head = FormatHead(response, /*keep_alive=*/false, 11);
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(head), asio::buffer(response.body)};
    error_code ec;
    conn->state = Conn::State::kWriting;
    conn->deadline = SteadyClock::now() + options_.idle_timeout;
    co_await asio::async_write(conn->socket, buffers,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    conn->socket.shutdown(tcp::socket::shutdown_send, ec);
    conn->state = Conn::State::kClosing;
    conn->deadline = SteadyClock::now() + std::min<SteadyClock::duration>(options_.idle_timeout,
                                                                          std::chrono::seconds(2));
    std::array<char, 16384> scratch;
    size_t drained = 0;
    while (!ec && drained < (16u << 20)) {
      size_t n = co_await conn->socket.async_read_some(
          asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
      drained += n;
    }
  }

  // Reads and drops whatever the peer sends while a stream is open; notices when it goes away.
  static asio::awaitable<void> StreamReader(std::shared_ptr<Conn> conn) {
    std::array<char, 1024> scratch;
    error_code ec;
    while (!ec) {
      co_await conn->socket.async_read_some(asio::buffer(scratch),
                                            asio::redirect_error(asio::use_awaitable, ec));
    }
    conn->peer_gone = true;
    conn->reader_running = false;
    conn->signal.cancel();
  }

  asio::awaitable<void> Stream(std::shared_ptr<Conn> conn, std::shared_ptr<Exchange> ex,
                               int version) {
    const bool chunked = version >= 11;
    conn->state = Conn::State::kStreaming;
    error_code ec;
    {
      std::string head;
      head.reserve(256);
      AppendStatusLine(head, ex->stream_status);
      AppendHeaders(head, ex->stream_headers);
      if (chunked) head += "Transfer-Encoding: chunked\r\n";
      head += "Connection: close\r\n\r\n";
      conn->deadline = SteadyClock::now() + options_.idle_timeout;
      co_await asio::async_write(conn->socket, asio::buffer(head),
                                 asio::redirect_error(asio::use_awaitable, ec));
      conn->deadline = kNever;
    }
    if (!ec && !conn->stopping) {
      conn->reader_running = true;
      asio::co_spawn(conn->worker->ioc, StreamReader(conn), asio::detached);
    }

    const auto heartbeat_interval = ex->stream_options.heartbeat_interval;
    const std::string& heartbeat = ex->stream_options.heartbeat;
    auto last_write = SteadyClock::now();
    std::string data;
    std::vector<std::function<void()>> drained;
    while (!ec && !conn->stopping && !conn->peer_gone) {
      bool closing = false;
      bool aborted = false;
      {
        std::lock_guard lock(ex->mu);
        ex->session_waiting = false;
        data.clear();
        data.swap(ex->pending);
        closing = ex->closing;
        aborted = ex->aborted;
        if (data.empty()) drained.swap(ex->on_drained);
        if (data.empty() && drained.empty() && !closing && !aborted) ex->session_waiting = true;
      }
      if (aborted) break;
      if (!data.empty()) {
        co_await WriteChunk(conn, data, chunked, ec);
        last_write = SteadyClock::now();
        continue;
      }
      if (!drained.empty()) {
        for (auto& callback : drained) callback();
        drained.clear();
        continue;
      }
      if (closing) {
        if (chunked) {
          static constexpr std::string_view kLastChunk = "0\r\n\r\n";
          conn->deadline = SteadyClock::now() + options_.idle_timeout;
          co_await asio::async_write(conn->socket, asio::buffer(kLastChunk),
                                     asio::redirect_error(asio::use_awaitable, ec));
          conn->deadline = kNever;
        }
        break;
      }
      if (heartbeat_interval.count() > 0 && !heartbeat.empty()) {
        conn->signal.expires_at(last_write + heartbeat_interval);
      } else {
        conn->signal.expires_at(kNever);
      }
      error_code wait_ec;
      co_await conn->signal.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
      if (!wait_ec && heartbeat_interval.count() > 0 && !heartbeat.empty() &&
          SteadyClock::now() - last_write >= heartbeat_interval) {
        co_await WriteChunk(conn, heartbeat, chunked, ec);
        last_write = SteadyClock::now();
      }
    }

    std::vector<std::function<void()>> on_close;
    {
      std::lock_guard lock(ex->mu);
      ex->finished = true;
      ex->session_waiting = false;
      ex->pending.clear();
      ex->on_drained.clear();
      on_close.swap(ex->on_close);
    }
    conn->exchange.reset();
    for (auto& callback : on_close) callback();
  }

  asio::awaitable<void> WriteChunk(const std::shared_ptr<Conn>& conn, const std::string& data,
                                   bool chunked, error_code& ec) {
    conn->deadline = SteadyClock::now() + options_.idle_timeout;
    if (chunked) {
      char size_line[24];
      int n = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
      std::array<asio::const_buffer, 3> buffers = {asio::buffer(size_line, static_cast<size_t>(n)),
                                                   asio::buffer(data), asio::buffer("\r\n", 2)};
      co_await asio::async_write(conn->socket, buffers,
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(conn->socket, asio::buffer(data),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    conn->deadline = kNever;
  }

  HttpServerOptions options_;
  Handler handler_;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};

  std::mutex lifecycle_mu_;
  std::condition_variable stopped_cv_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  bool stopping_started_ = false;
  bool stopped_ = false;
};

core::Result<std::unique_ptr<HttpServer>> HttpServer::Listen(HttpServerOptions options,
                                                             Handler handler) {
  if (!handler) return core::InvalidArgument("HttpServer::Listen needs a handler");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  AGENTD_RETURN_IF_ERROR(impl->Bind());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { impl_->Stop(); }
uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::Start() { impl_->Start(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }

// --- small helpers ------------------------------------------------------------------------------

std::optional<std::string> HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::Query(std::string_view name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> HttpRequest::QueryAll(std::string_view name) const {
  std::vector<std::string> values;
  auto [begin, end] = query.equal_range(name);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hex(text[i + 1]);
      int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

}  // namespace agentd::net
