// The retry policy for model calls, as a pure function: which failures are retried and how long
// to wait first. 429, 408 and 5xx statuses and transport failures (no response, a timeout, a
// stream cut short) are retried with exponential backoff and jitter; Retry-After (seconds or an
// HTTP-date) is honoured instead when present, up to a cap.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace agentd::runner {

struct RetryPolicy {
  int max_retries = 4;  // retries after the first attempt
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30'000};        // cap of the exponential backoff
  std::chrono::milliseconds max_retry_after{60'000};  // cap of a server's Retry-After
};

struct RetryInput {
  int attempt = 1;      // the attempt that just failed, from 1
  int http_status = 0;  // 0 = no HTTP response (connection error, timeout, stream cut)
  std::optional<std::string> retry_after;  // the Retry-After header, verbatim
  core::TimePoint now;                     // for Retry-After dates
  double jitter = 0.5;                     // uniform in [0, 1)
};

struct RetryDecision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
};

// True for statuses worth retrying: 408, 429 and 5xx, and 0 (no response).
bool IsRetryableStatus(int http_status);

// Backoff for attempt n is base * 2^(n-1), capped at max_delay, scaled by 0.5 + jitter / 2
// (so between half and all of it). A valid Retry-After replaces it, capped at max_retry_after.
RetryDecision DecideRetry(const RetryPolicy& policy, const RetryInput& input);

// Parses a Retry-After value: delta-seconds or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
// Dates in the past give zero. nullopt when it is neither.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         core::TimePoint now);

}  // namespace agentd::runner
