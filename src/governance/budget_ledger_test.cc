#include "governance/budget_ledger.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace agentd::governance {
namespace {

constexpr core::MicroUsd kUsd = core::kMicrosPerUsd;

// org ($100) > team-a ($40) > agent-x ($10).
BudgetLedger NestedLedger() {
  BudgetLedger ledger;
  EXPECT_TRUE(ledger.AddBudget({.name = "org", .limit = 100 * kUsd}).ok());
  EXPECT_TRUE(ledger.AddBudget({.name = "team-a", .limit = 40 * kUsd}).ok());
  EXPECT_TRUE(ledger.AddBudget({.name = "agent-x", .limit = 10 * kUsd}).ok());
  return ledger;
}

const std::vector<std::string> kChain = {"org", "team-a", "agent-x"};

TEST(BudgetLedgerTest, ReservationCountsAgainstEveryLevel) {
  BudgetLedger ledger = NestedLedger();

  auto id = ledger.Reserve(kChain, 4 * kUsd);

  ASSERT_TRUE(id.ok()) << id.error().message;
  for (const std::string& name : kChain) {
    EXPECT_EQ(ledger.Find(name)->reserved, 4 * kUsd) << name;
  }
  EXPECT_EQ(ledger.Available("agent-x"), 6 * kUsd);
}

TEST(BudgetLedgerTest, ReservationThatDoesNotFitTheInnermostLevelLeavesNothingBehind) {
  BudgetLedger ledger = NestedLedger();

  auto id = ledger.Reserve(kChain, 11 * kUsd);

  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code, core::ErrorCode::kResourceExhausted);
  EXPECT_NE(id.error().message.find("\"agent-x\""), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("limit $10"), std::string::npos) << id.error().message;
  for (const std::string& name : kChain) EXPECT_EQ(ledger.Find(name)->reserved, 0) << name;
  EXPECT_EQ(ledger.open_reservations(), 0u);
}

TEST(BudgetLedgerTest, RefusalNamesTheFirstLevelThatCannotFitWithItsSpentAndLimit) {
  BudgetLedger ledger = NestedLedger();
  ASSERT_TRUE(ledger.AddBudget({.name = "agent-y", .limit = 50 * kUsd}).ok());
  auto first = ledger.Reserve({"org", "team-a", "agent-y"}, 35 * kUsd);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(ledger.Settle(*first, 35 * kUsd).ok());

  auto second = ledger.Reserve({"org", "team-a", "agent-y"}, 6 * kUsd);

  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message,
            "budget \"team-a\" cannot fit $6: spent $35, reserved $0, limit $40");
  EXPECT_EQ(ledger.Find("org")->reserved, 0);
  EXPECT_EQ(ledger.Find("agent-y")->reserved, 0);
}

TEST(BudgetLedgerTest, ReservationExactlyFillingTheLimitFits) {
  BudgetLedger ledger = NestedLedger();

  auto full = ledger.Reserve(kChain, 10 * kUsd);
  auto one_more = ledger.Reserve(kChain, 1);

  EXPECT_TRUE(full.ok());
  EXPECT_FALSE(one_more.ok());
}

TEST(BudgetLedgerTest, SettleMovesActualToSpentAndReleasesTheRest) {
  BudgetLedger ledger = NestedLedger();
  auto id = ledger.Reserve(kChain, 5 * kUsd);
  ASSERT_TRUE(id.ok());

  auto settled = ledger.Settle(*id, 1'250'000);

  ASSERT_TRUE(settled.ok()) << settled.error().message;
  EXPECT_EQ(settled->overrun, 0);
  for (const std::string& name : kChain) {
    EXPECT_EQ(ledger.Find(name)->spent, 1'250'000) << name;
    EXPECT_EQ(ledger.Find(name)->reserved, 0) << name;
  }
  EXPECT_EQ(ledger.FindReservation(*id), nullptr);
}

TEST(BudgetLedgerTest, SettleAboveTheReservationIsRecordedAsOverrun) {
  BudgetLedger ledger = NestedLedger();
  auto id = ledger.Reserve(kChain, 9 * kUsd);
  ASSERT_TRUE(id.ok());

  auto settled = ledger.Settle(*id, 12 * kUsd);

  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(settled->overrun, 3 * kUsd);
  EXPECT_EQ(ledger.Find("agent-x")->spent, 12 * kUsd);
  EXPECT_EQ(ledger.Find("agent-x")->overrun, 3 * kUsd);
  EXPECT_EQ(ledger.Available("agent-x"), 0);
  EXPECT_FALSE(ledger.Reserve(kChain, 1).ok());
}

TEST(BudgetLedgerTest, ConsumePaysPartOfAReservationThatStaysOpen) {
  BudgetLedger ledger = NestedLedger();
  auto id = ledger.Reserve(kChain, 5 * kUsd);
  ASSERT_TRUE(id.ok());

  ASSERT_TRUE(ledger.Consume(*id, 2 * kUsd).ok());
  auto second = ledger.Consume(*id, 4 * kUsd);  // 1 USD more than is left of the reservation

  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->overrun, 1 * kUsd);
  EXPECT_EQ(ledger.Find("agent-x")->spent, 6 * kUsd);
  EXPECT_EQ(ledger.Find("agent-x")->reserved, 0);
  ASSERT_NE(ledger.FindReservation(*id), nullptr);
  EXPECT_EQ(ledger.FindReservation(*id)->amount, 0);
  ASSERT_TRUE(ledger.Release(*id).ok());
  EXPECT_EQ(ledger.Find("org")->spent, 6 * kUsd);
}

TEST(BudgetLedgerTest, OverLimitReservationIsAllowedOnlyWhenAsked) {
  BudgetLedger ledger = NestedLedger();
  ASSERT_TRUE(ledger.Reserve(kChain, 8 * kUsd).ok());

  EXPECT_EQ(ledger.FirstThatCannotFit(kChain, 3 * kUsd)->name, "agent-x");
  EXPECT_EQ(ledger.Reserve(kChain, 3 * kUsd).error().code, core::ErrorCode::kResourceExhausted);
  auto forced = ledger.Reserve(kChain, 3 * kUsd, /*allow_over_limit=*/true);

  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(ledger.Find("agent-x")->reserved, 11 * kUsd);
  EXPECT_EQ(ledger.FirstThatCannotFit({"org"}, 1 * kUsd), nullptr);
}

TEST(BudgetLedgerTest, ReleaseReturnsTheWholeReservation) {
  BudgetLedger ledger = NestedLedger();
  auto id = ledger.Reserve(kChain, 7 * kUsd);
  ASSERT_TRUE(id.ok());

  ASSERT_TRUE(ledger.Release(*id).ok());

  for (const std::string& name : kChain) {
    EXPECT_EQ(ledger.Find(name)->reserved, 0) << name;
    EXPECT_EQ(ledger.Find(name)->spent, 0) << name;
  }
  EXPECT_EQ(ledger.Release(*id).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(ledger.Settle(*id, 1).error().code, core::ErrorCode::kNotFound);
}

TEST(BudgetLedgerTest, BadReservationsAreRejectedWithoutSideEffects) {
  BudgetLedger ledger = NestedLedger();

  EXPECT_EQ(ledger.Reserve({}, kUsd).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger.Reserve({"org", "org"}, kUsd).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger.Reserve({"org", "nobody"}, kUsd).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(ledger.Reserve({"org"}, -1).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger.Find("org")->reserved, 0);
  EXPECT_EQ(ledger.open_reservations(), 0u);
}

TEST(BudgetLedgerTest, BadBudgetsAreRejected) {
  BudgetLedger ledger = NestedLedger();

  EXPECT_EQ(ledger.AddBudget({.name = "org", .limit = kUsd}).error().code,
            core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(ledger.AddBudget({.name = "", .limit = kUsd}).error().code,
            core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddBudget({.name = "neg", .limit = -1}).error().code,
            core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddBudget({.name = "r", .limit = kUsd, .reserved = 1}).error().code,
            core::ErrorCode::kInvalidArgument);
}

TEST(BudgetLedgerTest, SoftThresholdCrossingIsReportedOncePerPeriod) {
  BudgetLedger ledger;
  ASSERT_TRUE(
      ledger.AddBudget({.name = "team", .limit = 10 * kUsd, .soft_threshold = 8 * kUsd}).ok());
  ASSERT_TRUE(ledger.AddBudget({.name = "org", .limit = 100 * kUsd}).ok());
  auto settle = [&](core::MicroUsd amount) {
    auto id = ledger.Reserve({"org", "team"}, amount);
    EXPECT_TRUE(id.ok());
    auto result = ledger.Settle(*id, amount);
    EXPECT_TRUE(result.ok());
    return result->crossed_soft_threshold;
  };

  EXPECT_TRUE(settle(7 * kUsd).empty());
  EXPECT_EQ(settle(kUsd), std::vector<std::string>{"team"});  // exactly at the threshold
  EXPECT_TRUE(settle(kUsd).empty());
  ASSERT_TRUE(ledger.ResetSpent("team").ok());
  EXPECT_TRUE(settle(5 * kUsd).empty());
  EXPECT_EQ(settle(4 * kUsd), std::vector<std::string>{"team"});
}

// A reference model of what the ledger must hold: the sums of open reservations and settlements.
struct Model {
  std::map<std::string, core::MicroUsd> limit, spent, reserved, overrun;
  std::map<ReservationId, std::pair<std::vector<std::string>, core::MicroUsd>> open;
};

TEST(BudgetLedgerTest, RandomInterleavingsNeverLetSpentPlusReservedPassTheLimit) {
  std::mt19937_64 rng(20261121);
  BudgetLedger ledger;
  Model model;
  const std::vector<std::pair<std::string, core::MicroUsd>> budgets = {
      {"org", 200 * kUsd}, {"team-a", 80 * kUsd}, {"team-b", 80 * kUsd}, {"a1", 30 * kUsd},
      {"a2", 30 * kUsd},   {"b1", 30 * kUsd},     {"b2", 45 * kUsd}};
  for (const auto& [name, limit] : budgets) {
    ASSERT_TRUE(ledger.AddBudget({.name = name, .limit = limit}).ok());
    model.limit[name] = limit;
  }
  const std::vector<std::vector<std::string>> chains = {
      {"org", "team-a", "a1"}, {"org", "team-a", "a2"}, {"org", "team-b", "b1"},
      {"org", "team-b", "b2"}, {"org", "team-a"},       {"org"}};
  int accepted = 0;
  int refused = 0;

  for (int op = 0; op < 10'000; ++op) {
    const int kind = static_cast<int>(rng() % 10);
    if (rng() % 250 == 0) {
      // A new period: spent starts over, open reservations carry across.
      for (const auto& [name, limit] : budgets) {
        ASSERT_TRUE(ledger.ResetSpent(name).ok());
        model.spent[name] = 0;
        model.overrun[name] = 0;
      }
    } else if (kind < 5 || model.open.empty()) {
      const auto& chain = chains[rng() % chains.size()];
      const core::MicroUsd amount = static_cast<core::MicroUsd>(rng() % (8 * kUsd));
      const bool fits = std::all_of(chain.begin(), chain.end(), [&](const std::string& b) {
        return model.spent[b] + model.reserved[b] + amount <= model.limit[b];
      });
      auto id = ledger.Reserve(chain, amount);
      ASSERT_EQ(id.ok(), fits) << "op " << op;
      if (id.ok()) {
        ++accepted;
        for (const auto& b : chain) model.reserved[b] += amount;
        model.open[*id] = {chain, amount};
      } else {
        ++refused;
        ASSERT_EQ(id.error().code, core::ErrorCode::kResourceExhausted);
      }
    } else {
      auto it = model.open.begin();
      std::advance(it, static_cast<long>(rng() % model.open.size()));
      const auto [chain, amount] = it->second;
      if (kind < 8) {
        // Mostly at or under the reservation; one settlement in twenty overruns it.
        const bool overrun = rng() % 20 == 0;
        const core::MicroUsd actual = overrun ? amount + static_cast<core::MicroUsd>(rng() % kUsd)
                                              : static_cast<core::MicroUsd>(rng() % (amount + 1));
        ASSERT_TRUE(ledger.Settle(it->first, actual).ok());
        for (const auto& b : chain) {
          model.reserved[b] -= amount;
          model.spent[b] += actual;
          model.overrun[b] += actual > amount ? actual - amount : 0;
        }
      } else {
        ASSERT_TRUE(ledger.Release(it->first).ok());
        for (const auto& b : chain) model.reserved[b] -= amount;
      }
      model.open.erase(it);
    }

    for (const auto& [name, limit] : budgets) {
      const BudgetState* s = ledger.Find(name);
      ASSERT_EQ(s->spent, model.spent[name]) << name << " op " << op;
      ASSERT_EQ(s->reserved, model.reserved[name]) << name << " op " << op;
      ASSERT_EQ(s->overrun, model.overrun[name]) << name << " op " << op;
      ASSERT_GE(s->reserved, 0) << name;
      ASSERT_LE(s->spent + s->reserved, limit + s->overrun) << name << " op " << op;
    }
  }
  EXPECT_EQ(ledger.open_reservations(), model.open.size());
  // The run must exercise both outcomes for the property to mean anything.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace agentd::governance
