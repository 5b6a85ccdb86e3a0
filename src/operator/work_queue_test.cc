#include "operator/work_queue.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace agentd::operator_ {
namespace {

using namespace std::chrono_literals;

class WorkQueueTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
};

TEST_F(WorkQueueTest, AKeyAddedManyTimesIsHandedOutOnce) {
  WorkQueue queue(clock_);
  queue.Add("ns/a");
  queue.Add("ns/b");
  queue.Add("ns/a");
  queue.Add("ns/a");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.TryGet(), "ns/a");
  EXPECT_EQ(queue.TryGet(), "ns/b");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, AKeyAddedWhileProcessedIsQueuedAgainOnlyAfterDone) {
  WorkQueue queue(clock_);
  queue.Add("ns/a");
  ASSERT_EQ(queue.TryGet(), "ns/a");
  queue.Add("ns/a");
  queue.Add("ns/a");
  // Never handed to a second worker while the first holds it.
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  queue.Done("ns/a");
  EXPECT_EQ(queue.TryGet(), "ns/a");
  queue.Done("ns/a");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, DoneWithoutNewAddsDoesNotQueueTheKeyAgain) {
  WorkQueue queue(clock_);
  queue.Add("ns/a");
  ASSERT_EQ(queue.TryGet(), "ns/a");
  queue.Done("ns/a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.ProcessingLen(), 0u);
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClockAndKeepsTheEarliestDelay) {
  WorkQueue queue(clock_);
  queue.AddAfter("ns/a", 10s);
  queue.AddAfter("ns/a", 3s);
  queue.AddAfter("ns/a", 20s);
  EXPECT_EQ(queue.WaitingLen(), 1u);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock_.Advance(2999ms);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock_.Advance(1ms);
  EXPECT_EQ(queue.TryGet(), "ns/a");
  queue.Done("ns/a");
  EXPECT_EQ(queue.WaitingLen(), 0u);
  clock_.Advance(30s);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, ADelayedKeyThatIsAlreadyQueuedIsNotDuplicated) {
  WorkQueue queue(clock_);
  queue.Add("ns/a");
  queue.AddAfter("ns/a", 1s);
  clock_.Advance(1s);
  EXPECT_EQ(queue.TryGet(), "ns/a");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, RateLimitedAddsBackOffExponentiallyPerKeyUntilForgotten) {
  WorkQueue queue(clock_, {.base_delay = 10ms, .max_delay = 70ms, .qps = 0});
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 10ms);
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 20ms);
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 40ms);
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 70ms);  // capped
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 70ms);
  EXPECT_EQ(queue.Failures("ns/a"), 5);
  // Another key has its own count.
  EXPECT_EQ(queue.AddRateLimited("ns/b"), 10ms);
  queue.Forget("ns/a");
  EXPECT_EQ(queue.Failures("ns/a"), 0);
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 10ms);
}

TEST_F(WorkQueueTest, RateLimitedKeyBecomesReadyAfterItsBackoff) {
  WorkQueue queue(clock_, {.base_delay = 100ms, .qps = 0});
  queue.AddRateLimited("ns/a");
  queue.AddRateLimited("ns/a");  // the waiting entry keeps the earlier due time
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  clock_.Advance(100ms);
  EXPECT_EQ(queue.TryGet(), "ns/a");
}

TEST_F(WorkQueueTest, TheGlobalBucketSpacesOutRetriesOfManyKeys) {
  // Burst 2 at 10 per second: the third and fourth failing keys wait 100 ms and 200 ms even
  // though their own backoff is 1 ms.
  WorkQueue queue(clock_, {.base_delay = 1ms, .qps = 10, .burst = 2});
  EXPECT_EQ(queue.AddRateLimited("ns/a"), 1ms);
  EXPECT_EQ(queue.AddRateLimited("ns/b"), 1ms);
  EXPECT_EQ(queue.AddRateLimited("ns/c"), 100ms);
  EXPECT_EQ(queue.AddRateLimited("ns/d"), 200ms);
  clock_.Advance(100ms);
  std::vector<std::string> ready;
  while (auto key = queue.TryGet()) ready.push_back(*key);
  EXPECT_EQ(ready, (std::vector<std::string>{"ns/a", "ns/b", "ns/c"}));
}

TEST_F(WorkQueueTest, ShutDownWakesABlockedGetAndDropsEverything) {
  WorkQueue queue(clock_);
  std::atomic<bool> returned{false};
  std::optional<std::string> got = "unset";
  std::thread worker([&] {
    got = queue.Get();
    returned = true;
  });
  queue.AddAfter("ns/later", 1h);
  queue.ShutDown();
  worker.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(got, std::nullopt);
  queue.Add("ns/a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.WaitingLen(), 0u);
}

TEST_F(WorkQueueTest, ABlockedGetReturnsAnAddedKey) {
  WorkQueue queue(clock_);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  queue.Add("ns/a");
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST_F(WorkQueueTest, ABlockedGetSeesADelayedKeyAfterTheClockMovesAndAWake) {
  WorkQueue queue(clock_);
  queue.AddAfter("ns/a", 5s);
  std::optional<std::string> got;
  std::thread worker([&] { got = queue.Get(); });
  clock_.Advance(5s);
  queue.Wake();
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST(WorkQueueRealClockTest, ABlockedGetWakesWhenADelayIsDue) {
  core::SystemClock clock;
  WorkQueue queue(clock);
  auto start = std::chrono::steady_clock::now();
  queue.AddAfter("ns/a", 30ms);
  EXPECT_EQ(queue.Get(), "ns/a");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
}

}  // namespace
}  // namespace agentd::operator_
