#include "kube/rate_limit.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace agentd::kube {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, BurstPassesAtOnceThenCallersQueueAtTheRate) {
  testing::FakeClock clock;
  TokenBucket bucket(/*qps=*/2, /*burst=*/3, clock);
  EXPECT_EQ(bucket.Reserve(), 0ns);
  EXPECT_EQ(bucket.Reserve(), 0ns);
  EXPECT_EQ(bucket.Reserve(), 0ns);
  EXPECT_EQ(bucket.Reserve(), 500ms);
  EXPECT_EQ(bucket.Reserve(), 1000ms);
  EXPECT_DOUBLE_EQ(bucket.Available(), -2);
}

TEST(TokenBucketTest, TokensRefillWithTimeUpToTheBurst) {
  testing::FakeClock clock;
  TokenBucket bucket(10, 5, clock);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bucket.Reserve(), 0ns);
  EXPECT_EQ(bucket.Reserve(), 100ms);  // in debt by one token
  clock.Advance(300ms);                // +3 tokens: 2 available
  EXPECT_DOUBLE_EQ(bucket.Available(), 2);
  clock.Advance(std::chrono::hours(1));
  EXPECT_DOUBLE_EQ(bucket.Available(), 5);
  EXPECT_EQ(bucket.Reserve(), 0ns);
}

TEST(TokenBucketTest, ZeroQpsMeansUnlimited) {
  testing::FakeClock clock;
  TokenBucket bucket(0, 1, clock);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(bucket.Reserve(), 0ns);
}

TEST(BackoffTest, GrowsExponentiallyWithJitterUpToTheCap) {
  Backoff backoff({.initial = 100ms, .max = 1000ms, .factor = 2, .jitter = 0.5}, /*seed=*/42);
  std::chrono::milliseconds base = 100ms;
  for (int i = 0; i < 4; ++i) {
    auto wait = backoff.Next();
    EXPECT_GE(wait, base) << i;
    EXPECT_LT(wait, base * 3 / 2 + 1ms) << i;
    base *= 2;
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(backoff.Next(), 1000ms);
  backoff.Reset();
  EXPECT_LT(backoff.Next(), 151ms);
}

TEST(BackoffTest, JitterSpreadsWaits) {
  Backoff a({.initial = 1000ms, .max = 60'000ms, .jitter = 0.5}, 1);
  Backoff b({.initial = 1000ms, .max = 60'000ms, .jitter = 0.5}, 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) differ = differ || a.Next() != b.Next();
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace agentd::kube
