// fake_runner: stands in for `agentd runner` in the local executor's tests. Started the same way
// (`fake_runner runner --events-fd 3 --journal PATH`, the RunnerSpec on stdin), it follows the
// script in spec.parameters.script, a list of steps:
//   {"op":"event","type":"message","data":{...}}  numbered event to fd 3 and the journal
//   {"op":"result","status":"succeeded","result":"..."}   the final result event
//   {"op":"stderr","text":"..."} / {"op":"stdout","text":"..."}  one line
//   {"op":"spam","count":N}        N stderr lines
//   {"op":"raw","line":"..."}      an unnumbered line to fd 3 only (for invalid input)
//   {"op":"env","name":"X"}        message event whose content is $X or "<unset>"
//   {"op":"facts"}                 message event with pid, pgid, open fds and the workspace
//   {"op":"ignoreTerm"}            ignore SIGTERM from now on
//   {"op":"grandchild"}            fork a child that waits for a signal; message with its pid
//   {"op":"waitFifo","path":"..."} block until a writer opened the FIFO and closed it
//   {"op":"block"}                 wait for signals forever
//   {"op":"exit","code":N}         exit now
// Like the real runner it ignores SIGPIPE and keeps going when fd 3 breaks.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

using Json = nlohmann::json;

namespace {

int events_fd = 3;
std::string journal;
int64_t seq = 0;

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void Emit(const std::string& type, const Json& data) {
  Json event = {{"seq", ++seq}, {"type", type}, {"data", data}};
  std::string line = event.dump() + "\n";
  WriteAll(events_fd, line);
  int fd = ::open(journal.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    WriteAll(fd, line);
    ::close(fd);
  }
}

std::string OpenFds() {
  std::string out;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return out;
  std::vector<int> fds;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::atoi(entry->d_name);
    if (fd != ::dirfd(dir)) fds.push_back(fd);
  }
  ::closedir(dir);
  std::sort(fds.begin(), fds.end());
  for (int fd : fds) out += (out.empty() ? "" : ",") + std::to_string(fd);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i + 1 < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--events-fd") events_fd = std::atoi(argv[i + 1]);
    if (arg == "--journal") journal = argv[i + 1];
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  Json spec = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) {
    std::cerr << "fake_runner: stdin is not a JSON spec\n";
    return 90;
  }
  Json script = spec["parameters"].value("script", Json::array());
  for (const Json& step : script) {
    std::string op = step.value("op", "");
    if (op == "event") {
      Emit(step.value("type", "message"), step.value("data", Json::object()));
    } else if (op == "result") {
      Json data = {{"status", step.value("status", "succeeded")}};
      for (const char* key : {"result", "error", "reason"}) {
        if (step.contains(key)) data[key] = step[key];
      }
      Emit("result", data);
    } else if (op == "stderr") {
      WriteAll(2, step.value("text", "") + "\n");
    } else if (op == "stdout") {
      WriteAll(1, step.value("text", "") + "\n");
    } else if (op == "spam") {
      std::string lines;
      for (int i = 0; i < step.value("count", 0); ++i) lines += "line " + std::to_string(i) + "\n";
      WriteAll(2, lines);
    } else if (op == "raw") {
      WriteAll(events_fd, step.value("line", "") + "\n");
    } else if (op == "env") {
      const char* value = std::getenv(step.value("name", "").c_str());
      Emit("message", {{"role", "env"}, {"content", value ? value : "<unset>"}});
    } else if (op == "facts") {
      struct stat st {};
      std::string workspace = spec.value("workspace", "");
      bool is_dir = ::stat(workspace.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      Emit("message", {{"role", "facts"},
                       {"content", ""},
                       {"pid", ::getpid()},
                       {"pgid", ::getpgid(0)},
                       {"fds", OpenFds()},
                       {"workspace", workspace},
                       {"workspaceMode", is_dir ? static_cast<int>(st.st_mode & 0777) : -1}});
    } else if (op == "ignoreTerm") {
      ::signal(SIGTERM, SIG_IGN);
    } else if (op == "grandchild") {
      pid_t pid = ::fork();
      if (pid == 0) {
        for (;;) ::pause();
      }
      Emit("message", {{"role", "grandchild"}, {"content", std::to_string(pid)}});
    } else if (op == "waitFifo") {
      int fd = ::open(step.value("path", "").c_str(), O_RDONLY);
      char buf[256];
      while (fd >= 0 && ::read(fd, buf, sizeof(buf)) > 0) {
      }
      if (fd >= 0) ::close(fd);
    } else if (op == "block") {
      for (;;) ::pause();
    } else if (op == "exit") {
      return step.value("code", 0);
    }
  }
  return 0;
}
