#include "operator/work_queue.h"

#include <algorithm>
#include <cmath>

namespace agentd::operator_ {

WorkQueue::WorkQueue(const core::Clock& clock, WorkQueueOptions options)
    : clock_(clock), options_(options), bucket_(options.qps, options.burst, clock) {}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  AddLocked(key);
}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;   // already queued or to be re-queued
  if (processing_.count(key) != 0) return;  // Done() queues it again
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  if (delay <= std::chrono::nanoseconds::zero()) {
    Add(key);
    return;
  }
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  auto due =
      clock_.SteadyNow() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay);
  auto [it, inserted] = waiting_.emplace(key, due);
  if (!inserted && due < it->second) it->second = due;
  // A blocked Get may be waiting for a later key: let it recompute its wait.
  cv_.notify_all();
}

std::chrono::nanoseconds WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::nanoseconds delay{0};
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return delay;
    int failures = ++failures_[key];
    // base * 2^(failures-1), computed in double so large counts saturate instead of overflowing.
    double base = static_cast<double>(options_.base_delay.count());
    double grown = base * std::pow(2.0, std::min(failures - 1, 62));
    double capped = std::min(grown, static_cast<double>(options_.max_delay.count()));
    delay = std::chrono::milliseconds(static_cast<int64_t>(capped));
  }
  delay = std::max(delay, bucket_.Reserve());
  AddAfter(key, delay);
  return delay;
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int WorkQueue::Failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::PromoteDueLocked() {
  if (waiting_.empty()) return;
  auto now = clock_.SteadyNow();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second <= now) {
      std::string key = it->first;
      it = waiting_.erase(it);
      AddLocked(key);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> WorkQueue::PopLocked() {
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    PromoteDueLocked();
    if (auto key = PopLocked()) return key;
    if (waiting_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next =
        std::min_element(waiting_.begin(), waiting_.end(), [](const auto& a, const auto& b) {
          return a.second < b.second;
        })->second;
    auto wait = next - clock_.SteadyNow();
    if (wait > std::chrono::steady_clock::duration::zero()) cv_.wait_for(lock, wait);
  }
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard lock(mu_);
  if (shutting_down_) return std::nullopt;
  PromoteDueLocked();
  return PopLocked();
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) != 0 && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  waiting_.clear();
  queue_.clear();
  dirty_.clear();
  cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

void WorkQueue::Wake() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::WaitingLen() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

size_t WorkQueue::ProcessingLen() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

}  // namespace agentd::operator_
