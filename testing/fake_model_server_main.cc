// fake-model-server: the FakeModelServer as a process, for integration tests, benchmarks and
// demos. Usage:
//   fake-model-server [--script FILE] [--mode script|echo|developer] [--port N]
// Prints "listening on PORT" on stdout once it accepts connections; stops on SIGINT/SIGTERM.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <signal.h>

#include "core/env.h"
#include "core/json.h"
#include "testing/fake_model_server.h"

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "fake-model-server: %s\n"
               "usage: fake-model-server [--script FILE] [--mode script|echo|developer] "
               "[--port N]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using agentd::testing::FakeModelServer;
  using agentd::testing::FakeScript;
  std::string script_path;
  std::string mode;
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--script") {
      const char* v = value();
      if (v == nullptr) return Usage("--script needs a file");
      script_path = v;
    } else if (arg == "--mode") {
      const char* v = value();
      if (v == nullptr) return Usage("--mode needs a value");
      mode = v;
    } else if (arg == "--port") {
      const char* v = value();
      auto parsed = v ? agentd::core::ParseInt(v, 0, 65535, "--port")
                      : agentd::core::Result<int64_t>(agentd::core::InvalidArgument("missing"));
      if (!parsed.ok()) return Usage("--port needs a number in [0, 65535]");
      port = static_cast<int>(*parsed);
    } else if (arg == "--help" || arg == "-h") {
      Usage("a scripted OpenAI-compatible server (see testing/README.md)");
      return 0;
    } else {
      return Usage(("unknown argument " + arg).c_str());
    }
  }

  agentd::core::Json script_json = agentd::core::Json::object();
  if (!script_path.empty()) {
    std::ifstream in(script_path);
    if (!in) return Usage(("cannot read " + script_path).c_str());
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = agentd::core::ParseJson(text.str(), {.max_bytes = 64 << 20, .max_depth = 64});
    if (!parsed.ok()) return Usage((script_path + ": " + parsed.error().message).c_str());
    script_json = std::move(parsed).value();
  } else if (mode.empty()) {
    mode = "echo";
  }
  if (!mode.empty() && script_json.is_object()) script_json["mode"] = mode;
  auto script = agentd::testing::ParseFakeScript(script_json);
  if (!script.ok()) return Usage((script_path + ": " + script.error().message).c_str());

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  FakeModelServer server(script->options);
  for (auto& reply : script->replies) server.Enqueue(std::move(reply));
  if (auto started = server.Start(port); !started.ok()) {
    std::fprintf(stderr, "fake-model-server: %s\n", started.error().message.c_str());
    return 1;
  }
  std::printf("listening on %d\n", server.port());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.Stop();
  return 0;
}
