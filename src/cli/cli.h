// agentctl: the command line client of agentd. RunCli parses the arguments, talks to the server
// through the given transport and returns the process exit code; main() only builds the real
// transport. Everything the commands touch (streams, stdin, env, clock, backoff sleeps) is
// injectable so tests drive the whole CLI in-process.
//
// Exit codes (docs/cli.md): 0 success / Succeeded, 1 Failed, 2 usage error, 3 TimedOut,
// 4 Cancelled, 5 Rejected, and 6..12 for server errors as core::ExitCodeFor maps them.
#pragma once

#include <chrono>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "httpclient/http_client.h"

namespace agentd::cli {

// The version `agentctl version` prints.
std::string_view CliVersion();

// What the commands read from the process; empty/null members mean the real thing.
struct CliEnvironment {
  std::istream* in = nullptr;                                     // stdin, for INPUT "-"
  const core::Clock* clock = nullptr;                             // for AGE columns
  std::function<std::optional<std::string>(const char*)> getenv;  // AGENTD_URL, AGENTD_TOKEN
  std::function<void(std::chrono::milliseconds)> sleep;           // reconnect backoff
};

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env = {});

// The same with arguments as strings (args[0] is the program name).
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           httpclient::HttpTransport& transport, const CliEnvironment& env = {});

}  // namespace agentd::cli
