#include "core/env.h"

#include <cstdlib>

namespace agentd::core {

__extension__ using Int128 = __int128;

std::optional<std::string> GetEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

Result<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument(std::string(what) + ": \"" + std::string(text.substr(0, 40)) + "\" " +
                           std::string(why));
  };
  if (text.empty()) return bad("is empty");
  size_t pos = 0;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    pos = 1;
  }
  if (pos == text.size()) return bad("is not an integer");
  Int128 value = 0;
  for (; pos < text.size(); ++pos) {
    if (text[pos] < '0' || text[pos] > '9') return bad("is not an integer");
    value = value * 10 + (text[pos] - '0');
    if (value > (static_cast<Int128>(1) << 63)) return bad("is out of range");
  }
  if (negative) value = -value;
  if (value < min || value > max) {
    return bad("is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int64_t>(value);
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string_view what) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view unit = text.substr(digits);
  int64_t scale = 1000;
  if (unit == "ms") {
    scale = 1;
  } else if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return InvalidArgument(std::string(what) + ": \"" + std::string(text.substr(0, 40)) +
                           "\" is not a duration (use 500ms, 30s, 5m or 2h)");
  }
  AGENTD_ASSIGN_OR_RETURN(int64_t n, ParseInt(text.substr(0, digits), 0, 1'000'000'000, what));
  return std::chrono::milliseconds(n * scale);
}

std::vector<std::string> SplitList(std::string_view text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

}  // namespace agentd::core
