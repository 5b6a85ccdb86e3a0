#include "exec/local/process_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace agentd::exec::local {
namespace {

TEST(ProcessInfoTest, ParsesStartTimeAfterACommandNameWithSpacesAndParentheses) {
  std::string stat =
      "4242 (evil) name (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 "
      "1000 10 18446744073709551615\n";
  auto start = ParseStartTimeFromStat(stat);
  ASSERT_TRUE(start.ok()) << start.error().message;
  EXPECT_EQ(*start, 987654u);
}

TEST(ProcessInfoTest, RejectsATruncatedStatLine) {
  EXPECT_FALSE(ParseStartTimeFromStat("42 (x) S 1 2 3").ok());
  EXPECT_FALSE(ParseStartTimeFromStat("garbage").ok());
}

TEST(ProcessInfoTest, ReadsTheStartTimeOfThisProcessAndNotOfAMissingOne) {
  auto mine = ReadProcessStartTime(::getpid());
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_GT(*mine, 0u);
  auto again = ReadProcessStartTime(::getpid());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*mine, *again);
  auto missing = ReadProcessStartTime(0x3fffffff);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
}

TEST(ProcessInfoTest, ReadsTheBootId) { EXPECT_EQ(ReadBootId().size(), 36u); }

}  // namespace
}  // namespace agentd::exec::local
