#include "scheduler/run_queue.h"

#include <algorithm>

namespace agentd::scheduler {

bool DispatchesBefore(const QueuedRun& a, const QueuedRun& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.created_at != b.created_at) return a.created_at < b.created_at;
  return a.id < b.id;
}

bool RunQueue::Push(QueuedRun run) {
  if (by_id_.count(run.id) != 0) return false;
  by_agent_[run.agent].insert(run);
  std::string id = run.id;
  by_id_.emplace(std::move(id), std::move(run));
  return true;
}

std::optional<QueuedRun> RunQueue::Erase(std::string_view id) {
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return std::nullopt;
  QueuedRun run = std::move(it->second);
  by_id_.erase(it);
  auto group = by_agent_.find(run.agent);
  if (group != by_agent_.end()) {
    group->second.erase(run);
    if (group->second.empty()) by_agent_.erase(group);
  }
  return run;
}

std::vector<std::string> RunQueue::Agents() const {
  std::vector<std::string> agents;
  agents.reserve(by_agent_.size());
  for (const auto& [agent, runs] : by_agent_) agents.push_back(agent);
  return agents;
}

std::vector<QueuedRun> RunQueue::Ordered() const {
  std::vector<QueuedRun> out;
  out.reserve(by_id_.size());
  for (const auto& [agent, runs] : by_agent_) out.insert(out.end(), runs.begin(), runs.end());
  std::sort(out.begin(), out.end(), DispatchesBefore);
  return out;
}

std::vector<QueuedRun> PickNext(const RunQueue& queue, const RunningCounts& running,
                                const ConcurrencyLimits& limits) {
  const int free = limits.global - running.total;
  if (free <= 0) return {};
  // Each agent can contribute at most min(its free slots, the global free slots) runs, its best
  // ones; the best `free` of those candidates are exactly what repeatedly taking the best
  // eligible head would pick.
  std::vector<QueuedRun> candidates;
  for (const auto& [agent, runs] : queue.by_agent_) {
    int take = free;
    auto limit = limits.per_agent.find(agent);
    if (limit != limits.per_agent.end() && limit->second > 0) {
      auto count = running.per_agent.find(agent);
      int busy = count == running.per_agent.end() ? 0 : count->second;
      take = std::min(take, limit->second - busy);
    }
    for (auto it = runs.begin(); take > 0 && it != runs.end(); ++it, --take) {
      candidates.push_back(*it);
    }
  }
  std::sort(candidates.begin(), candidates.end(), DispatchesBefore);
  if (candidates.size() > static_cast<size_t>(free)) candidates.resize(static_cast<size_t>(free));
  return candidates;
}

}  // namespace agentd::scheduler
