// RunnerMain: the whole `agentd runner` process (cmd/agentd wires the subcommand to it).
//
// Reads the RunnerSpec JSON from `spec_fd` (stdin, at most 4 MiB), runs the agent loop in the
// spec's workspace and reports RunnerEvents (runner_protocol.h): each event is appended as one
// line to the journal file (O_APPEND, mode 0600, one write(2) per line) and then written to
// `events_fd`. If that pipe breaks the runner carries on with the journal alone. The first event
// of a run that starts is `phase` {"phase":"Running"}; the last event is always `result`.
//
// SIGTERM (or SIGINT) stops the current model call, backoff wait or shell command, and ends the
// run with result failed / "Interrupted". The spec's limits.timeout ends it as "TimedOut".
//
// Process-wide effects (this owns the process): SIGPIPE is ignored, SIGTERM/SIGINT handlers are
// installed for the duration of the call, the process becomes a child subreaper (so the shell
// tool can reap what commands leave behind), and events_fd is marked close-on-exec.
//
// Exit codes: 0 succeeded, 1 failed (model error, a limit, timeout, workspace problem),
// 2 bad spec (unreadable, invalid, unknown tool or provider), 3 interrupted by SIGTERM.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace agentd::runner {

inline constexpr size_t kMaxSpecBytes = 4 << 20;
// Overrides the base delay of the model-call backoff (milliseconds), for tests and demos.
inline constexpr char kRetryBaseEnv[] = "AGENTD_RUNNER_RETRY_BASE_MS";

struct RunnerOptions {
  int events_fd = 3;         // -1: no pipe, journal only
  std::string journal_path;  // empty: no journal
  int spec_fd = 0;           // where the spec JSON is read from
  // Base delay of the retry backoff; default from AGENTD_RUNNER_RETRY_BASE_MS, else 500 ms.
  std::optional<std::chrono::milliseconds> retry_base_delay;
};

// Runs one attempt of a run and returns the process exit code (see above).
int RunnerMain(const RunnerOptions& options);

}  // namespace agentd::runner
