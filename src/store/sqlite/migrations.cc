#include "store/sqlite/migrations.h"

#include <cstdlib>
#include <string>

namespace agentd::store::sqlite {
namespace {

// Times are INTEGER unix milliseconds, money INTEGER micro-dollars, structured values JSON text.
constexpr const char* kMigrations[] = {
    // 1: runs, their labels, event logs and the usage ledger.
    R"sql(
CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,
  agent               TEXT NOT NULL,
  input               TEXT NOT NULL,
  parameters          TEXT NOT NULL DEFAULT '{}',
  priority            INTEGER NOT NULL DEFAULT 0,
  deadline_seconds    INTEGER,
  labels              TEXT NOT NULL DEFAULT '{}',
  idempotency_key     TEXT NOT NULL DEFAULT '',
  request_hash        TEXT NOT NULL DEFAULT '',
  caller              TEXT NOT NULL DEFAULT '',
  source              TEXT NOT NULL,
  phase               TEXT NOT NULL,
  reason              TEXT NOT NULL DEFAULT '',
  message             TEXT NOT NULL DEFAULT '',
  created_at          INTEGER NOT NULL,
  started_at          INTEGER,
  finished_at         INTEGER,
  attempts            INTEGER NOT NULL DEFAULT 0,
  input_tokens        INTEGER NOT NULL DEFAULT 0,
  cached_input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens       INTEGER NOT NULL DEFAULT 0,
  cost_micros         INTEGER NOT NULL DEFAULT 0,
  model_calls         INTEGER NOT NULL DEFAULT 0,
  result              TEXT NOT NULL DEFAULT '',
  error               TEXT NOT NULL DEFAULT '',
  executor_handle     TEXT NOT NULL DEFAULT '{}',
  runner_token_hash   TEXT NOT NULL DEFAULT '',
  runner_seq          INTEGER NOT NULL DEFAULT 0,
  version             INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_agent ON runs (agent, created_at DESC, id DESC);
CREATE INDEX runs_by_phase ON runs (phase, created_at, id);
CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (idempotency_key)
  WHERE idempotency_key <> '';

-- The labels of runs.labels once more, one row per pair, so label filters can use an index.
CREATE TABLE run_labels (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_labels_by_pair ON run_labels (key, value, run_id);

CREATE TABLE events (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq    INTEGER NOT NULL,
  type   TEXT NOT NULL,
  data   TEXT NOT NULL DEFAULT '{}',
  time   INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

-- One row per model call; labels are the run's labels at the time (team, cost-center, ...).
CREATE TABLE usage_ledger (
  id                  INTEGER PRIMARY KEY,
  run_id              TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  agent               TEXT NOT NULL,
  model               TEXT NOT NULL,
  input_tokens        INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cost_micros         INTEGER NOT NULL,
  model_calls         INTEGER NOT NULL,
  time                INTEGER NOT NULL,
  labels              TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX usage_ledger_by_time ON usage_ledger (time);
CREATE INDEX usage_ledger_by_agent ON usage_ledger (agent, time);
CREATE INDEX usage_ledger_by_run ON usage_ledger (run_id);
)sql",

    // 2: governance (issue 4): run attribution and reservations, attributed usage rows, the
    // hash-chained audit log and its signed checkpoints.
    R"sql(
ALTER TABLE runs ADD COLUMN team                TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN cost_center         TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN tier                INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN config_digest       TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN allowance_micros    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budgets             TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN approval_expires_at INTEGER;

-- The run's attribution, copied from its row when the usage row is written. Rows written by
-- schema 1 take team and cost-center from the labels they were written with, and the caller of
-- their run.
ALTER TABLE usage_ledger ADD COLUMN team        TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_ledger ADD COLUMN cost_center TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_ledger ADD COLUMN tier        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_ledger ADD COLUMN caller      TEXT NOT NULL DEFAULT '';
UPDATE usage_ledger SET
  team = COALESCE(CASE WHEN json_valid(labels) THEN json_extract(labels, '$.team') END, ''),
  cost_center =
    COALESCE(CASE WHEN json_valid(labels) THEN json_extract(labels, '$."cost-center"') END, ''),
  caller = COALESCE((SELECT caller FROM runs WHERE runs.id = usage_ledger.run_id), '');
-- Budget windows and usage filters: one scope dimension and a time range.
CREATE INDEX usage_ledger_by_team ON usage_ledger (team, time);
CREATE INDEX usage_ledger_by_cost_center ON usage_ledger (cost_center, time);
CREATE INDEX usage_ledger_by_tier ON usage_ledger (tier, time);
CREATE INDEX usage_ledger_by_caller ON usage_ledger (caller, time);

-- The audit chain (governance/audit_chain.h): idx is the entry's index, 1, 2, 3, ...; details
-- is the JSON text of the details object. Rows are only ever inserted.
CREATE TABLE audit_log (
  idx       INTEGER PRIMARY KEY,
  time      INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  subject   TEXT NOT NULL DEFAULT '',
  details   TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (time, idx);
CREATE INDEX audit_log_by_actor ON audit_log (actor, idx);
CREATE INDEX audit_log_by_action ON audit_log (action, idx);
CREATE INDEX audit_log_by_subject ON audit_log (subject, idx);
-- Defence in depth: the hash chain still shows edits made after dropping these.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Signed checkpoints of the chain (governance/checkpoint.h), in the order they were saved.
CREATE TABLE audit_checkpoints (
  id        INTEGER PRIMARY KEY,
  count     INTEGER NOT NULL,
  head_hash TEXT NOT NULL,
  time      INTEGER NOT NULL,
  key_id    TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;
CREATE INDEX audit_checkpoints_by_count ON audit_checkpoints (count, id);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
)sql",

    // 3: runner fencing (issue 3): the runner instance (a Kubernetes pod) that claimed the
    // current attempt of a run by posting its events first; '' until one does, reset to '' when
    // the attempt changes.
    R"sql(
ALTER TABLE runs ADD COLUMN runner_instance TEXT NOT NULL DEFAULT '';
)sql",

    // 4: the audit log keeps one secondary index, by subject (what happened to this run or
    // object). Indexes by time, actor and action cost a quarter of the submission throughput
    // (every run writes an entry) for queries only an auditor runs; those scan instead.
    R"sql(
DROP INDEX IF EXISTS audit_log_by_time;
DROP INDEX IF EXISTS audit_log_by_actor;
DROP INDEX IF EXISTS audit_log_by_action;
)sql",
};

constexpr int kLatest = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

}  // namespace

int LatestSchemaVersion() { return kLatest; }

core::Result<int> ReadSchemaVersion(Connection& db) {
  AGENTD_ASSIGN_OR_RETURN(std::string text, db.QueryText("PRAGMA user_version"));
  return static_cast<int>(std::strtol(text.c_str(), nullptr, 10));
}

core::Status Migrate(Connection& db) {
  while (true) {
    AGENTD_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    // Read the version inside the write transaction: another process may have migrated first.
    core::Result<int> version = ReadSchemaVersion(db);
    core::Status step = version.ok() ? core::Ok() : core::Status(version.error());
    if (step.ok() && *version > kLatest) {
      step = core::FailedPrecondition(
          "the SQLite database has schema version " + std::to_string(*version) +
          ", newer than the " + std::to_string(kLatest) +
          " this agentd understands; upgrade agentd or use a matching database");
    }
    if (step.ok() && *version == kLatest) {
      return db.Exec("COMMIT");
    }
    if (step.ok()) {
      int next = *version + 1;
      step = db.Exec(kMigrations[next - 1]);
      if (step.ok()) step = db.Exec("PRAGMA user_version = " + std::to_string(next));
      if (step.ok()) step = db.Exec("COMMIT");
      if (!step.ok())
        step = std::move(step).error().Wrap("schema migration " + std::to_string(next));
    }
    if (!step.ok()) {
      if (db.InTransaction()) (void)db.Exec("ROLLBACK");
      return step;
    }
  }
}

}  // namespace agentd::store::sqlite
