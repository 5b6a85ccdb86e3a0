#include "core/env.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

TEST(EnvTest, ParsesBoundedIntegers) {
  EXPECT_EQ(*ParseInt("5", 1, 10, "WORKER_CONCURRENCY"), 5);
  EXPECT_EQ(*ParseInt("-3", -5, 5, "x"), -3);
  auto r = ParseInt("0", 1, 10, "WORKER_CONCURRENCY");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "WORKER_CONCURRENCY: \"0\" is out of range [1, 10]");
  EXPECT_FALSE(ParseInt("5x", 1, 10, "x").ok());
  EXPECT_FALSE(ParseInt("99999999999999999999999", 1, 10, "x").ok());
}

TEST(EnvTest, ParsesDurations) {
  EXPECT_EQ(*ParseDuration("500ms", "d"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseDuration("30s", "d"), std::chrono::seconds(30));
  EXPECT_EQ(*ParseDuration("2m", "d"), std::chrono::minutes(2));
  EXPECT_EQ(*ParseDuration("7", "d"), std::chrono::seconds(7));
  EXPECT_FALSE(ParseDuration("soon", "d").ok());
}

TEST(EnvTest, SplitsListsAndDropsEmpties) {
  EXPECT_EQ(SplitList(" a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
}

}  // namespace
}  // namespace agentd::core
