// SqliteRunStore: the RunStore of a single machine, one SQLite database file in WAL mode.
//
// Writes are group-committed. Every write (CreateRunAsync, TransitionRun, AppendEvents,
// AppendAudit, SaveCheckpoint) becomes an operation on one queue drained by one writer thread; the
// writer takes everything queued (up to `max_batch`) and applies it in a single BEGIN IMMEDIATE ...
// COMMIT transaction, one SAVEPOINT per operation so a failing operation (idempotency conflict,
// refused transition) rolls back alone. Callbacks and blocking callers are answered only after
// COMMIT returned, so everything acknowledged is durable: with synchronous=FULL it survives power
// loss, with NORMAL it survives a kill -9 of the process (WAL contents are in the OS page cache)
// but not a power cut.
//
// Reads use a small pool of separate connections and never wait for the writer (WAL readers see
// the last committed state). ":memory:" is supported for tests and tools: it has one connection,
// shared by the writer and the readers under a lock, and no durability.
//
// Lifecycle: Open applies the schema migrations and starts the writer thread; the destructor
// stops accepting writes (they fail with kUnavailable), drains the queue, commits and joins.
// The process must be the only writer of the database (the writer caches per-run event
// sequence numbers and the audit chain's head).
//
// Callbacks of CreateRunAsync run on the writer thread, in submission order: they must be quick,
// must not throw, and must not call the blocking write methods of this store (TransitionRun,
// AppendEvents, AppendAudit and SaveCheckpoint return kInternal there instead of deadlocking;
// RunStore::CreateRun would deadlock). Reads and CreateRunAsync are fine. After the destructor has
// started, CreateRunAsync calls `done` with kUnavailable on the caller's thread.
//
// Audit entries (CreateRunAsync's drafts, Transition::audit, EventDraft::audit, AppendAudit) are
// chained by the writer thread in commit order: it keeps the chain head (loaded at Open) and
// builds each entry with governance::NextEntry inside the savepoint of the operation it belongs
// to, so an operation that rolls back (refused transition, idempotent replay, deduplicated
// event) writes no entry and leaves the head where it was. An invalid draft (NextEntry refuses
// it) fails its whole operation with kInvalidArgument. A draft whose time is unset (the epoch)
// is stamped with the clock, like events. The audit_log table refuses UPDATE and DELETE by
// trigger; ReadAudit returns rows exactly as stored (details that are not valid JSON come back
// as a JSON string, which no genuine entry has, so verification reports the row as altered).
//
// Times are stored to the millisecond; the runs and events returned are truncated likewise.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/run_store.h"

namespace agentd::store {

// PRAGMA synchronous of the writer connection.
enum class SqliteSynchronous {
  kFull,    // fsync at every commit: acknowledged writes survive power loss
  kNormal,  // no fsync at commit in WAL mode: they survive a process crash, not a power cut
};

struct SqliteRunStoreOptions {
  SqliteSynchronous synchronous = SqliteSynchronous::kFull;
  // How long a connection waits for a lock held by another process before kUnavailable.
  std::chrono::milliseconds busy_timeout{5000};
  // Most operations committed in one transaction.
  int max_batch = 512;
  // Read connections (ignored for ":memory:").
  int reader_pool_size = 4;
  // Stamps events and transitions whose time is unset (the epoch). SystemClock when null; must
  // outlive the store.
  const core::Clock* clock = nullptr;
};

// Counters of the writer, for metrics and tests.
struct SqliteWriterStats {
  int64_t batches = 0;     // transactions committed or attempted
  int64_t operations = 0;  // operations applied in them
  int64_t largest_batch = 0;
};

class SqliteRunStore final : public RunStore {
 public:
  // Opens or creates the database at `path` (a file name, or ":memory:"), applies the pending
  // migrations and starts the writer. Errors: kFailedPrecondition for a database with a newer
  // schema than this build, kUnavailable when the file cannot be opened or is locked,
  // kInvalidArgument for bad options.
  static core::Result<std::unique_ptr<SqliteRunStore>> Open(const std::string& path,
                                                            SqliteRunStoreOptions options = {});
  ~SqliteRunStore() override;
  SqliteRunStore(const SqliteRunStore&) = delete;
  SqliteRunStore& operator=(const SqliteRunStore&) = delete;

  using RunStore::CreateRunAsync;
  void CreateRunAsync(runs::Run run, std::vector<governance::AuditEntryDraft> audit,
                      std::function<void(core::Result<CreateRunResult>)> done) override;
  core::Result<runs::Run> GetRun(std::string_view id) override;
  core::Result<RunPage> ListRuns(const RunFilter& filter, int limit,
                                 std::string_view cursor) override;
  core::Result<std::vector<runs::Run>> ListRunsInPhases(
      const std::vector<runs::Phase>& phases) override;
  core::Result<TransitionResult> TransitionRun(std::string_view id,
                                               const Transition& transition) override;
  core::Result<std::vector<runs::Event>> AppendEvents(std::string_view run_id,
                                                      std::vector<EventDraft> events) override;
  core::Result<std::vector<runs::Event>> ListEvents(std::string_view run_id, int64_t after_seq,
                                                    int limit) override;
  core::Result<bool> ClaimRunnerInstance(std::string_view run_id, int attempt,
                                         std::string_view instance) override;
  core::Result<std::vector<UsageRow>> QueryUsage(const UsageQuery& query) override;
  core::Result<std::vector<governance::AuditEntry>> AppendAudit(
      std::vector<governance::AuditEntryDraft> drafts) override;
  core::Result<AuditPage> ListAudit(const AuditFilter& filter, int limit,
                                    std::string_view cursor) override;
  core::Result<std::vector<governance::AuditEntry>> ReadAudit(int64_t after_index,
                                                              int limit) override;
  core::Result<AuditHead> GetAuditHead() override;
  core::Status SaveCheckpoint(const governance::Checkpoint& checkpoint) override;
  core::Result<std::vector<governance::Checkpoint>> ListCheckpoints() override;

  SqliteWriterStats WriterStats() const;

 private:
  class Impl;
  explicit SqliteRunStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentd::store
