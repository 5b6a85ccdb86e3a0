#include "runner/text_limits.h"

#include <algorithm>

namespace agentd::runner {
namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back up over continuation bytes to the start of the sequence that would be cut (at most 3).
  size_t backed = 0;
  while (end > 0 && backed < 4 && IsContinuationByte(text[end])) {
    --end;
    ++backed;
  }
  return text.substr(0, end);
}

std::string_view Utf8Suffix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t start = text.size() - max_bytes;
  size_t skipped = 0;
  while (start < text.size() && skipped < 4 && IsContinuationByte(text[start])) {
    ++start;
    ++skipped;
  }
  return text.substr(start);
}

BoundedText TruncateText(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return {std::string(text), false};
  std::string_view prefix = Utf8Prefix(text, max_bytes);
  std::string out(prefix);
  out += "\n[... " + std::to_string(text.size() - prefix.size()) + " more bytes truncated]";
  return {std::move(out), true};
}

std::vector<std::string_view> SplitUtf8(std::string_view text, size_t max_bytes) {
  max_bytes = std::max<size_t>(max_bytes, 4);
  std::vector<std::string_view> pieces;
  while (!text.empty()) {
    std::string_view piece = Utf8Prefix(text, max_bytes);
    if (piece.empty()) piece = text.substr(0, max_bytes);  // invalid UTF-8: cut anyway
    pieces.push_back(piece);
    text.remove_prefix(piece.size());
  }
  return pieces;
}

core::Json BoundJsonStrings(const core::Json& value, size_t max_string_bytes) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() <= max_string_bytes) return value;
    return TruncateText(s, max_string_bytes).text;
  }
  if (value.is_object()) {
    core::Json out = core::Json::object();
    for (const auto& [k, v] : value.items()) out[k] = BoundJsonStrings(v, max_string_bytes);
    return out;
  }
  if (value.is_array()) {
    core::Json out = core::Json::array();
    for (const auto& v : value) out.push_back(BoundJsonStrings(v, max_string_bytes));
    return out;
  }
  return value;
}

}  // namespace agentd::runner
