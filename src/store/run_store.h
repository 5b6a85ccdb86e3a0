// RunStore: the durable record of runs, their event logs, usage and idempotency keys.
//
// Contract (every implementation passes the suite in run_store_contract.h):
//  * Nothing is acknowledged before it is durable: when CreateRunAsync's callback or a write
//    method returns success, the write survives a kill -9 of the process.
//  * Writes are linearisable per run; TransitionRun enforces runs::CanTransition and the guards in
//    Transition, so two writers racing on one run cannot both win.
//  * Event sequence numbers are 1, 2, 3, ... per run with no gaps, in commit order.
//  * All methods are thread-safe. Errors: kNotFound for an unknown run, kFailedPrecondition for a
//    transition the state machine or a guard refuses, kAlreadyExists for an idempotency key reused
//    with another request, kUnavailable when the database cannot be reached or is busy.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "governance/audit_chain.h"
#include "governance/checkpoint.h"
#include "runs/run.h"

namespace agentd::store {

struct CreateRunResult {
  runs::Run run;
  bool created = true;  // false: an earlier run with the same idempotency key and request
};

struct RunFilter {
  std::optional<std::string> agent;
  std::optional<runs::Phase> phase;
  std::map<std::string, std::string> labels;  // every pair must match
};

struct RunPage {
  std::vector<runs::Run> runs;  // newest first
  std::string next_cursor;      // empty on the last page; opaque to callers
};

// A phase change and the fields that change with it, applied atomically together with a
// "phase" event ({"phase", "reason", "message"}).
struct Transition {
  runs::Phase to = runs::Phase::kQueued;
  std::string reason;
  std::string message;
  // Guards. If set, the run's current phase must be one of these.
  std::vector<runs::Phase> from;
  // If set, the run's attempts must equal this (fencing a stale executor or runner).
  std::optional<int> expect_attempt;
  // Field updates.
  // A new attempt: attempts + 1, and what belonged to the previous attempt's runner is reset
  // (runner_seq to 0, the runner instance claim of ClaimRunnerInstance to none).
  bool increment_attempts = false;
  std::optional<core::TimePoint> started_at;
  std::optional<core::TimePoint> finished_at;
  std::optional<core::Json> executor_handle;
  std::optional<std::string> runner_token_hash;
  std::optional<std::string> result;
  std::optional<std::string> error;
  // Run fields that change with the phase: approval_expires_at is set while AwaitingApproval
  // (clear_approval_expiry resets it), allowance_micros and budgets when a reservation is made
  // or released (an approved run reserves on its way to Queued).
  std::optional<core::TimePoint> approval_expires_at;
  bool clear_approval_expiry = false;
  std::optional<core::MicroUsd> allowance_micros;
  std::optional<std::vector<std::string>> budgets;
  core::TimePoint time;  // of the event
  // Audit entries written in the same transaction (nothing is written when the transition is
  // refused).
  std::vector<governance::AuditEntryDraft> audit;
};

struct TransitionResult {
  runs::Run run;      // after the change
  runs::Event event;  // the "phase" event written with it
};

// One model call's usage, written to the usage ledger and added to the run's totals. The ledger
// row also takes the run's attribution (agent, team, cost_center, tier, caller) from the run.
struct UsageRecord {
  std::string model;
  runs::Usage usage;  // model_calls is normally 1
};

// An event to append. `runner_seq` is the runner's own number for it (0 if it did not come from a
// runner): events whose runner_seq is not above the run's stored runner_seq are dropped silently,
// so re-reading a runner's journal after a restart never duplicates events.
struct EventDraft {
  std::string type;
  core::Json data = core::Json::object();
  core::TimePoint time;
  int64_t runner_seq = 0;
  std::optional<UsageRecord> usage;  // set on "usage" events
  // Written in the same transaction, only if the event is (a deduplicated event writes none).
  std::optional<governance::AuditEntryDraft> audit;
};

// --- Usage queries -------------------------------------------------------------------------

// Group-by dimensions of QueryUsage, in the order given: "agent", "team", "costCenter", "tier",
// "model", "caller", "day" (UTC, "2026-11-21"), "month" (UTC, "2026-11").
inline constexpr std::string_view kUsageDimensions[] = {"agent", "model",  "team", "costCenter",
                                                        "tier",  "caller", "day",  "month"};

struct UsageQuery {
  core::TimePoint from;  // [from, to) over the ledger row's time
  core::TimePoint to;
  std::vector<std::string> group_by;  // each in kUsageDimensions, no repeats; empty = one total
  // Filters; every set one must match.
  std::optional<std::string> agent;
  std::optional<std::string> team;
  std::optional<std::string> cost_center;
  std::optional<int> tier;
  std::optional<std::string> model;
  std::optional<std::string> caller;
};

struct UsageRow {
  std::map<std::string, std::string> group;  // dimension -> value (tier as decimal text)
  runs::Usage usage;                         // sums; model_calls counts ledger rows' calls
  int64_t runs = 0;                          // distinct runs
};

// --- Audit log -----------------------------------------------------------------------------

struct AuditFilter {
  std::optional<std::string> actor;
  std::optional<std::string> action;  // exact, or a prefix when it ends in '.' ("run.")
  std::optional<std::string> subject;
  std::optional<core::TimePoint> from;  // [from, to) over the entry's time
  std::optional<core::TimePoint> to;
};

struct AuditPage {
  std::vector<governance::AuditEntry> entries;  // ascending index
  std::string next_cursor;                      // empty on the last page
};

struct AuditHead {
  int64_t count = 0;  // entries 1..count exist
  std::string head_hash = std::string(governance::kGenesisHash);
};

class RunStore {
 public:
  virtual ~RunStore() = default;

  // Inserts `run` (id, created_at and phase already set by the caller) with a first "phase"
  // event, durably, then calls `done` on an internal thread. Writes are group-committed: many
  // concurrent creations share one transaction and one fsync.
  // If run.idempotency_key is set and a run with that key exists: same request_hash -> that run
  // with created=false; another hash -> kAlreadyExists.
  // `audit` entries are written in the same transaction when the run is created (not on an
  // idempotent replay).
  virtual void CreateRunAsync(runs::Run run, std::vector<governance::AuditEntryDraft> audit,
                              std::function<void(core::Result<CreateRunResult>)> done) = 0;
  void CreateRunAsync(runs::Run run, std::function<void(core::Result<CreateRunResult>)> done) {
    CreateRunAsync(std::move(run), {}, std::move(done));
  }
  // Blocking form of CreateRunAsync.
  core::Result<CreateRunResult> CreateRun(runs::Run run,
                                          std::vector<governance::AuditEntryDraft> audit = {});

  virtual core::Result<runs::Run> GetRun(std::string_view id) = 0;
  // Newest first. `limit` in [1, 1000]. `cursor` from a previous page or empty.
  virtual core::Result<RunPage> ListRuns(const RunFilter& filter, int limit,
                                         std::string_view cursor) = 0;
  // Every run in any of `phases`, oldest first (for the scheduler's recovery at start).
  virtual core::Result<std::vector<runs::Run>> ListRunsInPhases(
      const std::vector<runs::Phase>& phases) = 0;

  virtual core::Result<TransitionResult> TransitionRun(std::string_view id,
                                                       const Transition& transition) = 0;

  // Appends events in order, assigning seq; returns the events actually written (after
  // runner_seq dedup). Usage records are applied in the same transaction.
  virtual core::Result<std::vector<runs::Event>> AppendEvents(std::string_view run_id,
                                                              std::vector<EventDraft> events) = 0;
  // Events with seq > after_seq, at most `limit`, ascending.
  virtual core::Result<std::vector<runs::Event>> ListEvents(std::string_view run_id,
                                                            int64_t after_seq, int limit) = 0;

  // Fencing of runner instances (a Kubernetes Job may start a second pod for one attempt): the
  // first instance (pod name) to claim an attempt of a run holds it durably until the attempt
  // changes (TransitionRun with increment_attempts clears the claim). Returns true when
  // `instance` holds the claim (claimed now, or earlier by the same instance), false when
  // another instance does. Errors: kNotFound for an unknown run, kFailedPrecondition when the
  // run's attempts is not `attempt`, kInvalidArgument for an empty instance. Claims are
  // linearisable with transitions: of two instances racing for one attempt exactly one wins.
  virtual core::Result<bool> ClaimRunnerInstance(std::string_view run_id, int attempt,
                                                 std::string_view instance) = 0;

  // Usage ledger sums, grouped; rows ordered by their group values. kInvalidArgument for an
  // unknown or repeated dimension or from > to.
  virtual core::Result<std::vector<UsageRow>> QueryUsage(const UsageQuery& query) = 0;

  // Appends entries to the hash-chained audit log, in order, in one group-committed transaction
  // (governance::NextEntry computes index and hashes in commit order). Returns the entries as
  // stored. kInvalidArgument (nothing written) when a draft is refused by NextEntry.
  virtual core::Result<std::vector<governance::AuditEntry>> AppendAudit(
      std::vector<governance::AuditEntryDraft> drafts) = 0;
  // Entries matching the filter, ascending index, at most `limit` in [1, 1000].
  virtual core::Result<AuditPage> ListAudit(const AuditFilter& filter, int limit,
                                            std::string_view cursor) = 0;
  // Entries with index > after_index, ascending, at most `limit` in [1, 10000], unfiltered and
  // exactly as stored (for verification and export).
  virtual core::Result<std::vector<governance::AuditEntry>> ReadAudit(int64_t after_index,
                                                                      int limit) = 0;
  virtual core::Result<AuditHead> GetAuditHead() = 0;
  // Signed checkpoints, kept beside the chain (and exported with it); ascending count.
  virtual core::Status SaveCheckpoint(const governance::Checkpoint& checkpoint) = 0;
  virtual core::Result<std::vector<governance::Checkpoint>> ListCheckpoints() = 0;
};

}  // namespace agentd::store
