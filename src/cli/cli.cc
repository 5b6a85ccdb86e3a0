#include "cli/cli.h"

#include <iostream>
#include <iterator>
#include <map>
#include <utility>

#include <CLI/CLI.hpp>

#include "cli/api_client.h"
#include "cli/follow.h"
#include "cli/output.h"
#include "core/env.h"
#include "core/json.h"
#include "runs/run.h"

#ifndef AGENTD_VERSION
#define AGENTD_VERSION "0.0.0-dev"
#endif

namespace agentd::cli {

namespace {

using core::Json;

constexpr char kDefaultServer[] = "http://127.0.0.1:8080";
constexpr int kUsageExitCode = 2;
constexpr int kMaxListPages = 10'000;

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
Codes 1, 3, 4 and 5 come from `run --wait|--follow` and `runs logs -f`.)";

constexpr char kRunHelp[] =
    R"(Submits a run of AGENT with INPUT (the words joined by spaces; "-" reads stdin).
Without --wait or --follow it prints the run id (or the run with -o json|yaml) and exits.
--wait waits for the end without output, then prints the result (-o json|yaml: the run).
--follow streams the run live: model text, tool calls (→) and results (←), phase changes,
and a usage line at the end; with -o json each event is one JSON line.
Both exit with the run's outcome: 0 Succeeded, 1 Failed, 3 TimedOut, 4 Cancelled, 5 Rejected.)";

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

  // runs get|logs|cancel
  std::string run_id;
  bool logs_follow = false;
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
  if (!run.ok()) return Fail(ctx.err, run.error());
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

}  // namespace

std::string_view CliVersion() { return AGENTD_VERSION; }

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env) {
  Flags flags;
  CLI::App app{"agentctl: submit, follow and inspect agentd runs.", "agentctl"};
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

  CLI::App* runs_cmd = app.add_subcommand("runs", "Inspect and cancel runs.");
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
  err << app.help();
  return kUsageExitCode;
}

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env) {
  std::vector<std::string> args(argv, argv + argc);
  return RunCli(args, out, err, transport, env);
}

}  // namespace agentd::cli
