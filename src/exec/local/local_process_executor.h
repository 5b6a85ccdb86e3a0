// LocalProcessExecutor: runs each attempt of a run as an `agentd runner` child process on this
// machine.
//
// Start spawns `<runner_path> runner --events-fd 3 --journal <journal>` with posix_spawn:
//  * its own process group (pgid = pid), an empty signal mask, default signal dispositions;
//  * stdin: a pipe holding RunnerSpecToJson(spec), closed after it; fd 3: the events pipe (one
//    JSON line per RunnerEvent); stdout and stderr: one pipe whose lines become "log" events
//    ({"stream":"stderr","line":...}, each at most max_log_line_bytes, at most
//    max_log_lines_per_second); every other descriptor closed;
//  * a minimal environment: PATH, HOME, LANG, TZ and AGENTD_RUNNER_RETRY_BASE_MS from this
//    process when set, the variable named by spec.model.api_key_env when set, Options::env, then
//    StartRequest::env (later entries win). Never the server's whole environment;
//  * the workspace workspace_root/<run id> (created 0700; spec.workspace is set to it) and the
//    journal state_dir/runs/<run id>/attempt-<n>.jsonl, which the runner appends every event to.
// Right after the spawn a copy of the handle is written next to the journal
// (attempt-<n>.handle.json), so a run whose handle never reached the store can still be adopted.
//
// The handle persisted by the scheduler:
//   {"kind":"local","pid":..,"startTime":..,"pgid":..,"bootId":"..","journal":"..",
//    "workspace":".."}
// (pid, startTime, bootId) names exactly one process, so a reused pid is never mistaken for it.
//
// One watcher thread (epoll) reads every pipe, the pidfds (exit) and an inotify descriptor
// (journals of adopted runners), runs the SIGTERM -> SIGKILL timers, and makes every listener
// call: everything read for one run in one epoll round is one OnRunnerEvents call; OnExit comes
// last, after the pipes were drained. Lines that are not valid RunnerEvents become "log" events
// ({"stream":"events","line":..,"rejected":"<why>"}) with seq 0; so do log lines. seq 0 means "not
// from the runner's numbered stream" and is never deduplicated.
//
// When a runner exits, whatever is left of its process group (tools it started) is killed.
// Adopted runners (started by an earlier agentd process) are followed through their journal:
// their stdout/stderr pipe died with that process, so their log lines are not recovered, and a
// runner must ignore SIGPIPE and keep going when fd 3 breaks (the journal is its record).
//
// Thread safety: Start, Stop, Adopt and Shutdown may be called from any thread. Listener calls
// are made on the watcher thread without any executor lock held.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "core/clock.h"
#include "exec/executor.h"

namespace agentd::exec::local {

class LocalProcessExecutor final : public Executor {
 public:
  struct Options {
    std::string runner_path;               // the agentd binary
    std::filesystem::path workspace_root;  // WORKSPACE_DIR
    std::filesystem::path state_dir;       // journals live in state_dir/runs/<run id>/
    std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};  // SIGTERM -> SIGKILL
    std::map<std::string, std::string> env;  // added to every runner's environment
    size_t max_log_line_bytes = 4096;
    int max_log_lines_per_second = 200;  // per run; the excess is dropped and counted
  };

  // Creates the directories and starts the watcher thread. `listener` and `clock` must outlive
  // the executor. The clock times the stop grace period and stamps log events.
  static core::Result<std::unique_ptr<LocalProcessExecutor>> Create(Options options,
                                                                    ExecutionListener& listener,
                                                                    core::Clock& clock);
  ~LocalProcessExecutor() override;

  LocalProcessExecutor(const LocalProcessExecutor&) = delete;
  LocalProcessExecutor& operator=(const LocalProcessExecutor&) = delete;

  // Errors: kUnavailable after Shutdown or when the system is out of processes or descriptors
  // (the scheduler requeues); kFailedPrecondition if the run is already executing here;
  // kInvalidArgument if the spec is too large for the stdin pipe (1 MiB); kInternal otherwise.
  core::Result<core::Json> Start(const StartRequest& request) override;
  core::Status Stop(const std::string& run_id, StopReason reason) override;
  core::Result<bool> Adopt(const runs::Run& run) override;
  void Shutdown() override;

  // The paths this executor uses for a run (for tests and for the docs' sake).
  std::filesystem::path WorkspacePath(std::string_view run_id) const;
  std::filesystem::path JournalPath(std::string_view run_id, int attempt) const;
  std::filesystem::path HandlePath(std::string_view run_id, int attempt) const;

  // Runs currently watched (running or exiting).
  size_t ActiveCount() const;

 private:
  struct Proc;
  struct Delivery;

  LocalProcessExecutor(Options options, ExecutionListener& listener, core::Clock& clock);
  core::Status Init();
  void WatchLoop();
  void Wake();
  core::Status Register(std::unique_ptr<Proc> proc);
  void Unregister(Proc& proc);

  // Watcher-thread helpers.
  void ReadEvents(Proc& proc, Delivery& out, bool at_exit);
  void ReadLog(Proc& proc, Delivery& out, bool at_exit);
  void ReadJournal(Proc& proc, Delivery& out);
  void AddEventLine(Proc& proc, std::string_view text, bool truncated, Delivery& out);
  void AddLogLine(Proc& proc, std::string text, bool truncated, Delivery& out);
  void FlushDroppedNote(Proc& proc, Delivery& out);
  void FinishExit(Proc& proc, Delivery& out);
  void HandleInotify(std::map<Proc*, Delivery>& batches);
  int NextTimeoutMs();
  void FireTimers();

  Options options_;
  ExecutionListener& listener_;
  core::Clock& clock_;
  std::string boot_id_;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd
  int inotify_fd_ = -1;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Proc>, std::less<>> procs_;  // by run id
  std::map<uint64_t, Proc*> by_serial_;
  std::map<int, Proc*> by_watch_;  // inotify watch descriptor -> adopted proc
  std::vector<Proc*> pending_;     // registered, waiting for the watcher's first look
  uint64_t next_serial_ = 1;
  bool shut_down_ = false;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
};

}  // namespace agentd::exec::local
