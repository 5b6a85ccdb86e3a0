// Small text helpers for messages about untrusted input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agentd::core {

// `text` in double quotes, cut to `max` bytes with "..." after it when longer, so a message
// about an untrusted value stays readable and bounded.
std::string QuoteForMessage(std::string_view text, size_t max = 80);

// Levenshtein distance, ASCII case-insensitive: for "did you mean" suggestions on typos.
size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace agentd::core
