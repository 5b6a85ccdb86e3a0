// BudgetLedger: reservations and settlements against nested budgets, as pure arithmetic.
//
// A run (or one model call) first reserves its worst-case cost against every budget that applies
// (organisation > team > agent ...), all or nothing; once the real cost is known the reservation
// is settled (actual moves to spent, the rest is released) or released whole. As long as every
// settlement stays within its reservation, spent + reserved never exceeds a budget's limit, so
// concurrent runs cannot overshoot together. No I/O, no clock: the caller persists and decides
// when a period resets (see budget_period.h).
//
// Thread-compatible: const methods may run concurrently; everything else needs the caller's lock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"
#include "core/result.h"

namespace agentd::governance {

struct BudgetState {
  std::string name;
  core::MicroUsd limit = 0;
  core::MicroUsd spent = 0;
  core::MicroUsd reserved = 0;        // sum of the open reservations that name this budget
  core::MicroUsd soft_threshold = 0;  // spent at or above it raises an alert once; 0 = none
  core::MicroUsd overrun = 0;         // total of settlements above their reservation
};

using ReservationId = uint64_t;  // 1, 2, 3, ... per ledger; never reused

struct Reservation {
  ReservationId id = 0;
  std::vector<std::string> budgets;
  core::MicroUsd amount = 0;
};

struct SettleResult {
  // Budgets whose spent reached their soft threshold with this settlement (was below, now at or
  // above), in the reservation's order. Each crossing is reported once per period.
  std::vector<std::string> crossed_soft_threshold;
  core::MicroUsd overrun = 0;  // actual - reserved when positive, else 0
};

class BudgetLedger {
 public:
  // The largest limit, amount or actual accepted: 1e12 USD, as ParseUsd.
  static constexpr core::MicroUsd kMaxMicroUsd = 1'000'000'000'000 * core::kMicrosPerUsd;

  // Errors: kInvalidArgument for an empty name, a negative or oversized figure, or a non-zero
  // `reserved` (reservations only come from Reserve); kAlreadyExists for a known name.
  core::Status AddBudget(BudgetState state);

  // Reserves `amount` against every budget in `budgets`, or against none. Errors:
  // kInvalidArgument for an empty list, a name given twice or a negative or oversized amount;
  // kNotFound for an unknown budget; kResourceExhausted when spent + reserved + amount would
  // exceed a budget's limit — the message names the first such budget in list order, its spent,
  // reserved and limit in USD. With `allow_over_limit` the limit check is skipped (a person
  // approved the overspend, or the budget's action is to allow and flag).
  core::Result<ReservationId> Reserve(const std::vector<std::string>& budgets,
                                      core::MicroUsd amount, bool allow_over_limit = false);
  // The first budget in `budgets` that cannot fit `amount` more (spent + reserved + amount >
  // limit), or nullptr when all can (unknown names are skipped).
  const BudgetState* FirstThatCannotFit(const std::vector<std::string>& budgets,
                                        core::MicroUsd amount) const;
  // Closes the reservation with its real cost: `actual` moves to spent on every budget, the
  // reservation leaves reserved. `actual` above the reservation is accepted (the call already
  // happened) and recorded as overrun, so spent can pass the limit by at most the overruns.
  // Errors: kNotFound for an unknown or closed reservation; kInvalidArgument for a negative or
  // oversized `actual` (the reservation stays open).
  core::Result<SettleResult> Settle(ReservationId id, core::MicroUsd actual);
  // Settles part of a reservation that stays open: `actual` moves to spent, the reservation
  // shrinks by min(actual, what is left of it); any excess is overrun. For a run whose model
  // calls are paid one by one out of the allowance reserved at admission. Errors as Settle.
  core::Result<SettleResult> Consume(ReservationId id, core::MicroUsd actual);
  // Closes the reservation without cost. Errors: kNotFound for an unknown or closed reservation.
  core::Status Release(ReservationId id);

  // Starts a new period for `name`: spent and overrun go to 0, open reservations stay.
  // Errors: kNotFound.
  core::Status ResetSpent(std::string_view name);

  // nullptr when unknown. Valid until the next non-const call.
  const BudgetState* Find(std::string_view name) const;
  const Reservation* FindReservation(ReservationId id) const;
  // limit - spent - reserved, at least 0; 0 for an unknown budget.
  core::MicroUsd Available(std::string_view name) const;
  size_t open_reservations() const { return reservations_.size(); }

 private:
  BudgetState* FindMutable(std::string_view name);
  // Moves `actual` to spent on the reservation's budgets and `released` out of reserved.
  SettleResult Apply(Reservation& reservation, core::MicroUsd actual, core::MicroUsd released);

  std::map<std::string, BudgetState, std::less<>> budgets_;
  std::map<ReservationId, Reservation> reservations_;
  ReservationId next_id_ = 1;
};

}  // namespace agentd::governance
