#include "bus/memory_bus.h"

#include <vector>

namespace agentd::bus {

class MemoryBus::Sub final : public Subscription {
 public:
  Sub(MemoryBus* bus, uint64_t id) : bus_(bus), id_(id) {}
  ~Sub() override { bus_->Unsubscribe(id_); }

 private:
  MemoryBus* bus_;
  uint64_t id_;
};

void MemoryBus::Publish(const runs::Event& event) {
  std::vector<std::shared_ptr<std::function<void(const runs::Event&)>>> targets;
  {
    std::lock_guard lock(mu_);
    auto [begin, end] = by_run_.equal_range(event.run_id);
    for (auto it = begin; it != end; ++it) targets.push_back(entries_.at(it->second).callback);
  }
  for (auto& callback : targets) (*callback)(event);
}

std::unique_ptr<Subscription> MemoryBus::Subscribe(
    const std::string& run_id, std::function<void(const runs::Event&)> callback) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  entries_[id] = {run_id,
                  std::make_shared<std::function<void(const runs::Event&)>>(std::move(callback))};
  by_run_.emplace(run_id, id);
  return std::make_unique<Sub>(this, id);
}

void MemoryBus::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto [begin, end] = by_run_.equal_range(it->second.run_id);
  for (auto r = begin; r != end; ++r) {
    if (r->second == id) {
      by_run_.erase(r);
      break;
    }
  }
  entries_.erase(it);
}

size_t MemoryBus::SubscriberCount() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace agentd::bus
