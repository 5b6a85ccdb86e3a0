#include "core/ids.h"

#include <sys/random.h>

#include <array>
#include <cstdint>

#include "core/check.h"
#include "core/time.h"

namespace agentd::core {

__extension__ using UInt128 = unsigned __int128;
namespace {

constexpr std::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";

void FillRandom(uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = getrandom(out + done, n - done, 0);
    AGENTD_CHECK(got > 0) << "getrandom failed";
    done += static_cast<size_t>(got);
  }
}

}  // namespace

std::string NewRunId(TimePoint now) {
  uint64_t ms = static_cast<uint64_t>(ToUnixMillis(now));
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  FillRandom(bytes.data() + 6, 10);
  // 128 bits -> 26 base32 digits (the first digit carries 3 bits).
  std::string out = "run-";
  out.reserve(30);
  UInt128 value = 0;
  for (uint8_t b : bytes) value = (value << 8) | b;
  char digits[26];
  for (int i = 25; i >= 0; --i) {
    digits[i] = kAlphabet[static_cast<size_t>(value & 31)];
    value >>= 5;
  }
  out.append(digits, 26);
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  FillRandom(reinterpret_cast<uint8_t*>(raw.data()), bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool IsValidRunId(std::string_view id) {
  if (id.size() != 30 || id.substr(0, 4) != "run-") return false;
  for (char c : id.substr(4)) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace agentd::core
