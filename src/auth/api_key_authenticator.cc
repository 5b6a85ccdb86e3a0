#include "auth/api_key_authenticator.h"

#include <cstdint>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/env.h"
#include "core/hash.h"

namespace agentd::auth {

namespace {

bool IsIdentityName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

}  // namespace

ApiKeyAuthenticator::Digest ApiKeyAuthenticator::Sha256(std::string_view data) {
  return core::Sha256(data);
}

std::string Sha256Hex(std::string_view data) { return core::Sha256Hex(data); }

core::Result<ApiKeyAuthenticator> ApiKeyAuthenticator::FromList(std::string_view list) {
  ApiKeyAuthenticator auth;
  int position = 0;
  for (const std::string& entry : core::SplitList(list, ',')) {
    ++position;
    std::string where = "SUBMIT_API_KEYS entry " + std::to_string(position);
    std::string_view key = entry;
    std::string identity;
    size_t colon = key.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = Trim(key.substr(0, colon));
      if (!IsIdentityName(name)) {
        return core::InvalidArgument(where +
                                     ": the name before ':' must be 1-63 letters, digits, '.', "
                                     "'_' or '-'");
      }
      identity = std::string(name);
      key = Trim(key.substr(colon + 1));
    }
    if (key.empty()) return core::InvalidArgument(where + ": the key is empty");
    Digest digest = Sha256(key);
    if (identity.empty()) identity = "key-" + Hex(digest.data(), 4);
    for (const Key& existing : auth.keys_) {
      if (existing.digest == digest) {
        return core::InvalidArgument(where + ": the same key is configured twice");
      }
      if (existing.identity == identity) {
        return core::InvalidArgument(where + ": the name \"" + identity + "\" is used twice");
      }
    }
    auth.keys_.push_back({digest, std::move(identity)});
  }
  return auth;
}

core::Result<std::string> ApiKeyAuthenticator::Authenticate(
    std::optional<std::string_view> authorization) const {
  if (keys_.empty()) return std::string(kAnonymous);
  if (!authorization) {
    return core::Unauthenticated(
        "missing Authorization header; send \"Authorization: Bearer <api key>\"");
  }
  std::string_view value = Trim(*authorization);
  size_t space = value.find(' ');
  std::string_view scheme = value.substr(0, space);
  static constexpr std::string_view kBearer = "bearer";
  bool is_bearer = scheme.size() == kBearer.size();
  for (size_t i = 0; is_bearer && i < scheme.size(); ++i) {
    char c = scheme[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    is_bearer = c == kBearer[i];
  }
  if (!is_bearer || space == std::string_view::npos) {
    return core::Unauthenticated("the Authorization header must be \"Bearer <api key>\"");
  }
  std::string_view key = Trim(value.substr(space + 1));
  if (key.empty()) return core::Unauthenticated("the bearer token is empty");

  Digest digest = Sha256(key);
  // Compare against every key, without an early exit.
  size_t found = keys_.size();
  for (size_t i = 0; i < keys_.size(); ++i) {
    int differs = CRYPTO_memcmp(digest.data(), keys_[i].digest.data(), digest.size());
    size_t mask = static_cast<size_t>(0) - static_cast<size_t>(differs == 0);  // all ones on match
    found = (i & mask) | (found & ~mask);
  }
  if (found == keys_.size()) return core::Unauthenticated("unknown API key");
  return keys_[found].identity;
}

}  // namespace agentd::auth
