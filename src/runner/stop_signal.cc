#include "runner/stop_signal.h"

namespace agentd::runner {

std::string_view StopCauseName(StopCause cause) {
  switch (cause) {
    case StopCause::kNone:
      return "none";
    case StopCause::kInterrupted:
      return "interrupted";
    case StopCause::kTimedOut:
      return "timed out";
    case StopCause::kEventsRefused:
      return "events refused";
  }
  return "unknown";
}

void StopSignal::Stop(StopCause cause) {
  std::lock_guard lock(mu_);
  if (cause_ != StopCause::kNone) return;
  cause_ = cause;
  flag_.store(true);
  cv_.notify_all();
}

StopCause StopSignal::cause() const {
  std::lock_guard lock(mu_);
  return cause_;
}

bool StopSignal::SleepFor(std::chrono::milliseconds duration) const {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, duration, [this] { return cause_ != StopCause::kNone; });
}

}  // namespace agentd::runner
