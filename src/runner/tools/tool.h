// Tool: something the model may call during a run (read_file, write_file, list_files, shell).
//
// A tool validates its own arguments (untrusted model output) and reports every problem — bad
// arguments, a path outside the workspace, a missing file, a command that timed out — as an
// error Result or as ToolOutput{ok = false}; the agent loop passes both back to the model as
// the tool's answer. Nothing a model sends may crash the runner. Tools are used from one thread.
#pragma once

#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace agentd::runner {

struct ToolOutput {
  bool ok = true;          // false: the tool ran but failed (e.g. a non-zero exit status)
  std::string text;        // what the model sees
  bool truncated = false;  // text was cut to the output limit
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  // JSON Schema of the arguments object.
  virtual const core::Json& parameters() const = 0;
  // Runs the tool with the parsed arguments (any JSON value; tools check the shape).
  virtual core::Result<ToolOutput> Call(const core::Json& args) = 0;
};

}  // namespace agentd::runner
