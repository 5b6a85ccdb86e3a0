#include "runner/runner_main.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/v1/runner_protocol.h"
#include "core/env.h"
#include "core/log.h"
#include "httpclient/curl_transport.h"
#include "runner/agent_loop.h"
#include "runner/event_writer.h"
#include "runner/http_event_sink.h"
#include "runner/providers/provider_factory.h"
#include "runner/stop_signal.h"
#include "runner/tools/toolset.h"
#include "runner/tools/workspace.h"

namespace agentd::runner {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr char kSignalByte = 'T';
constexpr char kQuitByte = 'Q';

// The write end of the self-pipe, for the signal handler (-1 when no runner is active).
std::atomic<int> g_signal_write_fd{-1};

extern "C" void OnStopSignal(int /*signo*/) {
  int saved_errno = errno;
  int fd = g_signal_write_fd.load();
  if (fd >= 0) {
    char byte = kSignalByte;
    [[maybe_unused]] ssize_t ignored = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

// Turns SIGTERM/SIGINT and the run's deadline into StopSignal::Stop on a thread of its own
// (signal handlers may only write to the self-pipe).
class Watchdog {
 public:
  explicit Watchdog(StopSignal& stop) : stop_(stop) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      core::LogError("runner cannot create its signal pipe", {{"error", std::strerror(errno)}});
      return;
    }
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    g_signal_write_fd.store(write_fd_);
    struct sigaction action {};
    action.sa_handler = &OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, &old_term_);
    ::sigaction(SIGINT, &action, &old_int_);
    installed_ = true;
  }

  ~Watchdog() {
    if (!installed_) return;
    char quit = kQuitByte;
    [[maybe_unused]] ssize_t ignored = ::write(write_fd_, &quit, 1);
    if (thread_.joinable()) thread_.join();
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
    g_signal_write_fd.store(-1);
    ::close(read_fd_);
    ::close(write_fd_);
  }

  // Starts watching; `timeout` <= 0 means no deadline.
  void Start(std::chrono::seconds timeout) {
    if (!installed_) return;
    std::optional<SteadyClock::time_point> deadline;
    if (timeout.count() > 0) deadline = SteadyClock::now() + timeout;
    thread_ = std::thread([this, deadline] { Watch(deadline); });
  }

 private:
  void Watch(std::optional<SteadyClock::time_point> deadline) {
    while (true) {
      int wait_ms = -1;
      if (deadline) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - SteadyClock::now());
        wait_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60'000));
      }
      pollfd p{.fd = read_fd_, .events = POLLIN, .revents = 0};
      int ready = ::poll(&p, 1, wait_ms);
      if (ready > 0) {
        char bytes[64];
        ssize_t n = ::read(read_fd_, bytes, sizeof(bytes));
        for (ssize_t i = 0; i < n; ++i) {
          if (bytes[i] == kQuitByte) return;
          if (bytes[i] == kSignalByte) stop_.Stop(StopCause::kInterrupted);
        }
      }
      if (deadline && SteadyClock::now() >= *deadline) {
        stop_.Stop(StopCause::kTimedOut);
        deadline.reset();
      }
    }
  }

  StopSignal& stop_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool installed_ = false;
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
  std::thread thread_;
};

// All of `fd`, at most `max_bytes`; `what` names it in errors.
core::Result<std::string> ReadAll(int fd, size_t max_bytes, const std::string& what) {
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::InvalidArgument("cannot read the " + what + ": " + std::strerror(errno));
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > max_bytes) {
      return core::InvalidArgument("the " + what + " is larger than " + std::to_string(max_bytes) +
                                   " bytes");
    }
  }
}

core::Result<std::string> ReadFileText(const std::string& path, size_t max_bytes,
                                       const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return core::InvalidArgument("cannot open the " + what + " " + path + ": " +
                                 std::strerror(errno));
  }
  auto text = ReadAll(fd, max_bytes, what + " " + path);
  ::close(fd);
  return text;
}

core::Result<api::v1::RunnerSpec> LoadSpec(const RunnerOptions& options) {
  AGENTD_ASSIGN_OR_RETURN(std::string text,
                          options.spec_file.empty()
                              ? ReadAll(options.spec_fd, kMaxSpecBytes, "runner spec")
                              : ReadFileText(options.spec_file, kMaxSpecBytes, "runner spec"));
  AGENTD_ASSIGN_OR_RETURN(core::Json json,
                          core::ParseJson(text, {.max_bytes = kMaxSpecBytes, .max_depth = 64}));
  AGENTD_ASSIGN_OR_RETURN(api::v1::RunnerSpec spec, api::v1::RunnerSpecFromJson(json));
  if (!options.run_id.empty() && options.run_id != spec.run_id) {
    return core::InvalidArgument("the runner spec is for run \"" + spec.run_id.substr(0, 100) +
                                 "\", not --run-id " + options.run_id.substr(0, 100));
  }
  if (options.attempt > 0 && options.attempt != spec.attempt) {
    return core::InvalidArgument("the runner spec is for attempt " + std::to_string(spec.attempt) +
                                 ", not --attempt " + std::to_string(options.attempt));
  }
  return spec;
}

std::string_view TrimSpace(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// The runner instance id: the option, else $HOSTNAME (a pod's name), else the host name.
std::string RunnerInstance(const RunnerOptions& options) {
  if (!options.runner_instance.empty()) return options.runner_instance;
  if (auto host = core::GetEnv("HOSTNAME"); host && !host->empty()) return *host;
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0) return name;
  return "";
}

// Where and how to POST the events, from the options, the token file and the spec.
core::Result<HttpEventSinkOptions> EventDelivery(const RunnerOptions& options,
                                                 const core::Result<api::v1::RunnerSpec>& spec) {
  HttpEventSinkOptions delivery = options.events_delivery;
  delivery.url = options.events_url;
  if (options.token_file.empty()) {
    return core::InvalidArgument("--events-url needs --token-file (the runner token)");
  }
  AGENTD_ASSIGN_OR_RETURN(std::string token,
                          ReadFileText(options.token_file, kMaxTokenBytes, "runner token file"));
  delivery.token = std::string(TrimSpace(token));
  if (delivery.token.empty()) {
    return core::InvalidArgument("the runner token file " + options.token_file + " is empty");
  }
  for (char c : delivery.token) {
    if (c < 0x21 || c > 0x7e) {
      return core::InvalidArgument("the runner token in " + options.token_file +
                                   " has characters other than printable ASCII");
    }
  }
  delivery.attempt = options.attempt > 0 ? options.attempt : spec.ok() ? spec->attempt : 0;
  if (delivery.attempt < 1) {
    return core::InvalidArgument("the attempt is unknown: pass --attempt (the spec is unreadable)");
  }
  delivery.runner_instance = RunnerInstance(options);
  if (!api::v1::IsValidRunnerInstance(delivery.runner_instance)) {
    return core::InvalidArgument("the runner instance \"" + delivery.runner_instance.substr(0, 60) +
                                 "\" (from $HOSTNAME) is not 1-253 letters, digits, '.', '_' "
                                 "or '-'");
  }
  return delivery;
}

core::Result<Workspace> OpenOrCreateWorkspace(const std::string& path) {
  auto workspace = Workspace::Open(path);
  if (!workspace.ok() && workspace.error().code == core::ErrorCode::kNotFound &&
      ::mkdir(path.c_str(), 0700) == 0) {
    return Workspace::Open(path);
  }
  return workspace;
}

std::chrono::milliseconds RetryBaseDelay(const RunnerOptions& options) {
  if (options.retry_base_delay) return *options.retry_base_delay;
  if (auto text = core::GetEnv(kRetryBaseEnv)) {
    auto ms = core::ParseInt(*text, 0, 60'000, kRetryBaseEnv);
    if (ms.ok()) return std::chrono::milliseconds(*ms);
    core::LogWarn("ignoring invalid retry base delay", {{"error", ms.error().message}});
  }
  return std::chrono::milliseconds(500);
}

std::string FormatDelay(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return text;
}

int ExitCodeFor(const RunOutcome& outcome) {
  if (outcome.succeeded) return 0;
  if (outcome.reason == kReasonInvalidSpec) return 2;
  if (outcome.reason == kReasonInterrupted) return 3;
  return 1;
}

int Finish(EventSink& events, const RunOutcome& outcome) {
  events.Emit("result", ResultEventData(outcome));
  return ExitCodeFor(outcome);
}

RunOutcome FailedBefore(const char* reason, const core::Error& error) {
  return RunOutcome{.succeeded = false, .error = error.message, .reason = reason};
}

// Runs the attempt, reporting to `events`; returns the exit code.
int Execute(const RunnerOptions& options, const core::Result<api::v1::RunnerSpec>& spec,
            EventSink& events, StopSignal& stop, Watchdog& watchdog, core::Clock& clock) {
  if (!spec.ok()) return Finish(events, FailedBefore(kReasonInvalidSpec, spec.error()));

  httpclient::CurlHttpTransport transport;
  ProviderDeps provider_deps{
      .transport = &transport,
      .stop = &stop,
      .clock = &clock,
      .retry_base_delay = RetryBaseDelay(options),
      .on_retry =
          [&events](const RetryNotice& n) {
            events.Emit("error",
                        {{"message", "model call failed (attempt " + std::to_string(n.attempt) +
                                         " of " + std::to_string(n.max_retries + 1) +
                                         "), retrying in " + FormatDelay(n.delay) + ": " + n.error},
                         {"retryable", true}});
          },
      .get_env = nullptr};
  auto provider = NewModelProvider(spec->model, provider_deps);
  if (!provider.ok()) {
    const char* reason = provider.error().code == core::ErrorCode::kInvalidArgument
                             ? kReasonInvalidSpec
                             : kReasonModelError;
    return Finish(events, FailedBefore(reason, provider.error()));
  }

  auto workspace = OpenOrCreateWorkspace(spec->workspace);
  if (!workspace.ok()) {
    return Finish(events, FailedBefore(kReasonWorkspaceError, workspace.error()));
  }
  ToolsetOptions tool_options;
  auto max_output =
      static_cast<size_t>(std::max<int64_t>(1024, spec->limits.max_tool_output_bytes));
  tool_options.files.max_read_bytes = std::min<size_t>(1 << 20, max_output);
  tool_options.shell.timeout = spec->limits.shell_timeout;
  tool_options.shell.max_output_bytes = max_output;
  if (!spec->model.api_key_env.empty()) {
    tool_options.shell.hidden_env.push_back(spec->model.api_key_env);
  }
  auto tools = NewTools(spec->tools, *workspace, stop, tool_options);
  if (!tools.ok()) return Finish(events, FailedBefore(kReasonInvalidSpec, tools.error()));

  watchdog.Start(spec->limits.timeout);
  events.Emit("phase", {{"phase", "Running"}});
  core::LogInfo("runner started", {{"runId", spec->run_id},
                                   {"attempt", spec->attempt},
                                   {"model", spec->model.model},
                                   {"tools", spec->tools}});
  RunOutcome outcome = RunAgentLoop(
      *spec,
      AgentLoopDeps{
          .provider = **provider, .tools = *tools, .events = events, .clock = clock, .stop = stop});
  core::LogInfo("runner finished", {{"runId", spec->run_id},
                                    {"reason", outcome.reason},
                                    {"turns", outcome.turns},
                                    {"costMicros", outcome.cost_micros}});
  return Finish(events, outcome);
}

}  // namespace

int RunnerMain(const RunnerOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  StopSignal stop;
  Watchdog watchdog(stop);  // handlers first: a SIGTERM from now on is a clean stop

  int journal_fd = -1;
  if (!options.journal_path.empty()) {
    auto open_journal = [&] {
      return ::open(options.journal_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    };
    journal_fd = open_journal();
    if (journal_fd < 0 && errno == ENOENT) {
      // A pod's journal lives in a directory of its fresh workspace volume: create it (one level).
      const size_t slash = options.journal_path.rfind('/');
      if (slash != std::string::npos && slash > 0 &&
          ::mkdir(options.journal_path.substr(0, slash).c_str(), 0700) == 0) {
        journal_fd = open_journal();
      }
    }
    if (journal_fd < 0) {
      core::LogError("runner cannot open its journal",
                     {{"path", options.journal_path}, {"error", std::strerror(errno)}});
    }
  }
  struct JournalCloser {
    int fd;
    ~JournalCloser() {
      if (fd >= 0) ::close(fd);
    }
  } journal_closer{journal_fd};
  core::Clock& clock = core::SystemClock::Instance();
  const auto spec = LoadSpec(options);

  if (options.events_url.empty()) {
    int events_fd = options.events_fd;
    if (events_fd >= 0 && ::fcntl(events_fd, F_SETFD, FD_CLOEXEC) != 0) {
      core::LogWarn("runner events fd is not open; writing the journal only", {{"fd", events_fd}});
      events_fd = -1;
    }
    EventWriter events(journal_fd, events_fd, clock);
    return Execute(options, spec, events, stop, watchdog, clock);
  }

  auto delivery = EventDelivery(options, spec);
  if (!delivery.ok()) {
    // Nowhere to report to: the journal keeps the result and the exit code tells the executor.
    core::LogError("runner cannot send its events", {{"error", delivery.error().message}});
    EventWriter journal_only(journal_fd, -1, clock);
    Finish(journal_only, FailedBefore(kReasonInvalidSpec, delivery.error()));
    return 2;
  }
  std::optional<httpclient::CurlHttpTransport> own_transport;
  httpclient::HttpTransport& transport =
      options.events_transport != nullptr ? *options.events_transport : own_transport.emplace();
  HttpEventSink events(journal_fd, clock, transport, std::move(delivery).value(),
                       [&stop] { stop.Stop(StopCause::kEventsRefused); });
  int code = Execute(options, spec, events, stop, watchdog, clock);
  core::Status delivered = events.Close(options.events_drain_timeout);
  if (!delivered.ok()) {
    core::LogError("runner stopped: the control plane did not take all of its events",
                   {{"error", delivered.error().message}, {"exitCode", 1}});
    return 1;
  }
  return code;
}

}  // namespace agentd::runner
