#include "exec/local/process_info.h"

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace agentd::exec::local {

core::Result<uint64_t> ParseStartTimeFromStat(std::string_view stat) {
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return core::Internal("malformed /proc stat: no ')'");
  std::string_view rest = stat.substr(close + 1);
  // After the command name come fields 3, 4, ...; the start time is field 22.
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    if (pos == end) break;
    ++field;
    if (field == 22) {
      std::string_view token = rest.substr(pos, end - pos);
      while (!token.empty() && (token.back() == '\n')) token.remove_suffix(1);
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
      if (ec != std::errc() || ptr != token.data() + token.size()) {
        return core::Internal("malformed /proc stat: start time \"" + std::string(token) + "\"");
      }
      return value;
    }
    pos = end;
  }
  return core::Internal("malformed /proc stat: fewer than 22 fields");
}

core::Result<uint64_t> ReadProcessStartTime(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in(path);
  if (!in) return core::NotFound("no process " + std::to_string(pid));
  std::stringstream text;
  text << in.rdbuf();
  return ParseStartTimeFromStat(text.str());
}

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace agentd::exec::local
