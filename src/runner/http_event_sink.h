// HttpEventSink: a runner's events over HTTP, for a runner in a Kubernetes pod (the local
// executor reads a pipe instead, see EventWriter). Protocol: runner_protocol.h "Runner events
// over HTTP"; the API side is POST /api/v1/runs/{id}/events (docs/api.md).
//
// Each event is numbered (seq from 1), formatted like EventWriter's lines and appended to the
// journal first (one write(2)); then it is queued and a sender thread POSTs the queue in batches
// (application/x-ndjson) with the run's token, the attempt and this runner's instance id:
//  * a batch goes out when it holds `max_batch_events` events or `max_batch_bytes` bytes, when
//    its oldest event has waited `flush_interval`, or at once when closing;
//  * connection errors, timeouts, 408, 429 and 5xx are retried with the same batch (the API
//    deduplicates by seq) with exponential backoff, honouring Retry-After, within `retry`;
//  * 401, 403 and 409 mean this runner must stop (a bad token, a stale attempt, another
//    instance owns the attempt, or the run has ended); any other 4xx, or retries running out,
//    stop delivery too. Delivery then stops for good, the queue is dropped (the journal keeps
//    everything) and `on_stopped` is called once, on the sender thread.
// Memory is bounded: Emit waits (the agent loop slows down) while `max_queued_bytes` are queued
// or in flight, until the sender catches up or delivery stops.
//
// Thread-safe. Does not own the journal descriptor or the transport; both must outlive the sink.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/result.h"
#include "httpclient/http_client.h"
#include "runner/event_sink.h"
#include "runner/retry_policy.h"

namespace agentd::runner {

struct HttpEventSinkOptions {
  std::string url;              // .../api/v1/runs/{id}/events
  std::string token;            // the run- and attempt-scoped runner token; never logged
  int attempt = 1;              // X-Agentd-Attempt
  std::string runner_instance;  // X-Agentd-Runner (the pod name)
  size_t max_batch_events = 256;
  size_t max_batch_bytes = 512 << 10;  // well under the API's limit (kMaxRunnerBatchBytes)
  std::chrono::milliseconds flush_interval{200};
  size_t max_queued_bytes = 8 << 20;
  RetryPolicy retry{.max_retries = 20,
                    .base_delay = std::chrono::milliseconds(250),
                    .max_delay = std::chrono::milliseconds(10'000),
                    .max_retry_after = std::chrono::milliseconds(60'000)};
  std::chrono::milliseconds request_timeout{30'000};
};

class HttpEventSink final : public EventSink {
 public:
  // `journal_fd` may be -1 (no journal). Starts the sender thread.
  HttpEventSink(int journal_fd, const core::Clock& clock, httpclient::HttpTransport& transport,
                HttpEventSinkOptions options, std::function<void()> on_stopped = nullptr);
  // Close(0) if Close was not called.
  ~HttpEventSink() override;
  HttpEventSink(const HttpEventSink&) = delete;
  HttpEventSink& operator=(const HttpEventSink&) = delete;

  void Emit(std::string_view type, core::Json data) override;

  // Sends everything queued without waiting for the flush interval and waits until it has been
  // delivered, delivery has stopped, or `timeout` has passed (the request in flight is then
  // abandoned). Later events go to the journal only. Returns Ok when every event was delivered,
  // else the reason delivery stopped (see stopped_error) or kDeadlineExceeded. Call once.
  core::Status Close(std::chrono::milliseconds timeout);

  // Why delivery stopped for good, once it has: kFailedPrecondition with reason the API's
  // problem code (e.g. "attempt_fenced", "run_finished", "unauthenticated") when the API
  // refused the events, kUnavailable when retries ran out. The message is meant for the
  // runner's log and never contains the token.
  std::optional<core::Error> stopped_error() const;
  // Events emitted so far, and delivered (acknowledged by the API) so far.
  int64_t last_seq() const;
  int64_t delivered() const;

 private:
  struct Queued {
    std::string line;
    std::chrono::steady_clock::time_point at;
  };

  void SendLoop();
  // POSTs one batch, retrying as the policy allows; Ok once the API acknowledged it.
  core::Status Deliver(const std::string& body);

  const int journal_fd_;
  const core::Clock& clock_;
  httpclient::HttpTransport& transport_;
  const HttpEventSinkOptions options_;
  const std::function<void()> on_stopped_;

  mutable std::mutex emit_mu_;  // orders numbering, the journal and the queue
  int64_t seq_ = 0;             // guarded by emit_mu_
  bool journal_failed_ = false;

  mutable std::mutex mu_;
  std::condition_variable send_cv_;   // the sender waits for work or the flush deadline
  std::condition_variable space_cv_;  // Emit waits for room; Close waits for the sender
  std::deque<Queued> queue_;
  size_t queued_bytes_ = 0;
  size_t in_flight_bytes_ = 0;
  int64_t queued_total_ = 0;  // events ever queued for delivery
  int64_t delivered_ = 0;
  bool closing_ = false;
  bool sender_done_ = false;
  bool closed_ = false;
  std::optional<core::Error> stopped_;
  std::atomic<bool> abandon_{false};  // Request::cancel of the request in flight
  std::thread sender_;
};

}  // namespace agentd::runner
