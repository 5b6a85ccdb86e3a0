// Identifiers: time-ordered, random, lowercase so they are valid Kubernetes names.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"

namespace agentd::core {

// "run-" + 26 chars of lowercase Crockford base32 (48-bit millisecond time + 80 random bits),
// so ids sort by creation time. Thread-safe.
std::string NewRunId(TimePoint now);

// `bytes` random bytes from the kernel, hex encoded (for tokens and API keys).
std::string RandomHex(size_t bytes);

// True for ids NewRunId produces; used to reject junk in URLs before touching the store.
bool IsValidRunId(std::string_view id);

}  // namespace agentd::core
