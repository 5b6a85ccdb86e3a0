#include "runner/http_event_sink.h"

#include <cerrno>
#include <cstring>
#include <random>

#include "api/v1/runner_protocol.h"
#include "core/json.h"
#include "core/log.h"
#include "runner/event_writer.h"

namespace agentd::runner {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxDetailBytes = 512;

// A readable reason from an API problem document ({"code": ..., "detail": ...}); never the token.
std::pair<std::string, std::string> ProblemOf(const std::string& body, const std::string& token) {
  auto json = core::ParseJson(body, {.max_bytes = 64 << 10, .max_depth = 16});
  if (!json.ok() || !json->is_object()) return {"", ""};
  std::string code = json->value("code", "");
  std::string detail = json->value("detail", "");
  if (!token.empty()) {
    for (size_t at = detail.find(token); at != std::string::npos; at = detail.find(token)) {
      detail.replace(at, token.size(), "***");
    }
  }
  if (detail.size() > kMaxDetailBytes) detail = detail.substr(0, kMaxDetailBytes) + "...";
  if (code.size() > 64) code.clear();
  return {code, detail};
}

}  // namespace

HttpEventSink::HttpEventSink(int journal_fd, const core::Clock& clock,
                             httpclient::HttpTransport& transport, HttpEventSinkOptions options,
                             std::function<void()> on_stopped)
    : journal_fd_(journal_fd),
      clock_(clock),
      transport_(transport),
      options_(std::move(options)),
      on_stopped_(std::move(on_stopped)) {
  sender_ = std::thread([this] { SendLoop(); });
}

HttpEventSink::~HttpEventSink() {
  bool closed = false;
  {
    std::lock_guard lock(mu_);
    closed = closed_;
  }
  if (!closed) (void)Close(std::chrono::milliseconds(0));
}

void HttpEventSink::Emit(std::string_view type, core::Json data) {
  std::lock_guard emit_lock(emit_mu_);
  std::string line = FormatEventLine(
      {.seq = ++seq_, .type = std::string(type), .data = std::move(data), .time = clock_.Now()});
  if (journal_fd_ >= 0 && !WriteLine(journal_fd_, line) && !journal_failed_) {
    journal_failed_ = true;
    core::LogError("runner journal write failed", {{"error", std::strerror(errno)}});
  }

  std::unique_lock lock(mu_);
  // Room for it, unless delivery is over (then the journal alone has it). A line larger than the
  // whole allowance still goes in once the queue is empty.
  space_cv_.wait(lock, [&] {
    return closing_ || stopped_.has_value() || queue_.empty() ||
           queued_bytes_ + in_flight_bytes_ + line.size() <= options_.max_queued_bytes;
  });
  if (closing_ || stopped_) return;
  ++queued_total_;
  const bool was_empty = queue_.empty();
  queued_bytes_ += line.size();
  queue_.push_back({std::move(line), SteadyClock::now()});
  if (was_empty || queue_.size() >= options_.max_batch_events ||
      queued_bytes_ >= options_.max_batch_bytes) {
    send_cv_.notify_one();
  }
}

void HttpEventSink::SendLoop() {
  std::unique_lock lock(mu_);
  auto finish = [&] {
    sender_done_ = true;
    space_cv_.notify_all();
  };
  while (true) {
    // Wait until a batch is due.
    while (true) {
      if (stopped_ || abandon_.load()) return finish();
      if (queue_.empty()) {
        if (closing_) return finish();
        send_cv_.wait(lock);
        continue;
      }
      const auto due = queue_.front().at + options_.flush_interval;
      if (closing_ || queue_.size() >= options_.max_batch_events ||
          queued_bytes_ >= options_.max_batch_bytes || SteadyClock::now() >= due) {
        break;
      }
      send_cv_.wait_until(lock, due);
    }
    std::string body;
    int64_t count = 0;
    while (!queue_.empty() && count < static_cast<int64_t>(options_.max_batch_events) &&
           (body.empty() || body.size() + queue_.front().line.size() <= options_.max_batch_bytes)) {
      body += queue_.front().line;
      queued_bytes_ -= queue_.front().line.size();
      queue_.pop_front();
      ++count;
    }
    in_flight_bytes_ = body.size();
    lock.unlock();
    core::Status delivered = Deliver(body);
    lock.lock();
    in_flight_bytes_ = 0;
    if (delivered.ok()) {
      delivered_ += count;
      space_cv_.notify_all();
      continue;
    }
    if (abandon_.load() && !stopped_) {
      // Close gave up waiting; not a refusal by the API.
      return finish();
    }
    stopped_ = delivered.error();
    queue_.clear();
    queued_bytes_ = 0;
    lock.unlock();
    core::LogError("runner stopped sending events", {{"url", options_.url},
                                                     {"attempt", options_.attempt},
                                                     {"instance", options_.runner_instance},
                                                     {"error", stopped_->message}});
    if (on_stopped_) on_stopped_();
    lock.lock();
    return finish();
  }
}

core::Status HttpEventSink::Deliver(const std::string& body) {
  httpclient::Request request;
  request.method = "POST";
  request.url = options_.url;
  request.headers = {{"Authorization", "Bearer " + options_.token},
                     {api::v1::kRunnerAttemptHeader, std::to_string(options_.attempt)},
                     {api::v1::kRunnerInstanceHeader, options_.runner_instance},
                     {"Content-Type", api::v1::kRunnerEventsContentType}};
  request.body = body;
  request.timeout = options_.request_timeout;
  request.idle_timeout = options_.request_timeout;
  request.max_response_bytes = 64 << 10;
  request.cancel = &abandon_;
  std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    auto response = transport_.Send(request);
    int status = 0;
    std::optional<std::string> retry_after;
    if (response.ok()) {
      status = response->status;
      if (status >= 200 && status < 300) return core::Ok();
      retry_after = response->Header("retry-after");
      auto [code, detail] = ProblemOf(response->body, options_.token);
      last_error = "HTTP " + std::to_string(status) + (code.empty() ? "" : " (" + code + ")") +
                   (detail.empty() ? "" : ": " + detail);
      if (!IsRetryableStatus(status)) {
        std::string why = status == 401 || status == 403 || status == 409
                              ? "the control plane fenced this runner"
                              : "the control plane refused its events";
        core::Error error =
            core::FailedPrecondition(why + " (attempt " + std::to_string(options_.attempt) +
                                     ", instance " + options_.runner_instance + "): " + last_error);
        error.reason = code.empty() ? "http_" + std::to_string(status) : code;
        return error;
      }
    } else {
      if (response.error().code == core::ErrorCode::kAborted || abandon_.load()) {
        return core::DeadlineExceeded("abandoned while sending events: " +
                                      response.error().message);
      }
      last_error = response.error().message;
    }
    RetryDecision decision = DecideRetry(options_.retry, {.attempt = attempt,
                                                          .http_status = status,
                                                          .retry_after = retry_after,
                                                          .now = clock_.Now(),
                                                          .jitter = jitter(random)});
    if (!decision.retry) {
      return core::Unavailable("cannot deliver events to " + options_.url + " after " +
                               std::to_string(attempt) + " attempts: " + last_error);
    }
    core::LogWarn(
        "retrying a batch of runner events",
        {{"attempt", attempt}, {"delayMs", decision.delay.count()}, {"error", last_error}});
    std::unique_lock lock(mu_);
    send_cv_.wait_for(lock, decision.delay, [this] { return abandon_.load(); });
    if (abandon_.load()) {
      return core::DeadlineExceeded("abandoned while retrying events: " + last_error);
    }
  }
}

core::Status HttpEventSink::Close(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (closed_) return stopped_ ? core::Status(*stopped_) : core::Status(core::Ok());
  closed_ = true;
  closing_ = true;
  send_cv_.notify_all();
  space_cv_.notify_all();
  const bool finished = space_cv_.wait_for(lock, timeout, [this] { return sender_done_; });
  const int64_t undelivered = queued_total_ - delivered_;
  if (!finished) {
    abandon_.store(true);
    send_cv_.notify_all();
  }
  lock.unlock();
  if (sender_.joinable()) sender_.join();
  lock.lock();
  if (stopped_) return *stopped_;
  if (delivered_ < queued_total_ || !finished) {
    return core::DeadlineExceeded(std::to_string(std::max<int64_t>(undelivered, 1)) +
                                  " runner events were not delivered within " +
                                  std::to_string(timeout.count()) + " ms");
  }
  return core::Ok();
}

std::optional<core::Error> HttpEventSink::stopped_error() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

int64_t HttpEventSink::last_seq() const {
  std::lock_guard lock(emit_mu_);
  return seq_;
}

int64_t HttpEventSink::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

}  // namespace agentd::runner
