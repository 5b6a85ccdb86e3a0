// StopSignal: the one-shot "stop now" of a runner, raised by SIGTERM (kInterrupted), by the
// run's deadline (kTimedOut) or by the control plane refusing its events (kEventsRefused) and
// observed by everything that may block: the model stream (through flag(), see
// httpclient::Request::cancel), the retry backoff (SleepFor) and the shell tool. Thread-safe; the
// first cause wins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string_view>

namespace agentd::runner {

// kEventsRefused: the control plane fenced this runner or could not take its events (a runner
// that posts its events over HTTP, see HttpEventSink).
enum class StopCause { kNone, kInterrupted, kTimedOut, kEventsRefused };
std::string_view StopCauseName(StopCause cause);

class StopSignal {
 public:
  // Not async-signal-safe: signal handlers wake a thread that calls this (see runner_main.cc).
  void Stop(StopCause cause);
  bool stopped() const { return flag_.load(); }
  StopCause cause() const;
  // For APIs that poll an atomic flag.
  const std::atomic<bool>* flag() const { return &flag_; }
  // Blocks for `duration` or until stopped. True if the whole duration passed.
  bool SleepFor(std::chrono::milliseconds duration) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> flag_{false};
  StopCause cause_ = StopCause::kNone;
};

}  // namespace agentd::runner
