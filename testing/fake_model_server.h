// FakeModelServer: a scripted OpenAI-compatible Chat Completions server for tests, benchmarks
// and demos. It speaks the real wire format over plain POSIX sockets (HTTP/1.1, one request per
// connection, "Connection: close"):
//   POST .../chat/completions  stream:true  -> text/event-stream, chunked transfer encoding,
//                                              `data: {chat.completion.chunk}` events, tool calls
//                                              split over several chunks with argument
//                                              fragments, a usage chunk with empty choices when
//                                              stream_options.include_usage is true, `data: [DONE]`
//                              stream:false -> one chat.completion JSON document
//   GET  .../models                         -> a list with the configured model id
//
// What each completion request gets is decided by the mode: kScript pops the next FakeReply from
// a queue (then follows `when_exhausted`), kEcho answers "echo: <last user message>", kDeveloper
// plays a tiny agent (call write_file README.md, then answer "done"). Every request received is
// recorded for assertions.
//
// Lifecycle: Start() binds 127.0.0.1 (port 0 = any) and serves on background threads until
// Stop() or destruction; Stop() interrupts delays and open connections. All methods are
// thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace agentd::testing {

struct FakeToolCall {
  std::string id;  // empty = "call_<n>"
  std::string name;
  std::string arguments;  // JSON text, sent verbatim (may be invalid on purpose)
};

struct FakeUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// One scripted answer. The defaults give a streamed "200 OK" with `text` and `tool_calls`.
struct FakeReply {
  std::string text;
  std::vector<FakeToolCall> tool_calls;
  int status = 200;  // anything else: an error reply with `error_body` (or a default JSON error)
  std::string retry_after;  // sent as Retry-After when non-empty
  std::string error_body;
  std::chrono::milliseconds delay{0};        // before the response head is sent
  std::chrono::milliseconds chunk_delay{0};  // between streamed events
  // Close the connection after this many `data:` events (before [DONE]).
  std::optional<int> cut_after_chunks;
  // With cut_after_chunks: end the HTTP body properly (a clean end without [DONE]) instead of
  // dropping the connection mid-body.
  bool clean_cut = false;
  std::optional<FakeUsage> usage;  // default: derived from the request and reply sizes
  std::string finish_reason;       // default: "tool_calls" with tool calls, else "stop"
};

enum class FakeMode { kScript, kEcho, kDeveloper };
enum class WhenExhausted { kError, kRepeatLast, kEcho };

struct FakeModelServerOptions {
  std::string model = "fake-model";
  FakeMode mode = FakeMode::kScript;
  WhenExhausted when_exhausted = WhenExhausted::kError;
  size_t text_chunk_bytes = 8;      // content is streamed in pieces of about this size
  size_t argument_chunk_bytes = 7;  // tool-call arguments likewise
  // Pause between streamed events for replies that set none (makes demos visibly stream).
  std::chrono::milliseconds chunk_delay{0};
};

struct RecordedRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;

  std::optional<std::string> Header(std::string_view lowercase_name) const;
  // The body parsed as JSON (null when it is not JSON).
  core::Json BodyJson() const;
};

// The script file format of the fake-model-server executable (see testing/README.md).
struct FakeScript {
  FakeModelServerOptions options;
  std::vector<FakeReply> replies;
};
core::Result<FakeScript> ParseFakeScript(const core::Json& json);
core::Result<FakeReply> ParseFakeReply(const core::Json& json);

class FakeModelServer {
 public:
  explicit FakeModelServer(FakeModelServerOptions options = {});
  ~FakeModelServer();
  FakeModelServer(const FakeModelServer&) = delete;
  FakeModelServer& operator=(const FakeModelServer&) = delete;

  // Binds 127.0.0.1:port (0 = any free port) and starts serving.
  core::Status Start(int port = 0);
  // Stops serving, interrupts delays and waits for connection threads. Idempotent.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:PORT/v1", the Model baseUrl to use.
  std::string base_url() const;

  void Enqueue(FakeReply reply);
  void EnqueueText(std::string text) { Enqueue(FakeReply{.text = std::move(text)}); }
  size_t pending_replies() const;

  std::vector<RecordedRequest> requests() const;
  // Chat completion requests only.
  std::vector<RecordedRequest> completion_requests() const;
  // Blocks until at least `n` chat completion requests have arrived; false on timeout.
  bool WaitForCompletionRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void AcceptLoop();
  void ServeConnection(int fd);
  FakeReply NextReply(const core::Json& request);
  // Waits `d` unless Stop() is called; false when stopping.
  bool Pause(std::chrono::milliseconds d);

  const FakeModelServerOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  int active_connections_ = 0;
  std::vector<int> open_fds_;
  std::deque<FakeReply> queue_;
  std::optional<FakeReply> last_reply_;
  std::vector<RecordedRequest> requests_;
  size_t completion_count_ = 0;
  std::atomic<int64_t> next_id_{1};
};

}  // namespace agentd::testing
