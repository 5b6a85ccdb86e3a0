#include "cli/cli.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include <CLI/CLI.hpp>

#include "cli/api_client.h"
#include "cli/follow.h"
#include "cli/output.h"
#include "core/env.h"
#include "core/json.h"
#include "core/time.h"
#include "governance/audit_chain.h"
#include "governance/checkpoint.h"
#include "runs/run.h"

// `agentctl validate` lives in validate.{h,cc} (its own helper); the command is compiled in once
// the header exists.
#if __has_include("cli/validate.h")
#include "cli/validate.h"
#define AGENTD_CLI_HAS_VALIDATE 1
#else
#define AGENTD_CLI_HAS_VALIDATE 0
#endif

#ifndef AGENTD_VERSION
#define AGENTD_VERSION "0.0.0-dev"
#endif

namespace agentd::cli {

namespace {

using core::Json;

constexpr char kDefaultServer[] = "http://127.0.0.1:8080";
constexpr int kUsageExitCode = 2;
constexpr int kRejectedExitCode = 5;     // ExitCodeForPhase(kRejected)
constexpr int kChainBrokenExitCode = 1;  // `audit verify` found a problem
constexpr int kMaxListPages = 10'000;
constexpr int kDefaultAuditLimit = 100;
constexpr int kMaxAuditPage = 500;
constexpr size_t kMaxReasonBytes = 1024;

constexpr char kFooter[] = R"(Global flags, before or after the command: --server URL, --token KEY,
-o table|json|yaml.

Environment:
  AGENTD_URL     server URL, when --server is not given (default http://127.0.0.1:8080)
  AGENTD_TOKEN   API key, when --token is not given

Exit codes:
  0  success; the run Succeeded        6  not found
  1  the run Failed                    7  conflict (exists already, wrong state)
  2  usage error                       8  unauthenticated or forbidden
  3  the run TimedOut                  9  resource exhausted (quota, budget, size)
  4  the run was Cancelled            10  deadline exceeded
  5  the run was Rejected             11  server unavailable
                                      12  internal error
Codes 1, 3, 4 and 5 come from `run --wait|--follow` and `runs logs -f`; `run` also exits 5 when
admission rejects the submission (budget_exceeded, policy_violation). `audit verify` exits 1
when the audit chain is broken.)";

constexpr char kRunHelp[] =
    R"(Submits a run of AGENT with INPUT (the words joined by spaces; "-" reads stdin).
Without --wait or --follow it prints the run id (or the run with -o json|yaml) and exits.
--wait waits for the end without output, then prints the result (-o json|yaml: the run).
--follow streams the run live: model text, tool calls (→) and results (←), phase changes,
and a usage line at the end; with -o json each event is one JSON line.
Both exit with the run's outcome: 0 Succeeded, 1 Failed, 3 TimedOut, 4 Cancelled, 5 Rejected.
A submission that admission refuses (a budget it does not fit, an agent that breaks its tier's
policy) prints the server's reason and exits 5 too. A run that needs approval waits in
AwaitingApproval until `agentctl runs approve|reject ID`.)";

constexpr char kDecideHelp[] =
    R"(Decides on a run waiting in AwaitingApproval: approve admits it (it is queued and
reserves its budget), reject ends it Rejected. --reason (at most 1 KiB) is kept in the audit log.
The approver is the caller of --token; approving one's own run is refused (exit 8) unless the
server allows it. A run not awaiting approval is a conflict (exit 7). Prints the new phase; with
-o json|yaml the run.)";

constexpr char kUsageHelp[] =
    R"(Reports model usage and cost from the usage ledger (GET /api/v1/usage), from --from
(default: the start of the current UTC month) to --to (default: now). --from/--to take RFC 3339
times (2026-11-01T00:00:00Z) or dates (2026-11-01, midnight UTC). --group-by names the
columns to group by, comma separated: agent, team, costCenter, tier, model, caller, day, month.
The table has the group columns, then RUNS CALLS INPUT OUTPUT COST and a TOTAL row; -o json|yaml
prints the server's report.)";

constexpr char kBudgetsHelp[] =
    R"(Lists the Budget objects with their current window: NAME SCOPE PERIOD SPENT RESERVED
LIMIT STATE. SPENT is settled cost, RESERVED the allowance held by open runs; STATE is ok,
nearLimit (at or above the soft threshold) or exceeded. -o json|yaml adds the window, time zone,
available amount and action.)";

constexpr char kAuditListHelp[] =
    R"(Lists audit log entries (GET /api/v1/audit) as the server orders them, following
pages until --limit entries (default 100). Filters: --actor (a caller identity, "scheduler",
"system", "runner"), --action (e.g. run.approved), --subject (a run id or object name), --from
and --to (RFC 3339 or a date).)";

constexpr char kAuditExportHelp[] =
    R"(Downloads the whole audit log as JSON lines (GET /api/v1/audit/export), unchanged: a
header with the server's public key, every entry in order, then the signed checkpoints. Written
to --out FILE (replaced only once the download is complete) or to stdout. Keep an export, or
just a checkpoint, somewhere the server cannot write: `audit verify --checkpoint` compares the
log against it later.)";

constexpr char kAuditVerifyHelp[] =
    R"(Checks the audit chain and reports the first entry that was altered, removed, reordered
or cut off: "audit chain intact: N entries, head HASH" (exit 0) or "audit chain broken at entry
K: PROBLEM" (exit 1).

Without flags the server verifies its own chain and latest checkpoint (GET /api/v1/audit/verify).
With --checkpoint FILE agentctl verifies locally: it downloads the export (or reads --file
EXPORT, offline) and checks the chain against that signed checkpoint, which also catches a cut
off tail or a chain rewritten up to the checkpoint. FILE is one checkpoint JSON object or an
export whose last checkpoint is used. With --file and no --checkpoint it verifies the export's
chain and every checkpoint in it.
Signatures are checked with --public-key FILE (PEM); without it the public key in the export is
used, with a warning: that key came from the server, so it proves less than one kept apart.)";

// The parsed command line: global flags and every subcommand's flags.
struct Flags {
  std::string server;
  std::string token;
  std::string output = "table";

  // run
  std::string agent;
  std::vector<std::string> input_words;
  bool follow = false;
  bool wait = false;
  int priority = 0;
  std::string deadline;
  std::vector<std::string> labels;
  std::vector<std::string> params;
  std::string idempotency_key;

  // runs list
  std::string list_agent;
  std::string list_phase;
  std::vector<std::string> list_labels;
  int limit = 0;
  std::string cursor;
  bool all = false;

  // runs get|logs|cancel|approve|reject
  std::string run_id;
  bool logs_follow = false;
  std::string reason;

  // usage
  std::string usage_from;
  std::string usage_to;
  std::vector<std::string> usage_group_by;
  std::string usage_agent;
  std::string usage_team;
  std::string usage_cost_center;
  int usage_tier = 0;
  std::string usage_model;
  std::string usage_caller;

  // audit list|export|verify
  std::string audit_actor;
  std::string audit_action;
  std::string audit_subject;
  std::string audit_from;
  std::string audit_to;
  int audit_limit = kDefaultAuditLimit;
  std::string export_out;
  std::string checkpoint_file;
  std::string public_key_file;
  std::string export_file;

  // validate
  std::string validate_dir;
};

// Everything a command needs once the arguments are parsed.
struct Context {
  ApiClient& client;
  OutputFormat format;
  std::ostream& out;
  std::ostream& err;
  std::istream& in;
  const core::Clock& clock;
  FollowOptions follow_options;
};

int Fail(std::ostream& err, const core::Error& error) {
  err << "error: " << error.message << '\n';
  return core::ExitCodeFor(error.code);
}

std::string Str(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

core::Result<std::pair<std::string, std::string>> SplitKeyValue(const std::string& text,
                                                                std::string_view flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return core::InvalidArgument(std::string(flag) + " \"" + text.substr(0, 80) +
                                 "\" is not key=value");
  }
  return std::pair{text.substr(0, eq), text.substr(eq + 1)};
}

// A --param value is JSON when it parses as JSON (3, true, {"a":1}, "quoted"), else a string.
Json ParamValue(const std::string& text) {
  auto parsed = core::ParseJson(text);
  return parsed.ok() ? std::move(parsed).value() : Json(text);
}

core::Result<SubmitRunRequest> BuildSubmit(const Flags& flags, std::istream& in) {
  SubmitRunRequest request;
  request.agent = flags.agent;
  if (flags.input_words.size() == 1 && flags.input_words[0] == "-") {
    request.input.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    for (size_t i = 0; i < flags.input_words.size(); ++i) {
      if (i > 0) request.input += ' ';
      request.input += flags.input_words[i];
    }
  }
  if (request.input.empty()) return core::InvalidArgument("the run input is empty");
  request.priority = flags.priority;
  if (!flags.deadline.empty()) {
    AGENTD_ASSIGN_OR_RETURN(auto deadline, core::ParseDuration(flags.deadline, "--deadline"));
    if (deadline < std::chrono::seconds(1)) {
      return core::InvalidArgument("--deadline \"" + flags.deadline + "\" is under one second");
    }
    // Whole seconds on the wire; round up so a deadline is never shortened.
    request.deadline = std::chrono::ceil<std::chrono::seconds>(deadline);
  }
  for (const auto& label : flags.labels) {
    AGENTD_ASSIGN_OR_RETURN(auto kv, SplitKeyValue(label, "--label"));
    request.labels[kv.first] = kv.second;
  }
  for (const auto& param : flags.params) {
    AGENTD_ASSIGN_OR_RETURN(auto kv, SplitKeyValue(param, "--param"));
    request.parameters[kv.first] = ParamValue(kv.second);
  }
  request.idempotency_key = flags.idempotency_key;
  return request;
}

RenderMode StreamMode(OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson:
      return RenderMode::kJsonLines;
    case OutputFormat::kYaml:
      return RenderMode::kYamlStream;
    case OutputFormat::kTable:
      return RenderMode::kHuman;
  }
  return RenderMode::kHuman;
}

// Follows a run to its end with `mode`; returns the exit code.
int FollowToEnd(Context& ctx, const std::string& run_id, RenderMode mode,
                FollowResult* result_out = nullptr) {
  EventRenderer renderer(ctx.out, ctx.err, mode);
  auto result = FollowRun(ctx.client, run_id, renderer, ctx.follow_options);
  renderer.EndLine();
  if (!result.ok()) return Fail(ctx.err, result.error());
  renderer.Finish(result->run.is_object() ? &result->run : nullptr);
  int code = ExitCodeForPhase(result->phase);
  if (result_out != nullptr) *result_out = std::move(result).value();
  return code;
}

int CmdRun(Context& ctx, const Flags& flags) {
  auto request = BuildSubmit(flags, ctx.in);
  if (!request.ok()) return Fail(ctx.err, request.error());
  auto run = ctx.client.SubmitRun(*request);
  if (!run.ok()) {
    const std::string& code = ctx.client.last_problem_code();
    if (code == "budget_exceeded" || code == "policy_violation") {
      ctx.err << "run rejected (" << code << "): " << run.error().message << '\n';
      return kRejectedExitCode;
    }
    return Fail(ctx.err, run.error());
  }
  std::string run_id = Str(*run, "id");
  if (run_id.empty()) {
    return Fail(ctx.err, core::Internal("the server answered the submission without a run id"));
  }

  if (flags.follow) {
    if (ctx.format == OutputFormat::kTable) ctx.err << "run " << run_id << '\n';
    return FollowToEnd(ctx, run_id, StreamMode(ctx.format));
  }
  if (flags.wait) {
    FollowResult result;
    int code = FollowToEnd(ctx, run_id, RenderMode::kSilent, &result);
    if (!result.run.is_object()) return code;  // the error, if any, is already printed
    if (ctx.format != OutputFormat::kTable) {
      WriteValue(ctx.out, ctx.format, result.run, [] { return std::string(); });
      return code;
    }
    std::string answer = Str(result.run, "result");
    if (!answer.empty()) ctx.out << answer << (answer.back() == '\n' ? "" : "\n");
    if (code != 0) {
      std::string why = Str(result.run, "error");
      ctx.err << "run " << run_id << " ended " << runs::PhaseName(result.phase)
              << (why.empty() ? "" : ": " + why) << '\n';
    }
    return code;
  }
  WriteValue(ctx.out, ctx.format, *run, [&] { return run_id + "\n"; });
  return 0;
}

int CmdList(Context& ctx, const Flags& flags) {
  ListRunsQuery query{.agent = flags.list_agent,
                      .phase = flags.list_phase,
                      .labels = flags.list_labels,
                      .limit = flags.limit,
                      .cursor = flags.cursor};
  std::vector<Json> items;
  std::string next_cursor;
  for (int page = 0; page < kMaxListPages; ++page) {
    auto result = ctx.client.ListRuns(query);
    if (!result.ok()) return Fail(ctx.err, result.error());
    for (auto& item : result->items) items.push_back(std::move(item));
    next_cursor = result->next_cursor;
    if (!flags.all || next_cursor.empty()) break;
    query.cursor = next_cursor;
  }
  if (ctx.format != OutputFormat::kTable) {
    Json list = {{"items", items}};
    if (!next_cursor.empty()) list["nextCursor"] = next_cursor;
    WriteValue(ctx.out, ctx.format, list, [] { return std::string(); });
    return 0;
  }
  if (items.empty()) {
    ctx.err << "No runs found.\n";
  } else {
    ctx.out << FormatRunTable(items, ctx.clock.Now());
  }
  if (!next_cursor.empty()) {
    ctx.err << "More runs: add --all, or --cursor " << next_cursor << " for the next page.\n";
  }
  return 0;
}

int CmdGet(Context& ctx, const Flags& flags) {
  auto run = ctx.client.GetRun(flags.run_id);
  if (!run.ok()) return Fail(ctx.err, run.error());
  WriteValue(ctx.out, ctx.format, *run, [&] { return FormatRunDetails(*run, ctx.clock.Now()); });
  return 0;
}

int CmdLogs(Context& ctx, const Flags& flags) {
  if (flags.logs_follow) return FollowToEnd(ctx, flags.run_id, StreamMode(ctx.format));
  auto events = FetchEventLog(ctx.client, flags.run_id);
  if (!events.ok()) return Fail(ctx.err, events.error());
  EventRenderer renderer(ctx.out, ctx.err, StreamMode(ctx.format));
  for (const auto& event : *events) renderer.Render(event);
  renderer.EndLine();
  return 0;
}

int CmdCancel(Context& ctx, const Flags& flags) {
  auto run = ctx.client.CancelRun(flags.run_id);
  if (!run.ok()) return Fail(ctx.err, run.error());
  WriteValue(ctx.out, ctx.format, *run, [&] {
    std::string phase = Str(*run, "phase");
    return "cancel requested for run " + flags.run_id +
           (phase.empty() ? "" : " (phase " + phase + ")") + "\n";
  });
  return 0;
}

int CmdDecide(Context& ctx, const Flags& flags, bool approve) {
  if (flags.reason.size() > kMaxReasonBytes) {
    return Fail(ctx.err,
                core::InvalidArgument("--reason is " + std::to_string(flags.reason.size()) +
                                      " bytes; at most 1024 are allowed"));
  }
  auto run = approve ? ctx.client.ApproveRun(flags.run_id, flags.reason)
                     : ctx.client.RejectRun(flags.run_id, flags.reason);
  if (!run.ok()) return Fail(ctx.err, run.error());
  WriteValue(ctx.out, ctx.format, *run, [&] {
    std::string phase = Str(*run, "phase");
    return "run " + flags.run_id + (approve ? " approved" : " rejected") +
           (phase.empty() ? "" : " (phase " + phase + ")") + "\n";
  });
  return 0;
}

// A --from/--to value: RFC 3339 as given, or a date YYYY-MM-DD meaning its midnight UTC.
core::Result<std::string> TimeFlag(const std::string& text, std::string_view flag) {
  if (text.empty()) return text;
  std::string value = text.size() == 10 ? text + "T00:00:00Z" : text;
  if (!core::ParseRfc3339(value).ok()) {
    return core::InvalidArgument(std::string(flag) + " \"" + text.substr(0, 80) +
                                 "\" is neither an RFC 3339 time nor a date YYYY-MM-DD");
  }
  return value;
}

int CmdUsage(Context& ctx, const Flags& flags) {
  UsageQuery query{.agent = flags.usage_agent,
                   .team = flags.usage_team,
                   .cost_center = flags.usage_cost_center,
                   .tier = flags.usage_tier,
                   .model = flags.usage_model,
                   .caller = flags.usage_caller};
  auto from = TimeFlag(flags.usage_from, "--from");
  if (!from.ok()) return Fail(ctx.err, from.error());
  auto to = TimeFlag(flags.usage_to, "--to");
  if (!to.ok()) return Fail(ctx.err, to.error());
  query.from = *from;
  query.to = *to;
  for (const auto& list : flags.usage_group_by) {
    for (auto& group : core::SplitList(list)) query.group_by.push_back(std::move(group));
  }
  auto usage = ctx.client.GetUsage(query);
  if (!usage.ok()) return Fail(ctx.err, usage.error());
  WriteValue(ctx.out, ctx.format, *usage, [&] { return FormatUsageTable(*usage); });
  if (ctx.format == OutputFormat::kTable && (*usage)["rows"].empty()) {
    ctx.err << "No usage from " << Str(*usage, "from") << " to " << Str(*usage, "to") << ".\n";
  }
  return 0;
}

int CmdBudgets(Context& ctx) {
  auto budgets = ctx.client.ListBudgets();
  if (!budgets.ok()) return Fail(ctx.err, budgets.error());
  std::vector<Json> items = (*budgets)["items"].get<std::vector<Json>>();
  WriteValue(ctx.out, ctx.format, *budgets, [&] { return FormatBudgetTable(items); });
  if (ctx.format == OutputFormat::kTable && items.empty()) ctx.err << "No budgets defined.\n";
  return 0;
}

int CmdAuditList(Context& ctx, const Flags& flags) {
  AuditQuery query{
      .actor = flags.audit_actor, .action = flags.audit_action, .subject = flags.audit_subject};
  auto from = TimeFlag(flags.audit_from, "--from");
  if (!from.ok()) return Fail(ctx.err, from.error());
  auto to = TimeFlag(flags.audit_to, "--to");
  if (!to.ok()) return Fail(ctx.err, to.error());
  query.from = *from;
  query.to = *to;
  std::vector<Json> items;
  std::string next_cursor;
  const size_t limit = static_cast<size_t>(flags.audit_limit);
  for (int page = 0; page < kMaxListPages && items.size() < limit; ++page) {
    query.limit = static_cast<int>(std::min<size_t>(limit - items.size(), kMaxAuditPage));
    auto result = ctx.client.ListAudit(query);
    if (!result.ok()) return Fail(ctx.err, result.error());
    for (auto& item : result->items) {
      if (items.size() < limit) items.push_back(std::move(item));
    }
    next_cursor = result->next_cursor;
    if (next_cursor.empty() || result->items.empty()) break;
    query.cursor = next_cursor;
  }
  if (ctx.format != OutputFormat::kTable) {
    Json list = {{"items", items}};
    if (!next_cursor.empty()) list["nextCursor"] = next_cursor;
    WriteValue(ctx.out, ctx.format, list, [] { return std::string(); });
    return 0;
  }
  if (items.empty()) {
    ctx.err << "No audit entries found.\n";
  } else {
    ctx.out << FormatAuditTable(items);
  }
  if (!next_cursor.empty()) {
    ctx.err << "More entries: raise --limit (now " << flags.audit_limit << ").\n";
  }
  return 0;
}

int CmdAuditExport(Context& ctx, const Flags& flags) {
  if (flags.export_out.empty()) {
    auto status = ctx.client.ExportAudit([&](std::string_view chunk) {
      ctx.out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      return static_cast<bool>(ctx.out);
    });
    ctx.out.flush();
    if (!status.ok()) return Fail(ctx.err, status.error());
    return 0;
  }
  // Downloaded next to the target and renamed at the end, so FILE is never half written.
  const std::filesystem::path target(flags.export_out);
  const std::filesystem::path partial = target.string() + ".partial";
  std::ofstream file(partial, std::ios::binary | std::ios::trunc);
  if (!file) {
    return Fail(ctx.err, core::InvalidArgument("cannot write --out \"" + partial.string() +
                                               "\": " + std::strerror(errno)));
  }
  size_t bytes = 0;
  auto status = ctx.client.ExportAudit([&](std::string_view chunk) {
    file.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes += chunk.size();
    return static_cast<bool>(file);
  });
  file.close();
  std::error_code ignored;
  if (!status.ok() || !file) {
    std::filesystem::remove(partial, ignored);
    if (!status.ok() && status.error().code != core::ErrorCode::kAborted) {
      return Fail(ctx.err, status.error());
    }
    return Fail(ctx.err, core::Internal("cannot write --out \"" + partial.string() + "\""));
  }
  std::error_code renamed;
  std::filesystem::rename(partial, target, renamed);
  if (renamed) {
    std::filesystem::remove(partial, ignored);
    return Fail(ctx.err, core::Internal("cannot rename \"" + partial.string() + "\" to \"" +
                                        target.string() + "\": " + renamed.message()));
  }
  ctx.err << "audit export written to " << target.string() << " (" << bytes << " bytes)\n";
  return 0;
}

// ---- audit verify -------------------------------------------------------------------------

// An audit export read into memory (docs/cli.md: one JSON object per line).
struct AuditExport {
  std::string public_key;  // PEM from the header; may be empty
  std::vector<governance::AuditEntry> entries;
  std::vector<governance::Checkpoint> checkpoints;
  // The first entry line that could not be read, as a chain problem at its position.
  std::optional<governance::VerifyResult> unreadable_entry;
  // The first checkpoint line that could not be read.
  std::string unreadable_checkpoint;
};

// Reads an export line by line from chunks cut anywhere. A broken header (not an export, an
// unknown version) is an error; a broken line after it is kept as a chain problem, since an
// entry that cannot be read is one that cannot be trusted.
class ExportReader {
 public:
  explicit ExportReader(std::string source) : source_(std::move(source)) {}

  core::Status Feed(std::string_view chunk) {
    constexpr size_t kMaxLineBytes = 16 << 20;
    size_t start = 0;
    while (start < chunk.size()) {
      size_t newline = chunk.find('\n', start);
      if (newline == std::string_view::npos) {
        pending_.append(chunk.substr(start));
        if (pending_.size() > kMaxLineBytes) {
          return core::InvalidArgument(source_ + " line " + std::to_string(line_ + 1) +
                                       " is longer than 16 MiB");
        }
        break;
      }
      pending_.append(chunk.substr(start, newline - start));
      AGENTD_RETURN_IF_ERROR(Line());
      start = newline + 1;
    }
    return core::Ok();
  }

  core::Result<AuditExport> Finish() {
    if (!pending_.empty()) AGENTD_RETURN_IF_ERROR(Line());
    if (!header_seen_) return core::InvalidArgument(source_ + " is empty: no export header");
    return std::move(export_);
  }

 private:
  core::Status Line() {
    ++line_;
    std::string text = std::move(pending_);
    pending_.clear();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) return core::Ok();
    auto parsed = core::ParseJson(text, {.max_bytes = 16 << 20, .max_depth = 64});
    std::string kind = parsed.ok() ? Str(*parsed, "kind") : "";
    if (!header_seen_) {
      if (kind != "agentd-audit-export") {
        return core::InvalidArgument(source_ + " is not an agentd audit export: line " +
                                     std::to_string(line_) +
                                     " is not {\"kind\": \"agentd-audit-export\", ...}");
      }
      const Json& version = (*parsed)["version"];
      if (!version.is_number_integer() || version.get<int64_t>() != 1) {
        return core::InvalidArgument(source_ + ": export version " + core::DumpJson(version) +
                                     " is not supported (this agentctl reads version 1)");
      }
      export_.public_key = Str(*parsed, "publicKey");
      header_seen_ = true;
      return core::Ok();
    }
    if (export_.unreadable_entry) return core::Ok();  // nothing after it can be placed
    const std::string where = "line " + std::to_string(line_) + ": ";
    if (kind == "checkpoint") {
      auto checkpoint = governance::CheckpointFromJson((*parsed)["checkpoint"]);
      if (checkpoint.ok()) {
        export_.checkpoints.push_back(*std::move(checkpoint));
      } else if (export_.unreadable_checkpoint.empty()) {
        export_.unreadable_checkpoint = where + "checkpoint invalid: " + checkpoint.error().message;
      }
      return core::Ok();
    }
    std::string problem;
    if (!parsed.ok()) {
      problem = "not JSON (" + parsed.error().message + ")";
    } else if (kind != "entry") {
      problem = kind.empty() ? "a line without a \"kind\"" : "unknown kind \"" + kind + "\"";
    } else {
      auto entry = governance::EntryFromJson((*parsed)["entry"]);
      if (entry.ok()) {
        export_.entries.push_back(*std::move(entry));
        return core::Ok();
      }
      problem = "unreadable entry (" + entry.error().message + ")";
    }
    const auto position = static_cast<int64_t>(export_.entries.size());
    export_.unreadable_entry =
        governance::VerifyResult{.ok = false,
                                 .entries_checked = position,
                                 .first_bad_index = position + 1,
                                 .problem = "entry at position " + std::to_string(position + 1) +
                                            " is unreadable: " + where + problem};
    return core::Ok();
  }

  std::string source_;
  std::string pending_;
  int64_t line_ = 0;
  bool header_seen_ = false;
  AuditExport export_;
};

core::Result<std::string> ReadSmallFile(const std::string& path, std::string_view flag) {
  constexpr std::uintmax_t kMaxBytes = 64 << 20;
  std::error_code size_error;
  auto size = std::filesystem::file_size(path, size_error);
  if (!size_error && size > kMaxBytes) {
    return core::InvalidArgument(std::string(flag) + " \"" + path + "\" is larger than 64 MiB");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return core::InvalidArgument("cannot read " + std::string(flag) + " \"" + path +
                                 "\": " + std::strerror(errno));
  }
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

core::Result<AuditExport> ReadExportFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return core::InvalidArgument("cannot read --file \"" + path + "\": " + std::strerror(errno));
  }
  ExportReader reader("--file \"" + path + "\"");
  std::string buffer(64 * 1024, '\0');
  while (file) {
    file.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    AGENTD_RETURN_IF_ERROR(
        reader.Feed(std::string_view(buffer.data(), static_cast<size_t>(file.gcount()))));
  }
  if (file.bad()) return core::InvalidArgument("cannot read --file \"" + path + "\"");
  return reader.Finish();
}

core::Result<AuditExport> DownloadExport(ApiClient& client) {
  ExportReader reader("the server's export");
  core::Status parse_status;
  auto status = client.ExportAudit([&](std::string_view chunk) {
    parse_status = reader.Feed(chunk);
    return parse_status.ok();
  });
  if (!parse_status.ok()) {
    return core::Internal("malformed answer to GET /api/v1/audit/export: " +
                          parse_status.error().message);
  }
  AGENTD_RETURN_IF_ERROR(status);
  auto result = reader.Finish();
  if (!result.ok()) {
    return core::Internal("malformed answer to GET /api/v1/audit/export: " +
                          result.error().message);
  }
  return result;
}

// A --checkpoint FILE: one checkpoint object (CheckpointToJson), one export line
// {"kind":"checkpoint",...}, the answer of GET /api/v1/audit/checkpoints (its last item), or an
// export (its last checkpoint).
core::Result<governance::Checkpoint> ReadCheckpointFile(const std::string& path) {
  AGENTD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, "--checkpoint"));
  const std::string where = "--checkpoint \"" + path + "\"";
  auto parsed = core::ParseJson(text, {.max_bytes = 64 << 20, .max_depth = 64});
  if (parsed.ok() && parsed->is_object() && !parsed->contains("kind")) {
    const Json* object = &*parsed;
    if (parsed->contains("items") && (*parsed)["items"].is_array()) {
      if ((*parsed)["items"].empty()) return core::InvalidArgument(where + " holds no checkpoint");
      object = &(*parsed)["items"].back();
    }
    auto checkpoint = governance::CheckpointFromJson(*object);
    if (!checkpoint.ok()) return checkpoint.error().Wrap(where);
    return checkpoint;
  }
  if (parsed.ok() && Str(*parsed, "kind") == "checkpoint") {
    auto checkpoint = governance::CheckpointFromJson((*parsed)["checkpoint"]);
    if (!checkpoint.ok()) return checkpoint.error().Wrap(where);
    return checkpoint;
  }
  ExportReader reader(where);
  AGENTD_RETURN_IF_ERROR(reader.Feed(text));
  auto exported = reader.Finish();
  if (!exported.ok()) {
    return core::InvalidArgument(where +
                                 " is neither a checkpoint JSON object nor an audit export");
  }
  if (exported->checkpoints.empty()) {
    return core::InvalidArgument(where + " is an export without checkpoints" +
                                 (exported->unreadable_checkpoint.empty()
                                      ? std::string()
                                      : " (" + exported->unreadable_checkpoint + ")"));
  }
  return exported->checkpoints.back();
}

// The verdict line and, with -o json|yaml, the same as the server's /audit/verify answer.
int ReportVerdict(Context& ctx, const Json& report) {
  bool ok = report.value("ok", false);
  WriteValue(ctx.out, ctx.format, report, [&] {
    if (!ok) {
      const Json& bad = report.contains("firstBadIndex") ? report["firstBadIndex"] : Json();
      std::string at =
          bad.is_number_integer() ? " at entry " + std::to_string(bad.get<int64_t>()) : "";
      return "audit chain broken" + at + ": " + Str(report, "problem") + "\n";
    }
    int64_t count = report.contains("count") && report["count"].is_number_integer()
                        ? report["count"].get<int64_t>()
                        : 0;
    std::string text = "audit chain intact: " + std::to_string(count) +
                       (count == 1 ? " entry" : " entries") + ", head " + Str(report, "headHash") +
                       "\n";
    if (report.contains("checkpoint") && report["checkpoint"].is_object()) {
      const Json& checkpoint = report["checkpoint"];
      const Json& covered = checkpoint.contains("count") ? checkpoint["count"] : Json();
      text += "checkpoint: " + (covered.is_number_integer() ? covered.dump() : std::string("?")) +
              " entries, signed " + Str(checkpoint, "time") + " by key " +
              Str(checkpoint, "key_id") + "\n";
    }
    return text;
  });
  return ok ? 0 : kChainBrokenExitCode;
}

Json VerifyReport(const governance::VerifyResult& result,
                  const std::vector<governance::AuditEntry>& entries,
                  const governance::Checkpoint* checkpoint) {
  Json report = {
      {"ok", result.ok},
      {"entriesChecked", result.entries_checked},
      {"count", static_cast<int64_t>(entries.size())},
      {"headHash", entries.empty() ? std::string(governance::kGenesisHash) : entries.back().hash},
      {"firstBadIndex", result.first_bad_index ? Json(*result.first_bad_index) : Json()},
      {"problem", result.problem},
      {"checkpoint", checkpoint != nullptr ? governance::CheckpointToJson(*checkpoint) : Json()}};
  return report;
}

// The export's chain, then each of its checkpoints (signature, length, head). VerifyChain runs
// once; VerifyChainAgainstCheckpoint only for a checkpoint that fails, for its wording.
governance::VerifyResult VerifyExport(const AuditExport& exported, std::string_view public_key) {
  const auto& entries = exported.entries;
  governance::VerifyResult result = governance::VerifyChain(entries);
  if (!result.ok) return result;
  if (exported.unreadable_entry) return *exported.unreadable_entry;
  if (!exported.unreadable_checkpoint.empty()) {
    return governance::VerifyResult{.ok = false,
                                    .entries_checked = result.entries_checked,
                                    .first_bad_index = std::nullopt,
                                    .problem = exported.unreadable_checkpoint};
  }
  for (const auto& checkpoint : exported.checkpoints) {
    bool intact =
        governance::VerifyCheckpoint(checkpoint, public_key).ok() && checkpoint.count >= 0 &&
        checkpoint.count <= static_cast<int64_t>(entries.size()) &&
        checkpoint.head_hash == (checkpoint.count == 0
                                     ? std::string(governance::kGenesisHash)
                                     : entries[static_cast<size_t>(checkpoint.count - 1)].hash);
    if (!intact) return governance::VerifyChainAgainstCheckpoint(entries, checkpoint, public_key);
  }
  return result;
}

int CmdAuditVerify(Context& ctx, const Flags& flags) {
  if (flags.checkpoint_file.empty() && flags.export_file.empty() && flags.public_key_file.empty()) {
    auto report = ctx.client.VerifyAudit();
    if (!report.ok()) return Fail(ctx.err, report.error());
    return ReportVerdict(ctx, *report);
  }

  std::optional<governance::Checkpoint> given;
  if (!flags.checkpoint_file.empty()) {
    auto checkpoint = ReadCheckpointFile(flags.checkpoint_file);
    if (!checkpoint.ok()) return Fail(ctx.err, checkpoint.error());
    given = *std::move(checkpoint);
  }
  std::string public_key;
  if (!flags.public_key_file.empty()) {
    auto pem = ReadSmallFile(flags.public_key_file, "--public-key");
    if (!pem.ok()) return Fail(ctx.err, pem.error());
    public_key = *std::move(pem);
  }
  auto exported =
      flags.export_file.empty() ? DownloadExport(ctx.client) : ReadExportFile(flags.export_file);
  if (!exported.ok()) return Fail(ctx.err, exported.error());

  const bool checks_signatures = given.has_value() || !exported->checkpoints.empty();
  if (checks_signatures && public_key.empty()) {
    if (exported->public_key.empty()) {
      return Fail(ctx.err, core::InvalidArgument(
                               "no public key to check checkpoint signatures with: the export "
                               "has none; pass --public-key FILE"));
    }
    ctx.err << "warning: no --public-key: checking signatures with the public key in the "
               "export, which the server supplied; whoever can rewrite the audit log can replace "
               "that key too. Keep the key apart and pass --public-key FILE.\n";
    public_key = exported->public_key;
  }

  governance::VerifyResult result;
  const governance::Checkpoint* shown = nullptr;
  if (given) {
    if (exported->unreadable_entry) {
      // The entries after an unreadable line are not known: report the line, unless the chain
      // before it is already broken ("cut off" would misname it).
      result = governance::VerifyChain(exported->entries);
      if (result.ok) result = *exported->unreadable_entry;
    } else {
      result = governance::VerifyChainAgainstCheckpoint(exported->entries, *given, public_key);
    }
    shown = &*given;
  } else {
    result = VerifyExport(*exported, public_key);
    if (!exported->checkpoints.empty()) shown = &exported->checkpoints.back();
  }
  Json report = VerifyReport(result, exported->entries, shown);
  if (!given) report["checkpointsVerified"] = result.ok ? exported->checkpoints.size() : 0;
  if (result.ok && ctx.format == OutputFormat::kTable) {
    const auto count = static_cast<int64_t>(exported->entries.size());
    if (shown == nullptr) {
      ctx.err << "note: the export holds no checkpoint, so a cut-off tail cannot be detected; "
                 "verify with --checkpoint FILE\n";
    } else if (shown->count < count) {
      ctx.err << "note: entries " << shown->count + 1 << ".." << count
              << " come after the checkpoint; its signature does not cover them\n";
    }
  }
  return ReportVerdict(ctx, report);
}

#if AGENTD_CLI_HAS_VALIDATE
int CmdValidate(const Flags& flags, std::ostream& out, std::ostream& err) {
  return RunValidate(std::filesystem::path(flags.validate_dir), out, err);
}
#endif

}  // namespace

std::string_view CliVersion() { return AGENTD_VERSION; }

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env) {
  Flags flags;
  CLI::App app{
      "agentctl: submit, follow, inspect and approve agentd runs; report usage and budgets; "
      "list, export and verify the audit log.",
      "agentctl"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", flags.server,
                 "agentd URL (env AGENTD_URL, default http://127.0.0.1:8080)");
  app.add_option("--token", flags.token, "API key sent as a Bearer token (env AGENTD_TOKEN)");
  app.add_option("-o,--output", flags.output, "output format: table (default), json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));

  CLI::App* run = app.add_subcommand("run", "Submit a run; --wait or --follow waits for its end.");
  run->footer(std::string(kRunHelp) + "\n\n" + kFooter);
  run->add_option("agent", flags.agent, "agent name")->required();
  run->add_option("input", flags.input_words, "the task for the agent; - reads stdin")->required();
  run->add_flag("-f,--follow", flags.follow,
                "stream model text, tool calls and phases until the run ends");
  run->add_flag("--wait", flags.wait, "wait for the end silently, then print the result");
  run->add_option("--priority", flags.priority, "higher runs first (default 0)");
  run->add_option("--deadline", flags.deadline,
                  "wall-clock limit such as 90s, 10m or 2h (overrides the agent's timeout)");
  run->add_option("--label", flags.labels, "label key=value (repeatable)")->allow_extra_args(false);
  run->add_option("--param", flags.params,
                  "parameter key=value (repeatable); the value is JSON when it parses as JSON, "
                  "else a string")
      ->allow_extra_args(false);
  run->add_option("--idempotency-key", flags.idempotency_key,
                  "retrying with the same key and input returns the first run instead of a new "
                  "one");

  CLI::App* runs_cmd = app.add_subcommand("runs", "Inspect, cancel, approve and reject runs.");
  runs_cmd->require_subcommand(1);
  CLI::App* list = runs_cmd->add_subcommand("list", "List runs, newest first.");
  list->add_option("--agent", flags.list_agent, "only runs of this agent");
  list->add_option("--phase", flags.list_phase, "only runs in this phase, e.g. Running");
  list->add_option("--label", flags.list_labels, "only runs with label key=value (repeatable)")
      ->allow_extra_args(false);
  list->add_option("--limit", flags.limit, "runs per page")->check(CLI::Range(1, 1000));
  list->add_option("--cursor", flags.cursor, "continue from a previous page");
  list->add_flag("--all", flags.all, "fetch every page");
  CLI::App* get = runs_cmd->add_subcommand("get", "Show one run.");
  get->add_option("id", flags.run_id, "run id")->required();
  CLI::App* logs = runs_cmd->add_subcommand(
      "logs", "Print a run's event log; with -f follow it live until the run ends.");
  logs->add_option("id", flags.run_id, "run id")->required();
  logs->add_flag("-f,--follow", flags.logs_follow, "follow until the run ends");
  CLI::App* cancel = runs_cmd->add_subcommand("cancel", "Cancel a run (idempotent).");
  cancel->add_option("id", flags.run_id, "run id")->required();

  CLI::App* approve = runs_cmd->add_subcommand("approve", "Approve a run awaiting approval.");
  approve->footer(std::string(kDecideHelp) + "\n\n" + kFooter);
  approve->add_option("id", flags.run_id, "run id")->required();
  approve->add_option("--reason", flags.reason, "why (kept in the audit log, <= 1 KiB)");
  CLI::App* reject = runs_cmd->add_subcommand("reject", "Reject a run awaiting approval.");
  reject->footer(std::string(kDecideHelp) + "\n\n" + kFooter);
  reject->add_option("id", flags.run_id, "run id")->required();
  reject->add_option("--reason", flags.reason, "why (kept in the audit log, <= 1 KiB)");

  CLI::App* usage = app.add_subcommand("usage", "Report token usage and cost, grouped.");
  usage->footer(std::string(kUsageHelp) + "\n\n" + kFooter);
  usage->add_option("--from", flags.usage_from, "start, RFC 3339 or YYYY-MM-DD (default: month)");
  usage->add_option("--to", flags.usage_to, "end, RFC 3339 or YYYY-MM-DD (default: now)");
  usage
      ->add_option("--group-by", flags.usage_group_by,
                   "group columns, comma separated: agent,team,costCenter,tier,model,caller,"
                   "day,month")
      ->allow_extra_args(false);
  usage->add_option("--agent", flags.usage_agent, "only runs of this agent");
  usage->add_option("--team", flags.usage_team, "only runs of this team");
  usage->add_option("--cost-center", flags.usage_cost_center, "only runs of this cost center");
  usage->add_option("--tier", flags.usage_tier, "only runs of agents in this tier (1-4)")
      ->check(CLI::Range(1, 4));
  usage->add_option("--model", flags.usage_model, "only calls of this model");
  usage->add_option("--caller", flags.usage_caller, "only runs submitted by this caller identity");

  CLI::App* budgets = app.add_subcommand("budgets", "List budgets: spent, reserved, limit.");
  budgets->footer(std::string(kBudgetsHelp) + "\n\n" + kFooter);

  CLI::App* audit = app.add_subcommand("audit", "List, export and verify the audit log.");
  audit->require_subcommand(1);
  CLI::App* audit_list = audit->add_subcommand("list", "List audit entries.");
  audit_list->footer(std::string(kAuditListHelp) + "\n\n" + kFooter);
  audit_list->add_option("--actor", flags.audit_actor, "only entries by this actor");
  audit_list->add_option("--action", flags.audit_action, "only this action, e.g. run.approved");
  audit_list->add_option("--subject", flags.audit_subject, "only entries about this subject");
  audit_list->add_option("--from", flags.audit_from, "not before, RFC 3339 or YYYY-MM-DD");
  audit_list->add_option("--to", flags.audit_to, "not after, RFC 3339 or YYYY-MM-DD");
  audit_list->add_option("--limit", flags.audit_limit, "at most this many entries (default 100)")
      ->check(CLI::Range(1, 1'000'000));
  CLI::App* audit_export =
      audit->add_subcommand("export", "Download the audit log with its checkpoints.");
  audit_export->footer(std::string(kAuditExportHelp) + "\n\n" + kFooter);
  audit_export->add_option("--out", flags.export_out, "write to FILE instead of stdout");
  CLI::App* audit_verify =
      audit->add_subcommand("verify", "Verify the audit chain, on the server or locally.");
  audit_verify->footer(std::string(kAuditVerifyHelp) + "\n\n" + kFooter);
  audit_verify->add_option("--checkpoint", flags.checkpoint_file,
                           "verify against this signed checkpoint (JSON, or an export)");
  audit_verify->add_option("--public-key", flags.public_key_file,
                           "PEM public key to check checkpoint signatures with");
  audit_verify->add_option("--file", flags.export_file,
                           "verify this export file offline instead of downloading one");

#if AGENTD_CLI_HAS_VALIDATE
  CLI::App* validate = app.add_subcommand(
      "validate", "Check a directory of objects for CI (schema, references, policy).");
  validate->add_option("dir", flags.validate_dir, "directory of YAML objects")->required();
#endif

  CLI::App* version = app.add_subcommand("version", "Print the agentctl version.");

  // CLI11 takes the arguments without the program name, in reverse order.
  std::vector<std::string> reversed;
  for (size_t i = args.size(); i > 1; --i) reversed.push_back(args[i - 1]);
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? 0 : kUsageExitCode;
  }

  if (*version) {
    out << "agentctl " << CliVersion() << '\n';
    return 0;
  }
#if AGENTD_CLI_HAS_VALIDATE
  if (*validate) return CmdValidate(flags, out, err);  // offline: no server, no --output
#endif
  auto format = ParseOutputFormat(flags.output);
  if (!format.ok()) return Fail(err, format.error());

  auto getenv = env.getenv ? env.getenv : [](const char* name) { return core::GetEnv(name); };
  ApiClientOptions options;
  options.base_url =
      !flags.server.empty() ? flags.server : getenv("AGENTD_URL").value_or(kDefaultServer);
  options.token = !flags.token.empty() ? flags.token : getenv("AGENTD_TOKEN").value_or("");
  options.user_agent = "agentctl/" + std::string(CliVersion());
  ApiClient client(transport, options);

  Context ctx{.client = client,
              .format = *format,
              .out = out,
              .err = err,
              .in = env.in != nullptr ? *env.in : std::cin,
              .clock = env.clock != nullptr ? *env.clock : core::SystemClock::Instance(),
              .follow_options = {}};
  ctx.follow_options.sleep = env.sleep;

  if (*run) return CmdRun(ctx, flags);
  if (*list) return CmdList(ctx, flags);
  if (*get) return CmdGet(ctx, flags);
  if (*logs) return CmdLogs(ctx, flags);
  if (*cancel) return CmdCancel(ctx, flags);
  if (*approve) return CmdDecide(ctx, flags, /*approve=*/true);
  if (*reject) return CmdDecide(ctx, flags, /*approve=*/false);
  if (*usage) return CmdUsage(ctx, flags);
  if (*budgets) return CmdBudgets(ctx);
  if (*audit_list) return CmdAuditList(ctx, flags);
  if (*audit_export) return CmdAuditExport(ctx, flags);
  if (*audit_verify) return CmdAuditVerify(ctx, flags);
  err << app.help();
  return kUsageExitCode;
}

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env) {
  std::vector<std::string> args(argv, argv + argc);
  return RunCli(args, out, err, transport, env);
}

}  // namespace agentd::cli
