// Reading configuration from the environment and from flag text, with bounds and clear errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace agentd::core {

// The variable's value, or nullopt when unset or empty.
std::optional<std::string> GetEnv(const char* name);

// Parses a decimal integer in [min, max]; `what` names the setting in the error.
Result<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max, std::string_view what);

// Parses "500ms", "30s", "5m", "2h" or a bare number of seconds.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string_view what);

// Splits "a, b,,c" into {"a","b","c"} (trimmed, empties dropped).
std::vector<std::string> SplitList(std::string_view text, char separator = ',');

}  // namespace agentd::core
