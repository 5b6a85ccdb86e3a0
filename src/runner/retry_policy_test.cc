#include "runner/retry_policy.h"

#include <gtest/gtest.h>

#include "core/time.h"

namespace agentd::runner {
namespace {

using std::chrono::milliseconds;

RetryInput Failure(int attempt, int status, double jitter = 0.999999) {
  return {.attempt = attempt, .http_status = status, .now = {}, .jitter = jitter};
}

TEST(RetryPolicyTest, RetriesRateLimitsServerErrorsAndTransportFailures) {
  RetryPolicy policy;
  for (int status : {0, 408, 429, 500, 502, 503, 504, 599}) {
    EXPECT_TRUE(DecideRetry(policy, Failure(1, status)).retry) << status;
  }
}

TEST(RetryPolicyTest, DoesNotRetryClientErrors) {
  RetryPolicy policy;
  for (int status : {400, 401, 403, 404, 413, 422}) {
    EXPECT_FALSE(DecideRetry(policy, Failure(1, status)).retry) << status;
  }
}

TEST(RetryPolicyTest, StopsAfterMaxRetries) {
  RetryPolicy policy{.max_retries = 2};
  EXPECT_TRUE(DecideRetry(policy, Failure(1, 500)).retry);
  EXPECT_TRUE(DecideRetry(policy, Failure(2, 500)).retry);
  EXPECT_FALSE(DecideRetry(policy, Failure(3, 500)).retry);
  EXPECT_FALSE(DecideRetry(RetryPolicy{.max_retries = 0}, Failure(1, 500)).retry);
}

TEST(RetryPolicyTest, DoublesTheDelayPerAttemptUpToTheCap) {
  RetryPolicy policy{.max_retries = 20};
  // Jitter near 1 gives the full backoff.
  EXPECT_NEAR(DecideRetry(policy, Failure(1, 500)).delay.count(), 500, 1);
  EXPECT_NEAR(DecideRetry(policy, Failure(2, 500)).delay.count(), 1000, 1);
  EXPECT_NEAR(DecideRetry(policy, Failure(3, 500)).delay.count(), 2000, 1);
  EXPECT_NEAR(DecideRetry(policy, Failure(7, 500)).delay.count(), 30'000, 1);
  EXPECT_NEAR(DecideRetry(policy, Failure(19, 500)).delay.count(), 30'000, 1);
}

TEST(RetryPolicyTest, JitterKeepsDelayBetweenHalfAndAllOfTheBackoff) {
  RetryPolicy policy;
  EXPECT_EQ(DecideRetry(policy, Failure(3, 429, 0.0)).delay, milliseconds(1000));
  EXPECT_EQ(DecideRetry(policy, Failure(3, 429, 0.5)).delay, milliseconds(1500));
  EXPECT_LE(DecideRetry(policy, Failure(3, 429, 0.999)).delay, milliseconds(2000));
}

TEST(RetryPolicyTest, HonoursRetryAfterSecondsInsteadOfBackoff) {
  RetryPolicy policy;
  RetryInput input = Failure(1, 429);
  input.retry_after = "7";
  auto decision = DecideRetry(policy, input);
  EXPECT_TRUE(decision.retry);
  EXPECT_EQ(decision.delay, milliseconds(7000));
}

TEST(RetryPolicyTest, CapsRetryAfterAtSixtySeconds) {
  RetryPolicy policy;
  RetryInput input = Failure(1, 503);
  input.retry_after = "3600";
  EXPECT_EQ(DecideRetry(policy, input).delay, milliseconds(60'000));
}

TEST(RetryPolicyTest, HonoursRetryAfterHttpDate) {
  auto now = core::ParseRfc3339("1994-11-06T08:49:30Z").value();
  RetryInput input = Failure(1, 429);
  input.now = now;
  input.retry_after = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_EQ(DecideRetry(RetryPolicy{}, input).delay, milliseconds(7000));
}

TEST(RetryPolicyTest, TreatsPastRetryAfterDateAsNoWait) {
  auto now = core::ParseRfc3339("2000-01-01T00:00:00Z").value();
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(0));
}

TEST(RetryPolicyTest, FallsBackToBackoffForMalformedRetryAfter) {
  for (const char* bad : {"soon", "-5", "1.5", "Sun, 06 Nov 1994 25:49:37 GMT",
                          "Sun, 31 Feb 1994 08:49:37 GMT", ""}) {
    RetryInput input = Failure(2, 429);
    input.retry_after = bad;
    EXPECT_NEAR(DecideRetry(RetryPolicy{}, input).delay.count(), 1000, 1) << bad;
  }
}

TEST(RetryPolicyTest, ParsesRetryAfterWithSurroundingSpaces) {
  EXPECT_EQ(ParseRetryAfter(" 2 ", {}), milliseconds(2000));
  EXPECT_EQ(ParseRetryAfter("0", {}), milliseconds(0));
  EXPECT_FALSE(ParseRetryAfter("abc", {}).has_value());
}

}  // namespace
}  // namespace agentd::runner
