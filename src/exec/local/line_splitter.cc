#include "exec/local/line_splitter.h"

namespace agentd::exec::local {

void LineSplitter::Append(std::string_view data, std::vector<Line>& out) {
  while (!data.empty()) {
    size_t newline = data.find('\n');
    std::string_view chunk = data.substr(0, newline);
    if (!truncated_) {
      size_t room = max_line_bytes_ - partial_.size();
      if (chunk.size() > room) {
        partial_.append(chunk.substr(0, room));
        truncated_ = true;
      } else {
        partial_.append(chunk);
      }
    }
    if (newline == std::string_view::npos) return;
    out.push_back(TakePartial());
    data.remove_prefix(newline + 1);
  }
}

std::optional<Line> LineSplitter::Flush() {
  if (partial_.empty() && !truncated_) return std::nullopt;
  return TakePartial();
}

Line LineSplitter::TakePartial() {
  Line line{std::move(partial_), truncated_};
  if (!line.truncated && !line.text.empty() && line.text.back() == '\r') line.text.pop_back();
  partial_.clear();
  truncated_ = false;
  return line;
}

}  // namespace agentd::exec::local
