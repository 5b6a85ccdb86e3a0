#include "resources/validation.h"

#include <cstddef>

namespace agentd::resources {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsSpaceOrControl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

// A decimal number without sign or exponent: "12", "0.5", ".5". Returns the length consumed.
size_t DecimalPrefix(std::string_view text) {
  size_t i = 0;
  size_t digits = 0;
  while (i < text.size() && IsDigit(text[i])) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t fraction = 0;
    while (i < text.size() && IsDigit(text[i])) ++i, ++fraction;
    if (fraction == 0) return 0;
    digits += fraction;
  }
  return digits == 0 ? 0 : i;
}

}  // namespace

bool IsDnsLabel(std::string_view text) {
  if (text.empty() || text.size() > kMaxNameLength) return false;
  if (!IsLowerAlnum(text.front()) || !IsLowerAlnum(text.back())) return false;
  for (char c : text) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsDnsSubdomain(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view label = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!IsDnsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsQualifiedName(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view name = text;
  if (slash != std::string_view::npos) {
    if (!IsDnsSubdomain(text.substr(0, slash))) return false;
    name = text.substr(slash + 1);
  }
  return !name.empty() && IsLabelValue(name);
}

bool IsLabelValue(std::string_view text) {
  if (text.empty()) return true;
  if (text.size() > kMaxNameLength) return false;
  if (!IsAlnum(text.front()) || !IsAlnum(text.back())) return false;
  for (char c : text) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsEnvVarName(std::string_view text) {
  if (text.empty() || text.size() > 256 || IsDigit(text.front())) return false;
  for (char c : text) {
    if (!IsAlnum(c) && c != '_') return false;
  }
  return true;
}

bool IsSecretKey(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  for (char c : text) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsHttpUrl(std::string_view text) {
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    rest = text.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') return false;
  for (char c : text) {
    if (IsSpaceOrControl(c)) return false;
  }
  return true;
}

bool IsSha256Hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!IsHex(c)) return false;
  }
  return true;
}

bool IsCpuQuantity(std::string_view text) {
  size_t n = DecimalPrefix(text);
  if (n == 0) return false;
  std::string_view suffix = text.substr(n);
  return suffix.empty() || suffix == "m";
}

bool IsMemoryQuantity(std::string_view text) {
  size_t n = DecimalPrefix(text);
  if (n == 0) return false;
  std::string_view suffix = text.substr(n);
  for (std::string_view s :
       {"", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}) {
    if (suffix == s) return true;
  }
  return false;
}

bool IsSafeToken(std::string_view text) {
  if (text.empty() || text.front() == '-') return false;
  for (char c : text) {
    if (IsSpaceOrControl(c)) return false;
  }
  return true;
}

bool IsGitRefName(std::string_view text) {
  if (!IsSafeToken(text) || text.size() > 255) return false;
  if (text.find("..") != std::string_view::npos || text.find("@{") != std::string_view::npos) {
    return false;
  }
  if (text.find_first_of("~^:?*[\\") != std::string_view::npos) return false;
  return !text.ends_with('/') && !text.ends_with('.') && !text.ends_with(".lock") &&
         !text.starts_with('/');
}

bool IsTimeZoneName(std::string_view text) {
  if (text.empty() || text.size() > 64 || text.front() == '/' || text.back() == '/') return false;
  if (text.find("//") != std::string_view::npos || text.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : text) {
    if (!IsAlnum(c) && c != '_' && c != '+' && c != '-' && c != '/') return false;
  }
  return true;
}

bool IsCallerIdentity(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  for (char c : text) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace agentd::resources
