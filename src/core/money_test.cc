#include "core/money.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

TEST(MoneyTest, ParsesDecimalDollarsExactly) {
  EXPECT_EQ(*ParseUsd("0.50"), 500'000);
  EXPECT_EQ(*ParseUsd("12"), 12'000'000);
  EXPECT_EQ(*ParseUsd("0.000125"), 125);
  EXPECT_EQ(*ParseUsd(".5"), 500'000);
}

TEST(MoneyTest, RejectsWhatIsNotAnAmount) {
  EXPECT_FALSE(ParseUsd("").ok());
  EXPECT_FALSE(ParseUsd("-1").ok());
  EXPECT_FALSE(ParseUsd("1.0000001").ok());
  EXPECT_FALSE(ParseUsd("1e3").ok());
  EXPECT_FALSE(ParseUsd("1.").ok());
  EXPECT_FALSE(ParseUsd("9999999999999").ok());
}

TEST(MoneyTest, FormatsTheShortestExactDecimal) {
  EXPECT_EQ(FormatUsd(500'000), "0.5");
  EXPECT_EQ(FormatUsd(12'000'000), "12");
  EXPECT_EQ(FormatUsd(125), "0.000125");
  EXPECT_EQ(FormatUsd(0), "0");
}

TEST(MoneyTest, TokenCostRoundsUpToTheNextMicroDollar) {
  // $0.50 per million tokens: 1,000 tokens cost $0.0005 = 500 micro-dollars.
  EXPECT_EQ(CostOfTokens(1000, 500'000), 500);
  // One token at $0.50/M is half a micro-dollar: never free.
  EXPECT_EQ(CostOfTokens(1, 500'000), 1);
  EXPECT_EQ(CostOfTokens(0, 500'000), 0);
  // Large counts do not overflow.
  EXPECT_EQ(CostOfTokens(4'000'000'000'000, 15'000'000), 60'000'000'000'000);
}

TEST(CostOfCallTest, PricesCachedInputApartAndClampsTheCachedCount) {
  // 1,000 input of which 400 cached at $1 / $0.5 per M, 100 output at $2 per M.
  EXPECT_EQ(CostOfCall(1000, 400, 100, 1'000'000, 500'000, 2'000'000), 600 + 200 + 200);
  // More cached than input: all input is cached.
  EXPECT_EQ(CostOfCall(100, 500, 0, 1'000'000, 500'000, 2'000'000), 50);
  EXPECT_EQ(CostOfCall(-5, -1, -3, 1'000'000, 500'000, 2'000'000), 0);
}

}  // namespace
}  // namespace agentd::core
