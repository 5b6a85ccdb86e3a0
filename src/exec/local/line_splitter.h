// LineSplitter: turns a byte stream (a pipe, a growing file) into bounded lines.
//
// Untrusted producers (a runner, the tools it starts) write to these streams, so a line never
// grows past `max_line_bytes`: the first `max_line_bytes` bytes are kept and marked truncated, the
// rest up to the next newline is discarded. Not thread-safe; one splitter per stream.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentd::exec::local {

struct Line {
  std::string text;  // without the trailing newline (and without a trailing '\r')
  bool truncated = false;
};

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Appends `data` and moves every line it completes to `out`, in order.
  void Append(std::string_view data, std::vector<Line>& out);
  // The partial line left at the end of the stream, if any (then the splitter is empty again).
  std::optional<Line> Flush();
  // Bytes of the partial line currently held (at most max_line_bytes).
  size_t pending_bytes() const { return partial_.size(); }

 private:
  Line TakePartial();

  size_t max_line_bytes_;
  std::string partial_;
  bool truncated_ = false;  // partial_ is full and the rest of this line is being discarded
};

}  // namespace agentd::exec::local
