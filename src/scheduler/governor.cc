#include "scheduler/governor.h"

#include <algorithm>
#include <utility>

#include "core/hash.h"
#include "core/log.h"
#include "core/money.h"
#include "core/time.h"
#include "governance/policy.h"
#include "resources/codec.h"

namespace agentd::scheduler {
namespace {

using core::Json;
using core::MicroUsd;

std::string Usd(MicroUsd micros) { return "$" + core::FormatUsd(micros); }

std::string LabelOf(const resources::Agent& agent, const std::string& key) {
  auto it = agent.metadata.labels.find(key);
  return it == agent.metadata.labels.end() ? std::string() : it->second;
}

// The strictest action first: reject, then requireApproval, then allow.
int Strictness(resources::BudgetAction action) {
  switch (action) {
    case resources::BudgetAction::kReject:
      return 2;
    case resources::BudgetAction::kRequireApproval:
      return 1;
    case resources::BudgetAction::kAllow:
      return 0;
  }
  return 2;
}

std::string Actor(const runs::Run& run) { return run.caller.empty() ? "anonymous" : run.caller; }

governance::AuditEntryDraft Draft(core::TimePoint time, std::string actor, std::string action,
                                  std::string subject, Json details) {
  return {.time = time,
          .actor = std::move(actor),
          .action = std::move(action),
          .subject = std::move(subject),
          .details = std::move(details)};
}

Json ScopeJson(const resources::BudgetScope& scope) {
  Json j = Json::object();
  if (!scope.agent.empty()) j["agent"] = scope.agent;
  if (!scope.team.empty()) j["team"] = scope.team;
  if (scope.tier != 0) j["tier"] = scope.tier;
  if (!scope.namespace_.empty()) j["namespace"] = scope.namespace_;
  if (!scope.api_key.empty()) j["apiKey"] = scope.api_key;
  return j;
}

}  // namespace

Governor::Governor(store::RunStore& store, telemetry::Registry& registry, const core::Clock& clock,
                   Options options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      violations_(registry.AddCounter(
          "agent_governance_violations_total",
          "Governance violations (a tool or model not allowed, a limit passed, a budget "
          "exceeded), by agent and rule.",
          {"agent", "rule"})),
      agent_monthly_cost_(registry.AddGauge("agent_monthly_cost_dollars",
                                            "Model cost of the agent in the current UTC month.",
                                            {"agent"})),
      agent_budget_limit_(registry.AddGauge("agent_budget_limit_dollars",
                                            "Limit of the monthly Budget whose scope is exactly "
                                            "this agent (the smallest if several).",
                                            {"agent"})),
      budget_limit_(
          registry.AddGauge("agentd_budget_limit_dollars", "Limit of the budget.", {"budget"})),
      budget_spent_(registry.AddGauge("agentd_budget_spent_dollars",
                                      "Spent in the budget's current period.", {"budget"})),
      budget_reserved_(registry.AddGauge(
          "agentd_budget_reserved_dollars",
          "Reserved by open runs (the part of their allowance not spent yet).", {"budget"})),
      budget_soft_threshold_(registry.AddGauge("agentd_budget_soft_threshold_dollars",
                                               "Spend at which the budget warns.", {"budget"})),
      team_monthly_cost_(registry.AddGauge("agentd_team_monthly_cost_dollars",
                                           "Model cost of the team in the current UTC month.",
                                           {"team"})),
      tier_monthly_cost_(registry.AddGauge("agentd_tier_monthly_cost_dollars",
                                           "Model cost of the tier in the current UTC month.",
                                           {"tier"})) {}

core::Status Governor::Recover(const catalog::Snapshot& snapshot,
                               const std::vector<runs::Run>& open_runs) {
  std::lock_guard lock(mu_);
  open_.clear();
  for (const runs::Run& run : open_runs) {
    OpenRun& open = open_[run.id];
    open.agent = run.agent;
    open.team = run.team;
    open.tier = run.tier;
    open.caller = run.caller;
    open.remaining = run.budgets.empty()
                         ? 0
                         : std::max<MicroUsd>(0, run.allowance_micros - run.usage.cost_micros);
  }
  AGENTD_RETURN_IF_ERROR(RebuildLocked(snapshot));
  LoadMonthlyCostsLocked();
  return core::Ok();
}

core::Status Governor::SyncLocked(const catalog::Snapshot& snapshot) {
  if (synced_ && snapshot.generation == synced_generation_) return core::Ok();
  if (synced_ && snapshot.budgets == synced_budgets_) {
    synced_generation_ = snapshot.generation;
    return core::Ok();
  }
  // Carry the open runs over with what is left of their reservations.
  for (auto& [id, open] : open_) {
    const governance::Reservation* r =
        open.reservation != 0 ? ledger_.FindReservation(open.reservation) : nullptr;
    open.remaining = r != nullptr ? r->amount : 0;
  }
  return RebuildLocked(snapshot);
}

core::Status Governor::RebuildLocked(const catalog::Snapshot& snapshot) {
  const core::TimePoint now = clock_.Now();
  governance::BudgetLedger ledger;
  std::map<std::string, BudgetRuntime, std::less<>> budgets;
  for (const auto& [name, budget] : snapshot.budgets) {
    BudgetRuntime rt;
    rt.object = budget;
    const resources::BudgetSpec& spec = budget.spec;
    auto zone = governance::TimeZone::Load(spec.time_zone, options_.zoneinfo_dir);
    if (zone.ok()) {
      rt.zone = std::move(*zone);
    } else {
      rt.zone_error = zone.error().message;
      core::LogWarn("budget time zone cannot be loaded; using UTC",
                    {{"budget", name}, {"error", rt.zone_error}});
    }
    auto period = governance::ParseBudgetPeriod(spec.period);
    rt.period = period.ok() ? *period : governance::BudgetPeriod::kMonth;
    auto window = governance::WindowContaining(now, rt.period, rt.zone);
    if (!window.ok()) return window.error().Wrap("budget \"" + name + "\"");
    rt.window = *window;
    // An unchanged budget keeps what this process counted (the usage ledger may already hold
    // a call whose cost is still on its way here); a new or changed one is summed afresh.
    MicroUsd spent = 0;
    MicroUsd overrun = 0;
    auto old = budgets_.find(name);
    const governance::BudgetState* old_state = ledger_.Find(name);
    if (synced_ && old != budgets_.end() && old_state != nullptr &&
        old->second.object.spec == spec && old->second.window.start == rt.window.start) {
      spent = old_state->spent;
      overrun = old_state->overrun;
    } else {
      AGENTD_ASSIGN_OR_RETURN(spent, SpentInWindowLocked(spec.scope, rt.window));
    }
    // limit <= 1e18 micro-USD and percent <= 100: the product fits in 64 bits only after the
    // division, so divide first and add the remainder's share.
    const MicroUsd soft = spec.limit_micros / 100 * spec.soft_threshold_percent +
                          spec.limit_micros % 100 * spec.soft_threshold_percent / 100;
    AGENTD_RETURN_IF_ERROR(ledger.AddBudget({.name = name,
                                             .limit = spec.limit_micros,
                                             .spent = std::min(spent, ledger.kMaxMicroUsd),
                                             .soft_threshold = soft,
                                             .overrun = overrun}));
    budgets.emplace(name, std::move(rt));
  }
  ledger_ = std::move(ledger);
  budgets_ = std::move(budgets);
  synced_budgets_ = snapshot.budgets;
  synced_generation_ = snapshot.generation;
  synced_ = true;
  // Every open run is tied to the budgets that match it now, with what is left of its
  // reservation (possibly nothing), so that its further calls count against them.
  for (auto& [id, open] : open_) {
    open.reservation = 0;
    open.budgets.clear();
    std::vector<std::string> names = MatchingLocked(open, snapshot);
    if (names.empty()) continue;
    auto reserved = ledger_.Reserve(names, open.remaining, /*allow_over_limit=*/true);
    if (reserved.ok()) {
      open.reservation = *reserved;
      open.budgets = std::move(names);
    }
  }
  UpdateBudgetGaugesLocked();
  return core::Ok();
}

core::Result<MicroUsd> Governor::SpentInWindowLocked(const resources::BudgetScope& scope,
                                                     const governance::PeriodWindow& window) {
  // The usage ledger of a single machine has no namespaces: a namespaced budget spends nothing.
  if (!scope.namespace_.empty()) return MicroUsd{0};
  store::UsageQuery query;
  query.from = window.start;
  query.to = window.end;
  if (!scope.agent.empty()) query.agent = scope.agent;
  if (!scope.team.empty()) query.team = scope.team;
  if (scope.tier != 0) query.tier = scope.tier;
  if (!scope.api_key.empty()) query.caller = scope.api_key;
  AGENTD_ASSIGN_OR_RETURN(auto rows, store_.QueryUsage(query));
  MicroUsd spent = 0;
  for (const store::UsageRow& row : rows) spent += row.usage.cost_micros;
  return spent;
}

void Governor::RollPeriodsLocked() {
  const core::TimePoint now = clock_.Now();
  bool rolled = false;
  for (auto& [name, rt] : budgets_) {
    if (now < rt.window.end) continue;
    auto window = governance::WindowContaining(now, rt.period, rt.zone);
    if (!window.ok()) continue;
    rt.window = *window;
    (void)ledger_.ResetSpent(name);
    rolled = true;
  }
  if (now >= month_end_) LoadMonthlyCostsLocked();
  if (rolled) UpdateBudgetGaugesLocked();
}

std::vector<std::string> Governor::MatchingLocked(const OpenRun& open,
                                                  const catalog::Snapshot& snapshot) const {
  governance::RunAttribution a;
  a.agent = open.agent;
  a.team = open.team;
  a.tier = open.tier;
  a.caller = open.caller;
  if (const resources::Agent* agent = snapshot.FindAgent(open.agent)) {
    a.namespace_ = agent->metadata.namespace_;
  }
  std::vector<std::string> names;
  for (const auto& [name, rt] : budgets_) {
    if (governance::BudgetApplies(rt.object.spec, a)) names.push_back(name);
  }
  return names;
}

const Governor::AgentPolicy& Governor::PolicyLocked(const catalog::Snapshot& snapshot,
                                                    const resources::Agent& agent) {
  if (policies_generation_ != snapshot.generation) {
    policies_.clear();
    policies_generation_ = snapshot.generation;
  }
  auto it = policies_.find(agent.metadata.name);
  if (it != policies_.end()) return it->second;
  AgentPolicy p;
  Json doc = {{"agent", resources::ToJson(agent)}};
  if (const resources::Model* model = snapshot.FindModel(agent.spec.model)) {
    doc["model"] = resources::ToJson(*model);
  }
  // Metadata that changes without the configuration changing is left out.
  for (const char* key : {"uid", "resourceVersion", "generation"}) {
    doc["agent"]["metadata"].erase(key);
    if (doc.contains("model")) doc["model"]["metadata"].erase(key);
  }
  p.digest = core::Sha256Hex(governance::CanonicalJson(doc));
  if (agent.spec.tier != 0) {
    p.tier = governance::ResolveTierPolicy(agent.spec.tier, snapshot.tier_policies);
    p.violations = governance::CheckAgentAgainstTier(agent, *p.tier);
  }
  p.effective = governance::Effective(agent, p.tier ? &*p.tier : nullptr);
  return policies_.emplace(agent.metadata.name, std::move(p)).first->second;
}

Governor::Decision Governor::Admit(runs::Run& run, const catalog::Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  Decision d;
  d.reason = "Admitted";
  d.message = "admitted";
  const resources::Agent* agent = snapshot.FindAgent(run.agent);
  AGENTD_CHECK(agent != nullptr) << "Admit of a run whose agent was not validated: " << run.agent;
  if (auto synced = SyncLocked(snapshot); !synced.ok()) {
    core::LogError("cannot load budgets; admitting without them",
                   {{"error", synced.error().message}});
  }
  RollPeriodsLocked();
  const core::TimePoint now = run.created_at;
  run.team = LabelOf(*agent, "team");
  run.cost_center = LabelOf(*agent, "cost-center");
  run.tier = agent->spec.tier;
  // Digest, tier policy and effective limits are computed once per agent and catalog version.
  const AgentPolicy& agent_policy = PolicyLocked(snapshot, *agent);
  run.config_digest = agent_policy.digest;
  {
    const std::vector<governance::PolicyViolation>& broken = agent_policy.violations;
    if (!broken.empty()) {
      for (const auto& v : broken) violations_.WithLabels({run.agent, v.rule}).Inc();
      const governance::PolicyViolation& first = broken.front();
      core::Error e =
          core::PermissionDenied("agent \"" + run.agent + "\" breaks the policy of tier " +
                                 std::to_string(agent->spec.tier) + ": " + first.message);
      e.reason = "policy_violation";
      e.fields = {{"rule", first.rule}, {"agent", run.agent}};
      d.refusal = std::move(e);
      Json rules = Json::array();
      for (const auto& v : broken) rules.push_back({{"rule", v.rule}, {"message", v.message}});
      d.audit.push_back(Draft(now, Actor(run), "run.rejected", run.id,
                              {{"agent", run.agent},
                               {"reason", "PolicyViolation"},
                               {"configDigest", run.config_digest},
                               {"violations", std::move(rules)}}));
      return d;
    }
  }
  const governance::EffectivePolicy& policy = agent_policy.effective;
  run.allowance_micros = policy.max_cost_per_run;

  OpenRun open;
  open.agent = run.agent;
  open.team = run.team;
  open.tier = run.tier;
  open.caller = run.caller;
  const std::vector<std::string> names = MatchingLocked(open, snapshot);
  // Every budget the allowance does not fit; the strictest action decides.
  const resources::Budget* blocking = nullptr;
  for (const std::string& name : names) {
    if (ledger_.FirstThatCannotFit({name}, run.allowance_micros) == nullptr) continue;
    const resources::Budget& b = budgets_.at(name).object;
    if (blocking == nullptr || Strictness(b.spec.action) > Strictness(blocking->spec.action)) {
      blocking = &b;
    }
  }
  bool reserve = !names.empty();
  bool over_limit = false;
  bool needs_approval = policy.require_approval;
  if (blocking != nullptr) {
    const std::string& name = blocking->metadata.name;
    const governance::BudgetState* state = ledger_.Find(name);
    const std::string figures = "spent " + Usd(state->spent) + ", reserved " +
                                Usd(state->reserved) + ", limit " + Usd(state->limit) +
                                " for the " + std::string(budgets_.at(name).object.spec.period) +
                                " until " + core::FormatRfc3339(budgets_.at(name).window.end);
    const std::string why = "budget \"" + name + "\" cannot fit this run's allowance of " +
                            Usd(run.allowance_micros) + ": " + figures;
    violations_.WithLabels({run.agent, "budget_exceeded"}).Inc();
    const Json budget_details = {{"budget", name},
                                 {"action", resources::BudgetActionName(blocking->spec.action)},
                                 {"spentUsd", core::FormatUsd(state->spent)},
                                 {"reservedUsd", core::FormatUsd(state->reserved)},
                                 {"limitUsd", core::FormatUsd(state->limit)},
                                 {"allowanceUsd", core::FormatUsd(run.allowance_micros)}};
    switch (blocking->spec.action) {
      case resources::BudgetAction::kReject: {
        core::Error e = core::ResourceExhausted(why);
        e.reason = "budget_exceeded";
        e.fields = {{"budget", name},
                    {"spentUsd", core::FormatUsd(state->spent)},
                    {"reservedUsd", core::FormatUsd(state->reserved)},
                    {"limitUsd", core::FormatUsd(state->limit)}};
        d.refusal = std::move(e);
        Json details = budget_details;
        details["agent"] = run.agent;
        details["reason"] = "BudgetExceeded";
        details["configDigest"] = run.config_digest;
        d.audit.push_back(Draft(now, Actor(run), "run.rejected", run.id, std::move(details)));
        return d;
      }
      case resources::BudgetAction::kRequireApproval:
        reserve = false;  // reserved when (if) a person approves it
        needs_approval = true;
        d.reason = "BudgetExceeded";
        d.message = why + "; the budget requires approval";
        break;
      case resources::BudgetAction::kAllow:
        over_limit = true;
        d.message = "admitted over budget: " + why;
        break;
    }
    d.violations.push_back({{"rule", "budget_exceeded"}, {"message", why}});
    d.audit.push_back(Draft(now, Actor(run), "budget.exceeded", run.id, budget_details));
  }
  if (reserve) {
    auto id = ledger_.Reserve(names, run.allowance_micros, over_limit);
    if (id.ok()) {
      open.reservation = *id;
      open.budgets = names;
      run.budgets = names;
    } else {
      core::LogError("budget reservation failed", {{"run", run.id}, {"error", id.error().message}});
    }
  }
  open_[run.id] = std::move(open);
  if (needs_approval) {
    d.phase = runs::Phase::kAwaitingApproval;
    if (d.reason == "Admitted") {
      d.reason = "ApprovalRequired";
      d.message = agent->spec.approval.required
                      ? "agent \"" + run.agent + "\" requires approval"
                      : "tier " + std::to_string(run.tier) + " requires approval";
    }
    run.approval_expires_at = now + policy.approval_timeout;
  }
  UpdateBudgetGaugesLocked(run.budgets);
  d.audit.insert(d.audit.begin(), Draft(now, Actor(run), "run.submitted", run.id,
                                        {{"agent", run.agent},
                                         {"source", runs::SourceName(run.source)},
                                         {"configDigest", run.config_digest},
                                         {"allowanceUsd", core::FormatUsd(run.allowance_micros)},
                                         {"budgets", run.budgets},
                                         {"phase", runs::PhaseName(d.phase)},
                                         {"reason", d.reason}}));
  return d;
}

void Governor::ReserveForApproval(runs::Run& run, const catalog::Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  (void)SyncLocked(snapshot);
  RollPeriodsLocked();
  OpenRun& open = open_[run.id];
  open.agent = run.agent;
  open.team = run.team;
  open.tier = run.tier;
  open.caller = run.caller;
  if (!run.budgets.empty()) return;  // its allowance was reserved at admission
  if (open.reservation != 0) {       // a placeholder from a rebuild: replace it with the allowance
    (void)ledger_.Release(open.reservation);
    open.reservation = 0;
  }
  std::vector<std::string> names = MatchingLocked(open, snapshot);
  if (names.empty() || run.allowance_micros == 0) return;
  auto id = ledger_.Reserve(names, run.allowance_micros, /*allow_over_limit=*/true);
  if (!id.ok()) return;
  open.reservation = *id;
  open.budgets = names;
  run.budgets = std::move(names);
  UpdateBudgetGaugesLocked(open.budgets);
}

Governor::UsageEffects Governor::OnUsage(const runs::Run& run, MicroUsd cost) {
  std::lock_guard lock(mu_);
  UsageEffects effects;
  if (cost <= 0) return effects;
  RollPeriodsLocked();
  agent_month_[run.agent] += cost;
  agent_monthly_cost_.WithLabels({run.agent}).Set(core::ToUsdDouble(agent_month_[run.agent]));
  if (!run.team.empty()) {
    team_month_[run.team] += cost;
    team_monthly_cost_.WithLabels({run.team}).Set(core::ToUsdDouble(team_month_[run.team]));
  }
  if (run.tier != 0) {
    const std::string tier = std::to_string(run.tier);
    tier_month_[tier] += cost;
    tier_monthly_cost_.WithLabels({tier}).Set(core::ToUsdDouble(tier_month_[tier]));
  }
  auto it = open_.find(run.id);
  if (it == open_.end() || it->second.reservation == 0) return effects;
  std::vector<std::pair<std::string, bool>> was_within;
  for (const std::string& name : it->second.budgets) {
    const governance::BudgetState* s = ledger_.Find(name);
    if (s != nullptr) was_within.emplace_back(name, s->spent <= s->limit);
  }
  auto paid = ledger_.Consume(it->second.reservation, cost);
  if (!paid.ok()) return effects;
  const core::TimePoint now = clock_.Now();
  auto note = [&](const std::string& name, std::string_view state, std::string action) {
    const governance::BudgetState* s = ledger_.Find(name);
    Json details = {{"budget", name},
                    {"state", state},
                    {"spentUsd", core::FormatUsd(s->spent)},
                    {"limitUsd", core::FormatUsd(s->limit)},
                    {"softThresholdUsd", core::FormatUsd(s->soft_threshold)}};
    effects.budget_events.push_back(details);
    effects.audit.push_back(Draft(now, "scheduler", std::move(action), run.id, std::move(details)));
  };
  for (const std::string& name : paid->crossed_soft_threshold) {
    note(name, "nearLimit", "budget.threshold_crossed");
  }
  for (const auto& [name, within] : was_within) {
    const governance::BudgetState* s = ledger_.Find(name);
    if (within && s->spent > s->limit) note(name, "exceeded", "budget.exceeded");
  }
  UpdateBudgetGaugesLocked(it->second.budgets);
  return effects;
}

void Governor::Sync(const catalog::Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  if (auto synced = SyncLocked(snapshot); !synced.ok()) {
    core::LogError("cannot load budgets", {{"error", synced.error().message}});
  }
}

void Governor::Release(std::string_view run_id) {
  std::lock_guard lock(mu_);
  auto it = open_.find(run_id);
  if (it == open_.end()) return;
  if (it->second.reservation != 0) (void)ledger_.Release(it->second.reservation);
  const std::vector<std::string> touched = std::move(it->second.budgets);
  open_.erase(it);
  UpdateBudgetGaugesLocked(touched);
}

void Governor::CountViolation(std::string_view agent, std::string_view rule) {
  violations_.WithLabels({std::string(agent), std::string(rule)}).Inc();
}

void Governor::UpdateBudgetGaugesLocked(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const governance::BudgetState* s = ledger_.Find(name);
    if (s == nullptr) continue;
    budget_spent_.WithLabels({name}).Set(core::ToUsdDouble(s->spent));
    budget_reserved_.WithLabels({name}).Set(core::ToUsdDouble(s->reserved));
  }
}

void Governor::UpdateBudgetGaugesLocked() {
  budget_limit_.Clear();
  budget_spent_.Clear();
  budget_reserved_.Clear();
  budget_soft_threshold_.Clear();
  agent_budget_limit_.Clear();
  std::map<std::string, MicroUsd> agent_limits;
  for (const auto& [name, rt] : budgets_) {
    const governance::BudgetState* s = ledger_.Find(name);
    if (s == nullptr) continue;
    budget_limit_.WithLabels({name}).Set(core::ToUsdDouble(s->limit));
    budget_spent_.WithLabels({name}).Set(core::ToUsdDouble(s->spent));
    budget_reserved_.WithLabels({name}).Set(core::ToUsdDouble(s->reserved));
    budget_soft_threshold_.WithLabels({name}).Set(core::ToUsdDouble(s->soft_threshold));
    const resources::BudgetScope& scope = rt.object.spec.scope;
    if (!scope.agent.empty() && scope.team.empty() && scope.tier == 0 && scope.namespace_.empty() &&
        scope.api_key.empty() && rt.period == governance::BudgetPeriod::kMonth) {
      auto [it, inserted] = agent_limits.emplace(scope.agent, s->limit);
      if (!inserted) it->second = std::min(it->second, s->limit);
    }
  }
  for (const auto& [agent, limit] : agent_limits) {
    agent_budget_limit_.WithLabels({agent}).Set(core::ToUsdDouble(limit));
  }
}

void Governor::LoadMonthlyCostsLocked() {
  const core::TimePoint now = clock_.Now();
  auto month = governance::WindowContaining(now, governance::BudgetPeriod::kMonth,
                                            governance::TimeZone::Utc());
  if (!month.ok()) return;
  month_end_ = month->end;
  agent_month_.clear();
  team_month_.clear();
  tier_month_.clear();
  agent_monthly_cost_.Clear();
  team_monthly_cost_.Clear();
  tier_monthly_cost_.Clear();
  const std::pair<const char*, std::map<std::string, MicroUsd, std::less<>>*> dims[] = {
      {"agent", &agent_month_}, {"team", &team_month_}, {"tier", &tier_month_}};
  for (const auto& [dim, sums] : dims) {
    store::UsageQuery query;
    query.from = month->start;
    query.to = month->end;
    query.group_by = {dim};
    auto rows = store_.QueryUsage(query);
    if (!rows.ok()) {
      core::LogWarn("cannot load this month's usage", {{"error", rows.error().message}});
      continue;
    }
    for (const store::UsageRow& row : *rows) {
      auto it = row.group.find(dim);
      if (it == row.group.end() || it->second.empty() || it->second == "0") continue;
      (*sums)[it->second] += row.usage.cost_micros;
    }
  }
  for (const auto& [k, v] : agent_month_)
    agent_monthly_cost_.WithLabels({k}).Set(core::ToUsdDouble(v));
  for (const auto& [k, v] : team_month_)
    team_monthly_cost_.WithLabels({k}).Set(core::ToUsdDouble(v));
  for (const auto& [k, v] : tier_month_)
    tier_monthly_cost_.WithLabels({k}).Set(core::ToUsdDouble(v));
}

Json Governor::BudgetsJson(const catalog::Snapshot& snapshot) {
  std::lock_guard lock(mu_);
  (void)SyncLocked(snapshot);
  RollPeriodsLocked();
  Json items = Json::array();
  for (const auto& [name, rt] : budgets_) {
    const governance::BudgetState* s = ledger_.Find(name);
    if (s == nullptr) continue;
    const resources::BudgetSpec& spec = rt.object.spec;
    std::string state = "ok";
    if (s->spent > s->limit || (s->spent == s->limit && s->limit > 0)) {
      state = "exceeded";
    } else if (s->soft_threshold > 0 && s->spent >= s->soft_threshold) {
      state = "nearLimit";
    }
    Json item = {{"name", name},
                 {"scope", ScopeJson(spec.scope)},
                 {"period", spec.period},
                 {"timeZone", spec.time_zone},
                 {"window",
                  {{"start", core::FormatRfc3339(rt.window.start)},
                   {"end", core::FormatRfc3339(rt.window.end)}}},
                 {"limitUsd", core::FormatUsd(s->limit)},
                 {"spentUsd", core::FormatUsd(s->spent)},
                 {"reservedUsd", core::FormatUsd(s->reserved)},
                 {"availableUsd", core::FormatUsd(ledger_.Available(name))},
                 {"softThresholdUsd", core::FormatUsd(s->soft_threshold)},
                 {"action", resources::BudgetActionName(spec.action)},
                 {"state", state}};
    if (!rt.zone_error.empty()) item["timeZoneError"] = rt.zone_error;
    items.push_back(std::move(item));
  }
  return {{"items", std::move(items)}};
}

}  // namespace agentd::scheduler
