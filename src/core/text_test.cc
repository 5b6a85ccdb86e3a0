#include "core/text.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

TEST(TextTest, QuotesAndCutsLongText) {
  EXPECT_EQ(QuoteForMessage("abc"), "\"abc\"");
  EXPECT_EQ(QuoteForMessage("abcdef", 3), "\"abc...\"");
}

TEST(TextTest, EditDistanceIgnoresAsciiCase) {
  EXPECT_EQ(EditDistance("maxTurns", "maxturns"), 0u);
  EXPECT_EQ(EditDistance("maxTurn", "maxTurns"), 1u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

}  // namespace
}  // namespace agentd::core
