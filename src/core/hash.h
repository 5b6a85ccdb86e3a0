// SHA-256 for ids, idempotency hashes and token digests (OpenSSL).
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace agentd::core {

using Sha256Digest = std::array<unsigned char, 32>;

Sha256Digest Sha256(std::string_view data);
// 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

}  // namespace agentd::core
