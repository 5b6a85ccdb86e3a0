#include "tests/integration/harness.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/time.h"
#include "httpclient/curl_transport.h"

extern char** environ;

namespace agentd::integration {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

httpclient::CurlHttpTransport& Transport() {
  static httpclient::CurlHttpTransport transport;
  return transport;
}

}  // namespace

std::string BinaryPath(const std::string& relative) {
  return EnvOr("AGENTD_BUILD_DIR", ".") + "/" + relative;
}

std::string SourcePath(const std::string& relative) {
  return EnvOr("AGENTD_SOURCE_DIR", ".") + "/" + relative;
}

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/agentd-it-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  AGENTD_CHECK(made != nullptr) << "mkdtemp failed";
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Process> Process::Start(Options options) {
  std::unique_ptr<Process> p(new Process());
  int out_pipe[2], err_pipe[2], in_pipe[2];
  AGENTD_CHECK(pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0 &&
               pipe2(in_pipe, O_CLOEXEC) == 0)
      << "pipe2";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::map<std::string, std::string> env = {
      {"PATH", EnvOr("PATH", "/usr/bin:/bin")},
      {"HOME", EnvOr("HOME", "/tmp")},
  };
  for (const char* pass : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"}) {
    if (const char* v = std::getenv(pass)) env[pass] = v;
  }
  for (auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  int rc = posix_spawn(&p->pid_, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  AGENTD_CHECK(rc == 0) << "posix_spawn " << options.argv[0] << ": " << strerror(rc);
  if (!options.stdin_data.empty()) {
    size_t off = 0;
    while (off < options.stdin_data.size()) {
      ssize_t n =
          write(in_pipe[1], options.stdin_data.data() + off, options.stdin_data.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  close(in_pipe[1]);
  p->out_thread_ =
      std::thread([raw = p.get(), fd = out_pipe[0]] { raw->ReadLoop(fd, &raw->out_); });
  p->err_thread_ =
      std::thread([raw = p.get(), fd = err_pipe[0]] { raw->ReadLoop(fd, &raw->err_); });
  return p;
}

void Process::ReadLoop(int fd, std::string* sink) {
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    sink->append(buf, static_cast<size_t>(n));
  }
  close(fd);
}

Process::~Process() {
  if (!exited_ && pid_ > 0) {
    kill(-pid_, SIGKILL);
    (void)Wait(std::chrono::seconds(10));
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

core::Result<int> Process::Wait(std::chrono::milliseconds timeout) {
  if (exited_) return exit_status_;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    pollfd pfd{pidfd, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(timeout.count()));
    close(pidfd);
    if (ready == 0) return core::DeadlineExceeded("process did not exit in time");
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return core::Internal("waitpid failed");
  exited_ = true;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  return exit_status_;
}

void Process::Kill(int signal) {
  if (!exited_) kill(pid_, signal);
}

std::string Process::Stdout() const {
  std::lock_guard lock(mu_);
  return out_;
}

std::string Process::Stderr() const {
  std::lock_guard lock(mu_);
  return err_;
}

core::Result<std::string> Process::WaitForOutput(const std::string& needle,
                                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (err_.find(needle) != std::string::npos || out_.find(needle) != std::string::npos) {
        return out_ + err_;
      }
    }
    if (exited_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling with a deadline
  }
  return core::DeadlineExceeded("\"" + needle + "\" not seen; output:\n" + Stdout() + Stderr());
}

core::Result<std::unique_ptr<AgentdServer>> AgentdServer::Start(Options options) {
  std::unique_ptr<AgentdServer> s(new AgentdServer());
  if (options.data_dir.empty()) {
    s->owned_data_ = std::make_unique<TempDir>();
    options.data_dir = s->owned_data_->path();
  }
  s->options_ = options;
  std::map<std::string, std::string> env = {
      {"SUBMIT_API_KEYS", options.api_key},
      {"LOG_LEVEL", "info"},
  };
  for (auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> argv = {BinaryPath("cmd/agentd/agentd"),
                                   "serve",
                                   "--config",
                                   options.config_dir,
                                   "--data",
                                   options.data_dir,
                                   "--listen",
                                   "127.0.0.1:0"};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  s->process_ = Process::Start({.argv = argv, .env = env});
  auto out = s->process_->WaitForOutput("\"msg\":\"listening\"", std::chrono::seconds(20));
  if (!out.ok()) return out.error();
  std::string text = *out;
  size_t at = text.find("\"msg\":\"listening\"");
  size_t line_start = text.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  size_t line_end = text.find('\n', at);
  auto line = core::ParseJson(text.substr(line_start, line_end - line_start));
  if (!line.ok() || !(*line).contains("url")) return core::Internal("no url in: " + text);
  s->url_ = (*line)["url"].get<std::string>();
  return s;
}

core::Result<httpclient::Response> AgentdServer::Get(const std::string& path) {
  httpclient::Request r;
  r.url = url_ + path;
  r.headers = {{"Authorization", "Bearer " + options_.api_key}};
  return Transport().Send(r);
}

core::Result<httpclient::Response> AgentdServer::Post(
    const std::string& path, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  httpclient::Request r;
  r.method = "POST";
  r.url = url_ + path;
  r.body = body;
  r.headers = {{"Authorization", "Bearer " + options_.api_key},
               {"Content-Type", "application/json"}};
  for (auto& h : headers) r.headers.push_back(h);
  return Transport().Send(r);
}

core::Result<core::Json> AgentdServer::WaitForRunEnd(const std::string& run_id,
                                                     std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  core::Json last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = Get("/api/v1/runs/" + run_id);
    if (r.ok() && r->status == 200) {
      auto j = core::ParseJson(r->body);
      if (j.ok()) {
        last = *j;
        std::string phase = last.value("phase", "");
        if (phase == "Succeeded" || phase == "Failed" || phase == "TimedOut" ||
            phase == "Cancelled" || phase == "Rejected") {
          return last;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling with a deadline
  }
  return core::DeadlineExceeded("run " + run_id + " did not end; last: " + last.dump());
}

CliResult RunAgentctl(const AgentdServer& server, std::vector<std::string> args,
                      std::chrono::milliseconds timeout, const std::string& token) {
  std::vector<std::string> argv = {BinaryPath("cmd/agentctl/agentctl")};
  for (auto& a : args) argv.push_back(a);
  auto p = Process::Start({.argv = argv,
                           .env = {{"AGENTD_URL", server.url()},
                                   {"AGENTD_TOKEN", token.empty() ? server.api_key() : token}}});
  CliResult result;
  auto code = p->Wait(timeout);
  result.exit_code = code.ok() ? *code : -1;
  result.out = p->Stdout();
  result.err = p->Stderr();
  return result;
}

}  // namespace agentd::integration
