// Runner tokens: the secret a runner presents with its events (a Kubernetes pod posting to
// POST /api/v1/runs/{id}/events). The scheduler makes one per attempt of a run and stores only
// its SHA-256 (runs::Run::runner_token_hash); these helpers check a presented token against that
// digest without revealing anything through timing. Stateless; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace agentd::auth {

// True when SHA-256(token), as lowercase hex, equals `sha256_hex`. The digests are compared in
// constant time (CRYPTO_memcmp). An empty token or an empty/malformed digest never matches, so a
// run that has no token (never started) accepts nothing.
bool RunnerTokenMatches(std::string_view token, std::string_view sha256_hex);

// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive, spaces
// around the token trimmed); nullopt when the header is missing, of another scheme, or empty.
// The view points into `authorization`.
std::optional<std::string_view> BearerToken(std::optional<std::string_view> authorization);

}  // namespace agentd::auth
