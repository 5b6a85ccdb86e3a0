#include "store/sqlite/sqlite_run_store.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include "core/json.h"
#include "core/time.h"
#include "governance/audit_chain.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"

namespace agentd::store {
namespace {

using core::Error;
using core::Json;
using core::Result;
using core::Status;
using core::TimePoint;
using governance::AuditEntry;
using governance::AuditEntryDraft;
using governance::PreparedAuditDraft;
using runs::Event;
using runs::Phase;
using runs::Run;
using sqlite::Connection;
using sqlite::Statement;

constexpr int kMaxListLimit = 1000;
constexpr int kMaxReadAuditLimit = 10000;
// Drop the writer's sequence cache when it grows past this many runs (it reloads on demand).
constexpr size_t kMaxCachedRuns = 100'000;
// Rows were validated when written; these limits only stop a corrupt row from exhausting memory.
constexpr core::JsonLimits kRowJsonLimits{.max_bytes = size_t{1} << 30, .max_depth = 512};

// The columns of a run, in the order ReadRunRow and BindRunColumns use.
constexpr const char* kRunColumns =
    "id, agent, input, parameters, priority, deadline_seconds, labels, idempotency_key, "
    "request_hash, caller, source, phase, reason, message, created_at, started_at, finished_at, "
    "attempts, input_tokens, cached_input_tokens, output_tokens, cost_micros, model_calls, "
    "result, error, executor_handle, runner_token_hash, runner_seq, version, team, cost_center, "
    "tier, config_digest, allowance_micros, budgets, approval_expires_at";
constexpr int kRunColumnCount = 36;

// "?1, ?2, ..., ?n".
std::string Placeholders(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) {
    if (i > 1) out += ", ";
    out += "?" + std::to_string(i);
  }
  return out;
}

std::string SelectRunSql(std::string_view where) {
  return std::string("SELECT ") + kRunColumns + " FROM runs " + std::string(where);
}

int64_t Ms(TimePoint t) { return core::ToUnixMillis(t); }
TimePoint TruncateToMillis(TimePoint t) { return core::FromUnixMillis(Ms(t)); }
std::optional<TimePoint> TruncateToMillis(std::optional<TimePoint> t) {
  if (!t) return std::nullopt;
  return TruncateToMillis(*t);
}
std::optional<int64_t> OptionalMs(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return Ms(*t);
}

Result<Json> ParseColumnJson(const std::string& text, std::string_view what) {
  Result<Json> parsed = core::ParseJson(text, kRowJsonLimits);
  if (!parsed.ok()) {
    return core::Internal(std::string(what) +
                          " is corrupt in the database: " + parsed.error().message);
  }
  return parsed;
}

Result<Run> ReadRunRow(const Statement& row) {
  Run run;
  run.id = row.Text(0);
  std::string where = "run " + run.id;
  run.agent = row.Text(1);
  run.input = row.Text(2);
  AGENTD_ASSIGN_OR_RETURN(run.parameters,
                          ParseColumnJson(row.Text(3), "column parameters of " + where));
  run.priority = static_cast<int>(row.Int(4));
  if (!row.IsNull(5)) run.deadline = std::chrono::seconds(row.Int(5));
  AGENTD_ASSIGN_OR_RETURN(Json labels, ParseColumnJson(row.Text(6), "column labels of " + where));
  if (!labels.is_object()) {
    return core::Internal("column labels of " + where + " is not a JSON object");
  }
  for (const auto& [key, value] : labels.items()) {
    if (!value.is_string()) return core::Internal(where + " label \"" + key + "\" is not a string");
    run.labels.emplace(key, value.get<std::string>());
  }
  run.idempotency_key = row.Text(7);
  run.request_hash = row.Text(8);
  run.caller = row.Text(9);
  Result<runs::Source> source = runs::ParseSource(row.Text(10));
  if (!source.ok()) return core::Internal(where + ": " + source.error().message);
  run.source = *source;
  Result<Phase> phase = runs::ParsePhase(row.Text(11));
  if (!phase.ok()) return core::Internal(where + ": " + phase.error().message);
  run.phase = *phase;
  run.reason = row.Text(12);
  run.message = row.Text(13);
  run.created_at = core::FromUnixMillis(row.Int(14));
  if (!row.IsNull(15)) run.started_at = core::FromUnixMillis(row.Int(15));
  if (!row.IsNull(16)) run.finished_at = core::FromUnixMillis(row.Int(16));
  run.attempts = static_cast<int>(row.Int(17));
  run.usage.input_tokens = row.Int(18);
  run.usage.cached_input_tokens = row.Int(19);
  run.usage.output_tokens = row.Int(20);
  run.usage.cost_micros = row.Int(21);
  run.usage.model_calls = row.Int(22);
  run.result = row.Text(23);
  run.error = row.Text(24);
  AGENTD_ASSIGN_OR_RETURN(run.executor_handle,
                          ParseColumnJson(row.Text(25), "column executor_handle of " + where));
  run.runner_token_hash = row.Text(26);
  run.runner_seq = row.Int(27);
  run.version = row.Int(28);
  run.team = row.Text(29);
  run.cost_center = row.Text(30);
  run.tier = static_cast<int>(row.Int(31));
  run.config_digest = row.Text(32);
  run.allowance_micros = row.Int(33);
  AGENTD_ASSIGN_OR_RETURN(Json budgets,
                          ParseColumnJson(row.Text(34), "column budgets of " + where));
  if (!budgets.is_array()) {
    return core::Internal("column budgets of " + where + " is not a JSON array");
  }
  for (const Json& budget : budgets) {
    if (!budget.is_string()) return core::Internal(where + ": a budget name is not a string");
    run.budgets.push_back(budget.get<std::string>());
  }
  if (!row.IsNull(35)) run.approval_expires_at = core::FromUnixMillis(row.Int(35));
  return run;
}

void BindRunColumns(Statement& stmt, const Run& run) {
  stmt.BindText(1, run.id);
  stmt.BindText(2, run.agent);
  stmt.BindText(3, run.input);
  stmt.BindText(4, core::DumpJson(run.parameters));
  stmt.BindInt(5, run.priority);
  stmt.BindOptionalInt(6,
                       run.deadline ? std::optional<int64_t>(run.deadline->count()) : std::nullopt);
  stmt.BindText(7, core::DumpJson(Json(run.labels)));
  stmt.BindText(8, run.idempotency_key);
  stmt.BindText(9, run.request_hash);
  stmt.BindText(10, run.caller);
  stmt.BindText(11, runs::SourceName(run.source));
  stmt.BindText(12, runs::PhaseName(run.phase));
  stmt.BindText(13, run.reason);
  stmt.BindText(14, run.message);
  stmt.BindInt(15, Ms(run.created_at));
  stmt.BindOptionalInt(16, OptionalMs(run.started_at));
  stmt.BindOptionalInt(17, OptionalMs(run.finished_at));
  stmt.BindInt(18, run.attempts);
  stmt.BindInt(19, run.usage.input_tokens);
  stmt.BindInt(20, run.usage.cached_input_tokens);
  stmt.BindInt(21, run.usage.output_tokens);
  stmt.BindInt(22, run.usage.cost_micros);
  stmt.BindInt(23, run.usage.model_calls);
  stmt.BindText(24, run.result);
  stmt.BindText(25, run.error);
  stmt.BindText(26, core::DumpJson(run.executor_handle));
  stmt.BindText(27, run.runner_token_hash);
  stmt.BindInt(28, run.runner_seq);
  stmt.BindInt(29, run.version);
  stmt.BindText(30, run.team);
  stmt.BindText(31, run.cost_center);
  stmt.BindInt(32, run.tier);
  stmt.BindText(33, run.config_digest);
  stmt.BindInt(34, run.allowance_micros);
  stmt.BindText(35, core::DumpJson(Json(run.budgets)));
  stmt.BindOptionalInt(36, OptionalMs(run.approval_expires_at));
}

// Loads one run, or nullopt when there is none with that id.
Result<std::optional<Run>> LoadRun(Connection& db, std::string_view id) {
  AGENTD_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(SelectRunSql("WHERE id = ?1")));
  stmt.BindText(1, id);
  AGENTD_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<Run>();
  AGENTD_ASSIGN_OR_RETURN(Run run, ReadRunRow(stmt));
  return std::optional<Run>(std::move(run));
}

Error RunNotFound(std::string_view id) {
  return core::NotFound("run \"" + std::string(id.substr(0, 100)) + "\" not found");
}

Json PhaseEventData(Phase phase, const std::string& reason, const std::string& message) {
  return {{"phase", runs::PhaseName(phase)}, {"reason", reason}, {"message", message}};
}

std::string JoinPhases(const std::vector<Phase>& phases) {
  std::string out;
  for (size_t i = 0; i < phases.size(); ++i) {
    if (i > 0) out += i + 1 == phases.size() ? " or " : ", ";
    out += runs::PhaseName(phases[i]);
  }
  return out;
}

// Cursor "<created_at unix ms>.<id>" of the last run of a page; callers treat it as opaque.
std::string EncodeCursor(const Run& run) {
  return std::to_string(Ms(run.created_at)) + "." + run.id;
}

Result<std::pair<int64_t, std::string>> DecodeCursor(std::string_view cursor) {
  Error invalid =
      core::InvalidArgument("invalid cursor \"" + std::string(cursor.substr(0, 60)) + "\"");
  size_t dot = cursor.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == cursor.size()) return invalid;
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + dot, ms);
  if (ec != std::errc() || end != cursor.data() + dot) return invalid;
  std::string_view id = cursor.substr(dot + 1);
  if (id.size() > 200) return invalid;
  return std::make_pair(ms, std::string(id));
}

// --- Audit rows ---

constexpr const char* kAuditColumns = "idx, time, actor, action, subject, details, prev_hash, hash";

std::string SelectAuditSql(std::string_view where) {
  return std::string("SELECT ") + kAuditColumns + " FROM audit_log " + std::string(where);
}

// Exactly as stored. Details that do not parse come back as the JSON string of their text: a
// genuine entry's details are always an object, so verification reports the row as altered
// instead of the read failing.
AuditEntry ReadAuditRow(const Statement& row) {
  AuditEntry entry;
  entry.index = row.Int(0);
  entry.time = core::FromUnixMillis(row.Int(1));
  entry.actor = row.Text(2);
  entry.action = row.Text(3);
  entry.subject = row.Text(4);
  std::string details = row.Text(5);
  Result<Json> parsed = core::ParseJson(details, kRowJsonLimits);
  entry.details = parsed.ok() ? std::move(parsed).value() : Json(std::move(details));
  entry.prev_hash = row.Text(6);
  entry.hash = row.Text(7);
  return entry;
}

// The last entry's index and hash (count 0 and the genesis hash for an empty log).
Result<AuditHead> LoadAuditHead(Connection& db) {
  AGENTD_ASSIGN_OR_RETURN(Statement stmt,
                          db.Prepare("SELECT idx, hash FROM audit_log ORDER BY idx DESC LIMIT 1"));
  AuditHead head;
  AGENTD_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (found) {
    head.count = stmt.Int(0);
    head.head_hash = stmt.Text(1);
  }
  return head;
}

// Cursor of ListAudit: the decimal index of the last entry of a page.
Result<int64_t> DecodeAuditCursor(std::string_view cursor) {
  int64_t index = 0;
  auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), index);
  if (ec != std::errc() || end != cursor.data() + cursor.size() || index < 1) {
    return core::InvalidArgument("invalid audit cursor \"" + std::string(cursor.substr(0, 60)) +
                                 "\"");
  }
  return index;
}

// Applies write operations inside the writer's transaction. Owned and used only by the writer
// thread. Holds the per-run next-sequence cache and the audit chain's head, with an undo log so
// an operation that rolls back to its savepoint also rolls back its changes to both.
class WriterContext {
 public:
  WriterContext(Connection& db, const core::Clock& clock, AuditHead audit_head)
      : db_(db), clock_(clock), audit_head_(std::move(audit_head)) {}

  // Called at the start of each operation / after one failed / after a batch failed.
  void BeginOperation() {
    undo_.clear();
    audit_undo_.reset();
  }
  void UndoOperation() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      if (it->second) {
        next_seq_[it->first] = *it->second;
      } else {
        next_seq_.erase(it->first);
      }
    }
    undo_.clear();
    if (audit_undo_) audit_head_ = std::move(*audit_undo_);
    audit_undo_.reset();
  }
  // After the whole transaction rolled back: the caches no longer match the database. The
  // audit head is reloaded from the table on its next use.
  void ForgetCache() {
    next_seq_.clear();
    undo_.clear();
    audit_head_.reset();
    audit_undo_.reset();
  }
  // Between batches (nothing to undo): bounds the sequence cache; the audit head stays.
  void TrimCache() {
    if (next_seq_.size() > kMaxCachedRuns) next_seq_.clear();
  }

  Result<CreateRunResult> Create(Run run, std::vector<Result<PreparedAuditDraft>> audit) {
    if (run.id.empty()) return core::InvalidArgument("run to create has no id");
    if (run.allowance_micros < 0) {
      return core::InvalidArgument("run " + run.id + " has a negative allowance (" +
                                   std::to_string(run.allowance_micros) + " micro-dollars)");
    }
    if (!run.idempotency_key.empty()) {
      // Also finds a run created earlier in this same batch: it is visible inside the
      // transaction. The second term repeats the partial index's condition so SQLite uses it.
      AGENTD_ASSIGN_OR_RETURN(
          Statement find,
          db_.Prepare(SelectRunSql("WHERE idempotency_key = ?1 AND idempotency_key <> ''")));
      find.BindText(1, run.idempotency_key);
      AGENTD_ASSIGN_OR_RETURN(bool found, find.Step());
      if (found) {
        AGENTD_ASSIGN_OR_RETURN(Run existing, ReadRunRow(find));
        if (existing.request_hash != run.request_hash) {
          return core::AlreadyExists("idempotency key \"" + run.idempotency_key +
                                     "\" was already used by run " + existing.id +
                                     " for a different request");
        }
        return CreateRunResult{.run = std::move(existing), .created = false};
      }
    }
    run.version = 1;
    run.created_at = TruncateToMillis(run.created_at);
    run.started_at = TruncateToMillis(run.started_at);
    run.finished_at = TruncateToMillis(run.finished_at);
    run.approval_expires_at = TruncateToMillis(run.approval_expires_at);
    {
      AGENTD_ASSIGN_OR_RETURN(Statement insert,
                              db_.Prepare(std::string("INSERT INTO runs (") + kRunColumns +
                                          ") VALUES (" + Placeholders(kRunColumnCount) + ")"));
      BindRunColumns(insert, run);
      Status inserted = insert.Run();
      if (!inserted.ok()) {
        if ((insert.last_error_code() & 0xff) == SQLITE_CONSTRAINT) {
          return core::AlreadyExists("run " + run.id + " already exists");
        }
        return std::move(inserted).error().Wrap("insert run " + run.id);
      }
    }
    for (const auto& [key, value] : run.labels) {
      AGENTD_ASSIGN_OR_RETURN(
          Statement label,
          db_.Prepare("INSERT INTO run_labels (run_id, key, value) VALUES (?1, ?2, ?3)"));
      label.BindText(1, run.id);
      label.BindText(2, key);
      label.BindText(3, value);
      AGENTD_RETURN_IF_ERROR(label.Run());
    }
    Event event{.run_id = run.id,
                .seq = 0,
                .type = "phase",
                .data = PhaseEventData(run.phase, run.reason, run.message),
                .time = run.created_at};
    AGENTD_ASSIGN_OR_RETURN(event.seq, NextSeq(run.id, /*new_run=*/true));
    AGENTD_RETURN_IF_ERROR(InsertEvent(event));
    for (Result<PreparedAuditDraft>& draft : audit) {
      if (!draft.ok()) return std::move(draft).error().Wrap("creating run " + run.id);
      AGENTD_RETURN_IF_ERROR(WritePrepared(*draft, "creating run " + run.id));
    }
    return CreateRunResult{.run = std::move(run), .created = true};
  }

  Result<TransitionResult> ApplyTransition(const std::string& id, const Transition& t) {
    AGENTD_ASSIGN_OR_RETURN(std::optional<Run> found, LoadRun(db_, id));
    if (!found) return RunNotFound(id);
    Run run = std::move(*found);
    if (!runs::CanTransition(run.phase, t.to)) {
      return core::FailedPrecondition("run " + id + " is " +
                                      std::string(runs::PhaseName(run.phase)) + "; cannot become " +
                                      std::string(runs::PhaseName(t.to)));
    }
    if (!t.from.empty() && std::find(t.from.begin(), t.from.end(), run.phase) == t.from.end()) {
      return core::FailedPrecondition(
          "run " + id + " is " + std::string(runs::PhaseName(run.phase)) + ", not " +
          JoinPhases(t.from) + "; cannot become " + std::string(runs::PhaseName(t.to)));
    }
    if (t.expect_attempt && *t.expect_attempt != run.attempts) {
      return core::FailedPrecondition(
          "run " + id + " is at attempt " + std::to_string(run.attempts) + ", not " +
          std::to_string(*t.expect_attempt) + "; refusing a change from a stale attempt");
    }
    run.phase = t.to;
    run.reason = t.reason;
    run.message = t.message;
    if (t.increment_attempts) {
      // A new attempt: its runner numbers its events from 1 again and no instance owns it yet.
      ++run.attempts;
      run.runner_seq = 0;
    }
    if (t.started_at) run.started_at = TruncateToMillis(*t.started_at);
    if (t.finished_at) run.finished_at = TruncateToMillis(*t.finished_at);
    if (t.executor_handle) run.executor_handle = *t.executor_handle;
    if (t.runner_token_hash) run.runner_token_hash = *t.runner_token_hash;
    if (t.result) run.result = *t.result;
    if (t.error) run.error = *t.error;
    // Clearing comes first, so a transition that both clears and sets keeps the new expiry.
    if (t.clear_approval_expiry) run.approval_expires_at.reset();
    if (t.approval_expires_at) run.approval_expires_at = TruncateToMillis(*t.approval_expires_at);
    if (t.allowance_micros) {
      if (*t.allowance_micros < 0) {
        return core::InvalidArgument("transition of run " + id + " sets a negative allowance (" +
                                     std::to_string(*t.allowance_micros) + " micro-dollars)");
      }
      run.allowance_micros = *t.allowance_micros;
    }
    if (t.budgets) run.budgets = *t.budgets;
    ++run.version;
    {
      AGENTD_ASSIGN_OR_RETURN(
          Statement update,
          db_.Prepare("UPDATE runs SET phase = ?2, reason = ?3, message = ?4, started_at = ?5, "
                      "finished_at = ?6, attempts = ?7, result = ?8, error = ?9, "
                      "executor_handle = ?10, runner_token_hash = ?11, version = ?12, "
                      "approval_expires_at = ?13, allowance_micros = ?14, budgets = ?15, "
                      "runner_seq = ?16, "
                      "runner_instance = CASE WHEN ?17 THEN '' ELSE runner_instance END "
                      "WHERE id = ?1"));
      update.BindText(1, run.id);
      update.BindText(2, runs::PhaseName(run.phase));
      update.BindText(3, run.reason);
      update.BindText(4, run.message);
      update.BindOptionalInt(5, OptionalMs(run.started_at));
      update.BindOptionalInt(6, OptionalMs(run.finished_at));
      update.BindInt(7, run.attempts);
      update.BindText(8, run.result);
      update.BindText(9, run.error);
      update.BindText(10, core::DumpJson(run.executor_handle));
      update.BindText(11, run.runner_token_hash);
      update.BindInt(12, run.version);
      update.BindOptionalInt(13, OptionalMs(run.approval_expires_at));
      update.BindInt(14, run.allowance_micros);
      update.BindText(15, core::DumpJson(Json(run.budgets)));
      update.BindInt(16, run.runner_seq);
      update.BindInt(17, t.increment_attempts ? 1 : 0);
      AGENTD_RETURN_IF_ERROR(update.Run());
    }
    Event event{.run_id = run.id,
                .seq = 0,
                .type = "phase",
                .data = PhaseEventData(run.phase, run.reason, run.message),
                .time = StampTime(t.time)};
    AGENTD_ASSIGN_OR_RETURN(event.seq, NextSeq(run.id, /*new_run=*/false));
    AGENTD_RETURN_IF_ERROR(InsertEvent(event));
    for (const AuditEntryDraft& draft : t.audit) {
      AGENTD_RETURN_IF_ERROR(WriteAudit(draft, "transition of run " + id));
    }
    return TransitionResult{.run = std::move(run), .event = std::move(event)};
  }

  Result<std::vector<Event>> Append(const std::string& run_id,
                                    const std::vector<EventDraft>& drafts) {
    int64_t runner_seq = 0;
    std::string agent;
    std::string labels_json;
    std::string team;
    std::string cost_center;
    int64_t tier = 0;
    std::string caller;
    {
      AGENTD_ASSIGN_OR_RETURN(
          Statement find, db_.Prepare("SELECT runner_seq, agent, labels, team, cost_center, tier, "
                                      "caller FROM runs WHERE id = ?1"));
      find.BindText(1, run_id);
      AGENTD_ASSIGN_OR_RETURN(bool found, find.Step());
      if (!found) return RunNotFound(run_id);
      runner_seq = find.Int(0);
      agent = find.Text(1);
      labels_json = find.Text(2);
      team = find.Text(3);
      cost_center = find.Text(4);
      tier = find.Int(5);
      caller = find.Text(6);
    }
    const int64_t stored_runner_seq = runner_seq;
    runs::Usage added;
    std::vector<Event> written;
    for (size_t i = 0; i < drafts.size(); ++i) {
      const EventDraft& draft = drafts[i];
      if (draft.type.empty()) {
        return core::InvalidArgument("event " + std::to_string(i) + " for run " + run_id +
                                     " has no type");
      }
      if (draft.runner_seq > 0) {
        if (draft.runner_seq <= runner_seq) continue;  // already committed earlier
        runner_seq = draft.runner_seq;
      }
      Event event{.run_id = run_id,
                  .seq = 0,
                  .type = draft.type,
                  .data = draft.data,
                  .time = StampTime(draft.time)};
      AGENTD_ASSIGN_OR_RETURN(event.seq, NextSeq(run_id, /*new_run=*/false));
      AGENTD_RETURN_IF_ERROR(InsertEvent(event));
      if (draft.usage) {
        const runs::Usage& u = draft.usage->usage;
        if (u.input_tokens < 0 || u.cached_input_tokens < 0 || u.output_tokens < 0 ||
            u.cost_micros < 0 || u.model_calls < 0) {
          return core::InvalidArgument("usage in event " + std::to_string(i) + " for run " +
                                       run_id + " is negative");
        }
        AGENTD_ASSIGN_OR_RETURN(
            Statement ledger,
            db_.Prepare("INSERT INTO usage_ledger (run_id, agent, model, input_tokens, "
                        "cached_input_tokens, output_tokens, cost_micros, model_calls, time, "
                        "labels, team, cost_center, tier, caller) VALUES (?1, ?2, ?3, ?4, ?5, "
                        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
        ledger.BindText(1, run_id);
        ledger.BindText(2, agent);
        ledger.BindText(3, draft.usage->model);
        ledger.BindInt(4, u.input_tokens);
        ledger.BindInt(5, u.cached_input_tokens);
        ledger.BindInt(6, u.output_tokens);
        ledger.BindInt(7, u.cost_micros);
        ledger.BindInt(8, u.model_calls);
        ledger.BindInt(9, Ms(event.time));
        ledger.BindText(10, labels_json);
        ledger.BindText(11, team);
        ledger.BindText(12, cost_center);
        ledger.BindInt(13, tier);
        ledger.BindText(14, caller);
        AGENTD_RETURN_IF_ERROR(ledger.Run());
        added += u;
      }
      if (draft.audit) {
        AGENTD_RETURN_IF_ERROR(
            WriteAudit(*draft.audit, "event " + std::to_string(i) + " of run " + run_id));
      }
      written.push_back(std::move(event));
    }
    if (runner_seq != stored_runner_seq || added != runs::Usage{}) {
      AGENTD_ASSIGN_OR_RETURN(
          Statement update,
          db_.Prepare("UPDATE runs SET runner_seq = ?2, input_tokens = input_tokens + ?3, "
                      "cached_input_tokens = cached_input_tokens + ?4, "
                      "output_tokens = output_tokens + ?5, cost_micros = cost_micros + ?6, "
                      "model_calls = model_calls + ?7, version = version + 1 WHERE id = ?1"));
      update.BindText(1, run_id);
      update.BindInt(2, runner_seq);
      update.BindInt(3, added.input_tokens);
      update.BindInt(4, added.cached_input_tokens);
      update.BindInt(5, added.output_tokens);
      update.BindInt(6, added.cost_micros);
      update.BindInt(7, added.model_calls);
      AGENTD_RETURN_IF_ERROR(update.Run());
    }
    return written;
  }

  Result<bool> ClaimRunnerInstance(const std::string& run_id, int attempt,
                                   const std::string& instance) {
    if (instance.empty()) {
      return core::InvalidArgument("runner instance to claim run " + run_id + " with is empty");
    }
    int64_t attempts = 0;
    std::string holder;
    {
      AGENTD_ASSIGN_OR_RETURN(
          Statement find, db_.Prepare("SELECT attempts, runner_instance FROM runs WHERE id = ?1"));
      find.BindText(1, run_id);
      AGENTD_ASSIGN_OR_RETURN(bool found, find.Step());
      if (!found) return RunNotFound(run_id);
      attempts = find.Int(0);
      holder = find.Text(1);
    }
    if (attempts != attempt) {
      return core::FailedPrecondition(
          "run " + run_id + " is at attempt " + std::to_string(attempts) + ", not " +
          std::to_string(attempt) + "; a runner of another attempt cannot claim it");
    }
    if (!holder.empty()) return holder == instance;
    AGENTD_ASSIGN_OR_RETURN(
        Statement claim,
        db_.Prepare("UPDATE runs SET runner_instance = ?2, version = version + 1 WHERE id = ?1"));
    claim.BindText(1, run_id);
    claim.BindText(2, instance);
    AGENTD_RETURN_IF_ERROR(claim.Run());
    return true;
  }

  Result<std::vector<AuditEntry>> AppendAudit(std::vector<AuditEntryDraft> drafts) {
    std::vector<AuditEntry> entries;
    entries.reserve(drafts.size());
    for (size_t i = 0; i < drafts.size(); ++i) {
      AGENTD_ASSIGN_OR_RETURN(AuditEntry entry,
                              WriteAudit(std::move(drafts[i]), "draft " + std::to_string(i)));
      entries.push_back(std::move(entry));
    }
    return entries;
  }

  Result<bool> SaveCheckpoint(const governance::Checkpoint& checkpoint) {
    if (checkpoint.count < 0) {
      return core::InvalidArgument("checkpoint count must not be negative, not " +
                                   std::to_string(checkpoint.count));
    }
    AGENTD_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO audit_checkpoints (count, head_hash, time, key_id, signature) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.BindInt(1, checkpoint.count);
    insert.BindText(2, checkpoint.head_hash);
    insert.BindInt(3, Ms(checkpoint.time));
    insert.BindText(4, checkpoint.key_id);
    insert.BindText(5, checkpoint.signature_b64);
    Status status = insert.Run();
    if (!status.ok()) {
      return std::move(status).error().Wrap("save the audit checkpoint of count " +
                                            std::to_string(checkpoint.count));
    }
    return true;
  }

 private:
  // Chains `draft` to the head and inserts it; the head moves only when the row is written, and
  // UndoOperation moves it back if the operation rolls back later. `what` names the draft's
  // operation in errors.
  Result<AuditEntry> WriteAudit(AuditEntryDraft draft, std::string_view what) {
    if (draft.time == TimePoint{}) draft.time = clock_.Now();
    Result<PreparedAuditDraft> prepared = governance::PrepareDraft(std::move(draft));
    if (!prepared.ok()) return std::move(prepared).error().Wrap(what);
    return WritePrepared(*prepared, what);
  }

  // Chains a draft checked and serialized earlier (governance::PrepareDraft) to the head and
  // inserts it: the writer only hashes one string per entry.
  Result<AuditEntry> WritePrepared(const PreparedAuditDraft& prepared, std::string_view what) {
    if (!audit_undo_) audit_undo_.emplace(audit_head_);
    if (!audit_head_) {
      AGENTD_ASSIGN_OR_RETURN(audit_head_, LoadAuditHead(db_));
    }
    AuditEntry previous;
    previous.index = audit_head_->count;
    previous.hash = audit_head_->head_hash;
    AuditEntry entry =
        governance::ChainPrepared(previous.index == 0 ? nullptr : &previous, prepared);
    AGENTD_ASSIGN_OR_RETURN(Statement insert,
                            db_.Prepare(std::string("INSERT INTO audit_log (") + kAuditColumns +
                                        ") VALUES (" + Placeholders(8) + ")"));
    insert.BindInt(1, entry.index);
    insert.BindInt(2, Ms(entry.time));
    insert.BindText(3, entry.actor);
    insert.BindText(4, entry.action);
    insert.BindText(5, entry.subject);
    insert.BindText(6, prepared.details_json);
    insert.BindText(7, entry.prev_hash);
    insert.BindText(8, entry.hash);
    Status status = insert.Run();
    if (!status.ok()) {
      return std::move(status).error().Wrap(std::string(what) + ": append audit entry " +
                                            std::to_string(entry.index));
    }
    audit_head_ = AuditHead{.count = entry.index, .head_hash = entry.hash};
    return entry;
  }

  TimePoint StampTime(TimePoint t) const {
    return TruncateToMillis(t == TimePoint{} ? clock_.Now() : t);
  }

  // The next sequence number of `run_id`'s log, loaded from the table on first use.
  Result<int64_t> NextSeq(const std::string& run_id, bool new_run) {
    auto it = next_seq_.find(run_id);
    if (it == next_seq_.end()) {
      int64_t last = 0;
      if (!new_run) {
        AGENTD_ASSIGN_OR_RETURN(
            Statement max,
            db_.Prepare("SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1"));
        max.BindText(1, run_id);
        AGENTD_ASSIGN_OR_RETURN(bool row, max.Step());
        if (row) last = max.Int(0);
      }
      undo_.emplace_back(run_id, std::nullopt);
      it = next_seq_.emplace(run_id, last).first;
    } else {
      undo_.emplace_back(run_id, it->second);
    }
    return ++it->second;
  }

  Status InsertEvent(const Event& event) {
    AGENTD_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare(
            "INSERT INTO events (run_id, seq, type, data, time) VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.BindText(1, event.run_id);
    insert.BindInt(2, event.seq);
    insert.BindText(3, event.type);
    insert.BindText(4, core::DumpJson(event.data));
    insert.BindInt(5, Ms(event.time));
    Status status = insert.Run();
    if (!status.ok()) {
      return std::move(status).error().Wrap("append event " + std::to_string(event.seq) +
                                            " of run " + event.run_id);
    }
    return core::Ok();
  }

  Connection& db_;
  const core::Clock& clock_;
  // run id -> last sequence number used.
  std::unordered_map<std::string, int64_t> next_seq_;
  std::vector<std::pair<std::string, std::optional<int64_t>>> undo_;
  // The last audit entry written (committed or in this transaction); nullopt: reload it.
  std::optional<AuditHead> audit_head_;
  // The head before the current operation's first audit entry; set once it wrote one.
  std::optional<std::optional<AuditHead>> audit_undo_;
};

// One queued write. Apply runs on the writer thread inside the batch transaction; exactly one of
// Succeed or Fail runs afterwards, outside every lock.
class WriteOp {
 public:
  virtual ~WriteOp() = default;
  virtual Status Apply(WriterContext& writer) = 0;
  virtual void Succeed() = 0;
  virtual void Fail(Error error) = 0;
};

template <typename T>
class TypedWriteOp final : public WriteOp {
 public:
  TypedWriteOp(std::function<Result<T>(WriterContext&)> apply, std::function<void(Result<T>)> done)
      : apply_(std::move(apply)), done_(std::move(done)) {}

  Status Apply(WriterContext& writer) override {
    Result<T> result = apply_(writer);
    if (!result.ok()) return std::move(result).error();
    value_.emplace(std::move(result).value());
    return core::Ok();
  }
  void Succeed() override { done_(std::move(*value_)); }
  void Fail(Error error) override { done_(std::move(error)); }

 private:
  std::function<Result<T>(WriterContext&)> apply_;
  std::function<void(Result<T>)> done_;
  std::optional<T> value_;
};

// Connections for reads, handed out one caller at a time.
class ConnectionPool {
 public:
  class Lease {
   public:
    Lease(ConnectionPool* pool, Connection* conn) : pool_(pool), conn_(conn) {}
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::exchange(other.conn_, nullptr)) {}
    Lease(const Lease&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Release(conn_);
    }
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_; }

   private:
    ConnectionPool* pool_;
    Connection* conn_;
  };

  void Add(Connection* conn) {
    std::lock_guard lock(mu_);
    free_.push_back(conn);
  }
  Lease Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !free_.empty(); });
    Connection* conn = free_.back();
    free_.pop_back();
    return Lease(this, conn);
  }

 private:
  void Release(Connection* conn) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(conn);
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Connection*> free_;
};

}  // namespace

class SqliteRunStore::Impl {
 public:
  Impl(SqliteRunStoreOptions options, std::unique_ptr<Connection> writer_db,
       std::vector<std::unique_ptr<Connection>> reader_dbs, AuditHead audit_head)
      : options_(options),
        clock_(options.clock != nullptr ? *options.clock : core::SystemClock::Instance()),
        shared_connection_(reader_dbs.empty()),
        writer_db_(std::move(writer_db)),
        reader_dbs_(std::move(reader_dbs)),
        writer_(*writer_db_, clock_, std::move(audit_head)) {
    if (shared_connection_) {
      readers_.Add(writer_db_.get());
    } else {
      for (auto& db : reader_dbs_) readers_.Add(db.get());
    }
    thread_ = std::thread([this] { WriterLoop(); });
  }

  core::TimePoint Now() const { return clock_.Now(); }

  ~Impl() {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    thread_.join();
  }

  void Enqueue(std::unique_ptr<WriteOp> op) {
    bool wake = false;
    std::unique_ptr<WriteOp> refused;
    {
      std::lock_guard lock(queue_mu_);
      if (stopping_) {
        refused = std::move(op);
      } else {
        wake = writer_idle_;
        queue_.push_back(std::move(op));
      }
    }
    if (refused != nullptr) {
      refused->Fail(core::Unavailable("the run store is shutting down"));
      return;
    }
    if (wake) queue_cv_.notify_one();
  }

  // Enqueues an operation and waits for its outcome.
  template <typename T>
  Result<T> SubmitAndWait(std::string_view method, std::function<Result<T>(WriterContext&)> apply) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      return core::Internal(std::string(method) +
                            " was called on the run store's writer thread (from a "
                            "CreateRunAsync callback); it would wait for itself forever");
    }
    auto promise = std::make_shared<std::promise<Result<T>>>();
    std::future<Result<T>> future = promise->get_future();
    Enqueue(std::make_unique<TypedWriteOp<T>>(
        std::move(apply), [promise](Result<T> result) { promise->set_value(std::move(result)); }));
    return future.get();
  }

  ConnectionPool::Lease AcquireReader() { return readers_.Acquire(); }

  SqliteWriterStats Stats() const {
    return {.batches = batches_.load(),
            .operations = operations_.load(),
            .largest_batch = largest_batch_.load()};
  }

 private:
  void WriterLoop() {
    std::vector<std::unique_ptr<WriteOp>> batch;
    while (true) {
      batch.clear();
      {
        std::unique_lock lock(queue_mu_);
        writer_idle_ = true;
        queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        writer_idle_ = false;
        if (queue_.empty()) return;  // stopping, and everything queued is done
        size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      ExecuteBatch(batch);
    }
  }

  // One transaction for the whole batch, one savepoint per operation; answers after COMMIT.
  void ExecuteBatch(std::vector<std::unique_ptr<WriteOp>>& batch) {
    batches_.fetch_add(1);
    operations_.fetch_add(static_cast<int64_t>(batch.size()));
    int64_t size = static_cast<int64_t>(batch.size());
    int64_t largest = largest_batch_.load();
    while (size > largest && !largest_batch_.compare_exchange_weak(largest, size)) {
    }

    std::vector<std::optional<Error>> errors(batch.size());
    std::optional<Error> batch_error;
    {
      // With ":memory:" the readers share this connection: keep them out during the batch.
      std::optional<ConnectionPool::Lease> shared;
      if (shared_connection_) shared.emplace(readers_.Acquire());
      writer_.TrimCache();
      batch_error = RunTransaction(batch, errors);
      if (batch_error) {
        if (writer_db_->InTransaction()) (void)Exec("ROLLBACK");
        writer_.ForgetCache();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (errors[i]) {
        batch[i]->Fail(std::move(*errors[i]));
      } else if (batch_error) {
        batch[i]->Fail(*batch_error);
      } else {
        batch[i]->Succeed();
      }
    }
  }

  // Returns an error when the whole transaction is lost; per-operation errors go to `errors`.
  std::optional<Error> RunTransaction(std::vector<std::unique_ptr<WriteOp>>& batch,
                                      std::vector<std::optional<Error>>& errors) {
    if (Status begun = Exec("BEGIN IMMEDIATE"); !begun.ok()) {
      return std::move(begun).error().Wrap("begin a write transaction");
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (Status saved = Exec("SAVEPOINT op"); !saved.ok()) return std::move(saved).error();
      writer_.BeginOperation();
      Status applied = batch[i]->Apply(writer_);
      if (applied.ok()) {
        if (Status released = Exec("RELEASE op"); !released.ok()) {
          return std::move(released).error();
        }
        continue;
      }
      writer_.UndoOperation();
      errors[i] = std::move(applied).error();
      if (!writer_db_->InTransaction()) {
        // Some errors (disk full, I/O) make SQLite roll back the whole transaction.
        return core::Unavailable("the write transaction was rolled back: " + errors[i]->message);
      }
      if (Status rolled = Exec("ROLLBACK TO op"); !rolled.ok()) return std::move(rolled).error();
      if (Status released = Exec("RELEASE op"); !released.ok()) return std::move(released).error();
    }
    if (Status committed = Exec("COMMIT"); !committed.ok()) {
      return std::move(committed).error().Wrap("commit");
    }
    return std::nullopt;
  }

  // Control statements through the statement cache: parsed once, not once per operation.
  Status Exec(std::string_view sql) {
    AGENTD_ASSIGN_OR_RETURN(Statement stmt, writer_db_->Prepare(sql));
    return stmt.Run();
  }

  const SqliteRunStoreOptions options_;
  const core::Clock& clock_;
  const bool shared_connection_;
  std::unique_ptr<Connection> writer_db_;
  std::vector<std::unique_ptr<Connection>> reader_dbs_;
  ConnectionPool readers_;
  WriterContext writer_;  // used only by the writer thread

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<WriteOp>> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;

  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> operations_{0};
  std::atomic<int64_t> largest_batch_{0};

  std::thread thread_;
};

core::Result<std::unique_ptr<SqliteRunStore>> SqliteRunStore::Open(const std::string& path,
                                                                   SqliteRunStoreOptions options) {
  if (options.max_batch < 1) {
    return core::InvalidArgument("max_batch must be at least 1, not " +
                                 std::to_string(options.max_batch));
  }
  if (options.reader_pool_size < 1) {
    return core::InvalidArgument("reader_pool_size must be at least 1, not " +
                                 std::to_string(options.reader_pool_size));
  }
  if (options.busy_timeout.count() < 0) {
    return core::InvalidArgument("busy_timeout must not be negative");
  }
  const bool memory = path == ":memory:";
  std::string where = "SQLite database \"" + path + "\"";
  AGENTD_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> writer,
      Connection::Open(path, sqlite::OpenMode::kReadWrite, options.busy_timeout));
  if (!memory) {
    AGENTD_ASSIGN_OR_RETURN(std::string mode, writer->QueryText("PRAGMA journal_mode = WAL"));
    if (mode != "wal") {
      return core::Unavailable("cannot put " + where + " in WAL mode (journal_mode is " + mode +
                               ")");
    }
  }
  std::string pragmas = "PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 67108864; ";
  pragmas += options.synchronous == SqliteSynchronous::kFull ? "PRAGMA synchronous = FULL;"
                                                             : "PRAGMA synchronous = NORMAL;";
  if (Status set = writer->Exec(pragmas); !set.ok()) return std::move(set).error().Wrap(where);
  if (Status migrated = sqlite::Migrate(*writer); !migrated.ok()) {
    return std::move(migrated).error().Wrap(where);
  }
  // The chain head the writer continues from.
  Result<AuditHead> audit_head = LoadAuditHead(*writer);
  if (!audit_head.ok()) {
    return std::move(audit_head).error().Wrap("read the audit chain's head from " + where);
  }
  std::vector<std::unique_ptr<Connection>> readers;
  if (!memory) {
    for (int i = 0; i < options.reader_pool_size; ++i) {
      AGENTD_ASSIGN_OR_RETURN(
          std::unique_ptr<Connection> reader,
          Connection::Open(path, sqlite::OpenMode::kReadWrite, options.busy_timeout));
      if (Status set = reader->Exec("PRAGMA query_only = ON"); !set.ok()) {
        return std::move(set).error().Wrap(where);
      }
      readers.push_back(std::move(reader));
    }
  }
  return std::unique_ptr<SqliteRunStore>(new SqliteRunStore(std::make_unique<Impl>(
      options, std::move(writer), std::move(readers), std::move(audit_head).value())));
}

SqliteRunStore::SqliteRunStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteRunStore::~SqliteRunStore() = default;

void SqliteRunStore::CreateRunAsync(runs::Run run, std::vector<AuditEntryDraft> audit,
                                    std::function<void(core::Result<CreateRunResult>)> done) {
  // Checked and serialized here, on the caller's thread: the single writer only chains them.
  std::vector<Result<PreparedAuditDraft>> prepared;
  prepared.reserve(audit.size());
  for (AuditEntryDraft& draft : audit) {
    if (draft.time == TimePoint{}) draft.time = impl_->Now();
    prepared.push_back(governance::PrepareDraft(std::move(draft)));
  }
  impl_->Enqueue(std::make_unique<TypedWriteOp<CreateRunResult>>(
      [run = std::move(run), prepared = std::move(prepared)](WriterContext& writer) mutable {
        return writer.Create(std::move(run), std::move(prepared));
      },
      std::move(done)));
}

core::Result<TransitionResult> SqliteRunStore::TransitionRun(std::string_view id,
                                                             const Transition& transition) {
  return impl_->SubmitAndWait<TransitionResult>(
      "TransitionRun", [id = std::string(id), &transition](WriterContext& writer) {
        return writer.ApplyTransition(id, transition);
      });
}

core::Result<std::vector<runs::Event>> SqliteRunStore::AppendEvents(
    std::string_view run_id, std::vector<EventDraft> events) {
  return impl_->SubmitAndWait<std::vector<runs::Event>>(
      "AppendEvents", [id = std::string(run_id), &events](WriterContext& writer) {
        return writer.Append(id, events);
      });
}

core::Result<bool> SqliteRunStore::ClaimRunnerInstance(std::string_view run_id, int attempt,
                                                       std::string_view instance) {
  return impl_->SubmitAndWait<bool>(
      "ClaimRunnerInstance",
      [id = std::string(run_id), attempt, instance = std::string(instance)](WriterContext& writer) {
        return writer.ClaimRunnerInstance(id, attempt, instance);
      });
}

core::Result<std::vector<AuditEntry>> SqliteRunStore::AppendAudit(
    std::vector<AuditEntryDraft> drafts) {
  if (drafts.empty()) return std::vector<AuditEntry>{};
  return impl_->SubmitAndWait<std::vector<AuditEntry>>(
      "AppendAudit",
      // Apply runs exactly once, so the drafts can be moved out.
      [&drafts](WriterContext& writer) { return writer.AppendAudit(std::move(drafts)); });
}

core::Status SqliteRunStore::SaveCheckpoint(const governance::Checkpoint& checkpoint) {
  Result<bool> saved = impl_->SubmitAndWait<bool>(
      "SaveCheckpoint",
      [&checkpoint](WriterContext& writer) { return writer.SaveCheckpoint(checkpoint); });
  if (!saved.ok()) return std::move(saved).error();
  return core::Ok();
}

core::Result<runs::Run> SqliteRunStore::GetRun(std::string_view id) {
  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(std::optional<Run> run, LoadRun(*db, id));
  if (!run) return RunNotFound(id);
  return std::move(*run);
}

namespace {

// SQL of each usage dimension over usage_ledger; days and months are UTC.
struct UsageDimensionSql {
  std::string_view name;
  const char* sql;
};
constexpr UsageDimensionSql kUsageDimensionSql[] = {
    {"agent", "agent"},
    {"model", "model"},
    {"team", "team"},
    {"costCenter", "cost_center"},
    {"tier", "tier"},
    {"caller", "caller"},
    {"day", "strftime('%Y-%m-%d', time / 1000, 'unixepoch')"},
    {"month", "strftime('%Y-%m', time / 1000, 'unixepoch')"},
};
static_assert(std::size(kUsageDimensionSql) == std::size(kUsageDimensions));

const char* UsageDimensionColumn(std::string_view name) {
  for (const UsageDimensionSql& dimension : kUsageDimensionSql) {
    if (dimension.name == name) return dimension.sql;
  }
  return nullptr;
}

// Binds positional arguments collected while building a query.
using SqlArg = std::variant<int64_t, std::string>;
void BindArgs(Statement& stmt, const std::vector<SqlArg>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    if (const auto* n = std::get_if<int64_t>(&args[i])) {
      stmt.BindInt(index, *n);
    } else {
      stmt.BindText(index, std::get<std::string>(args[i]));
    }
  }
}

// Appends " AND <column> = ?n" and its argument.
void AddEquals(std::string& where, std::vector<SqlArg>& args, std::string_view column,
               SqlArg value) {
  args.push_back(std::move(value));
  where += " AND " + std::string(column) + " = ?" + std::to_string(args.size());
}

}  // namespace

core::Result<RunPage> SqliteRunStore::ListRuns(const RunFilter& filter, int limit,
                                               std::string_view cursor) {
  if (limit < 1 || limit > kMaxListLimit) {
    return core::InvalidArgument("limit must be between 1 and " + std::to_string(kMaxListLimit) +
                                 ", not " + std::to_string(limit));
  }
  std::optional<std::pair<int64_t, std::string>> after;
  if (!cursor.empty()) {
    AGENTD_ASSIGN_OR_RETURN(after, DecodeCursor(cursor));
  }
  // The SQL depends only on which filters are present, so the statement cache stays small.
  std::string where = "WHERE 1 = 1";
  std::vector<SqlArg> args;
  if (filter.agent) {
    args.emplace_back(*filter.agent);
    where += " AND agent = ?" + std::to_string(args.size());
  }
  if (filter.phase) {
    args.emplace_back(std::string(runs::PhaseName(*filter.phase)));
    where += " AND phase = ?" + std::to_string(args.size());
  }
  for (const auto& [key, value] : filter.labels) {
    args.emplace_back(key);
    args.emplace_back(value);
    where += " AND EXISTS (SELECT 1 FROM run_labels l WHERE l.run_id = runs.id AND l.key = ?" +
             std::to_string(args.size() - 1) + " AND l.value = ?" + std::to_string(args.size()) +
             ")";
  }
  if (after) {
    args.emplace_back(after->first);
    args.emplace_back(after->second);
    where += " AND (created_at, id) < (?" + std::to_string(args.size() - 1) + ", ?" +
             std::to_string(args.size()) + ")";
  }
  args.emplace_back(static_cast<int64_t>(limit) + 1);
  where += " ORDER BY created_at DESC, id DESC LIMIT ?" + std::to_string(args.size());

  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt, db->Prepare(SelectRunSql(where)));
  BindArgs(stmt, args);
  RunPage page;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(page.runs.size()) == limit) {
      page.next_cursor = EncodeCursor(page.runs.back());
      break;
    }
    AGENTD_ASSIGN_OR_RETURN(Run run, ReadRunRow(stmt));
    page.runs.push_back(std::move(run));
  }
  return page;
}

core::Result<std::vector<runs::Run>> SqliteRunStore::ListRunsInPhases(
    const std::vector<runs::Phase>& phases) {
  std::vector<Run> out;
  if (phases.empty()) return out;
  std::string where = "WHERE phase IN (";
  for (size_t i = 0; i < phases.size(); ++i) {
    where += (i > 0 ? ", ?" : "?") + std::to_string(i + 1);
  }
  where += ") ORDER BY created_at, id";
  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt, db->Prepare(SelectRunSql(where)));
  for (size_t i = 0; i < phases.size(); ++i) {
    stmt.BindText(static_cast<int>(i) + 1, runs::PhaseName(phases[i]));
  }
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AGENTD_ASSIGN_OR_RETURN(Run run, ReadRunRow(stmt));
    out.push_back(std::move(run));
  }
  return out;
}

core::Result<std::vector<runs::Event>> SqliteRunStore::ListEvents(std::string_view run_id,
                                                                  int64_t after_seq, int limit) {
  if (limit < 1) {
    return core::InvalidArgument("limit must be at least 1, not " + std::to_string(limit));
  }
  auto db = impl_->AcquireReader();
  std::vector<Event> events;
  {
    AGENTD_ASSIGN_OR_RETURN(
        Statement stmt, db->Prepare("SELECT seq, type, data, time FROM events WHERE run_id = ?1 "
                                    "AND seq > ?2 ORDER BY seq LIMIT ?3"));
    stmt.BindText(1, run_id);
    stmt.BindInt(2, after_seq);
    stmt.BindInt(3, limit);
    while (true) {
      AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      Event event;
      event.run_id = std::string(run_id);
      event.seq = stmt.Int(0);
      event.type = stmt.Text(1);
      AGENTD_ASSIGN_OR_RETURN(
          event.data,
          ParseColumnJson(stmt.Text(2), "column data of event " + std::to_string(event.seq) +
                                            " of run " + std::string(run_id)));
      event.time = core::FromUnixMillis(stmt.Int(3));
      events.push_back(std::move(event));
    }
  }
  if (events.empty()) {
    // Tell an unknown run from a run with nothing new.
    AGENTD_ASSIGN_OR_RETURN(Statement exists, db->Prepare("SELECT 1 FROM runs WHERE id = ?1"));
    exists.BindText(1, run_id);
    AGENTD_ASSIGN_OR_RETURN(bool found, exists.Step());
    if (!found) return RunNotFound(run_id);
  }
  return events;
}

core::Result<std::vector<UsageRow>> SqliteRunStore::QueryUsage(const UsageQuery& query) {
  if (query.from > query.to) {
    return core::InvalidArgument("usage query: from (" + core::FormatRfc3339(query.from) +
                                 ") is after to (" + core::FormatRfc3339(query.to) + ")");
  }
  std::string select = "SELECT ";
  std::string group;
  for (size_t i = 0; i < query.group_by.size(); ++i) {
    const std::string& name = query.group_by[i];
    const char* column = UsageDimensionColumn(name);
    if (column == nullptr) {
      std::string known;
      for (std::string_view dimension : kUsageDimensions) {
        known += (known.empty() ? "" : ", ") + std::string(dimension);
      }
      return core::InvalidArgument("usage query: unknown group-by dimension \"" +
                                   name.substr(0, 60) + "\" (one of " + known + ")");
    }
    if (std::find(query.group_by.begin(), query.group_by.begin() + static_cast<ptrdiff_t>(i),
                  name) != query.group_by.begin() + static_cast<ptrdiff_t>(i)) {
      return core::InvalidArgument("usage query: group-by dimension \"" + name +
                                   "\" is given twice");
    }
    select += std::string(column) + ", ";
    group += (i > 0 ? ", " : "") + std::to_string(i + 1);
  }
  select +=
      "COUNT(DISTINCT run_id), COALESCE(SUM(input_tokens), 0), "
      "COALESCE(SUM(cached_input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
      "COALESCE(SUM(cost_micros), 0), COALESCE(SUM(model_calls), 0) FROM usage_ledger";
  std::vector<SqlArg> args = {Ms(query.from), Ms(query.to)};
  std::string where = " WHERE time >= ?1 AND time < ?2";
  if (query.agent) AddEquals(where, args, "agent", *query.agent);
  if (query.team) AddEquals(where, args, "team", *query.team);
  if (query.cost_center) AddEquals(where, args, "cost_center", *query.cost_center);
  if (query.tier) AddEquals(where, args, "tier", int64_t{*query.tier});
  if (query.model) AddEquals(where, args, "model", *query.model);
  if (query.caller) AddEquals(where, args, "caller", *query.caller);
  std::string sql = select + where;
  if (!group.empty()) sql += " GROUP BY " + group + " ORDER BY " + group;

  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt, db->Prepare(sql));
  BindArgs(stmt, args);
  std::vector<UsageRow> rows;
  const int n = static_cast<int>(query.group_by.size());
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    UsageRow row;
    for (int i = 0; i < n; ++i) row.group.emplace(query.group_by[i], stmt.Text(i));
    row.runs = stmt.Int(n);
    row.usage.input_tokens = stmt.Int(n + 1);
    row.usage.cached_input_tokens = stmt.Int(n + 2);
    row.usage.output_tokens = stmt.Int(n + 3);
    row.usage.cost_micros = stmt.Int(n + 4);
    row.usage.model_calls = stmt.Int(n + 5);
    rows.push_back(std::move(row));
  }
  return rows;
}

core::Result<AuditPage> SqliteRunStore::ListAudit(const AuditFilter& filter, int limit,
                                                  std::string_view cursor) {
  if (limit < 1 || limit > kMaxListLimit) {
    return core::InvalidArgument("limit must be between 1 and " + std::to_string(kMaxListLimit) +
                                 ", not " + std::to_string(limit));
  }
  std::vector<SqlArg> args;
  std::string where = "WHERE 1 = 1";
  if (!cursor.empty()) {
    AGENTD_ASSIGN_OR_RETURN(int64_t after, DecodeAuditCursor(cursor));
    args.emplace_back(after);
    where += " AND idx > ?" + std::to_string(args.size());
  }
  if (filter.actor) AddEquals(where, args, "actor", *filter.actor);
  if (filter.action) {
    const std::string& action = *filter.action;
    if (!action.empty() && action.back() == '.') {
      // A prefix: the range [prefix, prefix with its '.' replaced by the next byte, '/').
      args.emplace_back(action);
      args.emplace_back(action.substr(0, action.size() - 1) + "/");
      where += " AND action >= ?" + std::to_string(args.size() - 1) + " AND action < ?" +
               std::to_string(args.size());
    } else {
      AddEquals(where, args, "action", action);
    }
  }
  if (filter.subject) AddEquals(where, args, "subject", *filter.subject);
  if (filter.from) {
    args.emplace_back(Ms(*filter.from));
    where += " AND time >= ?" + std::to_string(args.size());
  }
  if (filter.to) {
    args.emplace_back(Ms(*filter.to));
    where += " AND time < ?" + std::to_string(args.size());
  }
  args.emplace_back(static_cast<int64_t>(limit) + 1);
  where += " ORDER BY idx LIMIT ?" + std::to_string(args.size());

  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt, db->Prepare(SelectAuditSql(where)));
  BindArgs(stmt, args);
  AuditPage page;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(page.entries.size()) == limit) {
      page.next_cursor = std::to_string(page.entries.back().index);
      break;
    }
    page.entries.push_back(ReadAuditRow(stmt));
  }
  return page;
}

core::Result<std::vector<AuditEntry>> SqliteRunStore::ReadAudit(int64_t after_index, int limit) {
  if (limit < 1 || limit > kMaxReadAuditLimit) {
    return core::InvalidArgument("limit must be between 1 and " +
                                 std::to_string(kMaxReadAuditLimit) + ", not " +
                                 std::to_string(limit));
  }
  if (after_index < 0) {
    return core::InvalidArgument("after_index must not be negative, not " +
                                 std::to_string(after_index));
  }
  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt,
                          db->Prepare(SelectAuditSql("WHERE idx > ?1 ORDER BY idx LIMIT ?2")));
  stmt.BindInt(1, after_index);
  stmt.BindInt(2, limit);
  std::vector<AuditEntry> entries;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    entries.push_back(ReadAuditRow(stmt));
  }
  return entries;
}

core::Result<AuditHead> SqliteRunStore::GetAuditHead() {
  auto db = impl_->AcquireReader();
  return LoadAuditHead(*db);
}

core::Result<std::vector<governance::Checkpoint>> SqliteRunStore::ListCheckpoints() {
  auto db = impl_->AcquireReader();
  AGENTD_ASSIGN_OR_RETURN(Statement stmt,
                          db->Prepare("SELECT count, head_hash, time, key_id, signature FROM "
                                      "audit_checkpoints ORDER BY count, id"));
  std::vector<governance::Checkpoint> checkpoints;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    checkpoints.push_back({.count = stmt.Int(0),
                           .head_hash = stmt.Text(1),
                           .time = core::FromUnixMillis(stmt.Int(2)),
                           .key_id = stmt.Text(3),
                           .signature_b64 = stmt.Text(4)});
  }
  return checkpoints;
}

SqliteWriterStats SqliteRunStore::WriterStats() const { return impl_->Stats(); }

}  // namespace agentd::store
