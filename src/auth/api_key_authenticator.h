// ApiKeyAuthenticator: checks `Authorization: Bearer <key>` against the configured API keys
// (SUBMIT_API_KEYS) and answers the caller's identity, which is safe to store and log.
//
// Keys are held only as SHA-256 digests. A presented key is hashed and compared with every
// configured digest in constant time (CRYPTO_memcmp, no early exit), so neither the timing nor
// any error message reveals anything about the keys. Immutable after construction; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace agentd::auth {

class ApiKeyAuthenticator {
 public:
  // The identity Authenticate answers when no keys are configured (an open server).
  static constexpr std::string_view kAnonymous = "anonymous";

  // No keys: every request is allowed (the composition root refuses this on a non-loopback
  // address).
  ApiKeyAuthenticator() = default;

  // Parses a SUBMIT_API_KEYS value: comma-separated entries, each either a bare key or
  // `name:key`. The identity of a named key is its name; of a bare key, "key-" followed by the
  // first 8 hex digits of SHA-256(key). A key containing ':' must be given in the `name:key`
  // form. Names are 1-63 of [A-Za-z0-9._-]. Errors (kInvalidArgument) name the entry by its
  // position, never its text: an empty key, a bad or duplicate name, a duplicate key.
  static core::Result<ApiKeyAuthenticator> FromList(std::string_view list);

  // True when at least one key is configured.
  bool enabled() const { return !keys_.empty(); }
  size_t key_count() const { return keys_.size(); }

  // The identity for the value of an Authorization header. With no keys configured, kAnonymous
  // whatever the header. Otherwise kUnauthenticated when the header is missing, is not
  // "Bearer <key>" (scheme case-insensitive) or the key is unknown.
  core::Result<std::string> Authenticate(std::optional<std::string_view> authorization) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Key {
    Digest digest;
    std::string identity;
  };
  static Digest Sha256(std::string_view data);

  std::vector<Key> keys_;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace agentd::auth
