// Bus: live fan-out of committed run events to followers (SSE streams), in this process
// (MemoryBus) or between replicas (RedisBus, later). Events are always committed to the store
// before they are published, so a follower that misses a message can read it from the store;
// the bus only makes it fast.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runs/run.h"

namespace agentd::bus {

// Unsubscribes when destroyed.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Delivers `event` to every subscriber of event.run_id. Non-blocking; thread-safe.
  virtual void Publish(const runs::Event& event) = 0;
  // `callback` runs on a publisher's thread, in publish order per run; it must not block and must
  // not subscribe or unsubscribe from inside.
  virtual std::unique_ptr<Subscription> Subscribe(
      const std::string& run_id, std::function<void(const runs::Event&)> callback) = 0;
};

}  // namespace agentd::bus
