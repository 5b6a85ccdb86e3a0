// Governor: the admission side of governance (docs/governance.md). It applies the tier policy
// of a run's agent, reserves the run's worst-case cost against every Budget that applies, all or
// nothing, pays each model call out of that reservation, releases the rest when the run ends,
// and keeps the budget and cost gauges current.
//
// State: one governance::BudgetLedger per catalog generation of budgets, rebuilt from the store
// at Recover (spent = the usage ledger over each budget's current period; reserved = what is
// left of the allowance of every open run) and again whenever the catalog's budgets change. A
// period that has ended is rolled over on the next operation (spent back to 0). The embedded
// store has one writer process, so one lock makes reservations atomic; concurrent submissions
// can never overshoot a budget by more than the overruns of calls already made.
//
// Thread-safe; every method may be called from any thread. Store reads happen under the lock
// only when budgets are rebuilt (start, catalog change).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/snapshot.h"
#include "core/clock.h"
#include "core/result.h"
#include "governance/audit_chain.h"
#include "governance/budget_ledger.h"
#include "governance/budget_period.h"
#include "governance/policy.h"
#include "runs/run.h"
#include "store/run_store.h"
#include "telemetry/metrics.h"

namespace agentd::scheduler {

class Governor {
 public:
  struct Options {
    std::string zoneinfo_dir = "/usr/share/zoneinfo";
  };

  // Registers the governance metrics on `registry`. References must outlive the Governor.
  Governor(store::RunStore& store, telemetry::Registry& registry, const core::Clock& clock,
           Options options);

  // Loads the budgets of `snapshot`, their spent from the usage ledger and the reservations of
  // `open_runs` (every non-terminal run). Errors come from the store.
  core::Status Recover(const catalog::Snapshot& snapshot, const std::vector<runs::Run>& open_runs);

  // What admission decided for one submission.
  struct Decision {
    runs::Phase phase = runs::Phase::kQueued;  // Queued | AwaitingApproval
    std::string reason;                        // "Admitted", "ApprovalRequired", "BudgetExceeded"
    std::string message;
    // Set when the submission is refused outright (nothing is stored): budget_exceeded (429) or
    // policy_violation (403), with the problem's extra members.
    std::optional<core::Error> refusal;
    // Audit entries to write with the run (or alone when refused).
    std::vector<governance::AuditEntryDraft> audit;
    // "violation" events to append to the run once it exists ({"rule", "message"}).
    std::vector<core::Json> violations;
  };

  // Fills the run's governance fields (team, cost_center, tier, config_digest, allowance_micros,
  // budgets, approval_expires_at) and, unless refused, reserves its allowance. The run must have
  // id, agent, caller, created_at set and its agent must exist in `snapshot`. When the run is
  // not stored after all (store error, idempotent replay), call Release(run.id).
  Decision Admit(runs::Run& run, const catalog::Snapshot& snapshot);

  // For an approved run: reserves its allowance (over the limit: a person accepted it) if it
  // holds no reservation yet, and sets run.allowance_micros and run.budgets accordingly.
  void ReserveForApproval(runs::Run& run, const catalog::Snapshot& snapshot);

  // Pays one model call's cost out of the run's reservation (or straight to spent when it has
  // none) and updates the cost gauges. Returns audit drafts and run events for budgets that
  // crossed their soft threshold or their limit with this call.
  struct UsageEffects {
    std::vector<governance::AuditEntryDraft> audit;
    std::vector<core::Json> budget_events;  // {"budget", "state", "spentUsd", "limitUsd"}
  };
  UsageEffects OnUsage(const runs::Run& run, core::MicroUsd cost);

  // Picks up budgets changed in `snapshot`. Call it before storing usage, so that a budget added
  // since a run started counts that run's next calls exactly once.
  void Sync(const catalog::Snapshot& snapshot);

  // Releases what is left of the run's reservation. Idempotent.
  void Release(std::string_view run_id);

  // Counts a governance violation (agent_governance_violations_total{agent,rule}).
  void CountViolation(std::string_view agent, std::string_view rule);

  // The budgets as the API shows them (GET /api/v1/budgets).
  core::Json BudgetsJson(const catalog::Snapshot& snapshot);

 private:
  struct BudgetRuntime {
    resources::Budget object;
    governance::TimeZone zone = governance::TimeZone::Utc();
    std::string zone_error;  // why the Budget's timeZone could not be loaded (UTC is used)
    governance::BudgetPeriod period = governance::BudgetPeriod::kMonth;
    governance::PeriodWindow window;
  };
  // A run that is not terminal yet, with its attribution at admission.
  struct OpenRun {
    std::string agent;
    std::string team;
    int tier = 0;
    std::string caller;
    governance::ReservationId reservation = 0;  // 0 = none
    std::vector<std::string> budgets;
    core::MicroUsd remaining = 0;  // what is left of its reservation, across a rebuild
  };

  // With mu_ held.
  core::Status SyncLocked(const catalog::Snapshot& snapshot);
  core::Status RebuildLocked(const catalog::Snapshot& snapshot);
  core::Result<core::MicroUsd> SpentInWindowLocked(const resources::BudgetScope& scope,
                                                   const governance::PeriodWindow& window);
  void RollPeriodsLocked();
  std::vector<std::string> MatchingLocked(const OpenRun& run,
                                          const catalog::Snapshot& snapshot) const;
  // What admission needs to know of an agent, derived from one catalog generation.
  struct AgentPolicy {
    std::string digest;  // SHA-256 of the agent's and its model's canonical JSON
    std::optional<resources::TierPolicySpec> tier;
    std::vector<governance::PolicyViolation> violations;
    governance::EffectivePolicy effective;
  };
  const AgentPolicy& PolicyLocked(const catalog::Snapshot& snapshot, const resources::Agent& agent);
  // Every budget gauge from scratch (after a rebuild or a period roll-over)...
  void UpdateBudgetGaugesLocked();
  // ... or only spent and reserved of the budgets a reservation touched.
  void UpdateBudgetGaugesLocked(const std::vector<std::string>& names);
  void LoadMonthlyCostsLocked();

  store::RunStore& store_;
  const core::Clock& clock_;
  const Options options_;

  telemetry::Family<telemetry::Counter>& violations_;
  telemetry::Family<telemetry::Gauge>& agent_monthly_cost_;
  telemetry::Family<telemetry::Gauge>& agent_budget_limit_;
  telemetry::Family<telemetry::Gauge>& budget_limit_;
  telemetry::Family<telemetry::Gauge>& budget_spent_;
  telemetry::Family<telemetry::Gauge>& budget_reserved_;
  telemetry::Family<telemetry::Gauge>& budget_soft_threshold_;
  telemetry::Family<telemetry::Gauge>& team_monthly_cost_;
  telemetry::Family<telemetry::Gauge>& tier_monthly_cost_;

  std::mutex mu_;
  uint64_t synced_generation_ = 0;
  bool synced_ = false;
  std::map<std::string, resources::Budget, std::less<>> synced_budgets_;
  governance::BudgetLedger ledger_;
  std::map<std::string, BudgetRuntime, std::less<>> budgets_;
  std::map<std::string, OpenRun, std::less<>> open_;
  std::map<std::string, AgentPolicy, std::less<>> policies_;  // by agent name
  uint64_t policies_generation_ = 0;
  // Spend of the current UTC month, for the *_monthly_cost gauges.
  core::TimePoint month_end_;
  std::map<std::string, core::MicroUsd, std::less<>> agent_month_;
  std::map<std::string, core::MicroUsd, std::less<>> team_month_;
  std::map<std::string, core::MicroUsd, std::less<>> tier_month_;
};

}  // namespace agentd::scheduler
