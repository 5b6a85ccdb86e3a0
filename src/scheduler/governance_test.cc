// Budgets, tier policy, approvals and the audit trail as the scheduler applies them, against
// the real SQLite store and a FakeClock.
#include <algorithm>
#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "governance/audit_chain.h"
#include "scheduler/scheduler_test_fixture.h"

namespace agentd::scheduler {
namespace {

using namespace fixtures;

constexpr core::MicroUsd kUsd = core::kMicrosPerUsd;

resources::Budget MakeBudget(const std::string& name, core::MicroUsd limit,
                             resources::BudgetAction action = resources::BudgetAction::kReject) {
  resources::Budget budget;
  budget.metadata.name = name;
  budget.spec.limit_micros = limit;
  budget.spec.action = action;
  return budget;
}

resources::Agent CappedAgent(const std::string& name, core::MicroUsd cap, int tier = 3) {
  resources::Agent agent = MakeAgent(name, "local");
  agent.metadata.labels["team"] = "platform";
  agent.spec.limits.max_cost_micros = cap;
  agent.spec.tier = tier;
  return agent;
}

class GovernanceTest : public SchedulerTest {
 protected:
  // Replaces the catalog: model "local", the agents and the budgets.
  void SetCatalog(std::vector<resources::Agent> agents, std::vector<resources::Budget> budgets) {
    auto snapshot = std::make_shared<catalog::Snapshot>();
    snapshot->generation = ++generation_;
    snapshot->models.emplace("local", MakeModel("local"));
    for (auto& a : agents) snapshot->agents.emplace(a.metadata.name, a);
    for (auto& b : budgets) snapshot->budgets.emplace(b.metadata.name, b);
    catalog_.Replace(snapshot);
  }

  core::Json BudgetNamed(Scheduler& scheduler, const std::string& name) {
    const core::Json all = scheduler.Budgets();
    for (const auto& item : all["items"]) {
      if (item["name"] == name) return item;
    }
    ADD_FAILURE() << "no budget " << name;
    return {};
  }

  // Reports one model call costing `cost` for a running run, as its runner would: the
  // scheduler prices the tokens itself ("local" charges $0.50 per million input tokens, so 2
  // tokens cost one micro-dollar) and ignores the runner's costMicros.
  void ReportUsage(Scheduler& scheduler, const runs::Run& run, int64_t seq, core::MicroUsd cost) {
    scheduler.OnRunnerEvents(run.id, run.attempts,
                             {Event(seq, "usage",
                                    {{"model", "qwen2.5-coder-7b"},
                                     {"inputTokens", 2 * cost},
                                     {"outputTokens", 0},
                                     {"costMicros", 1}})});
  }

  std::vector<governance::AuditEntry> Audit() {
    auto entries = store_->ReadAudit(0, 10'000);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<governance::AuditEntry>{};
  }
  std::vector<std::string> AuditActions(const std::string& subject) {
    std::vector<std::string> actions;
    for (const auto& e : Audit()) {
      if (e.subject == subject) actions.push_back(e.action);
    }
    return actions;
  }

  uint64_t generation_ = 100;
};

TEST_F(GovernanceTest, RunReservesItsAllowancePaysEachCallAndReleasesTheRestAtTheEnd) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 100 * kUsd)});
  auto& scheduler = StartScheduler();

  const std::string id = SubmitOk(scheduler, {.agent = "developer", .caller = "ci"});
  runs::Run run = WaitForPhase(id, Phase::kRunning);

  EXPECT_EQ(run.allowance_micros, 2 * kUsd);
  EXPECT_EQ(run.budgets, std::vector<std::string>{"org"});
  EXPECT_EQ(BudgetNamed(scheduler, "org")["reservedUsd"], "2");
  ReportUsage(scheduler, run, 1, 300'000);
  EXPECT_EQ(BudgetNamed(scheduler, "org")["spentUsd"], "0.3");
  EXPECT_EQ(BudgetNamed(scheduler, "org")["reservedUsd"], "1.7");
  scheduler.OnExit(id, run.attempts, Succeeded("done"));
  WaitForPhase(id, Phase::kSucceeded);
  EXPECT_EQ(BudgetNamed(scheduler, "org")["reservedUsd"], "0");
  EXPECT_EQ(BudgetNamed(scheduler, "org")["spentUsd"], "0.3");
}

TEST_F(GovernanceTest, RunThatDoesNotFitARejectingBudgetIsRefusedAndNothingIsStored) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("team", 3 * kUsd)});
  auto& scheduler = StartScheduler(Concurrency(0));
  SubmitOk(scheduler, {.agent = "developer"});

  auto refused = Submit(scheduler, {.agent = "developer", .caller = "ci"});

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kResourceExhausted);
  EXPECT_EQ(refused.error().reason, "budget_exceeded");
  EXPECT_NE(refused.error().message.find("budget \"team\""), std::string::npos)
      << refused.error().message;
  std::map<std::string, std::string> fields(refused.error().fields.begin(),
                                            refused.error().fields.end());
  EXPECT_EQ(fields["budget"], "team");
  EXPECT_EQ(fields["reservedUsd"], "2");
  EXPECT_EQ(fields["limitUsd"], "3");
  EXPECT_EQ(store_->ListRuns({}, 10, "")->runs.size(), 1u);
  // The refusal's audit entry is written by the dispatcher, just after the answer.
  EXPECT_TRUE(PollUntil([&] {
    for (const auto& e : Audit()) {
      if (e.action == "run.rejected" && e.actor == "ci") return true;
    }
    return false;
  }));
}

TEST_F(GovernanceTest, ConcurrentSubmissionsNeverReserveMoreThanTheBudget) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 11 * kUsd)});
  auto& scheduler = StartScheduler(Concurrency(0));
  constexpr int kClients = 8;
  constexpr int kEach = 6;
  std::atomic<int> admitted{0}, refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto r = Submit(scheduler, {.agent = "developer"});
        (r.ok() ? admitted : refused)++;
        if (!r.ok()) {
          EXPECT_EQ(r.error().reason, "budget_exceeded");
        }
      }
    });
  }
  for (auto& t : clients) t.join();

  EXPECT_EQ(admitted.load(), 5);  // 5 x $2 fit in $11, a sixth would not
  EXPECT_EQ(refused.load(), kClients * kEach - 5);
  EXPECT_EQ(BudgetNamed(scheduler, "org")["reservedUsd"], "10");
}

TEST_F(GovernanceTest, SpendingEveryAllowanceStaysWithinTheBudgetPlusOneAllowance) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 7 * kUsd)});
  auto& scheduler = StartScheduler(Concurrency(10));
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    auto r = Submit(scheduler, {.agent = "developer"});
    if (r.ok()) ids.push_back(r->run.id);
  }
  ASSERT_EQ(ids.size(), 3u);
  for (const std::string& id : ids) {
    runs::Run run = WaitForPhase(id, Phase::kRunning);
    ReportUsage(scheduler, run, 1, 2 * kUsd);  // each spends its whole allowance
    scheduler.OnExit(id, run.attempts, Succeeded("ok"));
    WaitForPhase(id, Phase::kSucceeded);
  }

  auto again = Submit(scheduler, {.agent = "developer"});

  EXPECT_FALSE(again.ok());  // $6 spent, $2 more does not fit $7
  EXPECT_EQ(BudgetNamed(scheduler, "org")["spentUsd"], "6");
}

TEST_F(GovernanceTest, BudgetThatRequiresApprovalParksTheRunUntilSomeoneElseApproves) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)},
             {MakeBudget("org", 1 * kUsd, resources::BudgetAction::kRequireApproval)});
  auto& scheduler = StartScheduler();

  const std::string id = SubmitOk(scheduler, {.agent = "developer", .caller = "alice"});
  runs::Run waiting = Get(id);
  EXPECT_EQ(waiting.phase, Phase::kAwaitingApproval);
  EXPECT_EQ(waiting.reason, "BudgetExceeded");
  EXPECT_TRUE(waiting.budgets.empty());

  auto self = scheduler.Approve(id, "alice", "");
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().reason, "self_approval");
  auto approved = scheduler.Approve(id, "bob", "release blocker");
  ASSERT_TRUE(approved.ok()) << approved.error().message;
  EXPECT_EQ(approved->phase, Phase::kQueued);
  EXPECT_EQ(approved->message, "approved by bob: release blocker");
  WaitForPhase(id, Phase::kRunning);
  EXPECT_EQ(BudgetNamed(scheduler, "org")["reservedUsd"], "2");  // over the limit, approved
  auto twice = scheduler.Approve(id, "bob", "");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().reason, "not_awaiting_approval");
  auto actions = AuditActions(id);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "run.approved"), actions.end());
}

TEST_F(GovernanceTest, TierFourRequiresApprovalAndARejectionEndsTheRun) {
  SetCatalog({CappedAgent("architect", 2 * kUsd, /*tier=*/4)}, {});
  auto& scheduler = StartScheduler();

  const std::string id = SubmitOk(scheduler, {.agent = "architect", .caller = "alice"});
  EXPECT_EQ(Get(id).phase, Phase::kAwaitingApproval);
  EXPECT_EQ(Get(id).reason, "ApprovalRequired");
  EXPECT_EQ(scheduler.Stats().awaiting_approval, 1);
  auto rejected = scheduler.Reject(id, "alice", "not now");

  ASSERT_TRUE(rejected.ok()) << rejected.error().message;
  EXPECT_EQ(rejected->phase, Phase::kRejected);
  EXPECT_EQ(rejected->reason, "ApprovalRejected");
  EXPECT_EQ(scheduler.Stats().awaiting_approval, 0);
  EXPECT_EQ(executor_->StartCount(), 0u);
}

TEST_F(GovernanceTest, ApprovalExpiresOnTheFakeClock) {
  resources::Agent agent = CappedAgent("architect", 2 * kUsd, /*tier=*/3);
  agent.spec.approval.required = true;
  agent.spec.approval.timeout = std::chrono::seconds(3600);
  SetCatalog({agent}, {});
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "architect"});
  ASSERT_EQ(Get(id).phase, Phase::kAwaitingApproval);

  clock_.Advance(std::chrono::minutes(59));
  scheduler.Wake();
  EXPECT_EQ(Get(id).phase, Phase::kAwaitingApproval);
  clock_.Advance(std::chrono::minutes(2));
  scheduler.Wake();
  runs::Run run = WaitForPhase(id, Phase::kRejected);

  EXPECT_EQ(run.reason, "ApprovalExpired");
  auto actions = AuditActions(id);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "run.approval_expired"), actions.end());
}

TEST_F(GovernanceTest, AgentThatLoosensItsTierIsRefusedAndCountedAsAViolation) {
  resources::Agent agent = CappedAgent("observer", 0, /*tier=*/1);
  agent.spec.tools = {"read_file", "shell"};  // tier 1 does not allow shell
  SetCatalog({agent}, {});
  auto& scheduler = StartScheduler();

  auto refused = Submit(scheduler, {.agent = "observer"});

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().reason, "policy_violation");
  EXPECT_NE(
      registry_.Render().find(
          "agent_governance_violations_total{agent=\"observer\",rule=\"tool_not_allowed\"} 1"),
      std::string::npos)
      << registry_.Render();
}

TEST_F(GovernanceTest, AllowActionAdmitsOverTheLimitAndFlagsIt) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)},
             {MakeBudget("soft", 1 * kUsd, resources::BudgetAction::kAllow)});
  auto& scheduler = StartScheduler(Concurrency(0));

  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  runs::Run run = WaitForRun(id, [&](const runs::Run&) {
    auto events = store_->ListEvents(id, 0, 10);
    return events.ok() && events->size() >= 2;
  });

  EXPECT_EQ(run.phase, Phase::kQueued);
  auto events = store_->ListEvents(id, 0, 10);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ((*events)[1].type, "violation");
  EXPECT_EQ((*events)[1].data["rule"], "budget_exceeded");
  EXPECT_EQ(BudgetNamed(scheduler, "soft")["reservedUsd"], "2");
}

TEST_F(GovernanceTest, SpentIsRebuiltFromTheUsageLedgerAfterARestart) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 100 * kUsd)});
  std::string open_id;
  {
    auto& first = StartScheduler();
    const std::string id = SubmitOk(first, {.agent = "developer"});
    runs::Run run = WaitForPhase(id, Phase::kRunning);
    ReportUsage(first, run, 1, 1'500'000);
    first.OnExit(id, run.attempts, Succeeded("ok"));
    WaitForPhase(id, Phase::kSucceeded);
    open_id = SubmitOk(first, {.agent = "developer"});
    runs::Run open = WaitForPhase(open_id, Phase::kRunning);
    ReportUsage(first, open, 1, 500'000);
    first.Shutdown();
  }
  auto& second = MakeScheduler();
  executor_->SetAlive(open_id);
  ASSERT_TRUE(second.Recover().ok());
  second.Start();

  EXPECT_EQ(BudgetNamed(second, "org")["spentUsd"], "2");       // 1.5 + 0.5
  EXPECT_EQ(BudgetNamed(second, "org")["reservedUsd"], "1.5");  // the open run's 2 - 0.5
}

TEST_F(GovernanceTest, MonthlyBudgetStartsAgainInTheNextMonth) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 3 * kUsd)});
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  runs::Run run = WaitForPhase(id, Phase::kRunning);
  ReportUsage(scheduler, run, 1, 2 * kUsd);
  scheduler.OnExit(id, run.attempts, Succeeded("ok"));
  WaitForPhase(id, Phase::kSucceeded);
  ASSERT_FALSE(Submit(scheduler, {.agent = "developer"}).ok());

  clock_.Advance(std::chrono::hours(24 * 32));

  EXPECT_TRUE(Submit(scheduler, {.agent = "developer"}).ok());
  EXPECT_EQ(BudgetNamed(scheduler, "org")["spentUsd"], "0");
}

TEST_F(GovernanceTest, DailyBudgetStartsAgainAtLocalMidnightOfItsTimeZone) {
  resources::Budget budget = MakeBudget("tokyo-day", 3 * kUsd);
  budget.spec.period = "day";
  budget.spec.time_zone = "Asia/Tokyo";  // UTC+9; the fake clock starts at 17:00 there
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {budget});
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  runs::Run run = WaitForPhase(id, Phase::kRunning);
  ReportUsage(scheduler, run, 1, 2 * kUsd);
  scheduler.OnExit(id, run.attempts, Succeeded("ok"));
  WaitForPhase(id, Phase::kSucceeded);
  EXPECT_EQ(BudgetNamed(scheduler, "tokyo-day")["window"]["end"], "2027-01-15T15:00:00.000Z");

  clock_.Advance(std::chrono::hours(6) + std::chrono::minutes(59));  // 23:59 in Tokyo
  EXPECT_FALSE(Submit(scheduler, {.agent = "developer"}).ok());
  clock_.Advance(std::chrono::minutes(2));  // 00:01 the next day in Tokyo

  EXPECT_TRUE(Submit(scheduler, {.agent = "developer"}).ok());
  EXPECT_EQ(BudgetNamed(scheduler, "tokyo-day")["spentUsd"], "0");
}

TEST_F(GovernanceTest, BudgetAddedByAReloadCountsTheCallsOfRunsAlreadyRunning) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {});
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer"});
  runs::Run run = WaitForPhase(id, Phase::kRunning);

  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {MakeBudget("org", 10 * kUsd)});
  ReportUsage(scheduler, run, 1, 700'000);

  EXPECT_EQ(BudgetNamed(scheduler, "org")["spentUsd"], "0.7");
}

TEST_F(GovernanceTest, SoftThresholdCrossingIsAnEventAndAnAuditEntry) {
  resources::Budget budget = MakeBudget("org", 10 * kUsd);
  budget.spec.soft_threshold_percent = 50;
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {budget});
  auto& scheduler = StartScheduler();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(SubmitOk(scheduler, {.agent = "developer"}));
  for (const std::string& id : ids) {
    runs::Run run = WaitForPhase(id, Phase::kRunning);
    ReportUsage(scheduler, run, 1, 2 * kUsd);
  }

  int budget_events = 0;
  for (const std::string& id : ids) {
    const auto events = store_->ListEvents(id, 0, 100);
    ASSERT_TRUE(events.ok());
    for (const auto& e : *events) {
      if (e.type == "budget") {
        ++budget_events;
        EXPECT_EQ(e.data["state"], "nearLimit");
        EXPECT_EQ(e.data["budget"], "org");
      }
    }
  }
  EXPECT_EQ(budget_events, 1);  // once per period: $6 crossed $5 with the third call
  EXPECT_EQ(BudgetNamed(scheduler, "org")["state"], "nearLimit");
}

TEST_F(GovernanceTest, EveryStepOfARunIsInTheAuditChainWhichVerifies) {
  SetCatalog({CappedAgent("developer", 2 * kUsd)}, {});
  auto& scheduler = StartScheduler();
  const std::string id = SubmitOk(scheduler, {.agent = "developer", .caller = "ci"});
  runs::Run run = WaitForPhase(id, Phase::kRunning);
  scheduler.OnRunnerEvents(
      id, run.attempts,
      {Event(1, "tool_call", {{"id", "c1"}, {"name", "shell"}, {"arguments", {{"cmd", "ls"}}}})});
  scheduler.OnExit(id, run.attempts, Succeeded("done"));
  WaitForPhase(id, Phase::kSucceeded);

  EXPECT_EQ(AuditActions(id), (std::vector<std::string>{"run.submitted", "run.started",
                                                        "tool.called", "run.finished"}));
  const auto entries = Audit();
  EXPECT_EQ(entries.front().details["configDigest"].get<std::string>().size(), 64u);
  EXPECT_TRUE(governance::VerifyChain(entries).ok);
}

}  // namespace
}  // namespace agentd::scheduler
