// FakeClock: a Clock that moves only when a test advances it.
#pragma once

#include <mutex>

#include "core/clock.h"

namespace agentd::testing {

class FakeClock final : public core::Clock {
 public:
  explicit FakeClock(core::TimePoint start = core::TimePoint(std::chrono::seconds(1'800'000'000)))
      : now_(start) {}
  core::TimePoint Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    std::lock_guard lock(mu_);
    return std::chrono::steady_clock::time_point(now_.time_since_epoch());
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  core::TimePoint now_;
};

}  // namespace agentd::testing
