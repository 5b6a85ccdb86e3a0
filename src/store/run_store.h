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
  bool increment_attempts = false;
  std::optional<core::TimePoint> started_at;
  std::optional<core::TimePoint> finished_at;
  std::optional<core::Json> executor_handle;
  std::optional<std::string> runner_token_hash;
  std::optional<std::string> result;
  std::optional<std::string> error;
  core::TimePoint time;  // of the event
};

struct TransitionResult {
  runs::Run run;      // after the change
  runs::Event event;  // the "phase" event written with it
};

// One model call's usage, written to the usage ledger and added to the run's totals.
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
};

class RunStore {
 public:
  virtual ~RunStore() = default;

  // Inserts `run` (id, created_at and phase already set by the caller) with a first "phase"
  // event, durably, then calls `done` on an internal thread. Writes are group-committed: many
  // concurrent creations share one transaction and one fsync.
  // If run.idempotency_key is set and a run with that key exists: same request_hash -> that run
  // with created=false; another hash -> kAlreadyExists.
  virtual void CreateRunAsync(runs::Run run,
                              std::function<void(core::Result<CreateRunResult>)> done) = 0;
  // Blocking form of CreateRunAsync.
  core::Result<CreateRunResult> CreateRun(runs::Run run);

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
};

}  // namespace agentd::store
