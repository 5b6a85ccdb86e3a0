#include "scheduler/run_queue.h"

#include <gtest/gtest.h>

namespace agentd::scheduler {
namespace {

using namespace std::chrono_literals;

const core::TimePoint kT0 = core::TimePoint(std::chrono::seconds(1'800'000'000));

QueuedRun Q(std::string id, std::string agent, int priority, core::TimePoint created) {
  return {
      .id = std::move(id), .agent = std::move(agent), .priority = priority, .created_at = created};
}

std::vector<std::string> Ids(const std::vector<QueuedRun>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs) out.push_back(r.id);
  return out;
}

TEST(RunQueueTest, OrdersByPriorityThenAgeThenId) {
  RunQueue queue;
  queue.Push(Q("old-low", "a", 0, kT0));
  queue.Push(Q("new-high", "b", 5, kT0 + 10s));
  queue.Push(Q("old-high", "a", 5, kT0 + 1s));
  queue.Push(Q("tie-b", "c", 0, kT0 + 5s));
  queue.Push(Q("tie-a", "c", 0, kT0 + 5s));
  queue.Push(Q("negative", "a", -3, kT0 - 100s));
  EXPECT_EQ(Ids(queue.Ordered()), (std::vector<std::string>{"old-high", "new-high", "old-low",
                                                            "tie-a", "tie-b", "negative"}));
}

TEST(RunQueueTest, PushIsIdempotentAndEraseReturnsTheRun) {
  RunQueue queue;
  EXPECT_TRUE(queue.Push(Q("r1", "a", 0, kT0)));
  EXPECT_FALSE(queue.Push(Q("r1", "a", 9, kT0)));
  EXPECT_EQ(queue.size(), 1u);
  auto erased = queue.Erase("r1");
  ASSERT_TRUE(erased.has_value());
  EXPECT_EQ(erased->priority, 0);
  EXPECT_FALSE(queue.Erase("r1").has_value());
  EXPECT_TRUE(queue.empty());
  EXPECT_TRUE(queue.Agents().empty());
}

TEST(PickNextTest, TakesTheBestRunsUpToTheGlobalLimit) {
  RunQueue queue;
  queue.Push(Q("low", "a", 0, kT0));
  queue.Push(Q("high", "b", 9, kT0 + 5s));
  queue.Push(Q("mid", "c", 5, kT0 + 1s));
  EXPECT_EQ(Ids(PickNext(queue, {}, {.global = 2})), (std::vector<std::string>{"high", "mid"}));
  EXPECT_EQ(Ids(PickNext(queue, {.total = 1}, {.global = 2})), (std::vector<std::string>{"high"}));
  EXPECT_TRUE(PickNext(queue, {.total = 2}, {.global = 2}).empty());
  EXPECT_TRUE(PickNext(queue, {}, {.global = 0}).empty());
}

TEST(PickNextTest, SkipsAnAgentAtItsLimitWithoutBlockingOthers) {
  RunQueue queue;
  queue.Push(Q("a1", "a", 9, kT0));
  queue.Push(Q("a2", "a", 9, kT0 + 1s));
  queue.Push(Q("a3", "a", 9, kT0 + 2s));
  queue.Push(Q("b1", "b", 0, kT0 + 3s));
  ConcurrencyLimits limits{.global = 10, .per_agent = {{"a", 2}}};

  EXPECT_EQ(Ids(PickNext(queue, {}, limits)), (std::vector<std::string>{"a1", "a2", "b1"}));
  RunningCounts one_a{.total = 1, .per_agent = {{"a", 1}}};
  EXPECT_EQ(Ids(PickNext(queue, one_a, limits)), (std::vector<std::string>{"a1", "b1"}));
  RunningCounts two_a{.total = 2, .per_agent = {{"a", 2}}};
  EXPECT_EQ(Ids(PickNext(queue, two_a, limits)), (std::vector<std::string>{"b1"}));
}

TEST(PickNextTest, ZeroPerAgentLimitMeansOnlyTheGlobalOne) {
  RunQueue queue;
  for (int i = 0; i < 5; ++i) queue.Push(Q("a" + std::to_string(i), "a", 0, kT0 + i * 1s));
  ConcurrencyLimits limits{.global = 3, .per_agent = {{"a", 0}}};
  EXPECT_EQ(Ids(PickNext(queue, {}, limits)), (std::vector<std::string>{"a0", "a1", "a2"}));
}

TEST(PickNextTest, MatchesPickingTheBestEligibleHeadOneAtATime) {
  // Reference: the obvious greedy loop over the whole queue.
  RunQueue queue;
  const char* agents[] = {"a", "b", "c"};
  for (int i = 0; i < 30; ++i) {
    queue.Push(Q("r" + std::to_string(i), agents[(i * 7) % 3], (i * 5) % 4, kT0 + (i % 6) * 1s));
  }
  ConcurrencyLimits limits{.global = 7, .per_agent = {{"a", 1}, {"b", 2}}};
  RunningCounts running{.total = 2, .per_agent = {{"b", 1}, {"c", 1}}};

  std::vector<std::string> expected;
  RunningCounts counts = running;
  for (const QueuedRun& run : queue.Ordered()) {
    if (counts.total >= limits.global) break;
    auto limit = limits.per_agent.find(run.agent);
    if (limit != limits.per_agent.end() && counts.per_agent[run.agent] >= limit->second) continue;
    expected.push_back(run.id);
    ++counts.total;
    ++counts.per_agent[run.agent];
  }
  EXPECT_EQ(Ids(PickNext(queue, running, limits)), expected);
  EXPECT_EQ(expected.size(), 5u);
}

}  // namespace
}  // namespace agentd::scheduler
