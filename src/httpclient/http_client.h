// HttpTransport: outbound HTTP (the model providers, agentctl -> agentd, later Kubernetes and
// GitHub). CurlHttpTransport is the one implementation (libcurl); TLS, timeouts and size limits
// live here. Thread-safe: one transport may be used from many threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace agentd::httpclient {

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10'000};
  // Whole-request limit; for streams, the longest silence allowed between two chunks is
  // `idle_timeout` instead (which also applies to Send; 0 = no idle limit).
  std::chrono::milliseconds timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};
  size_t max_response_bytes = 32 << 20;
  // Optional cancellation: when the flag becomes true the transfer is abandoned within about
  // 50 ms and the call returns kAborted (lets a SIGTERM stop a silent stream). Not owned.
  const std::atomic<bool>* cancel = nullptr;
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  // Empty for streamed 2xx responses.
  std::string body;

  std::optional<std::string> Header(std::string_view lowercase_name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // kUnavailable for connection failures and resets, kDeadlineExceeded for timeouts,
  // kResourceExhausted for bodies over the limit. HTTP error statuses are not errors here.
  virtual core::Result<Response> Send(const Request& request) = 0;
  // Like Send, but the body goes to `on_body` chunk by chunk as it arrives (status and headers
  // are known before the first call). Return false from on_body to abort (kAborted).
  // Only 2xx bodies are streamed: for any other status the body (an error document) is
  // collected into Response::body instead, cut at 64 KiB, and on_body is never called.
  // There is no whole-request `timeout` for streams, only connect_timeout and idle_timeout.
  virtual core::Result<Response> SendStreaming(
      const Request& request, const std::function<bool(std::string_view)>& on_body) = 0;
};

}  // namespace agentd::httpclient
