#include "exec/local/local_process_executor.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "exec/local/line_splitter.h"
#include "exec/local/process_info.h"

namespace agentd::exec::local {

using api::v1::RunnerEvent;
using core::Json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kKindEvents = 0;
constexpr uint64_t kKindLog = 1;
constexpr uint64_t kKindPidfd = 2;
constexpr uint64_t kWakeToken = ~uint64_t{0};
constexpr uint64_t kInotifyToken = ~uint64_t{0} - 1;
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxSpecBytes = 1 << 20;  // the default /proc/sys/fs/pipe-max-size
constexpr size_t kRejectedLinePrefix = 1024;
constexpr int kChildFdFloor = 10;  // child-side fds are moved above this before the dup2s

uint64_t Token(uint64_t serial, uint64_t kind) { return (serial << 2) | kind; }

std::string ErrnoText(int err) { return std::error_code(err, std::system_category()).message(); }

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

core::Status MakeDirectory(const fs::path& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return core::Internal("cannot create directory " + path.string() + ": " + ec.message());
  if (::chmod(path.c_str(), 0700) != 0) {
    return core::Internal("cannot chmod 0700 " + path.string() + ": " + ErrnoText(errno));
  }
  return core::Ok();
}

// Moves a descriptor the child will receive above kChildFdFloor, so that none of the dup2s of
// the spawn can meet a source that is already its own target (dup2(3, 3) would keep CLOEXEC).
core::Result<UniqueFd> LiftFd(UniqueFd fd) {
  int lifted = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, kChildFdFloor);
  if (lifted < 0) return core::Unavailable("fcntl(F_DUPFD_CLOEXEC): " + ErrnoText(errno));
  return UniqueFd(lifted);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

core::Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return core::Unavailable("cannot create a pipe: " + ErrnoText(errno));
  }
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

core::Status SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return core::Internal("fcntl(O_NONBLOCK): " + ErrnoText(errno));
  }
  return core::Ok();
}

// Writes all of `data` to a non-blocking pipe sized to hold it. A runner that died before reading
// its spec is not an error here (its exit is reported by the watcher), so EPIPE is swallowed
// together with the SIGPIPE it raises, whatever this process does with SIGPIPE.
core::Status WriteSpec(int fd, std::string_view data) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  core::Status status = core::Ok();
  bool broken = false;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      broken = true;
      break;
    }
    if (n < 0) {
      status = core::Internal("cannot write the runner spec to its stdin: " + ErrnoText(errno));
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (broken) {
    timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return status;
}

std::map<std::string, std::string> RunnerEnvironment(
    const api::v1::RunnerSpec& spec, const std::map<std::string, std::string>& extra,
    const std::map<std::string, std::string>& request_env) {
  std::map<std::string, std::string> env;
  auto copy = [&env](const std::string& name) {
    if (const char* value = std::getenv(name.c_str()); value != nullptr) env[name] = value;
  };
  for (const char* name : {"PATH", "HOME", "LANG", "TZ", "AGENTD_RUNNER_RETRY_BASE_MS"}) {
    copy(name);
  }
  if (!spec.model.api_key_env.empty()) copy(spec.model.api_key_env);
  for (const auto& [k, v] : extra) env[k] = v;
  for (const auto& [k, v] : request_env) env[k] = v;
  return env;
}

core::Status WriteFileAtomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return core::Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return core::Internal("cannot rename " + tmp.string() + ": " + ec.message());
  return core::Ok();
}

RunnerEvent LogEvent(core::TimePoint now, Json data) {
  RunnerEvent event;
  event.seq = 0;
  event.type = "log";
  event.time = now;
  event.data = std::move(data);
  return event;
}

}  // namespace

// One runner being watched. Fields marked (mu_) are shared with Stop(); the rest belong to the
// watcher thread once the Proc is registered.
struct LocalProcessExecutor::Proc {
  uint64_t serial = 0;
  std::string run_id;
  int attempt = 0;
  pid_t pid = -1;
  pid_t pgid = -1;
  bool own_child = false;     // spawned here: reap it, kill what is left of its group on exit
  bool adopted = false;       // started by an earlier agentd: follow the journal
  bool adopted_dead = false;  // adopted, already gone: read the journal once, then exit
  std::string gone_detail;

  UniqueFd pidfd;
  UniqueFd events_fd;
  UniqueFd log_fd;
  LineSplitter event_lines{api::v1::kMaxRunnerEventBytes};
  LineSplitter log_lines{4096};

  fs::path journal;
  UniqueFd journal_fd;
  LineSplitter journal_lines{api::v1::kMaxRunnerEventBytes};
  int watch = -1;        // inotify watch on the journal's directory
  int64_t last_seq = 0;  // journal lines with seq <= last_seq were committed already

  std::optional<Json> last_result;
  bool exit_seen = false;  // watcher only: FinishExit is due this round

  // Log rate cap.
  std::chrono::steady_clock::time_point window_start{};
  int lines_in_window = 0;
  int64_t dropped = 0;

  std::optional<StopReason> stopped;                             // (mu_)
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // (mu_)
  bool exiting = false;                                          // (mu_)
};

struct LocalProcessExecutor::Delivery {
  std::vector<RunnerEvent> events;
  std::optional<ExitInfo> exit;
};

core::Result<std::unique_ptr<LocalProcessExecutor>> LocalProcessExecutor::Create(
    Options options, ExecutionListener& listener, core::Clock& clock) {
  if (options.runner_path.empty()) return core::InvalidArgument("runner path is empty");
  if (::access(options.runner_path.c_str(), X_OK) != 0) {
    return core::InvalidArgument("runner \"" + options.runner_path +
                                 "\" is not executable: " + ErrnoText(errno));
  }
  if (options.workspace_root.empty() || options.state_dir.empty()) {
    return core::InvalidArgument("local executor needs a workspace root and a state directory");
  }
  if (options.max_log_line_bytes == 0 || options.max_log_lines_per_second <= 0) {
    return core::InvalidArgument("local executor log limits must be positive");
  }
  std::error_code ec;
  options.workspace_root = fs::absolute(options.workspace_root, ec);
  options.state_dir = fs::absolute(options.state_dir, ec);
  std::unique_ptr<LocalProcessExecutor> executor(
      new LocalProcessExecutor(std::move(options), listener, clock));
  AGENTD_RETURN_IF_ERROR(executor->Init());
  return executor;
}

LocalProcessExecutor::LocalProcessExecutor(Options options, ExecutionListener& listener,
                                           core::Clock& clock)
    : options_(std::move(options)), listener_(listener), clock_(clock), boot_id_(ReadBootId()) {}

core::Status LocalProcessExecutor::Init() {
  std::error_code ec;
  fs::create_directories(options_.workspace_root, ec);
  if (ec) {
    return core::InvalidArgument("cannot create the workspace root " +
                                 options_.workspace_root.string() + ": " + ec.message());
  }
  AGENTD_RETURN_IF_ERROR(MakeDirectory(options_.state_dir / "runs"));
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || inotify_fd_ < 0) {
    return core::Internal("local executor cannot create its descriptors: " + ErrnoText(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ev.data.u64 = kInotifyToken;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, inotify_fd_, &ev);
  watcher_ = std::thread([this] { WatchLoop(); });
  return core::Ok();
}

LocalProcessExecutor::~LocalProcessExecutor() {
  Shutdown();
  procs_.clear();  // closes our pipe ends; the runners keep running and are adopted later
  for (int fd : {epoll_fd_, wake_fd_, inotify_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

fs::path LocalProcessExecutor::WorkspacePath(std::string_view run_id) const {
  return options_.workspace_root / std::string(run_id);
}
fs::path LocalProcessExecutor::JournalPath(std::string_view run_id, int attempt) const {
  return options_.state_dir / "runs" / std::string(run_id) /
         ("attempt-" + std::to_string(attempt) + ".jsonl");
}
fs::path LocalProcessExecutor::HandlePath(std::string_view run_id, int attempt) const {
  return options_.state_dir / "runs" / std::string(run_id) /
         ("attempt-" + std::to_string(attempt) + ".handle.json");
}

size_t LocalProcessExecutor::ActiveCount() const {
  std::lock_guard lock(mu_);
  return procs_.size();
}

void LocalProcessExecutor::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

core::Result<Json> LocalProcessExecutor::Start(const StartRequest& request) {
  const std::string& run_id = request.run.id;
  const int attempt = std::max(1, request.run.attempts);
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return core::Unavailable("local executor is shut down");
    if (procs_.count(run_id) != 0) {
      return core::FailedPrecondition("run " + run_id + " is already executing");
    }
  }
  if (run_id.empty() || run_id.find('/') != std::string::npos || run_id[0] == '.') {
    return core::InvalidArgument("run id \"" + run_id + "\" cannot name a directory");
  }

  const fs::path workspace = WorkspacePath(run_id);
  const fs::path journal = JournalPath(run_id, attempt);
  AGENTD_RETURN_IF_ERROR(MakeDirectory(workspace));
  AGENTD_RETURN_IF_ERROR(MakeDirectory(journal.parent_path()));

  api::v1::RunnerSpec spec = request.spec;
  spec.run_id = run_id;
  spec.attempt = attempt;
  spec.workspace = workspace.string();
  const std::string spec_text = core::DumpJson(api::v1::RunnerSpecToJson(spec));
  if (spec_text.size() > kMaxSpecBytes) {
    return core::InvalidArgument("runner spec of run " + run_id + " is " +
                                 std::to_string(spec_text.size()) + " bytes; the limit is " +
                                 std::to_string(kMaxSpecBytes));
  }

  AGENTD_ASSIGN_OR_RETURN(Pipe stdin_pipe, MakePipe());
  AGENTD_ASSIGN_OR_RETURN(Pipe events_pipe, MakePipe());
  AGENTD_ASSIGN_OR_RETURN(Pipe log_pipe, MakePipe());
  // The whole spec goes into the pipe at once, so Start never waits for the runner to read.
  if (spec_text.size() > 60 * 1024 &&
      ::fcntl(stdin_pipe.write.get(), F_SETPIPE_SZ, static_cast<int>(spec_text.size())) < 0) {
    return core::Internal("cannot grow the stdin pipe for a " + std::to_string(spec_text.size()) +
                          "-byte spec: " + ErrnoText(errno));
  }
  AGENTD_RETURN_IF_ERROR(SetNonBlocking(stdin_pipe.write.get()));
  AGENTD_RETURN_IF_ERROR(SetNonBlocking(events_pipe.read.get()));
  AGENTD_RETURN_IF_ERROR(SetNonBlocking(log_pipe.read.get()));
  AGENTD_ASSIGN_OR_RETURN(UniqueFd child_stdin, LiftFd(std::move(stdin_pipe.read)));
  AGENTD_ASSIGN_OR_RETURN(UniqueFd child_events, LiftFd(std::move(events_pipe.write)));
  AGENTD_ASSIGN_OR_RETURN(UniqueFd child_log, LiftFd(std::move(log_pipe.write)));

  // argv and envp outlive posix_spawn.
  std::vector<std::string> args = {options_.runner_path, "runner",        "--events-fd", "3",
                                   "--journal",          journal.string()};
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : RunnerEnvironment(spec, options_.env, request.env)) {
    env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_stdin.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, child_log.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, child_log.get(), 2);
  posix_spawn_file_actions_adddup2(&actions, child_events.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t empty_mask, all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &all_signals);

  pid_t pid = -1;
  int err =
      ::posix_spawn(&pid, options_.runner_path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  child_stdin.Reset();
  child_events.Reset();
  child_log.Reset();
  if (err != 0) {
    std::string message = "cannot start runner " + options_.runner_path + " for run " + run_id +
                          ": " + ErrnoText(err);
    if (err == EAGAIN || err == ENOMEM || err == EMFILE || err == ENFILE) {
      return core::Unavailable(message);
    }
    return core::Internal(message);
  }

  // From here on a process exists: any failure must take it down again.
  auto abandon = [pid](core::Error error) -> core::Error {
    ::kill(-pid, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
    return error;
  };
  // The child is ours and not reaped, so its /proc entry exists even if it already exited.
  auto start_time = ReadProcessStartTime(pid);
  if (!start_time.ok()) return abandon(start_time.error());
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd.valid()) {
    return abandon(
        core::Unavailable("pidfd_open(" + std::to_string(pid) + "): " + ErrnoText(errno)));
  }
  core::Status wrote = WriteSpec(stdin_pipe.write.get(), spec_text);
  stdin_pipe.write.Reset();
  if (!wrote.ok()) return abandon(wrote.error());

  Json handle = {{"kind", "local"},
                 {"pid", pid},
                 {"startTime", *start_time},
                 {"pgid", pid},
                 {"bootId", boot_id_},
                 {"journal", journal.string()},
                 {"workspace", workspace.string()}};
  if (auto saved = WriteFileAtomically(HandlePath(run_id, attempt), handle.dump()); !saved.ok()) {
    // The store gets the handle too; this copy only covers a crash before that write.
    core::LogWarn("cannot save the runner handle file",
                  {{"run", run_id}, {"error", saved.error().message}});
  }

  auto proc = std::make_unique<Proc>();
  proc->run_id = run_id;
  proc->attempt = attempt;
  proc->pid = pid;
  proc->pgid = pid;
  proc->own_child = true;
  proc->pidfd = std::move(pidfd);
  proc->events_fd = std::move(events_pipe.read);
  proc->log_fd = std::move(log_pipe.read);
  proc->log_lines = LineSplitter(options_.max_log_line_bytes);
  proc->journal = journal;
  if (auto registered = Register(std::move(proc)); !registered.ok()) {
    return abandon(registered.error());
  }
  return handle;
}

core::Status LocalProcessExecutor::Register(std::unique_ptr<Proc> proc) {
  std::lock_guard lock(mu_);
  if (shut_down_) return core::Unavailable("local executor is shut down");
  if (procs_.count(proc->run_id) != 0) {
    return core::FailedPrecondition("run " + proc->run_id + " is already executing");
  }
  proc->serial = next_serial_++;
  Proc* p = proc.get();
  auto add = [this, p](int fd, uint64_t kind) {
    if (fd < 0) return true;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(p->serial, kind);
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  by_serial_[p->serial] = p;
  procs_[p->run_id] = std::move(proc);
  bool ok = add(p->events_fd.get(), kKindEvents) && add(p->log_fd.get(), kKindLog) &&
            add(p->pidfd.get(), kKindPidfd);
  if (!ok) {
    int err = errno;
    for (int fd : {p->events_fd.get(), p->log_fd.get(), p->pidfd.get()}) {
      if (fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    }
    by_serial_.erase(p->serial);
    procs_.erase(p->run_id);
    return core::Unavailable("epoll_ctl: " + ErrnoText(err));
  }
  if (p->adopted) {
    if (!p->adopted_dead) {
      p->watch = ::inotify_add_watch(inotify_fd_, p->journal.parent_path().c_str(),
                                     IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
      if (p->watch >= 0) by_watch_[p->watch] = p;
    }
    pending_.push_back(p);
  }
  return core::Ok();
}

// Watcher thread only. The caller keeps ownership of the returned Proc alive until it has made
// its last listener call with it.
void LocalProcessExecutor::Unregister(Proc& proc) {
  for (UniqueFd* fd : {&proc.events_fd, &proc.log_fd, &proc.pidfd}) {
    if (fd->valid()) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd->get(), nullptr);
  }
  if (proc.watch >= 0) {
    ::inotify_rm_watch(inotify_fd_, proc.watch);
    by_watch_.erase(proc.watch);
  }
  by_serial_.erase(proc.serial);
}

core::Status LocalProcessExecutor::Stop(const std::string& run_id, StopReason reason) {
  {
    std::lock_guard lock(mu_);
    auto it = procs_.find(run_id);
    if (it == procs_.end()) return core::NotFound("run " + run_id + " is not executing here");
    Proc& proc = *it->second;
    if (proc.exiting || proc.stopped) return core::Ok();
    proc.stopped = reason;
    if (proc.adopted_dead) return core::Ok();
    // The leader is not reaped while it is in procs_ (the watcher reaps after removing it), so
    // the group id cannot have been reused.
    if (::kill(-proc.pgid, SIGTERM) != 0 && errno != ESRCH) {
      core::LogWarn("cannot signal a runner's process group",
                    {{"run", run_id}, {"pgid", proc.pgid}, {"error", ErrnoText(errno)}});
    }
    proc.kill_at = clock_.SteadyNow() + options_.stop_grace;
  }
  core::LogInfo("stopping runner", {{"run", run_id},
                                    {"reason", StopReasonName(reason)},
                                    {"graceMs", options_.stop_grace.count()}});
  Wake();
  return core::Ok();
}

core::Result<bool> LocalProcessExecutor::Adopt(const runs::Run& run) {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return core::Unavailable("local executor is shut down");
    if (procs_.count(run.id) != 0) return true;
  }
  const int attempt = std::max(1, run.attempts);
  Json handle = run.executor_handle;
  if (!handle.is_object() || !handle.contains("pid")) {
    // The store never got the handle (agentd stopped between the spawn and that write): use the
    // copy written next to the journal right after the spawn.
    std::ifstream in(HandlePath(run.id, attempt));
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = core::ParseJson(text.str());
    handle = parsed.ok() ? *parsed : Json::object();
  }
  if (handle.contains("kind") && handle["kind"] != "local") {
    return core::InvalidArgument("run " + run.id + " has an executor handle of kind " +
                                 handle["kind"].dump() + "; this executor runs local processes");
  }

  auto proc = std::make_unique<Proc>();
  proc->run_id = run.id;
  proc->attempt = attempt;
  proc->adopted = true;
  proc->last_seq = run.runner_seq;
  proc->journal = JournalPath(run.id, attempt);
  if (auto j = handle.find("journal"); j != handle.end() && j->is_string()) {
    proc->journal = j->get<std::string>();
  }

  bool alive = false;
  std::string why_gone = "no runner process was recorded for this attempt";
  auto pid_it = handle.find("pid");
  auto start_it = handle.find("startTime");
  if (pid_it != handle.end() && pid_it->is_number_integer() && start_it != handle.end() &&
      start_it->is_number_integer()) {
    const pid_t pid = pid_it->get<pid_t>();
    const uint64_t start_time = start_it->get<uint64_t>();
    std::string boot_id = handle.value("bootId", std::string());
    if (pid <= 1) {
      why_gone = "the recorded runner pid is invalid";
    } else if (!boot_id.empty() && !boot_id_.empty() && boot_id != boot_id_) {
      why_gone = "the machine rebooted since the runner started";
    } else {
      auto now_start = ReadProcessStartTime(pid);
      if (now_start.ok() && *now_start == start_time) {
        UniqueFd pidfd(PidfdOpen(pid));
        // Check again with the pidfd held: now the pid cannot be reused under us.
        auto again = ReadProcessStartTime(pid);
        if (pidfd.valid() && again.ok() && *again == start_time) {
          alive = true;
          proc->pid = pid;
          proc->pgid = handle.value("pgid", pid);
          proc->pidfd = std::move(pidfd);
        }
      }
      if (!alive) why_gone = "runner process disappeared while agentd was down";
    }
  }
  if (!alive) {
    proc->adopted_dead = true;
    proc->gone_detail = why_gone;
  }
  core::LogInfo(alive ? "adopting a running runner" : "runner of an unfinished run is gone",
                {{"run", run.id}, {"attempt", attempt}, {"pid", proc->pid}});
  AGENTD_RETURN_IF_ERROR(Register(std::move(proc)));
  Wake();
  return alive;
}

void LocalProcessExecutor::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_ = true;
  Wake();
  if (watcher_.joinable()) watcher_.join();
}

int LocalProcessExecutor::NextTimeoutMs() {
  std::lock_guard lock(mu_);
  std::optional<std::chrono::steady_clock::time_point> next;
  for (const auto& [id, proc] : procs_) {
    if (proc->kill_at && (!next || *proc->kill_at < *next)) next = proc->kill_at;
  }
  if (!next) return -1;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - clock_.SteadyNow());
  return static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 60'000));
}

void LocalProcessExecutor::FireTimers() {
  std::lock_guard lock(mu_);
  const auto now = clock_.SteadyNow();
  for (auto& [id, proc] : procs_) {
    if (!proc->kill_at || *proc->kill_at > now) continue;
    proc->kill_at.reset();
    if (proc->exiting) continue;
    core::LogWarn("runner outlived its stop grace period; killing its process group",
                  {{"run", id}, {"pgid", proc->pgid}});
    ::kill(-proc->pgid, SIGKILL);
  }
}

void LocalProcessExecutor::WatchLoop() {
  std::vector<epoll_event> events(64);
  while (!stopping_) {
    int n =
        ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      core::LogError("epoll_wait failed", {{"error", ErrnoText(errno)}});
      n = 0;
    }
    if (stopping_) break;

    std::map<Proc*, Delivery> batches;
    std::vector<Proc*> exited;
    auto mark_exited = [&exited](Proc* p) {
      if (!p->exit_seen) {
        p->exit_seen = true;
        exited.push_back(p);
      }
    };
    std::vector<Proc*> fresh;
    {
      std::lock_guard lock(mu_);
      fresh.swap(pending_);
    }
    for (Proc* p : fresh) {
      ReadJournal(*p, batches[p]);
      if (p->adopted_dead) mark_exited(p);
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t token = events[static_cast<size_t>(i)].data.u64;
      if (token == kWakeToken) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      if (token == kInotifyToken) {
        HandleInotify(batches);
        continue;
      }
      Proc* p = nullptr;
      {
        std::lock_guard lock(mu_);
        auto it = by_serial_.find(token >> 2);
        if (it != by_serial_.end()) p = it->second;
      }
      if (p == nullptr) continue;
      switch (token & 3) {
        case kKindEvents:
          ReadEvents(*p, batches[p], /*at_exit=*/false);
          break;
        case kKindLog:
          ReadLog(*p, batches[p], /*at_exit=*/false);
          break;
        case kKindPidfd:
          mark_exited(p);
          break;
        default:
          break;
      }
    }
    FireTimers();

    std::vector<std::unique_ptr<Proc>> finished;
    for (Proc* p : exited) {
      FinishExit(*p, batches[p]);
      std::lock_guard lock(mu_);
      Unregister(*p);
      auto it = procs_.find(p->run_id);
      finished.push_back(std::move(it->second));
      procs_.erase(it);
    }
    // No lock is held here: the listener may call back into Stop/Start/Adopt.
    for (auto& [p, delivery] : batches) {
      if (!delivery.events.empty()) {
        listener_.OnRunnerEvents(p->run_id, p->attempt, std::move(delivery.events));
      }
      if (delivery.exit) listener_.OnExit(p->run_id, p->attempt, *delivery.exit);
    }
  }
}

void LocalProcessExecutor::ReadEvents(Proc& proc, Delivery& out, bool at_exit) {
  if (!proc.events_fd.valid()) return;
  char buf[kReadChunk];
  std::vector<Line> lines;
  bool eof = false;
  for (;;) {
    ssize_t n = ::read(proc.events_fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = n == 0;
      break;
    }
    proc.event_lines.Append(std::string_view(buf, static_cast<size_t>(n)), lines);
    if (!at_exit && lines.size() >= 1024) break;  // let other runs have a turn
  }
  if (eof || at_exit) {
    if (auto rest = proc.event_lines.Flush()) lines.push_back(std::move(*rest));
  }
  for (auto& line : lines) AddEventLine(proc, line.text, line.truncated, out);
  if (eof) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, proc.events_fd.get(), nullptr);
    proc.events_fd.Reset();
  }
}

void LocalProcessExecutor::ReadLog(Proc& proc, Delivery& out, bool at_exit) {
  if (!proc.log_fd.valid()) return;
  char buf[kReadChunk];
  std::vector<Line> lines;
  bool eof = false;
  for (;;) {
    ssize_t n = ::read(proc.log_fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = n == 0;
      break;
    }
    proc.log_lines.Append(std::string_view(buf, static_cast<size_t>(n)), lines);
    if (!at_exit && lines.size() >= 1024) break;
  }
  if (eof || at_exit) {
    if (auto rest = proc.log_lines.Flush()) lines.push_back(std::move(*rest));
  }
  for (auto& line : lines) AddLogLine(proc, std::move(line.text), line.truncated, out);
  if (eof) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, proc.log_fd.get(), nullptr);
    proc.log_fd.Reset();
  }
}

void LocalProcessExecutor::AddEventLine(Proc& proc, std::string_view text, bool truncated,
                                        Delivery& out) {
  if (text.empty() && !truncated) return;
  std::string why;
  if (truncated) {
    why =
        "runner event line longer than " + std::to_string(api::v1::kMaxRunnerEventBytes) + " bytes";
  } else {
    auto parsed = api::v1::ParseRunnerEvent(text);
    if (parsed.ok()) {
      RunnerEvent event = std::move(parsed).value();
      if (event.time == core::TimePoint{}) event.time = clock_.Now();
      if (event.type == "result") proc.last_result = event.data;
      proc.last_seq = std::max(proc.last_seq, event.seq);
      out.events.push_back(std::move(event));
      return;
    }
    why = parsed.error().message;
  }
  out.events.push_back(LogEvent(
      clock_.Now(),
      {{"stream", "events"}, {"line", text.substr(0, kRejectedLinePrefix)}, {"rejected", why}}));
}

void LocalProcessExecutor::AddLogLine(Proc& proc, std::string text, bool truncated, Delivery& out) {
  const auto now = clock_.SteadyNow();
  if (now - proc.window_start >= std::chrono::seconds(1)) {
    FlushDroppedNote(proc, out);
    proc.window_start = now;
    proc.lines_in_window = 0;
  }
  if (proc.lines_in_window >= options_.max_log_lines_per_second) {
    ++proc.dropped;
    return;
  }
  ++proc.lines_in_window;
  Json data = {{"stream", "stderr"}, {"line", std::move(text)}};
  if (truncated) data["truncated"] = true;
  out.events.push_back(LogEvent(clock_.Now(), std::move(data)));
}

void LocalProcessExecutor::FlushDroppedNote(Proc& proc, Delivery& out) {
  if (proc.dropped == 0) return;
  out.events.push_back(LogEvent(
      clock_.Now(),
      {{"stream", "stderr"},
       {"line", "[agentd] " + std::to_string(proc.dropped) + " log lines dropped: more than " +
                    std::to_string(options_.max_log_lines_per_second) + " lines per second"},
       {"dropped", proc.dropped}}));
  proc.dropped = 0;
}

void LocalProcessExecutor::ReadJournal(Proc& proc, Delivery& out) {
  if (!proc.adopted) return;
  if (!proc.journal_fd.valid()) {
    proc.journal_fd.Reset(::open(proc.journal.c_str(), O_RDONLY | O_CLOEXEC));
    if (!proc.journal_fd.valid()) return;  // not written yet (or never)
  }
  char buf[kReadChunk];
  std::vector<Line> lines;
  for (;;) {
    ssize_t n = ::read(proc.journal_fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    proc.journal_lines.Append(std::string_view(buf, static_cast<size_t>(n)), lines);
  }
  if (proc.exit_seen) {
    if (auto rest = proc.journal_lines.Flush()) lines.push_back(std::move(*rest));
  }
  for (const auto& line : lines) {
    if (line.text.empty()) continue;
    auto parsed = line.truncated ? core::Result<RunnerEvent>(core::InvalidArgument("too long"))
                                 : api::v1::ParseRunnerEvent(line.text);
    if (!parsed.ok()) {
      // A journal is replayed after every restart, so a note here would repeat; log it instead.
      core::LogWarn("skipping an invalid journal line", {{"run", proc.run_id},
                                                         {"journal", proc.journal.string()},
                                                         {"error", parsed.error().message}});
      continue;
    }
    RunnerEvent event = std::move(parsed).value();
    if (event.type == "result") proc.last_result = event.data;
    if (event.seq <= proc.last_seq) continue;
    proc.last_seq = event.seq;
    if (event.time == core::TimePoint{}) event.time = clock_.Now();
    out.events.push_back(std::move(event));
  }
}

void LocalProcessExecutor::HandleInotify(std::map<Proc*, Delivery>& batches) {
  alignas(inotify_event) char buf[16 * 1024];
  std::set<int> touched;
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      touched.insert(ev->wd);
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  for (int wd : touched) {
    Proc* p = nullptr;
    {
      std::lock_guard lock(mu_);
      auto it = by_watch_.find(wd);
      if (it != by_watch_.end()) p = it->second;
    }
    if (p != nullptr) ReadJournal(*p, batches[p]);
  }
}

void LocalProcessExecutor::FinishExit(Proc& proc, Delivery& out) {
  std::optional<StopReason> stopped;
  {
    std::lock_guard lock(mu_);
    proc.exiting = true;
    proc.kill_at.reset();
    stopped = proc.stopped;
  }
  // The runner has exited, so everything it wrote is in the pipes: read up to what is there now
  // (not to EOF: a leftover tool may still hold the write ends).
  ReadEvents(proc, out, /*at_exit=*/true);
  ReadLog(proc, out, /*at_exit=*/true);
  ReadJournal(proc, out);
  FlushDroppedNote(proc, out);

  ExitInfo info;
  info.result = proc.last_result;
  info.stopped = stopped;
  if (proc.own_child) {
    // The leader is a zombie until reaped below, so its group id still names only its group:
    // take down whatever the runner left behind.
    ::kill(-proc.pgid, SIGKILL);
  }
  if (proc.pidfd.valid()) {
    siginfo_t si{};
    if (::waitid(P_PIDFD, static_cast<id_t>(proc.pidfd.get()), &si, WEXITED | WNOHANG) == 0 &&
        si.si_pid != 0) {
      if (si.si_code == CLD_EXITED) {
        info.exit_code = si.si_status;
      } else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
        info.term_signal = si.si_status;
      }
    }
  }
  if (proc.adopted_dead) {
    info.detail = info.result ? "runner finished while agentd was down" : proc.gone_detail;
  } else if (proc.adopted && info.exit_code < 0 && info.term_signal == 0) {
    info.detail = "adopted runner exited; its exit status is unknown";
  } else if (info.term_signal != 0) {
    info.detail = "runner killed by signal " + std::to_string(info.term_signal);
  } else if (info.exit_code >= 0) {
    info.detail = "runner exited with code " + std::to_string(info.exit_code);
  }
  core::LogInfo("runner exited", {{"run", proc.run_id},
                                  {"attempt", proc.attempt},
                                  {"exitCode", info.exit_code},
                                  {"signal", info.term_signal},
                                  {"hasResult", info.result.has_value()}});
  out.exit = std::move(info);
}

}  // namespace agentd::exec::local
