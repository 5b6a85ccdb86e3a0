// MemoryBus: the single-process Bus.
#pragma once

#include <map>
#include <mutex>

#include "bus/bus.h"

namespace agentd::bus {

class MemoryBus final : public Bus {
 public:
  void Publish(const runs::Event& event) override;
  std::unique_ptr<Subscription> Subscribe(
      const std::string& run_id, std::function<void(const runs::Event&)> callback) override;

  size_t SubscriberCount() const;

 private:
  class Sub;
  struct Entry {
    std::string run_id;
    std::shared_ptr<std::function<void(const runs::Event&)>> callback;
  };
  void Unsubscribe(uint64_t id);

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::multimap<std::string, uint64_t> by_run_;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace agentd::bus
