// WorkQueue: the rate-limited, de-duplicating queue of object keys a reconciler drains (client-go's
// workqueue.RateLimitingInterface), so that a burst of events about one object gives one
// reconcile, one key is never reconciled by two workers at once, and a failing key backs off.
//
// Semantics:
//  * Add(key): the key is queued once however often it is added before a worker takes it. A key
//    added while a worker processes it is queued again when the worker calls Done (so the change
//    is never lost, and never handled concurrently).
//  * AddAfter(key, d): adds the key once `d` has passed on the clock; several pending delays of
//    one key keep the earliest.
//  * AddRateLimited(key): AddAfter with the larger of the key's exponential backoff
//    (base_delay * 2^(failures-1), capped at max_delay; each call counts one failure) and the
//    wait of a global token bucket (qps/burst) shared by all keys, so a storm of failing keys
//    cannot hammer the API server. Forget(key) resets the key's failures after a success.
//  * Get() blocks until a key is ready (or ShutDown), TryGet() does not. The caller must call
//    Done(key) when finished with it.
//
// Time: delays are measured on the injected clock's SteadyNow(). A blocked Get() waits in real
// time until the next delayed key is due by that clock; with a FakeClock call Wake() (or use
// TryGet) after advancing it.
//
// Thread-safe. After ShutDown, adds are ignored and Get returns nullopt at once: keys not yet
// taken are dropped (a reconciler that lost its leadership must not go on with them).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "core/clock.h"
#include "kube/rate_limit.h"

namespace agentd::operator_ {

struct WorkQueueOptions {
  // Per-key exponential backoff of AddRateLimited.
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{300'000};
  // Global token bucket of AddRateLimited (client-go's default: 10 qps, burst 100);
  // qps <= 0 = unlimited.
  double qps = 10;
  int burst = 100;
};

class WorkQueue {
 public:
  // `clock` must outlive the queue.
  explicit WorkQueue(const core::Clock& clock, WorkQueueOptions options = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // Returns the delay chosen.
  std::chrono::nanoseconds AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  // Failures counted by AddRateLimited since the last Forget.
  int Failures(const std::string& key) const;

  // The next ready key (marked as processing), or nullopt after ShutDown.
  std::optional<std::string> Get();
  // The same without blocking: nullopt when no key is ready now.
  std::optional<std::string> TryGet();
  void Done(const std::string& key);

  void ShutDown();
  bool shutting_down() const;
  // Makes a blocked Get look at the clock again.
  void Wake();

  size_t Len() const;         // keys ready now
  size_t WaitingLen() const;  // keys waiting for a delay
  size_t ProcessingLen() const;

 private:
  void AddLocked(const std::string& key);
  // Moves every delayed key that is due into the ready queue.
  void PromoteDueLocked();
  std::optional<std::string> PopLocked();

  const core::Clock& clock_;
  const WorkQueueOptions options_;
  kube::TokenBucket bucket_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // ready, in order
  std::set<std::string> dirty_;    // needs processing (queued, or re-queued at Done)
  std::set<std::string> processing_;
  std::map<std::string, std::chrono::steady_clock::time_point> waiting_;  // key -> due
  std::map<std::string, int> failures_;
  bool shutting_down_ = false;
};

}  // namespace agentd::operator_
