// The queue of runs waiting for capacity, and the pure choice of which ones to start next.
//
// Dispatch order: higher priority first, then older (created_at) first, then by id, so the
// order is total and the same after a restart. Concurrency: at most `global` runs executing at
// once, and at most an agent's `max_concurrent` of that agent; a run held back by its agent's
// limit never blocks runs of other agents behind it.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"

namespace agentd::scheduler {

struct QueuedRun {
  std::string id;
  std::string agent;
  int priority = 0;
  core::TimePoint created_at;
  // Not part of the order:
  std::optional<core::TimePoint> queue_deadline;  // TimedOut (QueueTimeout) if still queued then
  std::chrono::steady_clock::time_point enqueued_at{};  // for the dispatch latency metric
};

struct ConcurrencyLimits {
  int global = 5;  // Starting + Running runs at once; <= 0 starts nothing
  // Per agent (Agent.spec.limits.max_concurrent); a missing entry or 0 means no limit of its own.
  std::map<std::string, int, std::less<>> per_agent;
};

struct RunningCounts {
  int total = 0;
  std::map<std::string, int, std::less<>> per_agent;
};

// True if `a` is dispatched before `b`.
bool DispatchesBefore(const QueuedRun& a, const QueuedRun& b);

// Queued runs grouped by agent, each group in dispatch order. Not thread-safe.
class RunQueue {
 public:
  // False (and no change) if a run with this id is queued already.
  bool Push(QueuedRun run);
  // The removed run, or nullopt if it was not queued.
  std::optional<QueuedRun> Erase(std::string_view id);
  bool Contains(std::string_view id) const { return by_id_.count(std::string(id)) != 0; }
  size_t size() const { return by_id_.size(); }
  bool empty() const { return by_id_.empty(); }
  // Agents with at least one queued run.
  std::vector<std::string> Agents() const;
  // Every queued run in dispatch order (O(n log n); for tests and diagnostics).
  std::vector<QueuedRun> Ordered() const;

 private:
  struct Order {
    bool operator()(const QueuedRun& a, const QueuedRun& b) const { return DispatchesBefore(a, b); }
  };
  using AgentQueue = std::set<QueuedRun, Order>;

  friend std::vector<QueuedRun> PickNext(const RunQueue&, const RunningCounts&,
                                         const ConcurrencyLimits&);

  std::map<std::string, AgentQueue, std::less<>> by_agent_;
  std::unordered_map<std::string, QueuedRun> by_id_;
};

// The runs to start now, best first: repeatedly the best queued run whose agent is below its
// limit, while the global limit allows. Changes nothing. Cost O(agents * free slots).
std::vector<QueuedRun> PickNext(const RunQueue& queue, const RunningCounts& running,
                                const ConcurrencyLimits& limits);

}  // namespace agentd::scheduler
