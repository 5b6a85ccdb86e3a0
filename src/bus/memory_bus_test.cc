#include "bus/memory_bus.h"

#include <gtest/gtest.h>

namespace agentd::bus {
namespace {

TEST(MemoryBusTest, DeliversOnlyToSubscribersOfTheRunUntilUnsubscribed) {
  MemoryBus bus;
  std::vector<int64_t> got_a, got_b;
  auto sub_a = bus.Subscribe("a", [&](const runs::Event& e) { got_a.push_back(e.seq); });
  auto sub_b = bus.Subscribe("b", [&](const runs::Event& e) { got_b.push_back(e.seq); });
  bus.Publish({.run_id = "a", .seq = 1});
  bus.Publish({.run_id = "b", .seq = 7});
  sub_a.reset();
  bus.Publish({.run_id = "a", .seq = 2});
  EXPECT_EQ(got_a, std::vector<int64_t>{1});
  EXPECT_EQ(got_b, std::vector<int64_t>{7});
  EXPECT_EQ(bus.SubscriberCount(), 1u);
}

}  // namespace
}  // namespace agentd::bus
