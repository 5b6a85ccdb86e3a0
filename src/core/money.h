// Money is integer micro-dollars (1 USD = 1,000,000), never floating point.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace agentd::core {

using MicroUsd = int64_t;
inline constexpr MicroUsd kMicrosPerUsd = 1'000'000;

// Parses a non-negative decimal USD amount such as "0.50", "12", "0.000125" (at most 6
// fractional digits, at most 1e12 USD). The text form is what YAML and JSON carry.
Result<MicroUsd> ParseUsd(std::string_view text);
// "0.5", "12", "0.000125": the shortest exact decimal.
std::string FormatUsd(MicroUsd micros);
// For Prometheus and JSON numbers only (never for arithmetic).
double ToUsdDouble(MicroUsd micros);

// Cost of `tokens` at `price_per_million` micro-dollars per million tokens, rounded up to the
// next micro-dollar so that many small calls never round to free.
MicroUsd CostOfTokens(int64_t tokens, MicroUsd price_per_million);

// Cost of one model call: `input_tokens` of which `cached_input_tokens` were served from the
// provider's prompt cache (clamped to [0, input_tokens]), plus `output_tokens`, each at its
// price per million tokens. Negative counts count as 0.
MicroUsd CostOfCall(int64_t input_tokens, int64_t cached_input_tokens, int64_t output_tokens,
                    MicroUsd input_per_million, MicroUsd cached_input_per_million,
                    MicroUsd output_per_million);

}  // namespace agentd::core
