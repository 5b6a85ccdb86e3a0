// Builds the tools a run may use from the names in its RunnerSpec.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runner/stop_signal.h"
#include "runner/tools/file_tools.h"
#include "runner/tools/shell_tool.h"

namespace agentd::runner {

struct ToolsetOptions {
  FileToolLimits files;
  ShellOptions shell;
};

// "read_file", "write_file", "list_files", "shell".
std::vector<std::string_view> KnownToolNames();

// One tool per distinct name, in the given order. kInvalidArgument for an unknown name.
core::Result<std::vector<std::unique_ptr<Tool>>> NewTools(const std::vector<std::string>& names,
                                                          const Workspace& workspace,
                                                          const StopSignal& stop,
                                                          const ToolsetOptions& options);

}  // namespace agentd::runner
