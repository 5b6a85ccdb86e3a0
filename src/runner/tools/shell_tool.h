// The shell tool: `shell {command, timeout_seconds?}` runs `/bin/sh -c command` in the workspace.
//
// The command runs in its own process group with stdin from /dev/null, all signals at their
// defaults, no file descriptors but 0-2, and an environment without the secrets the runner
// holds (ShellOptions::hidden_env and every AGENTD_* variable). stdout and stderr go to one
// pipe whose first and last max_output_bytes/2 bytes are kept. When the shell exits, whatever
// it left running in its group is killed; on timeout (the smaller of timeout_seconds and
// ShellOptions::timeout) or when the runner is stopping, the group gets SIGTERM, then SIGKILL
// after kill_grace. The exit status is appended to the output; ok is true only for exit 0.
//
// Orphans are reaped when the runner is a child subreaper (RunnerMain sets
// PR_SET_CHILD_SUBREAPER); a SIGKILL of the runner itself leaves the group running.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "runner/stop_signal.h"
#include "runner/tools/tool.h"
#include "runner/tools/workspace.h"

namespace agentd::runner {

struct ShellOptions {
  std::chrono::milliseconds timeout{120'000};
  std::chrono::milliseconds kill_grace{2'000};
  size_t max_output_bytes = 64 * 1024;
  std::vector<std::string> hidden_env;  // variable names removed from the command's environment
};

// Keeps references to `workspace` and `stop`, which must outlive the tool.
std::unique_ptr<Tool> NewShellTool(const Workspace& workspace, const StopSignal& stop,
                                   ShellOptions options);

}  // namespace agentd::runner
