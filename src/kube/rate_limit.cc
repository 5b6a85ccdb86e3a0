#include "kube/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace agentd::kube {

TokenBucket::TokenBucket(double qps, int burst, const core::Clock& clock)
    : qps_(qps),
      burst_(std::max(1, burst)),
      clock_(clock),
      tokens_(std::max(1, burst)),
      last_(clock.SteadyNow()) {}

void TokenBucket::RefillLocked(std::chrono::steady_clock::time_point now) const {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  last_ = now;
}

std::chrono::nanoseconds TokenBucket::Reserve() {
  if (qps_ <= 0) return std::chrono::nanoseconds(0);
  std::lock_guard lock(mu_);
  RefillLocked(clock_.SteadyNow());
  tokens_ -= 1;
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  double seconds = -tokens_ / qps_;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(seconds * 1e9)));
}

double TokenBucket::Available() const {
  std::lock_guard lock(mu_);
  if (qps_ > 0) RefillLocked(clock_.SteadyNow());
  return tokens_;
}

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), random_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(options_.initial.count()) *
                std::pow(options_.factor, static_cast<double>(std::min(attempt_, 62)));
  double cap = static_cast<double>(options_.max.count());
  base = std::min(base, cap);
  ++attempt_;
  double jitter = 0;
  if (options_.jitter > 0) {
    jitter = std::uniform_real_distribution<double>(0.0, options_.jitter)(random_);
  }
  double wait = std::min(base * (1.0 + jitter), cap);
  return std::chrono::milliseconds(static_cast<int64_t>(wait));
}

}  // namespace agentd::kube
