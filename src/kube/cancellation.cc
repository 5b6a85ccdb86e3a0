#include "kube/cancellation.h"

#include <thread>

namespace agentd::kube {

void Cancellation::Cancel() {
  {
    std::lock_guard lock(mu_);
    flag_.store(true);
  }
  cv_.notify_all();
}

bool Cancellation::WaitFor(std::chrono::nanoseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return flag_.load(); });
}

bool RealSleeper::SleepFor(std::chrono::nanoseconds duration, const Cancellation* cancel) {
  if (cancel != nullptr) {
    if (duration.count() <= 0) return !cancel->cancelled();
    return !cancel->WaitFor(duration);
  }
  if (duration.count() > 0) std::this_thread::sleep_for(duration);
  return true;
}

RealSleeper& RealSleeper::Instance() {
  static RealSleeper sleeper;
  return sleeper;
}

}  // namespace agentd::kube
