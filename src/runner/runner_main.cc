#include "runner/runner_main.h"

#include <atomic>
#include <cerrno>
#include <cstring>
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

core::Result<std::string> ReadSpec(int fd) {
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::InvalidArgument(std::string("cannot read the runner spec: ") +
                                   std::strerror(errno));
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxSpecBytes) {
      return core::InvalidArgument("runner spec is larger than " + std::to_string(kMaxSpecBytes) +
                                   " bytes");
    }
  }
}

core::Result<api::v1::RunnerSpec> LoadSpec(int fd) {
  AGENTD_ASSIGN_OR_RETURN(std::string text, ReadSpec(fd));
  AGENTD_ASSIGN_OR_RETURN(core::Json json,
                          core::ParseJson(text, {.max_bytes = kMaxSpecBytes, .max_depth = 64}));
  return api::v1::RunnerSpecFromJson(json);
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

int Finish(EventWriter& events, const RunOutcome& outcome) {
  events.Emit("result", ResultEventData(outcome));
  return ExitCodeFor(outcome);
}

RunOutcome FailedBefore(const char* reason, const core::Error& error) {
  return RunOutcome{.succeeded = false, .error = error.message, .reason = reason};
}

}  // namespace

int RunnerMain(const RunnerOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  StopSignal stop;
  Watchdog watchdog(stop);  // handlers first: a SIGTERM from now on is a clean stop

  int events_fd = options.events_fd;
  if (events_fd >= 0 && ::fcntl(events_fd, F_SETFD, FD_CLOEXEC) != 0) {
    core::LogWarn("runner events fd is not open; writing the journal only", {{"fd", events_fd}});
    events_fd = -1;
  }
  int journal_fd = -1;
  if (!options.journal_path.empty()) {
    journal_fd = ::open(options.journal_path.c_str(),
                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
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
  EventWriter events(journal_fd, events_fd, clock);

  auto spec = LoadSpec(options.spec_fd);
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

}  // namespace agentd::runner
