// The file tools, all confined to the Workspace (see workspace.h):
//   read_file  {path, offset?, limit?}  text of a regular file, from line `offset` (1-based),
//                                        at most `limit` lines and FileToolLimits::max_read_bytes
//   write_file {path, content}          creates or replaces a regular file (parent directories
//                                        are created), at most max_write_bytes
//   list_files {path?, recursive?}      entries under a directory (default the root), sorted,
//                                        directories with a trailing "/", symbolic links as
//                                        "name -> target" (never followed), at most max_entries;
//                                        recursive listings do not descend into .git
#pragma once

#include <cstddef>
#include <memory>

#include "runner/tools/tool.h"
#include "runner/tools/workspace.h"

namespace agentd::runner {

struct FileToolLimits {
  size_t max_read_bytes = 1 << 20;
  size_t max_write_bytes = 1 << 20;
  size_t max_entries = 1000;
};

// The tools keep a reference to `workspace`, which must outlive them.
std::unique_ptr<Tool> NewReadFileTool(const Workspace& workspace, FileToolLimits limits);
std::unique_ptr<Tool> NewWriteFileTool(const Workspace& workspace, FileToolLimits limits);
std::unique_ptr<Tool> NewListFilesTool(const Workspace& workspace, FileToolLimits limits);

}  // namespace agentd::runner
