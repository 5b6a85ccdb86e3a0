// RFC 3339 timestamps in UTC with millisecond precision: "2026-11-21T19:36:22.123Z".
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"

namespace agentd::core {

std::string FormatRfc3339(TimePoint t);
// Accepts "Z" or "+hh:mm" offsets and 0-9 fractional digits.
Result<TimePoint> ParseRfc3339(std::string_view text);

// Milliseconds since the Unix epoch, the form timestamps take in the store.
int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);

}  // namespace agentd::core
