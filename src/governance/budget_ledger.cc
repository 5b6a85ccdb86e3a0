#include "governance/budget_ledger.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace agentd::governance {
namespace {

__extension__ using Int128 = __int128;

// Overruns can, in principle, pile up past int64; spent then sticks at the maximum instead of
// wrapping to a negative figure that would reopen the budget.
core::MicroUsd SaturatingAdd(core::MicroUsd a, core::MicroUsd b) {
  core::MicroUsd sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::numeric_limits<core::MicroUsd>::max();
  return sum;
}

std::string Usd(core::MicroUsd micros) { return "$" + core::FormatUsd(micros); }

core::Status CheckAmount(std::string_view what, core::MicroUsd amount) {
  if (amount < 0 || amount > BudgetLedger::kMaxMicroUsd) {
    return core::InvalidArgument(std::string(what) + " " + std::to_string(amount) +
                                 " micro-USD is outside 0..1e12 USD");
  }
  return core::Ok();
}

}  // namespace

core::Status BudgetLedger::AddBudget(BudgetState state) {
  if (state.name.empty()) return core::InvalidArgument("budget name is empty");
  const std::string context = "budget \"" + state.name + "\"";
  AGENTD_RETURN_IF_ERROR(CheckAmount(context + " limit", state.limit));
  AGENTD_RETURN_IF_ERROR(CheckAmount(context + " spent", state.spent));
  AGENTD_RETURN_IF_ERROR(CheckAmount(context + " soft threshold", state.soft_threshold));
  AGENTD_RETURN_IF_ERROR(CheckAmount(context + " overrun", state.overrun));
  if (state.reserved != 0) {
    return core::InvalidArgument(context +
                                 " has reserved != 0; reservations are made with Reserve");
  }
  if (budgets_.count(state.name) != 0) return core::AlreadyExists(context + " already exists");
  std::string name = state.name;
  budgets_.emplace(std::move(name), std::move(state));
  return core::Ok();
}

core::Result<ReservationId> BudgetLedger::Reserve(const std::vector<std::string>& budgets,
                                                  core::MicroUsd amount, bool allow_over_limit) {
  AGENTD_RETURN_IF_ERROR(CheckAmount("reservation amount", amount));
  if (budgets.empty()) return core::InvalidArgument("reservation names no budget");
  std::set<std::string_view> seen;
  std::vector<BudgetState*> states;
  states.reserve(budgets.size());
  for (const std::string& name : budgets) {
    if (!seen.insert(name).second) {
      return core::InvalidArgument("budget \"" + name + "\" named twice in one reservation");
    }
    BudgetState* state = FindMutable(name);
    if (state == nullptr) return core::NotFound("unknown budget \"" + name + "\"");
    states.push_back(state);
  }
  // Check every level before touching any, so a refusal leaves nothing behind.
  for (const BudgetState* s : states) {
    if (allow_over_limit) break;
    if (Int128{s->spent} + s->reserved + amount > s->limit) {
      return core::ResourceExhausted("budget \"" + s->name + "\" cannot fit " + Usd(amount) +
                                     ": spent " + Usd(s->spent) + ", reserved " + Usd(s->reserved) +
                                     ", limit " + Usd(s->limit));
    }
  }
  for (BudgetState* s : states) s->reserved += amount;
  const ReservationId id = next_id_++;
  reservations_.emplace(id, Reservation{.id = id, .budgets = budgets, .amount = amount});
  return id;
}

const BudgetState* BudgetLedger::FirstThatCannotFit(const std::vector<std::string>& budgets,
                                                    core::MicroUsd amount) const {
  for (const std::string& name : budgets) {
    const BudgetState* s = Find(name);
    if (s != nullptr && Int128{s->spent} + s->reserved + amount > s->limit) return s;
  }
  return nullptr;
}

SettleResult BudgetLedger::Apply(Reservation& r, core::MicroUsd actual, core::MicroUsd released) {
  SettleResult result;
  result.overrun = actual > released ? actual - released : 0;
  for (const std::string& name : r.budgets) {
    BudgetState* s = FindMutable(name);
    AGENTD_CHECK(s != nullptr) << "budgets are never removed while reserved: " << name;
    const bool was_below = s->spent < s->soft_threshold;
    s->reserved -= released;
    s->spent = SaturatingAdd(s->spent, actual);
    s->overrun = SaturatingAdd(s->overrun, result.overrun);
    if (s->soft_threshold > 0 && was_below && s->spent >= s->soft_threshold) {
      result.crossed_soft_threshold.push_back(s->name);
    }
  }
  r.amount -= released;
  return result;
}

core::Result<SettleResult> BudgetLedger::Settle(ReservationId id, core::MicroUsd actual) {
  auto it = reservations_.find(id);
  if (it == reservations_.end()) {
    return core::NotFound("unknown or closed reservation " + std::to_string(id));
  }
  AGENTD_RETURN_IF_ERROR(CheckAmount("actual cost of reservation " + std::to_string(id), actual));
  SettleResult result = Apply(it->second, actual, it->second.amount);
  reservations_.erase(it);
  return result;
}

core::Result<SettleResult> BudgetLedger::Consume(ReservationId id, core::MicroUsd actual) {
  auto it = reservations_.find(id);
  if (it == reservations_.end()) {
    return core::NotFound("unknown or closed reservation " + std::to_string(id));
  }
  AGENTD_RETURN_IF_ERROR(CheckAmount("actual cost of reservation " + std::to_string(id), actual));
  return Apply(it->second, actual, std::min(actual, it->second.amount));
}

core::Status BudgetLedger::Release(ReservationId id) {
  auto it = reservations_.find(id);
  if (it == reservations_.end()) {
    return core::NotFound("unknown or closed reservation " + std::to_string(id));
  }
  for (const std::string& name : it->second.budgets) {
    BudgetState* s = FindMutable(name);
    AGENTD_CHECK(s != nullptr) << "budgets are never removed while reserved: " << name;
    s->reserved -= it->second.amount;
  }
  reservations_.erase(it);
  return core::Ok();
}

core::Status BudgetLedger::ResetSpent(std::string_view name) {
  BudgetState* s = FindMutable(name);
  if (s == nullptr) return core::NotFound("unknown budget \"" + std::string(name) + "\"");
  s->spent = 0;
  s->overrun = 0;
  return core::Ok();
}

const BudgetState* BudgetLedger::Find(std::string_view name) const {
  auto it = budgets_.find(name);
  return it == budgets_.end() ? nullptr : &it->second;
}

const Reservation* BudgetLedger::FindReservation(ReservationId id) const {
  auto it = reservations_.find(id);
  return it == reservations_.end() ? nullptr : &it->second;
}

core::MicroUsd BudgetLedger::Available(std::string_view name) const {
  const BudgetState* s = Find(name);
  if (s == nullptr) return 0;
  const Int128 left = Int128{s->limit} - s->spent - s->reserved;
  return left > 0 ? static_cast<core::MicroUsd>(left) : 0;
}

BudgetState* BudgetLedger::FindMutable(std::string_view name) {
  auto it = budgets_.find(name);
  return it == budgets_.end() ? nullptr : &it->second;
}

}  // namespace agentd::governance
