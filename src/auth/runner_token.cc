#include "auth/runner_token.h"

#include <string>

#include <openssl/crypto.h>

#include "core/hash.h"

namespace agentd::auth {

namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

bool RunnerTokenMatches(std::string_view token, std::string_view sha256_hex) {
  // The length of a digest is public (always 64); only its contents are compared in constant time.
  if (token.empty() || sha256_hex.size() != 64) return false;
  const std::string presented = core::Sha256Hex(token);
  return presented.size() == sha256_hex.size() &&
         CRYPTO_memcmp(presented.data(), sha256_hex.data(), presented.size()) == 0;
}

std::optional<std::string_view> BearerToken(std::optional<std::string_view> authorization) {
  if (!authorization) return std::nullopt;
  std::string_view value = Trim(*authorization);
  size_t space = value.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view scheme = value.substr(0, space);
  static constexpr std::string_view kBearer = "bearer";
  if (scheme.size() != kBearer.size()) return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i) {
    char c = scheme[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearer[i]) return std::nullopt;
  }
  std::string_view token = Trim(value.substr(space + 1));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace agentd::auth
