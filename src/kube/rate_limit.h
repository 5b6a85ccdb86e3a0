// Client-side flow control: a token bucket shared by the requests of one client (QPS and burst,
// as client-go's --kube-api-qps/--kube-api-burst) and an exponential backoff with jitter for
// retry loops.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

#include "core/clock.h"

namespace agentd::kube {

// A token bucket holding at most `burst` tokens, refilled at `qps` tokens per second (measured
// on clock.SteadyNow()). Thread-safe. Reserve() always takes a token, going into debt when the
// bucket is empty, so concurrent callers queue fairly: the n-th caller beyond the burst waits
// n/qps. qps <= 0 means unlimited.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, const core::Clock& clock);

  // Takes one token; returns how long the caller must wait before sending (zero when a token was
  // in the bucket).
  std::chrono::nanoseconds Reserve();
  // Tokens available now (negative while callers are queued); for tests and metrics.
  double Available() const;

 private:
  void RefillLocked(std::chrono::steady_clock::time_point now) const;

  const double qps_;
  const double burst_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  mutable double tokens_;
  mutable std::chrono::steady_clock::time_point last_;
};

struct BackoffOptions {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30'000};
  double factor = 2.0;
  // Each wait is the base wait times a random factor in [1, 1 + jitter).
  double jitter = 0.5;
};

// Exponential backoff: initial, initial*factor, ... up to max, each with jitter. Not thread-safe
// (one per retry loop).
class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, uint64_t seed = std::random_device{}());

  // The next wait; grows until Reset().
  std::chrono::milliseconds Next();
  // After a success: the next wait is `initial` again.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 random_;
  int attempt_ = 0;
};

}  // namespace agentd::kube
