// Test-only: an HttpTransport that plays the API side of runner event delivery. Each Send is
// recorded and answered from a script (status, headers, body, or a transport error); when the
// script is empty it answers 200 {"accepted": n}. A gate can hold requests until the test opens
// it. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "httpclient/http_client.h"

namespace agentd::runner::testing {

struct FakeAnswer {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::optional<core::Error> error;                          // a transport failure instead

  static FakeAnswer Problem(int status, std::string code, std::string detail) {
    return {.status = status,
            .body = core::DumpJson({{"status", status}, {"code", code}, {"detail", detail}}),
            .headers = {{"content-type", "application/problem+json"}},
            .error = std::nullopt};
  }
  static FakeAnswer Failure(core::Error error) {
    return {.status = 0, .body = "", .headers = {}, .error = std::move(error)};
  }
};

class FakeEventsTransport final : public httpclient::HttpTransport {
 public:
  void Script(std::vector<FakeAnswer> answers) {
    std::lock_guard lock(mu_);
    for (auto& a : answers) script_.push_back(std::move(a));
  }
  // While closed, Send waits (until opened or the request is cancelled).
  void CloseGate() {
    std::lock_guard lock(mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    std::lock_guard lock(mu_);
    gate_open_ = true;
    cv_.notify_all();
  }

  core::Result<httpclient::Response> Send(const httpclient::Request& request) override {
    std::unique_lock lock(mu_);
    requests_.push_back(request);
    cv_.notify_all();
    while (!gate_open_) {
      if (request.cancel != nullptr && request.cancel->load()) {
        return core::Aborted("request cancelled");
      }
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    if (request.cancel != nullptr && request.cancel->load()) return core::Aborted("cancelled");
    FakeAnswer answer;
    if (!script_.empty()) {
      answer = std::move(script_.front());
      script_.pop_front();
    } else {
      size_t lines = 0;
      for (char c : request.body) lines += c == '\n' ? 1 : 0;
      answer.body = core::DumpJson({{"accepted", lines}});
    }
    if (answer.error) return *answer.error;
    httpclient::Response response;
    response.status = answer.status;
    response.headers = answer.headers;
    response.body = answer.body;
    return response;
  }
  core::Result<httpclient::Response> SendStreaming(
      const httpclient::Request&, const std::function<bool(std::string_view)>&) override {
    return core::Internal("the events transport does not stream");
  }

  std::vector<httpclient::Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Waits until at least `n` requests arrived; false after `timeout`.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<FakeAnswer> script_;
  std::vector<httpclient::Request> requests_;
  bool gate_open_ = true;
};

// The value of header `name` in `request` (exact name), or "".
inline std::string HeaderOf(const httpclient::Request& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

}  // namespace agentd::runner::testing
