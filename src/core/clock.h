// Clock: the one source of "now" so tests can inject time.
#pragma once

#include <chrono>

namespace agentd::core {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

// Thread-safe. Implementations: SystemClock (here), FakeClock (testing/).
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for timestamps shown to people and stored.
  virtual TimePoint Now() const = 0;
  // Monotonic time, for deadlines and durations.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  // A process-wide instance for composition roots.
  static SystemClock& Instance();
};

}  // namespace agentd::core
