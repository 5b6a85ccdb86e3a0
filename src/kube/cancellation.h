// Cancellation and waiting: how a loop of the kube module (watch, retry, backoff, leader
// election) is told to stop, and the one place it waits, so tests can replace the wait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace agentd::kube {

// A one-shot stop signal. Thread-safe. Cancel() wakes every WaitFor at once, and flag() feeds
// httpclient::Request::cancel so a long-poll in progress is abandoned within ~50 ms.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Idempotent.
  void Cancel();
  bool cancelled() const { return flag_.load(); }
  // Blocks until cancelled or until `timeout` has passed; true when cancelled.
  bool WaitFor(std::chrono::nanoseconds timeout) const;
  const std::atomic<bool>* flag() const { return &flag_; }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> flag_{false};
};

// Waits between attempts (Retry-After, backoff, leader election retry period). The default is
// RealSleeper; tests inject one that records the requested waits and returns at once.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Waits `duration` (nothing for zero or less), returning early when `cancel` (may be null) is
  // cancelled. Returns false when cancelled, true when the full duration passed.
  virtual bool SleepFor(std::chrono::nanoseconds duration, const Cancellation* cancel) = 0;
};

// Waits in real (steady) time on a condition variable. Thread-safe; stateless.
class RealSleeper final : public Sleeper {
 public:
  bool SleepFor(std::chrono::nanoseconds duration, const Cancellation* cancel) override;
  static RealSleeper& Instance();
};

}  // namespace agentd::kube
