#include "runner/tools/toolset.h"

#include <algorithm>

namespace agentd::runner {

std::vector<std::string_view> KnownToolNames() {
  return {"read_file", "write_file", "list_files", "shell"};
}

core::Result<std::vector<std::unique_ptr<Tool>>> NewTools(const std::vector<std::string>& names,
                                                          const Workspace& workspace,
                                                          const StopSignal& stop,
                                                          const ToolsetOptions& options) {
  std::vector<std::unique_ptr<Tool>> tools;
  for (const auto& name : names) {
    bool seen =
        std::any_of(tools.begin(), tools.end(), [&](const auto& t) { return t->name() == name; });
    if (seen) continue;
    if (name == "read_file") {
      tools.push_back(NewReadFileTool(workspace, options.files));
    } else if (name == "write_file") {
      tools.push_back(NewWriteFileTool(workspace, options.files));
    } else if (name == "list_files") {
      tools.push_back(NewListFilesTool(workspace, options.files));
    } else if (name == "shell") {
      tools.push_back(NewShellTool(workspace, stop, options.shell));
    } else {
      return core::InvalidArgument("unknown tool \"" + name.substr(0, 64) +
                                   "\" in runner spec (known: read_file, write_file, "
                                   "list_files, shell)");
    }
  }
  return tools;
}

}  // namespace agentd::runner
