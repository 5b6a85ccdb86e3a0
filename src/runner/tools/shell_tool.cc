#include "runner/tools/shell_tool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/text_limits.h"

extern char** environ;  // NOLINT: POSIX

namespace agentd::runner {
namespace {

using core::Json;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxCommandBytes = 64 * 1024;
constexpr std::chrono::milliseconds kTick{50};
// After the shell exits, how long to wait for the pipe to close (a daemon that left the group
// may hold it open forever).
constexpr std::chrono::milliseconds kDrainAfterExit{500};
constexpr std::chrono::milliseconds kReapLimit{2'000};

// Keeps the first and the last half of `max` bytes of a stream.
class OutputCapture {
 public:
  explicit OutputCapture(size_t max) : max_(std::max<size_t>(max, 16)) {}

  void Append(std::string_view data) {
    total_ += data.size();
    size_t room = max_ - std::min(max_, head_.size());
    size_t to_head = std::min(room, data.size());
    head_.append(data.substr(0, to_head));
    data.remove_prefix(to_head);
    if (data.empty()) return;
    tail_.append(data);
    if (tail_.size() > 2 * max_) tail_.erase(0, tail_.size() - max_);
  }

  BoundedText Text() const {
    if (tail_.empty()) return {head_, false};
    std::string_view first = Utf8Prefix(head_, max_ / 2);
    std::string rest = head_.substr(max_ / 2) + tail_;
    std::string_view last = Utf8Suffix(rest, max_ / 2);
    std::string out(first);
    out += "\n[... " + std::to_string(total_ - first.size() - last.size()) +
           " bytes of output omitted ...]\n";
    out += last;
    return {std::move(out), true};
  }

 private:
  const size_t max_;
  size_t total_ = 0;
  std::string head_;
  std::string tail_;  // bytes after head_, trimmed to the most recent ones
};

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

class ShellTool final : public Tool {
 public:
  ShellTool(const Workspace& workspace, const StopSignal& stop, ShellOptions options)
      : workspace_(workspace), stop_(stop), options_(std::move(options)) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      std::string_view name = entry.substr(0, entry.find('='));
      bool hidden = name.starts_with("AGENTD_") ||
                    std::find(options_.hidden_env.begin(), options_.hidden_env.end(), name) !=
                        options_.hidden_env.end();
      if (!hidden) env_.emplace_back(entry);
    }
  }

  std::string_view name() const override { return "shell"; }
  std::string_view description() const override {
    return "Run a command with /bin/sh -c in the workspace directory. Returns its combined "
           "stdout and stderr (long output is cut in the middle) and its exit code. Background "
           "processes are killed when the command finishes.";
  }
  const Json& parameters() const override {
    static const Json kSchema = {
        {"type", "object"},
        {"properties",
         {{"command", {{"type", "string"}, {"description", "The shell command line"}}},
          {"timeout_seconds",
           {{"type", "integer"},
            {"description",
             "Stop the command after this many seconds (capped by the run's "
             "shell timeout)"}}}}},
        {"required", {"command"}}};
    return kSchema;
  }

  core::Result<ToolOutput> Call(const Json& args) override {
    if (!args.is_object()) return core::InvalidArgument("shell arguments must be a JSON object");
    AGENTD_ASSIGN_OR_RETURN(std::string command, core::RequiredString(args, "command", "shell"));
    AGENTD_ASSIGN_OR_RETURN(auto timeout_arg, core::OptionalInt(args, "timeout_seconds", "shell"));
    if (command.empty()) return core::InvalidArgument("shell command is empty");
    if (command.size() > kMaxCommandBytes) {
      return core::InvalidArgument("shell command is longer than " +
                                   std::to_string(kMaxCommandBytes) + " bytes");
    }
    if (command.find('\0') != std::string::npos) {
      return core::InvalidArgument("shell command contains a NUL byte");
    }
    auto timeout = options_.timeout;
    if (timeout_arg) {
      if (*timeout_arg < 1) return core::InvalidArgument("shell timeout_seconds must be >= 1");
      timeout = std::min<std::chrono::milliseconds>(
          timeout, std::chrono::seconds(std::min<int64_t>(*timeout_arg, 1'000'000)));
    }
    if (stop_.stopped()) return core::Aborted("the run is stopping; command not started");
    return Run(command, timeout);
  }

 private:
  core::Result<ToolOutput> Run(const std::string& command, std::chrono::milliseconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return core::Internal(std::string("pipe: ") + std::strerror(errno));
    }
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    ::fcntl(read_end.get(), F_SETFL, ::fcntl(read_end.get(), F_GETFL) | O_NONBLOCK);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
    posix_spawn_file_actions_addchdir_np(&actions, workspace_.root().c_str());
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all;
    sigset_t none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);  // SIGPIPE is ignored in the runner
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<char*> envp;
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string sh = "/bin/sh";
    std::string dash_c = "-c";
    std::string command_copy = command;
    char* argv[] = {sh.data(), dash_c.data(), command_copy.data(), nullptr};
    pid_t pid = -1;
    int spawn_error = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    write_end = UniqueFd();  // the child has its copies
    if (spawn_error != 0) {
      return core::Internal(std::string("cannot start /bin/sh: ") + std::strerror(spawn_error));
    }

    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    OutputCapture capture(options_.max_output_bytes);
    enum class Ending { kExited, kTimedOut, kInterrupted } ending = Ending::kExited;
    auto deadline = SteadyClock::now() + timeout;
    bool terminating = false;
    bool killed = false;
    SteadyClock::time_point kill_at;
    bool exited = false;
    int wait_status = 0;
    bool pipe_open = true;
    SteadyClock::time_point drain_until;
    char buffer[16 * 1024];
    while (true) {
      pollfd pfds[2];
      nfds_t count = 0;
      if (pipe_open) pfds[count++] = {.fd = read_end.get(), .events = POLLIN, .revents = 0};
      if (!exited && pidfd.valid()) {
        pfds[count++] = {.fd = pidfd.get(), .events = POLLIN, .revents = 0};
      }
      ::poll(pfds, count, static_cast<int>(kTick.count()));
      while (pipe_open) {
        ssize_t n = ::read(read_end.get(), buffer, sizeof(buffer));
        if (n > 0) {
          capture.Append(std::string_view(buffer, static_cast<size_t>(n)));
        } else if (n == 0) {
          pipe_open = false;
        } else if (errno != EINTR) {
          break;  // EAGAIN: nothing more for now
        }
      }
      auto now = SteadyClock::now();
      if (!exited && ::waitpid(pid, &wait_status, WNOHANG) == pid) {
        exited = true;
        ::kill(-pid, SIGKILL);  // whatever the command left running in its group
        drain_until = now + kDrainAfterExit;
      }
      if (exited) {
        if (!pipe_open || now >= drain_until) break;
        continue;
      }
      if (!terminating) {
        if (stop_.stopped()) {
          ending = Ending::kInterrupted;
          terminating = true;
        } else if (now >= deadline) {
          ending = Ending::kTimedOut;
          terminating = true;
        }
        if (terminating) {
          ::kill(-pid, SIGTERM);
          kill_at = now + options_.kill_grace;
        }
      } else if (!killed && now >= kill_at) {
        ::kill(-pid, SIGKILL);
        killed = true;
      }
    }
    ReapGroup(pid);

    BoundedText out = capture.Text();
    std::string text = std::move(out.text);
    if (!text.empty() && text.back() != '\n') text += '\n';
    bool ok = false;
    switch (ending) {
      case Ending::kTimedOut:
        text += "[timed out after " + FormatDuration(timeout) +
                "; the command and its processes were killed]";
        break;
      case Ending::kInterrupted:
        text += "[interrupted: the run is stopping]";
        break;
      case Ending::kExited:
        if (WIFEXITED(wait_status)) {
          ok = WEXITSTATUS(wait_status) == 0;
          text += "[exit code " + std::to_string(WEXITSTATUS(wait_status)) + "]";
        } else if (WIFSIGNALED(wait_status)) {
          text += "[killed by signal " + std::to_string(WTERMSIG(wait_status)) + "]";
        }
        break;
    }
    return ToolOutput{.ok = ok, .text = std::move(text), .truncated = out.truncated};
  }

  // Reaps processes of the group that were re-parented to us (we are a child subreaper in the
  // runner), so none lingers as a zombie.
  static void ReapGroup(pid_t pgid) {
    auto limit = SteadyClock::now() + kReapLimit;
    while (true) {
      pid_t r = ::waitpid(-pgid, nullptr, WNOHANG);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return;  // ECHILD: none of our children is left in the group
      if (SteadyClock::now() >= limit) return;
      ::poll(nullptr, 0, 5);
    }
  }

  const Workspace& workspace_;
  const StopSignal& stop_;
  const ShellOptions options_;
  std::vector<std::string> env_;
};

}  // namespace

std::unique_ptr<Tool> NewShellTool(const Workspace& workspace, const StopSignal& stop,
                                   ShellOptions options) {
  return std::make_unique<ShellTool>(workspace, stop, std::move(options));
}

}  // namespace agentd::runner
