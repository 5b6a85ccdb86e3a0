// Structured logging: one JSON object per line on stderr, written with a single write(2) so
// lines from threads never interleave. Never pass secrets (API keys, tokens) as fields.
#pragma once

#include <string_view>

#include "core/json.h"

namespace agentd::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses LOG_LEVEL values: debug, info, warn/warning, error.
Result<LogLevel> ParseLogLevel(std::string_view text);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes {"ts":..., "level":..., "msg": message, ...fields}.
void Log(LogLevel level, std::string_view message, const Json& fields = Json::object());

inline void LogDebug(std::string_view m, const Json& f = Json::object()) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, m, f);
}
inline void LogInfo(std::string_view m, const Json& f = Json::object()) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarn(std::string_view m, const Json& f = Json::object()) {
  Log(LogLevel::kWarn, m, f);
}
inline void LogError(std::string_view m, const Json& f = Json::object()) {
  Log(LogLevel::kError, m, f);
}

}  // namespace agentd::core
