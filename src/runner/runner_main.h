// RunnerMain: the whole `agentd runner` process (cmd/agentd wires the subcommand to it).
//
// Reads the RunnerSpec JSON from `spec_fd` (stdin) or `spec_file` (at most 4 MiB), runs the
// agent loop in the spec's workspace and reports RunnerEvents (runner_protocol.h): each event is
// appended as one line to the journal file (O_APPEND, mode 0600, one write(2) per line) and then
// either written to `events_fd` (the local executor's pipe; if it breaks the runner carries on
// with the journal alone) or, with `events_url` (a Kubernetes pod), POSTed in batches to the API
// with the token of `token_file` (HttpEventSink). The first event of a run that starts is
// `phase` {"phase":"Running"}; the last event is always `result`.
//
// With `events_url`, a control plane that fences this runner (401/403/409: another pod owns the
// attempt, the run ended, a bad token) or cannot take its events stops the run: the runner logs
// why on stderr ("runner stopped sending events") and exits 1. At the end it waits up to
// `events_drain_timeout` for the last events to be delivered; exit 1 if they were not.
//
// SIGTERM (or SIGINT) stops the current model call, backoff wait or shell command, and ends the
// run with result failed / "Interrupted". The spec's limits.timeout ends it as "TimedOut".
//
// Process-wide effects (this owns the process): SIGPIPE is ignored, SIGTERM/SIGINT handlers are
// installed for the duration of the call, the process becomes a child subreaper (so the shell
// tool can reap what commands leave behind), and events_fd is marked close-on-exec.
//
// Exit codes: 0 succeeded, 1 failed (model error, a limit, timeout, workspace problem, events
// refused or undeliverable), 2 bad spec or flags (unreadable, invalid, unknown tool or provider,
// --run-id/--attempt not matching the spec, no token), 3 interrupted by SIGTERM.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "httpclient/http_client.h"
#include "runner/http_event_sink.h"

namespace agentd::runner {

inline constexpr size_t kMaxSpecBytes = 4 << 20;
// Overrides the base delay of the model-call backoff (milliseconds), for tests and demos.
inline constexpr char kRetryBaseEnv[] = "AGENTD_RUNNER_RETRY_BASE_MS";

inline constexpr size_t kMaxTokenBytes = 4096;

struct RunnerOptions {
  int events_fd = 3;         // -1: no pipe, journal only; unused with events_url
  std::string journal_path;  // empty: no journal
  int spec_fd = 0;           // where the spec JSON is read from, unless spec_file is set
  std::string spec_file;     // read the spec from this file instead of spec_fd
  // When set, the spec must be for this run and attempt (the pod's arguments are checked
  // against its mounted spec); the attempt is also what the runner reports to the API.
  std::string run_id;
  int attempt = 0;  // 0: take the spec's
  // Events over HTTP (a Kubernetes pod): POST to events_url with the runner token read from
  // token_file (required with events_url; surrounding whitespace is ignored).
  std::string events_url;
  std::string token_file;
  // X-Agentd-Runner; empty: $HOSTNAME (the pod name), else the host name.
  std::string runner_instance;
  // For tests: the transport of the events (default: a CurlHttpTransport) and the tuning of
  // their delivery (url, token, attempt and instance are filled in by RunnerMain).
  httpclient::HttpTransport* events_transport = nullptr;
  HttpEventSinkOptions events_delivery;
  std::chrono::milliseconds events_drain_timeout{120'000};
  // Base delay of the retry backoff; default from AGENTD_RUNNER_RETRY_BASE_MS, else 500 ms.
  std::optional<std::chrono::milliseconds> retry_base_delay;
};

// Runs one attempt of a run and returns the process exit code (see above).
int RunnerMain(const RunnerOptions& options);

}  // namespace agentd::runner
