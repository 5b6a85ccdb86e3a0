// Integration-test harness: starts the real binaries (agentd, agentctl, fake-model-server) as
// child processes in temporary directories and talks to them over real HTTP.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "core/json.h"
#include "core/result.h"
#include "httpclient/http_client.h"

namespace agentd::integration {

// Path of a built binary, from AGENTD_BUILD_DIR (set by CTest).
std::string BinaryPath(const std::string& relative);  // e.g. "cmd/agentd/agentd"
std::string SourcePath(const std::string& relative);  // from AGENTD_SOURCE_DIR

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

// A child process with captured stdout/stderr (read by a background thread).
class Process {
 public:
  struct Options {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;  // added to a minimal PATH/HOME environment
    std::string stdin_data;
  };
  static std::unique_ptr<Process> Start(Options options);
  ~Process();  // SIGKILLs the process group if still running

  pid_t pid() const { return pid_; }
  // Waits for exit (up to `timeout`); returns the exit code, or 128+signal.
  core::Result<int> Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void Kill(int signal);
  std::string Stdout() const;
  std::string Stderr() const;
  // Polls stderr+stdout until `needle` appears; returns the output so far.
  core::Result<std::string> WaitForOutput(const std::string& needle,
                                          std::chrono::milliseconds timeout);

 private:
  Process() = default;
  void ReadLoop(int fd, std::string* sink);
  pid_t pid_ = -1;
  int exit_status_ = -1;
  bool exited_ = false;
  mutable std::mutex mu_;
  std::string out_, err_;
  std::thread out_thread_, err_thread_;
};

// `agentd serve` on a random loopback port with its own data, config and workspace dirs.
class AgentdServer {
 public:
  struct Options {
    std::string config_dir;  // objects; required
    std::string data_dir;    // reused across restarts when given
    std::map<std::string, std::string> env;
    std::string api_key = "test-key-0123456789";
    std::vector<std::string> extra_args;  // after `serve --config ... --data ... --listen ...`
  };
  static core::Result<std::unique_ptr<AgentdServer>> Start(Options options);

  const std::string& url() const { return url_; }
  const std::string& api_key() const { return options_.api_key; }
  const std::string& data_dir() const { return options_.data_dir; }
  Process& process() { return *process_; }

  // HTTP helpers with the bearer key set.
  core::Result<httpclient::Response> Get(const std::string& path);
  core::Result<httpclient::Response> Post(
      const std::string& path, const std::string& body,
      std::vector<std::pair<std::string, std::string>> headers = {});
  // Polls GET /api/v1/runs/{id} until the phase is terminal.
  core::Result<core::Json> WaitForRunEnd(const std::string& run_id,
                                         std::chrono::milliseconds timeout);

 private:
  Options options_;
  std::string url_;
  std::unique_ptr<Process> process_;
  std::unique_ptr<TempDir> owned_data_;
};

// Runs agentctl against `server` and waits for it, with the server's API key or `token`.
struct CliResult {
  int exit_code = -1;
  std::string out, err;
};
CliResult RunAgentctl(const AgentdServer& server, std::vector<std::string> args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      const std::string& token = "");

}  // namespace agentd::integration
