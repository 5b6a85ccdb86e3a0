#include "runner/delta_coalescer.h"

#include <gtest/gtest.h>

namespace agentd::runner {
namespace {

using std::chrono::milliseconds;

TEST(DeltaCoalescerTest, EmitsFirstDeltaAtOnceThenBatchesWithinTheInterval) {
  DeltaCoalescer c(milliseconds(50), 1024);
  DeltaCoalescer::TimePoint t0{};
  EXPECT_EQ(c.Add("Hel", t0), "Hel");
  EXPECT_EQ(c.Add("lo", t0 + milliseconds(10)), "");
  EXPECT_EQ(c.Add(", ", t0 + milliseconds(20)), "");
  EXPECT_EQ(c.Add("world", t0 + milliseconds(50)), "lo, world");
  EXPECT_EQ(c.Add("!", t0 + milliseconds(60)), "");
  EXPECT_EQ(c.Flush(t0 + milliseconds(61)), "!");
  EXPECT_EQ(c.Flush(t0 + milliseconds(62)), "");
}

TEST(DeltaCoalescerTest, EmitsEarlyOnceEnoughBytesWait) {
  DeltaCoalescer c(milliseconds(50), 10);
  DeltaCoalescer::TimePoint t0{};
  EXPECT_EQ(c.Add("a", t0), "a");
  EXPECT_EQ(c.Add("12345", t0 + milliseconds(1)), "");
  EXPECT_EQ(c.Add("67890", t0 + milliseconds(2)), "1234567890");
}

TEST(DeltaCoalescerTest, ConcatenationOfEmittedTextEqualsInput) {
  DeltaCoalescer c(milliseconds(50), 16);
  DeltaCoalescer::TimePoint t{};
  std::string input;
  std::string emitted;
  for (int i = 0; i < 500; ++i) {
    std::string piece = std::to_string(i) + " ";
    input += piece;
    t += milliseconds(i % 7);
    emitted += c.Add(piece, t);
  }
  emitted += c.Flush(t);
  EXPECT_EQ(emitted, input);
}

}  // namespace
}  // namespace agentd::runner
